"""The daily report: one UTC day's PnL and risk state, from the journal and the trades.

The bot builds it at the first loop of the next UTC day and ``metalabel daily`` rebuilds
it afterwards, with the same function over the same inputs: the day's journal file and
freqtrade's trades (the bot's Trade objects, or the rows of its sqlite database).

Figures (metrics from :mod:`metalabel.evaluation.metrics`):

* realised PnL: net profit of every trade closed up to the end of the day;
  daily PnL: of the trades closed that day; win rate and average win / loss of those;
* unrealised PnL: trades open at the end of the day, marked at the pair's last
  journalled close of the day, before exit fees and funding (an estimate);
* rolling 30 days (the 30 days ending with this one): Sharpe of daily returns, profit
  factor, closed-trade max drawdown; the equity at its start is the starting balance
  plus the profit of every earlier closed trade;
* guard tier and kill switch: as the day's last candle record saw them; models: each
  pair's active version and hold-out figures from the day's ``model`` records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from metalabel.evaluation.metrics import Metric, PeriodMetrics, trade_metrics
from metalabel.ops.journal.reader import JournalError, JournalRead, read_journal
from metalabel.ops.journal.schema import Decision, RecordKind

ROLLING_DAYS = 30
TEMPLATE = "daily.html.j2"
TRADE_COLUMNS = (
    "trade_id", "pair", "is_short", "is_open", "open_date", "close_date", "open_rate",
    "close_rate", "amount", "profit_abs", "profit_ratio", "exit_reason",
)  # fmt: skip


class DailyReportError(Exception):
    """The report cannot be built (no journal for the day, no starting balance)."""


def _frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(TRADE_COLUMNS))
    for column in ("open_date", "close_date"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in ("open_rate", "close_rate", "amount", "profit_abs", "profit_ratio"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["is_short"] = frame["is_short"].astype(bool)
    frame["is_open"] = frame["is_open"].astype(bool)
    return frame


def trades_from_objects(trades: Iterable[Any]) -> pd.DataFrame:
    """freqtrade ``Trade`` objects (or anything with their attributes) as a trades frame."""
    return _frame(
        {
            "trade_id": t.id,
            "pair": t.pair,
            "is_short": t.is_short,
            "is_open": t.is_open,
            "open_date": t.open_date_utc,
            "close_date": None if t.is_open else t.close_date_utc,
            "open_rate": t.open_rate,
            "close_rate": t.close_rate,
            "amount": t.amount,
            "profit_abs": None if t.is_open else t.close_profit_abs,
            "profit_ratio": None if t.is_open else t.close_profit,
            "exit_reason": t.exit_reason,
        }
        for t in trades
    )


def freqtrade_trades() -> pd.DataFrame:
    """Every trade of the running bot's database (freqtrade's persistence)."""
    from freqtrade.persistence import Trade

    return trades_from_objects(Trade.get_trades_proxy())


def trades_from_sqlite(path: Path) -> pd.DataFrame:
    """The ``trades`` table of freqtrade's sqlite database, read-only."""
    if not path.is_file():
        raise DailyReportError(f"no trade database at {path}")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(
                "SELECT id AS trade_id, pair, is_short, is_open, open_date, close_date, "
                "open_rate, close_rate, amount, close_profit_abs AS profit_abs, "
                "close_profit AS profit_ratio, exit_reason FROM trades"
            ).fetchall()
    except sqlite3.Error as err:
        raise DailyReportError(f"{path} is not a readable freqtrade trade database: {err}") from err
    return _frame(dict(row) for row in rows)


@dataclass(frozen=True)
class ModelState:
    pair: str
    version: int | None
    since: str | None
    holdout: Mapping[str, Any] | None


@dataclass(frozen=True)
class DailyReport:
    day: date
    starting_balance: float
    trades_closed: int
    open_trades: int
    realised_pnl: float
    daily_pnl: float
    unrealised_pnl: float | None
    today: PeriodMetrics
    rolling: PeriodMetrics
    guard_tier: str
    kill_switch: str
    models: tuple[ModelState, ...]
    candles: dict[str, int]  # pair -> candle records of the day
    signals: int
    blocked: int
    refusals: int
    errors: int
    corrupt_lines: int
    closed: pd.DataFrame = field(repr=False, compare=False)

    @property
    def quiet(self) -> bool:
        """No trade closed and none open: the report says so."""
        return self.trades_closed == 0 and self.open_trades == 0


def _unrealised(trades: pd.DataFrame, closes: Mapping[str, float]) -> float | None:
    if trades.empty:
        return 0.0
    total = 0.0
    for trade in trades.itertuples():
        close = closes.get(str(trade.pair))
        if close is None or not np.isfinite(trade.amount) or not np.isfinite(trade.open_rate):
            return None
        direction = -1.0 if trade.is_short else 1.0
        total += direction * float(trade.amount) * (close - float(trade.open_rate))
    return total


