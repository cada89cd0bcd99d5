"""The replay exchange speaks Bybit v5: shapes, start/end/limit semantics, errors, clocks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from metalabel.core.candles import DetailMismatchError
from metalabel.ops.replay import (
    HistoricalClock,
    LiveClock,
    ReplayExchange,
    ReplayServer,
    load_bundle,
)
from metalabel.ops.replay.data import DEFAULT_MARKETS_FILE

from .conftest import BUNDLE_DIR, HOUR_MS, Get, read_bundle, write_bundle

END_MS = int(pd.Timestamp("2026-07-21 16:00", tz="UTC").value // 1_000_000)  # last bundle candle
JUNE_MS = int(pd.Timestamp("2026-06-01", tz="UTC").value // 1_000_000)
KLINE = "/v5/market/kline"
BTC = {"category": "linear", "symbol": "BTCUSDT"}


def ok(body: dict[str, Any]) -> Any:
    assert body["http_status"] == 200
    assert body["retCode"] == 0, body
    assert body["retMsg"] == "OK"
    assert body["retExtInfo"] == {}
    return body["result"]


def starts(result: dict[str, Any]) -> list[int]:
    return [int(row[0]) for row in result["list"]]


def rejected(body: dict[str, Any], code: int = 10001) -> str:
    assert body["retCode"] == code, body
    assert body["result"] == {}
    message: str = body["retMsg"]
    return message


# -- envelope, time, instruments, risk limits ----------------------------------------------


def test_time_is_the_close_of_the_last_candle_under_the_historical_clock(get: Get) -> None:
    now = END_MS + HOUR_MS
    body = get("/v5/market/time")
    result = ok(body)
    assert body["time"] == now
    assert result == {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def test_instruments_info_serves_the_raw_entries(get: Get) -> None:
    markets = json.loads(DEFAULT_MARKETS_FILE.read_text())
    result = ok(get("/v5/market/instruments-info", category="linear", limit=1000))
    assert result["category"] == "linear"
    assert result["nextPageCursor"] == ""
    assert result["list"] == [markets["BTC/USDT:USDT"]["info"], markets["ETH/USDT:USDT"]["info"]]
    only_eth = ok(get("/v5/market/instruments-info", category="linear", symbol="ETHUSDT"))
    assert [i["symbol"] for i in only_eth["list"]] == ["ETHUSDT"]
    pre_launch = ok(get("/v5/market/instruments-info", category="linear", status="PreLaunch"))
    assert pre_launch["list"] == []


@pytest.mark.parametrize("category", ["spot", "inverse", "option"])
def test_instruments_info_other_categories_are_empty(get: Get, category: str) -> None:
    result = ok(get("/v5/market/instruments-info", category=category))
    assert result == {"category": category, "list": [], "nextPageCursor": ""}


def test_risk_limit_serves_the_documented_first_tier(get: Get) -> None:
    result = ok(get("/v5/market/risk-limit", category="linear"))
    assert result["nextPageCursor"] == ""
    assert [tier["symbol"] for tier in result["list"]] == ["BTCUSDT", "ETHUSDT"]
    assert result["list"][0] == {
        "id": 1,
        "symbol": "BTCUSDT",
        "riskLimitValue": "2000000",
        "maintenanceMargin": "0.005",
        "initialMargin": "0.01",
        "isLowestRisk": 1,
        "maxLeverage": "100.00",
        "mmDeduction": "0",
    }
    eth = ok(get("/v5/market/risk-limit", category="linear", symbol="ETHUSDT"))
    assert [tier["symbol"] for tier in eth["list"]] == ["ETHUSDT"]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/v5/market/instruments-info", {}, "category is required"),
        ("/v5/market/instruments-info", {"category": "futures"}, "category futures invalid"),
        ("/v5/market/risk-limit", {}, "category is required"),
        ("/v5/market/risk-limit", {"category": "linear", "symbol": "X"}, "Not supported symbols"),
    ],
)
def test_market_list_bad_parameters(
    get: Get, path: str, params: dict[str, str], fragment: str
) -> None:
    assert fragment in rejected(get(path, **params))


# -- kline ---------------------------------------------------------------------------------


def test_kline_rows_are_the_bundle_rows_newest_first(get: Get) -> None:
    bundle = read_bundle("BTC_USDT_USDT", "futures").set_index("ts")
    result = ok(get(KLINE, **BTC, interval="60", start=JUNE_MS, limit=500))
    assert result["category"] == "linear"
    assert result["symbol"] == "BTCUSDT"
    assert starts(result) == [JUNE_MS + i * HOUR_MS for i in range(499, -1, -1)]
    for row in result["list"]:
        expected = bundle.loc[int(row[0])]
        values = [float(v) for v in row[1:6]]
        assert values == [expected[c] for c in ("open", "high", "low", "close", "volume")]
        assert float(row[6]) == pytest.approx(expected["volume"] * expected["close"])


def test_kline_without_start_or_end_serves_the_latest_200(get: Get) -> None:
    result = ok(get(KLINE, **BTC, interval="60"))
    assert starts(result) == [END_MS - i * HOUR_MS for i in range(200)]


def test_kline_only_start_serves_limit_candles_from_the_candle_containing_start(get: Get) -> None:
    result = ok(get(KLINE, **BTC, interval="60", start=JUNE_MS + 1, limit=3))
    assert starts(result) == [JUNE_MS + 2 * HOUR_MS, JUNE_MS + HOUR_MS, JUNE_MS]


def test_kline_only_end_serves_limit_candles_up_to_end_inclusive(get: Get) -> None:
    result = ok(get(KLINE, **BTC, interval="60", end=JUNE_MS, limit=3))
    assert starts(result) == [JUNE_MS, JUNE_MS - HOUR_MS, JUNE_MS - 2 * HOUR_MS]
    mid = ok(get(KLINE, **BTC, interval="60", end=JUNE_MS + HOUR_MS - 1, limit=1))
    assert starts(mid) == [JUNE_MS]


def test_kline_start_and_end_are_inclusive(get: Get) -> None:
    result = ok(get(KLINE, **BTC, interval="60", start=JUNE_MS, end=JUNE_MS + 5 * HOUR_MS))
    assert starts(result) == [JUNE_MS + i * HOUR_MS for i in range(5, -1, -1)]


def test_kline_start_and_end_wider_than_limit_serve_the_newest(get: Get) -> None:
    result = ok(get(KLINE, **BTC, interval="60", start=JUNE_MS, end=JUNE_MS + 9 * HOUR_MS, limit=2))
    assert starts(result) == [JUNE_MS + 9 * HOUR_MS, JUNE_MS + 8 * HOUR_MS]


@pytest.mark.parametrize("limit", [1, 1000])
def test_kline_limit_edges(get: Get, limit: int) -> None:
    result = ok(get(KLINE, **BTC, interval="60", start=JUNE_MS - 2000 * HOUR_MS, limit=limit))
    assert len(result["list"]) == limit
    assert int(result["list"][-1][0]) == JUNE_MS - 2000 * HOUR_MS


def test_kline_past_the_data_is_empty(get: Get) -> None:
    assert ok(get(KLINE, **BTC, interval="60", start=END_MS + HOUR_MS))["list"] == []
    assert ok(get(KLINE, **BTC, interval="60", end=0))["list"] == []


def test_kline_240_aggregates_complete_buckets(get: Get) -> None:
    hourly = read_bundle("ETH_USDT_USDT", "futures").set_index("date")
    four = hourly.resample("4h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    result = ok(
        get(KLINE, category="linear", symbol="ETHUSDT", interval="240", start=JUNE_MS, limit=6)
    )
    assert starts(result) == [JUNE_MS + i * 4 * HOUR_MS for i in range(5, -1, -1)]
    for row in result["list"]:
        expected = four.loc[pd.Timestamp(int(row[0]), unit="ms", tz="UTC")]
        assert [float(v) for v in row[1:5]] == [
            expected[c] for c in ("open", "high", "low", "close")
        ]
        assert float(row[5]) == pytest.approx(expected["volume"])


@pytest.mark.parametrize(
    ("interval", "check"),
    [
        ("120", lambda t: t.hour % 2 == 0 and t.minute == 0),
        ("360", lambda t: t.hour % 6 == 0),
        ("720", lambda t: t.hour % 12 == 0),
        ("D", lambda t: t.hour == 0),
        ("W", lambda t: t.hour == 0 and t.day_of_week == 0),  # Bybit weeks open on Monday
        ("M", lambda t: t.hour == 0 and t.day == 1),
    ],
)
def test_kline_larger_intervals_are_aligned(get: Get, interval: str, check: Any) -> None:
    result = ok(get(KLINE, **BTC, interval=interval, limit=5))
    assert len(result["list"]) == 5
    assert all(check(pd.Timestamp(t, unit="ms", tz="UTC")) for t in starts(result))


def test_aggregation_drops_incomplete_buckets_but_serves_the_forming_one(tmp_path: Path) -> None:
    # 01:00 .. 14:00: the 00:00 bucket lacks its first hour; 12:00 holds "now" (14:00).
    bundle = load_bundle(write_bundle(tmp_path, "2024-01-01 01:00", 14))
    exchange = ReplayExchange(bundle, HistoricalClock())
    status, body = exchange.handle(KLINE, {**BTC, "interval": "240"})
    assert status == 200
    day = int(pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000)
    assert starts(body["result"]) == [day + 12 * HOUR_MS, day + 8 * HOUR_MS, day + 4 * HOUR_MS]
    forming, complete = body["result"]["list"][0], body["result"]["list"][1]
    assert forming[1:6] == ["110.5", "114", "110", "113", "6"]  # 12:00..14:00 so far
    assert complete[1:6] == ["106.5", "111", "106", "110", "8"]  # 08:00..11:00


# -- 15m klines ----------------------------------------------------------------------------


def test_kline_15_rows_are_the_bundled_15m_rows(get: Get) -> None:
    bundle = read_bundle("ETH_USDT_USDT", "futures", "15m").set_index("ts")
    quarter = HOUR_MS // 4
    eth = {"category": "linear", "symbol": "ETHUSDT"}
    result = ok(get(KLINE, **eth, interval="15", start=JUNE_MS + 1, limit=1000))
    assert starts(result) == [JUNE_MS + i * quarter for i in range(999, -1, -1)]
    for row in result["list"]:
        expected = bundle.loc[int(row[0])]
        values = [float(v) for v in row[1:6]]
        assert values == [expected[c] for c in ("open", "high", "low", "close", "volume")]
    latest = ok(get(KLINE, **BTC, interval="15", limit=2))
    assert starts(latest) == [END_MS + 3 * quarter, END_MS + 2 * quarter]  # 16:45, 16:30


def test_kline_30_aggregates_pairs_of_15m_candles(get: Get) -> None:
    quarters = read_bundle("BTC_USDT_USDT", "futures", "15m").set_index("date")
    halves = quarters.resample("30min").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    result = ok(get(KLINE, **BTC, interval="30", start=JUNE_MS, limit=48))
    assert starts(result) == [JUNE_MS + i * HOUR_MS // 2 for i in range(47, -1, -1)]
    for row in result["list"]:
        expected = halves.loc[pd.Timestamp(int(row[0]), unit="ms", tz="UTC")]
        assert [float(v) for v in row[1:5]] == [
            expected[c] for c in ("open", "high", "low", "close")
        ]
        assert float(row[5]) == pytest.approx(expected["volume"])


def test_kline_15_needs_a_15m_file_and_mark_prices_stay_1h(tmp_path: Path) -> None:
    exchange = ReplayExchange(
        load_bundle(write_bundle(tmp_path, "2024-01-01", 10)), HistoricalClock()
    )
    _, body = exchange.handle(KLINE, {**BTC, "interval": "15"})
    assert "no 15m data for BTCUSDT" in rejected({**body, "http_status": 200})
    _, body = exchange.handle("/v5/market/mark-price-kline", {**BTC, "interval": "15"})
    assert "mark prices are 1h" in rejected({**body, "http_status": 200})


def test_15m_file_that_disagrees_with_its_1h_file_stops_the_load(tmp_path: Path) -> None:
    directory = write_bundle(tmp_path, "2024-01-01", 10, detail=True)
    path = directory / "BTC_USDT_USDT-15m-futures.feather"
    detail = pd.read_feather(path)
    detail.loc[4 * 6 + 3, "close"] += 0.5  # 06:45: the close of the 06:00 hour
    detail.to_feather(path)
    with pytest.raises(DetailMismatchError) as refused:
        ReplayServer(directory)
    message = str(refused.value)
    assert "BTC/USDT:USDT" in message and "2024-01-01 06:00 UTC" in message
    assert "BTC_USDT_USDT-15m-futures.feather" in message and "close: 1h 106 != 106.5" in message


def test_live_clock_serves_15m_candles_with_the_forming_one_open_only(tmp_path: Path) -> None:
    wall = FakeWall("2024-03-01 10:40")
    clock = LiveClock(lead_hours=5, wall=wall)
    bundle = load_bundle(write_bundle(tmp_path, "2024-01-01", 48, detail=True))
    exchange = ReplayExchange(bundle, clock)
    _, body = exchange.handle(KLINE, {**BTC, "interval": "15", "limit": "3"})
    ten = int(pd.Timestamp("2024-03-01 10:00", tz="UTC").value // 1_000_000)
    quarter = HOUR_MS // 4
    assert starts(body["result"]) == [ten + 2 * quarter, ten + quarter, ten]
    forming, closed = body["result"]["list"][0], body["result"]["list"][1]
    level = 100 + 48 - 5  # close of the hour now forming (candle 43 of 0..47)
    assert [float(v) for v in forming[1:6]] == [level + 0.25] * 4 + [0.0]
    assert [float(v) for v in closed[1:6]] == [
        level - 0.25,
        level + 1,
        level - 0.25,
        level + 0.25,
        0.5,
    ]
    _, later = exchange.handle(KLINE, {**BTC, "interval": "15", "start": str(ten + 3 * quarter)})
    assert later["result"]["list"] == []  # the future is hidden
    wall.now += 5 * 60  # 10:45: the 10:30 candle has closed
    _, body = exchange.handle(KLINE, {**BTC, "interval": "15", "limit": "2"})
    assert float(body["result"]["list"][1][4]) == level - 0.25


def test_mark_price_kline_rows_are_the_mark_bundle_rows(get: Get) -> None:
    bundle = read_bundle("ETH_USDT_USDT", "mark").set_index("ts")
    result = ok(
        get(
            "/v5/market/mark-price-kline",
            category="linear",
            symbol="ETHUSDT",
            interval="60",
            start=JUNE_MS,
            limit=48,
        )
    )
    assert len(result["list"]) == 48
    for row in result["list"]:
        assert len(row) == 5
        expected = bundle.loc[int(row[0])]
        assert [float(v) for v in row[1:]] == [
            expected[c] for c in ("open", "high", "low", "close")
        ]


def test_bundle_without_mark_or_funding_serves_empty_lists(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, "2024-01-01", 10, mark=False, funding=False))
    exchange = ReplayExchange(bundle, HistoricalClock())
    _, mark = exchange.handle("/v5/market/mark-price-kline", {**BTC, "interval": "60"})
    _, funding = exchange.handle("/v5/market/funding/history", BTC)
    assert mark["result"]["list"] == [] and funding["result"]["list"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({**BTC, "interval": "1"}, "15m at finest"),
        ({**BTC, "interval": "5"}, "15m at finest"),
        ({**BTC, "interval": "7"}, "interval invalid"),
        ({**BTC}, "interval invalid"),
        ({**BTC, "interval": "60", "limit": "0"}, "limit"),
        ({**BTC, "interval": "60", "limit": "1001"}, "limit"),
        ({**BTC, "interval": "60", "start": "yesterday"}, "start invalid"),
        # overflowing numbers are a parameter error, not a server error
        ({**BTC, "interval": "60", "start": "9" * 26}, "start invalid"),
        ({**BTC, "interval": "15", "start": "9" * 26}, "start invalid"),
        ({**BTC, "interval": "60", "end": "-" + "9" * 26}, "end invalid"),
        ({**BTC, "interval": "60", "limit": "9" * 26}, "limit invalid"),
        ({"category": "linear", "symbol": "DOGEUSDT", "interval": "60"}, "Not supported symbols"),
        ({"category": "spot", "symbol": "BTCUSDT", "interval": "60"}, "Not supported symbols"),
        ({"category": "linear", "interval": "60"}, "symbol is required"),
        ({"category": "future", "symbol": "BTCUSDT", "interval": "60"}, "category"),
    ],
)
def test_kline_bad_parameters(get: Get, params: dict[str, str], fragment: str) -> None:
    body = get(KLINE, **params)
    assert body["http_status"] == 200
    assert fragment in rejected(body)


# -- funding history -----------------------------------------------------------------------

FUNDING = "/v5/market/funding/history"


def test_funding_history_latest_200_newest_first(get: Get) -> None:
    bundle = read_bundle("BTC_USDT_USDT", "funding_rate")
    result = ok(get(FUNDING, **BTC))
    assert result["category"] == "linear"
    entries = result["list"]
    assert len(entries) == 200
    assert [int(e["fundingRateTimestamp"]) for e in entries] == bundle["ts"].tolist()[::-1][:200]
    assert [float(e["fundingRate"]) for e in entries] == bundle["open"].tolist()[::-1][:200]
    assert {e["symbol"] for e in entries} == {"BTCUSDT"}


def test_funding_history_end_only_is_inclusive(get: Get) -> None:
    result = ok(get(FUNDING, **BTC, endTime=JUNE_MS, limit=2))
    assert [int(e["fundingRateTimestamp"]) for e in result["list"]] == [
        JUNE_MS,
        JUNE_MS - 8 * HOUR_MS,
    ]


def test_funding_history_start_and_end_inclusive_newest_when_capped(get: Get) -> None:
    window = {"startTime": JUNE_MS, "endTime": JUNE_MS + 24 * HOUR_MS}
    result = ok(get(FUNDING, **BTC, **window))
    assert [int(e["fundingRateTimestamp"]) for e in result["list"]] == [
        JUNE_MS + h * HOUR_MS for h in (24, 16, 8, 0)
    ]
    capped = ok(get(FUNDING, **BTC, **window, limit=3))  # real Bybit drops the oldest
    assert [int(e["fundingRateTimestamp"]) for e in capped["list"]] == [
        JUNE_MS + h * HOUR_MS for h in (24, 16, 8)
    ]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({**BTC, "startTime": str(JUNE_MS)}, "Time is invalid"),
        ({**BTC, "startTime": "9" * 26, "endTime": "9" * 26}, "startTime invalid"),
        ({**BTC, "limit": "201"}, "limit"),
        ({**BTC, "limit": "0"}, "limit"),
        ({"symbol": "BTCUSDT"}, "category is required"),
        ({"category": "linear"}, "symbol is required"),
        ({"category": "linear", "symbol": "BTCUSD"}, "Not supported symbols"),
    ],
)
def test_funding_history_bad_parameters(get: Get, params: dict[str, str], fragment: str) -> None:
    assert fragment in rejected(get(FUNDING, **params))


# -- tickers, order book, unknown paths ----------------------------------------------------


def test_tickers_describe_the_current_candle(get: Get) -> None:
    hourly = read_bundle("BTC_USDT_USDT", "futures")
    mark = read_bundle("BTC_USDT_USDT", "mark")
    last24 = hourly.tail(24)
    (ticker,) = ok(get("/v5/market/tickers", **BTC))["list"]
    assert ticker["symbol"] == "BTCUSDT"
    assert float(ticker["lastPrice"]) == hourly["close"].iloc[-1]
    assert float(ticker["markPrice"]) == mark["close"].iloc[-1]
    assert float(ticker["prevPrice24h"]) == last24["open"].iloc[0]
    assert float(ticker["highPrice24h"]) == last24["high"].max()
    assert float(ticker["lowPrice24h"]) == last24["low"].min()
    assert float(ticker["volume24h"]) == pytest.approx(last24["volume"].sum())
    assert float(ticker["bid1Price"]) == pytest.approx(float(ticker["lastPrice"]) - 0.1)
    assert float(ticker["ask1Price"]) == pytest.approx(float(ticker["lastPrice"]) + 0.1)
    assert int(ticker["nextFundingTime"]) == END_MS + 8 * HOUR_MS
    rates = read_bundle("BTC_USDT_USDT", "funding_rate")
    assert float(ticker["fundingRate"]) == rates["open"].iloc[-1]  # the last settled rate
    assert ticker["openInterestValue"] != ""  # ccxt tells contracts from spot by it
    all_tickers = ok(get("/v5/market/tickers", category="linear"))["list"]
    assert [t["symbol"] for t in all_tickers] == ["BTCUSDT", "ETHUSDT"]
    assert ok(get("/v5/market/tickers", category="spot"))["list"] == []


def test_tickers_bad_parameters(get: Get) -> None:
    assert "category is required" in rejected(get("/v5/market/tickers", symbol="BTCUSDT"))
    assert "Not supported symbols" in rejected(
        get("/v5/market/tickers", category="linear", symbol="XRPUSDT")
    )


def test_orderbook_is_a_synthetic_book_around_the_last_price(get: Get) -> None:
    last = read_bundle("ETH_USDT_USDT", "futures")["close"].iloc[-1]
    result = ok(get("/v5/market/orderbook", category="linear", symbol="ETHUSDT", limit=5))
    assert result["s"] == "ETHUSDT"
    assert result["ts"] == END_MS + HOUR_MS
    bids = [float(p) for p, _ in result["b"]]
    asks = [float(p) for p, _ in result["a"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < last < asks[0]
    assert len(ok(get("/v5/market/orderbook", **BTC))["b"]) == 25  # Bybit's default
    assert "limit" in rejected(get("/v5/market/orderbook", **BTC, limit=501))
    assert "symbol is required" in rejected(get("/v5/market/orderbook", category="linear"))


def test_unknown_path_is_a_404_envelope(get: Get) -> None:
    body = get("/v5/market/recent-trade", **BTC)
    assert body["http_status"] == 404
    assert rejected(body, code=10017) == "Route not found"


# -- live clock ----------------------------------------------------------------------------


class FakeWall:
    """An adjustable wall clock in epoch seconds."""

    def __init__(self, iso: str) -> None:
        self.now: float = pd.Timestamp(iso, tz="UTC").timestamp()

    def __call__(self) -> float:
        return self.now


def test_live_clock_shifts_history_to_end_lead_hours_after_now() -> None:
    wall = FakeWall("2026-11-21 19:39:19")
    clock = LiveClock(lead_hours=720, wall=wall)
    clock.anchor(END_MS)
    current_hour = int(pd.Timestamp("2026-11-21 19:00", tz="UTC").value // 1_000_000)
    # The candle 720 h before the end of the data is the last closed one (18:00).
    assert END_MS - 720 * HOUR_MS + clock.offset_ms == current_hour - HOUR_MS
    assert clock.offset_ms % HOUR_MS == 0
    assert clock.now_ms() == int(wall.now * 1000)


def test_live_clock_reveals_candles_as_time_passes() -> None:
    bundle = load_bundle(BUNDLE_DIR)
    wall = FakeWall("2026-11-21 19:39:19")
    exchange = ReplayExchange(bundle, LiveClock(lead_hours=720, wall=wall))
    offset = exchange.clock.offset_ms
    hourly = read_bundle("BTC_USDT_USDT", "futures").set_index("ts")
    forming = END_MS - 719 * HOUR_MS  # bundle time of the candle now forming

    def latest(params: dict[str, str]) -> list[Any]:
        status, body = exchange.handle(KLINE, {**BTC, "interval": "60", **params})
        assert status == 200 and body["retCode"] == 0
        rows: list[Any] = body["result"]["list"]
        return rows

    rows = latest({"limit": "2"})
    assert [int(r[0]) for r in rows] == [forming + offset, forming - HOUR_MS + offset]
    closed = hourly.loc[forming - HOUR_MS]
    assert [float(v) for v in rows[1][1:6]] == closed[
        ["open", "high", "low", "close", "volume"]
    ].tolist()
    opening = hourly.loc[forming, "open"]  # the forming candle leaks nothing but its open
    assert [float(v) for v in rows[0][1:6]] == [opening] * 4 + [0.0]
    assert latest({"start": str(forming + offset + HOUR_MS)}) == []  # the future is hidden
    _, ticker = exchange.handle("/v5/market/tickers", BTC)
    assert float(ticker["result"]["list"][0]["lastPrice"]) == opening

    wall.now += 2 * 3600
    rows = latest({"limit": "3"})
    assert int(rows[0][0]) == forming + 2 * HOUR_MS + offset
    assert float(rows[2][4]) == hourly.loc[forming, "close"]  # closed now: its real values
    _, ticker = exchange.handle("/v5/market/tickers", BTC)
    assert ticker["time"] == int(wall.now * 1000)
    _, funding = exchange.handle(FUNDING, {**BTC, "limit": "1"})
    (entry,) = funding["result"]["list"]
    settled = int(entry["fundingRateTimestamp"])
    assert settled <= wall.now * 1000 < settled + 8 * HOUR_MS
    rates = read_bundle("BTC_USDT_USDT", "funding_rate").set_index("ts")
    assert float(entry["fundingRate"]) == rates.loc[settled - offset, "open"]


def test_live_clock_over_http(tmp_path: Path) -> None:
    wall = FakeWall("2024-03-01 10:30")
    clock = LiveClock(lead_hours=5, wall=wall)
    with ReplayServer(write_bundle(tmp_path, "2024-01-01", 48), clock=clock) as server:
        body = requests.get(server.url + KLINE, params={**BTC, "interval": "60"}, timeout=5).json()
    ten = int(pd.Timestamp("2024-03-01 10:00", tz="UTC").value // 1_000_000)
    assert starts(body["result"])[0] == ten  # the forming candle is the current hour
    last_closed = body["result"]["list"][1]
    assert float(last_closed[4]) == 100 + 48 - 6  # 5 candles after the forming one to come
