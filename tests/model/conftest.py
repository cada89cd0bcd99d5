"""Shared fixtures of the model tests: FreqAI's own training split of a small frame."""

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from datasieve.pipeline import Pipeline
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen

# (frame, test_size) -> (data_dictionary, the config's freqai block)
FreqaiSplit = Callable[..., tuple[dict[str, Any], dict[str, Any]]]


def _freqai_config(test_size: float) -> dict[str, Any]:
    """The parts of a freqtrade config FreqAI's data kitchen reads to split rows."""
    return {
        "freqai": {
            "feature_parameters": {"shuffle_after_split": False},
            "data_split_parameters": {"test_size": test_size, "shuffle": False},
        },
        "exchange": {"pair_whitelist": ["P"]},
    }


@pytest.fixture
def freqai_split() -> FreqaiSplit:
    """What BaseClassifierModel.train hands fit(): FreqAI's filter, split and pipeline."""

    def split(
        frame: pd.DataFrame, test_size: float = 0.25
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        config = _freqai_config(test_size)
        dk = FreqaiDataKitchen(config, live=True, pair="P")
        features = [c for c in frame.columns if c.startswith("%")]
        labels = [c for c in frame.columns if c.startswith("&")]
        x, y = dk.filter_features(frame, features, labels, training_filter=True)
        dd = dk.make_train_test_datasets(x, y)
        pipeline = Pipeline([])  # as the plugin's: it re-indexes the frames from 0
        dd["train_features"], dd["train_labels"], dd["train_weights"] = pipeline.fit_transform(
            dd["train_features"], dd["train_labels"], dd["train_weights"]
        )
        if test_size:
            dd["test_features"], dd["test_labels"], dd["test_weights"] = pipeline.transform(
                dd["test_features"], dd["test_labels"], dd["test_weights"]
            )
        return dd, config["freqai"]

    return split
