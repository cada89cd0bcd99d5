"""Model lifecycle: promote a retrained candidate only if it holds up; roll back if live
results fall far behind what the model showed before it went live.

Promotion (seed v2): on the same hold-out rows, the candidate needs a Sharpe of at least
0.9x the incumbent's, a profit factor of at least 0.9x, a max drawdown of at most 1.1x,
on a hold-out where the candidate takes at least 50 trades (``min_holdout_trades``);
all must pass. The hold-out is every labelled event after the incumbent's training
window (out of sample for both; the candidate's confidence there is purged out-of-fold
where it was fitted): fewer than 50 candidate trades refuses the candidate "too few to
judge", and since the incumbent stays, the next retrain judges on a longer hold-out.
"0.9x" is read as "at most 10 % worse", so with a negative incumbent Sharpe of -1.0 the
candidate needs >= -1.1 (a plain 0.9x would demand -0.9, i.e. better than the
incumbent). With no incumbent (the first model) the candidate
is promoted: the bot needs a model. Figures are trade-level, from
:func:`metalabel.model.artifacts.per_trade_stats` over the signals each model would take.

Rollback: live Sharpe below 0.7x the model's hold-out Sharpe (same "x% worse" reading)
or live drawdown above 1.5x its hold-out drawdown, once ``rollback_min_trades`` trades
were closed under the model.

Every decision is a :class:`Verdict` with its reasons; :class:`LifecycleLog` keeps them
as JSON lines. A corrupt line is skipped with a warning, never fatal.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from metalabel.config import LifecycleSettings
from metalabel.model.artifacts import per_trade_stats

logger = logging.getLogger(__name__)

# Beside the models of the FreqAI identifier (user_data/models/<identifier>/).
LIFECYCLE_LOG = "lifecycle.jsonl"

Stats = Mapping[str, Any]  # per_trade_stats() output: trades, sharpe, profit_factor, ...


class Decision(StrEnum):
    PROMOTE = "promote"
    REFUSE = "refuse"
    ROLLBACK = "rollback"
    KEEP = "keep"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...]


def _at_least(value: float, reference: float, ratio: float) -> bool:
    """value >= ratio x reference, read as "at most (1 - ratio) worse" for any sign."""
    return value >= reference - (1 - ratio) * abs(reference)


def _number(stats: Stats, key: str) -> float | None:
    value = stats.get(key)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def promotion_verdict(
    candidate: Stats,
    incumbent: Stats | None,
    settings: LifecycleSettings,
) -> Verdict:
    """Promote or refuse a candidate, comparing both on the same hold-out rows.

    The candidate must take at least ``min_holdout_trades`` trades there. An incumbent
    that took no trade on the hold-out gives no reference: a candidate that trades
    enough there replaces it.
    """
    if incumbent is None:
        return Verdict(Decision.PROMOTE, ("no incumbent: the first model is promoted",))
    trades = int(candidate.get("trades") or 0)
    if trades < settings.min_holdout_trades:
        return Verdict(
            Decision.REFUSE,
            (
                f"{trades} hold-out trades < {settings.min_holdout_trades}: too few to judge, "
                "the incumbent stays and the next retrain judges on a longer hold-out",
            ),
        )
    sharpe = _number(candidate, "sharpe")
    if not candidate.get("trades") or sharpe is None:
        return Verdict(Decision.REFUSE, ("candidate takes too few trades for a Sharpe",))
    if not incumbent.get("trades"):
        return Verdict(Decision.PROMOTE, ("the incumbent took no trade on the hold-out",))
    failures = []
    sharpe_inc = _number(incumbent, "sharpe")
    if sharpe_inc is not None and not _at_least(sharpe, sharpe_inc, settings.min_sharpe_ratio):
        failures.append(
            f"Sharpe {sharpe:.3f} < {settings.min_sharpe_ratio}x incumbent {sharpe_inc:.3f}"
        )
    # A profit factor without losing trades is None: as good as it gets.
    pf, pf_inc = _number(candidate, "profit_factor"), _number(incumbent, "profit_factor")
    if pf is not None and pf_inc is not None and pf < settings.min_profit_factor_ratio * pf_inc:
        failures.append(
            f"profit factor {pf:.3f} < {settings.min_profit_factor_ratio}x incumbent {pf_inc:.3f}"
        )
    if pf is not None and pf_inc is None:
        failures.append("the incumbent had no losing trade on the hold-out, the candidate has")
    dd, dd_inc = _number(candidate, "max_drawdown"), _number(incumbent, "max_drawdown")
    if dd is not None and dd_inc is not None and dd > settings.max_drawdown_ratio * dd_inc + 1e-12:
        failures.append(
            f"max drawdown {dd:.4f} > {settings.max_drawdown_ratio}x incumbent {dd_inc:.4f}"
        )
    if failures:
        return Verdict(Decision.REFUSE, tuple(failures))
    return Verdict(Decision.PROMOTE, ("all promotion criteria met",))


def rollback_verdict(live: Stats, reference: Stats, settings: LifecycleSettings) -> Verdict:
    """Roll back when live results fall far behind the model's hold-out figures."""
    trades = int(live.get("trades") or 0)
    if trades < settings.rollback_min_trades:
        return Verdict(Decision.KEEP, (f"{trades} live trades < {settings.rollback_min_trades}",))
    reasons = []
    sharpe, ref_sharpe = _number(live, "sharpe"), _number(reference, "sharpe")
    if (
        sharpe is not None
        and ref_sharpe is not None
        and not _at_least(sharpe, ref_sharpe, settings.rollback_sharpe_ratio)
    ):
        reasons.append(
            f"live Sharpe {sharpe:.3f} < {settings.rollback_sharpe_ratio}x hold-out "
            f"{ref_sharpe:.3f}"
        )
    dd, ref_dd = _number(live, "max_drawdown"), _number(reference, "max_drawdown")
    if dd is not None and ref_dd is not None and dd > settings.rollback_drawdown_ratio * ref_dd:
        reasons.append(
            f"live drawdown {dd:.4f} > {settings.rollback_drawdown_ratio}x hold-out {ref_dd:.4f}"
        )
    if reasons:
        return Verdict(Decision.ROLLBACK, tuple(reasons))
    return Verdict(Decision.KEEP, ("live results within bounds",))


