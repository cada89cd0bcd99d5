"""The meta-model: an XGBoost classifier of "will this primary signal pay after costs".

It follows scikit-learn's estimator rules so FreqAI can use it unchanged: ``__init__``
only stores parameters, ``fit`` returns self, fitted attributes end in ``_`` and
``classes_`` holds the string labels in the order of ``predict_proba``'s columns.
Labels are encoded internally; FreqAI sees "skip"/"take" in and out.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from xgboost import XGBClassifier

from metalabel.config import Calibration, ModelSettings
from metalabel.core.labels import LABEL_SKIP, LABEL_TAKE

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


class MetaLabelModel:
    """XGBoost with class-imbalance weighting, early stopping and optional calibration."""

    def __init__(self, settings: ModelSettings, xgb_params: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.xgb_params = dict(xgb_params or {})

    def fit(
        self,
        features: FloatArray,
        labels: npt.ArrayLike,
        *,
        eval_features: FloatArray | None = None,
        eval_labels: npt.ArrayLike | None = None,
        sample_weight: FloatArray | None = None,
    ) -> MetaLabelModel:
        """Fit on time-ordered training rows; the eval split is later in time than them."""
        y = _encode(labels)
        check_trainable(y, self.settings.min_training_events)
        positives = float(y.sum())
        params: dict[str, Any] = {
            "n_estimators": 300,
            "max_depth": 4,
            "learning_rate": 0.05,
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
            "scale_pos_weight": (len(y) - positives) / positives,
        }
        eval_y = None if eval_labels is None else _encode(eval_labels)
        has_eval = eval_features is not None and eval_y is not None and len(eval_y) > 0
        if has_eval:
            params["early_stopping_rounds"] = self.settings.early_stopping_rounds
        model = XGBClassifier(**params)
        model.fit(
            features,
            y,
            sample_weight=sample_weight,
            eval_set=[(eval_features, eval_y)] if has_eval else None,
            verbose=False,
        )
        self.booster_ = model
        self.calibrator_: CalibratedClassifierCV | None = None
        if (
            self.settings.calibration is not Calibration.NONE
            and has_eval
            and eval_y is not None
            and len(np.unique(eval_y)) == 2
        ):
            self.calibrator_ = CalibratedClassifierCV(
                FrozenEstimator(model), method=self.settings.calibration.value
            ).fit(eval_features, eval_y)
        self.classes_ = np.array(CLASS_NAMES, dtype=object)
        return self

    def predict_proba(self, features: Any) -> FloatArray:
        estimator: Any = self.calibrator_ if self.calibrator_ is not None else self.booster_
        proba: FloatArray = np.asarray(estimator.predict_proba(features), dtype=np.float64)
        return proba

    def predict(self, features: Any) -> npt.NDArray[np.object_]:
        take = self.predict_proba(features)[:, 1] > 0.5
        return np.where(take, TAKE, SKIP).astype(object)


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
