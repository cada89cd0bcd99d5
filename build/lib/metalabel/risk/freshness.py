"""Is the data the bot decides on current? A bot trading on candles that stopped
arriving would act on an old market, so entries stop until data is fresh again."""

from __future__ import annotations

from datetime import datetime, timedelta


def stale_reason(
    last_candle_open: datetime | None, now: datetime, *, timeframe: timedelta, grace: timedelta
) -> str | None:
    """Why the last closed candle is too old to trade on, or None when it is fresh.

    A candle opened at 10:00 on 1h closes at 11:00; at 12:05 the 11:00 candle should
    have closed too, so with a 10-minute grace it is stale after 12:10.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, 10, tzinfo=UTC)
    >>> stale_reason(t, t + timedelta(hours=2, minutes=5), timeframe=timedelta(hours=1),
    ...              grace=timedelta(minutes=10)) is None
    True
    """
    if last_candle_open is None:
        return "no analysed candle yet"
    age = now - (last_candle_open + timeframe)
    if age > timeframe + grace:
        return f"last closed candle closed {age} ago (limit {timeframe + grace}): data is stale"
    return None
