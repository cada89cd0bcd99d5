"""Artifacts of a trained meta-model: per-trade figures, hold-out metrics, the report."""

import json
from pathlib import Path

import numpy as np
import pytest

from metalabel.model.artifacts import (
    calibration_table,
    holdout_metrics,
    per_trade_stats,
    render_report,
    threshold_sweep,
    write_artifacts,
)


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        # two wins of 2% and 3%, one loss of 1%: PF 5, win rate 2/3
        ([0.02, -0.01, 0.03], {"trades": 3, "profit_factor": 5.0, "win_rate": 2 / 3}),
        # no losses: profit factor undefined, not infinite
        ([0.01, 0.02], {"trades": 2, "profit_factor": None, "win_rate": 1.0}),
        # nothing taken
        ([], {"trades": 0, "profit_factor": None, "win_rate": None}),
    ],
)
def test_per_trade_stats(returns: list[float], expected: dict) -> None:
    metrics = per_trade_stats(returns)
    for key, value in expected.items():
        assert metrics[key] == (pytest.approx(value) if value is not None else None)


def test_per_trade_stats_drawdown_of_the_cumulative_returns() -> None:
    # cumulative: 0.02, 0.01, -0.02, 0.0 -> peak 0.02, trough -0.02: drawdown 0.04
    assert per_trade_stats([0.02, -0.01, -0.03, 0.02])["max_drawdown"] == pytest.approx(0.04)


def test_holdout_metrics_by_hand() -> None:
    take = [True, True, False, False]
    confidence = [0.9, 0.4, 0.7, 0.2]
    net = [0.02, 0.01, -0.01, -0.02]
    metrics = holdout_metrics(take, confidence, net, 0.6)
    assert metrics["auc"] == pytest.approx(0.75)
    # taken at 0.6: rows 0 and 2 -> one true positive of two taken, of two positives
    assert metrics["precision_at_threshold"] == 0.5
    assert metrics["recall_at_threshold"] == 0.5
    assert metrics["filtered_trades"]["trades"] == 2
    assert metrics["brier"] == pytest.approx(np.mean([0.01, 0.36, 0.49, 0.04]))


def test_holdout_metrics_single_class_has_no_auc() -> None:
    assert holdout_metrics([True, True], [0.7, 0.8], [0.01, 0.02], 0.6)["auc"] is None


def test_calibration_and_sweep_shapes() -> None:
    rows = calibration_table([1, 0, 1, 1], [0.1, 0.3, 0.75, 0.95], bins=2)
    assert [(r["rows"], r["take_rate"]) for r in rows] == [(2, 0.5), (2, 1.0)]
    sweep = threshold_sweep([0.55, 0.65, 0.75], [0.01, -0.01, 0.02], thresholds=(0.5, 0.7))
    assert [s["trades"] for s in sweep] == [3, 1]


def test_artifacts_are_written_and_loadable(tmp_path: Path) -> None:
    metadata = {
        "model_version": "sub-train-BTC_1",
        "pair": "BTC/USDT:USDT",
        "feature_importance": {"%-rsi": 0.5, "%-adx": 1.0},
        "holdout": holdout_metrics([True, False], [0.7, 0.3], [0.01, -0.01], 0.6),
    }
    meta_path, report_path = write_artifacts(tmp_path / "model", metadata)
    assert json.loads(meta_path.read_text())["pair"] == "BTC/USDT:USDT"
    html = report_path.read_text()
    assert "%-adx" in html and "<script" not in html and "http" not in html
    assert render_report(metadata) == html
