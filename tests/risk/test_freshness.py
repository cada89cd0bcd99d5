"""Stale-data detection at the exact boundaries."""

from datetime import UTC, datetime, timedelta

import pytest

from metalabel.risk.freshness import stale_reason

OPEN = datetime(2026, 1, 1, 10, tzinfo=UTC)  # closes at 11:00
H = timedelta(hours=1)
GRACE = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("now", "stale"),
    [
        (OPEN + H + timedelta(minutes=5), False),  # just closed
        (OPEN + 2 * H + GRACE, False),  # the next candle is exactly one grace late
        (OPEN + 2 * H + GRACE + timedelta(seconds=1), True),  # one second past the limit
        (OPEN + 30 * H, True),  # candles stopped a day ago
    ],
)
def test_stale_reason(now: datetime, stale: bool) -> None:
    assert (stale_reason(OPEN, now, timeframe=H, grace=GRACE) is not None) is stale


def test_no_candle_is_stale() -> None:
    assert stale_reason(None, OPEN, timeframe=H, grace=GRACE) == "no analysed candle yet"
