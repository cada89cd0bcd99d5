"""The decision journal's records: one typed dataclass per kind of line.

Every line of a journal file is one JSON object with the fields of one record class
below, in that order; ``kind`` says which. The common fields come first:

* ``kind`` -- the record kind (:class:`RecordKind`);
* ``time`` -- when the bot wrote it, UTC ISO 8601 (the file's date is this one's);
* ``pair`` -- the pair, ``null`` for records that concern no pair (errors);
* ``model_version`` -- the version of the pair's active meta-model from the lifecycle
  log, ``null`` without a model (modes ``primary`` / ``primary_regime``, no model yet,
  or a record without a pair).

Numbers that are not finite are written as ``null``. :data:`SCHEMA` lists every kind's
keys: the test that writes one of each keeps it and the writer in step, and
:func:`schema_markdown` renders it for the README.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, get_type_hints


class RecordKind(StrEnum):
    CANDLE = "candle"  # one per closed candle per pair: the gates and the decision
    REFUSAL = "refusal"  # a pre-trade check refused the candle's entry signal
    ORDER = "order"  # an entry or exit order about to be placed
    FILL = "fill"  # an order filled
    EXIT = "exit"  # a trade closed: reason, price, net profit
    ERROR = "error"  # an ERROR logged by the bot (any module)
    MODEL = "model"  # the pair's active model, when it changes and once per daily file


class Decision(StrEnum):
    """What a closed candle meant for entries (before the pre-trade checks)."""

    SIGNAL = "signal"  # every candle gate passed: freqtrade will try to enter
    NO_SIGNAL = "no_signal"  # the primary signal was neutral
    BLOCKED = "blocked"  # the primary signal fired and a candle gate refused it


@dataclass(frozen=True, kw_only=True)
class Record:
    """The fields every line has."""

    kind: str
    time: str
    pair: str | None
    model_version: int | None

    def as_json(self) -> dict[str, Any]:
        """Field order kept; NaN and infinities become ``None`` (strict JSON)."""
        return {k: _finite(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True, kw_only=True)
class CandleRecord(Record):
    """A closed candle of one pair: signal, regime, model, risk state and the decision.

    ``gate`` is the first gate that refused (``primary`` when the signal was neutral),
    in the strategy's order: primary, volume, candle_ok, regime_ok_<side>, meta_ok;
    ``gates`` holds every gate column's value on the candle.
    """

    kind: str = RecordKind.CANDLE.value
    candle: str  # the candle's open time, UTC ISO 8601
    close: float | None
    primary_direction: int | None  # -1 short, 0 neutral, 1 long
    primary_strength: float | None
    regime: str | None
    adx: float | None
    atr_ratio: float | None
    adx_score: float | None
    atr_ratio_score: float | None
    meta_confidence: float | None  # null outside mode "meta"
    do_predict: int | None
    guard_tier: str
    kill_switch: str  # "active", "tripped" or "unknown" (state file unreadable)
    decision: str  # :class:`Decision`
    side: str | None  # the signal's side, "long" / "short"
    gate: str | None
    enter_tag: str | None
    gates: dict[str, bool]
    equity: float | None
    starting_balance: float | None


@dataclass(frozen=True, kw_only=True)
class RefusalRecord(Record):
    """A pre-trade check (risk desk, stale data, stake) refused an entry signal."""

    kind: str = RecordKind.REFUSAL.value
    candle: str | None  # the pair's latest journalled candle
    gate: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderRecord(Record):
    """An order freqtrade is about to place (the strategy confirmed it)."""

    kind: str = RecordKind.ORDER.value
    candle: str | None
    action: str  # "entry" / "exit"
    side: str  # "long" / "short"
    trade_id: int | None  # null for an entry: the trade does not exist yet
    order_type: str
    amount: float | None
    rate: float | None
    enter_tag: str | None
    exit_reason: str | None


@dataclass(frozen=True, kw_only=True)
class FillRecord(Record):
    """An order filled (entry or exit)."""

    kind: str = RecordKind.FILL.value
    action: str
    side: str
    trade_id: int | None
    price: float | None
    amount: float | None


@dataclass(frozen=True, kw_only=True)
class ExitRecord(Record):
    """A trade closed: why, at what price, and what it made after fees."""

    kind: str = RecordKind.EXIT.value
    trade_id: int | None
    side: str
    exit_reason: str | None
    enter_tag: str | None
    open_rate: float | None
    price: float | None
    profit_abs: float | None  # net, in the stake currency
    profit_ratio: float | None  # net, on the stake


@dataclass(frozen=True, kw_only=True)
class ErrorRecord(Record):
    """An ERROR-level log line of the bot."""

    kind: str = RecordKind.ERROR.value
    logger: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ModelRecord(Record):
    """The pair's active model and its hold-out figures (from the lifecycle log)."""

    kind: str = RecordKind.MODEL.value
    decision: str | None  # the lifecycle decision that put it in charge
    since: str | None  # when it took over
    holdout: dict[str, Any] | None  # trades, sharpe, profit_factor, max_drawdown, ...


RECORD_TYPES: dict[RecordKind, type[Record]] = {
    RecordKind.CANDLE: CandleRecord,
    RecordKind.REFUSAL: RefusalRecord,
    RecordKind.ORDER: OrderRecord,
    RecordKind.FILL: FillRecord,
    RecordKind.EXIT: ExitRecord,
    RecordKind.ERROR: ErrorRecord,
    RecordKind.MODEL: ModelRecord,
}

# kind -> the keys of its lines, in order.
SCHEMA: dict[str, tuple[str, ...]] = {
    kind.value: tuple(f.name for f in dataclasses.fields(cls)) for kind, cls in RECORD_TYPES.items()
}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _type_name(kind: Any) -> str:
    """``float | None`` -> ``float or null`` (a pipe would split a Markdown table cell)."""
    name = kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")
    return name.replace(" | None", " or null")


def schema_markdown() -> str:
    """The schema as Markdown (one table row per kind), for the README."""
    common = [f.name for f in dataclasses.fields(Record)]
    lines = [
        f"Every line has {', '.join(f'`{k}`' for k in common)}; then, by `kind`:",
        "",
        "| kind | keys |",
        "| --- | --- |",
    ]
    for kind, cls in RECORD_TYPES.items():
        hints = get_type_hints(cls)
        keys = [
            f"`{f.name}` ({_type_name(hints[f.name])})"
            for f in dataclasses.fields(cls)
            if f.name not in common
        ]
        lines.append(f"| `{kind.value}` | {', '.join(keys)} |")
    return "\n".join(lines)


def number_or_none(value: Any) -> float | None:
    """A finite float from a journal value, else None (a bool is no number here)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def integer_or_none(value: Any) -> int | None:
    number = number_or_none(value)
    return None if number is None else int(number)
