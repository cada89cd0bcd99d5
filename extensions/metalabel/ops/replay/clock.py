"""Clocks: what "now" is for the replay exchange and how bundle time maps to served time.

Served time = bundle time + `offset_ms`. A candle is visible once its served open time is
<= `now_ms()`; until it closes it is the forming candle and shows only its open price.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from metalabel.ops.replay.data import HOUR_MS

logger = logging.getLogger(__name__)


class Clock(Protocol):
    """Anchored once to the bundle's last candle, then asked for the time on every request."""

    offset_ms: int

    def anchor(self, data_end_ms: int) -> None: ...

    def now_ms(self) -> int: ...


class HistoricalClock:
    """Serves the files as they are: "now" is the close of the bundle's last candle, so
    every candle is complete."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self._now_ms = 0

    def anchor(self, data_end_ms: int) -> None:
        self._now_ms = data_end_ms + HOUR_MS

    def now_ms(self) -> int:
        return self._now_ms


class LiveClock:
    """Replays history as if it were happening now, so a dry-run bot sees fresh candles.

    History is shifted by whole hours so that, at anchor time, the candle `lead_hours`
    before the end of the bundle is the last closed candle of the real current UTC hour.
    As real time passes, later candles become visible, for `lead_hours` hours.

    `align_hours` > 1 rounds the shift up to a multiple of it (up to that many hours more
    ahead): 168 keeps hour of day, weekday, the 4h candles the exchange builds and the
    8-hourly funding where they are in the bundle, so served candles decide as the
    bundled ones do (``metalabel parity`` needs that; a shift of 3 h moves every 4h
    candle's boundaries).
    """

    def __init__(
        self,
        lead_hours: int = 720,
        wall: Callable[[], float] = time.time,
        *,
        align_hours: int = 1,
    ) -> None:
        if lead_hours < 1:
            raise ValueError("lead_hours must be >= 1")
        if align_hours < 1:
            raise ValueError("align_hours must be >= 1")
        self.lead_hours = lead_hours
        self.align_hours = align_hours
        self.offset_ms = 0
        self._wall = wall  # epoch seconds; tests inject a fake

    def anchor(self, data_end_ms: int) -> None:
        current_hour = self.now_ms() // HOUR_MS * HOUR_MS
        last_closed = data_end_ms - self.lead_hours * HOUR_MS
        offset_ms = current_hour - HOUR_MS - last_closed
        step_ms = self.align_hours * HOUR_MS
        self.offset_ms = -(-offset_ms // step_ms) * step_ms  # rounded up: more hours ahead
        logger.info(
            "live clock: bundle shifted by %+d h, %d h of candles ahead",
            self.offset_ms // HOUR_MS,
            self.lead_hours,
        )

    def now_ms(self) -> int:
        return int(self._wall() * 1000)


def make_clock(kind: str, lead_hours: int = 720) -> Clock:
    """Clock by CLI name: "historical" or "live"."""
    if kind == "historical":
        return HistoricalClock()
    if kind == "live":
        return LiveClock(lead_hours)
    raise ValueError(f"unknown clock {kind!r} (expected 'historical' or 'live')")


@dataclass(frozen=True)
class TimeWarp:
    """Compressed time shared by the replay exchange and a bot: real time until
    `start_s`, then `speed` seconds pass per real second.

    Both processes compute it from the same two numbers and the machine's one wall clock,
    so they agree on "now" to the microsecond without talking to each other. Start-up
    runs at real speed (no candle closes while freqtrade loads), the stretch after it
    compressed.

    >>> warp = TimeWarp(start_s=1000.0, speed=60.0)
    >>> warp.at(900.0), warp.at(1000.0), warp.at(1001.5)
    (900.0, 1000.0, 1090.0)
    """

    start_s: float
    speed: float

    def __post_init__(self) -> None:
        if not (self.speed >= 1.0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be a finite number >= 1, not {self.speed!r}")

    def at(self, real_s: float) -> float:
        """The warped time (epoch seconds) at real time `real_s`."""
        if real_s <= self.start_s:
            return real_s
        return self.start_s + (real_s - self.start_s) * self.speed

    def now(self) -> float:
        return self.at(time.time())

    def real_at(self, warped_s: float) -> float:
        """The real time at which the warped clock shows `warped_s` (inverse of `at`)."""
        if warped_s <= self.start_s:
            return warped_s
        return self.start_s + (warped_s - self.start_s) / self.speed
