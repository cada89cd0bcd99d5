"""The strategy's journal: one call per hook turns what the bot saw and did into records.

Created in ``bot_start``. Only live and dry runs journal (:meth:`Journal.for_run`
returns a disabled journal for backtests, hyperopt and the analyses, whose every method
does nothing). Every public method catches its own failures: a journal problem is
logged once per method and the bot trades on, whatever the hook.

What each hook records:

* ``populate_entry_trend`` -> :meth:`Journal.candle`: the latest closed candle of the
  pair (once per candle), its gates and the decision;
* the pre-trade refusals (``_refuse_once``) -> :meth:`Journal.refusal`, once per pair,
  candle and gate (freqtrade retries a refused signal on every loop);
* ``confirm_trade_entry`` / ``confirm_trade_exit`` -> :meth:`Journal.order`;
* ``order_filled`` -> :meth:`Journal.filled` (and an ``exit`` record once a trade closes);
* ERROR log lines of any module -> ``error`` records, through a logging handler;
* ``bot_loop_start`` -> :meth:`Journal.on_loop`: at the first loop of a new UTC day the
  daily report of the day before (:mod:`metalabel.ops.journal.daily`).

Reading the last row in ``populate_entry_trend`` is safe here: the journal runs only
while trading, where the last row is the candle that just closed, and it reads, never
writes, the frame.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pandas as pd

from metalabel.config import MetalabelConfig, StrategyMode
from metalabel.model.lifecycle import LIFECYCLE_LOG, LifecycleLog, active_event
from metalabel.ops.journal.schema import (
    CandleRecord,
    Decision,
    ErrorRecord,
    ExitRecord,
    FillRecord,
    ModelRecord,
    OrderRecord,
    Record,
    RefusalRecord,
    integer_or_none,
    number_or_none,
)
from metalabel.ops.journal.writer import JournalWriter, journal_file, report_file

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

TRADING_RUNMODES = ("live", "dry_run")
GATE_COLUMNS = (
    "primary_long", "primary_short", "candle_ok", "regime_ok_long", "regime_ok_short",
    "meta_ok",
)  # fmt: skip


def _quiet(method: Callable[P, R | None]) -> Callable[P, R | None]:
    """Run a journal method; on any exception log it once for that method, return None."""
    failed: set[str] = set()

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            if method.__name__ not in failed:
                failed.add(method.__name__)
                logger.warning(
                    "journal.%s failed; trading goes on (logged once)",
                    method.__name__,
                    exc_info=True,
                )
            return None

    return wrapper


def _iso(moment: Any) -> str:
    return pd.Timestamp(moment).tz_convert(UTC).isoformat() if moment is not None else ""


def candle_decision(
    row: Mapping[str, Any], mode: StrategyMode
) -> tuple[Decision, str | None, str | None, dict[str, bool]]:
    """(decision, side, refusing gate, gate values) of one analysed candle.

    The gates are checked in the strategy's order; the first that is false refused.

    >>> row = {"primary_long": True, "primary_short": False, "volume": 5.0,
    ...        "candle_ok": True, "regime_ok_long": False, "enter_long": 0}
    >>> candle_decision(row, StrategyMode.PRIMARY_REGIME)[:3]
    (<Decision.BLOCKED: 'blocked'>, 'long', 'regime_ok_long')
    """
    gates = {name: bool(row[name]) for name in GATE_COLUMNS if name in row}
    gates["volume"] = bool((number_or_none(row.get("volume")) or 0.0) > 0)
    for side in ("long", "short"):
        if number_or_none(row.get(f"enter_{side}")) == 1:
            return Decision.SIGNAL, side, None, gates
    if gates.get("primary_long"):
        side = "long"
    elif gates.get("primary_short"):
        side = "short"
    else:
        return Decision.NO_SIGNAL, None, "primary", gates
    order = ["volume", "candle_ok"]
    if mode in (StrategyMode.PRIMARY_REGIME, StrategyMode.META):
        order.append(f"regime_ok_{side}")
    if mode is StrategyMode.META:
        order.append("meta_ok")
    refusing = next((gate for gate in order if not gates.get(gate, False)), "unknown")
    return Decision.BLOCKED, side, refusing, gates


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ModelVersions:
    """The active model of each pair, from the lifecycle log (re-read when it changes)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._events: list[dict[str, Any]] = []

    def active(self, pair: str) -> dict[str, Any] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._events, self._stamp = LifecycleLog(self.path).read(), stamp
        return active_event(self._events, pair)

    def version(self, pair: str | None) -> int | None:
        event = self.active(pair) if pair else None
        return integer_or_none(event.get("active_version")) if event else None


