"""The offline live run: ``freqtrade trade --dry-run`` against the replay live clock,
driven through freqtrade's REST API as an operator (or FreqUI) would drive it."""

import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from metalabel.ops.dryrun import (
    DRYRUN_IDENTIFIER,
    DryRunSession,
    dryrun_overlay,
    dryrun_session,
    write_env_file,
)
from metalabel.ops.health import ApiCredentials, BotClient, read_env_file, run_checks
from tests.conftest import wait_for

PAIR = "BTC/USDT:USDT"
WAIT_SECONDS = 30.0
# The meta subplot (model confidence, do_predict) exists only when FreqAI runs.
META_ONLY_COLUMNS = {"meta_confidence", "do_predict"}


def test_overlay_enables_force_entries_and_loopback_api_only_for_the_session() -> None:
    overlay = dryrun_overlay("http://127.0.0.1:1", mode="primary_regime", api_port=18080)
    assert overlay["force_entry_enable"] is True
    assert overlay["api_server"]["listen_ip_address"] == "127.0.0.1"
    assert overlay["api_server"]["listen_port"] == 18080
    assert overlay["freqai"] == {"enabled": False, "identifier": DRYRUN_IDENTIFIER}
    assert "password" not in overlay["api_server"]  # credentials travel in the environment
    assert dryrun_overlay("http://x", mode="meta", api_port=1)["freqai"]["enabled"] is True
    with pytest.raises(ValueError, match="mode must be one of"):
        dryrun_overlay("http://x", mode="bogus", api_port=1)


def test_env_file_is_private_and_readable_by_health(tmp_path: Path) -> None:
    path = tmp_path / "dryrun.env"
    path.write_text("old")
    path.chmod(0o644)
    write_env_file(path, ApiCredentials("http://127.0.0.1:1", "metalabel", "pw"), "jwt")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = read_env_file(path)
    assert values["FREQTRADE__API_SERVER__PASSWORD"] == "pw"
    assert values["FREQTRADE__API_SERVER__JWT_SECRET_KEY"] == "jwt"
    assert values["METALABEL_API_URL"] == "http://127.0.0.1:1"


def _wait_for(what: str, probe: Callable[[], Any], timeout_s: float = WAIT_SECONDS) -> Any:
    return wait_for(what, probe, timeout_s)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DryRunSession]:
    workdir = tmp_path_factory.mktemp("dryrun")
    env_file = workdir / "dryrun.env"
    with (
        (workdir / "freqtrade.log").open("wb") as log,
        dryrun_session(
            env_file=env_file,
            workdir=workdir,
            output=log.fileno(),
            startup_timeout_seconds=60,
        ) as running,
    ):
        yield running
    assert running.process.returncode is not None, "freqtrade still running after the session"
    assert not env_file.exists(), "the credentials file outlived the session"


@pytest.fixture(scope="module")
def api(session: DryRunSession) -> Iterator[BotClient]:
    client = BotClient(session.credentials, timeout_seconds=10)
    # the API answers before the first loop has analysed any candles
    _wait_for(
        "the first analysed candles",
        lambda: client.get("pair_candles", pair=PAIR, timeframe="1h", limit=1)["length"],
    )
    yield client
    client.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_dryrun_through_the_rest_api(session: DryRunSession, api: BotClient) -> None:
    # the API refuses anyone without the session's password
    wrong = requests.get(f"{api.base}/status", auth=("metalabel", "wrong"), timeout=5)
    assert wrong.status_code == 401
    config = api.get("show_config")
    assert (config["state"], config["runmode"], config["dry_run"]) == ("running", "dry_run", True)

    # status and profit of a fresh bot
    assert api.get("status") == []
    assert api.get("profit")["trade_count"] == 0

    # the strategy's plot columns are in the analysed dataframe FreqUI plots
    plot = api.get("plot_config")
    wanted = set(plot["main_plot"]) | {c for sub in plot["subplots"].values() for c in sub}
    candles = api.get("pair_candles", pair=PAIR, timeframe="1h", limit=5)
    assert wanted - META_ONLY_COLUMNS <= set(candles["columns"])
    assert candles["length"] == 5

    # the health checks pass, in process and as the command a supervisor runs
    results = run_checks(api, now_s=time.time())
    assert all(r.ok for r in results), [r.line() for r in results]
    assert session.env_file is not None
    health = subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", "health", "--env-file", str(session.env_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # credentials come from the session's file only
    )
    assert health.returncode == 0, health.stdout + health.stderr
    assert "OK   signals BTC/USDT:USDT" in health.stdout

    # forced entry, then forced exit
    trade = api.post("forceenter", {"pair": PAIR, "side": "long"})
    trade_id = trade["trade_id"]
    assert trade["enter_tag"] == "force_entry"
    _wait_for("the forced entry to open", lambda: [t for t in api.get("status") if t["is_open"]])
    assert api.post("forceexit", {"tradeid": trade_id})["result"].startswith("Created exit order")
    _wait_for("the forced exit to close the trade", lambda: api.get("status") == [])
    [closed] = api.get("trades")["trades"]
    assert (closed["trade_id"], closed["exit_reason"], closed["is_open"]) == (
        trade_id,
        "force_exit",
        False,
    )
    assert api.get("profit")["closed_trade_count"] == 1

    # stopentry: paused, no new entries (forced ones refused too), open-trade handling goes on
    assert "paused" in api.post("stopentry")["status"]
    assert api.get("show_config")["state"] == "paused"
    refused = api.session.post(f"{api.base}/forceenter", json={"pair": PAIR}, timeout=10)
    assert refused.status_code >= 400
    assert "trader is not running" in refused.text
    loop_before = api.get("health")["last_process_ts"]
    _wait_for("another bot loop", lambda: api.get("health")["last_process_ts"] > loop_before)
    assert api.get("count")["current"] == 0
    assert len(api.get("trades")["trades"]) == 1