class LifecycleLog:
    """Promotion, refusal and rollback events as JSON lines, appended, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, event: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(event), default=str, allow_nan=False) + "\n")

    def read(self) -> list[dict[str, Any]]:
        """All readable events; a missing file is empty, a corrupt line is skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        events = []
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d is not JSON; skipped", self.path, number)
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


def active_event(events: list[dict[str, Any]], pair: str) -> dict[str, Any] | None:
    """The event that put the pair's current model in charge (a promotion or a rollback)."""
    active = None
    for event in events:
        if event.get("pair") != pair:
            continue
        if event.get("decision") in (Decision.PROMOTE, Decision.ROLLBACK):
            active = event
    return active


def rollback_target(events: list[dict[str, Any]], pair: str) -> dict[str, Any] | None:
    """The promotion to go back to: the latest one of an earlier version than the active.

    >>> log = [{"pair": "P", "decision": "promote", "candidate_version": 1},
    ...        {"pair": "P", "decision": "promote", "candidate_version": 3}]
    >>> rollback_target(log, "P")["candidate_version"]
    1
    """
    active = active_event(events, pair)
    if active is None:
        return None
    current = int(active.get("active_version") or active.get("candidate_version") or 0)
    earlier = [
        e
        for e in events
        if e.get("pair") == pair
        and e.get("decision") == Decision.PROMOTE
        and int(e.get("candidate_version") or 0) < current
    ]
    return earlier[-1] if earlier else None


def live_rollback_check(
    events: list[dict[str, Any]],
    pair: str,
    closed: Sequence[tuple[datetime, float]],
    settings: LifecycleSettings,
) -> Verdict | None:
    """Compare the live trades since the active model took over with its hold-out figures.

    ``closed`` holds (close time, net price-move return) of the pair's closed trades.
    None when there is no active model with hold-out figures to compare with.
    """
    active = active_event(events, pair)
    if active is None or not isinstance(active.get("active_holdout"), Mapping):
        return None
    since = datetime.fromisoformat(str(active["time"]))
    returns = [r for closed_at, r in closed if closed_at >= since]
    return rollback_verdict(per_trade_stats(returns), active["active_holdout"], settings)
