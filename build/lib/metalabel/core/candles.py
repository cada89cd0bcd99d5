"""The bundled Bybit candles: loading, and deriving the 4h confirmation timeframe.

The bundle holds real 1h candles only; the strategy's 4h confirmation needs 4h
candles, which are derived here from complete 4-hour UTC buckets (00:00, 04:00, ...).
A bucket with a missing hour is dropped rather than built from three candles.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

OHLCV = ["date", "open", "high", "low", "close", "volume"]
HOURS_PER_4H = 4


def resample_complete(candles: pd.DataFrame, hours: int) -> pd.DataFrame:
    """Aggregate 1h candles into ``hours``-hour candles, keeping complete buckets only.

    Worked example: 1h candles 00:00..07:00 and 08:00..10:00 give 4h candles at 00:00
    and 04:00; the 08:00 bucket has three hours and is dropped.
    """
    frame = candles[OHLCV].copy()
    frame["bucket"] = frame["date"].dt.floor(f"{hours}h")
    grouped = frame.groupby("bucket", sort=True)
    out = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        count=("open", "size"),
    )
    out = out[out["count"] == hours].drop(columns="count")
    out.index.name = "date"
    return out.reset_index()[OHLCV]


def write_derived_4h(data_dir: Path) -> list[Path]:
    """Write ``*-4h-futures.feather`` beside every ``*-1h-futures.feather`` in ``data_dir``."""
    written = []
    for source in sorted(data_dir.glob("*-1h-futures.feather")):
        target = source.with_name(source.name.replace("-1h-futures", "-4h-futures"))
        derived = resample_complete(pd.read_feather(source), HOURS_PER_4H)
        derived.to_feather(target, compression="lz4")
        logger.info("derived %s (%d candles) from %s", target.name, len(derived), source.name)
        written.append(target)
    return written
