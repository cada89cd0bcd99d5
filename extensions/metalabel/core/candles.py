"""The bundled Bybit candles: loading, deriving the 4h timeframe, checking the 15m detail.

The bundle holds real 1h and 15m candles; the strategy's 4h confirmation needs 4h
candles, which are derived here from complete 4-hour UTC buckets (00:00, 04:00, ...).
A bucket with a missing hour is dropped rather than built from three candles.

The 15m candles are the intrabar detail that backtests (``timeframe_detail``) and labels
walk to settle stops, trailing and ROI inside an hour. Two things can make that walk
wrong without anyone noticing, so both are checked here:

* a 15m file that disagrees with its 1h file (the four sub-candles of an hour do not
  resample to that hour's candle): refused at load, naming the pair and the first hour
  that differs (:func:`first_detail_mismatch`, :func:`read_checked_detail`);
* hours without their four sub-candles: reported per pair and hour range
  (:func:`detail_coverage`), so that callers can name them instead of falling back
  to the 1h bar in silence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

OHLCV = ["date", "open", "high", "low", "close", "volume"]
HOURS_PER_4H = 4
DETAIL_TIMEFRAME = "15m"
SUBCANDLES_PER_HOUR = 4
_HOUR = pd.Timedelta(hours=1)
_SUBCANDLE = _HOUR / SUBCANDLES_PER_HOUR
# Summed 15m volumes carry float noise (2e-10 on the bundle); prices must match exactly.
VOLUME_RTOL = 1e-9
VOLUME_ATOL = 1e-8


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


# -- 15m detail: consistency with the 1h candles ------------------------------------------


def pair_file_stem(pair: str) -> str:
    """freqtrade's file name stem of a pair: "BTC/USDT:USDT" -> "BTC_USDT_USDT"."""
    return pair.replace("/", "_").replace(":", "_")


@dataclass(frozen=True)
class DetailMismatch:
    """The first hour whose 15m sub-candles do not reproduce the 1h candle, and why."""

    hour: pd.Timestamp
    reason: str

    def describe(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:%M} UTC: {self.reason}"


class DetailMismatchError(ValueError):
    """A 15m file that disagrees with its 1h file; refused rather than backtested on."""

    def __init__(self, pair: str, mismatch: DetailMismatch, source: str = "") -> None:
        where = f" ({source})" if source else ""
        super().__init__(
            f"{pair}: 15m candles disagree with the 1h candle at {mismatch.describe()}{where}"
        )
        self.pair = pair
        self.mismatch = mismatch


def _fmt(value: float) -> str:
    return f"{value:.10g}"


def first_detail_mismatch(hourly: pd.DataFrame, detail: pd.DataFrame) -> DetailMismatch | None:
    """The first hour where ``detail`` (15m) contradicts ``hourly`` (1h), or None.

    Only hours present in both files are compared; hours without 15m candles are
    missing detail (see :func:`detail_coverage`), not a disagreement, and 15m candles of
    an hour the 1h file lacks are never used. For each compared hour:

    * every sub-candle lies inside the hour's range (high <= 1h high, low >= 1h low),
      and its partial volume does not exceed the hour's;
    * the 15m candle at :00 opens at the 1h open, the one at :45 closes at the 1h close;
    * with all four sub-candles, max high, min low and the volume sum equal the 1h
      candle (volume to float-sum precision);
    * every 15m candle opens on the quarter hour, once.

    Worked example: 1h 10:00 = (O 100, H 105, L 99, C 104, V 8); 15m 10:00..10:45 =
    (100, 102, 99, 101, 2), (101, 103, 100, 102, 2), (102, 104, 101, 103, 2),
    (103, 104.5, 102, 104, 2): max high 104.5 != 105, so the answer is 10:00 with
    "high: 1h 105 != 104.5 from 15m".
    """
    sub = detail[OHLCV].sort_values("date", kind="stable")
    hour = sub["date"].dt.floor("1h")
    minute = sub["date"] - hour
    bad_grid = (minute % _SUBCANDLE != pd.Timedelta(0)) | sub["date"].duplicated(keep=False)
    frame = sub.assign(hour=hour, minute=minute)
    grouped = frame.groupby("hour", sort=True)
    per_hour = grouped.agg(
        first_minute=("minute", "first"),
        first_open=("open", "first"),
        last_minute=("minute", "last"),
        last_close=("close", "last"),
        high=("high", "max"),
        low=("low", "min"),
        volume=("volume", "sum"),
        count=("open", "size"),
    )
    per_hour["bad_grid"] = bad_grid.groupby(hour).any()
    hours = hourly[OHLCV].set_index("date")
    both = per_hour.merge(
        hours, left_index=True, right_index=True, how="inner", suffixes=("", "_1h")
    )
    if both.empty:
        return None
    complete = (both["count"] == SUBCANDLES_PER_HOUR) & ~both["bad_grid"]
    volume_equal = np.isclose(both["volume"], both["volume_1h"], rtol=VOLUME_RTOL, atol=VOLUME_ATOL)
    volume_cap = both["volume_1h"] * (1 + VOLUME_RTOL) + VOLUME_ATOL
    opens_hour = both["first_minute"] == pd.Timedelta(0)
    closes_hour = both["last_minute"] == _HOUR - _SUBCANDLE
    failing = pd.DataFrame(
        {
            "date": both["bad_grid"],
            "open": opens_hour & (both["first_open"] != both["open"]),
            "high": (both["high"] > both["high_1h"])
            | (complete & (both["high"] != both["high_1h"])),
            "low": (both["low"] < both["low_1h"]) | (complete & (both["low"] != both["low_1h"])),
            "close": closes_hour & (both["last_close"] != both["close"]),
            "volume": (both["volume"] > volume_cap) | (complete & ~volume_equal),
        }
    )
    rows = failing.any(axis=1)
    if not rows.any():
        return None
    first = rows.idxmax()
    field = str(failing.loc[first].idxmax())
    row = both.loc[first]
    if field == "date":
        reason = "15m candles off the quarter-hour grid or duplicated"
    else:
        one_hour = {
            "open": row["open"],
            "high": row["high_1h"],
            "low": row["low_1h"],
            "close": row["close"],
            "volume": row["volume_1h"],
        }
        from_detail = {
            "open": row["first_open"],
            "high": row["high"],
            "low": row["low"],
            "close": row["last_close"],
            "volume": row["volume"],
        }
        reason = (
            f"{field}: 1h {_fmt(one_hour[field])} != {_fmt(from_detail[field])}"
            f" from {int(row['count'])} 15m candle(s)"
        )
    return DetailMismatch(pd.Timestamp(first), reason)


