"""Resampling for uncertainty: block bootstrap of daily returns, Monte Carlo of trade order.

Daily returns of a trend strategy are not independent -- a trade held over several days
and volatility clusters tie neighbouring days together -- so days are resampled in
blocks. The CIRCULAR block bootstrap (Politis & Romano, 1992) draws ``ceil(n / L)``
blocks of ``L`` consecutive days with uniformly random starts, wrapping from the last
day to the first, and cuts the concatenation to ``n`` days: every day is equally likely
to be drawn, which the plain moving-block bootstrap does not give at the ends.

Defaults: 2000 resamples, blocks of 7 days (a week: longer than a trade, which is held
at most 24 hours, and than most volatility bursts, short enough to leave > 10 blocks in a
90-day range). The interval is the percentile interval: the 2.5 % and 97.5 % quantiles
of the statistic over the resamples.

A paired bootstrap applies the same resampled days to two return series of the same
days, so their difference keeps the correlation between them (both trade the same
market): that interval is far narrower than one built from two separate bootstraps.

The Monte Carlo of trade order shuffles the sequence of closed-trade profits and
recomputes the drawdown of each shuffled curve: the realised order is one draw among
many equally plausible ones, so the 95th percentile says how deep it could have been.
Profits are kept in quote currency (a shuffled trade keeps its size).

Everything draws from a ``numpy.random.Generator`` passed in, so a seed reproduces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from metalabel.evaluation.metrics import ANNUALISATION_DAYS, FloatArray, Metric, max_drawdown_ratio

DEFAULT_RESAMPLES = 2000
DEFAULT_BLOCK_DAYS = 7
DEFAULT_CONFIDENCE = 0.95
DRAWDOWN_PERCENTILE = 95.0
# A statistic undefined (NaN) on more resamples than this share gives no interval.
MAX_UNDEFINED_SHARE = 0.5
_CHUNK_ROWS = 500  # resamples per batch, to bound memory on long trade lists

RowStatistic = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[lo, hi]``, or ``None`` bounds and the reason."""

    lo: float | None
    hi: float | None
    reason: str | None = None

    @classmethod
    def undefined(cls, reason: str) -> Interval:
        return cls(None, None, reason)


def circular_block_indices(
    n: int, *, block_length: int, resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """``(resamples, n)`` day indices of circular block bootstrap samples.

    Worked example, n = 5, L = 2, starts 4 and 1: blocks ``[4, 0]`` and ``[1, 2]``, then
    a third block cut after one day -> ``[4, 0, 1, 2, s]``.
    """
    if n < 1:
        raise ValueError("circular_block_indices needs at least one day")
    length = max(1, min(block_length, n))
    blocks = math.ceil(n / length)
    starts = rng.integers(0, n, size=(resamples, blocks))
    offsets = np.arange(length)
    idx = (starts[:, :, None] + offsets[None, None, :]) % n
    out: npt.NDArray[np.intp] = idx.reshape(resamples, blocks * length)[:, :n].astype(np.intp)
    return out


def sharpe_rows(samples: FloatArray) -> FloatArray:
    """Annualised Sharpe of each row (``sqrt(365) * mean / std(ddof=1)``); NaN if flat."""
    mean = samples.mean(axis=1)
    std = samples.std(axis=1, ddof=1)
    flat = np.ptp(samples, axis=1) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(flat, np.nan, math.sqrt(ANNUALISATION_DAYS) * mean / std)
    return out


def total_return_rows(samples: FloatArray) -> FloatArray:
    """Compounded return of each row: ``prod(1 + r) - 1``."""
    out: FloatArray = np.prod(1.0 + samples, axis=1) - 1.0
    return out


def percentile_interval(statistics: FloatArray, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """The central ``confidence`` interval of the finite statistics."""
    finite = statistics[np.isfinite(statistics)]
    undefined_share = 1.0 - finite.size / max(statistics.size, 1)
    if finite.size == 0 or undefined_share > MAX_UNDEFINED_SHARE:
        return Interval.undefined(
            f"the statistic is undefined on {undefined_share:.0%} of the bootstrap resamples"
        )
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return Interval(float(lo), float(hi))


def _check(returns: FloatArray, resamples: int, confidence: float) -> str | None:
    if returns.size < 2:
        return f"fewer than 2 daily returns ({returns.size})"
    if not np.all(np.isfinite(returns)):
        return "daily returns contain NaN or inf"
    if resamples < 1:
        return "no resamples requested"
    if not 0 < confidence < 1:
        return f"confidence must be in (0, 1), got {confidence}"
    return None


def block_bootstrap_ci(
    returns: npt.ArrayLike,
    statistic: RowStatistic,
    *,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
    block_length: int = DEFAULT_BLOCK_DAYS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Percentile interval of ``statistic`` over circular block bootstrap resamples.

    ``statistic`` maps a ``(resamples, n)`` matrix to one value per row, NaN where it
    is undefined (e.g. :func:`sharpe_rows` on a flat resample).
    """
    r = np.asarray(returns, dtype=np.float64).ravel()
    problem = _check(r, resamples, confidence)
    if problem:
        return Interval.undefined(problem)
    idx = circular_block_indices(r.size, block_length=block_length, resamples=resamples, rng=rng)
    return percentile_interval(statistic(r[idx]), confidence)


def paired_block_bootstrap_ci(
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    statistic: RowStatistic,
    *,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
    block_length: int = DEFAULT_BLOCK_DAYS,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Interval of ``statistic(first) - statistic(second)`` on the same resampled days."""
    a = np.asarray(first, dtype=np.float64).ravel()
    b = np.asarray(second, dtype=np.float64).ravel()
    if a.size != b.size:
        raise ValueError(f"paired series must cover the same days, got {a.size} and {b.size}")
    problem = _check(a, resamples, confidence) or _check(b, resamples, confidence)
    if problem:
        return Interval.undefined(problem)
    idx = circular_block_indices(a.size, block_length=block_length, resamples=resamples, rng=rng)
    return percentile_interval(statistic(a[idx]) - statistic(b[idx]), confidence)


def trade_order_drawdowns(
    profits: npt.ArrayLike,
    *,
    start_equity: float,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
) -> FloatArray:
    """Max drawdown of ``resamples`` closed-trade equity curves with the trades shuffled.

    Each curve is ``start_equity`` followed by ``start_equity + cumsum(shuffled profits)``.
    """
    p = np.asarray(profits, dtype=np.float64).ravel()
    if p.size == 0:
        return np.zeros(0)
    out = np.empty(resamples)
    for first in range(0, resamples, _CHUNK_ROWS):
        rows = min(_CHUNK_ROWS, resamples - first)
        shuffled = rng.permuted(np.broadcast_to(p, (rows, p.size)), axis=1)
        curves = np.empty((rows, p.size + 1))
        curves[:, 0] = start_equity
        curves[:, 1:] = start_equity + np.cumsum(shuffled, axis=1)
        out[first : first + rows] = max_drawdown_ratio(curves)
    return out


def drawdown_percentile(
    profits: npt.ArrayLike,
    *,
    start_equity: float,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
    percentile: float = DRAWDOWN_PERCENTILE,
) -> Metric:
    """The ``percentile`` of the shuffled-order drawdowns (undefined without trades)."""
    drawdowns = trade_order_drawdowns(
        profits, start_equity=start_equity, rng=rng, resamples=resamples
    )
    if drawdowns.size == 0:
        return Metric.undefined("no trades to reorder")
    return Metric.of(float(np.percentile(drawdowns, percentile)))
