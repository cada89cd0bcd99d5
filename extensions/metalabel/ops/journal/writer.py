"""Appending journal lines to daily files, and deleting files past the retention.

A journal that cannot be written must not stop a bot that trades: every failure is
caught here, logged once (then again only after a write has succeeded in between), and
the record is dropped. Each record is one short append to a local file, opened and
closed per line, so a crash loses at most the line being written.

Files: ``journal-YYYY-MM-DD.jsonl`` (UTC date of the records' ``time``) and the daily
reports ``daily-YYYY-MM-DD.html`` beside them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = "journal-"
JOURNAL_SUFFIX = ".jsonl"
REPORT_PREFIX = "daily-"
REPORT_SUFFIX = ".html"
_DATED = re.compile(r"^(journal|daily)-(\d{4}-\d{2}-\d{2})\.(jsonl|html)$")


def journal_file(directory: Path, day: date) -> Path:
    return directory / f"{JOURNAL_PREFIX}{day.isoformat()}{JOURNAL_SUFFIX}"


def report_file(directory: Path, day: date) -> Path:
    return directory / f"{REPORT_PREFIX}{day.isoformat()}{REPORT_SUFFIX}"


def file_day(path: Path) -> date | None:
    """The date in a journal or report file name, None for any other file."""
    match = _DATED.match(path.name)
    return date.fromisoformat(match.group(2)) if match else None


class JournalWriter:
    """Appends records to the file of their UTC day; prunes old files on a new day."""

    def __init__(self, directory: Path, *, retention_days: int) -> None:
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {retention_days}")
        self.directory = directory
        self.retention_days = retention_days
        self._day: date | None = None
        self._failing = False  # a failure was logged and no write has succeeded since

    def write(self, record: Mapping[str, Any], at: datetime) -> bool:
        """Append one record to the file of ``at``'s UTC day; False (logged once) on failure."""
        try:
            line = json.dumps(dict(record), allow_nan=False, default=str) + "\n"
            day = at.date()
            if day != self._day:
                self.directory.mkdir(parents=True, exist_ok=True)
                self.prune(day)
                self._day = day
            with journal_file(self.directory, day).open("a", encoding="utf-8") as handle:
                handle.write(line)
        except Exception as err:  # never let the journal stop trading
            self._fail(f"journal line not written to {self.directory}: {err!r}")
            return False
        if self._failing:
            logger.warning("journal writes to %s work again", self.directory)
            self._failing = False
        return True

    def write_report(self, day: date, html: str) -> Path | None:
        """Write a day's HTML report beside the journal; None (logged once) on failure."""
        path = report_file(self.directory, day)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
        except Exception as err:
            self._fail(f"daily report not written to {path}: {err!r}")
            return None
        return path

    def prune(self, today: date) -> list[Path]:
        """Delete journal and report files older than ``retention_days`` before ``today``."""
        oldest = today - timedelta(days=self.retention_days - 1)
        removed = []
        for path in sorted(self.directory.iterdir()):
            day = file_day(path)
            if day is not None and day < oldest and path.is_file():
                path.unlink()
                removed.append(path)
        if removed:
            logger.info("journal: removed %d file(s) older than %s", len(removed), oldest)
        return removed

    def _fail(self, message: str) -> None:
        if not self._failing:
            self._failing = True
            logger.warning("%s; trading goes on, further failures are not logged", message)
