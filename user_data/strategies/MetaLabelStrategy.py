"""Meta-labelled trend following on Bybit USDT perpetuals.

Glue only: every rule lives in the ``metalabel`` package and is tested there. The
hooks assemble the pair's frame through :mod:`metalabel.core.pipeline`, combine named
gates (``primary_long``, ``regime_ok_long``, ``candle_ok``, ``meta_ok``) with
``enter_tag``, and hand account facts to the risk desk (:mod:`metalabel.risk.desk`).

Modes (``metalabel.mode``): ``primary`` (v1 baseline: signal only), ``primary_regime``
(signal admitted by the regime filter) and ``meta`` (plus the FreqAI meta-model's
confidence gate). Only ``meta`` needs ``freqai.enabled``.

Settings: :attr:`MetaLabelStrategy.settings` is the one resolved settings object: the
``metalabel`` block overlaid with the hyperopt parameter values (a parameter file, or
the current epoch), validated. The entry gate, the exits, the risk desk and the labels
all read it. FreqAI cannot retrain per hyperopt epoch, so the model's labels follow the
values the bot started with.
"""

import logging
import math
from datetime import datetime, timedelta
from functools import reduce
from pathlib import Path

from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.persistence import Order, Trade
from freqtrade.strategy import (
    DecimalParameter,
    IntParameter,
    IStrategy,
    informative,
    stoploss_from_absolute,
)
from pandas import DataFrame

from metalabel.config import ConfigError, MetalabelConfig, StrategyMode, load_config
from metalabel.core import pipeline
from metalabel.core.exits import (
    ExitReason,
    freqtrade_exit_params,
    roi_for_price_move,
    stop_price,
    time_exit_due,
)
from metalabel.model.classifier import CLASS_NAMES, TAKE
from metalabel.model.lifecycle import LIFECYCLE_LOG, Decision, LifecycleLog, live_rollback_check
from metalabel.ops.journal import Journal
from metalabel.ops.startup_checks import check_operational_config
from metalabel.risk.account import ClosedTradeBook, account_equity
from metalabel.risk.desk import Notice, RiskDesk
from metalabel.risk.failsafe import fails_closed
from metalabel.risk.freshness import stale_reason
from metalabel.risk.killswitch import install_api_error_handler
from metalabel.risk.leverage import leverage_for_trade
from metalabel.risk.sizing import daily_volatility
from metalabel.tunable import TUNABLE, Tunable, parameter_defaults, with_parameters

logger = logging.getLogger(__name__)

RISK_ERROR_LOCK = "metalabel risk evaluation failed"
TRADING_RUNMODES = (RunMode.LIVE, RunMode.DRY_RUN)
RISK_RUNMODES = (*TRADING_RUNMODES, RunMode.BACKTEST, RunMode.HYPEROPT)


