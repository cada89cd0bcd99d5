"""Kill-switch rules: when equity, errors or confidence trip the switch (pure, no I/O).

Triggers (defaults of :class:`~metalabel.config.KillSwitchSettings`), first match wins:

* ``drawdown``: equity, unrealised PnL included, 15 % or more below its peak;
* ``daily_loss``: today's loss (UTC day) above 5 % of the day's starting equity;
* ``api_errors``: 10 or more failed exchange requests within 60 seconds;
* ``low_confidence``: a model exists and each of its last 168 candle confidences is
  below 0.5 (a NaN confidence counts as low: a model that stopped predicting is not
  trusted either; fewer than 168 values are not evaluated);
* ``manual``: ``metalabel kill`` (:meth:`~metalabel.risk.killswitch.store.KillSwitchStore.trip`);
* ``bad_input``: an equity figure that is not a finite positive number -- fail closed.

:class:`KillSwitchState` is what the state file holds (see
:mod:`metalabel.risk.killswitch.store`); peak and start-of-day equity live in it so a
restart does not forget them, and :func:`track_equity` keeps them up to date.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from metalabel.config import KillSwitchSettings
from metalabel.risk.failsafe import fails_closed, finite_positive

STATE_FILE_VERSION = 1
RESUME_HINT = "run `metalabel resume` to reset it once the cause is understood"


class KillState(StrEnum):
    """Kill-switch state; the value is what the state file holds."""

    ACTIVE = "active"
    TRIPPED = "tripped"


class KillTrigger(StrEnum):
    """Why the switch tripped."""

    DRAWDOWN = "drawdown"
    DAILY_LOSS = "daily_loss"
    API_ERRORS = "api_errors"
    LOW_CONFIDENCE = "low_confidence"
    MANUAL = "manual"
    BAD_INPUT = "bad_input"
    UNREADABLE_STATE = "unreadable_state"


@dataclass(frozen=True)
class KillDecision:
    """Whether the automatic triggers trip the switch now, which one, and why."""

    trip: bool
    trigger: KillTrigger | None
    reason: str


def drawdown_ratio(equity: float, peak_equity: float) -> float:
    """How far equity is below its peak (0.15 = 15 %); 0 when at or above the peak.

    >>> drawdown_ratio(8_500.0, 10_000.0)
    0.15
    """
    return max(0.0, round(1.0 - equity / peak_equity, 12))


def daily_loss_ratio(equity: float, day_start_equity: float) -> float:
    """Today's loss as a share of the day's starting equity; 0 on a winning day.

    >>> daily_loss_ratio(9_400.0, 10_000.0)
    0.06
    """
    return max(0.0, round(1.0 - equity / day_start_equity, 12))


def drawdown_limit_hit(equity: float, peak_equity: float, settings: KillSwitchSettings) -> bool:
    """Equity ``max_drawdown_ratio`` or more below its peak (a limit reached is hit)."""
    return drawdown_ratio(equity, peak_equity) >= settings.max_drawdown_ratio


def daily_loss_limit_hit(
    equity: float, day_start_equity: float, settings: KillSwitchSettings
) -> bool:
    """Today's loss strictly above ``max_daily_loss_ratio``."""
    return daily_loss_ratio(equity, day_start_equity) > settings.max_daily_loss_ratio


@fails_closed(
    lambda err: KillDecision(
        True, KillTrigger.BAD_INPUT, f"kill-switch evaluation failed: {err!r}"
    ),
    "kill-switch evaluation",
)
def evaluate_kill_switch(
    equity: float,
    peak_equity: float | None,
    day_start_equity: float | None,
    api_errors_in_window: int,
    confidence_window: Sequence[float] | None,
    now: datetime,
    settings: KillSwitchSettings,
) -> KillDecision:
    """Check the automatic triggers; the first that holds trips the switch.

    ``peak_equity`` / ``day_start_equity`` come from :func:`track_equity` (None: not
    known yet, check skipped); ``confidence_window`` is the model's recent confidences,
    oldest first, or None when no model is in use. Never raises: unusable numbers trip
    with ``bad_input``.

    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 7, 21, 12, tzinfo=UTC)
    >>> d = evaluate_kill_switch(8_400.0, 10_000.0, 8_500.0, 0, None, now, KillSwitchSettings())
    >>> d.trip, d.trigger.value, d.reason
    (True, 'drawdown', 'equity 8400 is 16.00% below its peak 10000 (limit 15.00%)')
    """
    if not settings.enabled:
        return KillDecision(False, None, "kill switch disabled")
    for name, value in (
        ("equity", equity),
        ("peak equity", peak_equity),
        ("start-of-day equity", day_start_equity),
    ):
        if (value is not None or name == "equity") and not finite_positive(value):
            return KillDecision(
                True, KillTrigger.BAD_INPUT, f"{name} {value!r} is not a finite positive number"
            )
    if peak_equity is not None and drawdown_limit_hit(equity, peak_equity, settings):
        return KillDecision(
            True,
            KillTrigger.DRAWDOWN,
            f"equity {equity:.8g} is {drawdown_ratio(equity, peak_equity):.2%} below its peak "
            f"{peak_equity:.8g} (limit {settings.max_drawdown_ratio:.2%})",
        )
    if day_start_equity is not None and daily_loss_limit_hit(equity, day_start_equity, settings):
        return KillDecision(
            True,
            KillTrigger.DAILY_LOSS,
            f"loss today ({now.astimezone(UTC).date().isoformat()} UTC) "
            f"{daily_loss_ratio(equity, day_start_equity):.2%} of the day's starting equity "
            f"{day_start_equity:.8g} (limit {settings.max_daily_loss_ratio:.2%})",
        )
    try:
        errors = int(api_errors_in_window)
    except (TypeError, ValueError, OverflowError):
        return KillDecision(
            True, KillTrigger.BAD_INPUT, f"API error count {api_errors_in_window!r} unusable"
        )
    if errors >= settings.api_error_limit:
        return KillDecision(
            True,
            KillTrigger.API_ERRORS,
            f"{errors} failed exchange requests within {settings.api_error_window_seconds}s "
            f"(limit {settings.api_error_limit})",
        )
    if settings.low_confidence_enabled and confidence_window is not None:
        low = _persistently_low(confidence_window, settings)
        if low is not None:
            return KillDecision(True, KillTrigger.LOW_CONFIDENCE, low)
    return KillDecision(False, None, "no kill-switch trigger holds")


