"""Out-of-sample skill of the meta-model: ranking, probability quality, and chance.

Pure functions over arrays (no freqtrade), so each is checked on tiny hand-computable
cases. The report feeds them the walk-forward predictions of the meta run joined with
the labels of the same signal candles (:mod:`metalabel.evaluation.report.loading`).

* :func:`auc` -- the probability that a random winner is ranked above a random loser
  (ties count one half): 1 perfect, 0.5 no ranking skill, 0 inverted. Computed from one
  sort with weights, so a bootstrap is a weight matrix, not a loop of sorts.
* :func:`day_block_bootstrap_auc` -- resamples whole UTC days (every signal of a day
  together): signals come in runs and both pairs move together, so single signals are
  not independent; a day holds most of a run (a trade lasts at most 24 hours).
* :func:`brier_score` -- mean squared error of the probability; compare it with the
  Brier score of a constant forecast (the base rate): a model without skill cannot beat
  the base rate the model itself could have known, that of its training window.
* :func:`calibration_fit` -- logistic regression ``y ~ a + b * logit(p)``: slope 1 and
  intercept 0 for a calibrated forecast, slope < 1 for overconfident ones.
* :func:`reliability_bins` -- counts, mean probability and observed rate per bin.
* :func:`chance_test` -- the selection a filter made against random selections of the
  same size from the same pool: one-sided permutation p-values (``(1 + #{random >=
  observed}) / (1 + resamples)``) for the mean net return and the win rate.

Every random draw comes from a ``numpy.random.Generator`` passed in (seeded by the caller).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from metalabel.evaluation.bootstrap import Interval, percentile_interval
from metalabel.evaluation.metrics import Metric

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHANCE_RESAMPLES = 10_000
AUC_RESAMPLES = 2000
RELIABILITY_BINS = 10
SKILL_ALPHA = 0.01  # the chance test's level for "beats chance"
# The product's targets for the meta-model (issue 12): pooled out-of-sample AUC, and
# reliability bins with at least this many signals must rise with confidence.
TARGET_AUC = 0.58
TARGET_BIN_SIGNALS = 30
_CHUNK_CELLS = 4_000_000  # bound on resamples x rows held in memory at once
_PROBABILITY_FLOOR = 1e-6  # logit(p) of p clipped to [floor, 1 - floor]

REASON_ONE_CLASS = "only one class among the signals: no winner/loser pair to rank"


def _as_arrays(scores: npt.ArrayLike, positive: npt.ArrayLike) -> tuple[FloatArray, BoolArray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(positive, dtype=bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or inf")
    return s, y


def weighted_auc_rows(scores: FloatArray, positive: BoolArray, weights: FloatArray) -> FloatArray:
    """AUC for each row of ``weights`` (shape ``(rows, n)``), NaN where a class has no weight.

    Sorted once; tied scores form one group, in which a winner/loser pair counts 1/2.
    """
    order = np.argsort(scores, kind="stable")
    s, y, w = scores[order], positive[order], weights[:, order]
    if s.size == 0:
        return np.full(weights.shape[0], np.nan)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    w_pos = np.add.reduceat(w * y, starts, axis=1)
    w_neg = np.add.reduceat(w * ~y, starts, axis=1)
    neg_below = np.cumsum(w_neg, axis=1) - w_neg
    pairs = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    wins = (w_pos * (neg_below + 0.5 * w_neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), np.nan)
    return result


def auc(scores: npt.ArrayLike, positive: npt.ArrayLike) -> Metric:
    """Area under the ROC curve of ``scores`` for the ``positive`` labels.

    >>> auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]).value, auc([0.9, 0.1], [0, 1]).value
    (1.0, 0.0)
    >>> auc([0.5, 0.5, 0.5], [0, 1, 1]).value  # all tied: no ranking
    0.5
    """
    s, y = _as_arrays(scores, positive)
    value = weighted_auc_rows(s, y, np.ones((1, s.size)))[0]
    return Metric.undefined(REASON_ONE_CLASS) if np.isnan(value) else Metric.of(float(value))


def day_block_bootstrap_auc(
    scores: npt.ArrayLike,
    positive: npt.ArrayLike,
    days: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    resamples: int = AUC_RESAMPLES,
    confidence: float = 0.95,
) -> Interval:
    """Percentile interval of the AUC when whole days are resampled with replacement.

    ``days`` labels each signal's block (e.g. its UTC date as an integer); a resample
    draws as many days as there are, each signal weighted by how often its day was drawn.
    """
    s, y = _as_arrays(scores, positive)
    _, day_index = np.unique(np.asarray(days).ravel(), return_inverse=True)
    if day_index.size != s.size:
        raise ValueError(f"days ({day_index.size}) and scores ({s.size}) differ in length")
    if not (y.any() and (~y).any()):
        return Interval.undefined(REASON_ONE_CLASS)
    n_days = int(day_index.max()) + 1
    chunk = max(1, _CHUNK_CELLS // max(s.size, 1))
    values = []
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        counts = rng.multinomial(n_days, np.full(n_days, 1.0 / n_days), size=rows)
        values.append(weighted_auc_rows(s, y, counts[:, day_index].astype(np.float64)))
    return percentile_interval(np.concatenate(values), confidence)


def brier_score(probability: npt.ArrayLike, positive: npt.ArrayLike) -> Metric:
    """Mean of ``(p - y)^2``; ``probability`` may be one constant forecast per signal.

    >>> brier_score([1.0, 0.0, 0.5], [1, 0, 1]).value
    0.08333333333333333
    """
    p, y = _as_arrays(probability, positive)
    if p.size == 0:
        return Metric.undefined("no signals")
    return Metric.of(float(np.mean((p - y) ** 2)))


@dataclass(frozen=True)
class CalibrationFit:
    """``y ~ intercept + slope * logit(p)`` by maximum likelihood, or why not."""

    slope: Metric
    intercept: Metric


def calibration_fit(
    probability: npt.ArrayLike, positive: npt.ArrayLike, *, max_iterations: int = 100
) -> CalibrationFit:
    """Calibration slope and intercept (logistic regression of the label on logit(p)).

    Newton-Raphson on the two parameters; a constant forecast has no slope, and a
    perfectly separating one has no finite fit: both are undefined with the reason.
    """

    def undefined(reason: str) -> CalibrationFit:
        return CalibrationFit(Metric.undefined(reason), Metric.undefined(reason))

    p, y = _as_arrays(probability, positive)
    if not (y.any() and (~y).any()):
        return undefined(REASON_ONE_CLASS)
    clipped = np.clip(p, _PROBABILITY_FLOOR, 1.0 - _PROBABILITY_FLOOR)
    x = np.log(clipped / (1.0 - clipped))
    if np.ptp(x) == 0:
        return undefined("the forecast is constant: no slope to fit")
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    target = y.astype(np.float64)
    for _ in range(max_iterations):
        fitted = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (target - fitted)
        hessian = (design * (fitted * (1.0 - fitted))[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:  # fitted probabilities all 0 or 1: separation
            break
        beta = beta + step
        if not np.isfinite(beta).all():
            break
        if np.abs(step).max() < 1e-10:
            return CalibrationFit(Metric.of(float(beta[1])), Metric.of(float(beta[0])))
    return undefined("the calibration fit does not converge (the forecast separates the classes)")


@dataclass(frozen=True)
class ReliabilityBin:
    """Signals whose probability fell in ``[lo, hi)`` (the last bin includes 1)."""

    lo: float
    hi: float
    signals: int
    mean_probability: Metric
    observed_rate: Metric


def reliability_bins(
    probability: npt.ArrayLike, positive: npt.ArrayLike, *, bins: int = RELIABILITY_BINS
) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1]: a calibrated forecast has observed rate = mean p."""
    p, y = _as_arrays(probability, positive)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        member = which == i
        n = int(member.sum())
        empty = Metric.undefined("no signal in this probability bin")
        out.append(
            ReliabilityBin(
                lo=float(edges[i]),
                hi=float(edges[i + 1]),
                signals=n,
                mean_probability=Metric.of(float(p[member].mean())) if n else empty,
                observed_rate=Metric.of(float(y[member].mean())) if n else empty,
            )
        )
    return out


