"""The model registry: versions per pair, the incumbent, promotion and rollback.

One registry per FreqAI model plugin instance, over one FreqAI identifier's folder. The
decisions are :mod:`metalabel.model.lifecycle`'s pure functions; this module applies
them: it numbers candidates, keeps the model in charge of each pair, writes every
decision to the JSON-lines log as a typed event, and loads a rolled-back model from the
folder its promotion recorded.

The incumbent lives in memory: after a restart the first retrained candidate has no
incumbent and is promoted (the bot needs a model), exactly as the first model is.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import cloudpickle
import numpy as np
import numpy.typing as npt

from metalabel.config import LifecycleSettings
from metalabel.model.artifacts import per_trade_stats
from metalabel.model.classifier import NeutralModel
from metalabel.model.lifecycle import (
    LIFECYCLE_LOG,
    Decision,
    LifecycleLog,
    Stats,
    Verdict,
    promotion_verdict,
    rollback_target,
)

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
# The file name FreqAI's data drawer gives a saved model, one per model folder.
MODEL_FILE_GLOB = "*_model.joblib"


class Classifier(Protocol):
    """What the registry needs of a model: the "take" probability in column 1."""

    def predict_proba(self, features: Any) -> FloatArray: ...


@dataclass(frozen=True)
class Holdout:
    """The window's labelled rows both models are judged on, with their outcomes.

    ``candidate_confidence`` is the candidate's out-of-sample "take" probability of each
    row (purged out-of-fold on the rows it was fitted on, its prediction on the rows
    after them); without it the candidate predicts every row. ``dates`` (ns) let the
    registry judge only the rows after the incumbent's own training window: those are
    out of sample for both models, and their number grows with every refused retrain
    until the hold-out holds enough trades to judge.
    """

    features: FloatArray
    net_return: FloatArray
    threshold: float
    dates: npt.NDArray[np.int64] | None = None
    candidate_confidence: FloatArray | None = None

    @property
    def events(self) -> int:
        return len(self.net_return)

    def after(self, moment_ns: int | None) -> Holdout:
        """The rows later than ``moment_ns`` (all rows without dates or moment)."""
        if moment_ns is None or self.dates is None:
            return self
        rows = self.dates > moment_ns
        confidence = self.candidate_confidence
        return dataclasses.replace(
            self,
            features=self.features[rows],
            net_return=self.net_return[rows],
            dates=self.dates[rows],
            candidate_confidence=None if confidence is None else confidence[rows],
        )

    def stats(self, model: Classifier) -> dict[str, Any]:
        """Trade-level figures of the signals ``model`` takes (confidence > threshold)."""
        if not len(self.features):
            return per_trade_stats([])
        return self._taken(model.predict_proba(self.features)[:, 1])

    def candidate_stats(self, candidate: Classifier) -> dict[str, Any]:
        if self.candidate_confidence is None or isinstance(candidate, NeutralModel):
            return self.stats(candidate)
        return self._taken(self.candidate_confidence)

    def _taken(self, confidence: FloatArray) -> dict[str, Any]:
        taken = np.nan_to_num(confidence, nan=0.0) > self.threshold
        return per_trade_stats(self.net_return[taken].tolist())


@dataclass(frozen=True)
class ReviewEvent:
    """A retrained candidate promoted or refused (one line of the lifecycle log)."""

    time: str
    pair: str
    window_end: str
    candidate_version: int
    incumbent_version: int | None
    decision: Decision
    reasons: tuple[str, ...]
    active_version: int
    candidate_holdout: Stats
    incumbent_holdout: Stats | None
    judged_events: int  # hold-out rows both were judged on (after the incumbent's window)
    # what a live rollback compares with, and where this window's model is saved
    active_holdout: Stats | None
    model_path: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RollbackEvent:
    """An earlier promoted model put back in charge (one line of the lifecycle log)."""

    time: str
    pair: str
    decision: Decision
    reasons: tuple[str, ...]
    active_version: int
    active_holdout: Any
    model_path: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Incumbent:
    model: Any
    version: int
    trained_until_ns: int | None = None  # the last row of its training window


@dataclass(frozen=True)
class Review:
    """The model that predicts from now on, and the event that says why."""

    model: Any
    event: ReviewEvent

    @property
    def promoted(self) -> bool:
        return self.event.active_version == self.event.candidate_version


class ModelFileError(Exception):
    """A recorded model folder holds no single readable model."""


def load_model(folder: Path) -> Any:
    """The model FreqAI saved in ``folder`` (its one ``*_model.joblib``)."""
    files = sorted(folder.glob(MODEL_FILE_GLOB))
    if len(files) != 1:
        raise ModelFileError(f"{folder} holds {len(files)} model files, expected 1")
    try:
        with files[0].open("rb") as handle:
            return cloudpickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        raise ModelFileError(f"{files[0]} unreadable ({err!r})") from err


def _now() -> datetime:
    return datetime.now(UTC)


class ModelRegistry:
    """Versions, incumbents and the lifecycle log of one FreqAI identifier's models."""

    def __init__(
        self,
        folder: Path,
        settings: LifecycleSettings,
        *,
        alert: Callable[[str], None],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.log = LifecycleLog(folder / LIFECYCLE_LOG)
        self.settings = settings
        self._alert = alert
        self._clock = clock
        self._incumbents: dict[str, Incumbent] = {}

    def incumbent(self, pair: str) -> Incumbent | None:
        return self._incumbents.get(pair)

    def next_version(self, pair: str) -> int:
        """One more than the pair's highest candidate version in the log (1 at first)."""
        versions = [
            int(e.get("candidate_version") or 0) for e in self.log.read() if e.get("pair") == pair
        ]
        return 1 + max(versions, default=0)

    def review(
        self,
        pair: str,
        candidate: Any,
        holdout: Holdout,
        *,
        window_end: str,
        model_path: Path,
    ) -> Review:
        """Promote the candidate or keep the incumbent, judged on the hold-out rows after
        the incumbent's training window."""
        incumbent = self._incumbents.get(pair)
        version = self.next_version(pair)
        judged = holdout.after(incumbent.trained_until_ns if incumbent else None)
        candidate_stats = judged.candidate_stats(candidate)
        incumbent_stats = judged.stats(incumbent.model) if incumbent else None
        verdict = self._verdict(candidate, candidate_stats, incumbent_stats)
        # with no incumbent the candidate predicts whatever the verdict: the bot needs a model
        promoted = incumbent is None or verdict.decision is Decision.PROMOTE
        trained_until = (
            None if holdout.dates is None or not holdout.events else int(holdout.dates.max())
        )
        active = (
            Incumbent(candidate, version, trained_until)
            if promoted or incumbent is None
            else incumbent
        )
        event = ReviewEvent(
            time=self._clock().isoformat(),
            pair=pair,
            window_end=window_end,
            candidate_version=version,
            incumbent_version=incumbent.version if incumbent else None,
            decision=verdict.decision,
            reasons=verdict.reasons,
            active_version=active.version,
            candidate_holdout=candidate_stats,
            incumbent_holdout=incumbent_stats,
            judged_events=judged.events,
            active_holdout=candidate_stats if promoted else incumbent_stats,
            model_path=str(model_path),
        )
        self.log.append(event.as_json())
        self._incumbents[pair] = active
        message = (
            f"Model lifecycle {pair}: candidate v{version} {verdict.decision}d"
            f" ({'; '.join(verdict.reasons)}); v{active.version} predicts"
        )
        if promoted:
            logger.info(message)
        else:
            self._alert(message)
        return Review(active.model, event)

    def _verdict(
        self,
        candidate: Any,
        candidate_stats: Stats,
        incumbent_stats: Stats | None,
    ) -> Verdict:
        if not self.settings.enabled:
            return Verdict(Decision.PROMOTE, ("lifecycle checks disabled",))
        if isinstance(candidate, NeutralModel):
            return Verdict(Decision.REFUSE, (f"candidate not trained: {candidate.reason}",))
        return promotion_verdict(candidate_stats, incumbent_stats, self.settings)

    def rollback(self, pair: str, reasons: list[str]) -> Any | None:
        """Put the previously promoted model of ``pair`` back in charge; return it.

        None, with an alert, when there is no earlier model or its file is unreadable:
        the current model keeps predicting.
        """
        target = rollback_target(self.log.read(), pair)
        if target is None:
            self._alert(
                f"Model rollback for {pair} wanted ({'; '.join(reasons)}) but there is "
                "no earlier model: the current one keeps predicting"
            )
            return None
        folder = Path(str(target["model_path"]))
        try:
            model = load_model(folder)
        except ModelFileError as err:
            self._alert(f"Model rollback for {pair} failed: {err}")
            return None
        version = int(target["candidate_version"])
        self._incumbents[pair] = Incumbent(model, version)
        holdout = target.get("active_holdout")
        event = RollbackEvent(
            time=self._clock().isoformat(),
            pair=pair,
            decision=Decision.ROLLBACK,
            reasons=tuple(reasons),
            active_version=version,
            active_holdout=holdout if isinstance(holdout, Mapping) else None,
            model_path=str(folder),
        )
        self.log.append(event.as_json())
        self._alert(f"Model rollback {pair}: back to v{version} ({'; '.join(reasons)})")
        return model
