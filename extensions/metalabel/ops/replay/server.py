"""A local Bybit v5 public market API served from the replay bundle.

Lets ccxt's bybit client (and so freqtrade) run fully offline: point ccxt's `urls.api`
entries at `ReplayServer.url`. Only the public market endpoints that ccxt/freqtrade call
are served; requests are dispatched through the `ROUTES` table.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from metalabel.ops.replay.clock import Clock, HistoricalClock, make_clock
from metalabel.ops.replay.data import DEFAULT_MARKETS_FILE, load_bundle
from metalabel.ops.replay.server_market import (
    PARAMS_ERROR,
    ROUTES,
    BybitError,
    ReplayExchange,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # public endpoints take no body; anything bigger is refused
# An idle or stalled connection is dropped after this long, so that it cannot hold a
# thread forever; clients reconnect (ccxt's sessions do so transparently).
DEFAULT_IDLE_TIMEOUT_S = 60.0

__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "ROUTES",
    "BybitError",
    "ReplayExchange",
    "ReplayServer",
    "serve_forever",
]


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the stdlib's 5 drops bursts of connects (1 s SYN retries)

    def __init__(
        self, address: tuple[str, int], exchange: ReplayExchange, idle_timeout_s: float
    ) -> None:
        if not idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s must be > 0, got {idle_timeout_s}")
        super().__init__(address, _Handler)
        self.exchange = exchange
        self.idle_timeout_s = idle_timeout_s

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is routine (debug); anything else is logged
        once with its traceback, never printed to stderr by the stdlib."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            logger.debug("connection from %s ended: %r", client_address, error)
        else:
            logger.exception("connection from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    """GET and POST go to the exchange; anything else, and any malformed request, gets a
    Bybit-style JSON error instead of the stdlib's HTML page or a dropped connection."""

    protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's sessions expect
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout_s)  # reads and writes alike

    def do_GET(self) -> None:
        if not self._drain_body():
            return
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        status, body = self.server.exchange.handle(url.path, params)
        self._send(status, body)

    def do_POST(self) -> None:  # private endpoints are not replayed: "Route not found"
        self.do_GET()

    def _drain_body(self) -> bool:
        """Read and discard the request body; False (answered, connection closed) when its
        Content-Length is not a non-negative integer within MAX_BODY_BYTES."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return True
        text = raw.strip()
        length = int(text) if text.isascii() and text.isdecimal() else -1  # not "²"
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the body's end is unknown: the stream is unusable
            message = f"params error: Content-Length {raw[:32]!r} invalid"
            self._send(400, self.server.exchange.error(PARAMS_ERROR, message))
            return False
        self.rfile.read(length)
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every stdlib error (unsupported method, bad request line, oversized header) as a
        Bybit envelope; an unsupported method is a 405 naming the method."""
        self.close_connection = True
        # A request line too broken to name its version would get a bare body (HTTP/0.9).
        self.request_version = self.protocol_version
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"method {self.command} not supported"
        text = message or HTTPStatus(code).phrase
        logger.debug("HTTP %d for %r: %s", code, getattr(self, "requestline", ""), text)
        headers = {"Allow": "GET, POST"} if code == HTTPStatus.METHOD_NOT_ALLOWED else {}
        self._send(code, self.server.exchange.error(PARAMS_ERROR, text), headers)

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):  # the client left
            self.close_connection = True
            logger.debug("client left before the answer to %r", getattr(self, "requestline", ""))

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class ReplayServer:
    """The replay exchange on 127.0.0.1, served from a background thread.

    `port=0` picks a free port; `url` is the base URL to give ccxt. A connection silent
    for `idle_timeout_s` is closed, so stalled clients cannot pile up threads.
    """

    def __init__(
        self,
        data_dir: str | Path,
        port: int = 0,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        markets_file: Path = DEFAULT_MARKETS_FILE,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        bundle = load_bundle(Path(data_dir), markets_file)
        self.exchange = ReplayExchange(bundle, clock or HistoricalClock())
        self._httpd = _HttpServer((host, port), self.exchange, idle_timeout_s)
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
