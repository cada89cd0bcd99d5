"""Fault injection for the replay exchange: what drills and risk tests switch on.

All faults are off by default; a ``ReplayExchange`` applies them to what it serves.
Kept apart from the request logic so the happy path stays easy to read.

Two kinds of fault:

* request faults (:meth:`Faults.fail_next`, :meth:`Faults.fail_for`): a burst of requests
  answered with an HTTP 5xx, Bybit's rate-limit error, or no answer in time;
* data faults on what the candles show: a price shock (:meth:`Faults.crash`), a feed
  that stops advancing while time goes on (:meth:`Faults.freeze_candles`) and a range
  of missing candles (:meth:`Faults.gap`). Times are served times (ms), i.e. what the
  client sees, not bundle times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from metalabel.ops.replay.data import Candles

SERVER_ERROR = 10016  # Bybit: "System error. Please try again later."
RATE_LIMITED = 10006  # Bybit: "Too many visits!" (ccxt: RateLimitExceeded)


class RequestFault(StrEnum):
    """How a faulted request is answered."""

    HTTP_5XX = "http_5xx"  # HTTP 503 with Bybit's system-error envelope
    RATE_LIMIT = "rate_limit"  # HTTP 200 with retCode 10006, as Bybit throttles
    TIMEOUT = "timeout"  # the answer comes only after `hang_seconds`


@dataclass(frozen=True)
class Injected:
    """What the exchange does with one faulted request: answer ``http_status`` with
    ``ret_code``/``ret_msg`` at once, or (``hang_seconds`` > 0) answer normally but late."""

    kind: RequestFault
    http_status: int = 200
    ret_code: int = 0
    ret_msg: str = ""
    hang_seconds: float = 0.0


def injected(kind: RequestFault, hang_seconds: float = 0.0) -> Injected:
    """The answer Bybit gives for each kind of request fault."""
    if kind is RequestFault.HTTP_5XX:
        return Injected(kind, 503, SERVER_ERROR, "System error. Please try again later.")
    if kind is RequestFault.RATE_LIMIT:
        return Injected(kind, 200, RATE_LIMITED, "Too many visits!")
    if not hang_seconds > 0:
        raise ValueError(f"a timeout needs hang_seconds > 0, got {hang_seconds}")
    return Injected(kind, hang_seconds=hang_seconds)


@dataclass
class _Burst:
    answer: Injected
    remaining: int | None  # requests still to fault; None: until `until_s`
    until_s: float | None  # monotonic deadline; None: until `remaining` runs out


@dataclass
class Faults:
    """Switchable faults. ``price_factor`` scales every price served from
    ``price_shock_from_ms`` (served time) on: 0.7 is a 30 % crash, as seen in candles,
    mark candles, tickers and the order book alike.

    ``candles_frozen_at_ms``: candles are served as of this time however late it gets
    (a stale feed). ``gap_ms``: candles opening in ``[start, end)`` are missing.
    ``requests_seen`` / ``requests_faulted`` count requests, for drills to report.
    """

    price_factor: float = 1.0
    price_shock_from_ms: int | None = None
    candles_frozen_at_ms: int | None = None
    gap_ms: tuple[int, int] | None = None
    requests_seen: int = 0
    requests_faulted: int = 0
    clock: Callable[[], float] = time.monotonic  # for time-window bursts; tests inject one
    _burst: _Burst | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def crash(self, factor: float, from_ms: int) -> None:
        if not factor > 0:
            raise ValueError(f"price factor must be positive, got {factor}")
        self.price_factor, self.price_shock_from_ms = factor, from_ms

    def clear(self) -> None:
        """Every fault off (request counters are kept)."""
        self.price_factor, self.price_shock_from_ms = 1.0, None
        self.candles_frozen_at_ms, self.gap_ms = None, None
        with self._lock:
            self._burst = None

    def prices(self, candles: Candles) -> Candles:
        """The candles with the price shock applied (volume untouched)."""
        if self.price_shock_from_ms is None or self.price_factor == 1.0:
            return candles
        hit = candles.ts >= self.price_shock_from_ms
        if not hit.any():
            return candles
        ohlcv = candles.ohlcv.copy()
        ohlcv[hit, :4] *= self.price_factor
        return Candles(candles.ts, ohlcv)

    # -- request faults -------------------------------------------------------------------

    def fail_next(
        self, requests: int, kind: RequestFault = RequestFault.HTTP_5XX, hang_seconds: float = 0.0
    ) -> None:
        """Fault the next ``requests`` requests, whatever their path."""
        if requests < 1:
            raise ValueError(f"requests must be >= 1, got {requests}")
        with self._lock:
            self._burst = _Burst(injected(kind, hang_seconds), requests, None)

    def fail_for(
        self, seconds: float, kind: RequestFault = RequestFault.HTTP_5XX, hang_seconds: float = 0.0
    ) -> None:
        """Fault every request arriving in the next ``seconds`` seconds."""
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        with self._lock:
            self._burst = _Burst(injected(kind, hang_seconds), None, self.clock() + seconds)

    @property
    def burst_active(self) -> bool:
        with self._lock:
            return self._live_burst() is not None

    def _live_burst(self) -> _Burst | None:
        burst = self._burst
        if burst is None:
            return None
        if burst.remaining == 0 or (burst.until_s is not None and self.clock() >= burst.until_s):
            self._burst = None
            return None
        return burst

    def take(self) -> Injected | None:
        """Called once per request: the fault to inject into it, or None (counts both)."""
        with self._lock:
            self.requests_seen += 1
            burst = self._live_burst()
            if burst is None:
                return None
            if burst.remaining is not None:
                burst.remaining -= 1
            self.requests_faulted += 1
            return burst.answer

    # -- data faults ----------------------------------------------------------------------

    def freeze_candles(self, at_ms: int) -> None:
        """Serve candles as of ``at_ms`` from now on: the feed stops advancing."""
        self.candles_frozen_at_ms = at_ms

    def gap(self, start_ms: int, end_ms: int) -> None:
        """Leave out the candles opening in ``[start_ms, end_ms)``."""
        if not start_ms < end_ms:
            raise ValueError(f"gap start must be before its end, got [{start_ms}, {end_ms})")
        self.gap_ms = (start_ms, end_ms)

    def candle_time(self, now_ms: int) -> int:
        """The time candles are served as of: ``now_ms``, or the frozen time if earlier."""
        frozen = self.candles_frozen_at_ms
        return now_ms if frozen is None else min(now_ms, frozen)

    def without_gap(self, candles: Candles) -> Candles:
        """The candles with the gap cut out."""
        if self.gap_ms is None:
            return candles
        start, end = self.gap_ms
        keep = (candles.ts < start) | (candles.ts >= end)
        if keep.all():
            return candles
        return Candles(candles.ts[keep], candles.ohlcv[keep])
