"""Where studies live: optuna's relational storage on SQLite (default) or PostgreSQL.

SQLite under ``user_data/research/studies.sqlite3`` needs nothing started; a
``postgresql://`` URL lets processes on many machines share one study. A study records
which code made it (user attributes ``metalabel_study_kind``, the schema version and
the search space's digest): opening a study made by other code, of another kind or
over other bounds is refused, naming the URL and the study, and nothing is written.

Trials of a worker that dies (killed, machine lost) would stay RUNNING forever; the
storage's heartbeat marks them FAIL once ``grace_seconds`` pass without a beat, so a
resumed run re-does them and keeps every finished trial. optuna skips a trial that died
before its first beat (killed between creating the trial and starting its heartbeat
thread); :func:`fail_orphaned_trials` fails those too, by their start time.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import optuna
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

STUDIES_FILE = Path("research") / "studies.sqlite3"
KIND_ATTR = "metalabel_study_kind"
SCHEMA_ATTR = "metalabel_schema_version"
SPACE_ATTR = "metalabel_space_digest"
# Bump when the meaning of a study's recorded params or values changes.
SCHEMA_VERSION = 1
CONNECT_TIMEOUT_SECONDS = 10
# How long a study just created elsewhere may take to receive its attributes.
_ATTRS_WAIT_SECONDS = 5.0


class StudyStorageError(RuntimeError):
    """The storage cannot be used (unreachable, unsupported URL); names the URL."""


class StudyMismatchError(RuntimeError):
    """The named study exists but was made by other code or for another search."""


def default_storage_url(user_data: Path) -> str:
    return f"sqlite:///{(user_data / STUDIES_FILE).resolve()}"


def shown_url(url: str) -> str:
    """The URL as messages show it: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def _engine_url(url: str) -> tuple[str, dict[str, Any]]:
    """SQLAlchemy URL and engine options: psycopg (v3) for PostgreSQL, a busy timeout
    and write-ahead log for SQLite (readers do not block the one writer)."""
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError as err:
        raise StudyStorageError(f"study storage {url!r}: not a storage URL ({err})") from err
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.get_driver_name() in ("psycopg2", "psycopg2cffi", "pg8000", "asyncpg"):
            raise StudyStorageError(
                f"study storage {shown_url(url)}: use postgresql:// or postgresql+psycopg://"
            )
        engine = parsed.set(drivername="postgresql+psycopg")
        options = {
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        }
        return engine.render_as_string(hide_password=False), options
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StudyStorageError(
                f"study storage {url}: an in-memory SQLite database cannot be shared; "
                "give a file, sqlite:///path/studies.sqlite3"
            )
        path = Path(parsed.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=30) as db:
                db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as err:
            raise StudyStorageError(f"study storage {url}: cannot open {path}: {err}") from err
        return url, {"connect_args": {"timeout": 60}}
    raise StudyStorageError(
        f"study storage {shown_url(url)}: unsupported backend {backend!r}; "
        "use sqlite:///path or postgresql://user@host/db"
    )


def open_storage(
    url: str, *, heartbeat_seconds: int = 10, grace_seconds: int = 30
) -> optuna.storages.RDBStorage:
    """optuna's RDB storage at ``url``; a clear :class:`StudyStorageError` if unusable."""
    engine_url, options = _engine_url(url)
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" since optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                engine_url,
                engine_kwargs=options,
                heartbeat_interval=heartbeat_seconds,
                grace_period=grace_seconds,
            )
    except (sqlalchemy.exc.SQLAlchemyError, OSError, ImportError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise StudyStorageError(
            f"study storage {shown_url(url)} cannot be reached: {reason}"
        ) from err


@dataclass(frozen=True)
class StudyKey:
    """What identifies a study and the code it belongs to."""

    storage_url: str
    name: str
    kind: str  # e.g. "research" or "study-bench": which objective's trials these are
    space_digest: str
    direction: Literal["maximize", "minimize"] = "maximize"


def _refuse_mismatch(key: StudyKey, study: optuna.Study) -> None:
    attrs = study.user_attrs
    expected = {KIND_ATTR: key.kind, SCHEMA_ATTR: SCHEMA_VERSION, SPACE_ATTR: key.space_digest}
    where = f"study {key.name!r} in {shown_url(key.storage_url)}"
    if KIND_ATTR not in attrs:
        raise StudyMismatchError(
            f"{where} was not created by metalabel (no {KIND_ATTR} attribute); "
            "choose another --study name"
        )
    for attr, value in expected.items():
        if attrs.get(attr) != value:
            raise StudyMismatchError(
                f"{where} has {attr}={attrs.get(attr)!r}, this run needs {value!r}; "
                "nothing was changed: choose another --study name"
            )
    if study.direction.name.lower() != key.direction:
        raise StudyMismatchError(
            f"{where} is a {study.direction.name.lower()} study, this run needs {key.direction}"
        )


def open_study(
    key: StudyKey,
    storage: optuna.storages.BaseStorage,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    create: bool = True,
) -> optuna.Study:
    """Load the study, or create and label it; refuse one that belongs to other code."""
    try:
        storage.get_study_id_from_name(key.name)
        exists = True
    except KeyError:
        exists = False
    if not exists and create:
        try:
            study = optuna.create_study(
                storage=storage, study_name=key.name, direction=key.direction, sampler=sampler
            )
        except optuna.exceptions.DuplicatedStudyError:
            logger.info("study %s was created by another process meanwhile", key.name)
        else:
            study.set_user_attr(KIND_ATTR, key.kind)
            study.set_user_attr(SCHEMA_ATTR, SCHEMA_VERSION)
            study.set_user_attr(SPACE_ATTR, key.space_digest)
            logger.info("created study %s in %s", key.name, shown_url(key.storage_url))
            return study
    try:
        study = optuna.load_study(study_name=key.name, storage=storage, sampler=sampler)
    except KeyError as err:
        raise StudyMismatchError(
            f"study {key.name!r} does not exist in {shown_url(key.storage_url)}"
        ) from err
    deadline = time.monotonic() + _ATTRS_WAIT_SECONDS
    while KIND_ATTR not in study.user_attrs and not study.trials:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)  # perhaps just created by another machine, which labels it next
    _refuse_mismatch(key, study)
    return study


def fail_orphaned_trials(study: optuna.Study, storage: optuna.storages.RDBStorage) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker is gone; return their numbers.

    optuna's own check covers trials whose heartbeat went stale. A trial with no
    heartbeat at all (its worker died before the first beat) is never stale to optuna
    and would count as running forever, so the study would stop one trial short: such a
    trial is failed once it started more than the grace period ago (a live worker beats
    within milliseconds of starting a trial).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if not running:
        return []
    with storage.engine.connect() as connection:
        beating = {
            row[0]
            for row in connection.execute(sqlalchemy.text("SELECT trial_id FROM trial_heartbeats"))
        }
    grace = timedelta(seconds=storage.grace_period or 2 * (storage.heartbeat_interval or 0))
    now = datetime.now()
    failed = []
    for trial in running:
        started = trial.datetime_start
        if trial._trial_id in beating or started is None or now - started <= grace:
            continue
        try:
            marked = storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            marked = False  # another worker finished or failed it meanwhile
        if marked:
            logger.warning(
                "trial %d of study %s never sent a heartbeat since %s: marked FAIL",
                trial.number,
                study.study_name,
                started.isoformat(timespec="seconds"),
            )
            failed.append(trial.number)
    return failed