class MetaLabelStrategy(IStrategy):
    """EMA/RSI/MACD voted trend signal, ADX/ATR regime gate, XGBoost meta-model gate."""

    INTERFACE_VERSION = 3
    timeframe = pipeline.TIMEFRAME
    can_short = True
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    use_custom_roi = True
    # The volatility regime ranks ATR over 720 candles; EMAs and ADX need far less.
    startup_candle_count = 800

    # Replaced in __init__ from the metalabel.exits settings.
    stoploss = -0.04
    minimal_roi = {"0": 0.06}

    # The hyperopt parameters are built from metalabel.tunable.TUNABLE below the class.
    journal = Journal.disabled()  # the decision journal; bot_start sets it while trading

    plot_config = {
        "main_plot": {
            "ema_fast": {"color": "#1f77b4"},
            "ema_slow": {"color": "#ff7f0e"},
            "ema_trend": {"color": "#7f7f7f"},
        },
        "subplots": {
            "primary": {
                "primary_direction": {"color": "#2ca02c", "type": "bar"},
                "primary_strength": {"color": "#98df8a"},
            },
            "regime": {
                "adx": {"color": "#9467bd"},
                "atr_ratio": {"color": "#d62728"},
                "regime_ok_long": {"color": "#17becf"},
                "regime_ok_short": {"color": "#e377c2"},
            },
            "meta": {
                "meta_confidence": {"color": "#bcbd22"},
                "do_predict": {"color": "#8c564b"},
            },
        },
    }

    def __init__(self, config: dict) -> None:
        try:
            self._configured = load_config(config)
            check_operational_config(config, self._configured)
        except ConfigError as err:
            raise OperationalException(f"Invalid configuration: {err}") from err
        # freqtrade's parameter precedence: parameter file > *_params > defaults.
        defaults = parameter_defaults(self._configured)
        self.buy_params = defaults["buy"]
        self.sell_params = defaults["sell"]
        super().__init__(config)
        try:
            settings = self.settings  # a bad value from a parameter file stops the bot here
        except (ConfigError, ValueError, TypeError) as err:
            raise OperationalException(f"Invalid hyperopt parameter value: {err}") from err
        self.mode = settings.mode
        self._apply_static_stop()
        # ROI comes from custom_roi (the tunable take-profit); minimal_roi only backs it up.
        self.minimal_roi = {"0": 100.0}
        self.trailing_stop = False  # trailing happens in custom_stoploss
        self.use_custom_stoploss = True
        self._model_failures: dict[str, str] = {}
        self._book = ClosedTradeBook()

    def _apply_static_stop(self) -> None:
        """The static stop is the safety net until custom_stoploss sets the exact one."""
        settings = self.settings
        params = freqtrade_exit_params(
            settings.exits, leverage=settings.risk.leverage, fee_ratio=settings.costs.fee_ratio
        )
        self.stoploss = params.stoploss

    def ft_load_hyper_params(self, hyperopt: bool = False) -> None:
        # freqtrade loads parameter values (config defaults, parameter file) after
        # __init__ and never loosens a stop: the static stop must follow them, or a
        # configured stop wider than the class default would be cut to it.
        super().ft_load_hyper_params(hyperopt)
        self._apply_static_stop()

    @property
    def settings(self) -> MetalabelConfig:
        """The config overlaid with the current hyperopt values, resolved once per change
        of values and handed to the risk desk, so every consumer reads the same object."""
        values = {name: getattr(self, name).value for name in TUNABLE}
        key = tuple(values.values())
        if self.__dict__.get("_resolved_key") != key:
            self._resolved = with_parameters(self._configured, values)
            self._resolved_key = key
            if "risk" in self.__dict__:
                self.risk.settings = self._resolved
        return self._resolved

    # ----------------------------------------------------------------- indicators
    def informative_pairs(self):
        # The dataprovider only serves candle types a strategy asks for. Funding-rate and
        # mark candles price the funding of the labels; 15m candles are
        # the sub-candles the labels walk, as the backtest's timeframe_detail.
        pairs = self.dp.current_whitelist() if self.dp else []
        return [
            informative
            for pair in pairs
            for informative in (
                (pair, self.timeframe, CandleType.FUNDING_RATE),
                (pair, self.timeframe, CandleType.MARK),
                (pair, pipeline.DETAIL_TIMEFRAME, CandleType.FUTURES),
            )
        ]

    @informative(pipeline.CONFIRMATION_TIMEFRAME)
    def populate_indicators_4h(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """4h confirmation trend (merged without lookahead by the decorator as trend_4h)."""
        return pipeline.trend_4h(dataframe, self.settings, pair=metadata["pair"])

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        pair = metadata["pair"]
        dataframe = pipeline.with_features(dataframe, self._funding(pair), self.settings, pair=pair)
        dataframe["daily_volatility"] = daily_volatility(
            dataframe["close"],
            self.settings.risk.volatility_lookback_days,
            candles_per_day=self._candles_per_day(),
        )
        if self.mode is StrategyMode.META:
            dataframe = self._predict(dataframe, metadata)
        return dataframe

    def _candles_per_day(self) -> int:
        return int(timedelta(days=1) / self._candle())

    def _candle(self) -> timedelta:
        return timedelta(seconds=timeframe_to_seconds(self.timeframe))

    def _predict(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """FreqAI's prediction; an unusable model means no model trades, not a dead bot."""
        try:
            dataframe = self.freqai.start(dataframe, metadata, self)
            dataframe["meta_confidence"] = dataframe.get(TAKE, 0.0)
        except Exception as err:
            message = (
                f"Meta-model unavailable for {metadata['pair']} ({err!r}): no trades "
                "from the model until it is retrained or restored"
            )
            if self._model_failures.get(metadata["pair"]) != message:  # once, not per candle
                self._model_failures[metadata["pair"]] = message
                logger.error(message)
                if self.dp:
                    self.dp.send_msg(message, always_send=True)
            dataframe["do_predict"] = 0
            dataframe["meta_confidence"] = 0.0
        return dataframe

    def _funding(self, pair: str) -> DataFrame | None:
        if not self.dp:
            return None
        funding = self.dp.get_pair_dataframe(
            pair, self.timeframe, candle_type=CandleType.FUNDING_RATE
        )
        return funding if funding is not None and not funding.empty else None

    def _candles_4h(self, pair: str) -> DataFrame | None:
        return self._candles(pair, pipeline.CONFIRMATION_TIMEFRAME, CandleType.FUTURES)

    def _candles(self, pair: str, timeframe: str, candle_type: CandleType) -> DataFrame | None:
        if not self.dp:
            return None
        candles = self.dp.get_pair_dataframe(pair, timeframe, candle_type=candle_type)
        return candles if candles is not None and not candles.empty else None

    # ----------------------------------------------------------------- FreqAI
    def feature_engineering_standard(
        self, dataframe: DataFrame, metadata: dict, **kwargs
    ) -> DataFrame:
        pair = metadata["pair"]
        return pipeline.model_frame(
            dataframe, self._candles_4h(pair), self._funding(pair), self.settings
        )

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        """String label on admitted signal rows only; NaN elsewhere, so only they train."""
        pair = metadata["pair"]
        if "primary_direction" not in dataframe.columns:
            dataframe = pipeline.model_frame(
                dataframe, self._candles_4h(pair), self._funding(pair), self.settings
            )
        dataframe = pipeline.with_labels(
            dataframe,
            self._candles(pair, pipeline.DETAIL_TIMEFRAME, CandleType.FUTURES),
            self._funding(pair),
            self._candles(pair, self.timeframe, CandleType.MARK),
            self.settings,
            pair=pair,
        )
        self.freqai.class_names = list(CLASS_NAMES)
        return dataframe

    # ----------------------------------------------------------------- signals
    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        settings = self.settings
        dataframe = pipeline.with_signals(dataframe, settings)
        if self.mode is StrategyMode.META:
            dataframe["meta_ok"] = (dataframe["do_predict"] == 1) & (
                dataframe["meta_confidence"] > settings.model.confidence_threshold
            )
        for side, primary, regime_ok in (
            ("long", "primary_long", "regime_ok_long"),
            ("short", "primary_short", "regime_ok_short"),
        ):
            gates = [dataframe[primary], dataframe["volume"] > 0, dataframe["candle_ok"]]
            if self.mode in (StrategyMode.PRIMARY_REGIME, StrategyMode.META):
                gates.append(dataframe[regime_ok])
            if self.mode is StrategyMode.META:
                gates.append(dataframe["meta_ok"])
            entry = reduce(lambda a, b: a & b, gates)
            dataframe.loc[entry, [f"enter_{side}", "enter_tag"]] = (1, f"{self.mode.value}_{side}")
        self.journal.candle(metadata["pair"], dataframe)  # live and dry runs only
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        if self.settings.exits.exit_on_reversal:
            reversal = str(ExitReason.REVERSAL)
            dataframe.loc[dataframe["primary_short"], ["exit_long", "exit_tag"]] = (1, reversal)
            dataframe.loc[dataframe["primary_long"], ["exit_short", "exit_tag"]] = (1, reversal)
        return dataframe

    # ----------------------------------------------------------------- exits
    # Every risk hook fails closed through one decorator: freqtrade's callback wrapper
    # would turn an exception into "enter", "proposed stake" or "leverage 1".
    @fails_closed(lambda err: str(ExitReason.KILL_SWITCH), "custom_exit")
    def custom_exit(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs,
    ) -> str | bool | None:
        if self.risk.flatten:  # an unknown kill-switch state raises: closed, see above
            return str(ExitReason.KILL_SWITCH)
        held_candles = (current_time - trade.open_date_utc) / self._candle()
        if time_exit_due(held_candles, self.settings.exits):
            return str(ExitReason.TIME_EXIT)
        return None

    def custom_roi(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        trade_duration: int,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> float | None:
        """Take-profit at a price move of ``take_profit_ratio``, as freqtrade's ROI ratio."""
        settings = self.settings
        return roi_for_price_move(
            settings.exits.take_profit_ratio, trade.leverage or 1.0, settings.costs.fee_ratio
        )

    @fails_closed(lambda err: None, "custom_stoploss (keeping the current stop)")
    def custom_stoploss(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs,
    ) -> float | None:
        """Fixed stop at ``stop_loss_ratio``, tightened by the trailing stop once active."""
        peak = trade.min_rate if trade.is_short else trade.max_rate
        stop = stop_price(
            trade.open_rate, peak or trade.open_rate, is_short=trade.is_short,
            exits=self.settings.exits,
        )  # fmt: skip
        return stoploss_from_absolute(
            stop, current_rate, is_short=trade.is_short, leverage=trade.leverage
        )

    # ----------------------------------------------------------------- risk
    def bot_start(self, **kwargs) -> None:
        user_data = Path(self.config["user_data_dir"]) if self._trading() else None
        self.risk = RiskDesk.for_run(self.settings, user_data=user_data, candle=self._candle())
        if self.risk.api_errors is not None:
            install_api_error_handler(self.risk.api_errors)
        self.refusals: dict[str, str] = {}
        self.journal = Journal.for_run(
            self.config, self.settings, risk=self.risk, equity=self._equity, bot=self
        )

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        if self.config.get("runmode") not in RISK_RUNMODES:
            return  # plot-dataframe and the analyses: no trades, no wallet, nothing to guard
        notices = self._risk_notices(current_time)
        if notices is None:  # the evaluation failed (logged): no entries for one candle
            message = "Risk evaluation failed: no entries this candle."
            lock_until = current_time + self._candle()
            notices = [Notice(logging.ERROR, message, lock_until, RISK_ERROR_LOCK)]
        for notice in notices:
            self._apply(notice, current_time)
        if self._trading():
            self._heartbeat(current_time)
            self.journal.on_loop(current_time)  # the daily report at the UTC day boundary

    @fails_closed(lambda err: None, "risk evaluation")
    def _risk_notices(self, current_time: datetime) -> list[Notice] | None:
        return self.risk.on_loop(
            current_time,
            equity=self._equity(),
            closed=self._book.closed(Trade.get_trades_proxy(is_open=False)),
            starting_equity=self.wallets.get_starting_balance() if self.wallets else 0.0,
            confidence=self._model_confidence() if self.risk.api_errors else None,
        )

    def _trading(self) -> bool:
        return self.config.get("runmode") in TRADING_RUNMODES

    def _heartbeat(self, now: datetime) -> None:
        """One "alive" line per ``operations.heartbeat_minutes``, live and dry-run only."""
        every = timedelta(minutes=self.settings.operations.heartbeat_minutes)
        last = getattr(self, "_last_heartbeat", None)
        if last is not None and now - last < every:
            return
        self._last_heartbeat = now
        self._check_rollback()
        self._check_signals()
        guard = self.risk.guard.tier if self.risk.guard else "normal"
        logger.info(
            "heartbeat: alive, equity %.2f, %d open trades, kill switch %s, guard %s",
            self._equity(),
            len(Trade.get_trades_proxy(is_open=True)),
            "TRIPPED" if self.risk.tripped else "active",
            guard,
        )

    def _apply(self, notice: Notice, current_time: datetime) -> None:
        # The candle time leads, so a backtest log shows when it happened.
        logger.log(notice.level, "[%s] %s", current_time.isoformat(), notice.message)
        if self.dp:
            self.dp.send_msg(notice.message, always_send=True)
        if notice.unlock_reason:
            self.unlock_reason(notice.unlock_reason)
        if notice.lock_until and notice.lock_reason:
            self.lock_pair("*", notice.lock_until, notice.lock_reason)

    def _equity(self) -> float:
        """Starting balance + closed profit + unrealised profit at the latest price."""
        if not self.wallets:
            return math.nan
        unrealised = []
        for trade in Trade.get_trades_proxy(is_open=True):
            rate = self._current_rate(trade.pair)
            if rate is not None and math.isfinite(rate):
                unrealised.append(trade.calc_profit(rate))
        closed = self._book.profit(Trade.get_trades_proxy(is_open=False))
        return account_equity(self.wallets.get_starting_balance(), closed, unrealised)

    def _current_rate(self, pair: str) -> float | None:
        """The latest price: the ticker while trading, the last candle's close in backtests
        (a closed candle is up to an hour old; a crash must not wait for the next one)."""
        if self.dp and self.dp.runmode in TRADING_RUNMODES:
            try:
                last = self.dp.ticker(pair).get("last")
                if last:
                    return float(last)
            except Exception:  # fall back to the candle; the kill switch counts API errors
                logger.warning("no ticker for %s; valuing it at the last candle", pair)
        return self._latest(pair, "close")

    def _latest(self, pair: str, column: str) -> float | None:
        if not self.dp:
            return None
        dataframe, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if dataframe is None or dataframe.empty or column not in dataframe.columns:
            return None
        value = dataframe[column].iloc[-1]
        return float(value) if value is not None else None

    def _latest_or_nan(self, pair: str, column: str) -> float:
        value = self._latest(pair, column)
        return math.nan if value is None else value

    def _confidence(self, pair: str) -> float | None:
        """The meta-model's latest confidence for the pair; None when no model is used."""
        if self.mode is not StrategyMode.META:
            return None
        value = self._latest(pair, "meta_confidence")
        return value if value is not None and math.isfinite(value) else 0.0

    def _model_confidence(self) -> float | None:
        """The best confidence across pairs at the latest candle (for the kill switch)."""
        if self.mode is not StrategyMode.META or not self.dp:
            return None
        values = [self._confidence(pair) or 0.0 for pair in self.dp.current_whitelist()]
        return max(values) if values else None

    def _check_signals(self) -> None:
        """Hourly while trading: alert once per pair when its primary signal stops being
        evaluated (an analysis that silently fails would otherwise look like a quiet market)."""
        silent = self.__dict__.setdefault("_silent_pairs", set())
        try:
            pairs = self.dp.current_whitelist()
        except Exception:
            logger.exception("signal check skipped: no whitelist")
            return
        for pair in pairs:
            value = self._latest(pair, "primary_direction")
            if value is None or math.isnan(value):
                if pair not in silent:
                    silent.add(pair)
                    message = f"No primary signal evaluated on {pair}'s latest candle"
                    logger.warning(message)
                    self.dp.send_msg(message, always_send=True)
            else:
                silent.discard(pair)

    @fails_closed(lambda err: None, "model rollback check (the current model keeps predicting)")
    def _check_rollback(self) -> None:
        """Hourly while trading: roll a pair's model back when live results collapse."""
        if self.mode is not StrategyMode.META or not hasattr(self.freqai, "rollback"):
            return
        events = LifecycleLog(Path(self.freqai.dd.full_path) / LIFECYCLE_LOG).read()
        for pair in self.dp.current_whitelist():
            closed = [
                (t.close_date_utc, (t.close_profit or 0.0) / (t.leverage or 1.0))
                for t in Trade.get_trades_proxy(pair=pair, is_open=False)
            ]
            verdict = live_rollback_check(events, pair, closed, self.settings.lifecycle)
            if verdict is not None and verdict.decision is Decision.ROLLBACK:
                self.freqai.rollback(pair, list(verdict.reasons))

    def _stale(self, pair: str, now: datetime) -> str | None:
        """Why the pair's candles are too old to trade on, or None."""
        dataframe, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        last = None if dataframe.empty else dataframe["date"].iloc[-1].to_pydatetime()
        return stale_reason(
            last,
            now,
            timeframe=self._candle(),
            grace=timedelta(minutes=self.settings.operations.stale_data_grace_minutes),
        )

    def _refuse_once(self, pair: str, kind: str, reason: str) -> None:
        """Log a refusal when its kind changes for the pair, not on every candle."""
        self.journal.refusal(pair, kind, reason)  # once per candle and kind
        if self.refusals.get(pair) != kind:
            self.refusals[pair] = kind
            logger.info("Entry on %s refused: %s", pair, reason)

    @fails_closed(lambda err: False, "confirm_trade_entry (no trade)")
    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> bool:
        stale = self._stale(pair, current_time) if self._trading() else None
        if stale is not None:
            if self.refusals.get(pair) != "stale":
                self.dp.send_msg(f"No entries on {pair}: {stale}", always_send=True)
            self._refuse_once(pair, "stale", stale)
            return False
        open_positions = [
            (t.pair, "short" if t.is_short else "long")
            for t in Trade.get_trades_proxy(is_open=True)
        ]
        decision = self.risk.entry(
            pair=pair,
            side=side,
            open_positions=open_positions,
            confidence=self._confidence(pair),
            equity=self._equity(),
        )
        if not decision.allowed:
            self._refuse_once(pair, str(decision.check), decision.reason)
            return False
        self.refusals.pop(pair, None)
        self.journal.entry_order(pair, side, order_type, amount, rate, entry_tag)
        return True

    @fails_closed(lambda err: 0.0, "custom_stake_amount (stake 0)")
    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> float:
        decision = self.risk.stake(
            equity=self._equity(),
            confidence=self._confidence(pair),
            daily_volatility=self._latest_or_nan(pair, "daily_volatility"),
            regime_multiplier=self._latest_or_nan(pair, "regime_size_multiplier"),
            leverage=leverage,
            min_stake=min_stake,
            max_stake=max_stake,
        )
        if not decision.allowed:
            self._refuse_once(pair, "stake", f"stake 0: {decision.reason}")
        return decision.stake_amount

    @fails_closed(lambda err: True, "check_entry_timeout (cancelling)")
    def check_entry_timeout(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs
    ) -> bool:
        """Cancel pending entry orders once the kill switch has tripped."""
        return self.risk.tripped

    def order_filled(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs
    ) -> None:
        """Record the guard tier a trade was opened under (shown in FreqUI's trade view)."""
        self.journal.filled(trade, order)
        if order.ft_order_side == trade.entry_side and self.risk.guard is not None:
            trade.set_custom_data("guard_tier", str(self.risk.guard.tier))

    def confirm_trade_exit(
        self,
        pair: str,
        trade: Trade,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        exit_reason: str,
        current_time: datetime,
        **kwargs,
    ) -> bool:
        """Every exit goes ahead; the journal records the order (it never raises)."""
        self.journal.exit_order(trade, order_type, amount, rate, exit_reason)
        return True

    @fails_closed(lambda err: 1.0, "leverage (using 1x)")
    def leverage(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> float:
        return leverage_for_trade(self.settings.risk, max_leverage)


def _hyperopt_parameter(tunable: Tunable, default: float) -> IntParameter | DecimalParameter:
    if tunable.decimals is None:
        return IntParameter(
            int(tunable.low), int(tunable.high), default=int(default), space=tunable.space
        )
    return DecimalParameter(
        tunable.low, tunable.high, decimals=tunable.decimals, default=default, space=tunable.space
    )


# Tunable with `freqtrade hyperopt`: one parameter per row of metalabel.tunable.TUNABLE,
# defaulting to the package defaults (__init__ sets the config's values as *_params).
for _space_defaults in parameter_defaults(load_config({})).values():
    for _name, _default in _space_defaults.items():
        setattr(MetaLabelStrategy, _name, _hyperopt_parameter(TUNABLE[_name], _default))
