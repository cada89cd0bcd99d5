"""End to end: a dry-run bot against the replay live clock writes the decision journal,
and ``metalabel journal`` / ``metalabel daily`` read it back with its trade database."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from metalabel.ops.dryrun import dryrun_session
from metalabel.ops.health import BotClient
from metalabel.ops.journal import SCHEMA, journal_days, journal_file
from tests.conftest import wait_for

PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


def _wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    return wait_for(what, probe, timeout_s)


def _records(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        return []
    lines = []
    for path in sorted(directory.glob("journal-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def _metalabel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dry_run_journals_both_pairs_and_the_daily_report_rebuilds(tmp_path: Path) -> None:
    workdir = tmp_path / "dryrun"
    workdir.mkdir()
    journal_dir = workdir / "user_data" / "logs" / "journal"
    with (
        (tmp_path / "freqtrade.log").open("wb") as log,
        dryrun_session(
            env_file=None, workdir=workdir, output=log.fileno(), startup_timeout_seconds=90
        ) as session,
    ):
        _wait_for(
            "a journalled candle of each pair",
            lambda: (
                {r["pair"] for r in _records(journal_dir) if r["kind"] == "candle"} >= set(PAIRS)
            ),
        )
        # a forced round trip journals its orders, fills and the exit
        api = BotClient(session.credentials, timeout_seconds=10)
        try:
            trade = api.post("forceenter", {"pair": PAIRS[1], "side": "long"})
            _wait_for("the forced entry", lambda: [t for t in api.get("status") if t["is_open"]])
            api.post("forceexit", {"tradeid": trade["trade_id"]})
            _wait_for("the forced exit", lambda: api.get("status") == [])
        finally:
            api.close()
        _wait_for(
            "the exit record",
            lambda: [r for r in _records(journal_dir) if r["kind"] == "exit"],
        )
    records = _records(journal_dir)
    for record in records:
        assert tuple(record) == SCHEMA[record["kind"]], record
    candles = [r for r in records if r["kind"] == "candle"]
    assert {r["pair"] for r in candles} == set(PAIRS)
    for candle in candles:
        assert candle["decision"] in ("signal", "no_signal", "blocked")
        assert candle["regime"] and candle["kill_switch"] == "active"
        # freqtrade's starting balance: dry_run_wallet x tradable_balance_ratio
        assert candle["starting_balance"] == pytest.approx(10_000 * 0.99)
    kinds = [r["kind"] for r in records if r["pair"] == PAIRS[1]]
    assert {"order", "fill", "exit"} <= set(kinds)
    [exit_record] = [r for r in records if r["kind"] == "exit"]
    assert exit_record["exit_reason"] == "force_exit" and exit_record["profit_abs"] is not None

    day = journal_days(journal_dir)[-1]
    assert journal_file(journal_dir, day).is_file()
    db = workdir / "tradesv3.dryrun.sqlite"
    userdir = str(workdir / "user_data")
    daily = _metalabel("daily", "--date", day.isoformat(), "--userdir", userdir, "--db", str(db))
    assert daily.returncode == 0, daily.stdout + daily.stderr
    assert f"metalabel daily report {day}" in daily.stdout
    html = (journal_dir / f"daily-{day}.html").read_text()
    assert "Daily report" in html and "force_exit" in html
    why = _metalabel("journal", "--userdir", userdir, "--pair", PAIRS[1])
    assert why.returncode == 0, why.stdout + why.stderr
    assert "signal(s) and their fate" in why.stdout
    outside = _metalabel("daily", "--date", "2001-01-01", "--userdir", userdir, "--db", str(db))
    assert outside.returncode == 1
    assert "no journal for 2001-01-01" in outside.stdout
