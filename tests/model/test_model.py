"""The meta-model estimator: string classes, imbalance weighting, refusals, determinism."""

import numpy as np
import pytest

from metalabel.config import Calibration, ModelSettings
from metalabel.model.classifier import (
    CLASS_NAMES,
    InsufficientTrainingDataError,
    MetaLabelModel,
    NeutralModel,
)
from metalabel.model.cv import HOUR_NS, EventSpans


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 4))
    # "take" when the first feature is high: learnable, about 30% positives
    labels = np.where(features[:, 0] + 0.3 * rng.normal(size=n) > 0.5, "take", "skip")
    return features, labels.astype(object)


def test_fit_predicts_string_classes_in_predict_proba_order() -> None:
    x, y = _data(600)
    model = MetaLabelModel(ModelSettings(), {"n_estimators": 50}).fit(x[:500], y[:500])
    assert list(model.classes_) == CLASS_NAMES == ["skip", "take"]
    proba = model.predict_proba(x[500:])
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # the confidence column ranks the learnable signal
    take = proba[:, 1]
    assert take[x[500:, 0] > 1].mean() > take[x[500:, 0] < 0].mean()
    assert set(model.predict(x[500:])) <= {"skip", "take"}


def test_same_seed_same_model() -> None:
    x, y = _data(400)
    first = MetaLabelModel(ModelSettings(seed=7)).fit(x, y).predict_proba(x)
    second = MetaLabelModel(ModelSettings(seed=7)).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, second)


def test_class_imbalance_is_weighted() -> None:
    x, y = _data(400)
    model = MetaLabelModel(ModelSettings()).fit(x, y)
    positives = (y == "take").sum()
    expected = (len(y) - positives) / positives
    assert model.booster_.get_params()["scale_pos_weight"] == pytest.approx(expected)


def _spans(n: int, hours: int, seed: int = 0) -> EventSpans:
    """An event every hour, each trade open ``hours`` hours: runs of overlapping trades."""
    entry = np.arange(n, dtype=np.int64) * HOUR_NS
    return EventSpans(entry, entry + hours * HOUR_NS)


def test_purged_folds_choose_the_trees_and_give_out_of_fold_confidence() -> None:
    x, y = _data(600)
    model = MetaLabelModel(ModelSettings(), {"n_estimators": 80}).fit(x, y, spans=_spans(600, 6))
    cv = model.cv_
    assert cv.folds_used == 5 and 1 <= cv.n_estimators <= 80
    assert model.booster_.get_params()["n_estimators"] == cv.n_estimators
    assert np.isfinite(cv.oof_confidence).all()  # every row is in one test block
    # out of fold the learnable signal still ranks, and beats the base rate
    assert cv.auc is not None and cv.auc > 0.8
    assert cv.brier is not None and cv.base_rate_brier is not None
    assert cv.brier < cv.base_rate_brier


def test_overlapping_trades_weigh_by_their_uniqueness() -> None:
    x, y = _data(300)
    lone = MetaLabelModel(ModelSettings(), {"n_estimators": 20}).fit(x, y, spans=_spans(300, 0))
    few = ModelSettings(min_training_events=20)  # 300 events in runs of ten: worth ~30
    runs = MetaLabelModel(few, {"n_estimators": 20}).fit(x, y, spans=_spans(300, 9))
    # equal weights with lone trades; in runs of ten the edges weigh more than the middle,
    # which changes the fitted model
    assert not np.allclose(lone.predict_proba(x), runs.predict_proba(x))
    with pytest.raises(ValueError, match="10 event spans for 300 events"):
        MetaLabelModel(ModelSettings()).fit(x, y, spans=_spans(10, 1))


def test_the_calibration_is_fitted_on_out_of_fold_predictions_only() -> None:
    x, y = _data(800)
    for method in (Calibration.ISOTONIC, Calibration.SIGMOID):
        model = MetaLabelModel(ModelSettings(calibration=method), {"n_estimators": 50}).fit(x, y)
        assert model.calibrator_ is not None and model.calibrator_.method is method
        raw = model.cv_.oof_raw
        np.testing.assert_allclose(model.cv_.oof_confidence, model.calibrator_(raw))
        proba = model.predict_proba(x)
        assert ((proba >= 0) & (proba <= 1)).all()
    none = MetaLabelModel(ModelSettings(calibration=Calibration.NONE), {"n_estimators": 50})
    uncalibrated = none.fit(x, y)
    assert uncalibrated.calibrator_ is None
    np.testing.assert_array_equal(uncalibrated.cv_.oof_confidence, uncalibrated.cv_.oof_raw)


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (["take"] * 60, "one class"),  # a single class: nothing to learn
        (["take", "skip"] * 10, "fewer than min_training_events"),  # 20 < 50 events
    ],
)
def test_untrainable_windows_are_refused(labels: list[str], reason: str) -> None:
    x = np.zeros((len(labels), 3))
    with pytest.raises(InsufficientTrainingDataError, match=reason):
        MetaLabelModel(ModelSettings()).fit(x, np.array(labels, dtype=object))


def test_unknown_labels_are_an_error() -> None:
    with pytest.raises(ValueError, match="labels must be"):
        MetaLabelModel(ModelSettings()).fit(np.zeros((60, 2)), np.array(["buy"] * 60))


def test_neutral_model_never_takes_a_trade() -> None:
    model = NeutralModel("one class")
    proba = model.predict_proba(np.zeros((3, 5)))
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    assert list(model.classes_) == CLASS_NAMES


def test_a_window_of_few_effective_events_is_refused() -> None:
    # 120 events whose trades all overlap in runs of 10: worth about 12 independent ones
    x, y = _data(120)
    entry = np.repeat(np.arange(12), 10).astype(np.int64) * 30 * HOUR_NS
    spans = EventSpans(entry, entry + 5 * HOUR_NS)
    with pytest.raises(InsufficientTrainingDataError, match=r"worth 12\.0 independent ones"):
        MetaLabelModel(ModelSettings()).fit(x, y, spans=spans)
