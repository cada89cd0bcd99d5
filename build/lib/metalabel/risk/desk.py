"""The risk desk: one object that turns account facts into risk decisions each loop.

The strategy hands it plain facts (time, equity, closed and open trades, confidence)
and applies what it answers: a global entry lock, an alert, a refusal, a stake, a
flatten order. The rules themselves live in :mod:`metalabel.risk.killswitch`,
:mod:`metalabel.risk.guard`, :mod:`metalabel.risk.pretrade` and :mod:`metalabel.risk.sizing`; this
module only sequences them and remembers what was already announced, so every state
change is logged and alerted once, not on every loop.

Live and dry runs keep the kill-switch state in a file (``metalabel kill`` / ``resume``
act on it while the bot runs); backtests keep it in memory and never touch that file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from metalabel.config import MetalabelConfig
from metalabel.risk.guard import GuardDecision, GuardTier, evaluate_guard, outcomes_from_profits
from metalabel.risk.killswitch import (
    ApiErrorCounter,
    KillSwitchState,
    KillSwitchStore,
    MemoryKillSwitchStore,
    StateWriteError,
    evaluate_kill_switch,
)
from metalabel.risk.pretrade import PreTradeDecision, check_entry
from metalabel.risk.sizing import StakeDecision, position_stake

logger = logging.getLogger(__name__)

KILL_LOCK_REASON = "metalabel kill switch"
GUARD_LOCK_REASON = "metalabel performance guard paused"


@dataclass(frozen=True)
class ClosedTrade:
    """What the guard needs of a closed trade."""

    profit_abs: float
    closed_at: datetime


@dataclass(frozen=True)
class Notice:
    """Something the strategy must act on once: log it, alert it, lock or unlock."""

    level: int
    message: str
    lock_until: datetime | None = None  # lock all pairs until then
    lock_reason: str | None = None
    unlock_reason: str | None = None


Store = KillSwitchStore | MemoryKillSwitchStore


@dataclass
class RiskDesk:
    """Sequences the kill switch and the guard; remembers what it has announced."""

    settings: MetalabelConfig
    store: Store
    candle: timedelta
    api_errors: ApiErrorCounter | None = None
    guard: GuardDecision | None = None
    _announced_kill: bool = False
    _announced_write_error: str | None = None
    _announced_tier: GuardTier = GuardTier.NORMAL
    _guard_key: tuple[int, datetime | None] | None = None
    _confidences: list[float] = field(default_factory=list)

    @classmethod
    def for_run(
        cls, settings: MetalabelConfig, *, user_data: Path | None, candle: timedelta
    ) -> RiskDesk:
        """A file-backed desk for live/dry runs (``user_data`` given), in-memory otherwise.

        A live or dry-run bot whose kill-switch state can not be written must not start:
        a trip it could not persist would be forgotten by the next restart, and
        ``metalabel kill`` could not reach it. Raises :class:`StateWriteError` then.
        The state file is created at start, so the CLI can tell a bot's user-data
        directory from one no bot has run in.
        """
        store: Store
        api_errors = None
        if user_data is None:
            store = MemoryKillSwitchStore()
        else:
            file_store = KillSwitchStore(user_data / settings.kill_switch.state_file)
            try:
                file_store.check_writable()
                if not file_store.path.exists():
                    file_store.write(KillSwitchState())
            except StateWriteError as err:
                raise StateWriteError(
                    f"refusing to start: {err}; make it writable for the bot's user "
                    "(metalabel.kill_switch.state_file is relative to user_data)"
                ) from err
            store = file_store
            api_errors = ApiErrorCounter(settings.kill_switch.api_error_window_seconds)
        return cls(settings=settings, store=store, candle=candle, api_errors=api_errors)

    # ------------------------------------------------------------------ every loop
    def on_loop(
        self,
        now: datetime,
        *,
        equity: float,
        closed: Sequence[ClosedTrade],
        starting_equity: float,
        confidence: float | None = None,
    ) -> list[Notice]:
        """Update the kill switch and the guard; return what changed since last time."""
        notices: list[Notice] = []
        notices += self._kill_switch(now, equity, confidence)
        notices += self._guard(now, closed, starting_equity)
        return notices

    def _kill_switch(self, now: datetime, equity: float, confidence: float | None) -> list[Notice]:
        ks = self.settings.kill_switch
        state = self.store.read()
        if not state.tripped and ks.enabled:
            if math.isfinite(equity) and equity > 0:
                state = self.store.record_equity(equity, now)
            window = self._confidence_window(confidence)
            errors = self.api_errors.count() if self.api_errors else 0
            decision = evaluate_kill_switch(
                equity, state.peak_equity, state.day_start_equity, errors, window, now, ks
            )
            if decision.trip and decision.trigger is not None:
                state = self.store.trip(decision.trigger, decision.reason, now)
        notices = self._persistence()
        if state.tripped and not self._announced_kill:
            self._announced_kill = True
            action = "closing all positions" if ks.close_positions else "positions kept open"
            return [
                *notices,
                Notice(
                    logging.CRITICAL,
                    f"KILL SWITCH TRIPPED ({state.trigger}): {state.reason}. New entries "
                    f"blocked, {action}. Reset with `metalabel resume`.",
                    lock_until=now + timedelta(days=3650),
                    lock_reason=KILL_LOCK_REASON,
                ),
            ]
        if not state.tripped and self._announced_kill:
            self._announced_kill = False
            if self.api_errors:
                self.api_errors.clear()
            return [
                *notices,
                Notice(
                    logging.WARNING,
                    "Kill switch reset: entries allowed again.",
                    unlock_reason=KILL_LOCK_REASON,
                ),
            ]
        return notices

    def _persistence(self) -> list[Notice]:
        """Retry a state write that failed; alert when writes start or stop failing."""
        self.store.flush()
        error = self.store.write_error
        if (error is None) == (self._announced_write_error is None):
            return []  # once per failure spell, not per loop (the message names a temp file)
        self._announced_write_error = error
        if error is None:
            return [Notice(logging.WARNING, "Kill-switch state written again.")]
        return [
            Notice(
                logging.CRITICAL,
                f"KILL-SWITCH STATE NOT PERSISTED: {error}. A trip holds in memory only "
                "until the write succeeds (retried every loop); fix the directory.",
            )
        ]

    def _confidence_window(self, confidence: float | None) -> list[float] | None:
        ks = self.settings.kill_switch
        if confidence is None or not ks.low_confidence_enabled:
            return None
        self._confidences.append(confidence)
        del self._confidences[: -ks.low_confidence_window_candles]
        return list(self._confidences)

    def _guard(
        self, now: datetime, closed: Sequence[ClosedTrade], starting_equity: float
    ) -> list[Notice]:
        if not self.settings.guard.enabled:
            return []
        # The tier only changes when a trade closes or a pause times out: skip the replay
        # otherwise (it is O(trades) and runs every candle of a backtest).
        until = self.guard.until if self.guard else None
        key = (len(closed), until if until is not None and now >= until else None)
        if self.guard is not None and key == self._guard_key:
            return []
        self._guard_key = key
        ordered = sorted(closed, key=lambda t: t.closed_at)
        outcomes = outcomes_from_profits(
            [t.profit_abs for t in ordered],
            [t.closed_at for t in ordered],
            starting_equity=starting_equity,
        )
        cooldown = self.candle * self.settings.guard.paused_cooldown_candles
        self.guard = evaluate_guard(
            outcomes, self.settings.guard, now=now, paused_cooldown=cooldown
        )
        if self.guard.tier is self._announced_tier:
            return []
        previous, self._announced_tier = self._announced_tier, self.guard.tier
        message = f"Performance guard {previous} -> {self.guard.tier}: {self.guard.reason}"
        if self.guard.tier is GuardTier.PAUSED:
            until = self.guard.until or now + cooldown
            return [
                Notice(logging.WARNING, message, lock_until=until, lock_reason=GUARD_LOCK_REASON)
            ]
        unlock = GUARD_LOCK_REASON if previous is GuardTier.PAUSED else None
        return [Notice(logging.WARNING, message, unlock_reason=unlock)]

    # ------------------------------------------------------------------ decisions
    @property
    def tripped(self) -> bool:
        return self.store.read().tripped

    @property
    def flatten(self) -> bool:
        """Close every position now: tripped, and configured to close positions."""
        return self.settings.kill_switch.close_positions and self.tripped

    def guard_multiplier(self) -> float:
        return self.guard.size_multiplier if self.guard else 1.0

    def entry(
        self,
        *,
        pair: str,
        side: str,
        open_positions: Sequence[tuple[str, str]],
        confidence: float | None,
        equity: float,
    ) -> PreTradeDecision:
        state = self.store.read()
        return check_entry(
            pair=pair,
            side=side,
            open_positions=open_positions,
            uses_model=confidence is not None,
            confidence=confidence,
            base_confidence_threshold=self.settings.model.confidence_threshold,
            guard=self.guard or evaluate_guard([], self.settings.guard),
            kill_switch=state,
            equity=equity,
            peak_equity=state.peak_equity,
            day_start_equity=state.day_start_equity,
            risk=self.settings.risk,
            kill_settings=self.settings.kill_switch,
        )

    def stake(
        self,
        *,
        equity: float,
        confidence: float | None,
        daily_volatility: float,
        regime_multiplier: float,
        leverage: float,
        min_stake: float | None,
        max_stake: float,
    ) -> StakeDecision:
        return position_stake(
            equity=equity,
            confidence=confidence,
            current_daily_volatility=daily_volatility,
            guard_multiplier=self.guard_multiplier(),
            regime_multiplier=regime_multiplier,
            leverage=leverage,
            min_stake=min_stake,
            max_stake=max_stake,
            settings=self.settings.risk,
        )
