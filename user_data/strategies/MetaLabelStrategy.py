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
from datetime import datetime
from functools import reduce

import pandas as pd
from freqtrade.enums import CandleType
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.persistence import Trade
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
from metalabel.exits import (
    fixed_stop_price,
    freqtrade_exit_params,
    roi_for_price_move,
    time_exit_due,
    trailing_stop_price,
)
from metalabel.features import add_features, add_funding_features
from metalabel.labels import triple_barrier_labels
from metalabel.model import CLASS_NAMES, TAKE
from metalabel.params import TUNABLE, parameter_defaults, with_parameters
from metalabel.regime import classify_regime
from metalabel.risk import leverage_for_trade
from metalabel.safety import check_operational_config
from metalabel.signals import primary_signal, trend_direction

logger = logging.getLogger(__name__)

# Meta-model inputs: the package's features, the primary signal and regime scores.
MODEL_FEATURES = [
    "rsi", "macd_hist", "stoch_k", "stoch_d", "atr_ratio", "bb_width", "adx", "obv_change",
    "volume_ratio", "momentum", "hour", "weekday", "volatility_regime", "funding_rate",
    "funding_rate_change_8h", "funding_rate_trend", "vote_score", "primary_direction",
    "primary_strength", "adx_score", "atr_ratio_score",
]  # fmt: skip
# Price-relative versions of level indicators, so the model sees scale-free inputs.
RELATIVE_TO_CLOSE = ["ema_fast", "ema_slow", "ema_trend", "bb_upper", "bb_lower", "atr"]
CONFIRMATION_TIMEFRAME = "4h"


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
            dataframe = self.freqai.start(dataframe, metadata, self)
            dataframe["meta_confidence"] = dataframe.get(TAKE, 0.0)
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
        trend_4h = dataframe["trend_4h"] if "trend_4h" in dataframe.columns else None
        signal = primary_signal(dataframe, settings.signal, trend_4h=trend_4h)
        regime = classify_regime(dataframe, settings.regime)
        computed = pd.concat([signal, regime], axis=1)
        kept = dataframe.drop(columns=[c for c in computed.columns if c in dataframe.columns])
        return pd.concat([kept, computed], axis=1)

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
        for column in MODEL_FEATURES:
            dataframe[f"%-{column}"] = dataframe[column].astype("float64")
        for column in RELATIVE_TO_CLOSE:
            dataframe[f"%-{column}_to_close"] = dataframe[column] / dataframe["close"] - 1
        return dataframe

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        """String label on admitted signal rows only; NaN elsewhere, so only they train."""
        if "primary_direction" not in dataframe.columns:
            pair = metadata["pair"]
            dataframe = self._with_trend_4h(self._features(dataframe, pair), pair)
            dataframe = self._signals(dataframe, self.settings)
        events = dataframe["primary_direction"].where(self._admitted(dataframe), 0)
        labels = triple_barrier_labels(
            dataframe,
            events,
            self.settings.exits,
            self.settings.costs,
            vol_scale=dataframe["atr_ratio"],
            funding_rate=self._funding_at_bar(dataframe, metadata["pair"]),
        )
        dataframe["&-label"] = labels["label"]
        self.freqai.class_names = list(CLASS_NAMES)
        return dataframe

    def _funding_at_bar(self, dataframe: DataFrame, pair: str) -> pd.Series | None:
        """The funding rate charged at each bar's open time (0 where none is charged)."""
        funding = self._funding(pair)
        if funding is None:
            return None
        rates = funding.set_index("date")["open"]
        return dataframe["date"].map(rates).fillna(0.0)

    @staticmethod
    def _admitted(dataframe: DataFrame) -> pd.Series:
        """Rows whose primary direction the regime filter admits."""
        direction = dataframe["primary_direction"]
        return ((direction > 0) & dataframe["regime_ok_long"]) | (
            (direction < 0) & dataframe["regime_ok_short"]
        )

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