def build_daily_report(
    directory: Path,
    day: date,
    trades: pd.DataFrame | None,
    *,
    starting_balance: float | None = None,
) -> DailyReport:
    """The report of UTC ``day`` from the journal in ``directory`` and ``trades``.

    ``starting_balance`` is used only when the day's journal does not record one.
    Raises :class:`DailyReportError` / :class:`~.reader.JournalError` when the day has
    no journal.
    """
    journal: JournalRead = read_journal(directory, day, day)
    candles = journal.of_kind(RecordKind.CANDLE)
    balances = [r["starting_balance"] for r in candles if r.get("starting_balance")]
    balance = float(balances[-1]) if balances else starting_balance
    if balance is None or not balance > 0:
        raise DailyReportError(
            f"the journal of {day} records no starting balance; pass --starting-balance"
        )
    if trades is None:
        trades = _frame([])
    start = pd.Timestamp(day, tz=UTC)
    end = start + pd.Timedelta(days=1)
    window = end - pd.Timedelta(days=ROLLING_DAYS)
    closed = trades[~trades["is_open"] & trades["close_date"].notna()]
    closed = closed.sort_values("close_date", kind="stable")
    before = closed[closed["close_date"] < window]["profit_abs"].sum()
    today = trade_metrics(
        closed,
        start=start,
        end=end,
        start_equity=balance + closed[closed["close_date"] < start]["profit_abs"].sum(),
    )
    rolling = trade_metrics(closed, start=window, end=end, start_equity=balance + before)
    open_at_end = trades[
        (trades["open_date"] < end) & (trades["close_date"].isna() | (trades["close_date"] >= end))
    ]
    closes = {str(r["pair"]): float(r["close"]) for r in candles if r.get("close") is not None}
    last = candles[-1] if candles else {}
    models = {}
    for record in journal.of_kind(RecordKind.MODEL):
        models[str(record["pair"])] = ModelState(
            str(record["pair"]), record.get("model_version"), record.get("since"),
            record.get("holdout"),
        )  # fmt: skip
    per_pair: dict[str, int] = {}
    for record in candles:
        per_pair[str(record.get("pair"))] = per_pair.get(str(record.get("pair")), 0) + 1
    return DailyReport(
        day=day,
        starting_balance=balance,
        trades_closed=today.trades,
        open_trades=len(open_at_end),
        realised_pnl=float(closed[closed["close_date"] < end]["profit_abs"].sum()),
        daily_pnl=float(closed[(closed["close_date"] >= start) & (closed["close_date"] < end)][
            "profit_abs"
        ].sum()),
        unrealised_pnl=_unrealised(open_at_end, closes),
        today=today,
        rolling=rolling,
        guard_tier=str(last.get("guard_tier", "unknown")),
        kill_switch=str(last.get("kill_switch", "unknown")),
        models=tuple(models[p] for p in sorted(models)),
        candles=dict(sorted(per_pair.items())),
        signals=sum(r.get("decision") == Decision.SIGNAL for r in candles),
        blocked=sum(r.get("decision") == Decision.BLOCKED for r in candles),
        refusals=len(journal.of_kind(RecordKind.REFUSAL)),
        errors=len(journal.of_kind(RecordKind.ERROR)),
        corrupt_lines=len(journal.corrupt),
        closed=closed[(closed["close_date"] >= start) & (closed["close_date"] < end)],
    )  # fmt: skip


# ----------------------------------------------------------------------------- output
def fmt(metric: Metric | float | None, kind: str = "num") -> str:
    """A number for people: ``pct`` as a percentage, ``money`` with 2 decimals."""
    value = metric.value if isinstance(metric, Metric) else metric
    if value is None or not np.isfinite(value):
        return "n/a"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "money":
        return f"{value:+.2f}"
    return f"{value:.2f}"


def summary_text(report: DailyReport) -> str:
    """The message sent through freqtrade's channel (Telegram / webhook)."""
    lines = [f"metalabel daily report {report.day} (UTC)"]
    if report.quiet:
        lines.append("No trades: none closed and none open.")
    lines += [
        f"PnL: day {fmt(report.daily_pnl, 'money')}, realised {fmt(report.realised_pnl, 'money')}"
        f", unrealised {fmt(report.unrealised_pnl, 'money')}",
        f"Trades closed {report.trades_closed}, open {report.open_trades}; win rate "
        f"{fmt(report.today.win_rate, 'pct')}, avg win {fmt(report.today.avg_win, 'pct')}, "
        f"avg loss {fmt(report.today.avg_loss, 'pct')}",
        f"30 days: Sharpe {fmt(report.rolling.sharpe)}, profit factor "
        f"{fmt(report.rolling.profit_factor)}, "
        f"max drawdown {fmt(report.rolling.max_drawdown, 'pct')}",
        f"Guard {report.guard_tier}, kill switch {report.kill_switch}",
    ]
    for model in report.models:
        holdout = model.holdout or {}
        lines.append(
            f"Model {model.pair} v{model.version}: hold-out Sharpe "
            f"{fmt(holdout.get('sharpe'))}, PF {fmt(holdout.get('profit_factor'))}, "
            f"{holdout.get('trades', 'n/a')} trades"
        )
    if report.corrupt_lines:
        lines.append(f"{report.corrupt_lines} corrupt journal line(s) skipped")
    return "\n".join(lines)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("metalabel.ops.journal", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = fmt
    return env


def render_html(report: DailyReport) -> str:
    generated = datetime.now(UTC).replace(microsecond=0).isoformat()
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            report=report,
            trades=report.closed.to_dict("records"),
            generated=generated,
            window_start=report.day - timedelta(days=ROLLING_DAYS - 1),
        )
    )


__all__ = [
    "DailyReport",
    "DailyReportError",
    "JournalError",
    "build_daily_report",
    "freqtrade_trades",
    "render_html",
    "summary_text",
    "trades_from_objects",
    "trades_from_sqlite",
]
