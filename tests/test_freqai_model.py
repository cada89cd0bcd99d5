"""The FreqAI plugin trained on a short real slice through the replay exchange."""

import json
import pickle

import numpy as np

from tests.conftest import BacktestRunner


def test_a_window_trains_on_signal_rows_and_leaves_loadable_artifacts(
    backtest: BacktestRunner,
) -> None:
    _output, _trades, userdir = backtest("20250101-20250201")
    folders = sorted((userdir / "models" / "metalabel-backtest").glob("sub-train-*"))
    assert {f.name.split("_")[0] for f in folders} == {"sub-train-BTC", "sub-train-ETH"}
    for folder in folders:
        meta = json.loads((folder / "metalabel_metadata.json").read_text())
        window = meta["training_window"]
        counts = meta["label_counts"]
        # string classes only, and only labelled signal rows: a few hundred of the
        # ~4,300 hourly candles of a 180-day window
        assert set(counts) == {"skip", "take"}
        assert sum(counts.values()) == window["fit_rows"] + window["holdout_rows"]
        assert 50 < sum(counts.values()) < 2000
        assert sum(meta["barrier_counts"].values()) == sum(counts.values())
        assert window["holdout_start"] > window["start"]
        holdout = meta["holdout"]
        for key in ("auc", "brier", "precision_at_threshold", "recall_at_threshold"):
            assert key in holdout
        for key in ("sharpe", "profit_factor", "max_drawdown", "win_rate"):
            assert key in holdout["filtered_trades"]
        assert meta["features"] == list(meta["feature_importance"])
        assert (folder / "metalabel_training_report.html").stat().st_size > 1000
        # the model FreqAI saved is ours, loads, and predicts string classes
        model_file = next(folder.glob("*_model.joblib"))
        with model_file.open("rb") as handle:
            model = pickle.load(handle)
        assert list(model.classes_) == ["skip", "take"]
        proba = model.predict_proba(np.zeros((3, len(meta["features"]))))
        assert proba.shape == (3, 2)


def test_a_window_without_enough_events_trades_nothing(backtest: BacktestRunner) -> None:
    strict = {"metalabel": {"model": {"min_training_events": 1_000_000}}}
    output, trades, _ = backtest("20250101-20250201", overlays=(strict,))
    flat = " ".join(output.split())
    assert "not trained" in flat and "no trades until the next retrain" in flat
    assert len(trades) == 0
