"""FreqAI model plugin: the meta-model that decides which primary signals to take.

Glue only: training logic lives in ``metalabel.model``, the artifacts in
``metalabel.training_report``. Loaded by freqtrade with ``--freqaimodel
MetaLabelClassifier`` (or ``"freqaimodel"`` in the config).
"""

import logging
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import numpy.typing as npt
import pandas as pd
from datasieve.pipeline import Pipeline
from freqtrade.freqai.base_models.BaseClassifierModel import BaseClassifierModel
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from metalabel.config import MetalabelConfig, load_config
from metalabel.model.artifacts import (
    LabelLedger,
    calibration_table,
    holdout_metrics,
    purge_label_horizon,
    threshold_sweep,
    trade_metrics,
    training_row_dates,
    write_artifacts,
)
from metalabel.model.classifier import (
    CLASS_NAMES,
    SKIP,
    TAKE,
    InsufficientTrainingDataError,
    MetaLabelModel,
    NeutralModel,
)
from metalabel.model.lifecycle import (
    LIFECYCLE_LOG,
    Decision,
    LifecycleLog,
    Verdict,
    promotion_verdict,
    rollback_target,
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

    def define_data_pipeline(self, threads: int = -1) -> Pipeline:
        # No scaling and no feature dropping: trees do not need scaling, and a fixed
        # feature set lets the incumbent model score a later window (model lifecycle).
        return Pipeline([])

    def fit(self, data_dictionary: dict, dk: FreqaiDataKitchen, **kwargs) -> Any:
        config = load_config(self.config)
        settings = config.model
        has_eval = len(data_dictionary.get("test_labels", [])) > 0
        test_x = data_dictionary["test_features"] if has_eval else None
        test_y = data_dictionary["test_labels"].iloc[:, 0] if has_eval else None
        try:
            candidate: Any = MetaLabelModel(settings, self.model_training_parameters).fit(
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
            candidate = NeutralModel(str(err))
        chosen, lifecycle = self._lifecycle(candidate, data_dictionary, dk, config)
        if isinstance(candidate, MetaLabelModel):
            try:
                self._write_artifacts(
                    candidate, data_dictionary, dk, settings.confidence_threshold, lifecycle
                )
            except Exception:  # a report must never cost a trained model
                logger.exception("could not write the training artifacts of %s", dk.pair)
        return chosen

    def _lifecycle(
        self, candidate: Any, dd: dict, dk: FreqaiDataKitchen, config: MetalabelConfig
    ) -> tuple[Any, dict[str, Any]]:
        """Promote the candidate or keep the incumbent, judged on this window's hold-out."""
        incumbents: dict[str, tuple[Any, int]] = self.__dict__.setdefault("_incumbents", {})
        log = LifecycleLog(Path(dk.full_path) / LIFECYCLE_LOG)
        version = 1 + sum(1 for e in log.read() if e.get("pair") == dk.pair)
        incumbent = incumbents.get(dk.pair)
        threshold = config.model.confidence_threshold
        candidate_stats = self._holdout_stats(candidate, dd, dk, threshold)
        incumbent_stats = (
            self._holdout_stats(incumbent[0], dd, dk, threshold) if incumbent else None
        )
        if not config.lifecycle.enabled:
            verdict = Verdict(Decision.PROMOTE, ("lifecycle checks disabled",))
        elif isinstance(candidate, NeutralModel):
            verdict = Verdict(Decision.REFUSE, (f"candidate not trained: {candidate.reason}",))
        else:
            verdict = promotion_verdict(
                candidate_stats,
                incumbent_stats,
                config.lifecycle,
                holdout_events=len(dd["test_labels"]),
            )
        promoted = verdict.decision is Decision.PROMOTE or incumbent is None
        event = {
            "time": datetime.now(UTC).isoformat(),
            "pair": dk.pair,
            "window_end": str(self._window[1]),
            "candidate_version": version,
            "incumbent_version": incumbent[1] if incumbent else None,
            "decision": str(verdict.decision),
            "reasons": list(verdict.reasons),
            "active_version": version if promoted else incumbent[1],  # type: ignore[index]
            "candidate_holdout": candidate_stats,
            "incumbent_holdout": incumbent_stats,
            # what a live rollback compares with, and where this window's model is saved
            "active_holdout": candidate_stats if promoted else incumbent_stats,
            "model_path": str(dk.data_path),
        }
        log.append(event)
        message = (
            f"Model lifecycle {dk.pair}: candidate v{version} {verdict.decision}d"
            f" ({'; '.join(verdict.reasons)}); v{event['active_version']} predicts"
        )
        self._alert(message) if not promoted else logger.info(message)
        if promoted:
            incumbents[dk.pair] = (candidate, version)
            return candidate, event
        return incumbent[0], event  # type: ignore[index]

    def rollback(self, pair: str, reasons: list[str]) -> bool:
        """Put the previously promoted model of ``pair`` back in charge (live rollback).

        Returns False, with an alert, when there is no earlier model to go back to.
        """
        log = LifecycleLog(Path(self.dd.full_path) / LIFECYCLE_LOG)
        events = log.read()
        target = rollback_target(events, pair)
        if target is None:
            self._alert(
                f"Model rollback for {pair} wanted ({'; '.join(reasons)}) but there is "
                "no earlier model: the current one keeps predicting"
            )
            return False
        folder = Path(str(target["model_path"]))
        try:
            with next(folder.glob("*_model.joblib")).open("rb") as handle:
                model = cloudpickle.load(handle)
        except (StopIteration, OSError, pickle.UnpicklingError) as err:
            self._alert(f"Model rollback for {pair} failed: {folder} unreadable ({err!r})")
            return False
        version = int(target["candidate_version"])
        self.dd.model_dictionary[pair] = model
        self.__dict__.setdefault("_incumbents", {})[pair] = (model, version)
        log.append(
            {
                "time": datetime.now(UTC).isoformat(),
                "pair": pair,
                "decision": "rollback",
                "reasons": reasons,
                "active_version": version,
                "active_holdout": target.get("active_holdout"),
                "model_path": str(folder),
            }
        )
        self._alert(f"Model rollback {pair}: back to v{version} ({'; '.join(reasons)})")
        return True

    def _holdout_stats(
        self, model: Any, dd: dict, dk: FreqaiDataKitchen, threshold: float
    ) -> dict[str, Any]:
        """Trade-level figures of the signals ``model`` takes on this window's hold-out."""
        test_x = dd["test_features"]
        if not len(test_x):
            return trade_metrics([])
        test_dates = self._kept_dates.iloc[len(dd["train_labels"]) :]
        returns = LabelLedger.lookup(dk.pair, test_dates)["net_return"].to_numpy()
        confidence = model.predict_proba(test_x.to_numpy())[:, 1]
        return trade_metrics(returns[confidence > threshold].tolist())

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
        self,
        model: MetaLabelModel,
        dd: dict,
        dk: FreqaiDataKitchen,
        threshold: float,
        lifecycle: dict[str, Any],
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
            "lifecycle": lifecycle,
        }
        write_artifacts(dk.data_path, metadata)
