"""The meta-model: an XGBoost classifier of "will this primary signal pay after costs".

It follows scikit-learn's estimator rules so FreqAI can use it unchanged: ``__init__``
only stores parameters, ``fit`` returns self, fitted attributes end in ``_`` and
``classes_`` holds the string labels in the order of ``predict_proba``'s columns.
Labels are encoded internally; FreqAI sees "skip"/"take" in and out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from xgboost import XGBClassifier

from metalabel.config import Calibration, ModelSettings
from metalabel.core.labels import LABEL_SKIP, LABEL_TAKE
from metalabel.model.cv import HOUR_NS, EventSpans, purged_folds, uniqueness_weights

logger = logging.getLogger(__name__)

# The label classes are defined once, by the labeller.
TAKE, SKIP = LABEL_TAKE, LABEL_SKIP
CLASS_NAMES = [SKIP, TAKE]  # predict_proba column order; "take" is the confidence

FloatArray = npt.NDArray[np.float64]


class InsufficientTrainingDataError(ValueError):
    """Too few events, or a single class: no model can be trained from this window."""


class NeutralModel:
    """Stands in for a model that could not be trained: confidence 0, so no trade.

    Keeps the bot alive (FreqAI needs *a* model) while refusing every signal.
    """

    classes_ = np.array(CLASS_NAMES, dtype=object)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def predict_proba(self, features: Any) -> FloatArray:
        rows = len(features)
        return np.column_stack([np.ones(rows), np.zeros(rows)])

    def predict(self, features: Any) -> npt.NDArray[np.object_]:
        return np.full(len(features), SKIP, dtype=object)


@dataclass(frozen=True)
class CrossValidation:
    """What the purged folds of one fit found: the tree count and out-of-fold figures."""

    n_estimators: int
    folds_used: int
    oof_raw: FloatArray  # booster "take" probability per row, NaN where no fold scored it
    oof_confidence: FloatArray  # the same, calibrated
    auc: float | None
    brier: float | None
    base_rate_brier: float | None  # Brier of always predicting the fit rows' take rate


class Calibrator:
    """Maps booster probabilities to calibrated ones; fitted on out-of-fold rows only."""

    def __init__(self, method: Calibration) -> None:
        self.method = method

    def fit(self, raw: FloatArray, y: npt.NDArray[np.int64], weight: FloatArray) -> Calibrator:
        if self.method is Calibration.ISOTONIC:
            self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.isotonic_.fit(raw, y, sample_weight=weight)
        else:
            self.logistic_ = LogisticRegression(C=1e6).fit(_logit(raw), y, sample_weight=weight)
        return self

    def __call__(self, raw: FloatArray) -> FloatArray:
        if self.method is Calibration.ISOTONIC:
            return np.asarray(self.isotonic_.predict(raw), dtype=np.float64)
        return np.asarray(self.logistic_.predict_proba(_logit(raw))[:, 1], dtype=np.float64)


def _logit(p: FloatArray) -> FloatArray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped)).reshape(-1, 1)


class MetaLabelModel:
    """XGBoost with uniqueness weights; trees and calibration chosen by purged folds.

    ``fit`` runs ``cv_splits`` purged, embargoed time-series folds over the training
    events (:mod:`metalabel.model.cv`): each fold trains up to ``n_estimators`` trees and
    records its test block's log-loss per tree count; the count with the lowest mean
    log-loss is refitted on every event, and the calibrator is fitted on the folds'
    out-of-fold predictions at that count, never on rows a model was fitted on.
    """

    def __init__(self, settings: ModelSettings, xgb_params: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.xgb_params = dict(xgb_params or {})

    def fit(
        self,
        features: FloatArray,
        labels: npt.ArrayLike,
        *,
        spans: EventSpans | None = None,
        sample_weight: FloatArray | None = None,
    ) -> MetaLabelModel:
        """Fit on time-ordered events; ``spans`` (entry and exit of each event's trade)
        drive the purge and the uniqueness weights. Without spans each event is its own
        instant: no purge, uniqueness 1."""
        y = _encode(labels)
        check_trainable(y, self.settings.min_training_events)
        x = np.asarray(features, dtype=np.float64)
        if spans is None:
            instants = np.arange(len(y), dtype=np.int64) * HOUR_NS
            spans = EventSpans(instants, instants)
        if len(spans) != len(y):
            raise ValueError(f"{len(spans)} event spans for {len(y)} events")
        weight = uniqueness_weights(spans)
        effective = float(weight.sum())
        if effective < self.settings.min_training_events:
            raise InsufficientTrainingDataError(
                f"{len(y)} labelled events are worth {effective:.1f} independent ones "
                f"(their trades overlap), fewer than min_training_events="
                f"{self.settings.min_training_events}"
            )
        if sample_weight is not None:
            weight = weight * np.asarray(sample_weight, dtype=np.float64)
        weight = weight / weight.mean()  # mean 1: min_child_weight keeps its meaning
        params = self._params(y, weight)
        self.cv_ = self._cross_validate(x, y, weight, spans, params)
        final = XGBClassifier(**{**params, "n_estimators": self.cv_.n_estimators})
        final.fit(x, y, sample_weight=weight, verbose=False)
        self.booster_ = final
        self.calibrator_: Calibrator | None = None
        scored = np.isfinite(self.cv_.oof_raw)
        if self.settings.calibration is not Calibration.NONE and len(np.unique(y[scored])) == 2:
            self.calibrator_ = Calibrator(self.settings.calibration).fit(
                self.cv_.oof_raw[scored], y[scored], weight[scored]
            )
            self.cv_ = replace(self.cv_, oof_confidence=self._calibrated(self.cv_.oof_raw))
        self.cv_ = _with_scores(self.cv_, y, weight)
        self.classes_ = np.array(CLASS_NAMES, dtype=object)
        return self

    def _params(self, y: npt.NDArray[np.int64], weight: FloatArray) -> dict[str, Any]:
        positives = float(weight[y == 1].sum())
        return {
            # A small, regularised default: a window holds a few hundred effective events.
            "n_estimators": 300,
            "max_depth": 3,
            "learning_rate": 0.05,
            "min_child_weight": 5.0,
            "reg_lambda": 5.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "eval_metric": "logloss",
            # One thread: training sets are a few thousand rows, where OpenMP threads
            # cost more than they give (and contend with freqtrade's own work).
            "n_jobs": 1,
            **self.xgb_params,
            # Seed and imbalance weighting are ours: results must be reproducible and a
            # rare "take" class must not be ignored.
            "random_state": self.settings.seed,
            "scale_pos_weight": (float(weight.sum()) - positives) / positives,
        }

    def _cross_validate(
        self,
        x: FloatArray,
        y: npt.NDArray[np.int64],
        weight: FloatArray,
        spans: EventSpans,
        params: dict[str, Any],
    ) -> CrossValidation:
        embargo = self.settings.embargo_candles * HOUR_NS
        curves, models = [], []
        for fold in purged_folds(spans, self.settings.cv_splits, embargo):
            if len(np.unique(y[fold.train])) < 2 or len(fold.test) == 0:
                continue  # nothing to learn or to score in this fold
            model = XGBClassifier(**params)
            model.fit(
                x[fold.train],
                y[fold.train],
                sample_weight=weight[fold.train],
                eval_set=[(x[fold.test], y[fold.test])],
                sample_weight_eval_set=[weight[fold.test]],
                verbose=False,
            )
            curve = np.asarray(model.evals_result()["validation_0"]["logloss"])
            curves.append(curve * weight[fold.test].sum())
            models.append((fold, model))
        if not models:
            raise InsufficientTrainingDataError(
                f"no purged fold of {len(y)} events has both classes to train on"
            )
        mean_loss = np.sum(curves, axis=0)
        n_estimators = int(np.argmin(mean_loss)) + 1
        oof = np.full(len(y), np.nan)
        for fold, model in models:
            oof[fold.test] = model.predict_proba(x[fold.test], iteration_range=(0, n_estimators))[
                :, 1
            ]
        return CrossValidation(n_estimators, len(models), oof, oof.copy(), None, None, None)

    def _calibrated(self, raw: FloatArray) -> FloatArray:
        if self.calibrator_ is None:
            return raw
        out = np.full(len(raw), np.nan)
        finite = np.isfinite(raw)
        out[finite] = self.calibrator_(raw[finite])
        return out

    def predict_proba(self, features: Any) -> FloatArray:
        raw = np.asarray(self.booster_.predict_proba(features)[:, 1], dtype=np.float64)
        take = self._calibrated(raw)
        return np.column_stack([1.0 - take, take])

    def predict(self, features: Any) -> npt.NDArray[np.object_]:
        take = self.predict_proba(features)[:, 1] > 0.5
        return np.where(take, TAKE, SKIP).astype(object)


def _with_scores(
    cv: CrossValidation, y: npt.NDArray[np.int64], weight: FloatArray
) -> CrossValidation:
    """Out-of-fold AUC and Brier (uniqueness-weighted) of the calibrated confidence."""
    scored = np.isfinite(cv.oof_confidence)
    if scored.sum() < 2 or len(np.unique(y[scored])) < 2:
        return cv
    p, t, w = cv.oof_confidence[scored], y[scored], weight[scored]
    base = float(np.average(y, weights=weight))
    return replace(
        cv,
        auc=float(roc_auc_score(t, p, sample_weight=w)),
        brier=float(np.average((p - t) ** 2, weights=w)),
        base_rate_brier=float(np.average((base - t) ** 2, weights=w)),
    )


def _encode(labels: npt.ArrayLike) -> npt.NDArray[np.int64]:
    values = np.asarray(labels, dtype=object).ravel()
    unknown = set(values) - set(CLASS_NAMES)
    if unknown:
        raise ValueError(f"labels must be {CLASS_NAMES}, got {sorted(map(str, unknown))}")
    encoded: npt.NDArray[np.int64] = np.asarray(values == TAKE, dtype=np.int64)
    return encoded


def check_trainable(encoded: npt.NDArray[np.int64], min_events: int) -> None:
    """Refuse windows the model cannot learn from, with a reason worth logging."""
    if len(encoded) < min_events:
        raise InsufficientTrainingDataError(
            f"{len(encoded)} labelled events, fewer than min_training_events={min_events}"
        )
    if encoded.min() == encoded.max():
        only = CLASS_NAMES[int(encoded[0])]
        raise InsufficientTrainingDataError(f"all {len(encoded)} events are {only!r}: one class")
