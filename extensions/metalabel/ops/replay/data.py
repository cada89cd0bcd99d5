"""The replay bundle: 1h and 15m Bybit candles, mark candles and funding rates as arrays.

Everything is kept in bundle (file) time; the clock shifts timestamps when serving.
Intervals of an hour and more are built from the 1h candles, 15m and 30m from the 15m
candles (optional per symbol), so the bundle only needs 1h and 15m files. A 15m file that
contradicts its 1h file stops the load (see ``metalabel.core.candles``).
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

from metalabel.core.candles import read_checked_detail

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
DETAIL_MS = 15 * MINUTE_MS
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# Bybit weekly candles open on Monday 00:00 UTC; the epoch (1970-01-01) was a Thursday.
MONDAY_OFFSET_MS = 4 * DAY_MS

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_MARKETS_FILE = RESOURCES / "bybit_linear_markets.ccxt.json"

# Bybit kline interval -> fixed bucket width in ms ("M" is a calendar month, width 0).
INTERVALS: dict[str, int] = {
    "15": DETAIL_MS,
    "30": 2 * DETAIL_MS,
    "60": HOUR_MS,
    "120": 2 * HOUR_MS,
    "240": 4 * HOUR_MS,
    "360": 6 * HOUR_MS,
    "720": 12 * HOUR_MS,
    "D": DAY_MS,
    "W": WEEK_MS,
    "M": 0,
}
# Served from the 15m candles; every other interval from the 1h candles.
DETAIL_INTERVALS = frozenset({"15", "30"})
# Valid on Bybit, but finer than the bundle's finest (15m) resolution.
FINER_THAN_BUNDLE = frozenset({"1", "3", "5"})

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Candles:
    """Candles sorted by open time: `ts` (ms) and `ohlcv` rows (open, high, low, close, volume),
    each `width_ms` wide (0 for calendar months)."""

    ts: IntArray
    ohlcv: FloatArray
    width_ms: int = HOUR_MS

    def __len__(self) -> int:
        return len(self.ts)

    def shifted(self, offset_ms: int) -> Candles:
        """The same candles with every open time moved by `offset_ms`."""
        return Candles(self.ts + offset_ms, self.ohlcv, self.width_ms) if offset_ms else self

    def as_of(self, now_ms: int) -> Candles:
        """The candles opened by `now_ms`. One still forming shows only its open price
        (no volume): its real high/low/close lie in the future and must not leak.
        """
        n = int(np.searchsorted(self.ts, now_ms, side="right"))
        if n == 0 or self.ts[n - 1] + self.width_ms <= now_ms:
            return Candles(self.ts[:n], self.ohlcv[:n], self.width_ms)
        ohlcv = self.ohlcv[:n].copy()
        ohlcv[-1, 1:4] = ohlcv[-1, 0]
        ohlcv[-1, 4] = 0.0
        return Candles(self.ts[:n], ohlcv, self.width_ms)

    def select(self, keep: npt.NDArray[np.bool_]) -> Candles:
        """The candles where `keep` is true."""
        return Candles(self.ts[keep], self.ohlcv[keep], self.width_ms)


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
    detail: Candles  # 15m trade candles; empty when the bundle has none for this symbol

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


def _bucket_size(starts: IntArray, interval: str, base_ms: int) -> IntArray:
    """How many `base_ms` candles make a complete bucket for each bucket open time."""
    if interval == "M":
        months = starts.astype("datetime64[ms]").astype("datetime64[M]")
        ends = (months + 1).astype("datetime64[ms]").astype(np.int64)
        return (ends - starts) // base_ms
    return np.full(len(starts), INTERVALS[interval] // base_ms, dtype=np.int64)


def aggregate(base: Candles, interval: str, forming_ms: int | None = None) -> Candles:
    """Build `interval` candles from finer candles (1h or 15m), keeping complete buckets only.

    The bucket containing `forming_ms` (the exchange's "now") is kept even if it is still
    incomplete: that is the forming candle a real exchange serves.
    """
    width = INTERVALS[interval]
    if width == base.width_ms or len(base) == 0:
        return base
    if width and (width < base.width_ms or width % base.width_ms):
        raise ValueError(f"interval {interval} cannot be built from {base.width_ms} ms candles")
    keys = bucket_start(base.ts, interval)
    starts, first, counts = np.unique(keys, return_index=True, return_counts=True)
    keep = counts == _bucket_size(starts, interval, base.width_ms)
    if forming_ms is not None:
        forming = bucket_start(np.array([forming_ms], dtype=np.int64), interval)[0]
        keep |= starts == forming
    last = first + counts - 1
    data = base.ohlcv
    ohlcv = np.column_stack(
        [
            data[first, 0],
            np.maximum.reduceat(data[:, 1], first),
            np.minimum.reduceat(data[:, 2], first),
            data[last, 3],
            np.add.reduceat(data[:, 4], first).round(8),  # drop float-sum noise
        ]
    )
    return Candles(starts[keep].astype(np.int64), ohlcv[keep], width)


def _as_candles(frame: pd.DataFrame, width_ms: int = HOUR_MS) -> Candles:
    ts = (frame["date"].astype("datetime64[ms, UTC]").astype("int64")).to_numpy(np.int64)
    ohlcv = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    order = np.argsort(ts, kind="stable")
    return Candles(ts[order], ohlcv[order], width_ms)


def _read_candles(path: Path) -> Candles:
    return _as_candles(pd.read_feather(path))


def _empty_candles(width_ms: int = HOUR_MS) -> Candles:
    return Candles(np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.float64), width_ms)


def load_bundle(data_dir: Path, markets_file: Path = DEFAULT_MARKETS_FILE) -> dict[str, Instrument]:
    """Load every `<BASE>_<QUOTE>_<SETTLE>-1h-futures.feather` in `data_dir`, keyed by Bybit id.

    Mark, funding and 15m files are optional (empty series when missing). A 15m file that
    disagrees with its 1h file raises `DetailMismatchError` (a ValueError) naming both
    files and the first differing hour: the exchange refuses to start on it.
    """
    markets = json.loads(markets_file.read_text())
    infos = {m["info"]["symbol"]: m["info"] for m in markets.values()}
    bundle: dict[str, Instrument] = {}
    for path in sorted(data_dir.glob("*-1h-futures.feather")):
        stem = path.name.removesuffix("-1h-futures.feather")
        base, quote, settle = stem.split("_")
        symbol = base + quote
        if symbol not in infos:
            raise ValueError(f"{path.name}: {symbol} is not in {markets_file.name}")
        mark_path = data_dir / f"{stem}-1h-mark.feather"
        funding_path = data_dir / f"{stem}-1h-funding_rate.feather"
        mark = _read_candles(mark_path) if mark_path.exists() else _empty_candles()
        rates = _read_candles(funding_path) if funding_path.exists() else _empty_candles()
        detail = _as_candles(read_checked_detail(data_dir, f"{base}/{quote}:{settle}"), DETAIL_MS)
        bundle[symbol] = Instrument(
            symbol=symbol,
            info=infos[symbol],
            trades=_read_candles(path),
            mark=mark,
            funding=Funding(rates.ts, rates.ohlcv[:, 0].copy()),
            detail=detail,
        )
        logger.debug("loaded %s: %d candles from %s", symbol, len(bundle[symbol].trades), path)
    if not bundle:
        raise FileNotFoundError(f"no *-1h-futures.feather files in {data_dir}")
    return bundle


def data_end_ms(bundle: dict[str, Instrument]) -> int:
    """Open time of the newest 1h trade candle in the bundle."""
    return max(int(inst.trades.ts[-1]) for inst in bundle.values() if len(inst.trades))
