"""Kill switch: ACTIVE -> TRIPPED, and back to ACTIVE only by an explicit reset.

Triggers (defaults of :class:`~metalabel.config.KillSwitchSettings`), first match wins:

* ``drawdown``: equity, unrealised PnL included, 15 % or more below its peak;
* ``daily_loss``: today's loss (UTC day) above 5 % of the day's starting equity;
* ``api_errors``: 10 or more failed exchange requests within 60 seconds;
* ``low_confidence``: a model exists and each of its last 168 candle confidences is
  below 0.5 (a NaN confidence counts as low: a model that stopped predicting is not
  trusted either; fewer than 168 values are not evaluated);
* ``manual``: ``metalabel kill`` (:meth:`KillSwitchStore.trip`);
* ``bad_input``: an equity figure that is not a finite positive number -- fail closed.

The state lives in a small JSON file written atomically (temp file + ``os.replace``),
so the bot, restarted or not, stays tripped until ``metalabel resume`` resets it. The
bot re-reads the file every loop: :meth:`KillSwitchStore.read` is one read of a file
under 1 KB and never sees a half-written file. A missing file is ACTIVE; a file that
can not be read or parsed is TRIPPED, with a message saying how to reset.

Peak and start-of-day equity are kept in the same file so a restart does not forget
them. A reset clears them: resuming accepts the current equity as the new baseline
(otherwise a drawdown trip would fire again on the next loop).

:class:`ApiErrorCounter` and :class:`ExchangeApiErrorHandler` count failed exchange
requests from freqtrade's own log records; see :data:`FAILED_REQUEST_PATTERN`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from metalabel.config import KillSwitchSettings
from metalabel.risk.failsafe import fails_closed, finite_positive

try:  # POSIX; the bot runs on Linux (Docker). Without it writes are atomic but unlocked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

STATE_FILE_VERSION = 1
RESUME_HINT = "run `metalabel resume` to reset it once the cause is understood"

# What freqtrade's ``retrier`` / ``retrier_async`` (freqtrade/exchange/common.py) log at
# WARNING on ``freqtrade.exchange.common`` for every failed attempt of a wrapped exchange
# call -- fetch_ticker, fetch_order, get_balances, fetch_positions, cancel_order, OHLCV
# downloads, leverage tiers, market reloads, ...:
#     '<func>() returned exception: "<error>". Retrying still for <n> times.'
#     '<func>() returned exception: "<error>". Giving up.'
# One record per failed request. Follow-up messages about the same failure ("Async code
# raised an exception: ...", "Could not load markets.", "Could not update funding fees
# for ...") are not counted: they would count one failed request twice.
FAILED_REQUEST_PATTERN = re.compile(
    r'\A\w+\(\) returned exception: ".*"\. (?:Retrying still for \d+ times|Giving up)\.\Z',
    re.DOTALL,
)
EXCHANGE_LOGGER = "freqtrade.exchange"


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


class KillSwitchStore:
    """The kill-switch state file, shared by the strategy and the ``metalabel`` CLI.

    Readers never lock: every write replaces the file atomically, so a read sees the
    old or the new state, whole. Writers (trip, reset, equity bookkeeping) take an
    advisory lock on ``<file>.lock`` around read-modify-write, so the bot's bookkeeping
    write can not undo a ``metalabel kill`` that landed in between.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._reported: str | None = None  # the last unreadable-file problem logged

    def read(self) -> KillSwitchState:
        """The current state: missing file = ACTIVE, unreadable or corrupt = TRIPPED."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return KillSwitchState()
        except OSError as err:
            return self._unreadable(f"can not be read ({err.__class__.__name__}: {err})")
        try:
            state = KillSwitchState.from_json(raw)
        except (ValueError, KeyError, TypeError) as err:
            return self._unreadable(f"is corrupt ({err.__class__.__name__}: {err})")
        self._reported = None
        return state

    def _unreadable(self, problem: str) -> KillSwitchState:
        reason = f"kill-switch state file {self.path} {problem}; treated as TRIPPED; {RESUME_HINT}"
        if reason != self._reported:  # the bot reads every loop: log a problem once
            logger.error(reason)
            self._reported = reason
        return KillSwitchState(
            state=KillState.TRIPPED, reason=reason, trigger=KillTrigger.UNREADABLE_STATE
        )

    def write(self, state: KillSwitchState) -> None:
        """Replace the file atomically (temp file in the same directory + ``os.replace``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(state.to_json() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename durable; best effort
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def trip(self, trigger: KillTrigger, reason: str, now: datetime) -> KillSwitchState:
        """Trip the switch; an already tripped switch keeps its first trigger and reason.

        An unreadable file is left as it is (it already reads as TRIPPED) so that it can
        be inspected.
        """
        with self._locked():
            current = self.read()
            if current.tripped:
                return current
            tripped = replace(
                current,
                state=KillState.TRIPPED,
                reason=reason,
                trigger=trigger,
                tripped_at=now.astimezone(UTC),
            )
            self.write(tripped)
        logger.error("kill switch TRIPPED (%s): %s; %s", trigger.value, reason, RESUME_HINT)
        return tripped

    def reset(self, now: datetime, *, reason: str = "manual resume") -> KillSwitchState:
        """Back to ACTIVE; clears the equity marks so the current equity is the baseline.

        Also the way out of an unreadable file, which it overwrites.
        """
        with self._locked():
            previous = self.read()
            state = KillSwitchState(
                state=KillState.ACTIVE, reason=reason, reset_at=now.astimezone(UTC)
            )
            self.write(state)
        logger.warning(
            "kill switch reset to ACTIVE (%s); was %s: %s",
            reason,
            previous.state.value,
            previous.reason or "-",
        )
        return state

    def record_equity(self, equity: float, now: datetime) -> KillSwitchState:
        """Update peak / start-of-day equity in the file; writes only when they changed.

        Does not write over an unreadable file, and never changes ``state``: the mark
        update is applied to what is on disk under the lock.
        """
        current = self.read()
        if current.trigger is KillTrigger.UNREADABLE_STATE:
            return current
        if track_equity(current, equity, now) is current:
            return current
        with self._locked():
            current = self.read()
            if current.trigger is KillTrigger.UNREADABLE_STATE:
                return current
            updated = track_equity(current, equity, now)
            if updated is not current:
                self.write(updated)
        return updated


class ApiErrorCounter:
    """Failed exchange requests in a sliding time window; thread-safe.

    ``clock`` returns seconds (``time.monotonic`` by default; tests inject a fake). An
    event counts while ``now - at < window_seconds``.
    """

    def __init__(
        self, window_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._events: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._events and self._events[0] <= horizon:
            self._events.popleft()

    def record(self) -> None:
        with self._lock:
            now = self._clock()
            self._events.append(now)
            self._prune(now)

    def count(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return len(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


def is_failed_exchange_request(record: logging.LogRecord, prefix: str = EXCHANGE_LOGGER) -> bool:
    """True for a WARNING+ record of a ``freqtrade.exchange*`` logger that reports one
    failed request (see :data:`FAILED_REQUEST_PATTERN`)."""
    if record.levelno < logging.WARNING:
        return False
    if record.name != prefix and not record.name.startswith(prefix + "."):
        return False
    return FAILED_REQUEST_PATTERN.match(record.getMessage()) is not None


class ExchangeApiErrorHandler(logging.Handler):
    """Feeds an :class:`ApiErrorCounter` from freqtrade's exchange log records."""

    def __init__(self, counter: ApiErrorCounter, *, prefix: str = EXCHANGE_LOGGER) -> None:
        super().__init__(level=logging.WARNING)
        self.counter = counter
        self.prefix = prefix

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if is_failed_exchange_request(record, self.prefix):
                self.counter.record()
        except Exception:
            self.handleError(record)


def install_api_error_handler(
    counter: ApiErrorCounter, *, logger_name: str = EXCHANGE_LOGGER
) -> ExchangeApiErrorHandler:
    """Attach a handler to ``logger_name`` (records of its children propagate to it).

    Replaces a handler installed earlier, so a re-created strategy does not count twice.
    """
    target = logging.getLogger(logger_name)
    for old in [h for h in target.handlers if isinstance(h, ExchangeApiErrorHandler)]:
        target.removeHandler(old)
    handler = ExchangeApiErrorHandler(counter, prefix=logger_name)
    target.addHandler(handler)
    return handler
