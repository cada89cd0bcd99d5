"""One window through the trainer: candidate, lifecycle decision, artifacts."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metalabel.config import load_config
from metalabel.model.classifier import MetaLabelModel
from metalabel.model.registry import ModelRegistry
from metalabel.model.training import MetaModelTrainer
from metalabel.model.window import (
    BARRIER_COLUMN,
    EXIT_TIME_COLUMN,
    NET_RETURN_COLUMN,
    TrainingWindow,
    WindowOutcomes,
    purge_label_horizon,
)
from tests.model.conftest import FreqaiSplit

PAIR = "BTC/USDT:USDT"
HORIZON = 24


def _frame(rows: int = 800, seed: int = 0) -> pd.DataFrame:
    """Signals on about half the candles; "%-edge" tells winners from losers, mostly."""
    rng = np.random.default_rng(seed)
    edge = rng.normal(size=rows)
    signal = rng.random(rows) < 0.5
    net = np.where(edge + rng.normal(scale=0.8, size=rows) > 0, 0.02, -0.01)
    net = np.where(signal, net, np.nan)
    return pd.DataFrame(
        {
            "date": pd.date_range("2025-01-01", periods=rows, freq="1h", tz="UTC"),
            "%-edge": edge,
            "%-noise": rng.normal(size=rows),
            "&-label": np.where(signal, np.where(net > 0, "take", "skip"), None),
            NET_RETURN_COLUMN: net,
            BARRIER_COLUMN: np.where(signal, np.where(net > 0, "profit", "stop"), None),
            # trades of 1 to 12 hours: neighbouring signals overlap
            EXIT_TIME_COLUMN: pd.Series(
                pd.date_range("2025-01-01", periods=rows, freq="1h", tz="UTC")
                + pd.to_timedelta(rng.integers(2, 14, rows), unit="h")
            )
            .where(signal)
            .to_numpy(),
        },
        index=range(1000, 1000 + rows),
    )


def _window(freqai_split: FreqaiSplit, frame: pd.DataFrame) -> TrainingWindow:
    purged = purge_label_horizon(frame, HORIZON)
    dd, freqai_info = freqai_split(purged, test_size=0.2)
    return TrainingWindow.from_freqai(dd, WindowOutcomes.from_frame(purged), freqai_info)


def _trainer(registry_folder: Path, alerts: list[str], min_events: int = 50) -> MetaModelTrainer:
    config = load_config({"metalabel": {"model": {"min_training_events": min_events}}})
    registry = ModelRegistry(registry_folder, config.lifecycle, alert=alerts.append)
    return MetaModelTrainer(config, registry, xgb_params={"n_estimators": 30}, alert=alerts.append)


def test_a_window_trains_promotes_and_leaves_its_artifacts(
    tmp_path: Path, freqai_split: FreqaiSplit
) -> None:
    frame = _frame()
    alerts: list[str] = []
    trainer = _trainer(tmp_path, alerts)
    folder = tmp_path / "sub-train-BTC_1"

    model = trainer.fit(PAIR, _window(freqai_split, frame), folder)

    assert isinstance(model, MetaLabelModel) and alerts == []
    meta = json.loads((folder / "metalabel_metadata.json").read_text())
    window = meta["training_window"]
    # the events FreqAI keeps: labelled, and not in the last HORIZON + 1 candles
    kept = frame.iloc[: -(HORIZON + 1)].dropna(subset=["&-label"])
    assert window["fit_rows"] + window["holdout_rows"] == len(kept)
    holdout = kept.iloc[window["fit_rows"] :]
    assert window["holdout_start"] == str(holdout["date"].iloc[0])
    # the hold-out figures are those of the outcomes of exactly these rows
    all_signals = meta["holdout"]["all_signals"]
    assert all_signals["trades"] == len(holdout)
    assert all_signals["mean_return"] == pytest.approx(holdout[NET_RETURN_COLUMN].mean())
    assert meta["barrier_counts"] == kept[BARRIER_COLUMN].value_counts().to_dict()
    assert meta["label_counts"] == kept["&-label"].value_counts().to_dict()
    assert meta["lifecycle"] == trainer.registry.log.read()[-1]
    assert meta["lifecycle"]["decision"] == "promote"
    assert (folder / "metalabel_training_report.html").exists()


def test_an_untrainable_window_keeps_the_incumbent_and_says_why(
    tmp_path: Path, freqai_split: FreqaiSplit
) -> None:
    alerts: list[str] = []
    trainer = _trainer(tmp_path, alerts)
    first = trainer.fit(PAIR, _window(freqai_split, _frame()), tmp_path / "sub-train-BTC_1")
    # the same registry; a window with fewer events than min_training_events
    strict = _trainer(tmp_path, alerts, min_events=100_000)
    strict.registry = trainer.registry

    chosen = strict.fit(PAIR, _window(freqai_split, _frame(seed=1)), tmp_path / "sub-train-BTC_2")

    assert chosen is first
    assert "not trained" in alerts[0] and "no trades until the next retrain" in alerts[0]
    assert alerts[1].startswith(f"Model lifecycle {PAIR}: candidate v2 refused")
    event = trainer.registry.log.read()[-1]
    assert (event["decision"], event["active_version"]) == ("refuse", 1)
    assert not (tmp_path / "sub-train-BTC_2").exists()  # no artifacts of a model never trained
