"""The model registry: versions, the incumbent, promotion, rollback and its log."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

from metalabel.config import LifecycleSettings
from metalabel.model.classifier import NeutralModel
from metalabel.model.lifecycle import LIFECYCLE_LOG, Decision, rollback_target
from metalabel.model.registry import Holdout, ModelRegistry

PAIR = "BTC/USDT:USDT"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# the keys the walk-forward report and the live rollback check read, in this order
REVIEW_KEYS = [
    "time",
    "pair",
    "window_end",
    "candidate_version",
    "incumbent_version",
    "decision",
    "reasons",
    "active_version",
    "candidate_holdout",
    "incumbent_holdout",
    "judged_events",
    "active_holdout",
    "model_path",
]


class FixedConfidence:
    """A model whose "take" probability is given per hold-out row."""

    def __init__(self, confidence: list[float]) -> None:
        self.confidence = np.asarray(confidence, dtype=np.float64)

    def predict_proba(self, features: Any) -> np.ndarray:
        take = self.confidence[: len(features)]
        return np.column_stack([1 - take, take])


# 120 hold-out events: alternate +2 % / -1 % outcomes
RETURNS = np.array([0.02, -0.01] * 60)
HOLDOUT = Holdout(np.zeros((120, 1)), RETURNS, threshold=0.6)
TAKES_ALL = FixedConfidence([0.9] * 120)
TAKES_LOSERS = FixedConfidence([0.1, 0.9] * 60)
TAKES_BETTER = FixedConfidence([0.9, 0.9] * 10 + [0.9, 0.1] * 50)  # 60 winners, 10 losers


def _registry(folder: Path, alerts: list[str], **settings: Any) -> ModelRegistry:
    return ModelRegistry(
        folder, LifecycleSettings(**settings), alert=alerts.append, clock=lambda: T0
    )


def _save(folder: Path, model: Any) -> Path:
    """As FreqAI's data drawer saves a model: one ``*_model.joblib`` per folder."""
    folder.mkdir(parents=True)
    with (folder / f"cb_btc_{folder.name}_model.joblib").open("wb") as handle:
        cloudpickle.dump(model, handle)
    return folder


def test_the_first_model_is_promoted_and_logged(tmp_path: Path) -> None:
    alerts: list[str] = []
    registry = _registry(tmp_path, alerts)
    review = registry.review(PAIR, TAKES_ALL, HOLDOUT, window_end="w1", model_path=tmp_path / "a")
    assert review.model is TAKES_ALL and review.promoted
    [line] = (tmp_path / LIFECYCLE_LOG).read_text().splitlines()
    event = json.loads(line)
    assert list(event) == REVIEW_KEYS
    assert event["decision"] == "promote" and event["candidate_version"] == 1
    assert event["incumbent_version"] is None and event["incumbent_holdout"] is None
    assert event["time"] == T0.isoformat() and event["model_path"] == str(tmp_path / "a")
    # 120 trades of +2 % and -1 %: profit factor 2, win rate 1/2
    assert event["active_holdout"]["trades"] == 120 and event["judged_events"] == 120
    assert event["active_holdout"]["profit_factor"] == pytest.approx(2.0)
    assert registry.incumbent(PAIR).version == 1  # type: ignore[union-attr]
    assert alerts == []


def test_a_worse_candidate_is_refused_and_the_incumbent_keeps_predicting(
    tmp_path: Path,
) -> None:
    alerts: list[str] = []
    registry = _registry(tmp_path, alerts)
    registry.review(PAIR, TAKES_BETTER, HOLDOUT, window_end="w1", model_path=tmp_path / "a")
    review = registry.review(PAIR, TAKES_ALL, HOLDOUT, window_end="w2", model_path=tmp_path / "b")
    assert review.model is TAKES_BETTER and not review.promoted
    event = review.event
    assert (event.candidate_version, event.incumbent_version, event.active_version) == (2, 1, 1)
    assert event.decision is Decision.REFUSE
    # profit factor 2 against 12 (60 x 2 % over 10 x 1 %)
    assert any("profit factor 2.000 < 0.9x incumbent 12.000" in r for r in event.reasons)
    assert event.active_holdout == event.incumbent_holdout
    assert alerts == [
        f"Model lifecycle {PAIR}: candidate v2 refused ({'; '.join(event.reasons)}); v1 predicts"
    ]
    # a better one replaces it: versions keep counting from the log
    review = registry.review(PAIR, TAKES_BETTER, HOLDOUT, window_end="w3", model_path=tmp_path)
    assert review.promoted and review.event.candidate_version == 3


def test_an_untrained_candidate_is_refused_unless_there_is_no_model(tmp_path: Path) -> None:
    registry = _registry(tmp_path, [])
    neutral = NeutralModel("12 labelled events")
    first = registry.review(PAIR, neutral, HOLDOUT, window_end="w1", model_path=tmp_path)
    # refused, but the bot needs a model: the neutral one predicts (no trades)
    assert first.event.decision is Decision.REFUSE and first.promoted
    assert first.event.reasons == ("candidate not trained: 12 labelled events",)
    registry.review(PAIR, TAKES_ALL, HOLDOUT, window_end="w2", model_path=tmp_path)
    later = registry.review(PAIR, neutral, HOLDOUT, window_end="w3", model_path=tmp_path)
    assert later.model is TAKES_ALL and later.event.active_version == 2


