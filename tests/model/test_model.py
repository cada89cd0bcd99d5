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


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 4))
    # "take" when the first feature is high: learnable, about 30% positives
    labels = np.where(features[:, 0] + 0.3 * rng.normal(size=n) > 0.5, "take", "skip")
    return features, labels.astype(object)


def test_fit_predicts_string_classes_in_predict_proba_order() -> None:
    x, y = _data(600)
    model = MetaLabelModel(ModelSettings(), {"n_estimators": 50}).fit(
        x[:500], y[:500], eval_features=x[500:], eval_labels=y[500:]
    )
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


def test_isotonic_calibration_on_the_validation_split() -> None:
    x, y = _data(800)
    settings = ModelSettings(calibration=Calibration.ISOTONIC)
    model = MetaLabelModel(settings, {"n_estimators": 50}).fit(
        x[:600], y[:600], eval_features=x[600:], eval_labels=y[600:]
    )
    assert model.calibrator_ is not None
    proba = model.predict_proba(x[600:])
    assert ((proba >= 0) & (proba <= 1)).all()


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
