"""Block bootstrap and trade-order Monte Carlo: determinism, hand cases and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metalabel.evaluation import bootstrap
from metalabel.evaluation.bootstrap import Interval


def mean_rows(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1)


def test_circular_blocks_are_runs_of_consecutive_days_wrapping_at_the_end() -> None:
    rng = np.random.default_rng(0)
    idx = bootstrap.circular_block_indices(10, block_length=4, resamples=50, rng=rng)
    assert idx.shape == (50, 10)
    assert idx.min() >= 0 and idx.max() <= 9
    # inside each block of 4 the next day is the previous one + 1, modulo 10
    for start in (0, 4, 8):
        block = idx[:, start : start + 4]
        assert np.all((np.diff(block, axis=1) % 10) == 1)


def test_block_longer_than_the_series_is_cut_to_it() -> None:
    idx = bootstrap.circular_block_indices(
        3, block_length=7, resamples=5, rng=np.random.default_rng(1)
    )
    assert idx.shape == (5, 3)
    assert np.all((np.diff(idx, axis=1) % 3) == 1)


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    returns = np.random.default_rng(7).normal(0.001, 0.02, 90)

    def ci(seed: int) -> Interval:
        return bootstrap.block_bootstrap_ci(
            returns, bootstrap.sharpe_rows, rng=np.random.default_rng(seed), resamples=300
        )

    assert ci(42) == ci(42)
    assert ci(42) != ci(43)
    drawdowns = [
        bootstrap.trade_order_drawdowns(
            returns * 1000, start_equity=10_000.0, rng=np.random.default_rng(5), resamples=50
        )
        for _ in range(2)
    ]
    assert np.array_equal(drawdowns[0], drawdowns[1])


def test_interval_of_the_mean_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    """60 synthetic AR(1) series with a known mean; each gets its own bootstrap interval.

    Positive autocorrelation is what the blocks are for: an iid bootstrap would be too
    narrow here. Coverage 0.95 +- the sampling error of 60 draws (sd ~0.03) and the
    percentile interval's small-sample shortfall -> accept [0.83, 1].
    """
    rng = np.random.default_rng(2024)
    true_mean, phi, n, repetitions = 0.001, 0.3, 180, 60
    hits = 0
    for _ in range(repetitions):
        noise = rng.normal(0.0, 0.01, n)
        series = np.empty(n)
        series[0] = noise[0]
        for t in range(1, n):
            series[t] = phi * series[t - 1] + noise[t]
        interval = bootstrap.block_bootstrap_ci(
            true_mean + series, mean_rows, rng=rng, resamples=400, block_length=7
        )
        assert interval.lo is not None and interval.hi is not None
        hits += interval.lo <= true_mean <= interval.hi
    assert 0.83 <= hits / repetitions <= 1.0


def test_sharpe_interval_covers_the_true_sharpe() -> None:
    rng = np.random.default_rng(11)
    mean, sd, n, repetitions = 0.002, 0.02, 250, 40
    true_sharpe = math.sqrt(365) * mean / sd
    hits = 0
    for _ in range(repetitions):
        interval = bootstrap.block_bootstrap_ci(
            rng.normal(mean, sd, n), bootstrap.sharpe_rows, rng=rng, resamples=400
        )
        assert interval.lo is not None and interval.hi is not None
        hits += interval.lo <= true_sharpe <= interval.hi
    assert hits / repetitions >= 0.8


def test_constant_returns_have_no_sharpe_interval_but_a_zero_return_interval() -> None:
    rng = np.random.default_rng(0)
    flat = np.zeros(30)
    sharpe = bootstrap.block_bootstrap_ci(flat, bootstrap.sharpe_rows, rng=rng, resamples=100)
    assert sharpe.lo is None and "undefined on 100%" in (sharpe.reason or "")
    total = bootstrap.block_bootstrap_ci(flat, bootstrap.total_return_rows, rng=rng, resamples=100)
    assert (total.lo, total.hi) == (0.0, 0.0)


def test_too_short_series_has_no_interval() -> None:
    interval = bootstrap.block_bootstrap_ci(
        [0.01], mean_rows, rng=np.random.default_rng(0), resamples=10
    )
    assert interval.lo is None and "fewer than 2" in (interval.reason or "")


def test_total_return_rows_compound() -> None:
    assert bootstrap.total_return_rows(np.array([[0.1, 0.1], [0.0, -0.5]])).tolist() == (
        pytest.approx([0.21, -0.5])
    )


def test_paired_bootstrap_of_a_series_with_itself_is_exactly_zero() -> None:
    returns = np.random.default_rng(3).normal(0.001, 0.02, 60)
    interval = bootstrap.paired_block_bootstrap_ci(
        returns, returns, bootstrap.sharpe_rows, rng=np.random.default_rng(0), resamples=200
    )
    assert (interval.lo, interval.hi) == (0.0, 0.0)


def test_paired_interval_is_narrower_than_unpaired_for_correlated_series() -> None:
    """Two strategies on the same market share most of their daily moves."""
    rng = np.random.default_rng(9)
    market = rng.normal(0.0, 0.02, 120)
    a = market + rng.normal(0.001, 0.002, 120)
    b = market + rng.normal(0.0, 0.002, 120)
    paired = bootstrap.paired_block_bootstrap_ci(
        a, b, mean_rows, rng=np.random.default_rng(1), resamples=500
    )
    separate = [
        bootstrap.block_bootstrap_ci(x, mean_rows, rng=np.random.default_rng(s), resamples=500)
        for s, x in ((2, a), (3, b))
    ]
    assert paired.lo is not None and paired.hi is not None
    width_separate = sum(i.hi - i.lo for i in separate if i.hi is not None and i.lo is not None)
    assert paired.hi - paired.lo < width_separate / 4


def test_paired_series_must_cover_the_same_days() -> None:
    with pytest.raises(ValueError, match="same days"):
        bootstrap.paired_block_bootstrap_ci(
            [0.1, 0.2], [0.1], mean_rows, rng=np.random.default_rng(0)
        )


def test_trade_order_drawdowns_of_two_trades() -> None:
    # start 100: +10 then -10 falls 10/110; -10 then +10 falls 10/100
    drawdowns = bootstrap.trade_order_drawdowns(
        [10.0, -10.0], start_equity=100.0, rng=np.random.default_rng(0), resamples=200
    )
    assert set(np.round(drawdowns, 6)) == {round(10 / 110, 6), 0.1}
    p95 = bootstrap.drawdown_percentile(
        [10.0, -10.0], start_equity=100.0, rng=np.random.default_rng(0), resamples=200
    )
    assert p95.value == pytest.approx(0.1)


def test_trade_order_drawdowns_edge_cases() -> None:
    rng = np.random.default_rng(0)
    winners = bootstrap.trade_order_drawdowns([1.0, 2.0, 3.0], start_equity=10.0, rng=rng)
    assert np.all(winners == 0.0)
    one = bootstrap.trade_order_drawdowns([-5.0], start_equity=10.0, rng=rng, resamples=7)
    assert one.tolist() == [0.5] * 7
    none = bootstrap.drawdown_percentile([], start_equity=10.0, rng=rng)
    assert none.value is None and "no trades" in (none.reason or "")


def test_trade_order_drawdowns_in_chunks_match_the_resample_count() -> None:
    profits = np.random.default_rng(4).normal(0.0, 10.0, 30)
    drawdowns = bootstrap.trade_order_drawdowns(
        profits, start_equity=1000.0, rng=np.random.default_rng(0), resamples=1234
    )
    assert drawdowns.shape == (1234,)
    assert np.all((drawdowns >= 0) & (drawdowns < 1))
