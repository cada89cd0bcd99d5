"""Answers from the journal: why (no) trade, and what the model thought.

Pure functions over the records of :func:`metalabel.ops.journal.reader.read_journal`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metalabel.ops.journal.schema import Decision, RecordKind

Records = Sequence[dict[str, Any]]


def _of(records: Records, kind: RecordKind, pair: str | None) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == kind and (pair is None or r.get("pair") == pair)]


@dataclass(frozen=True)
class GateCounts:
    """How many candles each gate stopped, and how many signals each pre-trade check."""

    candles: int
    no_signal: int
    signals: int
    blocked: Counter[str]  # candle gate -> candles whose primary signal it refused
    refused: Counter[str]  # pre-trade check -> refusals (one per candle and check)
    entries: int  # entry orders placed


def gate_counts(records: Records, pair: str | None = None) -> GateCounts:
    candles = _of(records, RecordKind.CANDLE, pair)
    return GateCounts(
        candles=len(candles),
        no_signal=sum(r.get("decision") == Decision.NO_SIGNAL for r in candles),
        signals=sum(r.get("decision") == Decision.SIGNAL for r in candles),
        blocked=Counter(
            str(r.get("gate")) for r in candles if r.get("decision") == Decision.BLOCKED
        ),
        refused=Counter(str(r.get("gate")) for r in _of(records, RecordKind.REFUSAL, pair)),
        entries=sum(r.get("action") == "entry" for r in _of(records, RecordKind.ORDER, pair)),
    )


@dataclass(frozen=True)
class SignalFate:
    pair: str
    candle: str
    side: str | None
    confidence: float | None
    fate: str  # "entered", "refused by <check>: <reason>", "blocked by <gate>", ...


def last_signals(records: Records, pair: str | None = None, limit: int = 10) -> list[SignalFate]:
    """The latest candles whose primary signal fired, and what became of each."""
    refusals: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in _of(records, RecordKind.REFUSAL, pair):
        refusals.setdefault((str(r.get("pair")), str(r.get("candle"))), []).append(r)
    entered = {
        (str(r.get("pair")), str(r.get("candle")))
        for r in _of(records, RecordKind.ORDER, pair)
        if r.get("action") == "entry"
    }
    fates = []
    for r in _of(records, RecordKind.CANDLE, pair):
        if r.get("decision") == Decision.NO_SIGNAL:
            continue
        key = (str(r.get("pair")), str(r.get("candle")))
        if r.get("decision") == Decision.BLOCKED:
            fate = f"blocked by {r.get('gate')}"
        elif key in entered:
            fate = f"entered ({r.get('enter_tag')})"
        elif key in refusals:
            fate = "; ".join(
                f"refused by {x.get('gate')}: {x.get('reason')}" for x in refusals[key]
            )
        else:
            fate = "signal, no order journalled"
        fates.append(SignalFate(key[0], key[1], r.get("side"), r.get("meta_confidence"), fate))
    return fates[-limit:]


@dataclass(frozen=True)
class HourConfidence:
    hour: int  # UTC hour of the candle's open
    count: int
    mean: float
    p10: float
    median: float
    p90: float
    maximum: float


def confidence_by_hour(records: Records, pair: str | None = None) -> list[HourConfidence]:
    """The model's confidence per UTC hour of day, over the candles that have one."""
    by_hour: dict[int, list[float]] = {}
    for r in _of(records, RecordKind.CANDLE, pair):
        value = r.get("meta_confidence")
        candle = str(r.get("candle") or "")
        if value is None or len(candle) < 13:
            continue
        by_hour.setdefault(int(candle[11:13]), []).append(float(value))
    rows = []
    for hour in sorted(by_hour):
        v = np.asarray(by_hour[hour])
        p10, median, p90 = np.quantile(v, [0.1, 0.5, 0.9])
        rows.append(
            HourConfidence(
                hour, v.size, float(v.mean()), float(p10), float(median), float(p90),
                float(v.max()),
            )
        )  # fmt: skip
    return rows
