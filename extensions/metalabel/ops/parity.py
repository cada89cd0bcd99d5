"""Live-versus-backtest parity: a dry run's decision journal against the backtest's,
candle by candle.

The question an operator asks: does the bot decide, hour by hour, what the backtest says
it would have decided? ``metalabel parity`` (:mod:`metalabel.ops.cli_parity`) runs the
bot in dry-run against the replay exchange's live clock (compressed, see
:class:`~metalabel.ops.replay.clock.TimeWarp`), then builds the backtest's side for the
same hours; this module only compares, on plain records.

The two sides:

* **live** -- the dry run's journal: its ``candle`` records (one per closed candle and
  pair), its ``order`` records with ``action == "entry"`` (the entries) and its
  ``exit`` records with the ``order`` record before them (the exits). The replay
  exchange serves history shifted by a whole number of hours; :func:`live_side` moves
  every candle back to bundle time by that offset.
* **backtest** -- the per-candle decisions rebuilt from the same pipeline the strategy
  runs (``metalabel.core.pipeline.signal_frame``) on the bundled candles, turned into
  records by the journal's own :func:`~metalabel.ops.journal.recorder.candle_decision`,
  plus the entries and exits of freqtrade's backtest of the same hours
  (:func:`backtest_decisions`, :func:`backtest_events`). In mode ``meta`` the model
  columns are FreqAI's out-of-sample predictions from that backtest: its window's model
  trained on the days before the first hour, as the dry run's model trained at start-up,
  but not at the same moment nor necessarily on the same rows.

Why rebuild rather than journal the backtest: the journal is written only while trading
(a backtest analyses its whole range at once), and the pipeline is the one function
every consumer calls, so a candle decided differently here is decided differently by
the strategy.

Per candle two decisions are compared:

* **primary and regime** -- the primary direction, the regime, and the decision up to
  and including the regime gate (which side fired, which gate refused);
* **model-gated** -- on candles where both sides passed every gate before the model,
  the model gate ``meta_ok`` (mode ``meta`` only).

``parity_decisions_match`` is the share of compared candles whose whole decision
(decision, side, refusing gate) is equal. Each difference carries its cause, found from
what the journal recorded (close, ADX, ATR ratio, model version, confidence,
``do_predict``, pre-trade refusals, open positions). Entries are matched on (pair,
signal candle, side); exits on (pair, hour of the exit, side, reason).

Worked example of the exit hour: a reversal signalled on the 10:00 candle closes at
11:00. The backtest's trade has ``close_date`` 11:00, hour 11:00; the live bot sees the
10:00 candle close at 11:00, its journal's latest candle is 10:00 and its exit order
goes out during the 11:00 hour, so the live exit hour is the order's candle + 1 h.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from metalabel.config import StrategyMode
from metalabel.ops.journal.recorder import candle_decision
from metalabel.ops.journal.schema import (
    Decision,
    RecordKind,
    integer_or_none,
    number_or_none,
)

HOUR = pd.Timedelta(hours=1)
PRIMARY_REGIME_TARGET = 0.99
# Exit reasons freqtrade gives a trade the backtest closed because its data ended.
END_OF_RUN_REASONS = frozenset({"force_exit", "end_of_backtest"})
MODEL_GATE = "meta_ok"
# Relative tolerance for "the same number" between the bot's frame and the rebuilt one.
NUMBER_TOLERANCE = 1e-9
MODEL_CONFIDENCE_TOLERANCE = 0.01


class ParityError(ValueError):
    """The inputs cannot be compared: no journal, a malformed record, no common hours."""


@dataclass(frozen=True)
class CandleRecord:
    """One closed candle's decision, from either side, in bundle time."""

    pair: str
    candle: pd.Timestamp
    decision: str
    side: str | None
    gate: str | None
    primary_direction: int | None
    regime: str | None
    gates: Mapping[str, bool] = field(default_factory=dict)
    close: float | None = None
    adx: float | None = None
    atr_ratio: float | None = None
    meta_confidence: float | None = None
    do_predict: int | None = None
    model_version: int | None = None

    def before_model(self) -> tuple[Any, ...]:
        """The primary and regime decision: direction, regime, side, refusing gate (the
        model gate counts as passing: it is compared separately)."""
        passed = self.decision == Decision.SIGNAL or self.gate == MODEL_GATE
        gate = None if passed else self.gate
        return (self.primary_direction, self.regime, self.side, gate)

    def reached_model(self) -> bool:
        """Every gate before the model passed and the model gate was evaluated."""
        return MODEL_GATE in self.gates and self.before_model()[3] is None and self.side is not None

    def whole(self) -> tuple[Any, ...]:
        return (self.decision, self.side, self.gate)