@dataclass(frozen=True)
class ChanceTest:
    """A selection against random selections of the same size from the same pool."""

    selected: int
    pool: int
    resamples: int
    mean_net_return: Metric
    win_rate: Metric
    random_mean_net_return: Metric  # mean over the random selections
    random_win_rate: Metric
    p_mean_net_return: Metric
    p_win_rate: Metric


def chance_test(
    selected: npt.ArrayLike,
    pool: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    resamples: int = CHANCE_RESAMPLES,
) -> ChanceTest:
    """One-sided p-values: how often a random ``len(selected)``-subset of ``pool`` (drawn
    without replacement) does at least as well on mean net return and on win rate.

    A win is a net return > 0. ``(1 + hits) / (1 + resamples)``: never 0, since the
    observed selection is itself one possible draw.
    """
    chosen = np.asarray(selected, dtype=np.float64).ravel()
    population = np.asarray(pool, dtype=np.float64).ravel()
    k, n = chosen.size, population.size
    if not (np.isfinite(chosen).all() and np.isfinite(population).all()):
        raise ValueError("net returns hold NaN or inf")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    reason = (
        "the filter selected nothing"
        if k == 0
        else f"the selection ({k}) is larger than the pool ({n})"
        if k > n
        else None
    )
    if reason is not None:
        none = Metric.undefined(reason)
        return ChanceTest(k, n, resamples, none, none, none, none, none, none)
    observed_mean = float(chosen.mean())
    observed_wins = int((chosen > 0).sum())
    means, wins = [], []
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        draw = np.argpartition(rng.random((rows, n)), k - 1, axis=1)[:, :k]
        values = population[draw]
        means.append(values.mean(axis=1))
        wins.append((values > 0).sum(axis=1))
    random_means, random_wins = np.concatenate(means), np.concatenate(wins)
    tolerance = 1e-12 * max(1.0, abs(observed_mean))  # same sum in another order
    hits_mean = int((random_means >= observed_mean - tolerance).sum())
    hits_wins = int((random_wins >= observed_wins).sum())
    return ChanceTest(
        selected=k,
        pool=n,
        resamples=resamples,
        mean_net_return=Metric.of(observed_mean),
        win_rate=Metric.of(observed_wins / k),
        random_mean_net_return=Metric.of(float(random_means.mean())),
        random_win_rate=Metric.of(float(random_wins.mean()) / k),
        p_mean_net_return=Metric.of((1 + hits_mean) / (1 + resamples)),
        p_win_rate=Metric.of((1 + hits_wins) / (1 + resamples)),
    )


