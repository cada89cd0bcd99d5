"""Pre-trade checks: the named gates an entry must pass, first refusal wins.

One pure function over plain inputs, so the strategy's ``confirm_trade_entry`` only
gathers the inputs and applies the verdict. The gates, in order:

1. ``input``: the side is ``long`` / ``short`` and the equity figures are usable;
2. ``kill_switch``: the kill switch is not tripped;
3. ``guard_paused``: the performance guard is not PAUSED;
4. ``daily_loss``: today's loss is not above the daily limit (5 %);
5. ``drawdown``: equity is not at or beyond the drawdown limit (15 %) from its peak;
6. ``max_open_positions``: fewer than 3 positions are open;
7. ``duplicate_direction``: no open position on this pair in this direction (Bybit's
   one-way mode and freqtrade hold one position per pair anyway; this is the seed's
   explicit rule);
8. ``confidence``: with a model in use, its confidence is above the guard's threshold
   (0.6, or 0.7 when REDUCED); a missing or NaN confidence is refused.

The daily-loss and drawdown limits are the kill switch's, checked here again from the
live numbers so an entry is refused even before the switch's state file says TRIPPED.
Nothing here raises on bad numbers: an unusable input is a refusal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from metalabel.config import KillSwitchSettings, RiskSettings
from metalabel.risk.failsafe import fails_closed, finite_positive
from metalabel.risk.guard import GuardDecision, GuardTier
from metalabel.risk.killswitch import (
    KillSwitchState,
    daily_loss_limit_hit,
    daily_loss_ratio,
    drawdown_limit_hit,
    drawdown_ratio,
)

SIDES = ("long", "short")


class EntryCheck(StrEnum):
    """The name of a pre-trade gate; a refusal names the gate that failed."""

    INPUT = "input"
    KILL_SWITCH = "kill_switch"
    GUARD_PAUSED = "guard_paused"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    MAX_OPEN_POSITIONS = "max_open_positions"
    DUPLICATE_DIRECTION = "duplicate_direction"
    CONFIDENCE = "confidence"


@dataclass(frozen=True)
class PreTradeDecision:
    """Whether the entry may go ahead; ``check`` names the failing gate (None if allowed)."""

    allowed: bool
    reason: str
    check: EntryCheck | None = None


def _refuse(check: EntryCheck, reason: str) -> PreTradeDecision:
    return PreTradeDecision(allowed=False, reason=f"{check.value}: {reason}", check=check)


@fails_closed(
    lambda err: _refuse(EntryCheck.INPUT, f"pre-trade check failed: {err!r}"), "pre-trade check"
)
def check_entry(
    *,
    pair: str,
    side: str,
    open_positions: Sequence[tuple[str, str]],
    uses_model: bool,
    confidence: float | None,
    base_confidence_threshold: float,
    guard: GuardDecision,
    kill_switch: KillSwitchState,
    equity: float,
    peak_equity: float | None,
    day_start_equity: float | None,
    risk: RiskSettings,
    kill_settings: KillSwitchSettings,
) -> PreTradeDecision:
    """Run the gates of the module docstring in order; the first that fails refuses.

    ``open_positions`` are ``(pair, side)`` of the open trades, sides ``long`` /
    ``short``. ``peak_equity`` / ``day_start_equity`` are the kill switch's marks (None:
    not known yet, that limit is not checked). ``confidence`` is read only when
    ``uses_model``.

    >>> from metalabel.risk.guard import GuardDecision, GuardTier
    >>> from metalabel.risk.killswitch import KillSwitchState
    >>> check_entry(pair="BTC/USDT:USDT", side="long", open_positions=[("BTC/USDT:USDT",
    ...     "long")], uses_model=False, confidence=None, base_confidence_threshold=0.6,
    ...     guard=GuardDecision(GuardTier.NORMAL, "", 1.0), kill_switch=KillSwitchState(),
    ...     equity=1000.0, peak_equity=1000.0, day_start_equity=1000.0,
    ...     risk=RiskSettings(), kill_settings=KillSwitchSettings()).check.value
    'duplicate_direction'
    """
    side = side.lower() if isinstance(side, str) else side
    if side not in SIDES:
        return _refuse(EntryCheck.INPUT, f"side {side!r} is not one of {SIDES}")
    if not finite_positive(equity):
        return _refuse(EntryCheck.INPUT, f"equity {equity!r} is not a finite positive number")
    for name, mark in (("peak equity", peak_equity), ("start-of-day equity", day_start_equity)):
        if mark is not None and not finite_positive(mark):
            return _refuse(EntryCheck.INPUT, f"{name} {mark!r} is not a finite positive number")

    if kill_switch.tripped:
        return _refuse(EntryCheck.KILL_SWITCH, kill_switch.reason or "kill switch is tripped")
    if guard.tier is GuardTier.PAUSED:
        return _refuse(EntryCheck.GUARD_PAUSED, f"performance guard PAUSED: {guard.reason}")
    if day_start_equity is not None and daily_loss_limit_hit(
        equity, day_start_equity, kill_settings
    ):
        return _refuse(
            EntryCheck.DAILY_LOSS,
            f"loss today {daily_loss_ratio(equity, day_start_equity):.2%} > "
            f"{kill_settings.max_daily_loss_ratio:.2%}",
        )
    if peak_equity is not None and drawdown_limit_hit(equity, peak_equity, kill_settings):
        return _refuse(
            EntryCheck.DRAWDOWN,
            f"drawdown {drawdown_ratio(equity, peak_equity):.2%} >= "
            f"{kill_settings.max_drawdown_ratio:.2%}",
        )
    if len(open_positions) >= risk.max_open_positions:
        return _refuse(
            EntryCheck.MAX_OPEN_POSITIONS,
            f"{len(open_positions)} positions open (limit {risk.max_open_positions})",
        )
    for open_pair, open_side in open_positions:
        if open_pair == pair and str(open_side).lower() == side:
            return _refuse(EntryCheck.DUPLICATE_DIRECTION, f"a {side} on {pair} is already open")
    if uses_model:
        threshold = guard.confidence_threshold(base_confidence_threshold)
        if confidence is None or isinstance(confidence, bool):
            return _refuse(EntryCheck.CONFIDENCE, "no model confidence for this entry")
        try:
            above = math.isfinite(confidence) and confidence > threshold
        except TypeError:
            above = False
        if not above:
            return _refuse(
                EntryCheck.CONFIDENCE,
                f"confidence {confidence!r} is not above {threshold:g} (guard {guard.tier.value})",
            )
    return PreTradeDecision(allowed=True, reason="all pre-trade checks passed")
