"""``metalabel journal`` and ``metalabel daily``: the decision journal and daily report
read back by an operator. Registered by :func:`register` from :mod:`metalabel.ops.cli`."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from metalabel.config import JournalSettings

DB_NAME = "tradesv3.dryrun.sqlite"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from err


def _journal_dir(args: argparse.Namespace) -> Path:
    if args.journal_dir:
        return Path(args.journal_dir)
    return Path(args.userdir) / JournalSettings().directory


def _cmd_journal(args: argparse.Namespace) -> int:
    from metalabel.ops.journal import JournalError, journal_days, read_journal, schema_markdown
    from metalabel.ops.journal.query import confidence_by_hour, gate_counts, last_signals

    if args.schema:
        print(schema_markdown())
        return 0
    directory = _journal_dir(args)
    try:
        end = args.to or journal_days(directory)[-1]
        start = args.from_ or end
        journal = read_journal(directory, start, end)
    except JournalError as err:
        print(f"journal: {err}")
        return 1
    span = f"{start}" if start == end else f"{start} .. {end}"
    who = args.pair or "all pairs"
    print(f"journal {directory}, {span} (UTC), {who}: {len(journal.records)} records")
    if journal.corrupt:
        where = ", ".join(f"{name}:{line}" for name, line in journal.corrupt[:5])
        more = " ..." if len(journal.corrupt) > 5 else ""
        print(f"WARNING: {len(journal.corrupt)} corrupt line(s) skipped ({where}{more})")
    counts = gate_counts(journal.records, args.pair)
    print(
        f"\ncandles {counts.candles}: no signal {counts.no_signal}, "
        f"blocked {sum(counts.blocked.values())}, signals {counts.signals}, "
        f"entries {counts.entries}"
    )
    if counts.candles == 0:
        print("no candle journalled for this pair in this range")
    for title, counter in (
        ("signals blocked by candle gate", counts.blocked),
        ("signals refused by pre-trade check", counts.refused),
    ):
        if counter:
            print(f"{title}:")
            for gate, n in counter.most_common():
                print(f"  {gate:<24} {n}")
    fates = last_signals(journal.records, args.pair, limit=args.last)
    print(f"\nlast {len(fates)} signal(s) and their fate:")
    for fate in fates:
        conf = "" if fate.confidence is None else f" conf {fate.confidence:.3f}"
        print(f"  {fate.candle}  {fate.pair:<16} {fate.side or '-':<5}{conf}  {fate.fate}")
    hours = confidence_by_hour(journal.records, args.pair)
    if hours:
        print("\nmodel confidence by UTC hour (candle open):")
        print("  hour     n   mean    p10    p50    p90    max")
        for h in hours:
            print(
                f"  {h.hour:>4} {h.count:>5} {h.mean:6.3f} {h.p10:6.3f} {h.median:6.3f} "
                f"{h.p90:6.3f} {h.maximum:6.3f}"
            )
    else:
        print("\nno model confidence journalled (mode without the meta-model?)")
    return 0


def _default_db(userdir: Path) -> Path | None:
    for candidate in (Path.cwd() / DB_NAME, userdir / DB_NAME, userdir.parent / DB_NAME):
        if candidate.is_file():
            return candidate
    return None


def _cmd_daily(args: argparse.Namespace) -> int:
    from metalabel.ops.journal import JournalError
    from metalabel.ops.journal.daily import (
        DailyReportError,
        build_daily_report,
        render_html,
        summary_text,
        trades_from_sqlite,
    )
    from metalabel.ops.journal.writer import report_file

    directory = _journal_dir(args)
    userdir = Path(args.userdir)
    db = Path(args.db) if args.db else _default_db(userdir)
    if db is None:
        print(f"daily: no {DB_NAME} in ., {userdir} or its parent; pass --db PATH")
        return 1
    try:
        trades = trades_from_sqlite(db)
        report = build_daily_report(
            directory, args.date, trades, starting_balance=args.starting_balance
        )
    except (JournalError, DailyReportError) as err:
        print(f"daily: {err}")
        return 1
    out = Path(args.out) if args.out else report_file(directory, args.date)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    print(summary_text(report))
    print(f"wrote {out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``journal`` and ``daily`` to the ``metalabel`` command line."""
    from metalabel.ops.runner import USER_DATA

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--userdir", default=str(USER_DATA), help="the bot's user_data")
        parser.add_argument("--journal-dir", default=None, help="default: <userdir>/logs/journal")

    journal = subparsers.add_parser(
        "journal", help="why (no) trade, and what the model thought, from the decision journal"
    )
    common(journal)
    journal.add_argument("--pair", default=None, help="e.g. ETH/USDT:USDT (default: all)")
    journal.add_argument(
        "--from", dest="from_", type=_day, default=None, help="first UTC day (default: --to)"
    )
    journal.add_argument(
        "--to", type=_day, default=None, help="last UTC day (default: the journal's latest)"
    )
    journal.add_argument("--last", type=int, default=10, help="signals to list")
    journal.add_argument("--schema", action="store_true", help="print the record schema")
    journal.set_defaults(func=_cmd_journal)

    daily = subparsers.add_parser(
        "daily", help="rebuild a day's report from the journal and the trade database"
    )
    common(daily)
    daily.add_argument(
        "--date",
        type=_day,
        default=datetime.now(UTC).date(),
        help="UTC day (default: today)",
    )
    daily.add_argument("--db", default=None, help=f"freqtrade's sqlite (default: {DB_NAME})")
    daily.add_argument(
        "--starting-balance",
        type=float,
        default=None,
        help="only if the journal records none",
    )
    daily.add_argument("--out", default=None, help="default: <journal-dir>/daily-DATE.html")
    daily.set_defaults(func=_cmd_daily)