@dataclass(frozen=True)
class TradeEvent:
    """An entry (``hour`` = its signal candle) or exit (``hour`` = the hour it left in)."""

    pair: str
    hour: pd.Timestamp
    action: str  # "entry" / "exit"
    side: str
    reason: str | None  # enter tag / exit reason


@dataclass(frozen=True)
class LiveSide:
    """The dry run's records in bundle time."""

    candles: tuple[CandleRecord, ...]
    events: tuple[TradeEvent, ...]
    refusals: Mapping[tuple[str, pd.Timestamp], tuple[str, ...]]  # (pair, candle) -> gates


@dataclass(frozen=True)
class Difference:
    """One disagreement between the sides and why."""

    pair: str
    hour: pd.Timestamp
    what: str  # primary_regime / model / gate / entry / exit
    live: str
    backtest: str
    cause: str

    def line(self) -> str:
        return (
            f"{self.hour:%Y-%m-%d %H:%M} {self.pair:<15} {self.what:<14} "
            f"live={self.live} backtest={self.backtest}: {self.cause}"
        )


@dataclass(frozen=True)
class ParityReport:
    """Counts and differences of one comparison (see the module docstring)."""

    candles: int
    decisions_equal: int
    primary_regime_equal: int
    model_compared: int
    model_equal: int
    # model-gated candles whose model version, do_predict or confidence (by more than
    # MODEL_CONFIDENCE_TOLERANCE) differ: an equal gate may still hide another model
    model_inputs_differ: int
    entries_live: int
    entries_backtest: int
    entries_matched: int
    exits_live: int
    exits_backtest: int
    exits_matched: int
    first_hour: pd.Timestamp
    last_hour: pd.Timestamp
    differences: tuple[Difference, ...]

    @property
    def decisions_ratio(self) -> float:
        return self.decisions_equal / self.candles

    @property
    def primary_regime_ratio(self) -> float:
        return self.primary_regime_equal / self.candles

    @property
    def model_ratio(self) -> float | None:
        return self.model_equal / self.model_compared if self.model_compared else None

    @property
    def unexplained(self) -> int:
        return sum(d.cause.startswith("unexplained") for d in self.differences)

    @property
    def targets_met(self) -> bool:
        """>= 99 % on primary and regime, and every model-gated difference has a cause."""
        model_unexplained = sum(
            d.what == "model" and d.cause.startswith("unexplained") for d in self.differences
        )
        return self.primary_regime_ratio >= PRIMARY_REGIME_TARGET and model_unexplained == 0

    def lines(self) -> list[str]:
        """``key=value`` lines, the command's machine-readable output."""
        model = "n/a" if self.model_ratio is None else f"{self.model_ratio:.4f}"
        return [
            f"parity_hours={self.first_hour:%Y-%m-%dT%H:%M}..{self.last_hour:%Y-%m-%dT%H:%M}",
            f"parity_candles={self.candles}",
            f"parity_decisions_match={self.decisions_ratio:.4f}",
            f"parity_primary_regime_match={self.primary_regime_ratio:.4f}",
            f"parity_model_gated_compared={self.model_compared}",
            f"parity_model_gated_match={model}",
            f"parity_model_inputs_differ={self.model_inputs_differ}",
            f"parity_entries=live {self.entries_live}, backtest {self.entries_backtest}, "
            f"matched {self.entries_matched}",
            f"parity_exits=live {self.exits_live}, backtest {self.exits_backtest}, "
            f"matched {self.exits_matched}",
            f"parity_differences={len(self.differences)}",
            f"parity_unexplained={self.unexplained}",
            f"parity_targets_met={str(self.targets_met).lower()}",
        ]


