"""The operator's view: a decision journal of live and dry runs, and a daily report.

* :mod:`.schema` -- the typed records, one JSON line each (the documented schema);
* :mod:`.writer` -- daily files under ``user_data/logs/journal``, bounded retention,
  failures logged once and never raised;
* :mod:`.recorder` -- :class:`Journal`, what the strategy's hooks call;
* :mod:`.reader` and :mod:`.query` -- reading it back (``metalabel journal``);
* :mod:`.daily` -- the daily report (``metalabel daily``), HTML from ``templates/``.
"""

from metalabel.ops.journal.reader import JournalError, JournalRead, journal_days, read_journal
from metalabel.ops.journal.recorder import Journal, candle_decision
from metalabel.ops.journal.schema import SCHEMA, Decision, RecordKind, schema_markdown
from metalabel.ops.journal.writer import JournalWriter, journal_file, report_file

__all__ = [
    "SCHEMA",
    "Decision",
    "Journal",
    "JournalError",
    "JournalRead",
    "JournalWriter",
    "RecordKind",
    "candle_decision",
    "journal_days",
    "journal_file",
    "read_journal",
    "report_file",
    "schema_markdown",
]
