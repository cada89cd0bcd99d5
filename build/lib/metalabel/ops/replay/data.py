"""The replay bundle: 1h Bybit candles, mark candles and funding rates as numpy arrays.

Everything is kept in bundle (file) time; the clock shifts timestamps when serving.
Larger intervals are built from the 1h candles, so the bundle only needs 1h files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# Bybit weekly candles open on Monday 00:00 UTC; the epoch (1970-01-01) was a Thursday.
MONDAY_OFFSET_MS = 4 * DAY_MS

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_MARKETS_FILE = RESOURCES / "bybit_linear_markets.ccxt.json"

# Bybit kline interval -> fixed bucket width in ms ("M" is a calendar month, width 0).
INTERVALS: dict[str, int] = {
    "60": HOUR_MS,
    "120": 2 * HOUR_MS,
    "240": 4 * HOUR_MS,
    "360": 6 * HOUR_MS,
    "720": 12 * HOUR_MS,
    "D": DAY_MS,
    "W": WEEK_MS,
    "M": 0,
}
# Valid on Bybit, but finer than the bundle's 1h resolution.
SUB_HOUR_INTERVALS = frozenset({"1", "3", "5", "15", "30"})

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Candles:
    """Candles sorted by open time: `ts` (ms) and `ohlcv` rows (open, high, low, close, volume)."""

    ts: IntArray
    ohlcv: FloatArray

    def __len__(self) -> int:
        return len(self.ts)

    def shifted(self, offset_ms: int) -> Candles:
        """The same candles with every open time moved by `offset_ms`."""
        return Candles(self.ts + offset_ms, self.ohlcv) if offset_ms else self

    def as_of(self, now_ms: int) -> Candles:
        """The 1h candles opened by `now_ms`. One still forming shows only its open price
        (no volume): its real high/low/close lie in the future and must not leak.
        """
        n = int(np.searchsorted(self.ts, now_ms, side="right"))
        if n == 0 or self.ts[n - 1] + HOUR_MS <= now_ms:
            return Candles(self.ts[:n], self.ohlcv[:n])
        ohlcv = self.ohlcv[:n].copy()
        ohlcv[-1, 1:4] = ohlcv[-1, 0]
        ohlcv[-1, 4] = 0.0
        return Candles(self.ts[:n], ohlcv)


@dataclass(frozen=True)
class Funding:
    """Funding settlements sorted by time: `ts` (ms) and `rate`."""

    ts: IntArray
    rate: FloatArray


@dataclass(frozen=True)
class Instrument:
    """One linear perpetual of the bundle."""

    symbol: str  # Bybit id, e.g. BTCUSDT
    info: dict[str, Any]  # raw v5 instruments-info entry
    trades: Candles
    mark: Candles
    funding: Funding

    @property
    def tick(self) -> float:
        return float(self.info["priceFilter"]["tickSize"])

    @property
    def min_qty(self) -> float:
        return float(self.info["lotSizeFilter"]["minOrderQty"])

    @property
    def funding_interval_ms(self) -> int:
        return int(self.info.get("fundingInterval") or 480) * 60_000


def bucket_start(ts: IntArray, interval: str) -> IntArray:
    """Open time (ms) of the `interval` candle that contains each timestamp."""
    if interval == "M":
        months = ts.astype("datetime64[ms]").astype("datetime64[M]")
        return months.astype("datetime64[ms]").astype(np.int64)
    width = INTERVALS[interval]
    offset = MONDAY_OFFSET_MS if interval == "W" else 0
    return (ts - offset) // width * width + offset


def _bucket_hours(starts: IntArray, interval: str) -> IntArray:
    """How many 1h candles make a complete bucket for each bucket open time."""
    if interval == "M":
        months = starts.astype("datetime64[ms]").astype("datetime64[M]")
        ends = (months + 1).astype("datetime64[ms]").astype(np.int64)
        return (ends - starts) // HOUR_MS
    return np.full(len(starts), INTERVALS[interval] // HOUR_MS, dtype=np.int64)


def aggregate(hourly: Candles, interval: str, forming_ms: int | None = None) -> Candles:
    """Build `interval` candles from 1h candles, keeping complete buckets only.

    The bucket containing `forming_ms` (the exchange's "now") is kept even if it is still
    incomplete: that is the forming candle a real exchange serves.
    """
    if interval == "60" or len(hourly) == 0:
        return hourly
    keys = bucket_start(hourly.ts, interval)
    starts, first, counts = np.unique(keys, return_index=True, return_counts=True)
    keep = counts == _bucket_hours(starts, interval)
    if forming_ms is not None:
        forming = bucket_start(np.array([forming_ms], dtype=np.int64), interval)[0]
        keep |= starts == forming
    last = first + counts - 1
    data = hourly.ohlcv
    ohlcv = np.column_stack(
        [
            data[first, 0],
            np.maximum.reduceat(data[:, 1], first),
            np.minimum.reduceat(data[:, 2], first),
            data[last, 3],
            np.add.reduceat(data[:, 4], first).round(8),  # drop float-sum noise
        ]
    )
    return Candles(starts[keep].astype(np.int64), ohlcv[keep])


def _read_candles(path: Path) -> Candles:
    frame = pd.read_feather(path)
    ts = (frame["date"].astype("datetime64[ms, UTC]").astype("int64")).to_numpy(np.int64)
    ohlcv = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    order = np.argsort(ts, kind="stable")
    return Candles(ts[order], ohlcv[order])


def _empty_candles() -> Candles:
    return Candles(np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.float64))


def load_bundle(data_dir: Path, markets_file: Path = DEFAULT_MARKETS_FILE) -> dict[str, Instrument]:
    """Load every `<BASE>_<QUOTE>_<SETTLE>-1h-futures.feather` in `data_dir`, keyed by Bybit id.

    Mark and funding files are optional (empty series when missing).
    """
    markets = json.loads(markets_file.read_text())
    infos = {m["info"]["symbol"]: m["info"] for m in markets.values()}
    bundle: dict[str, Instrument] = {}
    for path in sorted(data_dir.glob("*-1h-futures.feather")):
        stem = path.name.removesuffix("-1h-futures.feather")
        base, quote, _settle = stem.split("_")
        symbol = base + quote
        if symbol not in infos:
            raise ValueError(f"{path.name}: {symbol} is not in {markets_file.name}")
        mark_path = data_dir / f"{stem}-1h-mark.feather"
        funding_path = data_dir / f"{stem}-1h-funding_rate.feather"
        mark = _read_candles(mark_path) if mark_path.exists() else _empty_candles()
        rates = _read_candles(funding_path) if funding_path.exists() else _empty_candles()
        bundle[symbol] = Instrument(
            symbol=symbol,
            info=infos[symbol],
            trades=_read_candles(path),
            mark=mark,
            funding=Funding(rates.ts, rates.ohlcv[:, 0].copy()),
        )
        logger.debug("loaded %s: %d candles from %s", symbol, len(bundle[symbol].trades), path)
    if not bundle:
        raise FileNotFoundError(f"no *-1h-futures.feather files in {data_dir}")
    return bundle


def data_end_ms(bundle: dict[str, Instrument]) -> int:
    """Open time of the newest 1h trade candle in the bundle."""
    return max(int(inst.trades.ts[-1]) for inst in bundle.values() if len(inst.trades))
