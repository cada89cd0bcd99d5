"""The bundled data is the real data it claims to be, the 4h files derive from it, and the
15m detail agrees with the 1h candles."""

import hashlib
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from metalabel.core.candles import (
    DetailMismatchError,
    detail_coverage,
    first_detail_mismatch,
    read_checked_detail,
    resample_complete,
)
from metalabel.ops.runner import BUNDLED_DATA

PAIRS = {"BTC/USDT:USDT": "BTC_USDT_USDT", "ETH/USDT:USDT": "ETH_USDT_USDT"}
MAX_TRACKED_FILE_BYTES = 8 * 1024 * 1024  # keep the repository cloneable without LFS


def _checksums() -> dict[str, str]:
    rows = []
    for sums in sorted(BUNDLED_DATA.parent.glob("SHA256SUMS.*")):
        rows += [line.split() for line in sums.read_text().splitlines() if line.strip()]
    names = [name for _, name in rows]
    assert len(names) == len(set(names)), "a file is listed twice"
    return {name: digest for digest, name in rows}


def test_bundled_exchange_files_match_their_checksums() -> None:
    sums = _checksums()
    assert len(sums) == 8  # 1h trade, mark, funding and 15m trade candles of both pairs
    for name, digest in sums.items():
        assert hashlib.sha256((BUNDLED_DATA / name).read_bytes()).hexdigest() == digest, name


def test_every_bundled_file_is_checksummed_or_derived() -> None:
    derived = {f"{stem}-4h-futures.feather" for stem in PAIRS.values()}
    bundled = {p.name for p in BUNDLED_DATA.glob("*.feather")}
    assert bundled == set(_checksums()) | derived


def test_bundled_files_stay_small_enough_to_track() -> None:
    for path in BUNDLED_DATA.glob("*.feather"):
        assert path.stat().st_size < MAX_TRACKED_FILE_BYTES, path.name


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
        for suffix in ("15m-futures", "1h-futures", "1h-mark", "1h-funding_rate", "4h-futures"):
            assert f"{pair}-{suffix}.feather" in names


# -- 15m detail -----------------------------------------------------------------------------


@pytest.mark.parametrize("pair", list(PAIRS))
def test_bundled_15m_detail_agrees_with_1h_and_covers_every_hour(pair: str) -> None:
    detail = read_checked_detail(BUNDLED_DATA, pair)  # raises on any disagreement
    hourly = pd.read_feather(BUNDLED_DATA / f"{PAIRS[pair]}-1h-futures.feather")
    end = hourly["date"].iloc[-1] + pd.Timedelta(hours=1)
    coverage = detail_coverage(pair, detail, hourly["date"].iloc[0], end, hours=hourly["date"])
    assert coverage.complete, coverage.describe()
    assert coverage.hours_checked == len(hourly)


def _one_hour() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01 10:00"], utc=True),
            "open": [100.0],
            "high": [105.0],
            "low": [99.0],
            "close": [104.0],
            "volume": [8.0],
        }
    )


Row = tuple[str, float, float, float, float, float]


def _quarters(rows: list[Row]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame


# The four 15m candles of 10:00 that resample exactly to the 1h candle of _one_hour().
GOOD = [
    ("2024-01-01 10:00", 100.0, 102.0, 99.0, 101.0, 2.0),
    ("2024-01-01 10:15", 101.0, 105.0, 100.0, 102.0, 2.0),
    ("2024-01-01 10:30", 102.0, 104.0, 101.0, 103.0, 2.0),
    ("2024-01-01 10:45", 103.0, 104.5, 102.0, 104.0, 2.0),
]


def _edited(index: int, field: str, value: float) -> list[Row]:
    """GOOD with one value of one sub-candle replaced."""
    frame = _quarters(GOOD)
    frame.loc[index, field] = value
    return [
        (f"{d:%Y-%m-%d %H:%M}", o, h, lo, c, v)
        for d, o, h, lo, c, v in frame.itertuples(index=False)
    ]


def test_detail_that_resamples_to_the_hour_is_accepted() -> None:
    assert first_detail_mismatch(_one_hour(), _quarters(GOOD)) is None
    # float noise in the summed volume is not a disagreement
    noisy = _edited(0, "volume", 2.0 + 1e-12)
    assert first_detail_mismatch(_one_hour(), _quarters(noisy)) is None


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        # the 10:00 sub-candle must open at the hour's open
        (_edited(0, "open", 100.5), "open: 1h 100 != 100.5 from 4 15m candle(s)"),
        # max of the highs must be the hour's high (here nothing reaches 105)
        (_edited(1, "high", 104.8), "high: 1h 105 != 104.8 from 4 15m candle(s)"),
        # min of the lows must be the hour's low
        (_edited(0, "low", 99.5), "low: 1h 99 != 99.5 from 4 15m candle(s)"),
        # the 10:45 sub-candle must close at the hour's close
        (_edited(3, "close", 103.5), "close: 1h 104 != 103.5 from 4 15m candle(s)"),
        # volumes must add up
        (_edited(2, "volume", 2.5), "volume: 1h 8 != 8.5 from 4 15m candle(s)"),
        # a partial hour still may not leave the hour's range
        ([*GOOD[:1], ("2024-01-01 10:15", 101.0, 106.0, 100.0, 102.0, 2.0)], "high: 1h 105 != 106"),
        # a candle off the quarter-hour grid
        (
            [*GOOD[:3], ("2024-01-01 10:50", 103.0, 104.5, 102.0, 104.0, 2.0)],
            "off the quarter-hour",
        ),
        # the same quarter twice
        (GOOD + GOOD[3:], "duplicated"),
    ],
)
def test_detail_that_contradicts_the_hour_names_the_hour_and_field(
    rows: list[Row], reason: str
) -> None:
    mismatch = first_detail_mismatch(_one_hour(), _quarters(rows))
    assert mismatch is not None
    assert mismatch.hour == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert reason in mismatch.reason


