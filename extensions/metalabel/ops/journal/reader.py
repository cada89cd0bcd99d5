"""Reading the journal back for a range of UTC days.

A corrupt line (not JSON, not an object, no ``kind``) is skipped and counted, never
fatal: the rest of the day is still worth reading. A missing directory, an empty one, or
a range with no journal file at all raises :class:`JournalError` with what is there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from metalabel.ops.journal.writer import JOURNAL_PREFIX, file_day, journal_file


class JournalError(Exception):
    """The journal cannot answer: no directory, no files, or none in the range asked."""


@dataclass
class JournalRead:
    """The records of the days read, in file order, and what had to be skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    days: list[date] = field(default_factory=list)  # days with a journal file in the range
    corrupt: list[tuple[str, int]] = field(default_factory=list)  # (file name, line number)

    def of_kind(self, kind: str, pair: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r.get("kind") == kind and (pair is None or r.get("pair") == pair)
        ]


def journal_days(directory: Path) -> list[date]:
    """The UTC days that have a journal file, oldest first."""
    if not directory.is_dir():
        raise JournalError(
            f"no journal directory at {directory} (a live or dry-run bot writes it under "
            "<userdir>/logs/journal; see metalabel.journal)"
        )
    days = sorted(
        day
        for path in directory.glob(f"{JOURNAL_PREFIX}*")
        if (day := file_day(path)) is not None and path.name.endswith(".jsonl")
    )
    if not days:
        raise JournalError(f"{directory} holds no journal files (journal-YYYY-MM-DD.jsonl)")
    return days


def read_journal(directory: Path, start: date, end: date) -> JournalRead:
    """Every record of the days ``start`` .. ``end`` (both included)."""
    if end < start:
        raise JournalError(f"--to {end} is before --from {start}")
    available = journal_days(directory)
    days = [day for day in available if start <= day <= end]
    if not days:
        raise JournalError(
            f"no journal for {start}" + (f" .. {end}" if end != start else "")
            + f": the journal in {directory} covers {available[0]} .. {available[-1]}"
        )  # fmt: skip
    result = JournalRead(days=days)
    for day in days:
        path = journal_file(directory, day)
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    result.corrupt.append((path.name, number))
                    continue
                if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
                    result.corrupt.append((path.name, number))
                    continue
                result.records.append(record)
    return result