def skill_verdict(
    auc_ci: Interval, p_mean_net_return: Metric, *, alpha: float = SKILL_ALPHA
) -> tuple[bool | None, str]:
    """Whether the model beats chance, in words that follow the figures.

    It does when the AUC interval lies above 0.5 AND the chance test's p-value for the
    mean net return is below ``alpha``; None when either figure is missing.
    """
    if auc_ci.lo is None or p_mean_net_return.value is None:
        missing = auc_ci.reason if auc_ci.lo is None else p_mean_net_return.reason
        return None, f"skill not measurable ({missing})"
    ranks = auc_ci.lo > 0.5
    selects = p_mean_net_return.value < alpha
    if ranks and selects:
        return True, "beats chance"
    failed = []
    if not ranks:
        failed.append("AUC interval not above 0.5")
    if not selects:
        failed.append(f"chance-test p >= {alpha:g}")
    return False, f"does not beat chance ({'; '.join(failed)}): no evidence of skill"


@dataclass(frozen=True)
class Target:
    """One of the meta-model's targets: what is wanted, the figure, whether it is met."""

    name: str
    wanted: str
    value: float | None
    met: bool | None  # None when the figure is missing


def skill_targets(
    auc: Metric,
    auc_ci: Interval,
    p_mean_net_return: Metric,
    brier: Metric,
    base_rate_brier: Metric,
    bins: list[ReliabilityBin],
) -> list[Target]:
    """The five targets of the walk-forward skill section, each with its figure.

    Bins rise when the observed rates of the bins holding at least
    :data:`TARGET_BIN_SIGNALS` signals never fall from one bin to the next (the value is
    the number of such bins; fewer than two cannot show a rise).
    """

    def target(name: str, wanted: str, value: float | None, ok: bool | None) -> Target:
        return Target(name, wanted, value, None if value is None else ok)

    crowded = [b.observed_rate.value for b in bins if b.signals >= TARGET_BIN_SIGNALS]
    rates = [r for r in crowded if r is not None]
    rising = len(rates) >= 2 and all(b >= a for a, b in itertools.pairwise(rates))
    brier_gap = (
        None
        if brier.value is None or base_rate_brier.value is None
        else brier.value - base_rate_brier.value
    )
    return [
        target("auc", f">= {TARGET_AUC}", auc.value, (auc.value or 0) >= TARGET_AUC),
        target("auc_ci95_low", "> 0.5", auc_ci.lo, (auc_ci.lo or 0) > 0.5),
        target(
            "chance_p_mean_net_return",
            f"< {SKILL_ALPHA}",
            p_mean_net_return.value,
            (p_mean_net_return.value or 1) < SKILL_ALPHA,
        ),
        target("brier_minus_base_rate", "< 0", brier_gap, (brier_gap or 0) < 0),
        target(
            "rising_bins",
            f"rates rise over bins of >= {TARGET_BIN_SIGNALS} signals",
            float(len(rates)),
            rising,
        ),
    ]
