"""The meta-model's inputs: which columns, in which form, under FreqAI's ``%`` prefix.

One list shared by the FreqAI strategy hook and by ``metalabel tune``, so tuning sees
exactly the features the bot trains on. Every input is **stationary**: a price level
enters in ATR units, a level whose scale drifts (volatility, Bollinger width, funding)
as a rolling percentile or z-score over :data:`NORMALISE_CANDLES`, so a model trained on
one half-year reads the next one on the same scale. Duplicates are left out (the vote
score is 2/3 x the direction; the regime scores are affine copies of ADX and the ATR
ratio; the 4h trend always agrees with a confirmed signal). The README's table of model
inputs gives each one's formula, window and why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metalabel.config import ExitSettings

# Already scale-free: bounded oscillators, ratios, calendar, the primary signal.
AS_IS: tuple[str, ...] = (
    "rsi", "stoch_k", "stoch_d", "adx", "atr_ratio", "obv_change", "volume_ratio",
    "momentum", "hour", "weekday", "volatility_regime", "primary_direction",
    "primary_strength",
)  # fmt: skip
# Price levels, as (close - level) / ATR.
IN_ATR_UNITS: tuple[str, ...] = ("ema_fast", "ema_slow", "ema_trend", "macd_hist")
# 30 days of 1h candles (the strategy's startup candles cover it); a z-score needs a
# week of them before it is defined.
NORMALISE_CANDLES = 720
NORMALISE_MIN_CANDLES = 168
# A signal run, or the gap since the last one, longer than a week reads as a week.
CONTEXT_CAP_CANDLES = 168


def _zscore(values: pd.Series) -> pd.Series:
    """Rolling z-score; 0 where the window has no spread (e.g. no funding data)."""
    rolling = values.rolling(NORMALISE_CANDLES, min_periods=NORMALISE_MIN_CANDLES)
    std = rolling.std()
    z = (values - rolling.mean()) / std.where(std > 0)
    return z.where(~(std == 0), 0.0)


def _percentile(values: pd.Series) -> pd.Series:
    """Rolling percentile rank of the current value in (0, 1]."""
    rolling = values.rolling(NORMALISE_CANDLES, min_periods=NORMALISE_MIN_CANDLES)
    return rolling.rank(pct=True)


def signal_context(direction: pd.Series) -> pd.DataFrame:
    """Where a signal stands in its run: how many candles the same direction has held
    (1 on a run's first candle, 0 off-signal) and how many candles passed since the
    previous run ended (capped at :data:`CONTEXT_CAP_CANDLES`). Only the past is read.

    >>> signal_context(pd.Series([0, 1, 1, 0, 0, -1])).to_dict("list")
    {'signal_age': [0, 1, 2, 0, 0, 1], 'candles_since_last_run': [168, 168, 168, 0, 1, 2]}
    """
    d = direction.fillna(0).to_numpy()
    cap = CONTEXT_CAP_CANDLES
    age = np.zeros(len(d), dtype=np.int64)
    since = np.zeros(len(d), dtype=np.int64)
    last_signal: int | None = None  # the latest signal candle before i
    for i in range(len(d)):
        continues = i > 0 and d[i] != 0 and d[i - 1] == d[i]
        if continues:
            age[i], since[i] = age[i - 1] + 1, since[i - 1]
        else:
            age[i] = 1 if d[i] != 0 else 0
            since[i] = cap if last_signal is None else min(i - 1 - last_signal, cap)
        if d[i] != 0:
            last_signal = i
    return pd.DataFrame(
        {"signal_age": np.minimum(age, cap), "candles_since_last_run": since},
        index=direction.index,
    )


def model_feature_columns(frame: pd.DataFrame, exits: ExitSettings) -> pd.DataFrame:
    """The ``%``-prefixed feature columns FreqAI trains on, from a frame with signals.

    >>> frame = pd.DataFrame({c: [1.0] for c in AS_IS + IN_ATR_UNITS})
    >>> frame = frame.assign(close=3.0, atr=0.5, bb_width=0.1, funding_rate=0.0,
    ...     funding_rate_change_8h=0.0, funding_rate_trend=0.0)
    >>> cols = model_feature_columns(frame, ExitSettings())
    >>> cols[["%-ema_fast_atr", "%-stop_atr"]].iloc[0].tolist()  # (3-1)/0.5, 0.02*3/0.5
    [4.0, 0.12]
    """
    close, atr = frame["close"], frame["atr"].where(frame["atr"] > 0)
    features = {f"%-{c}": frame[c].astype("float64") for c in AS_IS}
    for column in IN_ATR_UNITS:
        level = frame[column] if column == "macd_hist" else close - frame[column]
        features[f"%-{column}_atr"] = level / atr
    features["%-atr_to_close_pct"] = _percentile(atr / close)
    features["%-bb_width_z"] = _zscore(frame["bb_width"])
    for column in ("funding_rate", "funding_rate_change_8h", "funding_rate_trend"):
        features[f"%-{column}_z"] = _zscore(frame[column])
    # the trade the label stands for: how many ATRs away its stop is (the take-profit is
    # a fixed multiple of it, so it would be a copy)
    features["%-stop_atr"] = exits.stop_loss_ratio * close / atr
    context = signal_context(frame["primary_direction"])
    features["%-signal_age"] = context["signal_age"].astype("float64")
    features["%-candles_since_last_run"] = context["candles_since_last_run"].astype("float64")
    return pd.DataFrame(features, index=frame.index)
