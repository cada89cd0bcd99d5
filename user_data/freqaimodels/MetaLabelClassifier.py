"""FreqAI model plugin: the meta-model that decides which primary signals to take.

Glue only: training logic lives in ``metalabel.model``. Loaded by freqtrade with
``--freqaimodel MetaLabelClassifier`` (or ``"freqaimodel"`` in the config).
"""

import logging
from typing import Any

from freqtrade.freqai.base_models.BaseClassifierModel import BaseClassifierModel
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

from metalabel.config import load_config
from metalabel.model import InsufficientTrainingDataError, MetaLabelModel, NeutralModel

logger = logging.getLogger(__name__)


class MetaLabelClassifier(BaseClassifierModel):
    """XGBoost meta-model on string labels "skip"/"take"; "take" is the confidence."""

    def fit(self, data_dictionary: dict, dk: FreqaiDataKitchen, **kwargs) -> Any:
        settings = load_config(self.config).model
        test_size = self.freqai_info.get("data_split_parameters", {}).get("test_size", 0.1)
        has_eval = test_size != 0 and len(data_dictionary.get("test_labels", [])) > 0
        try:
            return MetaLabelModel(settings, self.model_training_parameters).fit(
                data_dictionary["train_features"].to_numpy(),
                data_dictionary["train_labels"].to_numpy()[:, 0],
                eval_features=(data_dictionary["test_features"].to_numpy() if has_eval else None),
                eval_labels=(data_dictionary["test_labels"].to_numpy()[:, 0] if has_eval else None),
                sample_weight=data_dictionary["train_weights"],
            )
        except InsufficientTrainingDataError as err:
            # No trades from this window rather than a crashed bot or backtest.
            logger.warning(
                "Meta-model for %s not trained (%s): no trades until the next retrain", dk.pair, err
            )
            return NeutralModel(str(err))
