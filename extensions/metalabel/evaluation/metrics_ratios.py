"""The single metrics (Sharpe, Sortino, profit factor, win rate, drawdown, exposure) and
the daily equity curve they are read from; :mod:`metalabel.evaluation.metrics` (which
re-exports all of this) documents the formulas and assembles them per period.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from freqtrade.data.metrics import calculate_max_drawdown

FloatArray = npt.NDArray[np.float64]

ANNUALISATION_DAYS = 365  # crypto trades every calendar day
ONE_DAY = pd.Timedelta(days=1)
_NS = pd.Timedelta(1, "ns")

REASON_NO_TRADES = "no trades closed in the period"
REASON_CONSTANT = "equity curve is constant: daily returns have zero spread"


class Metric(NamedTuple):
    """A metric value, or ``None`` and the reason it cannot be computed."""

    value: float | None
    reason: str | None = None

    @classmethod
    def of(cls, value: float) -> Metric:
        """A defined value; a non-finite one becomes undefined rather than leak NaN/inf."""
        if not math.isfinite(value):
            return cls(None, f"not a finite number ({value})")
        return cls(float(value))

    @classmethod
    def undefined(cls, reason: str) -> Metric:
        return cls(None, reason)


def _floats(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64).ravel()


# ----------------------------------------------------------------------------- ratios
def sharpe_ratio(daily_returns: npt.ArrayLike) -> Metric:
    """``sqrt(365) * mean(r) / std(r, ddof=1)`` of daily returns.

    Undefined for fewer than two days and for a constant series (a flat equity curve,
    or one that grows by the same ratio every day): the spread is zero.

    >>> round(sharpe_ratio([0.02, 0.0, -0.01, 0.03]).value, 4)  # 0.01 / 0.01826 * 19.105
    10.4642
    >>> sharpe_ratio([0.0, 0.0, 0.0]).reason
    'equity curve is constant: daily returns have zero spread'
    """
    r = _floats(daily_returns)
    if r.size < 2:
        return Metric.undefined(f"fewer than 2 daily returns ({r.size})")
    if np.ptp(r) == 0:
        return Metric.undefined(REASON_CONSTANT)
    return Metric.of(math.sqrt(ANNUALISATION_DAYS) * r.mean() / r.std(ddof=1))


def downside_deviation(daily_returns: npt.ArrayLike) -> float:
    """``sqrt(sum(min(r, 0)^2) / (n - 1))``: the spread of losses below a 0 target."""
    r = _floats(daily_returns)
    if r.size < 2:
        return math.nan
    return math.sqrt(float(np.sum(np.minimum(r, 0.0) ** 2)) / (r.size - 1))


def sortino_ratio(daily_returns: npt.ArrayLike) -> Metric:
    """``sqrt(365) * mean(r) / DD`` with DD the downside deviation (target 0, ``n - 1``).

    Undefined without a losing day (DD = 0), e.g. for an all-winning or flat curve.
    """
    r = _floats(daily_returns)
    if r.size < 2:
        return Metric.undefined(f"fewer than 2 daily returns ({r.size})")
    dd = downside_deviation(r)
    if dd == 0:
        return Metric.undefined("no losing day: downside deviation is 0")
    return Metric.of(math.sqrt(ANNUALISATION_DAYS) * r.mean() / dd)


def profit_factor(profits: npt.ArrayLike) -> Metric:
    """Gross profit over gross loss; 0.0 when every trade lost, undefined with no loser.

    >>> profit_factor([3.0, -1.0, -2.0]).value
    1.0
    """
    p = _floats(profits)
    if p.size == 0:
        return Metric.undefined(REASON_NO_TRADES)
    loss = -p[p < 0].sum()
    if loss == 0:
        return Metric.undefined("no losing trade: profit factor is unbounded")
    return Metric.of(p[p > 0].sum() / loss)


def win_rate(profits: npt.ArrayLike) -> Metric:
    """Share of trades with ``profit_abs > 0`` (a break-even trade is not a win)."""
    p = _floats(profits)
    if p.size == 0:
        return Metric.undefined(REASON_NO_TRADES)
    return Metric.of(float(np.count_nonzero(p > 0)) / p.size)


def average_win_loss(profit_ratios: npt.ArrayLike) -> tuple[Metric, Metric, Metric]:
    """``(avg_win, avg_loss, avg_win / |avg_loss|)`` of per-trade returns on stake.

    ``avg_loss`` is negative. Each is undefined without a winner / a loser.
    """
    r = _floats(profit_ratios)
    if r.size == 0:
        none = Metric.undefined(REASON_NO_TRADES)
        return none, none, none
    wins, losses = r[r > 0], r[r < 0]
    win = Metric.of(wins.mean()) if wins.size else Metric.undefined("no winning trade")
    loss = Metric.of(losses.mean()) if losses.size else Metric.undefined("no losing trade")
    if win.value is None or loss.value is None:
        ratio = Metric.undefined(win.reason or loss.reason or "")
    else:
        ratio = Metric.of(win.value / -loss.value)
    return win, loss, ratio


def max_drawdown_ratio(equity: npt.ArrayLike) -> FloatArray:
    """Largest fall from a running peak, as a fraction of the peak, along the last axis.

    The first element is the starting equity (it counts as a peak). Works on one curve
    or on a matrix of curves (one per row) for Monte Carlo. Peaks must be positive.

    >>> float(max_drawdown_ratio([100.0, 120.0, 90.0, 130.0]))
    0.25
    """
    e = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(e, axis=-1)
    if np.any(peak <= 0):
        raise ValueError("max_drawdown_ratio needs a positive starting equity")
    out: FloatArray = np.max((peak - e) / peak, axis=-1)
    return out


def trades_max_drawdown(trades: pd.DataFrame, start_equity: float) -> Metric:
    """Max drawdown of the closed-trade equity curve (freqtrade's relative drawdown).

    The curve is ``start_equity`` plus the cumulative ``profit_abs`` after each trade in
    close order; with no trades it is flat, so the drawdown is 0.0.
    """
    if trades.empty:
        return Metric.of(0.0)
    result = calculate_max_drawdown(
        trades.reset_index(drop=True),
        date_col="close_date",
        value_col="profit_abs",
        starting_balance=start_equity,
        relative=True,
    )
    return Metric.of(float(result.relative_account_drawdown))


def exposure_ratio(
    open_dates: pd.Series, close_dates: pd.Series, start: pd.Timestamp, end: pd.Timestamp
) -> float:
    """Share of ``[start, end)`` with at least one position open (overlaps count once).

    Worked example, period 00:00-10:00, trades 01:00-03:00 and 02:00-05:00 (overlapping)
    and 09:00-12:00 (clipped at 10:00): covered 01:00-05:00 and 09:00-10:00 = 5 h -> 0.5.
    """
    length = (end - start) / _NS
    if length <= 0 or len(open_dates) == 0:
        return 0.0
    lo = utc_ns(open_dates).clip(_ns_scalar(start), _ns_scalar(end))
    hi = utc_ns(close_dates).clip(_ns_scalar(start), _ns_scalar(end))
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    # Sorted by start, a trade adds only what lies beyond every earlier trade's end.
    reach = np.concatenate(([np.iinfo(np.int64).min], np.maximum.accumulate(hi)[:-1]))
    covered = np.maximum(hi - np.maximum(lo, reach), 0).sum()
    return float(covered / length)


def utc_ns(dates: pd.Series) -> npt.NDArray[np.int64]:
    """UTC nanoseconds since the epoch, whatever the unit of the column."""
    index = pd.DatetimeIndex(pd.to_datetime(dates, utc=True)).as_unit("ns")
    values: npt.NDArray[np.int64] = index.asi8
    return values


def _ns_scalar(moment: pd.Timestamp) -> int:
    return int(pd.Timestamp(moment).as_unit("ns").value)


# ----------------------------------------------------------------------------- equity
def closed_trade_equity(trades: pd.DataFrame, start_equity: float) -> pd.Series:
    """Equity after each closed trade (index = close date), in close order."""
    ordered = trades.sort_values("close_date", kind="stable")
    values = start_equity + ordered["profit_abs"].to_numpy(dtype=np.float64).cumsum()
    return pd.Series(values, index=pd.DatetimeIndex(ordered["close_date"]), name="equity")


def period_days(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """The UTC days that ``[start, end)`` touches."""
    return pd.date_range(start.floor("D"), (end - _NS).floor("D"), freq="D")


def daily_equity(
    path: pd.Series, *, start: pd.Timestamp, end: pd.Timestamp, start_equity: float
) -> pd.Series:
    """Equity at the end of each UTC day of ``[start, end)`` from an equity path.

    ``path`` is the equity after each event (a trade close, a mark-to-market candle),
    indexed by event time and sorted. A day without events keeps the previous equity.
    Events before ``start`` / at or after ``end`` count on the first / last day.

    Worked example, start equity 100, a trade closing day 2 at +10: ``[100, 110, 110]``.
    """
    days = period_days(start, end)
    if path.empty:
        return pd.Series(start_equity, index=days, name="equity", dtype=np.float64)
    when = pd.DatetimeIndex(pd.Series(path.index).clip(start, end - _NS)).floor("D")
    last = pd.Series(path.to_numpy(dtype=np.float64), index=when).groupby(level=0).last()
    out = last.reindex(days).ffill().fillna(start_equity)
    return out.rename("equity")


def daily_returns(equity: pd.Series, start_equity: float) -> pd.Series:
    """``r_d = E_d / E_(d-1) - 1`` with ``E_(-1) = start_equity``; one return per day."""
    values = equity.to_numpy(dtype=np.float64)
    previous = np.concatenate(([start_equity], values[:-1]))
    return pd.Series(values / previous - 1.0, index=equity.index, name="return")
