"""`metalabel research` end to end on the bundled data: one fold, a real freqtrade
confirmation backtest, the report and the overlay."""

import json
from pathlib import Path

import pytest

from metalabel.ops.cli import main


@pytest.mark.slow
def test_research_one_fold_writes_the_report_and_overlay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = tmp_path / "config.research.json"
    code = main(
        [
            "research", "--folds-limit", "1", "--trials", "20", "--random-settings", "5",
            "--storage", f"sqlite:///{tmp_path / 'studies.sqlite3'}", "--study", "e2e",
            "--reports", str(tmp_path / "reports"), "--write-config", str(overlay),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "reports" / "research.json").read_text())
    assert (tmp_path / "reports" / "research.html").read_text().startswith("<!DOCTYPE html>")
    (fold,) = report["folds"]
    assert fold["trials_finished"] == 20 and fold["study"] == "e2e-fold-20260621"
    confirmation = fold["confirmation"]
    assert confirmation["freqtrade_trades"] == confirmation["simulated_trades"] > 0
    assert confirmation["identical"] == confirmation["freqtrade_trades"]  # trade by trade
    assert report["oos"]["trades"] == fold["trades"] > 0
    assert report["deflated_sharpe"]["trials"] == 20
    assert set(report) >= {"oos", "targets", "deflated_sharpe", "chance_test", "stability"}
    assert json.loads(overlay.read_text()) == report["latest_overlay"]
    assert report["meta"]["oos"]["trades"] == fold["meta"]["trades"]
    assert fold["meta"]["threshold"] in report["meta"]["thresholds"]
    assert fold["meta"]["train_events"] > 100
    assert "fold 24 freqtrade 20260621-20260721: trades freqtrade" in out


def test_research_refuses_to_write_config_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["research", "--write-config", str(tmp_path / "config.json")])
    assert code == 1
    assert "never config.json" in capsys.readouterr().out
    assert not (tmp_path / "config.json").exists()


def test_research_refuses_a_bound_on_a_model_knob(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["research", "--bound", "max_depth=2:4"]) == 1
    assert "does not search the model's knobs" in capsys.readouterr().out
