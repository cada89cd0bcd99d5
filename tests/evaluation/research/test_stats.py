"""Deflated Sharpe ratio against the paper's worked example; parameter stability flags."""

import math

import numpy as np
import pytest

from metalabel.evaluation.research.space import SPACE
from metalabel.evaluation.research.stats import (
    deflated_sharpe_of_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    knob_stability,
    parameter_stability,
)


def test_deflated_sharpe_matches_bailey_lopez_de_prado_numerical_example() -> None:
    # N = 100 trials, V[SR] = 1/2 annualised, 1250 daily returns (250 a year),
    # skewness -3, kurtosis 10, annualised SR 2.5: SR_0 = 0.1132 a day, DSR = 0.9004.
    d = deflated_sharpe_ratio(
        2.5 / math.sqrt(250),
        observations=1250,
        trials=100,
        trial_sharpe_variance=0.5 / 250,
        skewness=-3,
        kurtosis_=10,
    )
    assert d.expected_max_sharpe == pytest.approx(0.1132, abs=5e-5)
    assert d.probability == pytest.approx(0.9004, abs=5e-5)


def test_more_trials_deflate_more_and_one_trial_is_the_probabilistic_sharpe() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert expected_max_sharpe(1000, 0.01) > expected_max_sharpe(10, 0.01) > 0
    one = deflated_sharpe_ratio(0.05, observations=500, trials=1, trial_sharpe_variance=0.01)
    # normal returns, SR_0 = 0: Z(SR sqrt(T-1) / sqrt(1 + SR^2 / 2))
    assert one.probability == pytest.approx(
        0.5 * (1 + math.erf(0.05 * math.sqrt(499) / math.sqrt(1 + 0.05**2 / 2) / math.sqrt(2)))
    )


def test_deflated_sharpe_of_returns_uses_their_moments() -> None:
    r = np.random.default_rng(3).normal(0.001, 0.01, 400)
    d = deflated_sharpe_of_returns(r, trials=50, trial_sharpe_variance=0.002)
    assert d.sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert d.observations == 400 and 2 < d.kurtosis < 4
    with pytest.raises(ValueError, match="non-constant"):
        deflated_sharpe_of_returns([0.0, 0.0, 0.0], trials=5, trial_sharpe_variance=0.1)


@pytest.mark.parametrize(
    ("name", "values", "flagged"),
    [
        ("adx_threshold", [12.0, 30.0, 20.0], True),  # spans 18 of 30: jumps
        ("adx_threshold", [20.0, 24.0, 22.0], False),  # spans 4 of 30
        ("adx_threshold", [10.0], False),  # one fold: nothing to compare
        ("exit_on_reversal", [True, False, False], True),  # minority in 1/3 of folds
        ("exit_on_reversal", [True, True, True, True, False], False),  # 1/5
    ],
)
def test_stability_flags_knobs_that_jump(name: str, values: list, flagged: bool) -> None:
    assert knob_stability(name, SPACE[name], values).flagged is flagged


def test_stability_counts_each_chosen_value() -> None:
    rows = parameter_stability(
        {"trailing_enabled": SPACE["trailing_enabled"]},
        [{"trailing_enabled": True}, {"trailing_enabled": True}, {"trailing_enabled": False}],
    )
    assert rows[0].counts == {"true": 2, "false": 1} and rows[0].values == [True, True, False]
