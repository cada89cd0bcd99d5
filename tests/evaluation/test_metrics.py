"""Performance metrics on tiny hand-computed equity curves and trade lists."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.metrics import calculate_max_drawdown

from metalabel.evaluation import metrics
from metalabel.evaluation.folds import walk_forward_folds
from metalabel.evaluation.metrics import Metric

SQRT365 = math.sqrt(365)
T0 = pd.Timestamp("2025-01-01", tz="UTC")


def at(day: float, hour: float = 12.0) -> pd.Timestamp:
    """A moment ``day`` days and ``hour`` hours after 2025-01-01 00:00 UTC."""
    return T0 + pd.Timedelta(days=day, hours=hour)


def trades_frame(
    rows: list[tuple[float, float, float, float]], stake: float = 100.0
) -> pd.DataFrame:
    """Trades from ``(open_day, close_day, profit_abs, profit_ratio)`` rows (at noon UTC)."""
    return pd.DataFrame(
        {
            "pair": ["BTC/USDT:USDT"] * len(rows),
            "open_date": pd.to_datetime([at(r[0]) for r in rows], utc=True),
            "close_date": pd.to_datetime([at(r[1]) for r in rows], utc=True),
            "profit_abs": [r[2] for r in rows],
            "profit_ratio": [r[3] for r in rows],
            "stake_amount": [stake] * len(rows),
        }
    )


# ----------------------------------------------------------------------------- ratios
def test_sharpe_is_annualised_mean_over_sample_std() -> None:
    # mean 0.01; deviations .01, -.01, -.02, .02 -> variance 0.001 / 3 (ddof=1)
    result = metrics.sharpe_ratio([0.02, 0.0, -0.01, 0.03])
    assert result.value == pytest.approx(SQRT365 * 0.01 / math.sqrt(0.001 / 3))
    assert result.reason is None


def test_sortino_divides_by_downside_deviation_over_n_minus_1() -> None:
    # one losing day of -0.01: DD = sqrt(0.0001 / 3)
    result = metrics.sortino_ratio([0.02, 0.0, -0.01, 0.03])
    assert result.value == pytest.approx(SQRT365 * 0.01 / math.sqrt(0.0001 / 3))


@pytest.mark.parametrize(
    ("returns", "reason"),
    [
        ([0.0, 0.0, 0.0], "constant"),  # flat equity (no trades)
        ([0.01] * 5, "constant"),  # the same gain every day: zero spread, not infinite
        ([0.01], "fewer than 2"),  # one day
        ([], "fewer than 2"),  # no day
    ],
)
def test_sharpe_is_undefined_not_infinite(returns: list[float], reason: str) -> None:
    result = metrics.sharpe_ratio(returns)
    assert result.value is None
    assert reason in (result.reason or "")


def test_sortino_is_undefined_without_a_losing_day() -> None:
    result = metrics.sortino_ratio([0.01, 0.0, 0.02])
    assert result.value is None
    assert "no losing day" in (result.reason or "")


@pytest.mark.parametrize(
    ("profits", "expected", "reason"),
    [
        ([3.0, -1.0, -2.0], 1.0, None),  # 3 / 3
        ([4.0, 2.0, -3.0], 2.0, None),  # 6 / 3
        ([-1.0, -2.0], 0.0, None),  # all losers: nothing won
        ([1.0, 2.0], None, "no losing trade"),  # all winners: unbounded
        ([0.0, 0.0], None, "no losing trade"),  # break-even trades neither win nor lose
        ([], None, "no trades"),
    ],
)
def test_profit_factor(profits: list[float], expected: float | None, reason: str | None) -> None:
    result = metrics.profit_factor(profits)
    assert result.value == (pytest.approx(expected) if expected is not None else None)
    if reason:
        assert reason in (result.reason or "")


@pytest.mark.parametrize(
    ("profits", "expected"),
    [
        ([1.0, -1.0, 0.0, 2.0], 0.5),  # the 0.0 trade is not a win
        ([1.0, 2.0], 1.0),  # all winners
        ([-1.0], 0.0),  # all losers
        ([], None),  # no trades
    ],
)
def test_win_rate(profits: list[float], expected: float | None) -> None:
    assert metrics.win_rate(profits).value == expected


def test_average_win_and_loss() -> None:
    win, loss, ratio = metrics.average_win_loss([0.02, -0.01, 0.04, -0.03])
    assert win.value == pytest.approx(0.03)
    assert loss.value == pytest.approx(-0.02)
    assert ratio.value == pytest.approx(1.5)


def test_average_win_and_loss_without_losers_or_trades() -> None:
    win, loss, ratio = metrics.average_win_loss([0.02, 0.04])
    assert win.value == pytest.approx(0.03)
    assert loss.value is None and ratio.value is None
    assert all(m.reason == metrics.REASON_NO_TRADES for m in metrics.average_win_loss([]))


def test_metric_of_non_finite_is_undefined() -> None:
    assert Metric.of(float("inf")).value is None
    assert Metric.of(float("nan")).reason is not None


# ----------------------------------------------------------------------------- drawdown
def test_max_drawdown_ratio_from_running_peak() -> None:
    # peaks 100, 120, 120, 130, 130: falls 30/120 = 0.25 and 65/130 = 0.5
    assert float(metrics.max_drawdown_ratio([100.0, 120.0, 90.0, 130.0, 65.0])) == 0.5
    assert float(metrics.max_drawdown_ratio([100.0, 110.0, 120.0])) == 0.0  # never falls
    rows = metrics.max_drawdown_ratio([[100.0, 80.0], [100.0, 150.0]])
    assert rows.tolist() == [pytest.approx(0.2), 0.0]


def test_max_drawdown_ratio_counts_a_loss_from_the_start() -> None:
    assert float(metrics.max_drawdown_ratio([100.0, 90.0, 95.0])) == pytest.approx(0.1)


def test_trades_max_drawdown_is_freqtrades_relative_drawdown() -> None:
    # equity 100 -> 120 -> 90 -> 130 -> 45: (130 - 45) / 130
    trades = trades_frame([(0, 1, 20.0, 0.2), (1, 2, -30.0, -0.3), (2, 3, 40.0, 0.4),
                           (3, 4, -85.0, -0.85)])  # fmt: skip
    assert metrics.trades_max_drawdown(trades, 100.0).value == pytest.approx(85 / 130)
    assert metrics.trades_max_drawdown(trades.iloc[:0], 100.0).value == 0.0


def test_drawdown_kernel_agrees_with_freqtrade_on_random_trades() -> None:
    rng = np.random.default_rng(3)
    profits = rng.normal(0.0, 50.0, 40)
    trades = trades_frame([(i, i + 0.5, p, p / 100) for i, p in enumerate(profits)])
    expected = calculate_max_drawdown(
        trades, value_col="profit_abs", starting_balance=1000.0, relative=True
    ).relative_account_drawdown
    curve = np.concatenate(([1000.0], 1000.0 + profits.cumsum()))
    assert float(metrics.max_drawdown_ratio(curve)) == pytest.approx(expected)


# ----------------------------------------------------------------------------- equity
def test_daily_equity_and_returns() -> None:
    # start 100; day 1: +10 and -5; day 3: +20; days 0, 2, 4 without trades
    trades = trades_frame([(0, 1, 10.0, 0.1), (0, 1.1, -5.0, -0.05), (2, 3, 20.0, 0.2)])
    path = metrics.closed_trade_equity(trades, 100.0)
    equity = metrics.daily_equity(path, start=T0, end=T0 + pd.Timedelta(days=5), start_equity=100.0)
    assert equity.tolist() == [100.0, 105.0, 105.0, 125.0, 125.0]
    assert equity.index[0] == T0 and len(equity) == 5
    returns = metrics.daily_returns(equity, 100.0)
    assert returns.tolist() == pytest.approx([0.0, 0.05, 0.0, 20 / 105, 0.0])


def test_daily_equity_without_events_is_flat() -> None:
    empty = pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    equity = metrics.daily_equity(empty, start=T0, end=T0 + pd.Timedelta(days=3), start_equity=50.0)
    assert equity.tolist() == [50.0, 50.0, 50.0]


def test_exposure_counts_overlaps_once_and_clips_to_the_period() -> None:
    # the docstring's example: 01-03 and 02-05 overlap, 09-12 is clipped at 10 -> 5 of 10 h
    hour = pd.Timedelta(hours=1)
    opens = pd.Series([T0 + 1 * hour, T0 + 2 * hour, T0 + 9 * hour])
    closes = pd.Series([T0 + 3 * hour, T0 + 5 * hour, T0 + 12 * hour])
    assert metrics.exposure_ratio(opens, closes, T0, T0 + 10 * hour) == pytest.approx(0.5)
    assert metrics.exposure_ratio(opens[:0], closes[:0], T0, T0 + 10 * hour) == 0.0


def test_trade_metrics_with_zero_trades_is_flat_and_says_why() -> None:
    result = metrics.trade_metrics(
        trades_frame([]), start=T0, end=T0 + pd.Timedelta(days=30), start_equity=1000.0
    )
    assert result.trades == 0
    assert result.total_return.value == 0.0
    assert result.max_drawdown.value == 0.0
    assert result.exposure.value == 0.0
    assert result.sharpe.value is None and result.sharpe.reason == metrics.REASON_CONSTANT
    assert result.profit_factor.reason == metrics.REASON_NO_TRADES
    assert result.win_rate.reason == metrics.REASON_NO_TRADES


def test_trade_metrics_all_winners() -> None:
    # 1000 -> 1010 (day 1) -> 1030 (day 3), 5 days
    trades = trades_frame([(0, 1, 10.0, 0.1), (2, 3, 20.0, 0.2)])
    result = metrics.trade_metrics(
        trades, start=T0, end=T0 + pd.Timedelta(days=5), start_equity=1000.0
    )
    assert result.trades == 2
    assert result.win_rate.value == 1.0
    assert result.profit_factor.value is None
    assert result.sortino.value is None
    assert result.max_drawdown.value == 0.0
    assert result.total_return.value == pytest.approx(0.03)
    returns = [0.0, 0.01, 0.0, 20 / 1010, 0.0]
    assert result.sharpe.value == pytest.approx(
        SQRT365 * np.mean(returns) / np.std(returns, ddof=1)
    )
    # open 12:00 day 0 -> 12:00 day 1, and 12:00 day 2 -> 12:00 day 3: 48 of 120 hours
    assert result.exposure.value == pytest.approx(48 / 120)


def test_trade_metrics_all_losers() -> None:
    trades = trades_frame([(0, 1, -10.0, -0.1), (2, 3, -20.0, -0.2)])
    result = metrics.trade_metrics(
        trades, start=T0, end=T0 + pd.Timedelta(days=5), start_equity=1000.0
    )
    assert result.win_rate.value == 0.0
    assert result.profit_factor.value == 0.0
    assert result.avg_win.value is None
    assert result.avg_loss.value == pytest.approx(-0.15)
    assert result.total_return.value == pytest.approx(-0.03)
    assert result.max_drawdown.value == pytest.approx(0.03)
    assert result.sharpe.value is not None and result.sharpe.value < 0


def test_fold_metrics_start_from_the_equity_left_by_earlier_folds() -> None:
    # fold 0 (days 0-1): +100 on 1000; fold 1 (days 2-3): -110 on 1100 -> -10 %
    trades = trades_frame([(0, 1, 100.0, 0.5), (2, 3, -110.0, -0.5)])
    folds = walk_forward_folds(T0, T0 + pd.Timedelta(days=4), test_days=2, partial_last=True)
    first, second = metrics.trade_fold_metrics(trades, folds, 1000.0)
    assert (first.trades, second.trades) == (1, 1)
    assert first.total_return.value == pytest.approx(0.1)
    assert second.start_equity == pytest.approx(1100.0)
    assert second.total_return.value == pytest.approx(-0.1)
    assert second.max_drawdown.value == pytest.approx(0.1)


def test_fold_with_zero_trades_between_trading_folds() -> None:
    trades = trades_frame([(0, 1, 100.0, 0.5), (4, 5, -50.0, -0.25)])
    folds = walk_forward_folds(T0, T0 + pd.Timedelta(days=6), test_days=2, partial_last=True)
    middle = metrics.trade_fold_metrics(trades, folds, 1000.0)[1]
    assert middle.trades == 0
    assert middle.start_equity == pytest.approx(1100.0)
    assert middle.total_return.value == 0.0
    assert middle.sharpe.value is None


def test_aggregate_over_folds_skips_undefined_values() -> None:
    trades = trades_frame([(0, 1, 100.0, 0.5), (4, 5, -50.0, -0.25)])
    folds = walk_forward_folds(T0, T0 + pd.Timedelta(days=6), test_days=2, partial_last=True)
    per_fold = metrics.trade_fold_metrics(trades, folds, 1000.0)
    returns = metrics.aggregate_folds(per_fold, "total_return")
    expected = [0.1, 0.0, -50 / 1100]
    assert returns.folds == 3
    assert returns.mean.value == pytest.approx(np.mean(expected))
    assert returns.std.value == pytest.approx(np.std(expected, ddof=1))
    assert (returns.min.value, returns.max.value) == pytest.approx((-50 / 1100, 0.1))
    win = metrics.aggregate_folds(per_fold, "win_rate")  # the empty fold has none
    assert (win.folds, win.mean.value) == (2, 0.5)
    factor = metrics.aggregate_folds(per_fold, "profit_factor")  # fold 0 has no loser
    assert factor.folds == 1 and factor.std.value is None
    assert metrics.aggregate_folds(per_fold, "trades").mean.value == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- baselines
def candles(opens: list[float], closes: list[float]) -> pd.DataFrame:
    dates = pd.date_range(T0, periods=len(closes), freq="1h")
    return pd.DataFrame({"date": dates, "open": opens, "close": closes})


def test_buy_and_hold_without_fee() -> None:
    path, legs = metrics.buy_and_hold(
        {"A": candles([10.0, 11.0], [11.0, 12.0])},
        start=T0,
        end=T0 + pd.Timedelta(hours=2),
        start_equity=100.0,
        fee_ratio=0.0,
    )
    assert path.tolist() == pytest.approx([110.0, 120.0])
    assert legs["profit_abs"].tolist() == pytest.approx([20.0])
    assert legs["profit_ratio"].tolist() == pytest.approx([0.2])


def test_buy_and_hold_pays_one_entry_and_one_exit_fee_per_pair() -> None:
    # 50 per pair; A: 50 * 0.99 / 10 = 4.95 units; B: 50 * 0.99 / 100 = 0.495 units
    path, legs = metrics.buy_and_hold(
        {"A": candles([10.0, 11.0], [11.0, 12.0]), "B": candles([100.0, 90.0], [90.0, 80.0])},
        start=T0,
        end=T0 + pd.Timedelta(hours=2),
        start_equity=100.0,
        fee_ratio=0.01,
    )
    assert path.iloc[0] == pytest.approx(4.95 * 11 + 0.495 * 90)
    assert path.iloc[-1] == pytest.approx((4.95 * 12 + 0.495 * 80) * 0.99)
    assert legs["profit_abs"].sum() == pytest.approx(path.iloc[-1] - 100.0)
    result = metrics.mark_to_market_metrics(
        path, legs, start=T0, end=T0 + pd.Timedelta(hours=2), start_equity=100.0
    )
    assert result.total_return.value == pytest.approx(path.iloc[-1] / 100 - 1)
    assert result.exposure.value == 1.0


def test_stressed_trades_double_the_fees_and_add_slippage_on_both_sides() -> None:
    trade = pd.DataFrame(
        {
            "amount": [1.0],
            "open_rate": [100.0],
            "close_rate": [110.0],
            "fee_open": [0.001],
            "fee_close": [0.001],
            "stake_amount": [50.0],
            "profit_abs": [10.0 - 0.1 - 0.11],  # long, fees on 100 and 110 notional
            "profit_ratio": [9.79 / 50.0],
        }
    )
    stressed = metrics.stressed_trades(trade, fee_multiplier=2.0, slippage_ratio=0.0002)
    # extra: fees again (0.21) + 0.0002 * (100 + 110) slippage = 0.252
    assert stressed["profit_abs"].iloc[0] == pytest.approx(9.79 - 0.252)
    assert stressed["profit_ratio"].iloc[0] == pytest.approx((9.79 - 0.252) / 50.0)
    assert trade["profit_abs"].iloc[0] == pytest.approx(9.79)  # input untouched
