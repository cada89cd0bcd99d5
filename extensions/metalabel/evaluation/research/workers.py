"""Run an optuna study to a number of finished trials, with N worker processes.

Each worker (a spawned process; several machines just run the same command against the
same storage URL) opens the study itself, samples with its own seeded TPE sampler
(``seed + worker index``: a worker's sequence is reproducible) and runs trials until the
study holds ``trials`` finished ones. Trial numbers are handed out by the storage in
order, so a trial whose number already has ``trials`` non-failed trials before it is
surplus: it is marked FAIL before anything is sampled. Every worker therefore stops at
exactly ``trials`` finished trials, and a resumed run runs only the missing ones.

The objective is pluggable: a picklable factory called once in each worker (to load
its data once) returns the function that scores a :class:`Candidate`.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from metalabel.config import MetalabelConfig
from metalabel.evaluation.research.space import SPACE, Candidate, Knob, check_space, suggest
from metalabel.evaluation.research.storage import (
    StudyKey,
    fail_orphaned_trials,
    open_storage,
    open_study,
)

logger = logging.getLogger(__name__)

Objective = Callable[[Candidate], float]
ObjectiveFactory = Callable[[], Objective]
_LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class WorkerError(RuntimeError):
    """A worker process did not finish cleanly."""


class SurplusTrialError(Exception):
    """This trial is beyond the study's target; it is failed unsampled."""


@dataclass(frozen=True)
class StudyPlan:
    """One run: which study, how many finished trials it should hold, how many workers."""

    key: StudyKey
    trials: int
    base: MetalabelConfig
    space: Mapping[str, Knob] = field(default_factory=lambda: dict(SPACE))
    workers: int = 1
    seed: int = 42
    heartbeat_seconds: int = 10
    grace_seconds: int = 30
    log_level: int = logging.INFO


@dataclass(frozen=True)
class StudyOutcome:
    """The study after the run: its finished trials and best one."""

    finished: int  # COMPLETE trials in the study
    ran_now: int  # of which this run finished
    failed: int  # FAIL trials in the study (surplus, killed workers, objective errors)
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    seconds: float


def run_study(plan: StudyPlan, factory: ObjectiveFactory) -> StudyOutcome:
    """Check the space, open (or create) the study, run the workers, summarise.

    Raises ConfigError (space), StudyStorageError / StudyMismatchError (storage or
    study), WorkerError (a worker failed; finished trials are kept).
    """
    if plan.trials < 1 or plan.workers < 1:
        raise ValueError(f"trials and workers must be >= 1, got {plan.trials}, {plan.workers}")
    check_space(plan.space, plan.base)
    started = time.monotonic()
    storage = open_storage(
        plan.key.storage_url,
        heartbeat_seconds=plan.heartbeat_seconds,
        grace_seconds=plan.grace_seconds,
    )
    study = open_study(plan.key, storage)
    before = _count(study, (TrialState.COMPLETE,))
    if before >= plan.trials:
        logger.info("study %s already holds %d finished trials", plan.key.name, before)
    elif plan.workers == 1:
        work(plan, factory, 0)
    else:
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(target=work, args=(plan, factory, i), name=f"study-worker-{i}")
            for i in range(plan.workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        bad = [(p.name, p.exitcode) for p in processes if p.exitcode != 0]
        if bad:
            raise WorkerError(
                f"study {plan.key.name}: workers failed {bad}; finished trials are kept, "
                "run the same command again to resume"
            )
    return _outcome(study, before, time.monotonic() - started)


def work(plan: StudyPlan, factory: ObjectiveFactory, index: int) -> None:
    """One worker: its own storage connection and sampler, trials until the target."""
    if multiprocessing.parent_process() is not None:
        logging.basicConfig(
            level=plan.log_level, format="%(asctime)s %(levelname)s %(processName)s: %(message)s"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(
        plan.key.storage_url,
        heartbeat_seconds=plan.heartbeat_seconds,
        grace_seconds=plan.grace_seconds,
    )
    sampler = optuna.samplers.TPESampler(seed=plan.seed + index, constant_liar=True)
    study = open_study(plan.key, storage, sampler=sampler, create=False)
    objective = factory()

    def trial_function(trial: optuna.Trial) -> float:
        failed_before = sum(
            1
            for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t.number < trial.number
        )
        if trial.number - failed_before >= plan.trials:
            raise SurplusTrialError(f"the study already has {plan.trials} trials before this one")
        return objective(suggest(trial, plan.base, plan.space))

    ran = 0
    while True:
        fail_orphaned_trials(study, storage)
        if _count(study, _LIVE) >= plan.trials:
            break
        study.optimize(trial_function, n_trials=1, catch=(SurplusTrialError,))
        ran += 1
    logger.info("worker %d: %d trials run, study %s complete", index, ran, plan.key.name)


def _count(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _outcome(study: optuna.Study, before: int, seconds: float) -> StudyOutcome:
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = study.best_trial if finished else None
    return StudyOutcome(
        finished=len(finished),
        ran_now=len(finished) - before,
        failed=_count(study, (TrialState.FAIL,)),
        best_number=None if best is None else best.number,
        best_value=None if best is None else best.value,
        best_params={}
        if best is None
        else {k: round(v, 10) if isinstance(v, float) else v for k, v in best.params.items()},
        seconds=seconds,
    )
