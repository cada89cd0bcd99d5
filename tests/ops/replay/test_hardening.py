"""The replay exchange answers hostile or broken requests with Bybit errors and drops
stalled clients; it never answers with a stack trace, an HTML page or a silent hang-up."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from metalabel.ops.replay import ReplayServer

from .conftest import write_bundle

KLINE = "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=60"
IDLE_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayServer]:
    """A small replay exchange with a short idle timeout."""
    directory = write_bundle(tmp_path_factory.mktemp("bundle"), "2024-01-01", 24, detail=True)
    with ReplayServer(directory, idle_timeout_s=IDLE_TIMEOUT_S) as replay:
        yield replay


def _address(server: ReplayServer) -> tuple[str, int]:
    url = urlsplit(server.url)
    assert url.hostname == "127.0.0.1" and url.port is not None
    return url.hostname, url.port


def raw_exchange(server: ReplayServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; (status, headers, body) of the answer."""
    with socket.create_connection(_address(server), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):  # b"" once the server has closed the connection
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_bybit_error(body: bytes, fragment: str) -> None:
    envelope = json.loads(body)
    assert envelope["retCode"] == 10001, envelope
    assert fragment in envelope["retMsg"], envelope
    assert envelope["result"] == {} and envelope["retExtInfo"] == {}
    assert isinstance(envelope["time"], int)


@pytest.fixture
def no_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """Fail the test if the server logs an error or the stdlib prints a traceback."""
    caplog.set_level(logging.DEBUG, logger="metalabel.ops.replay")
    yield
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.usefixtures("no_traceback")
@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("&start=99999999999999999999999999", "start invalid"),
        ("&end=99999999999999999999999999", "end invalid"),
        ("&start=-99999999999999999999999999&end=1", "start invalid"),
        ("&limit=99999999999999999999999999", "limit invalid"),
    ],
)
def test_overflowing_numbers_are_a_parameter_error(
    server: ReplayServer, query: str, fragment: str
) -> None:
    response = requests.get(server.url + KLINE + query, timeout=5)
    assert response.status_code == 200  # Bybit answers parameter errors with HTTP 200
    assert_bybit_error(response.content, fragment)


@pytest.mark.usefixtures("no_traceback")
@pytest.mark.parametrize("length", ["-1", "-100", "abc", "1e3", "0x10", "", "\xb2", "99999999999"])
def test_a_bad_content_length_is_a_clean_error_and_closes_the_connection(
    server: ReplayServer, length: str
) -> None:
    request = (
        f"POST /v5/market/time HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}"
    ).encode("latin-1")
    status, headers, body = raw_exchange(server, request)  # returns: the server closed it
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert_bybit_error(body, "Content-Length")


def test_a_valid_body_is_read_and_the_connection_stays_usable(server: ReplayServer) -> None:
    with requests.Session() as session:
        posted = session.post(server.url + "/v5/market/time", data=b'{"a": 1}', timeout=5)
        assert posted.status_code == 200 and posted.json()["retCode"] == 0
        fetched = session.get(server.url + KLINE, timeout=5)
        assert fetched.json()["retCode"] == 0


@pytest.mark.usefixtures("no_traceback")
@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "BREW"])
def test_unsupported_methods_get_a_bybit_json_error(server: ReplayServer, method: str) -> None:
    response = requests.request(method, server.url + KLINE, timeout=5)
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Allow"] == "GET, POST"
    assert_bybit_error(response.content, f"method {method} not supported")


@pytest.mark.usefixtures("no_traceback")
@pytest.mark.parametrize(
    ("line", "status", "fragment"),
    [
        (b"GET", 400, "Bad request syntax"),  # no path
        (b"GET / HTTP/abc", 400, "Bad request version"),
        (b"POST /v5/market/time", 400, "Bad HTTP/0.9 request type"),
        (b"GET / HTTP/2.0", 505, "Invalid HTTP version"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414, "Request-URI Too Long"),
    ],
)
def test_a_malformed_request_line_gets_a_bybit_json_error(
    server: ReplayServer, line: bytes, status: int, fragment: str
) -> None:
    answered, headers, body = raw_exchange(server, line + b"\r\n\r\n")
    assert answered == status and headers["content-type"] == "application/json"
    assert_bybit_error(body, fragment)


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_stalled_clients_are_dropped_after_the_idle_timeout(tmp_path: Path) -> None:
    timeout_s = 2.0
    directory = write_bundle(tmp_path, "2024-01-01", 4)
    with ReplayServer(directory, idle_timeout_s=timeout_s) as server:
        before = threading.active_count()
        sockets: list[socket.socket] = []
        try:
            for index in range(50):
                sock = socket.create_connection(_address(server), timeout=5)
                if index % 2:  # half send nothing, half stall in the middle of a request line
                    sock.sendall(b"GET /v5/market/ti")
                sockets.append(sock)
            opened = time.monotonic()
            assert _wait_for(lambda: threading.active_count() >= before + 50, timeout_s / 2), (
                "one thread per connection"
            )
            assert _wait_for(lambda: threading.active_count() <= before, timeout_s + 10), (
                f"{threading.active_count() - before} threads still alive after the timeout"
            )
            assert time.monotonic() - opened >= timeout_s * 0.9  # dropped by the timeout
            for sock in sockets:  # each was closed by the server: EOF, no answer
                assert sock.recv(1024) == b""
        finally:
            for sock in sockets:
                sock.close()
        body: dict[str, Any] = requests.get(server.url + KLINE, timeout=5).json()
        assert body["retCode"] == 0  # and the server still serves


def test_the_idle_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="idle_timeout_s"):
        ReplayServer(write_bundle(tmp_path, "2024-01-01", 4), idle_timeout_s=0)
