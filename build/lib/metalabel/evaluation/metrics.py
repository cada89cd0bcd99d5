"""Performance of a backtest: daily equity curve, walk-forward folds and their metrics.

Pure functions over numpy/pandas. freqtrade's own ``calculate_max_drawdown`` gives the
closed-trade drawdown; what freqtrade lacks, or defines differently, is written here:

* Sharpe and Sortino from the DAILY returns of the equity curve, with ``ddof=1`` and no
  value (instead of freqtrade's ``-100`` sentinel) when the ratio is undefined;
* profit factor without a value when there is no losing trade (freqtrade reports 0.0);
* exposure, a drawdown kernel that runs over many curves at once (Monte Carlo), the
  buy-and-hold baseline, the doubled-cost stress and the 30-day fold slicing.

A metric that can be undefined is a :class:`Metric`: a value, or ``None`` with the
reason, so a report can say why a number is missing instead of printing NaN or inf.

Formulas (``B0`` = equity at the start of the period, ``r_d`` = daily returns)::

    E_d          = B0 + sum(profit_abs of trades closed on or before UTC day d)
    r_d          = E_d / E_(d-1) - 1,  E_(-1) = B0            (a day without trades: 0)
    sharpe       = sqrt(365) * mean(r) / std(r, ddof=1)
    sortino      = sqrt(365) * mean(r) / DD,  DD = sqrt(sum(min(r_d, 0)^2) / (n - 1))
    profit_factor= sum(profit_abs > 0) / |sum(profit_abs < 0)|
    win_rate     = #(profit_abs > 0) / #trades
    avg_win      = mean(profit_ratio | > 0),  avg_loss = mean(profit_ratio | < 0)  (< 0)
    win_loss_ratio = avg_win / |avg_loss|
    total_return = E_end / B0 - 1
    max_drawdown = max_t (peak_t - E_t) / peak_t,  peak_t = max(B0, E_0 .. E_t)
    exposure     = |union of [open_date, close_date) within the period| / period length

Ratios are fractions (0.15 = 15 %); ``profit_ratio`` is freqtrade's return on the stake.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from freqtrade.data.metrics import calculate_max_drawdown

FloatArray = npt.NDArray[np.float64]

ANNUALISATION_DAYS = 365  # crypto trades every calendar day
FOLD_DAYS = 30  # FreqAI's backtest_period_days: one model per 30-day window
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


# ----------------------------------------------------------------------------- folds
@dataclass(frozen=True)
class Fold:
    """One walk-forward test window ``[start, end)``."""

    index: int
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def days(self) -> float:
        return float((self.end - self.start) / ONE_DAY)


def walk_forward_folds(
    start: pd.Timestamp, end: pd.Timestamp, *, fold_days: int = FOLD_DAYS
) -> list[Fold]:
    """Consecutive ``fold_days`` windows from ``start``; the last one may be shorter.

    These are FreqAI's backtest windows (``backtest_period_days``), each traded by a model
    trained only on data before it. 2025-01-01..2025-04-01 (90 days) gives 3 folds.
    """
    if end <= start:
        raise ValueError(f"empty period: start {start} is not before end {end}")
    step = pd.Timedelta(days=fold_days)
    folds: list[Fold] = []
    cursor = start
    while cursor < end:
        folds.append(Fold(len(folds), cursor, min(cursor + step, end)))
        cursor += step
    return folds


# ----------------------------------------------------------------------------- periods
METRIC_NAMES: tuple[str, ...] = (
    "sharpe", "sortino", "profit_factor", "max_drawdown", "win_rate", "avg_win", "avg_loss",
    "win_loss_ratio", "total_return", "exposure",
)  # fmt: skip


@dataclass(frozen=True)
class PeriodMetrics:
    """Every metric of one period (the whole range or a fold) of one variant."""

    start: pd.Timestamp
    end: pd.Timestamp
    trades: int
    start_equity: float
    end_equity: float
    sharpe: Metric
    sortino: Metric
    profit_factor: Metric
    max_drawdown: Metric
    win_rate: Metric
    avg_win: Metric
    avg_loss: Metric
    win_loss_ratio: Metric
    total_return: Metric
    exposure: Metric
    equity: pd.Series = field(repr=False, compare=False)
    returns: pd.Series = field(repr=False, compare=False)

    def metric(self, name: str) -> Metric:
        value: Metric = getattr(self, name)
        return value


def _assemble(
    closed: pd.DataFrame,
    equity: pd.Series,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    start_equity: float,
    max_drawdown: Metric,
    exposure: float,
) -> PeriodMetrics:
    returns = daily_returns(equity, start_equity)
    profits = closed["profit_abs"].to_numpy(dtype=np.float64)
    avg_win, avg_loss, ratio = average_win_loss(closed["profit_ratio"])
    end_equity = float(equity.iloc[-1]) if len(equity) else start_equity
    return PeriodMetrics(
        start=start,
        end=end,
        trades=len(closed),
        start_equity=start_equity,
        end_equity=end_equity,
        sharpe=sharpe_ratio(returns),
        sortino=sortino_ratio(returns),
        profit_factor=profit_factor(profits),
        max_drawdown=max_drawdown,
        win_rate=win_rate(profits),
        avg_win=avg_win,
        avg_loss=avg_loss,
        win_loss_ratio=ratio,
        total_return=Metric.of(end_equity / start_equity - 1.0),
        exposure=Metric.of(exposure),
        equity=equity,
        returns=returns,
    )


def closed_in(trades: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The trades whose close date lies in ``[start, end)``."""
    mask = (trades["close_date"] >= start) & (trades["close_date"] < end)
    return trades.loc[mask]


