"""Meta-labelled trend following on Bybit USDT perpetuals.

Glue only: every rule lives in the ``metalabel`` package and is tested there. The
hooks compute the package's columns, combine named gates (``primary_long``,
``regime_ok_long``, ``meta_ok``) with ``enter_tag``, and translate the exit policy
(price moves) into freqtrade's margin ratios.

Modes (``metalabel.mode``): ``primary`` (v1 baseline: signal only), ``primary_regime``
(signal admitted by the regime filter) and ``meta`` (plus the FreqAI meta-model's
confidence gate). Only ``meta`` needs ``freqai.enabled``.

Hyperopt: the signal, regime, confidence and barrier settings are freqtrade
parameters whose defaults come from the ``metalabel`` block. They are applied in
``populate_entry_trend`` and the exit callbacks, which hyperopt re-runs per epoch; the
meta-model's own inputs and labels always use the config's values.
"""

import logging
import math
from datetime import datetime, timedelta
from functools import reduce
from pathlib import Path

import pandas as pd
from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.persistence import Order, Trade
from freqtrade.strategy import (
    DecimalParameter,
    IntParameter,
    IStrategy,
    informative,
    merge_informative_pair,
    stoploss_from_absolute,
)
from pandas import DataFrame

from metalabel.config import ConfigError, MetalabelConfig, StrategyMode, load_config
from metalabel.core.exits import (
    fixed_stop_price,
    freqtrade_exit_params,
    roi_for_price_move,
    time_exit_due,
    trailing_stop_price,
)
from metalabel.core.features import add_features, add_funding_features
from metalabel.core.labels import triple_barrier_labels
from metalabel.core.pipeline import admitted, funding_at_bar, with_signals
from metalabel.core.signals import trend_direction
from metalabel.model.classifier import CLASS_NAMES, TAKE
from metalabel.model.inputs import model_feature_columns
from metalabel.model.lifecycle import LIFECYCLE_LOG, Decision, LifecycleLog, live_rollback_check
from metalabel.ops.startup_checks import check_operational_config
from metalabel.risk.desk import ClosedTrade, Notice, RiskDesk
from metalabel.risk.freshness import stale_reason
from metalabel.risk.killswitch import install_api_error_handler
from metalabel.risk.leverage import leverage_for_trade
from metalabel.risk.sizing import daily_volatility
from metalabel.tunable import TUNABLE, parameter_defaults, with_parameters

logger = logging.getLogger(__name__)

CONFIRMATION_TIMEFRAME = "4h"
RISK_ERROR_LOCK = "metalabel risk evaluation failed"