def test_with_lifecycle_checks_disabled_every_candidate_is_promoted(tmp_path: Path) -> None:
    registry = _registry(tmp_path, [], enabled=False)
    registry.review(PAIR, TAKES_BETTER, HOLDOUT, window_end="w1", model_path=tmp_path)
    review = registry.review(PAIR, TAKES_LOSERS, HOLDOUT, window_end="w2", model_path=tmp_path)
    assert review.model is TAKES_LOSERS
    assert review.event.reasons == ("lifecycle checks disabled",)


def test_rollback_loads_the_previous_promoted_model_from_its_folder(tmp_path: Path) -> None:
    alerts: list[str] = []
    registry = _registry(tmp_path, alerts)
    first = _save(tmp_path / "sub-train-BTC_1", TAKES_ALL)
    second = _save(tmp_path / "sub-train-BTC_2", TAKES_BETTER)
    registry.review(PAIR, TAKES_ALL, HOLDOUT, window_end="w1", model_path=first)
    registry.review(PAIR, TAKES_BETTER, HOLDOUT, window_end="w2", model_path=second)
    registry.review(PAIR, TAKES_LOSERS, HOLDOUT, window_end="w3", model_path=tmp_path / "x")

    model = registry.rollback(PAIR, ["live Sharpe collapsed"])
    assert isinstance(model, FixedConfidence)
    np.testing.assert_array_equal(model.confidence, TAKES_ALL.confidence)
    assert registry.incumbent(PAIR).version == 1  # type: ignore[union-attr]
    event = registry.log.read()[-1]
    assert list(event) == [
        "time",
        "pair",
        "decision",
        "reasons",
        "active_version",
        "active_holdout",
        "model_path",
    ]
    assert (event["decision"], event["active_version"]) == ("rollback", 1)
    assert event["model_path"] == str(first)
    assert alerts[-1] == f"Model rollback {PAIR}: back to v1 (live Sharpe collapsed)"
    # nothing older than v1: refused with an alert, nothing logged
    assert registry.rollback(PAIR, ["again"]) is None
    assert "no earlier model" in alerts[-1]
    assert rollback_target(registry.log.read(), PAIR) is None


def test_an_unreadable_rollback_model_is_refused_with_the_file_named(tmp_path: Path) -> None:
    alerts: list[str] = []
    registry = _registry(tmp_path, alerts)
    first = _save(tmp_path / "sub-train-BTC_1", TAKES_ALL)
    registry.review(PAIR, TAKES_ALL, HOLDOUT, window_end="w1", model_path=first)
    registry.review(PAIR, TAKES_BETTER, HOLDOUT, window_end="w2", model_path=tmp_path)
    model_file = next(first.glob("*_model.joblib"))
    model_file.write_bytes(b"not a model")
    events = len(registry.log.read())

    assert registry.rollback(PAIR, ["live drawdown"]) is None
    assert str(model_file) in alerts[-1] and "failed" in alerts[-1]
    assert len(registry.log.read()) == events
    assert registry.incumbent(PAIR).version == 2  # type: ignore[union-attr]


def test_only_rows_after_the_incumbents_window_are_judged_until_they_hold_enough_trades(
    tmp_path: Path,
) -> None:
    hour = 3_600_000_000_000
    registry = _registry(tmp_path, [])
    # the first window's rows run to hour 119: the incumbent is trained until then
    first = Holdout(np.zeros((120, 1)), RETURNS, 0.6, dates=np.arange(120) * hour)
    registry.review(PAIR, TAKES_ALL, first, window_end="w1", model_path=tmp_path)
    # the next window (hours 60..179) has 60 rows after hour 119: the candidate's
    # out-of-fold confidence takes 30 of them, too few to judge
    dates = np.arange(60, 180) * hour
    confidence = np.where(np.arange(120) % 2 == 0, 0.9, 0.1)  # winners only
    second = Holdout(np.zeros((120, 1)), RETURNS, 0.6, dates=dates, candidate_confidence=confidence)
    review = registry.review(PAIR, NeverTakes(), second, window_end="w2", model_path=tmp_path)
    assert review.event.judged_events == 60 and review.event.decision is Decision.REFUSE
    assert review.event.reasons[0].startswith("30 hold-out trades < 50: too few to judge")
    # a window later the incumbent (still trained until hour 119) faces 120 new rows
    third = Holdout(
        np.zeros((120, 1)), RETURNS, 0.6, dates=np.arange(120, 240) * hour,
        candidate_confidence=confidence,
    )  # fmt: skip
    review = registry.review(PAIR, NeverTakes(), third, window_end="w3", model_path=tmp_path)
    assert review.event.judged_events == 120 and review.promoted
    assert review.event.candidate_holdout["trades"] == 60  # the out-of-fold confidence


class NeverTakes(FixedConfidence):
    """A candidate whose own predictions take nothing: only its confidence array counts."""

    def __init__(self) -> None:
        super().__init__([0.0] * 120)
