"""The meta gate of a research fold: trained in the fold's training window only."""

import pandas as pd

from metalabel.evaluation.research import meta_gate, nested
from tests.evaluation.research.conftest import research_data, research_fold_of

XGB = {"n_estimators": 40, "max_depth": 3}


def _gate(data: nested.ResearchData) -> meta_gate.MetaFold:
    fold = research_fold_of()
    return meta_gate.meta_fold(data, nested.feature_frames(data), fold, data.base, xgb_params=XGB)


def test_the_threshold_comes_from_the_training_window_only() -> None:
    fold = research_fold_of()
    clean = _gate(research_data())
    assert clean.train_events > 100  # a model was really trained
    assert set(clean.threshold_scores) == set(meta_gate.THRESHOLDS)
    outer_corrupted = _gate(research_data(corrupt_from=fold.test_start))
    assert outer_corrupted.threshold_scores == clean.threshold_scores
    assert outer_corrupted.train_events == clean.train_events
    # the check can fail: corrupting the training window's last weeks moves the scores
    leaked = _gate(research_data(corrupt_from=fold.train_end - pd.Timedelta(days=40)))
    assert leaked.threshold_scores != clean.threshold_scores


def test_gated_trades_are_fewer_than_or_equal_to_the_signals_admitted() -> None:
    data = research_data()
    fold = research_fold_of()
    gate = _gate(data)
    ungated = nested.trade_fold(data, nested.feature_frames(data), fold, data.base)
    assert len(gate.trades) <= len(ungated) + data.max_open_trades
    assert (gate.trades["open_date"] >= fold.test_start).all()