def read_checked_detail(data_dir: Path, pair: str) -> pd.DataFrame:
    """The 15m candles of ``pair`` in ``data_dir``, refused if they contradict the 1h file.

    Returns an empty OHLCV frame when there is no 15m file (every hour then lacks
    detail, which :func:`detail_coverage` reports). Raises :class:`DetailMismatchError`
    naming the pair, both files and the first hour that differs.
    """
    stem = pair_file_stem(pair)
    detail_path = data_dir / f"{stem}-{DETAIL_TIMEFRAME}-futures.feather"
    hourly_path = data_dir / f"{stem}-1h-futures.feather"
    if not detail_path.exists():
        empty = {column: pd.Series(dtype="float64") for column in OHLCV[1:]}
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns, UTC]"), **empty})
    detail = pd.read_feather(detail_path)[OHLCV]
    if hourly_path.exists():
        mismatch = first_detail_mismatch(pd.read_feather(hourly_path), detail)
        if mismatch is not None:
            raise DetailMismatchError(pair, mismatch, f"{detail_path.name} vs {hourly_path.name}")
    logger.debug("%s: %d 15m candles from %s", pair, len(detail), detail_path)
    return detail


# -- 15m detail: coverage -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DetailCoverage:
    """Which hours of ``[start, end)`` lack their four 15m sub-candles, for one pair."""

    pair: str
    start: pd.Timestamp
    end: pd.Timestamp
    hours_checked: int
    missing: pd.DatetimeIndex  # open times of the hours lacking detail, ascending

    @property
    def complete(self) -> bool:
        return len(self.missing) == 0

    def runs(self) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """Consecutive missing hours as (first, last) open times."""
        if self.complete:
            return []
        stamps = self.missing
        breaks = np.flatnonzero((stamps[1:] - stamps[:-1]) != _HOUR) + 1
        firsts = np.concatenate([[0], breaks])
        lasts = np.concatenate([breaks - 1, [len(stamps) - 1]])
        return [(stamps[a], stamps[b]) for a, b in zip(firsts, lasts, strict=True)]

    def describe(self, max_runs: int = 10) -> str:
        """One line naming the pair and the hours without detail, for logs and reports."""
        if self.complete:
            return f"{self.pair}: 15m detail complete for {self.hours_checked} hours"
        runs = self.runs()
        shown = ", ".join(
            f"{a:%Y-%m-%d %H:%M}" if a == b else f"{a:%Y-%m-%d %H:%M}..{b:%Y-%m-%d %H:%M}"
            for a, b in runs[:max_runs]
        )
        more = f" and {len(runs) - max_runs} more ranges" if len(runs) > max_runs else ""
        return (
            f"{self.pair}: {len(self.missing)} of {self.hours_checked} hours lack 15m detail"
            f" (UTC open times): {shown}{more}"
        )


def detail_coverage(
    pair: str,
    detail: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    hours: pd.Series | pd.DatetimeIndex | None = None,
) -> DetailCoverage:
    """Report the hours in ``[start, end)`` that lack any of their four 15m sub-candles.

    ``hours``: the 1h open times to check (e.g. the 1h candles' ``date``); an hour the
    1h file does not have needs no detail. By default every hour of the range is checked.
    ``start`` is rounded up and ``end`` down to whole hours.

    Worked example: 15m candles 10:00, 10:15, 10:30, 10:45, 11:00, 11:30, 11:45 and a
    range 10:00..13:00 give missing hours 11:00 (no 11:15) and 12:00 (nothing at all).
    """
    first, stop = pd.Timestamp(start).ceil("1h"), pd.Timestamp(end).floor("1h")
    if first.tzinfo is None or stop.tzinfo is None:
        raise ValueError(f"detail_coverage needs tz-aware UTC times, got {start} and {end}")
    if hours is None:
        wanted = pd.date_range(first, stop, freq="1h", inclusive="left")
    else:
        stamps = pd.DatetimeIndex(hours)
        wanted = stamps[(stamps >= first) & (stamps < stop)].unique().sort_values()
    dates = pd.DatetimeIndex(detail["date"])
    on_grid = dates[(dates >= first) & (dates < stop) & (dates.floor(_SUBCANDLE) == dates)]
    have = on_grid.unique().floor("1h").value_counts().reindex(wanted, fill_value=0)
    missing = pd.DatetimeIndex(have.index[have.to_numpy() < SUBCANDLES_PER_HOUR])
    return DetailCoverage(pair, first, stop, len(wanted), missing)
