"""Exchange-error counting for the ``api_errors`` trigger, fed by freqtrade's own log.

freqtrade's retrier logs every failed attempt of a wrapped exchange call; a logging
handler on ``freqtrade.exchange`` counts those records in a sliding time window.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable

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
