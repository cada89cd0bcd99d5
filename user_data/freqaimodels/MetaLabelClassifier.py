"""FreqAI model plugin: the meta-model that decides which primary signals to take.

Glue only: training, the model lifecycle and the artifacts live in ``metalabel.model``
(``training``, ``registry``, ``artifacts``). Loaded by freqtrade with ``--freqaimodel
MetaLabelClassifier`` (or ``"freqaimodel"`` in the config).
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from datasieve.pipeline import Pipeline
from freqtrade.constants import Config
from freqtrade.freqai.base_models.BaseClassifierModel import BaseClassifierModel
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from pandas import DataFrame

from metalabel.config import load_config
from metalabel.model.classifier import SKIP, TAKE
from metalabel.model.registry import ModelRegistry
from metalabel.model.training import MetaModelTrainer
from metalabel.model.window import TrainingWindow, WindowOutcomes, purge_label_horizon

logger = logging.getLogger(__name__)


class MetaLabelClassifier(BaseClassifierModel):
    """XGBoost meta-model on string labels "skip"/"take"; "take" is the confidence."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        settings = load_config(self.config)
        registry = ModelRegistry(Path(self.dd.full_path), settings.lifecycle, alert=self._alert)
        self.trainer = MetaModelTrainer(
            settings, registry, xgb_params=self.model_training_parameters, alert=self._alert
        )
        self.horizon_candles = settings.exits.max_holding_candles
        self.outcomes: dict[str, WindowOutcomes] = {}  # per pair, from train() to fit()

    def train(self, unfiltered_df: DataFrame, pair: str, dk: FreqaiDataKitchen, **kwargs) -> Any:
        # A label may read candles past the window's end, the period this model will
        # predict: purge those events. Keep the outcome columns for fit().
        unfiltered_df = purge_label_horizon(unfiltered_df, self.horizon_candles)
        self.outcomes[pair] = WindowOutcomes.from_frame(unfiltered_df)
        return super().train(unfiltered_df, pair, dk, **kwargs)

    def define_data_pipeline(self, threads: int = -1) -> Pipeline:
        # No scaling and no feature dropping: trees do not need scaling, and a fixed
        # feature set lets the incumbent model score a later window (model lifecycle).
        return Pipeline([])

    def fit(self, data_dictionary: dict, dk: FreqaiDataKitchen, **kwargs) -> Any:
        outcomes = self.outcomes.pop(dk.pair)
        window = TrainingWindow.from_freqai(data_dictionary, outcomes, self.freqai_info)
        return self.trainer.fit(dk.pair, window, Path(dk.data_path))

    def rollback(self, pair: str, reasons: list[str]) -> bool:
        """Put the previously promoted model of ``pair`` back in charge (live rollback).

        Returns False, with an alert, when there is no earlier model to go back to.
        """
        model = self.trainer.registry.rollback(pair, reasons)
        if model is None:
            return False
        self.dd.model_dictionary[pair] = model
        return True

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
        if self.data_provider is not None:
            self.data_provider.send_msg(message, always_send=True)
