"""FreqAI model plugin: the meta-model that decides which primary signals to take.

Glue only: training logic lives in ``metalabel.model``, the artifacts in
``metalabel.training_report``. Loaded by freqtrade with ``--freqaimodel
MetaLabelClassifier`` (or ``"freqaimodel"`` in the config).
"""

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from freqtrade.freqai.base_models.BaseClassifierModel import BaseClassifierModel
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from metalabel.config import load_config
from metalabel.model import (
    CLASS_NAMES,
    SKIP,
    TAKE,
    InsufficientTrainingDataError,
    MetaLabelModel,
    NeutralModel,
)
from metalabel.training_report import (
    LabelLedger,
    calibration_table,
    holdout_metrics,
    purge_label_horizon,
    threshold_sweep,
    training_row_dates,
    write_artifacts,
)

logger = logging.getLogger(__name__)


class MetaLabelClassifier(BaseClassifierModel):
    """XGBoost meta-model on string labels "skip"/"take"; "take" is the confidence."""

    def train(self, unfiltered_df: DataFrame, pair: str, dk: FreqaiDataKitchen, **kwargs) -> Any:
        settings = load_config(self.config)
        # A label looks up to max_holding_candles ahead, past the end of the training
        # window into the period this model will predict: purge those events.
        unfiltered_df = purge_label_horizon(unfiltered_df, settings.exits.max_holding_candles)
        # fit() sees features and labels only, re-indexed; keep the candle dates of the rows
        # FreqAI will train on (it drops rows with a missing feature or label, in order).
        self._window = (unfiltered_df["date"].iloc[0], unfiltered_df["date"].iloc[-1])
        self._kept_dates = training_row_dates(unfiltered_df)
        return super().train(unfiltered_df, pair, dk, **kwargs)

    def fit(self, data_dictionary: dict, dk: FreqaiDataKitchen, **kwargs) -> Any:
        settings = load_config(self.config).model
        has_eval = len(data_dictionary.get("test_labels", [])) > 0
        test_x = data_dictionary["test_features"] if has_eval else None
        test_y = data_dictionary["test_labels"].iloc[:, 0] if has_eval else None
        try:
            model = MetaLabelModel(settings, self.model_training_parameters).fit(
                data_dictionary["train_features"].to_numpy(),
                data_dictionary["train_labels"].to_numpy()[:, 0],
                eval_features=test_x.to_numpy() if test_x is not None else None,
                eval_labels=test_y.to_numpy() if test_y is not None else None,
                sample_weight=data_dictionary["train_weights"],
            )
        except InsufficientTrainingDataError as err:
            # No trades from this window rather than a crashed bot or backtest.
            self._alert(
                f"Meta-model for {dk.pair} not trained ({err}): no trades until the next retrain"
            )
            return NeutralModel(str(err))
        try:
            self._write_artifacts(model, data_dictionary, dk, settings.confidence_threshold)
        except Exception:  # a report must never cost a trained model
            logger.exception("could not write the training artifacts of %s", dk.pair)
        return model

    def predict(
        self, unfiltered_df: DataFrame, dk: FreqaiDataKitchen, **kwargs
    ) -> tuple[DataFrame, npt.NDArray[np.int_]]:
        try:
            return super().predict(unfiltered_df, dk, **kwargs)
        except Exception as err:  # missing feature, unreadable model...: no trades
            self._alert(
                f"Meta-model prediction failed for {dk.pair} ({err!r}): no trades "
                "from the model until it predicts again"
            )
            rows = len(unfiltered_df)
            neutral = DataFrame({dk.label_list[0]: [SKIP] * rows, SKIP: 1.0, TAKE: 0.0})
            return neutral, np.zeros(rows, dtype=np.int_)

    def _alert(self, message: str) -> None:
        logger.warning(message)
        provider = getattr(self, "data_provider", None)
        if provider is not None:
            provider.send_msg(message, always_send=True)

    def _write_artifacts(
        self, model: MetaLabelModel, dd: dict, dk: FreqaiDataKitchen, threshold: float
    ) -> None:
        """Metadata JSON and HTML training report beside the model files."""
        test_x, test_y = dd["test_features"], dd["test_labels"].iloc[:, 0]
        labels = pd.concat([dd["train_labels"].iloc[:, 0], test_y], ignore_index=True)
        if len(labels) != len(self._kept_dates):
            raise ValueError(f"{len(labels)} training rows, {len(self._kept_dates)} dates")
        test_dates = self._kept_dates.iloc[len(dd["train_labels"]) :]
        outcomes = LabelLedger.lookup(dk.pair, test_dates)
        confidence = model.predict_proba(test_x.to_numpy())[:, 1] if len(test_x) else []
        training = LabelLedger.lookup(dk.pair, self._kept_dates)
        importance = dict(
            zip(
                dd["train_features"].columns,
                map(float, model.booster_.feature_importances_),
                strict=True,
            )
        )
        metadata = {
            "model_version": dk.data_path.name,
            "pair": dk.pair,
            "training_window": {
                "start": str(self._window[0]),
                "end": str(self._window[1]),
                "fit_rows": len(dd["train_labels"]),
                "holdout_rows": len(test_y),
                "holdout_start": str(test_dates.iloc[0]) if len(test_dates) else None,
            },
            "features": list(dd["train_features"].columns),
            "label_counts": {name: int((labels == name).sum()) for name in CLASS_NAMES},
            "barrier_counts": {
                str(k): int(v) for k, v in training["barrier"].value_counts().items()
            },
            "holdout": holdout_metrics(
                test_y == TAKE, confidence, outcomes["net_return"].to_numpy(), threshold
            ),
            "calibration": calibration_table(test_y == TAKE, confidence),
            "threshold_sweep": threshold_sweep(confidence, outcomes["net_return"].to_numpy()),
            "feature_importance": importance,
            "best_iteration": getattr(model.booster_, "best_iteration", None),
        }
        write_artifacts(dk.data_path, metadata)
