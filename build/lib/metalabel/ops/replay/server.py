"""A local Bybit v5 public market API served from the replay bundle.

Lets ccxt's bybit client (and so freqtrade) run fully offline: point ccxt's `urls.api`
entries at `ReplayServer.url`. Only the public market endpoints that ccxt/freqtrade call
are served; requests are dispatched through the `ROUTES` table.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from metalabel.ops.replay.clock import Clock, HistoricalClock, make_clock
from metalabel.ops.replay.data import (
    DEFAULT_MARKETS_FILE,
    INTERVALS,
    SUB_HOUR_INTERVALS,
    Candles,
    Instrument,
    aggregate,
    bucket_start,
    data_end_ms,
    load_bundle,
)
from metalabel.ops.replay.faults import Faults

logger = logging.getLogger(__name__)

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
        return int(raw)
    except ValueError:
        raise BybitError(f"params error: {key} invalid") from None


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
        if interval in SUB_HOUR_INTERVALS:
            raise BybitError(
                f"params error: interval {interval} unavailable, replay data is 1h only"
            )
        if interval not in INTERVALS:
            raise BybitError("params error: interval invalid")
        limit = _limit(params, default=200, maximum=1000)
        start, end = _int_param(params, "start"), _int_param(params, "end")

        hourly = self._visible(inst.mark if mark else inst.trades)
        candles = aggregate(hourly, interval, forming_ms=self.clock.now_ms())
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


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exchange: ReplayExchange) -> None:
        super().__init__(address, _Handler)
        self.exchange = exchange


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's sessions expect
    server: _HttpServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        status, body = self.server.exchange.handle(url.path, params)
        try:
            self._send(status, body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            logger.debug("client left before the answer to %s", url.path)

    def do_POST(self) -> None:  # private endpoints are not replayed
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.do_GET()

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class ReplayServer:
    """The replay exchange on 127.0.0.1, served from a background thread.

    `port=0` picks a free port; `url` is the base URL to give ccxt.
    """

    def __init__(
        self,
        data_dir: str | Path,
        port: int = 0,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        markets_file: Path = DEFAULT_MARKETS_FILE,
    ) -> None:
        bundle = load_bundle(Path(data_dir), markets_file)
        self.exchange = ReplayExchange(bundle, clock or HistoricalClock())
        self._httpd = _HttpServer((host, port), self.exchange)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def ccxt_urls(self) -> dict[str, dict[str, str]]:
        """The ccxt `urls` override that routes every bybit API group here."""
        groups = ("public", "private", "spot", "futures", "v2")
        return {"api": dict.fromkeys(groups, self.url)}

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"replay-{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("replay exchange serving %s on %s", sorted(self.exchange.bundle), self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            logger.info("replay exchange stopped")
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    data_dir: str | Path,
    port: int,
    clock: str | Clock = "historical",
    *,
    lead_hours: int = 720,
    host: str = "127.0.0.1",
) -> None:
    """Run the replay exchange in the foreground until interrupted (the CLI entry point).

    `clock` is "historical", "live" (with `lead_hours`), or a ready Clock.
    """
    chosen = make_clock(clock, lead_hours) if isinstance(clock, str) else clock
    server = ReplayServer(data_dir, port, chosen, host)
    logger.info("replay exchange listening on %s", server.url)
    server.serve_forever()
