"""``metalabel journal`` and ``metalabel daily`` on tiny journals: answers and messages."""

import json
import sqlite3
from pathlib import Path

import pytest

from metalabel.ops.cli import main

DAY = "2026-07-21"


def _journal(userdir: Path, lines: list[str]) -> Path:
    directory = userdir / "logs" / "journal"
    directory.mkdir(parents=True)
    path = directory / f"journal-{DAY}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return directory


def _candle(hour: int, **fields: object) -> str:
    record = {
        "kind": "candle", "time": f"{DAY}T{hour:02d}:01:00+00:00", "pair": "ETH/USDT:USDT",
        "model_version": 2, "candle": f"{DAY}T{hour:02d}:00:00+00:00", "close": 3000.0,
        "decision": "blocked", "side": "long", "gate": "regime_ok_long",
        "meta_confidence": 0.4, "guard_tier": "normal", "kill_switch": "active",
        "starting_balance": 1000.0,
    }  # fmt: skip
    record.update(fields)
    return json.dumps(record)


def test_journal_answers_why_no_trade_and_counts_corrupt_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _journal(tmp_path, [_candle(9), "{broken", _candle(10, gate="meta_ok", meta_confidence=0.5)])
    assert main(["journal", "--userdir", str(tmp_path), "--pair", "ETH/USDT:USDT"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: 1 corrupt line(s) skipped (journal-2026-07-21.jsonl:2)" in out
    assert "candles 2: no signal 0, blocked 2, signals 0, entries 0" in out
    assert "regime_ok_long" in out and "meta_ok" in out
    assert "blocked by meta_ok" in out
    assert "     9     1  0.400" in out  # the confidence table, hour 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # no journal directory at all
        ([], "journal: no journal directory at"),
        # a range the journal does not cover
        (["--from", "2026-07-01", "--to", "2026-07-02"], "covers 2026-07-21 .. 2026-07-21"),
        # a reversed range
        (["--from", "2026-07-22", "--to", "2026-07-21"], "is before --from"),
    ],
)
def test_journal_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    if args:
        _journal(tmp_path, [_candle(9)])
    assert main(["journal", "--userdir", str(tmp_path), *args]) == 1
    assert message in capsys.readouterr().out


def test_daily_without_trades_and_outside_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _journal(tmp_path, [_candle(9)])
    db = tmp_path / "trades.sqlite"
    with sqlite3.connect(db) as connection:  # the columns freqtrade's trades table has
        connection.execute(
            "CREATE TABLE trades (id INTEGER, pair TEXT, is_short BOOLEAN, is_open BOOLEAN, "
            "open_date DATETIME, close_date DATETIME, open_rate FLOAT, close_rate FLOAT, "
            "amount FLOAT, close_profit_abs FLOAT, close_profit FLOAT, exit_reason TEXT)"
        )
    assert main(["daily", "--date", DAY, "--userdir", str(tmp_path), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "No trades: none closed and none open." in out
    assert (directory / f"daily-{DAY}.html").is_file()
    assert main(["daily", "--date", "2026-06-01", "--userdir", str(tmp_path), "--db", str(db)]) == 1
    assert "no journal for 2026-06-01" in capsys.readouterr().out
    assert main(["daily", "--date", DAY, "--userdir", str(tmp_path), "--db", str(tmp_path)]) == 1
    assert "no trade database" in capsys.readouterr().out
