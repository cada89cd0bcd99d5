"""Compressed time: :class:`TimeWarp` and the bot-side patch of ``metalabel.ops.replay.warp``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from metalabel.ops.replay.clock import LiveClock, TimeWarp
from metalabel.ops.replay.data import HOUR_MS


@pytest.mark.parametrize(
    ("real_s", "warped_s"),
    [
        (500.0, 500.0),  # start-up: real time
        (1000.0, 1000.0),  # the warp's start
        (1010.0, 1000.0 + 10 * 240),  # 10 real seconds = 40 warped minutes
    ],
)
def test_warp_maps_real_time_and_back(real_s: float, warped_s: float) -> None:
    warp = TimeWarp(start_s=1000.0, speed=240.0)
    assert warp.at(real_s) == warped_s
    assert warp.real_at(warped_s) == pytest.approx(real_s)


@pytest.mark.parametrize("speed", [0.5, float("nan"), float("inf")])
def test_warp_refuses_a_speed_below_one(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be a finite number >= 1"):
        TimeWarp(start_s=0.0, speed=speed)


def test_live_clock_on_a_warp_releases_an_hour_in_fifteen_real_seconds() -> None:
    real = [3 * HOUR_MS / 1000 + 600.0]  # 03:10 real
    warp = TimeWarp(start_s=real[0], speed=240.0)
    clock = LiveClock(lead_hours=5, wall=lambda: warp.at(real[0]))
    clock.anchor(data_end_ms=100 * HOUR_MS)
    assert clock.now_ms() // HOUR_MS == 3
    real[0] += 15.0
    assert clock.now_ms() // HOUR_MS == 4  # 03:10 + 60 min


def test_installed_warp_moves_freqtrades_clock_and_sleeps_short() -> None:
    """In a fresh interpreter (the patch is process-wide): freqtrade's ``dt_now``, the
    bot's ``datetime.now`` and ``time.time`` run at 1000x; objects stay real datetimes."""
    script = textwrap.dedent(
        """
        import datetime, time
        real = time.time
        from metalabel.ops.replay.clock import TimeWarp
        from metalabel.ops.replay.warp import install
        start = real() - 2.0
        install(TimeWarp(start_s=start, speed=1000.0))
        from freqtrade import freqtradebot
        from freqtrade.util import dt_now
        warped, now = dt_now().timestamp(), real()
        assert abs(warped - (start + (now - start) * 1000.0)) < 100, (warped, now)
        assert abs(freqtradebot.datetime.now(datetime.UTC).timestamp() - time.time()) < 5
        assert type(dt_now()) is datetime.datetime
        assert isinstance(dt_now(), freqtradebot.datetime)
        assert freqtradebot.datetime(2026, 1, 1).year == 2026
        assert datetime.datetime.now().timestamp() - real() < 1  # other modules: real
        started = real()
        time.sleep(50.0)  # 50 warped seconds
        assert real() - started < 1.0
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("align_hours", [1, 4, 168])
def test_live_clock_shift_keeps_the_bundles_alignment(align_hours: int) -> None:
    now_s = (1000 * 168 + 37) * HOUR_MS / 1000 + 600.0  # 37 h into a week, 10 min past
    clock = LiveClock(lead_hours=5, wall=lambda: now_s, align_hours=align_hours)
    clock.anchor(data_end_ms=100 * HOUR_MS)
    shift_hours, rest = divmod(clock.offset_ms, HOUR_MS)
    assert rest == 0 and shift_hours % align_hours == 0
    last_closed_bundle_hour = (now_s * 1000 // HOUR_MS - 1) - shift_hours
    # at least lead_hours of candles ahead, at most align_hours - 1 more
    assert 5 <= 100 - last_closed_bundle_hour < 5 + align_hours
