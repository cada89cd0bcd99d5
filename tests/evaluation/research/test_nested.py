"""Nested research on small synthetic candles: fold bounds, the purge, and that no outer
fold's data can reach the choice of its settings."""

from pathlib import Path

import pandas as pd
import pytest

from metalabel.config import load_config
from metalabel.evaluation.research import nested
from tests.evaluation.research.conftest import research_data, research_fold_of


def test_outer_folds_tile_the_timerange_with_purged_training_windows() -> None:
    start = pd.Timestamp("2025-07-01", tz="UTC")
    folds = nested.outer_folds(start, start + pd.Timedelta(days=95), purge=97)
    assert [f.test_start for f in folds] == [start + pd.Timedelta(days=30 * k) for k in range(3)]
    for f in folds:
        assert f.test_end - f.test_start == pd.Timedelta(days=30)
        assert f.train_start == f.test_start - pd.Timedelta(days=180)
        assert f.test_start - f.train_end == pd.Timedelta(hours=97)  # the label horizon


def test_purge_is_the_longest_holding_the_space_allows_plus_the_exit_candle() -> None:
    space = nested.research_space()
    assert (
        nested.purge_candles(space, load_config({})) == int(space["max_holding_candles"].high) + 1
    )


def test_research_space_leaves_the_model_knobs_out() -> None:
    space = nested.research_space()
    assert "confidence_threshold" not in space and "max_depth" not in space
    assert "stop_loss_ratio" in space and "adx_threshold" in space


def test_inner_folds_cover_the_training_window_and_drop_a_short_tail() -> None:
    fold = nested.outer_folds(
        pd.Timestamp("2025-07-01", tz="UTC"), pd.Timestamp("2025-07-31", tz="UTC"), purge=97
    )[0]
    inner = nested.inner_folds(fold)
    assert inner[0].test_start == fold.train_start
    assert all(f.test_end <= fold.train_end for f in inner)
    # 180 days - 97 h = 175.96 days: five 30-day folds and a 25.96-day one (kept, > 15)
    assert [round(f.test_days, 2) for f in inner] == [30.0] * 5 + [25.96]


def test_the_window_of_a_study_holds_nothing_after_its_end() -> None:
    data = research_data()
    fold = research_fold_of()
    window = nested.cut_window(data, nested.feature_frames(data), fold.train_start, fold.train_end)
    end_ns = fold.train_end.value
    assert window.market.time_ns[window.market.present.any(axis=0)].max() == end_ns
    assert all(frame["date"].max() == fold.train_end for frame in window.frames)


def _choose(data: nested.ResearchData, fold: nested.Fold, tmp_path: Path, name: str) -> tuple:
    spec = nested.RunSpec(
        storage_url=f"sqlite:///{tmp_path / 'studies.sqlite3'}",
        study=name,
        trials=12,
        space=nested.research_space(),
        seed=7,
    )
    result = nested.research_fold(data, nested.feature_frames(data), fold, spec, random_settings=2)
    return result.params, result.outcome.best_value, result


def test_outer_fold_data_cannot_change_the_chosen_settings(tmp_path: Path) -> None:
    fold = research_fold_of()
    params, score, clean = _choose(research_data(), fold, tmp_path, "clean")
    corrupted_params, corrupted_score, corrupted = _choose(
        research_data(corrupt_from=fold.test_start), fold, tmp_path, "outer-corrupted"
    )
    assert corrupted_params == params and corrupted_score == score
    # the corruption is real: the fold traded on it differs
    assert not clean.trades["close_rate"].equals(corrupted.trades["close_rate"])
    # and the check can fail: corrupting the training window changes the search
    _, leaked_score, _ = _choose(
        research_data(corrupt_from=fold.train_end - pd.Timedelta(days=20)),
        fold,
        tmp_path,
        "train-corrupted",
    )
    assert leaked_score != score


def test_a_resumed_study_with_another_base_config_is_refused(tmp_path: Path) -> None:
    from metalabel.evaluation.research.storage import StudyMismatchError

    fold = research_fold_of()
    _choose(research_data(), fold, tmp_path, "same")
    other = research_data()
    other = nested.ResearchData(other.bundles, other.base, max_open_trades=1)
    with pytest.raises(StudyMismatchError, match="same-fold-"):
        _choose(other, fold, tmp_path, "same")


def test_overlay_holds_the_chosen_settings_and_the_scored_mode() -> None:
    base = load_config({})
    overlay = nested.overlay_of(
        {"stop_loss_ratio": 0.012, "reward_risk_ratio": 2.5}, nested.research_space(), base
    )
    block = overlay["metalabel"]
    assert block["mode"] == "primary_regime"
    assert block["exits"]["stop_loss_ratio"] == 0.012
    assert block["exits"]["take_profit_ratio"] == 0.03
    assert "model" not in block
    assert load_config(overlay).exits.take_profit_ratio == 0.03
    assert set(overlay) == {"metalabel"}  # the strategy derives freqtrade's stop itself