class MetaLabelStrategy(IStrategy):
    """EMA/RSI/MACD voted trend signal, ADX/ATR regime gate, XGBoost meta-model gate."""

    INTERFACE_VERSION = 3
    timeframe = "1h"
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

    # Tunable with `freqtrade hyperopt`; defaults are set from the config in __init__.
    adx_threshold = DecimalParameter(15.0, 40.0, decimals=1, default=25.0, space="buy")
    rsi_oversold = IntParameter(15, 40, default=30, space="buy")
    rsi_overbought = IntParameter(60, 85, default=70, space="buy")
    ema_vote_weight = DecimalParameter(0.2, 2.0, decimals=1, default=1.0, space="buy")
    rsi_vote_weight = DecimalParameter(0.2, 2.0, decimals=1, default=1.0, space="buy")
    macd_vote_weight = DecimalParameter(0.2, 2.0, decimals=1, default=1.0, space="buy")
    min_vote_ratio = DecimalParameter(0.3, 1.0, decimals=2, default=0.6, space="buy")
    confidence_threshold = DecimalParameter(0.5, 0.8, decimals=2, default=0.6, space="buy")
    stop_loss_ratio = DecimalParameter(0.01, 0.04, decimals=3, default=0.02, space="sell")
    take_profit_ratio = DecimalParameter(0.015, 0.06, decimals=3, default=0.03, space="sell")

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
            self.settings = load_config(config)
            check_operational_config(config, self.settings)
        except ConfigError as err:
            raise OperationalException(f"Invalid configuration: {err}") from err
        # freqtrade's parameter precedence: parameter file > *_params > defaults.
        defaults = parameter_defaults(self.settings)
        self.buy_params = defaults["buy"]
        self.sell_params = defaults["sell"]
        super().__init__(config)
        self.mode = self.settings.mode
        params = freqtrade_exit_params(
            self.settings.exits,
            leverage=self.settings.risk.leverage,
            fee_ratio=self.settings.costs.fee_ratio,
        )
        # The static stop is the safety net until custom_stoploss sets the exact one.
        self.stoploss = params.stoploss
        # ROI comes from custom_roi (the tunable take-profit); minimal_roi only backs it up.
        self.minimal_roi = {"0": 100.0}
        self.trailing_stop = False  # trailing happens in custom_stoploss
        self.use_custom_stoploss = True
        self._model_failures: dict[str, str] = {}

    def tuned(self) -> MetalabelConfig:
        """The config with the current hyperopt parameter values applied."""
        values = {name: getattr(self, name).value for name in TUNABLE}
        return with_parameters(self.settings, values)

    # ----------------------------------------------------------------- indicators
    def informative_pairs(self):
        # Funding-rate candles feed the funding features; the dataprovider only serves
        # candle types a strategy asks for.
        pairs = self.dp.current_whitelist() if self.dp else []
        return [(pair, self.timeframe, CandleType.FUNDING_RATE) for pair in pairs]

    @informative(CONFIRMATION_TIMEFRAME)
    def populate_indicators_4h(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """4h confirmation trend (merged without lookahead by the decorator as trend_4h)."""
        features = add_features(dataframe, self.settings.signal, self.settings.regime)
        dataframe["trend"] = trend_direction(features)
        return dataframe

    def _with_trend_4h(self, dataframe: DataFrame, pair: str) -> DataFrame:
        """Adds trend_4h to FreqAI's own frames, which the decorator does not see.

        The labels must be drawn on the same events the strategy trades, so the model's
        frame needs the same 4h confirmation, merged the same lookahead-free way.
        """
        if "trend_4h" in dataframe.columns or not self.dp:
            return dataframe
        candles_4h = self.dp.get_pair_dataframe(pair, CONFIRMATION_TIMEFRAME)
        if candles_4h is None or candles_4h.empty:
            return dataframe
        trend = self.populate_indicators_4h(candles_4h.copy(), {"pair": pair})
        return merge_informative_pair(
            dataframe,
            trend[["date", "trend"]],
            self.timeframe,
            CONFIRMATION_TIMEFRAME,
            ffill=True,
        )

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = self._features(dataframe, metadata["pair"])
        if self.mode is StrategyMode.META:
            dataframe = self._predict(dataframe, metadata)
        return dataframe

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

    def _features(self, dataframe: DataFrame, pair: str) -> DataFrame:
        """Indicators and funding features for one pair (idempotent)."""
        if "atr_ratio" in dataframe.columns:
            return dataframe
        s = self.settings
        dataframe = add_features(dataframe, s.signal, s.regime)
        return add_funding_features(dataframe, self._funding(pair))

    def _signals(self, dataframe: DataFrame, settings: MetalabelConfig) -> DataFrame:
        """Primary signal and regime columns for the given settings (replacing old ones)."""
        return with_signals(dataframe, settings)

    def _funding(self, pair: str) -> DataFrame | None:
        if not self.dp:
            return None
        funding = self.dp.get_pair_dataframe(
            pair, self.timeframe, candle_type=CandleType.FUNDING_RATE
        )
        return funding if funding is not None and not funding.empty else None

    # ----------------------------------------------------------------- FreqAI
    def feature_engineering_standard(
        self, dataframe: DataFrame, metadata: dict, **kwargs
    ) -> DataFrame:
        pair = metadata["pair"]
        dataframe = self._with_trend_4h(self._features(dataframe, pair), pair)
        dataframe = self._signals(dataframe, self.settings)
        features = model_feature_columns(dataframe)
        return pd.concat(
            [dataframe.drop(columns=features.columns, errors="ignore"), features], axis=1
        )

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        """String label on admitted signal rows only; NaN elsewhere, so only they train."""
        if "primary_direction" not in dataframe.columns:
            pair = metadata["pair"]
            dataframe = self._with_trend_4h(self._features(dataframe, pair), pair)
            dataframe = self._signals(dataframe, self.settings)
        events = dataframe["primary_direction"].where(admitted(dataframe), 0)
        labels = triple_barrier_labels(
            dataframe,
            events,
            self.settings.exits,
            self.settings.costs,
            vol_scale=dataframe["atr_ratio"],
            funding_rate=self._funding_at_bar(dataframe, metadata["pair"]),
        )
        dataframe["&-label"] = labels["label"]
        # The outcome behind each label, for the model plugin's hold-out figures (FreqAI
        # trains only on "%" features and "&" labels, so these columns are not inputs).
        dataframe["label_net_return"] = labels["net_return"]
        dataframe["label_barrier"] = labels["barrier"]
        self.freqai.class_names = list(CLASS_NAMES)
        return dataframe

    def _funding_at_bar(self, dataframe: DataFrame, pair: str) -> pd.Series | None:
        """The funding rate charged at each bar's open time (0 where none is charged)."""
        funding = self._funding(pair)
        return None if funding is None else funding_at_bar(dataframe["date"], funding)

    # ----------------------------------------------------------------- signals
    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        settings = self.tuned()
        dataframe = self._signals(dataframe, settings)
        if self.mode is StrategyMode.META:
            dataframe["meta_ok"] = (dataframe["do_predict"] == 1) & (
                dataframe["meta_confidence"] > settings.model.confidence_threshold
            )
        for side, primary, regime_ok in (
            ("long", "primary_long", "regime_ok_long"),
            ("short", "primary_short", "regime_ok_short"),
        ):
            gates = [dataframe[primary], dataframe["volume"] > 0]
            if self.mode in (StrategyMode.PRIMARY_REGIME, StrategyMode.META):
                gates.append(dataframe[regime_ok])
            if self.mode is StrategyMode.META:
                gates.append(dataframe["meta_ok"])
            entry = reduce(lambda a, b: a & b, gates)
            dataframe.loc[entry, [f"enter_{side}", "enter_tag"]] = (1, f"{self.mode.value}_{side}")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        if self.settings.exits.exit_on_reversal:
            dataframe.loc[dataframe["primary_short"], ["exit_long", "exit_tag"]] = (1, "reversal")
            dataframe.loc[dataframe["primary_long"], ["exit_short", "exit_tag"]] = (1, "reversal")
        return dataframe

    # ----------------------------------------------------------------- exits
    def custom_exit(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs,
    ) -> str | bool | None:
        try:
            if self.risk.flatten:
                return "kill_switch"
        except Exception:  # an unknown kill-switch state is treated as tripped
            logger.exception("kill-switch check failed for %s; closing the position", pair)
            return "kill_switch"
        held_seconds = (current_time - trade.open_date_utc).total_seconds()
        held_candles = held_seconds / timeframe_to_seconds(self.timeframe)
        if time_exit_due(held_candles, self.settings.exits):
            return "time_exit"
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
        return roi_for_price_move(
            self.take_profit_ratio.value, trade.leverage or 1.0, self.settings.costs.fee_ratio
        )

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
        try:
            exits = self.tuned().exits
            stop = fixed_stop_price(trade.open_rate, is_short=trade.is_short, exits=exits)
            peak = trade.min_rate if trade.is_short else trade.max_rate
            trail = trailing_stop_price(
                trade.open_rate, peak or trade.open_rate, is_short=trade.is_short, exits=exits
            )
            if trail is not None:
                stop = min(stop, trail) if trade.is_short else max(stop, trail)
            return stoploss_from_absolute(
                stop, current_rate, is_short=trade.is_short, leverage=trade.leverage
            )
        except Exception:  # keep the existing stop rather than loosen it
            logger.exception("custom_stoploss failed for %s; keeping the current stop", pair)
            return None

    # ----------------------------------------------------------------- risk
    # Every risk hook fails closed: freqtrade's callback wrapper would turn an exception
    # into "enter", "proposed stake" or "leverage 1", so each hook catches its own.
    def bot_start(self, **kwargs) -> None:
        live = self.config.get("runmode") in (RunMode.LIVE, RunMode.DRY_RUN)
        user_data = Path(self.config["user_data_dir"]) if live else None
        candle = timedelta(seconds=timeframe_to_seconds(self.timeframe))
        self.risk = RiskDesk.for_run(self.settings, user_data=user_data, candle=candle)
        if self.risk.api_errors is not None:
            install_api_error_handler(self.risk.api_errors)
        self._refusals: dict[str, str] = {}

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        try:
            notices = self.risk.on_loop(
                current_time,
                equity=self._equity(),
                closed=self._closed_trades(),
                starting_equity=self.wallets.get_starting_balance() if self.wallets else 0.0,
                confidence=self._model_confidence() if self.risk.api_errors else None,
            )
        except Exception:
            logger.exception("risk evaluation failed; blocking entries for one candle")
            candle = timedelta(seconds=timeframe_to_seconds(self.timeframe))
            notices = [
                Notice(
                    logging.ERROR,
                    "Risk evaluation failed: no entries this candle.",
                    lock_until=current_time + candle,
                    lock_reason=RISK_ERROR_LOCK,
                )
            ]
        for notice in notices:
            self._apply(notice, current_time)
        if self._trading():
            self._heartbeat(current_time)

    def _trading(self) -> bool:
        return self.config.get("runmode") in (RunMode.LIVE, RunMode.DRY_RUN)

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
        """Starting balance + closed profit + unrealised profit at the latest close."""
        if not self.wallets:
            return math.nan
        equity = self.wallets.get_starting_balance() + self._closed_book()[1]
        for trade in Trade.get_trades_proxy(is_open=True):
            rate = self._current_rate(trade.pair)
            if rate is not None and math.isfinite(rate):
                equity += trade.calc_profit(rate)
        return float(equity)

    def _current_rate(self, pair: str) -> float | None:
        """The latest price: the ticker while trading, the last candle's close in backtests
        (a closed candle is up to an hour old; a crash must not wait for the next one)."""
        if self.dp and self.dp.runmode in (RunMode.LIVE, RunMode.DRY_RUN):
            try:
                last = self.dp.ticker(pair).get("last")
                if last:
                    return float(last)
            except Exception:  # fall back to the candle; the kill switch counts API errors
                logger.warning("no ticker for %s; valuing it at the last candle", pair)
        return self._latest(pair, "close")

    def _closed_trades(self) -> list[ClosedTrade]:
        return self._closed_book()[0]

    def _closed_book(self) -> tuple[list[ClosedTrade], float]:
        """The closed trades and their summed profit, rebuilt only when a trade closed
        (this runs every candle of a backtest; rebuilding it each time grew with history)."""
        trades = Trade.get_trades_proxy(is_open=False)
        book = self.__dict__.get("_book")
        if book is None or book[0] != len(trades):
            closed = [
                ClosedTrade(t.close_profit_abs or 0.0, t.close_date_utc)
                for t in trades
                if t.close_date is not None
            ]
            book = (len(trades), closed, sum(c.profit_abs for c in closed))
            self._book = book
        return book[1], book[2]

    def _latest(self, pair: str, column: str) -> float | None:
        if not self.dp:
            return None
        dataframe, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if dataframe is None or dataframe.empty or column not in dataframe.columns:
            return None
        value = dataframe[column].iloc[-1]
        return float(value) if value is not None else None

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

    def _check_rollback(self) -> None:
        """Hourly while trading: roll a pair's model back when live results collapse."""
        if self.mode is not StrategyMode.META or not hasattr(self.freqai, "rollback"):
            return
        try:
            events = LifecycleLog(Path(self.freqai.dd.full_path) / LIFECYCLE_LOG).read()
            for pair in self.dp.current_whitelist():
                closed = [
                    (t.close_date_utc, (t.close_profit or 0.0) / (t.leverage or 1.0))
                    for t in Trade.get_trades_proxy(pair=pair, is_open=False)
                ]
                verdict = live_rollback_check(events, pair, closed, self.settings.lifecycle)
                if verdict is not None and verdict.decision is Decision.ROLLBACK:
                    self.freqai.rollback(pair, list(verdict.reasons))
        except Exception:  # the current model keeps predicting; say why it was not checked
            logger.exception("model rollback check failed")

    def _stale(self, pair: str, now: datetime) -> str | None:
        """Why the pair's candles are too old to trade on, or None."""
        dataframe, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        last = None if dataframe.empty else dataframe["date"].iloc[-1].to_pydatetime()
        return stale_reason(
            last,
            now,
            timeframe=timedelta(seconds=timeframe_to_seconds(self.timeframe)),
            grace=timedelta(minutes=self.settings.operations.stale_data_grace_minutes),
        )

    def _refuse_once(self, pair: str, kind: str, reason: str) -> None:
        """Log a refusal when its kind changes for the pair, not on every candle."""
        if self._refusals.get(pair) != kind:
            self._refusals[pair] = kind
            logger.info("Entry on %s refused: %s", pair, reason)

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
        try:
            stale = self._stale(pair, current_time) if self._trading() else None
            if stale is not None:
                if self._refusals.get(pair) != "stale":
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
        except Exception:
            logger.exception("confirm_trade_entry failed for %s; no trade", pair)
            return False
        if not decision.allowed:
            self._refuse_once(pair, str(decision.check), decision.reason)
            return False
        self._refusals.pop(pair, None)
        return True

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
        try:
            dataframe, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
            volatility = daily_volatility(
                dataframe["close"], self.settings.risk.volatility_lookback_days
            ).iloc[-1]
            regime = dataframe["regime_size_multiplier"].iloc[-1]
            decision = self.risk.stake(
                equity=self._equity(),
                confidence=self._confidence(pair),
                daily_volatility=float(volatility),
                regime_multiplier=float(regime),
                leverage=leverage,
                min_stake=min_stake,
                max_stake=max_stake,
            )
        except Exception:
            logger.exception("custom_stake_amount failed for %s; stake 0", pair)
            return 0.0
        if not decision.allowed:
            self._refuse_once(pair, "stake", f"stake 0: {decision.reason}")
        return decision.stake_amount

    def check_entry_timeout(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs
    ) -> bool:
        """Cancel pending entry orders once the kill switch has tripped."""
        try:
            return self.risk.tripped
        except Exception:
            logger.exception("check_entry_timeout failed for %s; cancelling", pair)
            return True

    def order_filled(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs
    ) -> None:
        """Record the guard tier a trade was opened under (shown in FreqUI's trade view)."""
        if order.ft_order_side == trade.entry_side and self.risk.guard is not None:
            trade.set_custom_data("guard_tier", str(self.risk.guard.tier))

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
        try:
            return leverage_for_trade(self.settings.risk, max_leverage)
        except Exception:  # fail closed: the lowest leverage, never the proposed one
            logger.exception("leverage() failed for %s; using 1x", pair)
            return 1.0
