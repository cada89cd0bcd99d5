"""The primary signal: a weighted vote of EMA fast/slow, RSI extremes and MACD.

The primary signal decides the *side*; the meta-model later decides whether to take it.
Each vote is +1 (long), -1 (short) or 0, read from indicator columns of the same row
only (see :mod:`metalabel.core.features`), so the signal has no lookahead of its own.

With the default weights (1, 1, 1) and ``min_vote_ratio`` 0.6, two agreeing votes and a
silent third give 2/3 >= 0.6, a signal; one vote alone (1/3) or two disagreeing votes
(0) give none. Rows whose inputs are NaN or whose volume is <= 0 are NEUTRAL.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import pandas as pd

from metalabel.config import SignalSettings

# The columns a row needs, all non-NaN, to carry a signal.
SIGNAL_INPUTS: tuple[str, ...] = ("ema_fast", "ema_slow", "rsi", "macd", "macd_signal", "volume")
SIGNAL_COLUMNS: tuple[str, ...] = (
    "vote_ema", "vote_rsi", "vote_macd", "vote_score",
    "primary_direction", "primary_strength", "primary_long", "primary_short",
)  # fmt: skip

# A score that equals the threshold up to float rounding (2/3 vs 0.6666...) still counts.
_SCORE_TOLERANCE = 1e-9


class Direction(int, Enum):
    """Side of the primary signal; an int so that it can live in a numeric column."""

    LONG = 1
    SHORT = -1
    NEUTRAL = 0


def sign_vote(first: pd.Series, second: pd.Series) -> pd.Series:
    """+1 where ``first > second``, -1 where ``first < second``, 0 if equal or either NaN."""
    vote = np.where(first > second, 1, np.where(first < second, -1, 0))
    return pd.Series(vote, index=first.index, dtype=np.int64)


def trend_direction(
    df: pd.DataFrame, *, fast_column: str = "ema_fast", slow_column: str = "ema_slow"
) -> pd.Series:
    """+1 / -1 / 0 from EMA fast vs slow; on 4h candles it is the 4h confirmation.

    The caller aligns the 4h result to the 1h frame (``merge_informative_pair``), which
    shifts each 4h value to the first 1h candle after the 4h candle closed; the column
    names are parameters because the merged frame carries them with a ``_4h`` suffix.
    """
    return sign_vote(df[fast_column], df[slow_column]).rename("trend_direction")


def rsi_vote(rsi: pd.Series, settings: SignalSettings) -> pd.Series:
    """+1 when oversold (RSI < ``rsi_oversold``), -1 when overbought; the bounds vote 0."""
    vote = np.where(rsi < settings.rsi_oversold, 1, np.where(rsi > settings.rsi_overbought, -1, 0))
    return pd.Series(vote, index=rsi.index, dtype=np.int64)


def macd_vote(macd: pd.Series, macd_signal: pd.Series) -> pd.Series:
    """+1 while MACD is above its signal line, -1 while below.

    This is the MACD cross held as a state: the cross sets the direction and it holds
    until the next cross, rather than voting only on the crossing candle.
    """
    return sign_vote(macd, macd_signal)


def valid_signal_rows(df: pd.DataFrame) -> pd.Series:
    """True where every input of :data:`SIGNAL_INPUTS` is known and the volume is > 0."""
    return df[list(SIGNAL_INPUTS)].notna().all(axis=1) & (df["volume"] > 0)


def votes(df: pd.DataFrame, settings: SignalSettings) -> pd.DataFrame:
    """The three votes and their weighted mean ``vote_score`` in [-1, 1]; 0 on invalid rows.

    Worked example, weights (1, 1, 1): EMA +1, RSI 0, MACD +1 -> (1 + 0 + 1) / 3 = 0.667.
    """
    valid = valid_signal_rows(df)
    frame = pd.DataFrame(
        {
            "vote_ema": sign_vote(df["ema_fast"], df["ema_slow"]),
            "vote_rsi": rsi_vote(df["rsi"], settings),
            "vote_macd": macd_vote(df["macd"], df["macd_signal"]),
        }
    ).mul(valid.astype(np.int64), axis=0)
    weights = (settings.ema_vote_weight, settings.rsi_vote_weight, settings.macd_vote_weight)
    weighted = sum(frame[col] * w for col, w in zip(frame.columns, weights, strict=True))
    frame["vote_score"] = weighted / sum(weights)
    return frame


def direction_from_score(score: pd.Series, settings: SignalSettings) -> pd.Series:
    """LONG at ``score >= min_vote_ratio``, SHORT at ``<= -min_vote_ratio``, else NEUTRAL."""
    threshold = settings.min_vote_ratio - _SCORE_TOLERANCE
    direction = np.where(
        score >= threshold,
        Direction.LONG.value,
        np.where(score <= -threshold, Direction.SHORT.value, Direction.NEUTRAL.value),
    )
    return pd.Series(direction, index=score.index, dtype=np.int64)


def confirm_with_trend(direction: pd.Series, trend: pd.Series) -> pd.Series:
    """Keep a direction only where the higher-timeframe trend points the same way.

    A flat (0) or unknown (NaN) trend confirms nothing, so it neutralises both sides.
    The two series are matched by position, so they must have the same length.
    """
    if len(trend) != len(direction):
        raise ValueError(f"trend has {len(trend)} rows, the signal frame {len(direction)}")
    agrees = direction.to_numpy() == trend.to_numpy(dtype=np.float64, na_value=np.nan)
    return direction.where(agrees, Direction.NEUTRAL.value)


def _squash(ratio: pd.Series) -> pd.Series:
    """``x / (1 + x)`` for ``x >= 0``: 0 stays 0, one unit gives 0.5, never reaches 1."""
    clipped = ratio.clip(lower=0.0).fillna(0.0)
    return clipped / (1.0 + clipped)


def vote_magnitudes(df: pd.DataFrame, settings: SignalSettings) -> pd.DataFrame:
    """How far past its tipping point each vote is, in [0, 1); 0 where a vote is silent.

    EMA and MACD: the gap between the two lines in ATRs (``atr`` column), squashed by
    :func:`_squash`; without ATR the gap counts as 0. RSI: how far past its band, as a
    share of the room left (30 -> 0: oversold at 15 is 0.5; 70 -> 100: 85 is 0.5).
    Worked example: EMA fast 102, slow 100, ATR 2 -> gap 1 ATR -> 0.5.
    """
    atr = df["atr"] if "atr" in df.columns else pd.Series(np.nan, index=df.index)
    atr = atr.where(atr > 0)
    oversold = (settings.rsi_oversold - df["rsi"]) / settings.rsi_oversold
    overbought = (df["rsi"] - settings.rsi_overbought) / (100.0 - settings.rsi_overbought)
    return pd.DataFrame(
        {
            "vote_ema": _squash((df["ema_fast"] - df["ema_slow"]).abs() / atr),
            "vote_rsi": oversold.clip(lower=0.0).fillna(0.0)
            + overbought.clip(lower=0.0).fillna(0.0),
            "vote_macd": _squash((df["macd"] - df["macd_signal"]).abs() / atr),
        }
    ).clip(upper=1.0)


def signal_strength(
    df: pd.DataFrame, frame: pd.DataFrame, direction: pd.Series, settings: SignalSettings
) -> pd.Series:
    """Conviction of a signal in [0, 1]; 0 on NEUTRAL rows.

    ``abs(vote_score)`` would be constant on signal rows: with three +-1 votes and the
    default threshold, every signal scores 2/3 (a contrarian RSI rarely agrees). Here each
    vote counts with its magnitude (:func:`vote_magnitudes`), for the signal's side and
    against it: ``sum(w * vote * side * magnitude) / sum(w)``, floored at 0. The direction
    itself is still decided by the +-1 votes alone, so signals do not change.
    """
    weights = {
        "vote_ema": settings.ema_vote_weight,
        "vote_rsi": settings.rsi_vote_weight,
        "vote_macd": settings.macd_vote_weight,
    }
    magnitude = vote_magnitudes(df, settings)
    side = direction.astype(np.float64)
    total = sum(frame[col] * side * magnitude[col] * w for col, w in weights.items())
    strength = (total / sum(weights.values())).clip(lower=0.0)
    return strength.where(direction != Direction.NEUTRAL.value, 0.0).astype(np.float64)


def primary_signal(
    df: pd.DataFrame, settings: SignalSettings, *, trend_4h: pd.Series | None = None
) -> pd.DataFrame:
    """Votes, direction and strength of the primary signal, one row per candle of ``df``.

    ``df`` carries the columns of :data:`SIGNAL_INPUTS`. ``trend_4h`` (+1/-1/0 per row,
    already aligned to ``df`` without lookahead) vetoes disagreeing directions when
    ``settings.use_4h_confirmation`` is on; it is ignored otherwise.
    ``primary_strength`` is :func:`signal_strength`: 0.0 on NEUTRAL rows.
    """
    frame = votes(df, settings)
    direction = direction_from_score(frame["vote_score"], settings)
    if trend_4h is not None and settings.use_4h_confirmation:
        direction = confirm_with_trend(direction, trend_4h)
    frame["primary_direction"] = direction
    frame["primary_strength"] = signal_strength(df, frame, direction, settings)
    frame["primary_long"] = direction == Direction.LONG.value
    frame["primary_short"] = direction == Direction.SHORT.value
    return frame
