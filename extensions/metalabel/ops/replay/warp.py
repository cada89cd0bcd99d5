"""Run freqtrade on compressed time: the bot-side half of :class:`TimeWarp`.

``python -m metalabel.ops.replay.warp --start S --speed X -- trade --dry-run ...`` runs
freqtrade's own ``main`` in this process after making its clock read
:meth:`TimeWarp.at` of the real time: ``time.time``/``time.time_ns`` return warped time
and ``time.sleep`` sleeps the warped duration divided by the speed, for the whole
process; ``datetime.now`` (and ``utcnow``/``today``) returns warped time in the
freqtrade and metalabel modules that ask for "now" while trading (:data:`MODULES`,
patched as a module global, so a module not listed keeps the real clock). A replay
exchange built with ``LiveClock(wall=warp.now)`` and the same two numbers then agrees
with the bot on "now", and an hour of candles passes in ``3600 / speed`` real seconds.

Not warped: ``time.monotonic`` (asyncio's timeouts stay real), the REST API's token
expiry (``freqtrade.rpc`` is left alone, as are modules that declare pydantic or
SQLAlchemy classes, which resolve ``datetime`` annotations from module globals).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from metalabel.ops.replay.clock import TimeWarp

logger = logging.getLogger(__name__)

_REAL_DATETIME = _dt.datetime
_REAL_TIME = time.time
_REAL_SLEEP = time.sleep

# Modules whose ``datetime.now`` decides what the bot does while trading: candle refresh
# and staleness, the loop's current_time, locks, FreqAI's retrain timing, the journal.
MODULES = (
    "freqtrade.util.datetime_helpers",  # dt_now / dt_ts, used everywhere else
    "freqtrade.util.periodic_cache",
    "freqtrade.exchange.exchange_utils",  # timeframe_to_prev_date(None) and friends
    "freqtrade.exchange.exchange_utils_timeframe",
    "freqtrade.exchange.exchange",
    "freqtrade.data.dataprovider",
    "freqtrade.strategy.interface",
    "freqtrade.persistence.pairlock_middleware",
    "freqtrade.plugins.protectionmanager",
    "freqtrade.freqtradebot",
    "freqtrade.freqai.freqai_interface",
    "freqtrade.freqai.data_drawer",
    "freqtrade.freqai.data_kitchen",
    "freqtrade.freqai.utils",
    "metalabel.ops.journal.recorder",
    "metalabel.model.registry",
)


class _WarpedDatetimeType(type):
    """Everything but "now" is the real ``datetime``: construction, class methods,
    ``isinstance``; so no object of a foreign class leaks into pandas or SQLAlchemy."""

    warp: TimeWarp | None = None

    def __getattr__(cls, name: str) -> Any:
        return getattr(_REAL_DATETIME, name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _REAL_DATETIME(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, _REAL_DATETIME)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _REAL_DATETIME)


class WarpedDatetime(metaclass=_WarpedDatetimeType):
    """Stands in for ``datetime.datetime`` in :data:`MODULES`."""

    @staticmethod
    def now(tz: _dt.tzinfo | None = None) -> _dt.datetime:
        return _REAL_DATETIME.fromtimestamp(_warped_time(), tz)

    @staticmethod
    def utcnow() -> _dt.datetime:
        return _REAL_DATETIME.fromtimestamp(_warped_time(), _dt.UTC).replace(tzinfo=None)

    @staticmethod
    def today() -> _dt.datetime:
        return _REAL_DATETIME.fromtimestamp(_warped_time())


def _warped_time() -> float:
    warp = _WarpedDatetimeType.warp
    return _REAL_TIME() if warp is None else warp.at(_REAL_TIME())


def _warped_time_ns() -> int:
    return int(_warped_time() * 1e9)


def _warped_sleep(seconds: float) -> None:
    """Sleep until the warped clock has moved on by ``seconds`` (a sleep that spans the
    warp's start ends as early as the warped clock says)."""
    warp = _WarpedDatetimeType.warp
    if warp is None:
        _REAL_SLEEP(seconds)
        return
    now = _REAL_TIME()
    _REAL_SLEEP(max(0.0, warp.real_at(warp.at(now) + max(0.0, seconds)) - now))


def install(warp: TimeWarp, modules: Sequence[str] = MODULES) -> None:
    """Warp this process's clock (see the module docstring); idempotent."""
    _WarpedDatetimeType.warp = warp
    time.time = _warped_time
    time.time_ns = _warped_time_ns
    time.sleep = _warped_sleep  # type: ignore[assignment]  # floats only, as freqtrade
    for name in modules:
        module = importlib.import_module(name)
        if getattr(module, "datetime", None) is _REAL_DATETIME:
            module.datetime = WarpedDatetime  # type: ignore[attr-defined]
    logger.info(
        "clock warped: x%.0f from %s",
        warp.speed,
        _REAL_DATETIME.fromtimestamp(warp.start_s, _dt.UTC).isoformat(),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m metalabel.ops.replay.warp", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--start", type=float, required=True, help="real epoch seconds")
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("freqtrade_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    rest = list(args.freqtrade_args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    install(TimeWarp(args.start, args.speed))
    from freqtrade.main import main as freqtrade_main

    freqtrade_main(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