# ---------------------------------------------------------------------- reading sides
def _hour(value: Any, what: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise ParityError(f"{what}: not a time: {value!r}") from err
    if stamp is pd.NaT or pd.isna(stamp):
        raise ParityError(f"{what}: not a time: {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ParityError(f"{where} ({raw.get('kind')}): {key} is not a string: {value!r}")
    return value


CANDLE_KEYS = ("pair", "candle", "decision", "side", "gate", "primary_direction", "regime")


def _candle_record(raw: Mapping[str, Any], shift: pd.Timedelta, where: str) -> CandleRecord:
    missing = [key for key in CANDLE_KEYS if key not in raw]
    if missing:
        raise ParityError(f"{where}: candle record without {', '.join(missing)}")
    decision = raw["decision"]
    if decision not in {d.value for d in Decision}:
        raise ParityError(f"{where}: unknown decision {decision!r}")
    gates = raw.get("gates") or {}
    if not isinstance(gates, Mapping):
        raise ParityError(f"{where}: gates is not an object: {gates!r}")
    return CandleRecord(
        pair=str(raw["pair"]),
        candle=_hour(raw["candle"], where) - shift,
        decision=str(decision),
        side=raw["side"],
        gate=raw["gate"],
        primary_direction=integer_or_none(raw["primary_direction"]),
        regime=None if raw["regime"] is None else str(raw["regime"]),
        gates={str(k): bool(v) for k, v in gates.items()},
        close=number_or_none(raw.get("close")),
        adx=number_or_none(raw.get("adx")),
        atr_ratio=number_or_none(raw.get("atr_ratio")),
        meta_confidence=number_or_none(raw.get("meta_confidence")),
        do_predict=integer_or_none(raw.get("do_predict")),
        model_version=integer_or_none(raw.get("model_version")),
    )


def live_side(records: Iterable[Mapping[str, Any]], offset_hours: int) -> LiveSide:
    """The journal's candles, entries, exits and refusals, moved back by the replay
    clock's offset (served time = bundle time + ``offset_hours``)."""
    shift = pd.Timedelta(hours=offset_hours)
    candles: dict[tuple[str, pd.Timestamp], CandleRecord] = {}
    events: list[TradeEvent] = []
    refusals: dict[tuple[str, pd.Timestamp], tuple[str, ...]] = {}
    exit_orders: dict[tuple[str, int | None], pd.Timestamp] = {}
    for number, raw in enumerate(records, 1):
        kind, where = raw.get("kind"), f"journal record {number}"
        if kind == RecordKind.CANDLE:
            record = _candle_record(raw, shift, where)
            candles[(record.pair, record.candle)] = record  # a restart may repeat one
        elif kind == RecordKind.ORDER and raw.get("candle"):
            hour = _hour(raw["candle"], where) - shift
            if raw.get("action") == "entry":
                events.append(
                    TradeEvent(
                        _text(raw, "pair", where),
                        hour,
                        "entry",
                        _text(raw, "side", where),
                        raw.get("enter_tag"),
                    )
                )
            else:
                exit_orders[(_text(raw, "pair", where), integer_or_none(raw.get("trade_id")))] = (
                    hour + HOUR
                )
        elif kind == RecordKind.EXIT:
            key = (_text(raw, "pair", where), integer_or_none(raw.get("trade_id")))
            if key in exit_orders:
                events.append(
                    TradeEvent(
                        key[0],
                        exit_orders[key],
                        "exit",
                        _text(raw, "side", where),
                        raw.get("exit_reason"),
                    )
                )
        elif kind == RecordKind.REFUSAL and raw.get("candle"):
            at = (_text(raw, "pair", where), _hour(raw["candle"], where) - shift)
            refusals[at] = (*refusals.get(at, ()), str(raw.get("gate")))
    if not candles:
        raise ParityError("the journal holds no candle records: the dry run decided nothing")
    ordered = tuple(sorted(candles.values(), key=lambda r: (r.candle, r.pair)))
    return LiveSide(ordered, tuple(events), refusals)


def backtest_decisions(frame: pd.DataFrame, pair: str, mode: StrategyMode) -> list[CandleRecord]:
    """One record per row of a pair's signal frame, decided as the strategy decides.

    ``frame`` is ``pipeline.signal_frame`` of the pair (plus ``meta_confidence`` and
    ``do_predict`` in mode ``meta``, when known); the entry columns are set by the
    strategy's rule (every gate of the mode true) and the record by the journal's
    :func:`candle_decision`, so both sides name gates the same way.
    """
    needed = {"date", "close", "volume", "primary_long", "primary_short", "candle_ok"}
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ParityError(f"{pair}: signal frame without {', '.join(missing)}")
    gates = frame.copy()
    meta = mode is StrategyMode.META and "meta_confidence" in gates.columns
    for side in ("long", "short"):
        passed = gates[f"primary_{side}"].astype(bool) & (gates["volume"] > 0)
        passed &= gates["candle_ok"].astype(bool)
        if mode in (StrategyMode.PRIMARY_REGIME, StrategyMode.META):
            passed &= gates[f"regime_ok_{side}"].astype(bool)
        if mode is StrategyMode.META:
            passed &= gates[MODEL_GATE].astype(bool) if meta else False
        gates[f"enter_{side}"] = passed.astype(int)
    records = []
    for row in gates.to_dict("records"):
        decision, row_side, gate, values = candle_decision(row, mode)
        records.append(
            CandleRecord(
                pair=pair,
                candle=_hour(row["date"], pair),
                decision=decision.value,
                side=row_side,
                gate=gate,
                primary_direction=integer_or_none(row.get("primary_direction")),
                regime=None if row.get("regime") is None else str(row["regime"]),
                gates=values,
                close=number_or_none(row.get("close")),
                adx=number_or_none(row.get("adx")),
                atr_ratio=number_or_none(row.get("atr_ratio")),
                meta_confidence=number_or_none(row.get("meta_confidence")) if meta else None,
                do_predict=integer_or_none(row.get("do_predict")) if meta else None,
                model_version=integer_or_none(row.get("model_version")) if meta else None,
            )
        )
    return records


def backtest_events(trades: pd.DataFrame) -> list[TradeEvent]:
    """Entries and exits of freqtrade's backtest trades (``load_backtest_data``).

    An entry fills at the open of the candle after its signal, so the signal candle is
    ``open_date - 1 h``; an exit's hour is the hour holding ``close_date``.
    """
    needed = {"pair", "open_date", "close_date", "is_short", "enter_tag", "exit_reason"}
    missing = sorted(needed - set(trades.columns))
    if missing:
        raise ParityError(f"backtest trades without {', '.join(missing)}")
    events = []
    for trade in trades.to_dict("records"):
        side = "short" if trade["is_short"] else "long"
        opened = _hour(trade["open_date"], "open_date")
        closed = _hour(trade["close_date"], "close_date")
        events.append(
            TradeEvent(trade["pair"], opened.floor("h") - HOUR, "entry", side, trade["enter_tag"])
        )
        events.append(
            TradeEvent(trade["pair"], closed.floor("h"), "exit", side, trade["exit_reason"])
        )
    return events


# ---------------------------------------------------------------------- causes
def _differs(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    return not math.isclose(a, b, rel_tol=NUMBER_TOLERANCE, abs_tol=NUMBER_TOLERANCE)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _candle_cause(live: CandleRecord, back: CandleRecord) -> str:
    """Why the primary or regime decision differs, from the values both sides recorded."""
    if _differs(live.close, back.close):
        values = f"live {_fmt(live.close)}, backtest {_fmt(back.close)}"
        return f"data: the candle's close differs ({values})"
    inputs = [
        f"{name} live {_fmt(a)} vs backtest {_fmt(b)}"
        for name, a, b in (
            ("adx", live.adx, back.adx),
            ("atr_ratio", live.atr_ratio, back.atr_ratio),
        )
        if _differs(a, b)
    ]
    if inputs:
        return (
            "indicator history: same close, different indicator values (" + "; ".join(inputs)
            + "); the bot computes them over its shorter candle window"
        )  # fmt: skip
    if live.primary_direction != back.primary_direction:
        return (
            "signal inputs: same close, ADX and ATR ratio; the EMA/RSI/MACD vote or the 4h "
            "confirmation saw different history (not journalled)"
        )
    for gate in ("volume", "candle_ok"):
        if live.gates.get(gate) != back.gates.get(gate):
            values = f"live {live.gates.get(gate)} vs backtest {back.gates.get(gate)}"
            return f"candle check: {gate} {values}"
    return "unexplained: every journalled input is equal"


def _model_cause(live: CandleRecord, back: CandleRecord) -> str:
    if (live.model_version is None) != (back.model_version is None):
        side = "live" if live.model_version is None else "backtest"
        return (
            f"model: no active model on the {side} side (none trained or promoted yet; "
            "see its lifecycle log)"
        )
    if live.model_version != back.model_version:
        return (
            f"model: live version {_fmt(live.model_version)} vs backtest version "
            f"{_fmt(back.model_version)} (trained at different moments)"
        )
    if live.do_predict != back.do_predict:
        values = f"live {_fmt(live.do_predict)} vs backtest {_fmt(back.do_predict)}"
        return f"outlier check: do_predict {values}"
    if live.meta_confidence is None or back.meta_confidence is None:
        side = "live" if live.meta_confidence is None else "backtest"
        return f"model: no confidence on the {side} side (model not trained yet or unavailable)"
    if _differs(live.meta_confidence, back.meta_confidence):
        return (
            f"model confidence live {live.meta_confidence:.4f} vs backtest "
            f"{back.meta_confidence:.4f} on either side of the threshold (same version: "
            "different inputs or a retrain at a different moment)"
        )
    return "unexplained: same model, confidence and do_predict"


def _entry_cause(
    event: TradeEvent,
    live_has: bool,
    live_candle: CandleRecord | None,
    back_candle: CandleRecord | None,
    live: LiveSide,
    open_live: bool,
    open_back: bool,
) -> str:
    if live_candle is None:
        return "the dry run journalled no decision for this candle (it was not running)"
    if back_candle is not None and live_candle.whole() != back_candle.whole():
        return "the candle's decision differs (see that difference)"
    if live_has:
        if open_back:
            return "backtest: a trade on this pair was still open (the exits differed before)"
        return "backtest: the signal was not filled (pre-trade check, stake or open slots)"
    refused = live.refusals.get((event.pair, event.hour))
    if refused:
        return f"live pre-trade refusal: {', '.join(refused)}"
    if open_live:
        return "live: a trade on this pair was still open (the exits differed before)"
    return "unexplained: same signal, no live order and no refusal journalled"


EXIT_PATH_CAUSE = (
    "exit path: the backtest walks the hour's four 15m sub-candles (high/low), the live bot "
    "checks stops on the replay exchange's ticker, which shows only the forming hour's open"
)


# ---------------------------------------------------------------------- comparison
def _open_at(events: Sequence[TradeEvent], pair: str, hour: pd.Timestamp) -> bool:
    """Whether a trade on ``pair`` was open at the start of ``hour``: entered at or
    before it and not left in an earlier hour (exit hours are floored, so a trade that
    left during ``hour`` still held the slot when it opened)."""
    entries = sorted(e.hour + HOUR for e in events if e.pair == pair and e.action == "entry")
    exits = sorted(e.hour for e in events if e.pair == pair and e.action == "exit")
    opened = sum(h <= hour for h in entries)
    closed = sum(h < hour for h in exits)
    return bool(opened > closed)


def compare(
    live: LiveSide,
    backtest: Sequence[CandleRecord],
    backtest_trades: Sequence[TradeEvent] = (),
) -> ParityReport:
    """Compare the sides on the candles both hold; see the module docstring."""
    back = {(r.pair, r.candle): r for r in backtest}
    common = [r for r in live.candles if (r.pair, r.candle) in back]
    if not common:
        live_span = f"{live.candles[0].candle} .. {live.candles[-1].candle}"
        back_span = (
            f"{min(r.candle for r in backtest)} .. {max(r.candle for r in backtest)}"
            if backtest
            else "nothing"
        )
        raise ParityError(
            f"no common candle: the journal (bundle time) covers {live_span}, "
            f"the backtest {back_span}"
        )
    first, last = common[0].candle, common[-1].candle
    differences: list[Difference] = []
    decisions_equal = primary_equal = model_compared = model_equal = model_inputs_differ = 0
    for record in common:
        other = back[(record.pair, record.candle)]
        decisions_equal += record.whole() == other.whole()
        if record.before_model() == other.before_model():
            primary_equal += 1
        else:
            differences.append(
                Difference(
                    record.pair, record.candle, "primary_regime",
                    _decision_text(record), _decision_text(other), _candle_cause(record, other),
                )
            )  # fmt: skip
            continue
        if record.reached_model() and other.reached_model():
            model_compared += 1
            model_inputs_differ += _model_inputs_differ(record, other)
            ours, theirs = record.gates[MODEL_GATE], other.gates[MODEL_GATE]
            if ours == theirs:
                model_equal += 1
            else:
                differences.append(
                    Difference(
                        record.pair, record.candle, "model",
                        f"meta_ok={ours}", f"meta_ok={theirs}", _model_cause(record, other),
                    )
                )  # fmt: skip
    pairs = {r.pair for r in common}
    in_window = [
        e for e in (*live.events, *backtest_trades) if e.pair in pairs and first <= e.hour <= last
    ]
    live_events = [e for e in live.events if e in in_window]
    back_events = [e for e in backtest_trades if e in in_window]
    entries = _match_entries(live, live_events, back_events, back, differences)
    exits = _match_exits(live_events, back_events, last, differences)
    differences.sort(key=lambda d: (d.hour, d.pair, d.what))
    return ParityReport(
        candles=len(common),
        decisions_equal=decisions_equal,
        primary_regime_equal=primary_equal,
        model_compared=model_compared,
        model_equal=model_equal,
        model_inputs_differ=model_inputs_differ,
        entries_live=entries[0],
        entries_backtest=entries[1],
        entries_matched=entries[2],
        exits_live=exits[0],
        exits_backtest=exits[1],
        exits_matched=exits[2],
        first_hour=first,
        last_hour=last,
        differences=tuple(differences),
    )


def _model_inputs_differ(live: CandleRecord, back: CandleRecord) -> bool:
    if live.model_version != back.model_version or live.do_predict != back.do_predict:
        return True
    if live.meta_confidence is None or back.meta_confidence is None:
        return live.meta_confidence is not back.meta_confidence
    return abs(live.meta_confidence - back.meta_confidence) > MODEL_CONFIDENCE_TOLERANCE


def _decision_text(record: CandleRecord) -> str:
    direction = {1: "long", -1: "short", 0: "neutral"}.get(record.primary_direction or 0, "?")
    gate = record.before_model()[3]
    fate = "passed" if gate is None else f"refused by {gate}"
    return f"{direction}/{record.regime}/{fate}"


def _match_entries(
    live: LiveSide,
    live_events: Sequence[TradeEvent],
    back_events: Sequence[TradeEvent],
    back: Mapping[tuple[str, pd.Timestamp], CandleRecord],
    differences: list[Difference],
) -> tuple[int, int, int]:
    ours = {(e.pair, e.hour, e.side): e for e in live_events if e.action == "entry"}
    theirs = {(e.pair, e.hour, e.side): e for e in back_events if e.action == "entry"}
    live_candles = {(r.pair, r.candle): r for r in live.candles}
    for key in sorted(set(ours) ^ set(theirs), key=lambda k: (k[1], k[0])):
        event = ours.get(key) or theirs[key]
        live_has = key in ours
        cause = _entry_cause(
            event,
            live_has,
            live_candles.get((event.pair, event.hour)),
            back.get((event.pair, event.hour)),
            live,
            _open_at(live_events, event.pair, event.hour + HOUR),
            _open_at(back_events, event.pair, event.hour + HOUR),
        )
        differences.append(
            Difference(
                event.pair, event.hour, "entry",
                event.side if live_has else "none", "none" if live_has else event.side, cause,
            )
        )  # fmt: skip
    return len(ours), len(theirs), len(set(ours) & set(theirs))


def _match_exits(
    live_events: Sequence[TradeEvent],
    back_events: Sequence[TradeEvent],
    last: pd.Timestamp,
    differences: list[Difference],
) -> tuple[int, int, int]:
    """Exits of trades both sides entered; a backtest exit forced by the end of its data
    and exits after the last compared hour are left out (the dry run was stopped)."""
    entered = {(e.pair, e.side) for e in live_events if e.action == "entry"} & {
        (e.pair, e.side) for e in back_events if e.action == "entry"
    }

    def exits(events: Sequence[TradeEvent]) -> dict[tuple[str, str, pd.Timestamp], TradeEvent]:
        return {
            (e.pair, e.side, e.hour): e
            for e in events
            if e.action == "exit"
            and (e.pair, e.side) in entered
            and e.reason not in END_OF_RUN_REASONS
            and e.hour <= last
        }

    ours, theirs = exits(live_events), exits(back_events)
    matched = 0
    for key in sorted(set(ours) | set(theirs), key=lambda k: (k[2], k[0])):
        mine, other = ours.get(key), theirs.get(key)
        if mine is not None and other is not None and mine.reason == other.reason:
            matched += 1
            continue
        pair, side, hour = key
        if mine is not None and other is not None:
            cause = EXIT_PATH_CAUSE
        else:
            cause = EXIT_PATH_CAUSE + " (the other side left at another hour)"
        differences.append(
            Difference(
                pair, hour, "exit",
                f"{side} {mine.reason}" if mine else "none",
                f"{side} {other.reason}" if other else "none",
                cause,
            )
        )  # fmt: skip
    return len(ours), len(theirs), matched