def test_hours_missing_from_one_side_are_not_a_disagreement() -> None:
    # 15m for 11:00 (no 1h candle) and a partial but consistent 10:00
    rows = [*GOOD[:2], ("2024-01-01 11:00", 1.0, 1.0, 1.0, 1.0, 1.0)]
    assert first_detail_mismatch(_one_hour(), _quarters(rows)) is None


def test_the_first_differing_hour_is_reported(tmp_path: Path) -> None:
    hourly = pd.read_feather(BUNDLED_DATA / "BTC_USDT_USDT-1h-futures.feather")
    detail = read_checked_detail(BUNDLED_DATA, "BTC/USDT:USDT")
    later = detail.index[detail["date"] == pd.Timestamp("2025-03-01 12:45", tz="UTC")][0]
    earlier = detail.index[detail["date"] == pd.Timestamp("2025-02-01 07:15", tz="UTC")][0]
    detail.loc[later, "close"] *= 1.01
    detail.loc[earlier, "high"] *= 1.01
    mismatch = first_detail_mismatch(hourly, detail)
    assert mismatch is not None and mismatch.hour == pd.Timestamp("2025-02-01 07:00", tz="UTC")
    assert mismatch.reason.startswith("high")

    hourly.to_feather(tmp_path / "BTC_USDT_USDT-1h-futures.feather")
    detail.to_feather(tmp_path / "BTC_USDT_USDT-15m-futures.feather")
    with pytest.raises(DetailMismatchError, match=r"BTC/USDT:USDT: .* 2025-02-01 07:00 UTC: high"):
        read_checked_detail(tmp_path, "BTC/USDT:USDT")


def test_a_pair_without_a_15m_file_has_no_detail(tmp_path: Path) -> None:
    detail = read_checked_detail(tmp_path, "BTC/USDT:USDT")
    assert detail.empty and list(detail.columns) == [
        "date",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    start = pd.Timestamp("2024-01-01", tz="UTC")
    coverage = detail_coverage("BTC/USDT:USDT", detail, start, start + pd.Timedelta(hours=3))
    assert list(coverage.missing) == list(pd.date_range(start, periods=3, freq="1h"))


def test_coverage_names_the_hours_without_four_sub_candles() -> None:
    # 10:00 complete; 11:00 lacks 11:15; 12:00 has nothing; 13:00 complete; 14:00 has nothing
    stamps = ["10:00", "10:15", "10:30", "10:45", "11:00", "11:30", "11:45"]
    stamps += ["13:00", "13:15", "13:30", "13:45"]
    detail = _quarters([(f"2024-01-01 {t}", 1.0, 1.0, 1.0, 1.0, 1.0) for t in stamps])
    start, end = (
        pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-01 15:00", tz="UTC"),
    )
    coverage = detail_coverage("BTC/USDT:USDT", detail, start, end)
    hours = [pd.Timestamp(f"2024-01-01 {h}:00", tz="UTC") for h in (11, 12, 14)]
    assert list(coverage.missing) == hours
    assert coverage.hours_checked == 5 and not coverage.complete
    assert coverage.runs() == [(hours[0], hours[1]), (hours[2], hours[2])]
    assert coverage.describe() == (
        "BTC/USDT:USDT: 3 of 5 hours lack 15m detail (UTC open times):"
        " 2024-01-01 11:00..2024-01-01 12:00, 2024-01-01 14:00"
    )
    # only the hours the 1h file has need detail; the range is [start, end)
    one_hour = pd.Series(
        pd.to_datetime(["2024-01-01 10:00", "2024-01-01 13:00", "2024-01-01 14:00"], utc=True)
    )
    partial = detail_coverage(
        "BTC/USDT:USDT", detail, start, end - pd.Timedelta(hours=1), hours=one_hour
    )
    assert partial.complete and partial.hours_checked == 2


def test_coverage_needs_utc_times() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        detail_coverage(
            "BTC/USDT:USDT", _quarters(GOOD), pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")
        )
