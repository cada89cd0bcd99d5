"""Variants scored inside the training windows: only fit rows read, paired comparison."""

import numpy as np
import pandas as pd
import pytest

from metalabel.config import MetalabelConfig, ModelSettings
from metalabel.evaluation.model_selection import WindowScore, compare, score_windows
from metalabel.evaluation.tuning import training_folds

XGB = {"n_estimators": 30, "n_jobs": 1}


def _events(seed: int, days: int = 300) -> pd.DataFrame:
    """A signal every 5 hours; "%-edge" tells winners from losers, mostly."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days * 24 // 5, freq="5h", tz="UTC")
    edge = rng.normal(size=len(dates))
    net = np.where(edge + rng.normal(scale=0.8, size=len(dates)) > 0, 0.02, -0.01)
    return pd.DataFrame(
        {
            "date": dates,
            "%-edge": edge,
            "%-noise": rng.normal(size=len(dates)),
            "label": np.where(net > 0, "take", "skip"),
            "net_return": net,
            "exit_time": dates + pd.Timedelta(hours=4),
        }
    )


@pytest.fixture(scope="module")
def events() -> dict[str, pd.DataFrame]:
    return {"A": _events(1), "B": _events(2)}


def test_both_variants_score_every_window_out_of_fold(events: dict[str, pd.DataFrame]) -> None:
    folds = training_folds(events, MetalabelConfig(), 2, 120, 30)
    settings = ModelSettings(min_training_events=20)
    per_pair = score_windows(events, folds, settings, XGB, variant="per_pair")
    pooled = score_windows(events, folds, settings, XGB, variant="pooled")
    assert [s.train_start for s in per_pair] == [f.train_start for f in folds]
    for a, b in zip(per_pair, pooled, strict=True):
        assert a.events == b.events > 500  # the same rows: both pairs' fit rows
        assert a.auc is not None and a.auc > 0.75  # the edge is learnable out of fold
        assert b.auc is not None and b.auc > 0.75
        assert a.brier is not None and a.base_rate_brier is not None
        assert a.brier < a.base_rate_brier
    result = compare(per_pair, pooled, ("per_pair", "pooled"))
    assert result.windows == 2 and result.difference_ci95[0] <= result.difference


def test_no_row_of_a_test_window_is_read(events: dict[str, pd.DataFrame]) -> None:
    folds = training_folds(events, MetalabelConfig(), 1, 120, 30)
    settings = ModelSettings(min_training_events=20)
    clean = score_windows(events, folds, settings, XGB, variant="pooled")
    corrupted = {}
    for pair, frame in events.items():
        test = frame["date"] >= folds[0].train_end  # the purge gap and the test window
        corrupted[pair] = frame.assign(
            **{
                "%-edge": frame["%-edge"].where(~test, 1e9),
                "label": frame["label"].where(~test, "take"),
            }
        )
    assert score_windows(corrupted, folds, settings, XGB, variant="pooled") == clean


def test_bad_variants_and_empty_comparisons_are_refused(events: dict[str, pd.DataFrame]) -> None:
    folds = training_folds(events, MetalabelConfig(), 1, 120, 30)
    with pytest.raises(ValueError, match="variant must be one of"):
        score_windows(events, folds, ModelSettings(), XGB, variant="both")
    unscored = [WindowScore(folds[0].train_start, 0, None, None, None)]
    with pytest.raises(ValueError, match="no window was scored by both"):
        compare(unscored, unscored, ("a", "b"))