def trade_metrics(
    trades: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp, start_equity: float
) -> PeriodMetrics:
    """Metrics of ``[start, end)`` from freqtrade's trades table (closed-trade equity).

    ``trades`` may hold every trade of the backtest: a trade belongs to the period it
    closes in; exposure also counts trades opened earlier and still open in it.
    ``start_equity`` is the equity at ``start`` (for a fold: after all earlier trades).
    """
    if start_equity <= 0:
        raise ValueError(f"start_equity must be positive, got {start_equity}")
    closed = closed_in(trades, start, end)
    path = closed_trade_equity(closed, start_equity)
    equity = daily_equity(path, start=start, end=end, start_equity=start_equity)
    return _assemble(
        closed,
        equity,
        start=start,
        end=end,
        start_equity=start_equity,
        max_drawdown=trades_max_drawdown(closed, start_equity),
        exposure=exposure_ratio(trades["open_date"], trades["close_date"], start, end),
    )


def mark_to_market_metrics(
    path: pd.Series,
    legs: pd.DataFrame,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    start_equity: float,
    exposure: float = 1.0,
) -> PeriodMetrics:
    """Metrics of ``[start, end)`` from a marked-to-market equity path (buy and hold).

    ``path`` is the equity at each candle (index = candle date), ``legs`` the round trips
    in the trades-table layout; the drawdown is taken candle by candle.
    """
    inside = path[(path.index >= start) & (path.index < end)]
    equity = daily_equity(inside, start=start, end=end, start_equity=start_equity)
    curve = np.concatenate(([start_equity], inside.to_numpy(dtype=np.float64)))
    return _assemble(
        closed_in(legs, start, end),
        equity,
        start=start,
        end=end,
        start_equity=start_equity,
        max_drawdown=Metric.of(float(max_drawdown_ratio(curve))),
        exposure=exposure,
    )


def equity_at(path: pd.Series, moment: pd.Timestamp, start_equity: float) -> float:
    """The last equity of ``path`` strictly before ``moment`` (``start_equity`` if none)."""
    before = path[path.index < moment]
    return float(before.iloc[-1]) if len(before) else start_equity


def trade_fold_metrics(
    trades: pd.DataFrame, folds: Sequence[Fold], start_equity: float
) -> list[PeriodMetrics]:
    """:func:`trade_metrics` of each fold, each starting from the equity left before it."""
    path = closed_trade_equity(trades, start_equity)
    return [
        trade_metrics(
            trades,
            start=fold.start,
            end=fold.end,
            start_equity=equity_at(path, fold.start, start_equity),
        )
        for fold in folds
    ]


@dataclass(frozen=True)
class Aggregate:
    """A metric across folds, over the folds where it is defined."""

    mean: Metric
    std: Metric
    min: Metric
    max: Metric
    folds: int


