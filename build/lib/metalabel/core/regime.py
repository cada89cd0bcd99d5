"""Market regime per candle: trending up or down, ranging, or highly volatile.

The regime is a gate, not a signal: trending regimes admit entries on the trend's side,
ranging blocks entries (unless ``allow_ranging``), high volatility admits both sides at
a reduced size. It reads indicator columns of the same row only (see
:mod:`metalabel.core.features`): ``atr_ratio, adx, close, ema_trend, momentum``.

Precedence and tie rules, first match wins:

1. HIGH_VOLATILITY when ``atr_ratio > high_volatility_atr_ratio`` (a ratio exactly at
   the threshold is not high volatility);
2. TRENDING_UP when ``adx > adx_threshold`` and ``close > ema_trend`` and ``momentum > 0``;
3. TRENDING_DOWN when ``adx > adx_threshold`` and ``close < ema_trend`` and ``momentum < 0``;
4. RANGING otherwise -- including ADX exactly at the threshold, a strong ADX whose price
   and momentum disagree, and any row with a NaN input (those rows are also never ok).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from metalabel.config import RegimeSettings

REGIME_INPUTS: tuple[str, ...] = ("atr_ratio", "adx", "close", "ema_trend", "momentum")
REGIME_COLUMNS: tuple[str, ...] = (
    "regime", "regime_ok_long", "regime_ok_short", "regime_size_multiplier",
    "adx_score", "atr_ratio_score",
)  # fmt: skip


class Regime(StrEnum):
    """Market regime; the value is what the ``regime`` column holds."""

    TRENDING_UP = "trending_up"
    TRENDING_DOWN = "trending_down"
    RANGING = "ranging"
    HIGH_VOLATILITY = "high_volatility"


def known_inputs(df: pd.DataFrame) -> pd.Series:
    """True where every column of :data:`REGIME_INPUTS` is known."""
    return df[list(REGIME_INPUTS)].notna().all(axis=1)


def label_regime(df: pd.DataFrame, settings: RegimeSettings) -> pd.Series:
    """The :class:`Regime` value of each row, by the precedence in the module docstring."""
    strong = df["adx"] > settings.adx_threshold
    up = strong & (df["close"] > df["ema_trend"]) & (df["momentum"] > 0)
    down = strong & (df["close"] < df["ema_trend"]) & (df["momentum"] < 0)
    labels = np.select(
        [df["atr_ratio"] > settings.high_volatility_atr_ratio, up, down],
        [Regime.HIGH_VOLATILITY.value, Regime.TRENDING_UP.value, Regime.TRENDING_DOWN.value],
        default=Regime.RANGING.value,
    )
    labels = np.where(known_inputs(df), labels, Regime.RANGING.value)
    return pd.Series(labels, index=df.index, name="regime")


def admitted_sides(
    regime: pd.Series, known: pd.Series, settings: RegimeSettings
) -> tuple[pd.Series, pd.Series]:
    """``(ok_long, ok_short)``: which entry sides each row's regime admits.

    A disabled regime filter admits everything; otherwise rows with unknown inputs admit
    nothing, even when ranging is allowed.
    """
    if not settings.enabled:
        everywhere = pd.Series(True, index=regime.index)
        return everywhere, everywhere.copy()
    volatile = regime == Regime.HIGH_VOLATILITY.value
    ranging_ok = (regime == Regime.RANGING.value) & settings.allow_ranging
    ok_long = (volatile | ranging_ok | (regime == Regime.TRENDING_UP.value)) & known
    ok_short = (volatile | ranging_ok | (regime == Regime.TRENDING_DOWN.value)) & known
    return ok_long, ok_short


def size_multiplier(regime: pd.Series, settings: RegimeSettings) -> pd.Series:
    """``high_volatility_size_multiplier`` in HIGH_VOLATILITY, else 1.0 (always 1.0 if off)."""
    reduce = (regime == Regime.HIGH_VOLATILITY.value) & settings.enabled
    return pd.Series(
        np.where(reduce, settings.high_volatility_size_multiplier, 1.0), index=regime.index
    )


def classify_regime(df: pd.DataFrame, settings: RegimeSettings) -> pd.DataFrame:
    """Regime, entry gates, size multiplier and two continuous scores per candle.

    The scores are distances from the thresholds in units of the threshold, for the
    meta-model: ``adx_score = (adx - adx_threshold) / adx_threshold`` (ADX 30 at 25 ->
    0.2) and ``atr_ratio_score = (atr_ratio - high_volatility_atr_ratio) /
    high_volatility_atr_ratio`` (ratio 1.0 at 2.0 -> -0.5); NaN where the input is NaN.
    """
    regime = label_regime(df, settings)
    ok_long, ok_short = admitted_sides(regime, known_inputs(df), settings)
    threshold, high_ratio = settings.adx_threshold, settings.high_volatility_atr_ratio
    return pd.DataFrame(
        {
            "regime": regime,
            "regime_ok_long": ok_long,
            "regime_ok_short": ok_short,
            "regime_size_multiplier": size_multiplier(regime, settings),
            "adx_score": (df["adx"] - threshold) / threshold,
            "atr_ratio_score": (df["atr_ratio"] - high_ratio) / high_ratio,
        },
        index=df.index,
    )
