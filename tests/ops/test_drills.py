"""Fault drills: the pure parts here; the whole drill set against a real dry-run bot
(``metalabel drill``) in the slow test."""

import subprocess
import sys

import pytest

from metalabel.ops.drills import (
    DRILLS,
    KILL_SWITCH_LIMITS,
    DrillError,
    DrillResult,
    drill_overlay,
    run_drill,
    summary,
)
from metalabel.ops.replay.faults import Faults


def test_at_least_eight_drills_with_unique_names() -> None:
    names = [name for name, _ in DRILLS]
    assert len(names) >= 8
    assert len(set(names)) == len(names)


def test_overlay_speeds_the_loop_and_tightens_only_the_drawdown_limit() -> None:
    overlay = drill_overlay()
    assert overlay["internals"]["process_throttle_secs"] == 1
    assert overlay["exchange"]["ccxt_config"]["timeout"] < 4000  # a hang is a timeout
    assert overlay["metalabel"]["kill_switch"] == KILL_SWITCH_LIMITS
    assert "api_error_limit" not in KILL_SWITCH_LIMITS  # the production error limit is drilled


def test_result_lines_and_summary() -> None:
    results = [
        DrillResult("a", True, "saw it", 1.2),
        DrillResult("b", False, "did not", 30.0),
    ]
    assert results[0].line() == "PASS a (1 s): saw it"
    assert results[1].line() == "FAIL b (30 s): did not"
    assert summary(results) == "drills_passed=1/2"


class _Bot:
    """Just enough of a DrillBot for run_drill."""

    def __init__(self) -> None:
        self.faults = Faults()


@pytest.mark.parametrize(
    ("outcome", "passed", "observed"),
    [
        ("ok", True, "fine"),  # the drill returns what it observed
        ("assert", False, "expected more"),  # a failed expectation is the observation
        ("crash", False, "RuntimeError: boom"),  # a bug fails the drill, not the run
    ],
)
def test_run_drill_reports_and_always_clears_faults(
    outcome: str, passed: bool, observed: str
) -> None:
    def drill(bot: object) -> str:
        assert isinstance(bot, _Bot)
        bot.faults.freeze_candles(0)
        if outcome == "assert":
            raise DrillError("expected more")
        if outcome == "crash":
            raise RuntimeError("boom")
        return "fine"

    bot = _Bot()
    result = run_drill("x", drill, bot)  # type: ignore[arg-type]
    assert (result.passed, result.observed) == (passed, observed)
    assert bot.faults.candles_frozen_at_ms is None


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_all_drills_pass_against_a_dry_run_bot() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", "drill"],
        capture_output=True,
        text=True,
        check=False,
        timeout=400,
    )
    lines = run.stdout.splitlines()
    report = run.stdout + run.stderr[-3000:]
    assert lines[-1:] == [f"drills_passed={len(DRILLS)}/{len(DRILLS)}"], report
    assert sum(line.startswith("PASS ") for line in lines) == len(DRILLS)
    assert run.returncode == 0, report
