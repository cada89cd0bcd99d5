"""A kill-switch state that can not be written: the bot refuses to start, and a trip at
run time still blocks entries, flattens and alerts, held in memory and retried.

Tests run as root, which ignores permission bits; the run-time case therefore runs the
desk in a forked child that drops to ``nobody`` (a real unwritable directory), and the
start-up case also uses a state path whose parent is a regular file."""

import json
import logging
import os
import pwd
import tempfile
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from metalabel.config import MetalabelConfig
from metalabel.risk.desk import KILL_LOCK_REASON, RiskDesk
from metalabel.risk.killswitch import KillSwitchStore, StateWriteError

NOW = datetime(2026, 7, 21, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
SETTINGS = MetalabelConfig()


@pytest.fixture
def userdir() -> Iterator[Path]:
    """A user-data dir that ``nobody`` can traverse (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="metalabel-state-"))
    path.chmod(0o755)
    yield path
    for sub in sorted(path.rglob("*"), reverse=True):
        if sub.is_dir():
            sub.chmod(0o755)
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def test_a_bot_refuses_to_start_when_the_state_path_can_not_be_created(userdir: Path) -> None:
    (userdir / "metalabel_state").write_text("a file where the state directory should be")
    with pytest.raises(StateWriteError, match=r"refusing to start.*metalabel_state"):
        RiskDesk.for_run(SETTINGS, user_data=userdir, candle=HOUR)


def test_a_bot_creates_its_state_file_at_start(userdir: Path) -> None:
    desk = RiskDesk.for_run(SETTINGS, user_data=userdir, candle=HOUR)
    assert isinstance(desk.store, KillSwitchStore)
    assert desk.store.path.is_file()
    assert not desk.store.read().tripped


def _as_nobody(
    body: Callable[[Callable[[str], None]], dict[str, Any]], between: Callable[[], None]
) -> dict[str, Any]:
    """Run ``body`` as ``nobody`` (forked child when root); ``between`` runs in the
    parent when the child calls its ``pause("...")`` argument."""
    if os.geteuid() != 0:
        return body(lambda _step: between())
    nobody = pwd.getpwnam("nobody")
    results_r, results_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(results_r)
        os.close(go_w)
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

            def pause(step: str) -> None:
                os.write(results_w, (json.dumps({"pause": step}) + "\n").encode())
                os.read(go_r, 1)

            out = {"result": body(pause)}
        except BaseException:
            out = {"error": traceback.format_exc()}
        os.write(results_w, (json.dumps(out, default=str) + "\n").encode())
        os._exit(0)
    os.close(results_w)
    os.close(go_r)
    with os.fdopen(results_r) as lines:
        for line in lines:
            message = json.loads(line)
            if "pause" in message:
                between()
                os.write(go_w, b"g")
                continue
            os.waitpid(pid, 0)
            assert "error" not in message, message["error"]
            return dict(message["result"])
    os.waitpid(pid, 0)
    raise AssertionError("the child sent no result")


def test_a_trip_that_can_not_be_written_still_blocks_flattens_alerts_and_retries(
    userdir: Path,
) -> None:
    desk = RiskDesk.for_run(SETTINGS, user_data=userdir, candle=HOUR)
    assert desk.on_loop(NOW, equity=10_000.0, closed=[], starting_equity=10_000.0) == []
    state_dir = userdir / "metalabel_state"
    assert isinstance(desk.store, KillSwitchStore)
    path = desk.store.path
    path.chmod(0o644)  # readable, like a state directory owned by another user
    state_dir.chmod(0o555)  # owned by root: not writable for nobody

    def body(pause: Callable[[str], None]) -> dict[str, Any]:
        later = NOW + HOUR
        notices = desk.on_loop(later, equity=8_000.0, closed=[], starting_equity=10_000.0)
        entry = desk.entry(
            pair="BTC/USDT:USDT", side="long", open_positions=[], confidence=0.9, equity=8_000.0
        )
        on_disk = KillSwitchStore(path).read()
        again = desk.on_loop(later + HOUR, equity=8_000.0, closed=[], starting_equity=10_000.0)
        first = {
            "notices": [(n.level, n.message, n.lock_reason) for n in notices],
            "flatten": desk.flatten,
            "entry": (entry.allowed, str(entry.check), entry.reason),
            "on_disk_tripped": on_disk.tripped,
            "again": [n.message for n in again],
            "write_error": desk.store.write_error,
        }
        pause("make it writable")
        healed = desk.on_loop(later + 2 * HOUR, equity=8_000.0, closed=[], starting_equity=1.0)
        first["healed"] = [n.message for n in healed]
        first["on_disk_after"] = KillSwitchStore(path).read().trigger
        return first

    result = _as_nobody(body, between=lambda: state_dir.chmod(0o777))
    levels = [level for level, _message, _lock in result["notices"]]
    messages = " | ".join(message for _level, message, _lock in result["notices"])
    # alerted: the trip, and that it is not on disk
    assert levels.count(logging.CRITICAL) == 2, messages
    assert "KILL SWITCH TRIPPED (drawdown)" in messages
    assert "NOT PERSISTED" in messages and "Permission denied" in messages
    # entries locked and refused by the kill-switch gate; positions flattened
    assert [lock for *_, lock in result["notices"] if lock] == [KILL_LOCK_REASON]
    assert result["entry"][0] is False and result["entry"][1] == "kill_switch"
    assert result["flatten"] is True
    # nothing on disk yet, announced once, not every loop
    assert result["on_disk_tripped"] is False
    assert result["again"] == []
    assert "Permission denied" in result["write_error"]
    # once the directory is writable again the retry lands the trip on disk
    assert result["healed"] == ["Kill-switch state written again."]
    assert result["on_disk_after"] == "drawdown"


def test_equity_marks_that_can_not_be_written_are_kept_in_memory(userdir: Path) -> None:
    """The drawdown trigger needs the peak even while the file can not be updated."""
    desk = RiskDesk.for_run(SETTINGS, user_data=userdir, candle=HOUR)
    assert isinstance(desk.store, KillSwitchStore)
    desk.store.path.chmod(0o644)
    (userdir / "metalabel_state").chmod(0o555)

    def body(_pause: Callable[[str], None]) -> dict[str, Any]:
        desk.on_loop(NOW, equity=10_000.0, closed=[], starting_equity=10_000.0)  # peak
        desk.on_loop(NOW + HOUR, equity=8_400.0, closed=[], starting_equity=10_000.0)
        return {"tripped": desk.tripped, "trigger": str(desk.store.read().trigger)}

    result = _as_nobody(body, between=lambda: None)
    assert result == {"tripped": True, "trigger": "drawdown"}


def test_a_manual_kill_that_can_not_write_exits_non_zero_with_the_reason(userdir: Path) -> None:
    import contextlib
    import io

    from metalabel.ops import cli
    from metalabel.ops.runner import MAIN_CONFIG

    desk = RiskDesk.for_run(SETTINGS, user_data=userdir, candle=HOUR)  # a bot ran here
    assert isinstance(desk.store, KillSwitchStore)
    desk.store.path.chmod(0o644)
    (userdir / "metalabel_state").chmod(0o555)

    def body(_pause: Callable[[str], None]) -> dict[str, Any]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["kill", "--userdir", str(userdir), "--config", str(MAIN_CONFIG)])
        return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}

    result = _as_nobody(body, between=lambda: None)
    assert result["code"] == 1
    assert "TRIPPED" not in result["stdout"]
    assert "kill switch NOT tripped: can not write" in result["stderr"]
    assert "Permission denied" in result["stderr"]
    assert not KillSwitchStore(desk.store.path).read().tripped
