"""Meta-labelled trend following on Bybit USDT perpetuals.

Glue only: every rule lives in the ``metalabel`` package and is tested there. The
hooks compute the package's columns, combine named gates (``primary_long``,
``regime_ok_long``, ``meta_ok``) with ``enter_tag``, and translate the exit policy
(price moves) into freqtrade's margin ratios.

Modes (``metalabel.mode``): ``primary`` (v1 baseline: signal only), ``primary_regime``
(signal admitted by the regime filter) and ``meta`` (plus the FreqAI meta-model's
confidence gate). Only ``meta`` needs ``freqai.enabled``.
"""

import logging
from datetime import datetime
from functools import reduce

import pandas as pd
from freqtrade.enums import CandleType
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy, informative, stoploss_from_absolute
from pandas import DataFrame

from metalabel.config import ConfigError, StrategyMode, load_config
from metalabel.exits import freqtrade_exit_params, time_exit_due, trailing_stop_price
from metalabel.features import add_features, add_funding_features
from metalabel.labels import triple_barrier_labels
from metalabel.model import CLASS_NAMES, TAKE
from metalabel.regime import classify_regime
from metalabel.risk import leverage_for_trade
from metalabel.safety import check_operational_config
from metalabel.signals import primary_signal, trend_direction

logger = logging.getLogger(__name__)

# Meta-model inputs: the package's features, the primary signal and regime scores.
MODEL_FEATURES = [
    "rsi",
    "macd_hist",
    "stoch_k",
    "stoch_d",
    "atr_ratio",
    "bb_width",
    "adx",
    "obv_change",
    "volume_ratio",
    "momentum",
    "hour",
    "weekday",
    "volatility_regime",
    "funding_rate",
    "funding_rate_change_8h",
    "funding_rate_trend",
    "vote_score",
    "primary_direction",
    "primary_strength",
    "adx_score",
    "atr_ratio_score",
]
# Price-relative versions of level indicators, so the model sees scale-free inputs.
RELATIVE_TO_CLOSE = ["ema_fast", "ema_slow", "ema_trend", "bb_upper", "bb_lower", "atr"]


class MetaLabelStrategy(IStrategy):
    """EMA/RSI/MACD voted trend signal, ADX/ATR regime gate, XGBoost meta-model gate."""

    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = True
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    # The volatility regime ranks ATR over 720 candles; EMAs and ADX need far less.
    startup_candle_count = 800

    # Placeholders: __init__ replaces them from the metalabel.exits settings.
    stoploss = -0.04
    minimal_roi = {"0": 0.06}

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
        super().__init__(config)
        try:
            self.settings = load_config(config)
            check_operational_config(config, self.settings)
        except ConfigError as err:
            raise OperationalException(f"Invalid configuration: {err}") from err
        self.mode = self.settings.mode
        params = freqtrade_exit_params(
            self.settings.exits,
            leverage=self.settings.risk.leverage,
            fee_ratio=self.settings.costs.fee_ratio,
        )
        self.stoploss = params.stoploss
        self.minimal_roi = params.minimal_roi
        self.trailing_stop = False  # trailing is done in custom_stoploss
        self.use_custom_stoploss = params.use_custom_stoploss

    # ----------------------------------------------------------------- indicators
    def informative_pairs(self):
        # Funding-rate candles feed the funding features; the dataprovider only serves
        # candle types a strategy asks for.
        pairs = self.dp.current_whitelist() if self.dp else []
        return [(pair, self.timeframe, CandleType.FUNDING_RATE) for pair in pairs]

    @informative("4h")
    def populate_indicators_4h(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """4h confirmation trend (merged without lookahead by the decorator as trend_4h)."""
        features = add_features(dataframe, self.settings.signal, self.settings.regime)
        dataframe["trend"] = trend_direction(features)
        return dataframe

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = self._signal_columns(dataframe, metadata["pair"])
        if self.mode is StrategyMode.META:
            dataframe = self.freqai.start(dataframe, metadata, self)
            dataframe["meta_confidence"] = dataframe.get(TAKE, 0.0)
        return dataframe

    def _signal_columns(self, dataframe: DataFrame, pair: str) -> DataFrame:
        """Features, primary signal and regime for one pair (idempotent)."""
        if "primary_direction" in dataframe.columns:
            return dataframe
        s = self.settings
        dataframe = add_features(dataframe, s.signal, s.regime)
        dataframe = add_funding_features(dataframe, self._funding(pair))
        trend_4h = dataframe["trend_4h"] if "trend_4h" in dataframe.columns else None
        signal = primary_signal(dataframe, s.signal, trend_4h=trend_4h)
        regime = classify_regime(dataframe, s.regime)
        return pd.concat([dataframe, signal, regime], axis=1)

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
        dataframe = self._signal_columns(dataframe, metadata["pair"])
        for column in MODEL_FEATURES:
            dataframe[f"%-{column}"] = dataframe[column].astype("float64")
        for column in RELATIVE_TO_CLOSE:
            dataframe[f"%-{column}_to_close"] = dataframe[column] / dataframe["close"] - 1
        return dataframe

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        """String label on admitted signal rows only; NaN elsewhere, so only they train."""
        dataframe = self._signal_columns(dataframe, metadata["pair"])
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

    def _admitted(self, dataframe: DataFrame) -> pd.Series:
        """Rows whose primary direction the regime filter admits."""
        direction = dataframe["primary_direction"]
        return ((direction > 0) & dataframe["regime_ok_long"]) | (
            (direction < 0) & dataframe["regime_ok_short"]
        )

    # ----------------------------------------------------------------- signals
    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        if self.mode is StrategyMode.META:
            dataframe["meta_ok"] = (dataframe["do_predict"] == 1) & (
                dataframe["meta_confidence"] > self.settings.model.confidence_threshold
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
        """Trail ``trailing_distance_ratio`` behind the best price once it is reached."""
        try:
            peak = trade.min_rate if trade.is_short else trade.max_rate
            stop = trailing_stop_price(
                trade.open_rate,
                peak or trade.open_rate,
                is_short=trade.is_short,
                exits=self.settings.exits,
            )
            if stop is None:
                return None  # keep the fixed stop-loss
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
