"""Health checks of a running bot, read through freqtrade's REST API.

A process supervisor or a docker healthcheck needs one yes/no answer plus a reason it
can log. freqtrade itself only says "the API answers"; a bot can answer while its
candles are hours old, its strategy has stopped producing signals or its exchange
calls fail. Each check below is a pure function over the JSON freqtrade returns (so
it is tested on recorded responses), and :func:`run_checks` fetches those responses
with short timeouts and never raises: a bot that is down is a failed check, not a
traceback.

Worked example of the freshness rule (1h timeframe, 10 min grace): at 14:25 the last
closed candle opened at 13:00 and closed at 14:00; its close is 25 min old, within
60 + 10 min, so the data is fresh. At 15:15 the same candle's close is 75 min old:
the 14:00 candle (closed at 15:00) should have arrived, so the data is stale.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

logger = logging.getLogger(__name__)

SIGNAL_COLUMN = "primary_direction"
# Bot states in which it keeps analysing candles; "paused" is /stopentry: deliberate,
# and restarting such a bot would resume entries, so it is healthy.
LIVE_STATES = frozenset({"running", "paused"})
# Loggers whose warnings mean "freqtrade could not talk to the exchange".
EXCHANGE_LOGGERS = ("freqtrade.exchange", "ccxt")
EXCHANGE_LOG_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_USERNAME = "metalabel"
ENV_URL = "METALABEL_API_URL"
ENV_USERNAME = "FREQTRADE__API_SERVER__USERNAME"
ENV_PASSWORD = "FREQTRADE__API_SERVER__PASSWORD"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict and the one-line reason a supervisor logs."""

    name: str
    ok: bool
    reason: str

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.name}: {self.reason}"


