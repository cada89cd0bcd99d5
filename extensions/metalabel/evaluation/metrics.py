"""Performance of a backtest: daily equity curve, walk-forward folds and their metrics.

Pure functions over numpy/pandas. freqtrade's own ``calculate_max_drawdown`` gives the
closed-trade drawdown; what freqtrade lacks, or defines differently, is written here:

* Sharpe and Sortino from the DAILY returns of the equity curve, with ``ddof=1`` and no
  value (instead of freqtrade's ``-100`` sentinel) when the ratio is undefined;
* profit factor without a value when there is no losing trade (freqtrade reports 0.0);
* exposure, a drawdown kernel that runs over many curves at once (Monte Carlo), the
  buy-and-hold baseline, the doubled-cost stress and the metrics of each walk-forward
  fold (:mod:`metalabel.evaluation.folds`).

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

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metalabel.evaluation.folds import Fold
from metalabel.evaluation.metrics_ratios import (
    ANNUALISATION_DAYS,
    ONE_DAY,
    REASON_CONSTANT,
    REASON_NO_TRADES,
    FloatArray,
    Metric,
    average_win_loss,
    closed_trade_equity,
    daily_equity,
    daily_returns,
    downside_deviation,
    exposure_ratio,
    max_drawdown_ratio,
    period_days,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    trades_max_drawdown,
    utc_ns,
    win_rate,
)

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
            start=fold.test_start,
            end=fold.test_end,
            start_equity=equity_at(path, fold.test_start, start_equity),
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


__all__ = [
    "ANNUALISATION_DAYS",
    "METRIC_NAMES",
    "ONE_DAY",
    "REASON_CONSTANT",
    "REASON_NO_TRADES",
    "Aggregate",
    "FloatArray",
    "Metric",
    "PeriodMetrics",
    "aggregate_folds",
    "average_win_loss",
    "buy_and_hold",
    "closed_in",
    "closed_trade_equity",
    "daily_equity",
    "daily_returns",
    "downside_deviation",
    "equity_at",
    "exposure_ratio",
    "mark_to_market_metrics",
    "max_drawdown_ratio",
    "period_days",
    "profit_factor",
    "sharpe_ratio",
    "sortino_ratio",
    "stressed_trades",
    "trade_fold_metrics",
    "trade_metrics",
    "trades_max_drawdown",
    "utc_ns",
    "win_rate",
]
