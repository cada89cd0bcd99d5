"""Model choices measured inside the training windows only (``metalabel model-cv``).

A modelling choice (one model per pair or one pooled over both, a feature set, a
parameter) must be made from data before the period it is judged on. This module scores
each candidate on every walk-forward training window by the purged out-of-fold
predictions of :class:`metalabel.model.classifier.MetaLabelModel` (the same folds, weights
and calibration the bot trains with), on exactly the rows the bot's model of that window
is fitted on. No row of any test window is read, so the figures can guide a choice that
the walk-forward backtest then judges.

Variants compared on the same rows:

* ``per_pair``: one model per pair, as FreqAI trains today;
* ``pooled``: one model over both pairs' events, the pair as an input (``%-pair``); its
  purge and uniqueness treat trades of both pairs as overlapping (BTC and ETH move
  together), the conservative reading.

Per window the score is the out-of-fold AUC over the window's events of both pairs; the
comparison is the mean over windows of the paired difference, with a bootstrap interval
over windows (seeded).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metalabel.config import ModelSettings
from metalabel.evaluation.folds import Fold
from metalabel.evaluation.skill import auc, brier_score
from metalabel.evaluation.tuning import prepare_folds
from metalabel.model.classifier import TAKE, InsufficientTrainingDataError, MetaLabelModel
from metalabel.model.cv import EventSpans

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
VARIANTS: tuple[str, ...] = ("per_pair", "pooled")


@dataclass(frozen=True)
class WindowScore:
    """One variant on one training window: out-of-fold figures over its events."""

    train_start: pd.Timestamp
    events: int
    auc: float | None
    brier: float | None
    base_rate_brier: float | None


@dataclass(frozen=True)
class Comparison:
    """Mean out-of-fold AUC of each variant and the paired difference (b - a)."""

    variants: tuple[str, str]
    windows: int
    mean_auc: tuple[float, float]
    difference: float
    difference_ci95: tuple[float, float]


def _oof(
    x: FloatArray,
    y: npt.NDArray[np.object_],
    spans: EventSpans,
    settings: ModelSettings,
    xgb_params: Mapping[str, Any],
) -> FloatArray:
    """Out-of-fold confidence, NaN everywhere when the window trains no model."""
    try:
        model = MetaLabelModel(settings, dict(xgb_params)).fit(x, y, spans=spans)
    except InsufficientTrainingDataError as err:
        logger.info("no model: %s", err)
        return np.full(len(y), np.nan)
    return model.cv_.oof_confidence


def score_windows(
    events_by_pair: Mapping[str, pd.DataFrame],
    folds: Sequence[Fold],
    settings: ModelSettings,
    xgb_params: Mapping[str, Any],
    *,
    variant: str,
    test_size: float = 0.2,
) -> list[WindowScore]:
    """Each window's out-of-fold figures for ``variant`` (see the module docstring)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    scores = []
    prepared = prepare_folds(events_by_pair, folds, test_size=test_size)
    for fold, splits in zip(folds, prepared, strict=True):
        if not splits:
            continue
        y = np.concatenate([s.fit_y for s in splits])
        if variant == "per_pair":
            confidence = np.concatenate(
                [_oof(s.fit_x, s.fit_y, s.fit_spans, settings, xgb_params) for s in splits]
            )
        else:
            pair = np.concatenate([np.full(len(s.fit_y), float(i)) for i, s in enumerate(splits)])
            x = np.column_stack([np.vstack([s.fit_x for s in splits]), pair])
            entry = np.concatenate([s.fit_spans.entry for s in splits])
            exit_ = np.concatenate([s.fit_spans.exit for s in splits])
            order = np.argsort(entry, kind="stable")
            pooled = np.full(len(y), np.nan)
            pooled[order] = _oof(
                x[order], y[order], EventSpans(entry[order], exit_[order]), settings, xgb_params
            )
            confidence = pooled
        scores.append(_score(fold.train_start, confidence, (y == TAKE).astype(np.float64)))
    return scores


def _score(start: pd.Timestamp, confidence: FloatArray, positive: FloatArray) -> WindowScore:
    known = np.isfinite(confidence)
    p, y = confidence[known], positive[known]
    if len(y) < 2 or y.min() == y.max():
        return WindowScore(start, int(known.sum()), None, None, None)
    base = np.full(len(y), y.mean())
    return WindowScore(
        start,
        len(y),
        auc(p, y).value,
        brier_score(p, y).value,
        brier_score(base, y).value,
    )


def compare(
    a: Sequence[WindowScore],
    b: Sequence[WindowScore],
    names: tuple[str, str],
    *,
    seed: int = 42,
    resamples: int = 2000,
) -> Comparison:
    """Paired comparison over the windows both variants scored."""
    pairs = [
        (x.auc, y.auc) for x, y in zip(a, b, strict=True) if x.auc is not None and y.auc is not None
    ]
    if not pairs:
        raise ValueError("no window was scored by both variants")
    first, second = (np.array(v, dtype=np.float64) for v in zip(*pairs, strict=True))
    diff = second - first
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[draws].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Comparison(
        names,
        len(diff),
        (float(first.mean()), float(second.mean())),
        float(diff.mean()),
        (float(lo), float(hi)),
    )
