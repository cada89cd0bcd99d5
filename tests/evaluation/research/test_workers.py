"""Workers on one study (SQLite): exact trial counts, resumption, a killed run resumed."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from metalabel.config import load_config
from metalabel.evaluation.research.bench import QuadraticBench
from metalabel.evaluation.research.space import SPACE, space_digest
from metalabel.evaluation.research.storage import StudyKey, open_storage
from metalabel.evaluation.research.workers import StudyPlan, run_study
from metalabel.ops.runner import PROJECT_ROOT

from .conftest import assert_recorded_once

BASE = load_config({})


def plan(url: str, trials: int, workers: int, **kw: object) -> StudyPlan:
    key = StudyKey(url, "bench", "study-bench", space_digest(SPACE))
    return StudyPlan(key=key, trials=trials, base=BASE, workers=workers, **kw)  # type: ignore[arg-type]


def test_two_workers_record_each_trial_once_and_a_rerun_resumes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/studies.sqlite3"
    first = run_study(plan(url, 24, 2), QuadraticBench())
    assert (first.finished, first.ran_now) == (24, 24)
    values = assert_recorded_once(url, "bench", 24)
    assert first.best_value == max(values)
    again = run_study(plan(url, 24, 2), QuadraticBench())
    assert (again.finished, again.ran_now) == (24, 0)  # nothing missing: nothing runs
    more = run_study(plan(url, 30, 2), QuadraticBench())
    assert (more.finished, more.ran_now) == (30, 6)  # only the missing trials
    assert assert_recorded_once(url, "bench", 30)[:24] == values  # the first 24 kept


def test_one_worker_with_a_seed_repeats_its_trials(tmp_path: Path) -> None:
    def params(name: str) -> list[dict[str, object]]:
        url = f"sqlite:///{tmp_path}/{name}.sqlite3"
        run_study(plan(url, 15, 1, seed=5), QuadraticBench())
        study = optuna.load_study(study_name="bench", storage=url)
        return [t.params for t in study.trials]

    first = params("a")
    assert first == params("b")
    assert len({str(p) for p in first}) == 15


@pytest.mark.slow
def test_a_killed_run_resumes_keeping_its_finished_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/studies.sqlite3"
    command = [
        sys.executable, "-m", "metalabel.ops.cli", "study-bench", "--storage", url,
        "--study", "bench", "--trials", "40", "--workers", "2",
        "--heartbeat-seconds", "1", "--grace-seconds", "2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "extensions")}
    slow = subprocess.Popen(
        [*command, "--delay-seconds", "0.3"], env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    finished: list[optuna.trial.FrozenTrial] = []
    while len(finished) < 6:
        assert slow.poll() is None and time.monotonic() < deadline, "the run ended early"
        time.sleep(0.3)
        try:
            study = optuna.load_study(study_name="bench", storage=url)
            finished = study.get_trials(states=(TrialState.COMPLETE,))
        except KeyError:
            pass  # not created yet
    os.killpg(slow.pid, signal.SIGKILL)  # the command and both workers, mid-trial
    slow.wait()
    killed = optuna.load_study(study_name="bench", storage=url)
    kept = {t.number: t.value for t in killed.get_trials(states=(TrialState.COMPLETE,))}
    orphans = [t.number for t in killed.get_trials(states=(TrialState.RUNNING,))]
    assert 6 <= len(kept) < 40 and orphans  # trials were cut off mid-way
    time.sleep(3)  # past the grace period: the orphans' heartbeats are stale
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"40 finished trials ({40 - len(kept)} run now" in resumed.stdout
    assert_recorded_once(url, "bench", 40)
    study = optuna.load_study(study_name="bench", storage=url)
    after = {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert {n: after[n] for n in kept} == kept  # finished trials kept as they were
    states = {t.number: t.state for t in study.trials}
    assert all(states[n] == TrialState.FAIL for n in orphans)  # re-run, not resumed twice


def test_a_trial_killed_before_its_first_heartbeat_is_failed_and_rerun(tmp_path: Path) -> None:
    # A worker killed between creating a trial and starting its heartbeat thread leaves a
    # RUNNING trial with no heartbeat, which optuna never calls stale.
    url = f"sqlite:///{tmp_path}/studies.sqlite3"
    run_study(plan(url, 5, 1), QuadraticBench())
    storage = open_storage(url, heartbeat_seconds=1, grace_seconds=2)
    study_id = storage.get_study_id_from_name("bench")
    long_ago = datetime.now() - timedelta(seconds=60)
    orphan = storage.create_new_trial(
        study_id, FrozenTrial(
            number=-1, state=TrialState.RUNNING, value=None, datetime_start=long_ago,
            datetime_complete=None, params={}, distributions={}, user_attrs={},
            system_attrs={}, intermediate_values={}, trial_id=-1,
        )
    )  # fmt: skip
    fresh = storage.create_new_trial(study_id)  # started just now: may still be alive
    outcome = run_study(plan(url, 8, 1, heartbeat_seconds=1, grace_seconds=2), QuadraticBench())
    # The orphan is re-done; the fresh trial counts as running elsewhere, so 7 finish.
    assert (outcome.finished, outcome.ran_now) == (7, 2)
    assert storage.get_trial(orphan).state == TrialState.FAIL
    assert storage.get_trial(fresh).state == TrialState.RUNNING  # within the grace period