@dataclass(frozen=True)
class HealthLimits:
    """How old things may get before the bot counts as unhealthy."""

    candle_grace_seconds: float = 600.0
    # freqtrade's loop runs every few seconds and sleeps 30 s after an exchange error;
    # a loop older than this is stuck or failing.
    process_max_age_seconds: float = 180.0
    # exchange warnings older than this no longer count against the bot
    exchange_error_window_seconds: float = 900.0

    def __post_init__(self) -> None:
        for name in (
            "candle_grace_seconds",
            "process_max_age_seconds",
            "exchange_error_window_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(frozen=True)
class ApiCredentials:
    """Where the REST API is and how to log in (HTTP basic auth)."""

    url: str
    username: str
    password: str


def _age(now_s: float, then_s: float) -> str:
    minutes = (now_s - then_s) / 60
    return f"{minutes:.0f} min ago" if abs(minutes) >= 1 else f"{now_s - then_s:.0f} s ago"


def check_running(show_config: Mapping[str, Any]) -> CheckResult:
    """The bot answers and its trader runs (``/api/v1/show_config`` state)."""
    state = str(show_config.get("state", "")).lower()
    mode = show_config.get("runmode", "?")
    if state in LIVE_STATES:
        extra = " (no new entries: /stopentry)" if state == "paused" else ""
        return CheckResult("bot", True, f"{state}{extra}, runmode {mode}")
    return CheckResult("bot", False, f"trader state is {state or 'unknown'!r}, not running")


def check_exchange(
    health: Mapping[str, Any],
    logs: Mapping[str, Any] | None,
    *,
    now_s: float,
    limits: HealthLimits = HealthLimits(),
) -> CheckResult:
    """The bot's loop completes (``/api/v1/health`` last_process) and freqtrade logged no
    exchange warning recently (``/api/v1/logs``).

    freqtrade's loop stops short of updating ``last_process`` when an exchange call
    raises, so a stale ``last_process`` is freqtrade's own report of a failing exchange.
    """
    last_ts = health.get("last_process_ts")
    if not last_ts:
        return CheckResult("exchange", False, "the bot has not completed a loop yet")
    if now_s - float(last_ts) > limits.process_max_age_seconds:
        return CheckResult(
            "exchange",
            False,
            f"last completed loop {_age(now_s, float(last_ts))} "
            f"(limit {limits.process_max_age_seconds:.0f} s): exchange or loop failing",
        )
    recent = _recent_exchange_warnings(logs, now_s, limits.exchange_error_window_seconds)
    if recent:
        message = str(recent[-1][4]).splitlines()[0][:160]
        return CheckResult(
            "exchange",
            False,
            f"{len(recent)} exchange warning(s) in the last "
            f"{limits.exchange_error_window_seconds / 60:.0f} min, latest: {message}",
        )
    return CheckResult("exchange", True, f"last loop {_age(now_s, float(last_ts))}, no errors")


def _recent_exchange_warnings(
    logs: Mapping[str, Any] | None, now_s: float, window_s: float
) -> list[Sequence[Any]]:
    """Log records ``[time, epoch_ms, logger, level, message]`` from exchange loggers."""
    records: Iterable[Sequence[Any]] = (logs or {}).get("logs", [])
    return [
        record
        for record in records
        if len(record) >= 5
        and str(record[2]).startswith(EXCHANGE_LOGGERS)
        and str(record[3]) in EXCHANGE_LOG_LEVELS
        and now_s - float(record[1]) / 1000 <= window_s
    ]


def check_candles(
    pair: str,
    candles: Mapping[str, Any],
    *,
    now_s: float,
    limits: HealthLimits = HealthLimits(),
) -> CheckResult:
    """The last closed candle of ``pair`` closed at most one timeframe plus grace ago.

    ``data_stop_ts`` of ``/api/v1/pair_candles`` is the *open* time of the last row, and
    freqtrade drops the forming candle, so its close is open + one timeframe.
    """
    name = f"candles {pair}"
    timeframe_ms = int(candles.get("timeframe_ms") or 0)
    stop_ms = int(candles.get("data_stop_ts") or 0)
    if not candles.get("length") or not stop_ms or not timeframe_ms:
        return CheckResult(name, False, "no analysed candles yet")
    close_s = (stop_ms + timeframe_ms) / 1000
    limit_s = timeframe_ms / 1000 + limits.candle_grace_seconds
    if now_s - close_s > limit_s:
        return CheckResult(
            name,
            False,
            f"last closed candle closed {_age(now_s, close_s)} (limit {limit_s / 60:.0f} min)",
        )
    return CheckResult(name, True, f"last closed candle closed {_age(now_s, close_s)}")


def check_signals(
    pair: str,
    candles: Mapping[str, Any],
    *,
    now_s: float,
    limits: HealthLimits = HealthLimits(),
) -> CheckResult:
    """The strategy analysed the latest candle and produced a ``primary_direction`` there.

    A missing column or a null on the last row means ``populate_indicators`` broke or
    the strategy is not ours; a stale ``last_analyzed`` means analysis stopped.
    """
    name = f"signals {pair}"
    columns = list(candles.get("columns", []))
    rows = list(candles.get("data", []))
    if SIGNAL_COLUMN not in columns:
        return CheckResult(name, False, f"column {SIGNAL_COLUMN!r} missing from the analysis")
    if not rows:
        return CheckResult(name, False, "no analysed candles yet")
    value = rows[-1][columns.index(SIGNAL_COLUMN)]
    if value is None:
        return CheckResult(name, False, f"{SIGNAL_COLUMN} is empty on the last candle")
    analysed_s = float(candles.get("last_analyzed_ts") or 0)
    limit_s = int(candles.get("timeframe_ms") or 0) / 1000 + limits.candle_grace_seconds
    if now_s - analysed_s > limit_s:
        return CheckResult(
            name, False, f"last analysis {_age(now_s, analysed_s)} (limit {limit_s / 60:.0f} min)"
        )
    return CheckResult(
        name,
        True,
        f"{SIGNAL_COLUMN}={value} on the last candle, analysed {_age(now_s, analysed_s)}",
    )


class BotClient:
    """A tiny freqtrade REST client: basic auth, short timeouts, JSON in and out."""

    def __init__(self, credentials: ApiCredentials, *, timeout_seconds: float = 5.0) -> None:
        self.base = credentials.url.rstrip("/") + "/api/v1"
        self.timeout_seconds = timeout_seconds
        self.session = requests.Session()
        self.session.auth = (credentials.username, credentials.password)

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(
            f"{self.base}/{path}", params=params or None, timeout=self.timeout_seconds
        )
        response.raise_for_status()
        return response.json()

    def post(self, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        response = self.session.post(
            f"{self.base}/{path}", json=dict(payload or {}), timeout=self.timeout_seconds
        )
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.session.close()


def _explain(err: requests.RequestException) -> str:
    if isinstance(err, requests.ConnectionError):
        return "connection refused or host unreachable: is the bot running?"
    if isinstance(err, requests.Timeout):
        return "no answer within the timeout"
    if isinstance(err, requests.HTTPError) and err.response is not None:
        if err.response.status_code == 401:
            return "HTTP 401: wrong API username or password"
        return f"HTTP {err.response.status_code}"
    return type(err).__name__


def run_checks(
    client: BotClient,
    *,
    now_s: float,
    limits: HealthLimits = HealthLimits(),
    pairs: Sequence[str] | None = None,
) -> list[CheckResult]:
    """All checks against a running bot; a request that fails becomes a failed check."""
    try:
        client.get("ping")
    except requests.RequestException as err:
        return [CheckResult("bot", False, f"{client.base}/ping: {_explain(err)}")]
    try:
        show_config = client.get("show_config")
        results = [check_running(show_config)]
        health = client.get("health")
        logs = client.get("logs", limit=100)
        results.append(check_exchange(health, logs, now_s=now_s, limits=limits))
        timeframe = str(show_config.get("timeframe", ""))
        for pair in pairs or client.get("whitelist").get("whitelist", []):
            candles = client.post(
                "pair_candles",
                {"pair": pair, "timeframe": timeframe, "limit": 3, "columns": [SIGNAL_COLUMN]},
            )
            results.append(check_candles(pair, candles, now_s=now_s, limits=limits))
            results.append(check_signals(pair, candles, now_s=now_s, limits=limits))
    except requests.RequestException as err:
        return [CheckResult("bot", False, f"REST API query failed: {_explain(err)}")]
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        return [CheckResult("bot", False, f"unexpected REST API answer: {err}")]
    return results


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments) as written by ``metalabel dryrun``."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def resolve_credentials(
    *,
    url: str | None = None,
    username: str | None = None,
    env_file: Path | None = None,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> ApiCredentials:
    """Command-line values, then the environment, then the env file, then the config.

    The environment wins over the file so that a real bot (credentials in its
    environment, as in docker-compose.yml) is never queried with a stale dry-run file.
    """
    sources: list[Mapping[str, str]] = [environ]
    if env_file is not None and env_file.is_file():
        sources.append(read_env_file(env_file))

    def pick(key: str) -> str | None:
        return next((source[key] for source in sources if source.get(key)), None)

    api = dict((config or {}).get("api_server", {}))
    default_url = f"http://127.0.0.1:{api['listen_port']}" if "listen_port" in api else DEFAULT_URL
    return ApiCredentials(
        url=url or pick(ENV_URL) or default_url,
        username=username or pick(ENV_USERNAME) or str(api.get("username") or DEFAULT_USERNAME),
        password=pick(ENV_PASSWORD) or "",
    )
