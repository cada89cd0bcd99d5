"""Health checks on responses recorded from a dry-run bot (freqtrade 2026.9), and the
bot-down case: a clear one-line reason and exit code 1, never a traceback."""

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from metalabel.ops.dryrun import free_port
from metalabel.ops.health import (
    ApiCredentials,
    BotClient,
    HealthLimits,
    check_candles,
    check_exchange,
    check_running,
    check_signals,
    read_env_file,
    resolve_credentials,
    run_checks,
)

PAIR = "BTC/USDT:USDT"
# Recorded at 2026-11-21 20:43:54 UTC: the last closed 1h candle opened 19:00, closed 20:00.
RECORDED_NOW_S = 1795293834.0
HOUR_S = 3600.0
SHOW_CONFIG = {"state": "running", "runmode": "dry_run", "timeframe": "1h"}
HEALTH = {
    "last_process": "2026-11-21T20:43:54.916733Z",
    "last_process_ts": 1795293834,
    "bot_start_ts": 1795293834,
    "bot_startup_ts": 1795293834,
}
LOGS = {
    "log_count": 1,
    "logs": [
        [
            "2026-11-21 20:43:54",
            1795293834403.1887,
            "freqtrade.rpc.rpc_manager",
            "INFO",
            "Sending rpc message: {'type': warning, 'status': 'Dry run is enabled.'}",
        ]
    ],
}
# POST /api/v1/pair_candles {"columns": ["primary_direction"], "limit": 3}, trimmed
CANDLES: dict[str, Any] = {
    "strategy": "MetaLabelStrategy",
    "pair": PAIR,
    "timeframe": "1h",
    "timeframe_ms": 3600000,
    "columns": ["date", "open", "high", "low", "close", "volume", "primary_direction"],
    "data": [
        ["2026-11-21T17:00:00Z", 64113.6, 64125.5, 63962.0, 64115.1, 787.145, 0],
        ["2026-11-21T18:00:00Z", 64115.1, 64327.1, 64083.3, 64194.3, 1355.676, 0],
        ["2026-11-21T19:00:00Z", 64194.3, 64227.2, 64002.9, 64111.1, 1049.897, 0],
    ],
    "length": 3,
    "last_analyzed_ts": 1795293834,
    "data_stop_ts": 1795287600000,
}


def _exchange_log(age_s: float, logger: str = "freqtrade.exchange.common") -> list[Any]:
    ms = (RECORDED_NOW_S - age_s) * 1000
    return ["t", ms, logger, "WARNING", "_async_get_candle_history() returned exception"]


def test_recorded_healthy_bot_passes_every_check() -> None:
    now = RECORDED_NOW_S + 5
    results = [
        check_running(SHOW_CONFIG),
        check_exchange(HEALTH, LOGS, now_s=now),
        check_candles(PAIR, CANDLES, now_s=now),
        check_signals(PAIR, CANDLES, now_s=now),
    ]
    assert all(r.ok for r in results), [r.line() for r in results]
    assert results[2].reason == "last closed candle closed 44 min ago"


@pytest.mark.parametrize(
    ("state", "ok"),
    [
        ("running", True),
        ("paused", True),  # /stopentry: deliberate, a restart would resume entries
        ("stopped", False),
        ("", False),  # show_config without a bot behind it
    ],
)
def test_running_state(state: str, ok: bool) -> None:
    assert check_running({**SHOW_CONFIG, "state": state}).ok is ok


@pytest.mark.parametrize(
    ("elapsed_s", "ok"),
    [
        (HOUR_S - 1, True),  # 20:59:59: the 20:00 candle is still forming
        (HOUR_S + 599, True),  # 21:09:59: the 20:00 candle is late but within the grace
        (HOUR_S + 601, False),  # 21:10:01: the 20:00 candle should have arrived
    ],
)
def test_candle_freshness_is_one_timeframe_plus_grace_after_the_last_close(
    elapsed_s: float, ok: bool
) -> None:
    close_s = CANDLES["data_stop_ts"] / 1000 + HOUR_S  # 20:00
    limits = HealthLimits(candle_grace_seconds=600)
    assert check_candles(PAIR, CANDLES, now_s=close_s + elapsed_s, limits=limits).ok is ok


def test_no_candles_yet_fails() -> None:
    empty = {**CANDLES, "data": [], "length": 0, "data_stop_ts": 0}
    assert check_candles(PAIR, empty, now_s=RECORDED_NOW_S).reason == "no analysed candles yet"
    assert not check_signals(PAIR, empty, now_s=RECORDED_NOW_S).ok


