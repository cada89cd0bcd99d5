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


def primary_signal(
    df: pd.DataFrame, settings: SignalSettings, *, trend_4h: pd.Series | None = None
) -> pd.DataFrame:
    """Votes, direction and strength of the primary signal, one row per candle of ``df``.

    ``df`` carries the columns of :data:`SIGNAL_INPUTS`. ``trend_4h`` (+1/-1/0 per row,
    already aligned to ``df`` without lookahead) vetoes disagreeing directions when
    ``settings.use_4h_confirmation`` is on; it is ignored otherwise.
    ``primary_strength`` is ``abs(vote_score)`` on signal rows and 0.0 elsewhere.
    """
    frame = votes(df, settings)
    direction = direction_from_score(frame["vote_score"], settings)
    if trend_4h is not None and settings.use_4h_confirmation:
        direction = confirm_with_trend(direction, trend_4h)
    frame["primary_direction"] = direction
    frame["primary_strength"] = frame["vote_score"].abs().where(direction != 0, 0.0)
    frame["primary_long"] = direction == Direction.LONG.value
    frame["primary_short"] = direction == Direction.SHORT.value
    return frame
