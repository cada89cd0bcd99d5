"""Fault injection: a price shock seen consistently in candles, tickers and the book."""

from collections.abc import Iterator

import numpy as np
import pytest
import requests

from metalabel.replay import ReplayServer
from metalabel.replay.data import Candles
from metalabel.replay.faults import Faults
from tests.replay.conftest import BUNDLE_DIR


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