class _ErrorHandler(logging.Handler):
    """Journals ERROR log records of every module except the journal's own."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(level=logging.ERROR)
        self.journal = journal
        self._inside = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("metalabel.ops.journal") or getattr(self._inside, "on", False):
            return
        self._inside.on = True
        try:
            self.journal.error(record.name, record.getMessage())
        finally:
            self._inside.on = False


class Journal:
    """The decision journal of one bot run; see the module docstring for the hooks."""

    def __init__(
        self,
        writer: JournalWriter | None,
        *,
        mode: StrategyMode = StrategyMode.META,
        risk: Any = None,
        models: ModelVersions | None = None,
        equity: Callable[[], float] | None = None,
        starting_balance: Callable[[], float] | None = None,
        send: Callable[[str], None] | None = None,
        trades: Callable[[], pd.DataFrame] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.writer = writer
        self.mode = mode
        self.risk = risk
        self.models = models or ModelVersions(None)
        self._equity = equity
        self._starting_balance = starting_balance
        self._send = send
        self._trades = trades
        self._clock = clock or _utc_now
        self._candles: dict[str, str] = {}  # pair -> latest journalled candle
        self._refused: dict[str, tuple[str | None, set[str]]] = {}
        self._models: dict[str, tuple[date, int | None]] = {}  # pair -> (file day, version)
        self._report_day: date | None = None
        self._handler: _ErrorHandler | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def disabled(cls) -> Journal:
        return cls(None)

    @classmethod
    def for_run(
        cls,
        config: Mapping[str, Any],
        settings: MetalabelConfig,
        *,
        bot: Any = None,
        **kwargs: Any,
    ) -> Journal:
        """A journal for a live or dry run whose settings enable it; disabled otherwise.

        ``config`` is freqtrade's config (run mode, user_data_dir, FreqAI identifier);
        ``bot`` the strategy, whose ``wallets`` (starting balance) and ``dp`` (message
        channel) are read; ``kwargs`` are the other arguments of :class:`Journal`.
        """
        try:
            if bot is not None:
                wallets, dp = getattr(bot, "wallets", None), getattr(bot, "dp", None)
                if wallets is not None:
                    kwargs.setdefault("starting_balance", wallets.get_starting_balance)
                if dp is not None:
                    kwargs.setdefault(
                        "send", lambda message: dp.send_msg(message, always_send=True)
                    )
            runmode = str(getattr(config.get("runmode"), "value", config.get("runmode")))
            if runmode not in TRADING_RUNMODES or not settings.journal.enabled:
                return cls.disabled()
            user_data = Path(config["user_data_dir"])
            directory = user_data / settings.journal.directory
            writer = JournalWriter(directory, retention_days=settings.journal.retention_days)
            freqai = config.get("freqai") or {}
            lifecycle = None
            if settings.mode is StrategyMode.META and freqai.get("enabled"):
                lifecycle = user_data / "models" / str(freqai.get("identifier")) / LIFECYCLE_LOG
            if "trades" not in kwargs:
                from metalabel.ops.journal.daily import freqtrade_trades

                kwargs["trades"] = freqtrade_trades
            journal = cls(writer, mode=settings.mode, models=ModelVersions(lifecycle), **kwargs)
            journal.listen_for_errors()
            logger.info("decision journal in %s", directory)
            return journal
        except Exception:
            logger.warning("decision journal disabled: it could not be set up", exc_info=True)
            return cls.disabled()

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def listen_for_errors(self) -> None:
        if self._handler is None and self.enabled:
            self._handler = _ErrorHandler(self)
            logging.getLogger().addHandler(self._handler)

    def close(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None

    # ------------------------------------------------------------------ hooks
    @_quiet
    def candle(self, pair: str, dataframe: pd.DataFrame) -> None:
        """The pair's latest closed candle, once (freqtrade may analyse it again)."""
        if not self.enabled or dataframe is None or dataframe.empty:
            return
        row = dataframe.iloc[-1].to_dict()
        moment = _iso(row.get("date"))
        if self._candles.get(pair) == moment:
            return
        self._candles[pair] = moment
        decision, side, gate, gates = candle_decision(row, self.mode)
        meta = self.mode is StrategyMode.META
        tag = row.get("enter_tag")
        self._write(
            CandleRecord(
                time="",
                pair=pair,
                model_version=None,
                candle=moment,
                close=number_or_none(row.get("close")),
                primary_direction=integer_or_none(row.get("primary_direction")),
                primary_strength=number_or_none(row.get("primary_strength")),
                regime=str(row["regime"]) if row.get("regime") is not None else None,
                adx=number_or_none(row.get("adx")),
                atr_ratio=number_or_none(row.get("atr_ratio")),
                adx_score=number_or_none(row.get("adx_score")),
                atr_ratio_score=number_or_none(row.get("atr_ratio_score")),
                meta_confidence=number_or_none(row.get("meta_confidence")) if meta else None,
                do_predict=integer_or_none(row.get("do_predict")) if meta else None,
                guard_tier=self._guard_tier(),
                kill_switch=self._kill_switch(),
                decision=decision.value,
                side=side,
                gate=gate,
                enter_tag=tag if decision is Decision.SIGNAL and isinstance(tag, str) else None,
                gates=gates,
                equity=number_or_none(self._equity()) if self._equity else None,
                starting_balance=(
                    number_or_none(self._starting_balance()) if self._starting_balance else None
                ),
            )
        )

    @_quiet
    def refusal(self, pair: str, gate: str, reason: str) -> None:
        """A pre-trade refusal, once per pair, candle and gate."""
        if not self.enabled:
            return
        candle = self._candles.get(pair)
        seen_candle, gates = self._refused.get(pair, (None, set()))
        if seen_candle != candle:
            gates = set()
        if gate in gates:
            return
        self._refused[pair] = (candle, gates | {gate})
        self._write(
            RefusalRecord(
                time="",
                pair=pair,
                model_version=None,
                candle=self._candles.get(pair),
                gate=gate,
                reason=reason,
            )
        )

    @_quiet
    def order(
        self,
        pair: str,
        *,
        action: str,
        side: str,
        order_type: str,
        amount: float | None,
        rate: float | None,
        trade_id: int | None = None,
        enter_tag: str | None = None,
        exit_reason: str | None = None,
    ) -> None:
        """An entry or exit order the strategy has just confirmed."""
        if not self.enabled:
            return
        self._write(
            OrderRecord(
                time="",
                pair=pair,
                model_version=None,
                candle=self._candles.get(pair),
                action=action,
                side=side,
                trade_id=trade_id,
                order_type=order_type,
                amount=number_or_none(amount),
                rate=number_or_none(rate),
                enter_tag=enter_tag,
                exit_reason=exit_reason,
            )
        )

    def entry_order(
        self,
        pair: str,
        side: str,
        order_type: str,
        amount: float,
        rate: float,
        entry_tag: str | None,
    ) -> None:
        """``confirm_trade_entry`` allowed the entry."""
        self.order(
            pair, action="entry", side=side, order_type=order_type, amount=amount, rate=rate,
            enter_tag=entry_tag,
        )  # fmt: skip

    def exit_order(
        self, trade: Any, order_type: str, amount: float, rate: float, exit_reason: str
    ) -> None:
        """``confirm_trade_exit``: freqtrade is about to place the exit order."""
        self.order(
            trade.pair, action="exit", side="short" if trade.is_short else "long",
            order_type=order_type, amount=amount, rate=rate, trade_id=trade.id,
            enter_tag=trade.enter_tag, exit_reason=exit_reason,
        )  # fmt: skip

    @_quiet
    def filled(self, trade: Any, order: Any) -> None:
        """A filled order of ``trade`` (freqtrade's Trade and Order); the exit once closed."""
        if not self.enabled:
            return
        side = "short" if trade.is_short else "long"
        action = "entry" if order.ft_order_side == trade.entry_side else "exit"
        self._write(
            FillRecord(
                time="",
                pair=trade.pair,
                model_version=None,
                action=action,
                side=side,
                trade_id=trade.id,
                price=number_or_none(order.safe_price),
                amount=number_or_none(order.safe_filled),
            )
        )
        if action == "exit" and not trade.is_open:
            self._write(
                ExitRecord(
                    time="",
                    pair=trade.pair,
                    model_version=None,
                    trade_id=trade.id,
                    side=side,
                    exit_reason=trade.exit_reason,
                    enter_tag=trade.enter_tag,
                    open_rate=number_or_none(trade.open_rate),
                    price=number_or_none(trade.close_rate),
                    profit_abs=number_or_none(trade.close_profit_abs),
                    profit_ratio=number_or_none(trade.close_profit),
                )
            )

    @_quiet
    def error(self, source: str, message: str) -> None:
        if not self.enabled:
            return
        self._write(
            ErrorRecord(time="", pair=None, model_version=None, logger=source, message=message)
        )

    @_quiet
    def on_loop(self, now: datetime) -> None:
        """At the first loop of a UTC day, the report of the day before (once).

        Also at start-up, when yesterday has a journal but no report (the bot was down
        at midnight).
        """
        if not self.enabled or self.writer is None:
            return
        today = now.astimezone(UTC).date()
        if self._report_day is None:
            self._report_day = today
            yesterday = today - timedelta(days=1)
            directory = self.writer.directory
            if (
                journal_file(directory, yesterday).is_file()
                and not report_file(directory, yesterday).exists()
            ):
                self.daily_report(yesterday)
            return
        if today > self._report_day:
            day, self._report_day = self._report_day, today
            self.daily_report(day)

    @_quiet
    def daily_report(self, day: date) -> Path | None:
        """Build, write and send one day's report."""
        if self.writer is None:
            return None
        from metalabel.ops.journal.daily import (
            DailyReportError,
            build_daily_report,
            render_html,
            summary_text,
        )
        from metalabel.ops.journal.reader import JournalError

        trades = self._trades() if self._trades else None
        try:
            report = build_daily_report(self.writer.directory, day, trades)
        except (JournalError, DailyReportError) as err:
            logger.warning("daily report for %s not built: %s", day, err)
            return None
        path = self.writer.write_report(day, render_html(report))
        if self._send is not None:
            self._send(summary_text(report))
        logger.info("daily report for %s: %s", day, path)
        return path

    # ------------------------------------------------------------------ internals
    def _write(self, record: Record) -> None:
        if self.writer is None:
            return
        now = self._clock()
        line = record.as_json()
        line["time"] = now.isoformat()
        line["model_version"] = self.models.version(record.pair)
        if record.pair is not None:
            self._announce_model(record.pair, now)
        self.writer.write(line, now)

    def _announce_model(self, pair: str, now: datetime) -> None:
        """A ``model`` record when the pair's model changes, and once in each day's file."""
        event = self.models.active(pair)
        if event is None or self.writer is None:
            return
        version = integer_or_none(event.get("active_version"))
        if self._models.get(pair) == (now.date(), version):
            return
        self._models[pair] = (now.date(), version)
        holdout = event.get("active_holdout")
        record = ModelRecord(
            time=now.isoformat(),
            pair=pair,
            model_version=version,
            decision=str(event.get("decision")),
            since=str(event.get("time")) if event.get("time") else None,
            holdout=dict(holdout) if isinstance(holdout, Mapping) else None,
        )
        self.writer.write(record.as_json(), now)

    def _guard_tier(self) -> str:
        guard = getattr(self.risk, "guard", None)
        return str(guard.tier) if guard is not None else "normal"

    def _kill_switch(self) -> str:
        if self.risk is None:
            return "unknown"
        try:
            return "tripped" if self.risk.store.read().tripped else "active"
        except Exception:
            return "unknown"
