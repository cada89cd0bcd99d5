"""Walk-forward folds, the fold score, the seeded study and ``metalabel tune --write``."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metalabel.config import MetalabelConfig, load_config
from metalabel.core.pipeline import labelled_events, load_bundle
from metalabel.evaluation.folds import Fold, walk_forward_folds
from metalabel.evaluation.tuning import (
    FEW_TRADES_SCORE,
    THRESHOLD_KEY,
    TUNED_XGB_KEYS,
    TuneResult,
    _split_pair,
    config_with_result,
    fold_score,
    purge_gap_candles,
    tune_events,
)
from metalabel.ops.cli import main
from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG

PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
T = pd.Timestamp


def _utc(text: str) -> pd.Timestamp:
    return T(text, tz="UTC")


def test_purge_gap_is_the_label_horizon_plus_the_exit_candle() -> None:
    # an event at candle i may exit at the open of i + 1 + 24
    assert purge_gap_candles(MetalabelConfig()) == 25


def test_split_keeps_the_fit_rows_of_the_training_window_with_their_trades() -> None:
    dates = pd.date_range("2024-01-01", "2024-01-11", freq="h", tz="UTC", inclusive="left")
    rng = np.random.default_rng(0)
    events = pd.DataFrame(
        {
            "date": dates,
            "%-a": rng.normal(size=len(dates)),
            "%-constant": 1.0,
            "label": np.where(np.arange(len(dates)) % 3 == 0, "take", "skip"),
            "net_return": np.arange(len(dates), dtype=float),
            "exit_time": dates + pd.Timedelta(hours=3),
        }
    )
    fold = walk_forward_folds(
        dates[0], dates[-1] + pd.Timedelta(hours=1), train_days=4, test_days=2, purge_candles=24
    )[0]
    split = _split_pair(events, fold, test_size=0.2)
    assert split is not None
    # 01-01 00:00 .. 01-03 23:00 train (72 rows); FreqAI's last ceil(0.2 * 72) = 15 are
    # its hold-out, so the model fits the first 57; nothing of the test window is there
    assert len(split.fit_y) == 57
    assert split.fit_returns.tolist() == list(range(57))
    # each trade from the next candle's open to its exit, 3 h after the signal candle
    hour = 3_600_000_000_000
    np.testing.assert_array_equal(split.fit_spans.exit - split.fit_spans.entry, [2 * hour] * 57)
    assert split.fit_x.shape == (57, 2)  # features as the plugin sees them: unscaled


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        # mean 0.005, std (ddof 1) sqrt(0.0015 / 11) = 0.011677: Sharpe 0.4282 x sqrt(12)
        ([0.01, -0.01, 0.02, 0.0] * 3, 1.4832),
        ([-0.01, 0.01, -0.02, 0.0] * 3, -1.4832),  # the losing mirror
        ([0.02] * 9, FEW_TRADES_SCORE),  # fewer than 10 trades
        ([], FEW_TRADES_SCORE),  # sat the fold out
        ([0.01] * 12, FEW_TRADES_SCORE),  # no spread: no Sharpe
    ],
)
def test_fold_score(returns: list[float], expected: float) -> None:
    assert fold_score(returns) == pytest.approx(expected, abs=1e-3)


@pytest.fixture(scope="module")
def events() -> dict[str, pd.DataFrame]:
    """Real labelled events of both pairs, Jan to Jul 2024 (small and quick)."""
    frames = {}
    for pair in PAIRS:
        bundle = load_bundle(BUNDLED_DATA, pair)
        candles = bundle.candles_1h[bundle.candles_1h["date"] < "2024-07-01"]
        bundle = replace(bundle, candles_1h=candles.reset_index(drop=True))
        frames[pair] = labelled_events(bundle, MetalabelConfig())
    return frames


def _tune(events: dict[str, pd.DataFrame], **kwargs: object) -> TuneResult:
    options: dict = {
        "config_training_params": {"n_estimators": 100, "max_depth": 3, "n_jobs": 1},
        "trials": 3,
        "timeout_seconds": 120,
        "seed": 7,
        "folds_limit": 2,
        "train_days": 60,
        "test_days": 30,
        **kwargs,
    }
    return tune_events(events, MetalabelConfig(), **options)


def test_same_seed_same_best_parameters(events: dict[str, pd.DataFrame]) -> None:
    first = _tune(events)
    second = _tune(events)
    assert first.trials_run == second.trials_run == 3
    assert first.best_params == second.best_params
    assert first.best_score == second.best_score
    assert first.fold_scores == second.fold_scores
    assert len(first.folds) == len(first.fold_scores) == 2
    assert first.best_score == pytest.approx(np.mean(first.fold_scores))
    assert set(first.training_params) == set(TUNED_XGB_KEYS)
    assert 0.5 <= first.confidence_threshold <= 0.8
    # the baseline is the config's own parameters and threshold
    assert first.baseline_params == {
        "n_estimators": 100,
        "max_depth": 3,
        "n_jobs": 1,
        THRESHOLD_KEY: 0.6,
    }
    assert first.baseline_score == pytest.approx(np.mean(first.baseline_fold_scores))
    assert math.isfinite(first.signals_score)


def test_time_budget_stops_the_study(events: dict[str, pd.DataFrame]) -> None:
    # the budget is checked after each trial: a spent budget stops after the first one
    result = _tune(events, trials=1000, timeout_seconds=0.0, folds_limit=1)
    assert result.trials_run == 1


def _result(**params: float) -> TuneResult:
    best = {
        "max_depth": 5,
        "learning_rate": 0.0321,
        "n_estimators": 400,
        "min_child_weight": 2.5,
        "subsample": 0.8,
        "colsample_bytree": 0.65,
        "reg_lambda": 3.1,
        THRESHOLD_KEY: 0.66,
        **params,
    }
    fold = Fold(0, _utc("2024-01-01"), _utc("2024-06-28"), _utc("2024-06-29"), _utc("2024-07-29"))
    return TuneResult(best, 0.5, 3, (0.5,), (20,), {}, 0.1, (0.1,), (15,), -0.2, (fold,))


def test_config_with_result_changes_only_the_tuned_keys() -> None:
    config = json.loads(MAIN_CONFIG.read_text())
    updated, changed = config_with_result(config, _result())
    prefix = "freqai.model_training_parameters."
    assert changed == [
        *(prefix + key for key in ("max_depth", "learning_rate", "n_estimators")),
        *(prefix + key for key in ("min_child_weight", "colsample_bytree", "reg_lambda")),
        "metalabel.model.confidence_threshold",
    ]  # subsample is 0.8 already: not a change
    params = updated["freqai"]["model_training_parameters"]
    # existing keys keep their place (n_jobs stays), new ones come last
    old_keys = list(config["freqai"]["model_training_parameters"])
    assert list(params)[: len(old_keys)] == old_keys
    assert set(params) == {*old_keys, *TUNED_XGB_KEYS}
    assert params["n_jobs"] == 1
    assert updated["metalabel"]["model"]["confidence_threshold"] == 0.66
    assert config["metalabel"]["model"]["confidence_threshold"] == 0.6  # input untouched
    load_config(updated)


def test_tune_write_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(MAIN_CONFIG.read_text())
    before = json.loads(config_path.read_text())

    argv = ["tune", "--trials", "1", "--timeout", "60", "--seed", "3", "--folds-limit", "1"]
    code = main([*argv, "--config", str(config_path), "--write"])
    output = capsys.readouterr().out

    assert code == 0
    assert "best score" in output and "baseline score" in output
    after = json.loads(config_path.read_text())
    load_config(after)  # still a valid config
    params = after["freqai"]["model_training_parameters"]
    assert set(TUNED_XGB_KEYS) <= set(params)
    assert params["n_jobs"] == 1
    changed_line = next(line for line in output.splitlines() if "changed:" in line)
    assert "freqai.model_training_parameters.reg_lambda" in changed_line  # a new key
    # everything else is untouched, in the same order
    assert list(after) == list(before)
    assert list(after["freqai"]) == list(before["freqai"])
    for key in before:
        if key not in ("freqai", "metalabel"):
            assert after[key] == before[key], key
    assert {k: v for k, v in after["freqai"].items() if k != "model_training_parameters"} == {
        k: v for k, v in before["freqai"].items() if k != "model_training_parameters"
    }
    before["metalabel"]["model"].pop(THRESHOLD_KEY)
    threshold = after["metalabel"]["model"].pop(THRESHOLD_KEY)
    assert after["metalabel"] == before["metalabel"]
    assert 0.5 <= threshold <= 0.8
    assert config_path.read_text().startswith('{\n    "$schema"')  # indent 4
