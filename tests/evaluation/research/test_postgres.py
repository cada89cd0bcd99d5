"""Two worker processes on one study in a real PostgreSQL server, then a resumed run."""

import pytest

from metalabel.evaluation.research.bench import QuadraticBench
from metalabel.evaluation.research.storage import (
    StudyKey,
    StudyMismatchError,
    open_storage,
    open_study,
)
from metalabel.evaluation.research.workers import StudyOutcome, run_study

from .conftest import assert_recorded_once
from .test_workers import plan


def _run(url: str, trials: int) -> StudyOutcome:
    return run_study(plan(url, trials, 2), QuadraticBench(delay_seconds=0.01))


@pytest.mark.slow
def test_two_workers_share_a_postgres_study_and_a_second_run_resumes(
    postgres_url: str,
) -> None:
    first = _run(postgres_url, 40)
    assert (first.finished, first.ran_now) == (40, 40)
    values = assert_recorded_once(postgres_url, "bench", 40)
    assert first.best_value == max(values)
    second = _run(postgres_url, 50)
    assert (second.finished, second.ran_now) == (50, 10)  # only the missing ten ran
    assert assert_recorded_once(postgres_url, "bench", 50)[:40] == values
    assert second.best_value is not None and first.best_value is not None
    assert second.best_value >= first.best_value
    research = StudyKey(
        postgres_url, "bench", "research", plan(postgres_url, 1, 1).key.space_digest
    )
    with pytest.raises(StudyMismatchError, match=r"'bench' in postgresql://postgres@127\.0\.0\.1"):
        open_study(research, open_storage(postgres_url))
