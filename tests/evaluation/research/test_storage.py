"""Study storage: labelled studies, foreign ones refused untouched, unreachable URLs named."""

import time
from pathlib import Path

import optuna
import pytest

from metalabel.evaluation.research.space import SPACE, space_digest
from metalabel.evaluation.research.storage import (
    KIND_ATTR,
    SCHEMA_ATTR,
    SCHEMA_VERSION,
    StudyKey,
    StudyMismatchError,
    StudyStorageError,
    default_storage_url,
    open_storage,
    open_study,
)
from metalabel.ops.cli import main

from .conftest import free_port


def _key(url: str, name: str = "s", kind: str = "research") -> StudyKey:
    return StudyKey(url, name, kind, space_digest(SPACE))


def test_the_default_storage_is_a_file_under_user_data(tmp_path: Path) -> None:
    assert default_storage_url(tmp_path) == f"sqlite:///{tmp_path}/research/studies.sqlite3"


def test_a_new_study_is_labelled_and_reopened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/dir/studies.sqlite3"  # folders are created
    storage = open_storage(url)
    study = open_study(_key(url), storage)
    assert study.user_attrs[KIND_ATTR] == "research"
    assert study.user_attrs[SCHEMA_ATTR] == SCHEMA_VERSION
    again = open_study(_key(url), open_storage(url))
    assert again._study_id == study._study_id


@pytest.mark.parametrize(
    ("key_change", "message"),
    [
        ({"kind": "study-bench"}, "metalabel_study_kind='research', this run needs 'study-bench'"),
        ({"space_digest": "0" * 16}, "metalabel_space_digest="),
        ({"direction": "minimize"}, "is a maximize study"),
    ],
)
def test_a_study_of_another_kind_is_refused(
    tmp_path: Path, key_change: dict[str, str], message: str
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    open_study(_key(url), open_storage(url))
    other = StudyKey(**{**_key(url).__dict__, **key_change})
    with pytest.raises(StudyMismatchError, match=message) as err:
        open_study(other, open_storage(url))
    assert "study 's'" in str(err.value) and url in str(err.value)


def test_a_study_made_by_other_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    foreign = optuna.create_study(storage=url, study_name="theirs")
    foreign.set_user_attr("owner", "someone else")
    foreign.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    started = time.monotonic()
    with pytest.raises(StudyMismatchError, match=r"study 'theirs' in sqlite:///.*not created by"):
        open_study(_key(url, "theirs"), open_storage(url))
    assert time.monotonic() - started < 2  # it has trials: no waiting for a label
    after = optuna.load_study(study_name="theirs", storage=url)
    assert after.user_attrs == {"owner": "someone else"}
    assert len(after.trials) == 3


def test_an_unreachable_postgres_url_is_named_with_its_password_hidden() -> None:
    url = f"postgresql://me:secret@127.0.0.1:{free_port()}/studies"
    started = time.monotonic()
    with pytest.raises(StudyStorageError, match="cannot be reached") as err:
        open_storage(url)
    assert time.monotonic() - started < 15
    assert f"postgresql://me:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in str(err.value)
    assert "secret" not in str(err.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@localhost/db", "unsupported backend 'mysql'"),
        ("sqlite://", "in-memory SQLite"),
        ("postgresql+psycopg2://u@localhost/db", "use postgresql://"),
        ("not a url", "not a storage URL"),
    ],
)
def test_unusable_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StudyStorageError, match=message):
        open_storage(url)


def test_an_unwritable_sqlite_path_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    url = f"sqlite:///{blocker}/studies.sqlite3"  # a folder under a file
    with pytest.raises(StudyStorageError, match=f"study storage {url}"):
        open_storage(url)


def test_the_command_names_an_unreachable_storage_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql://u@127.0.0.1:{free_port()}/db"
    assert main(["study-bench", "--storage", url, "--trials", "2"]) == 1
    out = capsys.readouterr()
    assert out.out.startswith(f"metalabel study-bench: study storage {url} cannot be reached")
    assert "Traceback" not in out.out + out.err


def test_the_command_refuses_a_bound_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    code = main(["study-bench", "--storage", url, "--bound", "stop_loss_ratio=0.01:0.7"])
    assert code == 1
    assert "search space parameter stop_loss_ratio" in capsys.readouterr().out
    assert not (tmp_path / "s.sqlite3").exists()  # refused before the storage is touched
