"""Train one window's candidate, let the registry decide, leave the artifacts.

What the FreqAI plugin's ``fit`` does, as package code: fit a :class:`MetaLabelModel`
on the window's fit rows (purged cross-validation inside them, uniqueness weights), fall
back to a :class:`NeutralModel` (no trades) when the window cannot train a model, hand
the candidate to the :class:`ModelRegistry` (promotion against the incumbent on the rows
after the incumbent's window) and write the metadata JSON and HTML report beside the
model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metalabel.config import MetalabelConfig
from metalabel.model.artifacts import training_metadata, write_artifacts
from metalabel.model.classifier import InsufficientTrainingDataError, MetaLabelModel, NeutralModel
from metalabel.model.registry import Holdout, ModelRegistry
from metalabel.model.window import TrainingWindow

logger = logging.getLogger(__name__)


class MetaModelTrainer:
    """Candidate, lifecycle decision and artifacts of each training window."""

    def __init__(
        self,
        config: MetalabelConfig,
        registry: ModelRegistry,
        *,
        xgb_params: dict[str, Any] | None = None,
        alert: Callable[[str], None],
    ) -> None:
        self.config = config
        self.registry = registry
        self.xgb_params = dict(xgb_params or {})
        self._alert = alert

    def fit(self, pair: str, window: TrainingWindow, model_folder: Path) -> Any:
        """The model that predicts after this window: the candidate or the incumbent."""
        candidate = self._candidate(pair, window)
        holdout = self._holdout(candidate, window)
        review = self.registry.review(
            pair, candidate, holdout, window_end=str(window.end), model_path=model_folder
        )
        if isinstance(candidate, MetaLabelModel):
            try:
                metadata = training_metadata(
                    candidate,
                    window,
                    pair=pair,
                    model_version=model_folder.name,
                    threshold=self.config.model.confidence_threshold,
                    lifecycle=review.event.as_json(),
                )
                write_artifacts(model_folder, metadata)
            except Exception:  # a report must never cost a trained model
                logger.exception("could not write the training artifacts of %s", pair)
        return review.model

    def _holdout(self, candidate: MetaLabelModel | NeutralModel, window: TrainingWindow) -> Holdout:
        """Every row of the window, with the candidate's out-of-sample confidence: purged
        out-of-fold on its fit rows, its prediction on the later hold-out rows."""
        features = np.vstack([window.fit_features.to_numpy(), window.holdout_features.to_numpy()])
        confidence = None
        if isinstance(candidate, MetaLabelModel):
            later = window.holdout_features.to_numpy()
            predicted = candidate.predict_proba(later)[:, 1] if len(later) else np.empty(0)
            confidence = np.concatenate([candidate.cv_.oof_confidence, predicted])
        return Holdout(
            features,
            np.concatenate([window.fit_net_return, window.holdout_net_return]),
            self.config.model.confidence_threshold,
            dates=window.dates_ns,
            candidate_confidence=confidence,
        )

    def _candidate(self, pair: str, window: TrainingWindow) -> MetaLabelModel | NeutralModel:
        try:
            return MetaLabelModel(self.config.model, self.xgb_params).fit(
                window.fit_features.to_numpy(),
                window.fit_labels.to_numpy(),
                spans=window.fit_spans,
                sample_weight=window.fit_weights,
            )
        except InsufficientTrainingDataError as err:
            # No trades from this window rather than a crashed bot or backtest.
            self._alert(
                f"Meta-model for {pair} not trained ({err}): no trades until the next retrain"
            )
            return NeutralModel(str(err))