def aggregate_folds(folds: Sequence[PeriodMetrics], name: str) -> Aggregate:
    """Mean, std (``ddof=1``), min and max of one metric over the folds that have it."""
    if name == "trades":
        values = np.array([float(f.trades) for f in folds])
    else:
        values = np.array([v for f in folds if (v := f.metric(name).value) is not None])
    if values.size == 0:
        none = Metric.undefined(f"no fold has a value for {name}")
        return Aggregate(none, none, none, none, 0)
    std = (
        Metric.of(float(values.std(ddof=1)))
        if values.size > 1
        else Metric.undefined(f"only {values.size} fold has a value for {name}")
    )
    return Aggregate(
        Metric.of(float(values.mean())),
        std,
        Metric.of(float(values.min())),
        Metric.of(float(values.max())),
        int(values.size),
    )


# ----------------------------------------------------------------------------- baselines
def buy_and_hold(
    candles: dict[str, pd.DataFrame],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    start_equity: float,
    fee_ratio: float,
) -> tuple[pd.Series, pd.DataFrame]:
    """Equal-weight buy and hold of every pair over ``[start, end)``, unlevered.

    Each pair gets ``start_equity / n_pairs``, buys at the open of its first candle
    paying ``fee_ratio`` on the entry, is marked at every candle close and sells at the
    last close paying ``fee_ratio`` on the exit (charged on the last candle only).
    Returns the equity path (index = candle date, value = equity at that candle's close)
    and one leg per pair in the trades-table layout. Worked example, one pair, 100 USDT,
    fee 0, open 10, closes 11 and 12: path ``[110, 120]``, leg profit 20 (ratio 0.2).
    """
    if not candles:
        raise ValueError("buy_and_hold needs candles of at least one pair")
    budget = start_equity / len(candles)
    values, legs = [], []
    for pair, frame in sorted(candles.items()):
        inside = frame[(frame["date"] >= start) & (frame["date"] < end)].sort_values("date")
        if inside.empty:
            raise ValueError(f"no {pair} candles in [{start}, {end})")
        units = budget * (1.0 - fee_ratio) / float(inside["open"].iloc[0])
        value = units * inside["close"].to_numpy(dtype=np.float64)
        value[-1] *= 1.0 - fee_ratio
        values.append(pd.Series(value, index=pd.DatetimeIndex(inside["date"]), name=pair))
        profit = float(value[-1]) - budget
        legs.append(
            {
                "pair": pair,
                "open_date": inside["date"].iloc[0],
                "close_date": inside["date"].iloc[-1],
                "profit_abs": profit,
                "profit_ratio": profit / budget,
            }
        )
    # A pair missing a candle keeps its last mark; before its first candle it is cash.
    table = pd.concat(values, axis=1).sort_index().ffill().fillna(budget)
    path = table.sum(axis=1).rename("equity")
    return path, pd.DataFrame(legs)


def stressed_trades(
    trades: pd.DataFrame, *, fee_multiplier: float = 2.0, slippage_ratio: float
) -> pd.DataFrame:
    """Trades re-priced with ``fee_multiplier`` x their fees plus slippage on each side.

    freqtrade's profit of a futures trade is
    ``d*amount*(close - open) - fee_open*amount*open - fee_close*amount*close + funding``,
    so the extra cost is::

        (fee_multiplier - 1) * (fee_open * amount * open_rate + fee_close * amount * close_rate)
        + slippage_ratio * amount * (open_rate + close_rate)

    and ``profit_ratio = profit_abs / stake_amount``. An approximation: the same trades at
    the same sizes are kept, although higher costs would shrink later stakes (sizes follow
    the balance) and could move exits triggered on profit (ROI, trailing stops).
    """
    out = trades.copy()
    amount = out["amount"].to_numpy(dtype=np.float64)
    open_notional = amount * out["open_rate"].to_numpy(dtype=np.float64)
    close_notional = amount * out["close_rate"].to_numpy(dtype=np.float64)
    fees = (
        out["fee_open"].to_numpy(dtype=np.float64) * open_notional
        + out["fee_close"].to_numpy(dtype=np.float64) * close_notional
    )
    extra = (fee_multiplier - 1.0) * fees + slippage_ratio * (open_notional + close_notional)
    out["profit_abs"] = out["profit_abs"].to_numpy(dtype=np.float64) - extra
    out["profit_ratio"] = out["profit_abs"] / out["stake_amount"]
    return out