def test_signals_fail_without_the_column_on_a_null_and_when_analysis_stops() -> None:
    missing = {**CANDLES, "columns": CANDLES["columns"][:-1]}
    assert "missing" in check_signals(PAIR, missing, now_s=RECORDED_NOW_S).reason

    null_last = copy.deepcopy(CANDLES)
    null_last["data"][-1][-1] = None
    assert "empty on the last candle" in check_signals(PAIR, null_last, now_s=RECORDED_NOW_S).reason

    stale = check_signals(PAIR, CANDLES, now_s=RECORDED_NOW_S + 2 * HOUR_S)
    assert not stale.ok
    assert "last analysis 120 min ago" in stale.reason


@pytest.mark.parametrize(
    ("health", "records", "ok", "reason_part"),
    [
        # the loop never completed (start-up, or the exchange failed from the start)
        ({"last_process_ts": None}, [], False, "not completed a loop"),
        # freqtrade skips last_process when an exchange call raises: stuck for 10 min
        ({"last_process_ts": RECORDED_NOW_S - 600}, [], False, "exchange or loop failing"),
        # a recent exchange warning in freqtrade's log
        (HEALTH, [_exchange_log(60)], False, "1 exchange warning(s)"),
        # ccxt's own logger counts too
        (HEALTH, [_exchange_log(60, logger="ccxt.base.exchange")], False, "exchange warning"),
        # an old warning (20 min, window 15 min) no longer counts
        (HEALTH, [_exchange_log(1200)], True, "no errors"),
        # warnings of other loggers are not about the exchange
        (HEALTH, [_exchange_log(60, logger="freqtrade.strategy")], True, "no errors"),
    ],
)
def test_exchange_connectivity(
    health: dict[str, Any], records: list[Any], ok: bool, reason_part: str
) -> None:
    result = check_exchange(health, {"logs": records}, now_s=RECORDED_NOW_S + 5)
    assert result.ok is ok
    assert reason_part in result.reason


class _RecordedClient(BotClient):
    """Answers from the recorded responses instead of HTTP."""

    def __init__(self, status: int | None = None) -> None:
        super().__init__(ApiCredentials("http://127.0.0.1:1", "metalabel", "x"))
        self.status = status

    def _answer(self, path: str) -> Any:
        if self.status is not None and path != "ping":
            response = requests.Response()
            response.status_code = self.status
            raise requests.HTTPError(response=response)
        return {
            "ping": {"status": "pong"},
            "show_config": SHOW_CONFIG,
            "health": HEALTH,
            "logs": LOGS,
            "whitelist": {"whitelist": [PAIR]},
            "pair_candles": CANDLES,
        }[path]

    def get(self, path: str, **params: Any) -> Any:
        return self._answer(path)

    def post(self, path: str, payload: Any = None) -> Any:
        return self._answer(path)


def test_run_checks_covers_every_whitelisted_pair() -> None:
    results = run_checks(_RecordedClient(), now_s=RECORDED_NOW_S + 5)
    assert [r.name for r in results] == ["bot", "exchange", f"candles {PAIR}", f"signals {PAIR}"]
    assert all(r.ok for r in results)


def test_wrong_password_is_named() -> None:
    [result] = run_checks(_RecordedClient(status=401), now_s=RECORDED_NOW_S)
    assert not result.ok
    assert "401: wrong API username or password" in result.reason


def test_bot_down_is_one_failed_check_not_an_exception() -> None:
    client = BotClient(ApiCredentials(f"http://127.0.0.1:{free_port()}", "u", "p"))
    [result] = run_checks(client, now_s=RECORDED_NOW_S)
    assert not result.ok
    assert "is the bot running?" in result.reason


def test_health_command_when_the_bot_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", "health", "--url", url, "--timeout", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # no FREQTRADE__* from the caller's environment
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"FAIL bot: {url}/api/v1/ping: connection refused or host unreachable: is the bot running?"
    ]
    assert "Traceback" not in done.stderr


def test_credentials_come_from_flags_then_environment_then_file_then_config(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "dryrun.env"
    env_file.write_text(
        "# comment\nMETALABEL_API_URL=http://127.0.0.1:9999\n"
        "FREQTRADE__API_SERVER__PASSWORD=from-file\n"
    )
    assert read_env_file(env_file)["FREQTRADE__API_SERVER__PASSWORD"] == "from-file"
    config = {"api_server": {"listen_port": 8081, "username": "cfg-user"}}

    from_file = resolve_credentials(env_file=env_file, config=config, environ={})
    assert from_file == ApiCredentials("http://127.0.0.1:9999", "cfg-user", "from-file")

    environ = {"FREQTRADE__API_SERVER__PASSWORD": "from-env"}
    from_env = resolve_credentials(env_file=env_file, config=config, environ=environ)
    assert from_env.password == "from-env"  # a real bot's environment beats a stale file

    flags = resolve_credentials(url="http://h:1", username="me", config=config, environ={})
    assert (flags.url, flags.username, flags.password) == ("http://h:1", "me", "")

    defaults = resolve_credentials(config=config, environ={})
    assert defaults.url == "http://127.0.0.1:8081"
