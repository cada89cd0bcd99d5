"""The bundled data is the real data it claims to be, and the 4h files derive from it."""

import hashlib
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from metalabel.core.candles import resample_complete
from metalabel.ops.runner import BUNDLED_DATA


def test_bundled_exchange_files_match_their_checksums() -> None:
    sums = (BUNDLED_DATA.parent / "SHA256SUMS.1h").read_text().split("\n")
    rows = [line.split() for line in sums if line.strip()]
    assert len(rows) == 6
    for digest, name in rows:
        assert hashlib.sha256((BUNDLED_DATA / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("pair", ["BTC_USDT_USDT", "ETH_USDT_USDT"])
def test_bundled_4h_candles_equal_a_fresh_derivation(pair: str) -> None:
    one_hour = pd.read_feather(BUNDLED_DATA / f"{pair}-1h-futures.feather")
    bundled = pd.read_feather(BUNDLED_DATA / f"{pair}-4h-futures.feather")
    pdt.assert_frame_equal(bundled, resample_complete(one_hour, 4))


def _hours(*stamps: str) -> pd.DataFrame:
    dates = pd.to_datetime(list(stamps), utc=True)
    n = len(dates)
    return pd.DataFrame(
        {
            "date": dates,
            "open": [float(i + 1) for i in range(n)],
            "high": [float(i + 10) for i in range(n)],
            "low": [float(i) for i in range(n)],
            "close": [float(i + 2) for i in range(n)],
            "volume": [1.0] * n,
        }
    )


def test_resample_keeps_complete_utc_buckets_only() -> None:
    # 00-03 complete; 04-07 misses 06:00 (a gap) and is dropped; 08-09 is unfinished.
    frame = _hours(
        "2024-01-01 00:00",
        "2024-01-01 01:00",
        "2024-01-01 02:00",
        "2024-01-01 03:00",
        "2024-01-01 04:00",
        "2024-01-01 05:00",
        "2024-01-01 07:00",
        "2024-01-01 08:00",
        "2024-01-01 09:00",
    )
    out = resample_complete(frame, 4)
    assert list(out["date"]) == [pd.Timestamp("2024-01-01 00:00", tz="UTC")]
    row = out.iloc[0]
    # open of 00:00, max high, min low, close of 03:00, summed volume
    assert (row.open, row.high, row.low, row.close, row.volume) == (1.0, 13.0, 0.0, 5.0, 4.0)


def test_resample_aligns_to_utc_not_to_the_first_candle() -> None:
    # Data starting at 02:00 must not create a 02:00-05:00 bucket.
    frame = _hours(*[f"2024-01-01 {h:02d}:00" for h in range(2, 10)])
    out = resample_complete(frame, 4)
    assert [d.hour for d in out["date"]] == [4]


def test_data_dir_layout_is_freqtrades() -> None:
    names = {p.name for p in Path(BUNDLED_DATA).glob("*.feather")}
    for pair in ("BTC_USDT_USDT", "ETH_USDT_USDT"):
        for suffix in ("1h-futures", "1h-mark", "1h-funding_rate", "4h-futures"):
            assert f"{pair}-{suffix}.feather" in names
