"""Statistics of a nested research run: the deflated Sharpe ratio and parameter stability.

Pure functions over numbers, so each is checked against a worked example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import kurtosis, norm, skew

from metalabel.evaluation.research.space import Knob

EULER_GAMMA = 0.5772156649015329
# A numeric knob whose chosen values spread over more than this share of its bounds
# across folds is flagged as unstable; an on/off knob whose minority value is chosen in
# at least this share of folds (minus one fold's worth of slack) likewise.
JUMP_RANGE_SHARE = 0.5
FLIP_SHARE = 1 / 3


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio and what went into it (Sharpe ratios per period)."""

    probability: float  # P(true Sharpe > expected maximum of ``trials`` null trials)
    sharpe: float  # observed, per period (not annualised)
    expected_max_sharpe: float  # SR_0, per period
    trials: int
    observations: int
    skewness: float
    kurtosis: float  # not excess: 3 for normal returns


def expected_max_sharpe(trials: int, trial_sharpe_variance: float) -> float:
    """SR_0: the expected maximum Sharpe of ``trials`` independent trials whose true
    Sharpe is zero and whose estimates vary with ``trial_sharpe_variance`` (False
    Strategy Theorem, Bailey & López de Prado 2014, eq. 2 of "The Deflated Sharpe Ratio")::

        SR_0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))

    One trial has no selection to correct for: SR_0 = 0.
    """
    if trials < 1 or trial_sharpe_variance < 0:
        raise ValueError(
            f"need trials >= 1 and variance >= 0, got {trials}, {trial_sharpe_variance}"
        )
    if trials == 1:
        return 0.0
    g = EULER_GAMMA
    return math.sqrt(trial_sharpe_variance) * (
        (1 - g) * float(norm.ppf(1 - 1 / trials)) + g * float(norm.ppf(1 - 1 / (trials * math.e)))
    )


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    observations: int,
    trials: int,
    trial_sharpe_variance: float,
    skewness: float = 0.0,
    kurtosis_: float = 3.0,
) -> DeflatedSharpe:
    """Probability that the true Sharpe exceeds SR_0 (Bailey & López de Prado 2014)::

        DSR = Z( (SR - SR_0) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )

    All Sharpe ratios per observation period (not annualised), ``T`` observations of
    skewness ``g3`` and (non-excess) kurtosis ``g4``. The paper's numerical example:
    N = 100 trials, V = 1/2 annualised (250 days a year), T = 1250 days, skew -3,
    kurtosis 10, annualised Sharpe 2.5 gives SR_0 = 0.1132 per day and DSR = 0.9004.

    >>> d = deflated_sharpe_ratio(2.5 / math.sqrt(250), observations=1250, trials=100,
    ...     trial_sharpe_variance=0.5 / 250, skewness=-3, kurtosis_=10)
    >>> round(d.expected_max_sharpe, 4), round(d.probability, 4)
    (0.1132, 0.9004)
    """
    if observations < 2:
        raise ValueError(f"need at least 2 observations, got {observations}")
    sr0 = expected_max_sharpe(trials, trial_sharpe_variance)
    spread = 1 - skewness * sharpe + (kurtosis_ - 1) / 4 * sharpe**2
    if spread <= 0:
        raise ValueError(f"the Sharpe ratio's variance is not positive ({spread})")
    z = (sharpe - sr0) * math.sqrt(observations - 1) / math.sqrt(spread)
    return DeflatedSharpe(
        probability=float(norm.cdf(z)),
        sharpe=sharpe,
        expected_max_sharpe=sr0,
        trials=trials,
        observations=observations,
        skewness=skewness,
        kurtosis=kurtosis_,
    )


def deflated_sharpe_of_returns(
    daily_returns: npt.ArrayLike, *, trials: int, trial_sharpe_variance: float
) -> DeflatedSharpe:
    """:func:`deflated_sharpe_ratio` of a daily return series (its own moments)."""
    r = np.asarray(daily_returns, dtype=np.float64).ravel()
    if r.size < 2 or float(np.ptp(r)) == 0.0:
        raise ValueError("the deflated Sharpe ratio needs at least 2 non-constant returns")
    sharpe = float(r.mean() / r.std(ddof=1))
    return deflated_sharpe_ratio(
        sharpe,
        observations=int(r.size),
        trials=trials,
        trial_sharpe_variance=trial_sharpe_variance,
        skewness=float(skew(r)),
        kurtosis_=float(kurtosis(r, fisher=False)),
    )


@dataclass(frozen=True)
class KnobStability:
    """One knob's chosen values across folds and whether they jump."""

    name: str
    values: list[Any]  # one per fold, in fold order
    counts: dict[str, int]  # how often each value was chosen
    range_share: float | None  # (max - min) / (high - low); None for on/off knobs
    coefficient_of_variation: float | None
    flagged: bool


def knob_stability(name: str, knob: Knob, values: Sequence[Any]) -> KnobStability:
    """Flag a knob whose choice jumps across folds.

    Numeric: flagged when the chosen values span more than :data:`JUMP_RANGE_SHARE` of
    the knob's bounds. On/off: flagged when the less chosen value takes at least
    :data:`FLIP_SHARE` of the folds. Fewer than two folds: never flagged.

    >>> from metalabel.evaluation.research.space import SPACE
    >>> knob_stability("adx_threshold", SPACE["adx_threshold"], [12.0, 30.0, 20.0]).flagged
    True
    >>> knob_stability("adx_threshold", SPACE["adx_threshold"], [20.0, 24.0, 22.0]).flagged
    False
    >>> knob_stability("exit_on_reversal", SPACE["exit_on_reversal"], [1, 0, 0]).flagged
    True
    """
    vals = list(values)
    counts: dict[str, int] = {}
    for v in vals:
        counts[json_key(v)] = counts.get(json_key(v), 0) + 1
    if knob.kind == "bool":
        minority = min(counts.values()) if len(counts) > 1 else 0
        flagged = len(vals) >= 2 and minority / len(vals) >= FLIP_SHARE
        return KnobStability(name, vals, counts, None, None, flagged)
    numbers = np.asarray(vals, dtype=np.float64)
    share = float(np.ptp(numbers) / (knob.high - knob.low)) if len(vals) else 0.0
    mean = float(numbers.mean()) if len(vals) else 0.0
    cv = float(numbers.std(ddof=0) / abs(mean)) if len(vals) and mean != 0 else None
    return KnobStability(name, vals, counts, share, cv, len(vals) >= 2 and share > JUMP_RANGE_SHARE)


def json_key(value: Any) -> str:
    """A chosen value as a counting key (booleans lower-case, as JSON writes them)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parameter_stability(
    space: Mapping[str, Knob], chosen: Sequence[Mapping[str, Any]]
) -> list[KnobStability]:
    """:func:`knob_stability` of every knob over the folds' chosen parameters."""
    return [
        knob_stability(name, knob, [params[name] for params in chosen if name in params])
        for name, knob in space.items()
    ]