def _persistently_low(window: Sequence[float], settings: KillSwitchSettings) -> str | None:
    """The reason when the last ``low_confidence_window_candles`` values are all low."""
    n = settings.low_confidence_window_candles
    values = list(window)[-n:]
    if len(values) < n:
        return None
    for value in values:
        try:
            if math.isfinite(value) and value >= settings.low_confidence_ratio:
                return None
        except TypeError:
            continue  # not a number: counts as low, like NaN
    return (
        f"model confidence below {settings.low_confidence_ratio:g} on each of the last {n} candles"
    )


@dataclass(frozen=True)
class KillSwitchState:
    """What the state file holds; the default is a fresh ACTIVE switch."""

    state: KillState = KillState.ACTIVE
    reason: str = ""
    trigger: KillTrigger | None = None
    tripped_at: datetime | None = None
    reset_at: datetime | None = None
    peak_equity: float | None = None
    day_start_equity: float | None = None
    day: date | None = None  # the UTC day day_start_equity belongs to

    @property
    def tripped(self) -> bool:
        return self.state is KillState.TRIPPED

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_FILE_VERSION,
                "state": self.state.value,
                "reason": self.reason,
                "trigger": None if self.trigger is None else self.trigger.value,
                "tripped_at": _iso(self.tripped_at),
                "reset_at": _iso(self.reset_at),
                "peak_equity": self.peak_equity,
                "day_start_equity": self.day_start_equity,
                "day": None if self.day is None else self.day.isoformat(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> KillSwitchState:
        """Parse a state file; raises ValueError on anything malformed."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        if raw.get("version") != STATE_FILE_VERSION:
            raise ValueError(f"unknown version {raw.get('version')!r}")
        trigger = raw.get("trigger")
        day = raw.get("day")
        return cls(
            state=KillState(raw["state"]),
            reason=_str(raw.get("reason", ""), "reason"),
            trigger=None if trigger is None else KillTrigger(trigger),
            tripped_at=_parse_time(raw.get("tripped_at")),
            reset_at=_parse_time(raw.get("reset_at")),
            peak_equity=_equity(raw.get("peak_equity"), "peak_equity"),
            day_start_equity=_equity(raw.get("day_start_equity"), "day_start_equity"),
            day=None if day is None else date.fromisoformat(_str(day, "day")),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(_str(value, "timestamp"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone")
    return moment


def _equity(value: Any, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is not a number")
    return float(value)


def track_equity(state: KillSwitchState, equity: float, now: datetime) -> KillSwitchState:
    """The state with its peak and start-of-day equity updated for ``equity`` at ``now``.

    The peak only rises; the first observation of a UTC day becomes its starting
    equity. An unusable equity changes nothing (the evaluation trips on it). Returns
    ``state`` itself when nothing changed, so callers can skip the write.

    >>> from datetime import UTC, datetime
    >>> s = track_equity(KillSwitchState(), 1_000.0, datetime(2026, 7, 21, 23, tzinfo=UTC))
    >>> s = track_equity(s, 900.0, datetime(2026, 7, 22, 0, 5, tzinfo=UTC))
    >>> (s.peak_equity, s.day_start_equity, s.day.isoformat())
    (1000.0, 900.0, '2026-07-22')
    """
    if not finite_positive(equity) or now.tzinfo is None:
        return state
    today = now.astimezone(UTC).date()
    peak = equity if state.peak_equity is None else max(state.peak_equity, equity)
    if state.day != today or state.day_start_equity is None:
        day_start = equity
    else:
        day_start = state.day_start_equity
    if (peak, day_start, today) == (state.peak_equity, state.day_start_equity, state.day):
        return state
    return replace(state, peak_equity=float(peak), day_start_equity=float(day_start), day=today)
