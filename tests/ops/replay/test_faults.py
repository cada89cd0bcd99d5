"""Fault injection: a price shock seen consistently in candles, tickers and the book."""

from collections.abc import Iterator

import numpy as np
import pytest
import requests

from metalabel.ops.replay import ReplayServer
from metalabel.ops.replay.data import Candles
from metalabel.ops.replay.faults import Faults, RequestFault
from tests.ops.replay.conftest import BUNDLE_DIR


def test_price_shock_scales_prices_from_its_start_only() -> None:
    candles = Candles(np.array([0, 1, 2]), np.array([[10.0, 11, 9, 10, 5]] * 3))
    faults = Faults()
    faults.crash(0.5, from_ms=1)
    shocked = faults.prices(candles)
    assert shocked.ohlcv[0].tolist() == [10.0, 11, 9, 10, 5]
    assert shocked.ohlcv[1].tolist() == [5.0, 5.5, 4.5, 5.0, 5]  # volume untouched
    faults.clear()
    assert faults.prices(candles) is candles


def test_a_factor_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Faults().crash(0.0, from_ms=0)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer(BUNDLE_DIR) as replay:
        yield replay


def test_crash_reaches_klines_ticker_and_orderbook(server: ReplayServer) -> None:
    def fetch(path: str, **params: str) -> dict:
        params = {"category": "linear", "symbol": "BTCUSDT", **params}
        return requests.get(server.url + path, params=params, timeout=10).json()["result"]

    before_close = float(fetch("/v5/market/kline", interval="60", limit="1")["list"][0][4])
    before_last = float(fetch("/v5/market/tickers")["list"][0]["lastPrice"])
    server.exchange.faults.crash(0.7, from_ms=0)
    after_close = float(fetch("/v5/market/kline", interval="60", limit="1")["list"][0][4])
    after_last = float(fetch("/v5/market/tickers")["list"][0]["lastPrice"])
    bid = float(fetch("/v5/market/orderbook")["b"][0][0])
    assert after_close == pytest.approx(before_close * 0.7, rel=1e-6)
    assert after_last == pytest.approx(before_last * 0.7, rel=1e-4)
    assert bid < before_last * 0.71


# -- request faults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "ret_code"),
    [
        (RequestFault.HTTP_5XX, 503, 10016),  # gateway trouble: 503 + Bybit's system error
        (RequestFault.RATE_LIMIT, 200, 10006),  # Bybit throttles with HTTP 200 + 10006
    ],
)
def test_next_n_requests_fail_then_service_resumes(
    kind: RequestFault, status: int, ret_code: int
) -> None:
    faults = Faults()
    faults.fail_next(2, kind)
    answers = [faults.take() for _ in range(3)]
    assert [a is None for a in answers] == [False, False, True]
    first = answers[0]
    assert first is not None
    assert (first.http_status, first.ret_code) == (status, ret_code)
    assert (faults.requests_seen, faults.requests_faulted) == (3, 2)
    assert not faults.burst_active


def test_a_time_window_burst_ends_with_its_window() -> None:
    now = [100.0]
    faults = Faults(clock=lambda: now[0])
    faults.fail_for(5.0, RequestFault.RATE_LIMIT)
    assert faults.take() is not None
    now[0] = 104.9  # still inside the window
    assert faults.take() is not None
    now[0] = 105.0  # the window is [100, 105)
    assert faults.take() is None
    assert faults.requests_faulted == 2


def test_a_timeout_hangs_and_needs_a_duration() -> None:
    faults = Faults()
    faults.fail_next(1, RequestFault.TIMEOUT, hang_seconds=0.5)
    answer = faults.take()
    assert answer is not None and answer.hang_seconds == 0.5
    with pytest.raises(ValueError, match="hang_seconds"):
        faults.fail_next(1, RequestFault.TIMEOUT)
    with pytest.raises(ValueError, match="requests"):
        faults.fail_next(0)


# -- data faults --------------------------------------------------------------------------


def test_frozen_candles_stop_at_the_frozen_time_only() -> None:
    faults = Faults()
    assert faults.candle_time(10_000) == 10_000
    faults.freeze_candles(4_000)
    assert faults.candle_time(10_000) == 4_000  # time goes on, candles do not
    assert faults.candle_time(3_000) == 3_000  # before the freeze nothing changes
    faults.clear()
    assert faults.candle_time(10_000) == 10_000


def test_a_gap_removes_candles_opening_inside_it() -> None:
    candles = Candles(np.array([0, 1, 2, 3]), np.arange(20.0).reshape(4, 5))
    faults = Faults()
    assert faults.without_gap(candles) is candles
    faults.gap(1, 3)  # [1, 3): candles 1 and 2
    cut = faults.without_gap(candles)
    assert cut.ts.tolist() == [0, 3]
    assert cut.ohlcv[1].tolist() == candles.ohlcv[3].tolist()
    with pytest.raises(ValueError, match="before its end"):
        faults.gap(3, 3)


def test_request_faults_reach_the_wire_with_bybit_envelopes(server: ReplayServer) -> None:
    url = server.url + "/v5/market/time"
    server.exchange.faults.fail_next(1, RequestFault.HTTP_5XX)
    down = requests.get(url, timeout=10)
    assert (down.status_code, down.json()["retCode"]) == (503, 10016)
    server.exchange.faults.fail_next(1, RequestFault.RATE_LIMIT)
    throttled = requests.get(url, timeout=10)
    assert (throttled.status_code, throttled.json()["retCode"]) == (200, 10006)
    assert throttled.json()["retMsg"] == "Too many visits!"
    server.exchange.faults.fail_next(1, RequestFault.TIMEOUT, hang_seconds=2.0)
    with pytest.raises(requests.Timeout):
        requests.get(url, timeout=0.5)
    assert requests.get(url, timeout=10).json()["retCode"] == 0


def test_frozen_and_gapped_feeds_in_klines(server: ReplayServer) -> None:
    def opens(**params: str) -> list[int]:
        params = {"category": "linear", "symbol": "BTCUSDT", "interval": "60", **params}
        rows = requests.get(server.url + "/v5/market/kline", params=params, timeout=10)
        return [int(row[0]) for row in rows.json()["result"]["list"]]

    latest = opens(limit="5")  # newest first
    faults = server.exchange.faults
    faults.freeze_candles(latest[2])
    assert opens(limit="3") == latest[2:5]
    faults.clear()
    faults.gap(latest[3], latest[1])  # the two candles opening in [t3, t1)
    assert opens(limit="3") == [latest[0], latest[1], latest[4]]
    faults.clear()
    assert opens(limit="5") == latest
