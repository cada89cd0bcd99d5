"""The Bybit v5 public market endpoints the replay exchange answers, and their ``ROUTES``.

Pure request handling (path + query parameters in, Bybit JSON envelope out) over the
bundle as seen through the clock; :mod:`metalabel.ops.replay.server` puts it on HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from metalabel.ops.replay.clock import Clock
from metalabel.ops.replay.data import (
    DETAIL_INTERVALS,
    FINER_THAN_BUNDLE,
    INTERVALS,
    Candles,
    Instrument,
    aggregate,
    bucket_start,
    data_end_ms,
)
from metalabel.ops.replay.faults import Faults

# The replay exchange logs under one name, whichever module answers the request.
logger = logging.getLogger("metalabel.ops.replay.server")

Params = dict[str, str]
Result = dict[str, Any]

PARAMS_ERROR = 10001  # Bybit: "Request parameter error"
SERVER_ERROR = 10016  # Bybit: "Server error"
ROUTE_NOT_FOUND = 10017  # Bybit: "Route not found"
# The exact message Bybit sends for an unknown symbol; ccxt maps it to BadSymbol.
UNKNOWN_SYMBOL = "Not supported symbols"

# Risk limits are not in the bundle. Serve Bybit's documented lowest tier for BTC/ETH USDT
# perpetuals (2M USDT notional, 0.5% maintenance, 1% initial margin, 100x) for every symbol.
RISK_TIER = {
    "id": 1,
    "symbol": "",
    "riskLimitValue": "2000000",
    "maintenanceMargin": "0.005",
    "initialMargin": "0.01",
    "isLowestRisk": 1,
    "maxLeverage": "100.00",
    "mmDeduction": "0",
}
BOOK_QTY_MULTIPLE = 1000  # synthetic order book: every level holds 1000 x minOrderQty
# Integer parameters (times in ms, limits) beyond this are refused: it keeps every
# timestamp computation inside int64 (2**53 ms is the year 287,396).
MAX_INT_PARAM = 2**53


class BybitError(Exception):
    """A request Bybit would reject; becomes a retCode/retMsg envelope."""

    def __init__(self, msg: str, ret_code: int = PARAMS_ERROR, http_status: int = 200) -> None:
        super().__init__(msg)
        self.msg = msg
        self.ret_code = ret_code
        self.http_status = http_status


def _num(value: float) -> str:
    """Shortest positional decimal that round-trips, as Bybit writes numbers ("0.0001")."""
    return str(np.format_float_positional(value, trim="-"))


def _decimals(step: str) -> int:
    return len(step.split(".")[1].rstrip("0")) if "." in step else 0


def _int_param(params: Params, key: str) -> int | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BybitError(f"params error: {key} invalid") from None
    if not -MAX_INT_PARAM <= value <= MAX_INT_PARAM:
        raise BybitError(f"params error: {key} invalid")
    return value


def _limit(params: Params, default: int, maximum: int) -> int:
    limit = _int_param(params, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise BybitError(f"params error: limit must be in [1, {maximum}]")
    return limit


def _category(params: Params, allowed: tuple[str, ...], default: str | None = None) -> str:
    category = params.get("category") or default
    if category is None:
        raise BybitError("params error: category is required")
    if category not in allowed:
        raise BybitError(f"params error: category {category} invalid")
    return category


class ReplayExchange:
    """Answers Bybit v5 public market requests from the bundle, as seen through the clock."""

    def __init__(self, bundle: dict[str, Instrument], clock: Clock) -> None:
        self.bundle = bundle
        self.clock = clock
        self.faults = Faults()
        clock.anchor(data_end_ms(bundle))

    # -- request plumbing -------------------------------------------------------------------

    def handle(self, path: str, params: Params) -> tuple[int, dict[str, Any]]:
        """Dispatch one GET; returns (HTTP status, Bybit envelope)."""
        logger.debug("GET %s %s", path, params)
        fault = self.faults.take()
        if fault is not None:
            if not fault.hang_seconds:
                logger.debug("GET %s -> injected %s", path, fault.kind)
                return fault.http_status, self._envelope(fault.ret_code, fault.ret_msg, {})
            time.sleep(fault.hang_seconds)  # a timeout: the client gives up before this
        route = ROUTES.get(path.rstrip("/"))
        try:
            if route is None:
                raise BybitError("Route not found", ROUTE_NOT_FOUND, http_status=404)
            return 200, self._envelope(0, "OK", route(self, params))
        except BybitError as err:
            logger.debug("GET %s -> retCode %d: %s", path, err.ret_code, err.msg)
            return err.http_status, self._envelope(err.ret_code, err.msg, {})
        except Exception:  # a replay bug must surface as Bybit's server error, not a hang-up
            logger.exception("GET %s %s failed", path, params)
            return 500, self._envelope(SERVER_ERROR, "Server error.", {})

    def error(self, code: int, msg: str) -> dict[str, Any]:
        """A Bybit error envelope (empty result) for answers outside `handle`."""
        return self._envelope(code, msg, {})

    def _envelope(self, code: int, msg: str, result: Result) -> dict[str, Any]:
        return {
            "retCode": code,
            "retMsg": msg,
            "result": result,
            "retExtInfo": {},
            "time": self.clock.now_ms(),
        }

    def _instrument(self, params: Params) -> Instrument:
        symbol = params.get("symbol")
        if not symbol:
            raise BybitError("params error: symbol is required")
        if params.get("category", "linear") != "linear" or symbol not in self.bundle:
            raise BybitError(UNKNOWN_SYMBOL)
        return self.bundle[symbol]

    def _selected(self, params: Params) -> list[Instrument]:
        """All linear instruments, or the one named by an optional `symbol`."""
        if params.get("symbol"):
            return [self._instrument(params)]
        return list(self.bundle.values())

    def _visible(self, candles: Candles) -> Candles:
        as_of_ms = self.faults.candle_time(self.clock.now_ms())  # a frozen feed stops here
        visible = candles.shifted(self.clock.offset_ms).as_of(as_of_ms)
        return self.faults.prices(self.faults.without_gap(visible))

    # -- endpoints --------------------------------------------------------------------------

    def instruments_info(self, params: Params) -> Result:
        category = _category(params, ("spot", "linear", "inverse", "option"))
        infos = [inst.info for inst in self.bundle.values()] if category == "linear" else []
        for key in ("symbol", "status", "baseCoin"):
            if params.get(key):
                infos = [info for info in infos if info.get(key) == params[key]]
        return {"category": category, "list": infos, "nextPageCursor": ""}

    def risk_limit(self, params: Params) -> Result:
        category = _category(params, ("linear", "inverse"))
        chosen = self._selected(params) if category == "linear" else []
        tiers = [{**RISK_TIER, "symbol": inst.symbol} for inst in chosen]
        return {"category": category, "list": tiers, "nextPageCursor": ""}

    def kline(self, params: Params) -> Result:
        return self._klines(params, mark=False)

    def mark_price_kline(self, params: Params) -> Result:
        return self._klines(params, mark=True)

    def _klines(self, params: Params, mark: bool) -> Result:
        """Bybit semantics: newest first; the candle containing `start` and the one opening at
        `end` are included; with both or only `end`, the newest `limit` candles of the range;
        with only `start`, the oldest `limit` from `start`; with neither, the latest `limit`.
        """
        _category(params, ("spot", "linear", "inverse"), default="linear")
        inst = self._instrument(params)
        interval = params.get("interval", "")
        if interval in FINER_THAN_BUNDLE:
            raise BybitError(
                f"params error: interval {interval} unavailable, replay data is 15m at finest"
            )
        if interval not in INTERVALS:
            raise BybitError("params error: interval invalid")
        limit = _limit(params, default=200, maximum=1000)
        start, end = _int_param(params, "start"), _int_param(params, "end")

        base = self._base_candles(inst, interval, mark)
        candles = aggregate(self._visible(base), interval, forming_ms=self.clock.now_ms())
        ts = candles.ts
        lo = 0
        if start is not None:
            first = bucket_start(np.array([start], dtype=np.int64), interval)[0]
            lo = int(np.searchsorted(ts, first, side="left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, end, side="right"))
        if start is not None and end is None:
            hi = min(hi, lo + limit)
        else:
            lo = max(lo, hi - limit)

        rows = []
        for i in range(hi - 1, lo - 1, -1):
            o, h, low, c, v = candles.ohlcv[i]
            row = [str(ts[i]), _num(o), _num(h), _num(low), _num(c)]
            if not mark:  # turnover is not in the bundle: volume * close stands in for it
                row += [_num(v), _num(round(v * c, 4))]
            rows.append(row)
        return {"category": "linear", "symbol": inst.symbol, "list": rows}

    @staticmethod
    def _base_candles(inst: Instrument, interval: str, mark: bool) -> Candles:
        """The bundle candles an interval is built from: 15m for 15/30, else 1h."""
        if interval not in DETAIL_INTERVALS:
            return inst.mark if mark else inst.trades
        if mark:
            raise BybitError(
                f"params error: interval {interval} unavailable, replay mark prices are 1h"
            )
        if not len(inst.detail):
            raise BybitError(
                f"params error: interval {interval} unavailable, no 15m data for {inst.symbol}"
            )
        return inst.detail

    def funding_history(self, params: Params) -> Result:
        """Bybit semantics: newest first; only `endTime` or neither -> the newest `limit`
        settlements up to it (or now); both -> the newest `limit` inside [startTime, endTime];
        only `startTime` is an error.
        """
        _category(params, ("linear", "inverse"))
        inst = self._instrument(params)
        limit = _limit(params, default=200, maximum=200)
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        if start is not None and end is None:
            raise BybitError("Time is invalid")  # Bybit's reply to a lone startTime
        ts = inst.funding.ts + self.clock.offset_ms
        now = self.clock.now_ms()
        hi = int(np.searchsorted(ts, now if end is None else min(end, now), side="right"))
        lo = 0 if start is None else int(np.searchsorted(ts, start, side="left"))
        lo = max(lo, hi - limit)
        entries = [
            {
                "symbol": inst.symbol,
                "fundingRate": _num(inst.funding.rate[i]),
                "fundingRateTimestamp": str(ts[i]),
            }
            for i in range(hi - 1, lo - 1, -1)
        ]
        return {"category": "linear", "list": entries}

    def tickers(self, params: Params) -> Result:
        category = _category(params, ("spot", "linear", "inverse", "option"))
        if category != "linear":
            if params.get("symbol"):
                raise BybitError(UNKNOWN_SYMBOL)
            return {"category": category, "list": []}
        tickers = [self._ticker(inst) for inst in self._selected(params)]
        return {"category": "linear", "list": [t for t in tickers if t]}

    def _ticker(self, inst: Instrument) -> dict[str, str]:
        """24h statistics from the last 24 visible 1h candles; the newest one is current."""
        trades = self._visible(inst.trades)
        if not len(trades):
            return {}
        now = self.clock.now_ms()
        window = trades.ohlcv[-24:]
        last, prev24 = window[-1, 3], window[0, 0]
        marks = self._visible(inst.mark)
        mark = marks.ohlcv[-1, 3] if len(marks) else last
        # Bybit's predicted rate is not in the bundle; the last settled rate stands in for it
        # (the rate that will settle next would leak the future).
        funding_ts = inst.funding.ts + self.clock.offset_ms
        nxt = int(np.searchsorted(funding_ts, now, side="right"))
        period = inst.funding_interval_ms
        next_time = funding_ts[nxt] if nxt < len(funding_ts) else (now // period + 1) * period
        rate = inst.funding.rate[nxt - 1] if nxt else 0.0
        decimals = _decimals(inst.info["priceFilter"]["tickSize"])
        qty = _num(inst.min_qty * BOOK_QTY_MULTIPLE)
        volume = float(window[:, 4].sum())
        return {
            "symbol": inst.symbol,
            "lastPrice": _num(last),
            "indexPrice": _num(mark),  # no index data in the bundle: the mark price stands in
            "markPrice": _num(mark),
            "prevPrice24h": _num(prev24),
            "price24hPcnt": _num(round(last / prev24 - 1, 6)) if prev24 else "0",
            "highPrice24h": _num(window[:, 1].max()),
            "lowPrice24h": _num(window[:, 2].min()),
            "prevPrice1h": _num(window[-1, 0]),
            "openInterest": "0",  # not in the bundle
            "openInterestValue": "0",
            "turnover24h": _num(round(float((window[:, 4] * window[:, 3]).sum()), 4)),
            "volume24h": _num(round(volume, 8)),
            "fundingRate": _num(rate),
            "nextFundingTime": str(next_time),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "bid1Price": f"{last - inst.tick:.{decimals}f}",
            "bid1Size": qty,
            "ask1Price": f"{last + inst.tick:.{decimals}f}",
            "ask1Size": qty,
            "basis": "",
            "preOpenPrice": "",
            "preQty": "",
            "curPreListingPhase": "",
            "fundingIntervalHour": str(period // 3_600_000),
            "fundingCap": str(inst.info.get("upperFundingRate", "")),
        }

    def orderbook(self, params: Params) -> Result:
        """A synthetic book (not in the bundle): `limit` levels one tick apart around the
        current close, each holding BOOK_QTY_MULTIPLE x minOrderQty."""
        _category(params, ("spot", "linear", "inverse", "option"))
        inst = self._instrument(params)
        limit = _limit(params, default=25, maximum=500)
        trades = self._visible(inst.trades)
        now = self.clock.now_ms()
        last = trades.ohlcv[-1, 3] if len(trades) else 0.0
        decimals = _decimals(inst.info["priceFilter"]["tickSize"])
        qty = _num(inst.min_qty * BOOK_QTY_MULTIPLE)
        levels = range(1, limit + 1)
        update_id = now // 1000
        return {
            "s": inst.symbol,
            "b": [[f"{last - i * inst.tick:.{decimals}f}", qty] for i in levels],
            "a": [[f"{last + i * inst.tick:.{decimals}f}", qty] for i in levels],
            "ts": now,
            "u": update_id,
            "seq": update_id,
            "cts": now,
        }

    def server_time(self, params: Params) -> Result:
        now = self.clock.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


Route = Callable[[ReplayExchange, Params], Result]
ROUTES: dict[str, Route] = {
    "/v5/market/instruments-info": ReplayExchange.instruments_info,
    "/v5/market/risk-limit": ReplayExchange.risk_limit,
    "/v5/market/kline": ReplayExchange.kline,
    "/v5/market/mark-price-kline": ReplayExchange.mark_price_kline,
    "/v5/market/funding/history": ReplayExchange.funding_history,
    "/v5/market/tickers": ReplayExchange.tickers,
    "/v5/market/orderbook": ReplayExchange.orderbook,
    "/v5/market/time": ReplayExchange.server_time,
}
