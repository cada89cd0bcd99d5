"""ccxt's own bybit client, pointed at the replay exchange, reads back the bundled data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import ccxt
import pandas as pd
import pytest

from metalabel.ops.replay import ReplayServer
from metalabel.ops.replay.data import DEFAULT_MARKETS_FILE

from .conftest import HOUR_MS, read_bundle

SINCE = int(pd.Timestamp("2026-06-01", tz="UTC").value // 1_000_000)
PAIRS = {"BTC/USDT:USDT": "BTC_USDT_USDT", "ETH/USDT:USDT": "ETH_USDT_USDT"}


@pytest.fixture(scope="module")
def bybit(replay: ReplayServer) -> Iterator[Any]:
    """A ccxt bybit client whose every API group is the replay exchange."""
    api = dict.fromkeys(("public", "private", "spot", "futures", "v2"), replay.url)
    exchange = ccxt.bybit(
        {"urls": {"api": api}, "options": {"defaultType": "swap", "defaultSettle": "USDT"}}
    )
    exchange.load_markets()
    yield exchange


def test_markets_match_the_bundled_specs(bybit: Any) -> None:
    bundled = json.loads(DEFAULT_MARKETS_FILE.read_text())
    assert set(bybit.markets) == set(PAIRS)
    for symbol, spec in bundled.items():
        market = bybit.markets[symbol]
        for key in ("id", "type", "linear", "settle", "contractSize", "precision"):
            assert market[key] == spec[key], (symbol, key)
        for key in ("leverage", "amount", "price"):
            assert market["limits"][key] == spec["limits"][key], (symbol, key)
        # The bundled json predates ccxt reading lotSizeFilter.minNotionalValue into cost.min.
        assert spec["limits"]["cost"]["min"] is None
        minimum = float(spec["info"]["lotSizeFilter"]["minNotionalValue"])
        assert market["limits"]["cost"] == {"min": minimum, "max": None}
        assert market["info"] == spec["info"]


@pytest.mark.parametrize("symbol", list(PAIRS))
def test_fetch_ohlcv_returns_the_bundle_rows(bybit: Any, symbol: str) -> None:
    rows = bybit.fetch_ohlcv(symbol, "1h", since=SINCE, limit=300)
    bundle = read_bundle(PAIRS[symbol], "futures")
    expected = bundle[bundle["ts"] >= SINCE].head(300)
    assert rows == expected[["ts", "open", "high", "low", "close", "volume"]].values.tolist()


def test_fetch_ohlcv_mark_returns_the_mark_rows(bybit: Any) -> None:
    rows = bybit.fetch_ohlcv(
        "ETH/USDT:USDT", "1h", since=SINCE, limit=100, params={"price": "mark"}
    )
    bundle = read_bundle("ETH_USDT_USDT", "mark")
    expected = bundle[bundle["ts"] >= SINCE].head(100)
    assert [r[:5] for r in rows] == expected[["ts", "open", "high", "low", "close"]].values.tolist()
    assert {r[5] for r in rows} == {None}  # Bybit's mark klines carry no volume


def test_fetch_funding_rate_history_returns_the_bundle_rates(bybit: Any) -> None:
    rates = bybit.fetch_funding_rate_history("BTC/USDT:USDT", since=SINCE, limit=50)
    bundle = read_bundle("BTC_USDT_USDT", "funding_rate")
    # ccxt asks for [since, since + 50 * 8h]; like Bybit, the newest 50 of those 51 come back.
    window = bundle[(bundle["ts"] > SINCE) & (bundle["ts"] <= SINCE + 50 * 8 * HOUR_MS)]
    assert [r["timestamp"] for r in rates] == window["ts"].tolist()
    assert [r["fundingRate"] for r in rates] == window["open"].tolist()
    assert {r["symbol"] for r in rates} == {"BTC/USDT:USDT"}


def test_fetch_leverage_tiers(bybit: Any) -> None:
    tiers = bybit.fetch_leverage_tiers()
    assert set(tiers) == set(PAIRS)
    for symbol, (tier,) in tiers.items():
        assert tier["symbol"] == symbol
        assert tier["currency"] == "USDT"
        assert (tier["minNotional"], tier["maxNotional"]) == (0, 2_000_000)
        assert tier["maintenanceMarginRate"] == 0.005
        assert tier["maxLeverage"] == 100


def test_fetch_ticker_order_book_and_time(bybit: Any) -> None:
    last = read_bundle("BTC_USDT_USDT", "futures")["close"].iloc[-1]
    ticker = bybit.fetch_ticker("BTC/USDT:USDT")
    assert ticker["last"] == last
    assert ticker["bid"] < last < ticker["ask"]
    assert ticker["markPrice"] == read_bundle("BTC_USDT_USDT", "mark")["close"].iloc[-1]
    book = bybit.fetch_order_book("BTC/USDT:USDT", 10)
    assert len(book["bids"]) == len(book["asks"]) == 10
    assert book["bids"][0][0] < last < book["asks"][0][0]
    now = int(read_bundle("BTC_USDT_USDT", "futures")["ts"].iloc[-1]) + HOUR_MS
    assert book["timestamp"] == now  # the historical clock stops as the last candle closes
    assert bybit.fetch_time() == now


def test_unknown_symbol_is_ccxt_bad_symbol(bybit: Any) -> None:
    with pytest.raises(ccxt.BadSymbol):
        bybit.publicGetV5MarketKline({"category": "linear", "symbol": "XUSDT", "interval": "60"})
