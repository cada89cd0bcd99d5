"""The skill measures on tiny hand-checkable samples (metalabel.evaluation.skill)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from metalabel.evaluation.bootstrap import Interval
from metalabel.evaluation.metrics import Metric
from metalabel.evaluation.skill import (
    REASON_ONE_CLASS,
    auc,
    brier_score,
    calibration_fit,
    chance_test,
    day_block_bootstrap_auc,
    reliability_bins,
    skill_targets,
    skill_verdict,
)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),  # perfect ranking
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),  # inverted
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),  # all tied: every pair counts 1/2
        # pairs (pos, neg): (0.4,0.1) win, (0.4,0.6) loss, (0.6,0.1) win, (0.6,0.6) tie
        ([0.1, 0.4, 0.6, 0.6], [0, 1, 1, 0], 2.5 / 4),
    ],
)
def test_auc_by_hand(scores: list[float], labels: list[int], expected: float) -> None:
    assert auc(scores, labels).value == pytest.approx(expected)


def test_auc_of_a_random_ranking_is_near_one_half() -> None:
    rng = np.random.default_rng(1)
    value = auc(rng.random(20_000), rng.random(20_000) < 0.4).value
    assert value == pytest.approx(0.5, abs=0.01)


def test_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(2)
    scores, labels = np.round(rng.random(60), 1), rng.random(60) < 0.5  # many ties
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0) + 0.5 * (diff == 0)).mean()
    assert auc(scores, labels).value == pytest.approx(expected)


def test_auc_of_one_class_is_undefined_with_the_reason() -> None:
    assert auc([0.2, 0.7], [1, 1]) == Metric.undefined(REASON_ONE_CLASS)
    interval = day_block_bootstrap_auc([0.2, 0.7], [0, 0], [1, 2], rng=np.random.default_rng(0))
    assert interval.lo is None and interval.reason == REASON_ONE_CLASS


def test_day_bootstrap_interval_holds_the_auc_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(600) < 0.5
    scores = labels * 0.3 + rng.random(600)  # informative: AUC ~ 0.8
    days = np.repeat(np.arange(200), 3)  # three signals a day
    first = day_block_bootstrap_auc(scores, labels, days, rng=np.random.default_rng(7))
    again = day_block_bootstrap_auc(scores, labels, days, rng=np.random.default_rng(7))
    point = auc(scores, labels).value
    assert first == again
    assert first.lo is not None and first.hi is not None and point is not None
    assert 0.5 < first.lo < point < first.hi < 1.0


def test_brier_by_hand() -> None:
    # (1-1)^2 + (0-0)^2 + (0.5-1)^2 = 0.25 over 3
    assert brier_score([1.0, 0.0, 0.5], [1, 0, 1]).value == pytest.approx(0.25 / 3)
    # the base-rate forecast 0.25 on a 1-in-4 sample: p(1-p) = 0.1875
    assert brier_score([0.25] * 4, [1, 0, 0, 0]).value == pytest.approx(0.1875)


def test_calibration_slope_on_a_calibrated_sample() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, 50_000)
    y = rng.random(p.size) < p  # outcomes drawn with the forecast probability
    fit = calibration_fit(p, y)
    assert fit.slope.value == pytest.approx(1.0, abs=0.05)
    assert fit.intercept.value == pytest.approx(0.0, abs=0.05)


def test_calibration_slope_of_an_overconfident_forecast_is_below_one() -> None:
    rng = np.random.default_rng(5)
    true = rng.uniform(0.2, 0.8, 50_000)
    y = rng.random(true.size) < true
    logit = np.log(true / (1 - true))
    overconfident = 1 / (1 + np.exp(-2 * logit))  # twice the log-odds: slope 1/2
    assert calibration_fit(overconfident, y).slope.value == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("p", "y", "reason"),
    [
        ([0.5, 0.5, 0.5], [0, 1, 0], "constant"),  # a neutral model's forecast
        ([0.2, 0.3, 0.7, 0.8], [0, 0, 1, 1], "does not converge"),  # perfect separation
        ([0.2, 0.3], [1, 1], "one class"),
    ],
)
def test_calibration_fit_undefined_cases(p: list[float], y: list[int], reason: str) -> None:
    fit = calibration_fit(p, y)
    assert fit.slope.value is None and reason in (fit.slope.reason or "")


def test_reliability_bins_by_hand() -> None:
    bins = reliability_bins([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 0], bins=2)
    assert [(b.lo, b.hi, b.signals) for b in bins] == [(0.0, 0.5, 2), (0.5, 1.0, 2)]
    assert bins[0].mean_probability.value == pytest.approx(0.1)
    assert bins[0].observed_rate.value == pytest.approx(0.5)
    assert bins[1].mean_probability.value == pytest.approx(0.975)  # 1.0 is in the last bin
    empty = reliability_bins([0.1], [1], bins=2)[1]
    assert empty.signals == 0 and empty.observed_rate.value is None


def test_chance_test_finds_a_planted_winner() -> None:
    rng = np.random.default_rng(6)
    pool = rng.normal(0.0, 0.01, 2000)
    planted = np.sort(pool)[-50:]  # the 50 best signals: no random 50 does as well
    result = chance_test(planted, pool, rng=np.random.default_rng(0), resamples=10_000)
    assert result.p_mean_net_return.value == pytest.approx(1 / 10_001)
    assert result.p_win_rate.value is not None and result.p_win_rate.value < 0.01
    assert result.win_rate.value == 1.0
    assert result.random_mean_net_return.value == pytest.approx(pool.mean(), abs=5e-4)


def test_chance_test_p_values_of_random_filters_are_uniform() -> None:
    # A filter without skill: p < 0.05 in about 5 % of the cases, not more.
    rng = np.random.default_rng(8)
    pool = rng.normal(0.0, 0.01, 500)
    p_values = np.array(
        [
            chance_test(
                pool[rng.choice(pool.size, 40, replace=False)], pool, rng=rng, resamples=500
            ).p_mean_net_return.value
            for _ in range(300)
        ],
        dtype=np.float64,
    )
    assert 0.01 < (p_values < 0.05).mean() < 0.10
    assert 0.4 < np.median(p_values) < 0.6


def test_chance_test_is_seeded() -> None:
    pool = np.random.default_rng(10).normal(0.0, 0.01, 300)
    first = chance_test(pool[:30], pool, rng=np.random.default_rng(0), resamples=2000)
    assert first == chance_test(pool[:30], pool, rng=np.random.default_rng(0), resamples=2000)


def test_chance_test_selecting_everything_has_p_one() -> None:
    pool = np.array([0.01, -0.02, 0.03])
    result = chance_test(pool, pool, rng=np.random.default_rng(0), resamples=100)
    assert result.p_mean_net_return.value == 1.0 and result.p_win_rate.value == 1.0


def test_chance_test_refuses_what_it_cannot_test() -> None:
    empty = chance_test([], [0.1, 0.2], rng=np.random.default_rng(0))
    assert empty.p_mean_net_return.value is None
    assert empty.p_mean_net_return.reason == "the filter selected nothing"
    larger = chance_test([0.1, 0.2, 0.3], [0.1], rng=np.random.default_rng(0))
    assert "larger than the pool" in (larger.p_win_rate.reason or "")
    with pytest.raises(ValueError, match="NaN"):
        chance_test([np.nan], [0.1], rng=np.random.default_rng(0))


def test_ten_thousand_resamples_take_seconds() -> None:
    rng = np.random.default_rng(9)
    pool = rng.normal(0.0, 0.01, 5000)
    began = time.perf_counter()
    chance_test(pool[:300], pool, rng=rng, resamples=10_000)
    assert time.perf_counter() - began < 10.0


@pytest.mark.parametrize(
    ("interval", "p", "beats", "words"),
    [
        (Interval(0.52, 0.60), Metric.of(0.004), True, "beats chance"),
        (Interval(0.48, 0.55), Metric.of(0.004), False, "AUC interval not above 0.5"),
        (Interval(0.52, 0.60), Metric.of(0.02), False, "chance-test p >= 0.01"),
        (Interval(0.48, 0.55), Metric.of(0.31), False, "no evidence of skill"),
        (Interval.undefined("x"), Metric.of(0.001), None, "not measurable"),
    ],
)
def test_verdict_follows_the_figures(
    interval: Interval, p: Metric, beats: bool | None, words: str
) -> None:
    verdict, text = skill_verdict(interval, p)
    assert verdict is beats
    assert words in text


def test_targets_name_each_figure_and_whether_it_is_met() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.3, 0.8, 2000)
    y = (rng.uniform(size=2000) < p).astype(float)  # calibrated: rates rise with p
    targets = skill_targets(
        Metric.of(0.6), Interval(0.56, 0.64), Metric.of(0.004), Metric.of(0.24),
        Metric.of(0.25), reliability_bins(p, y),
    )  # fmt: skip
    assert [t.name for t in targets] == [
        "auc", "auc_ci95_low", "chance_p_mean_net_return", "brier_minus_base_rate",
        "rising_bins",
    ]  # fmt: skip
    assert [t.met for t in targets] == [True, True, True, True, True]
    assert targets[3].value == pytest.approx(-0.01) and targets[4].value == 5.0
    # a falling bin, a weak AUC, a missing p-value
    inverted = reliability_bins(p, 1.0 - y)
    missed = skill_targets(
        Metric.of(0.51), Interval(0.48, 0.54), Metric.undefined("no trades"),
        Metric.of(0.26), Metric.of(0.25), inverted,
    )  # fmt: skip
    assert [t.met for t in missed] == [False, False, None, False, False]
