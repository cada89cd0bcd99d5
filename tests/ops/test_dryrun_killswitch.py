"""An in-process dry-run bot against the replay exchange's live clock: the kill switch
trips on a real (replayed) price drop, flattens, blocks entries, survives a restart and
only `metalabel resume` lifts it."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freqtrade.configuration import Configuration
from freqtrade.enums import RunMode, State
from freqtrade.freqtradebot import FreqtradeBot
from freqtrade.misc import deep_merge_dicts
from freqtrade.persistence import PairLocks, Trade

from metalabel.ops.replay import ReplayServer
from metalabel.ops.replay.clock import LiveClock
from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, USER_DATA, replay_overlay
from metalabel.risk.killswitch import KillSwitchStore

PAIR = "BTC/USDT:USDT"
# A 1.5 % drop stays inside the 2 % stop-loss, so only the kill switch can close the
# position; the limit is tiny because one minimum-size position barely moves the account.
KILL_SWITCH = {"max_drawdown_ratio": 0.00005, "low_confidence_enabled": False}


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(BUNDLED_DATA, clock=LiveClock(lead_hours=720)) as server:
        yield server


def _bot(replay: ReplayServer, userdir: Path) -> FreqtradeBot:
    Trade.use_db = True  # a trading bot keeps its trades in its database
    PairLocks.use_db = True
    overlay = deep_merge_dicts(
        {
            "freqai": {"enabled": False},
            "api_server": {"enabled": False},
            "metalabel": {
                "mode": "primary",
                "kill_switch": KILL_SWITCH,
                "guard": {"enabled": False},  # its tiers must sit below the kill switch's
            },
        },
        replay_overlay(replay.url),
    )
    overlay_file = userdir / "overlay.json"
    overlay_file.write_text(json.dumps(overlay))
    args: dict[str, Any] = {
        "config": [str(MAIN_CONFIG), str(overlay_file)],
        "user_data_dir": str(userdir),
        "datadir": str(userdir / "data"),
        "strategy_path": str(USER_DATA / "strategies"),
        "db_url": f"sqlite:///{userdir / 'trades.sqlite'}",
        "dry_run": True,
    }
    bot = FreqtradeBot(Configuration(args, RunMode.DRY_RUN).get_config())
    bot.state = State.RUNNING
    bot.startup()
    return bot


@pytest.mark.slow
def test_kill_switch_trips_flattens_and_persists_across_a_restart(
    replay: ReplayServer, tmp_path: Path
) -> None:
    userdir = tmp_path / "user_data"
    userdir.mkdir()
    store = KillSwitchStore(userdir / "metalabel_state" / "kill_switch.json")

    bot = _bot(replay, userdir)
    bot.process()
    assert bot.execute_entry(PAIR, 50.0, is_short=False)
    assert len(Trade.get_open_trades()) == 1

    replay.exchange.faults.crash(0.985, from_ms=0)  # the market drops 1.5 %
    bot.process()  # sees the drop in its candles
    bot.process()  # risk evaluation trips, custom_exit flattens
    assert store.read().tripped
    assert store.read().trigger == "drawdown"
    closed = Trade.get_trades_proxy(is_open=False)
    assert [t.exit_reason for t in closed] == ["kill_switch"]
    assert not Trade.get_open_trades()
    assert PairLocks.is_global_lock(side="long")
    assert not bot.execute_entry("ETH/USDT:USDT", 50.0, is_short=False)
    bot.cleanup()

    # a restarted bot reads the state file: still tripped, still no entries
    replay.exchange.faults.clear()
    bot = _bot(replay, userdir)
    bot.process()
    assert store.read().tripped
    assert not bot.execute_entry("ETH/USDT:USDT", 50.0, is_short=False)

    # only an explicit resume lifts it, and the running bot notices on its next loop
    resume = subprocess.run(
        [
            sys.executable,
            "-m",
            "metalabel.ops.cli",
            "resume",
            "--userdir",
            str(userdir),
            "--config",
            str(MAIN_CONFIG),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert resume.returncode == 0, resume.stderr
    bot.process()
    assert not store.read().tripped
    assert not PairLocks.is_global_lock(side="long")
    assert bot.execute_entry("ETH/USDT:USDT", 50.0, is_short=False)
    bot.cleanup()


def _installed_package(tmp_path: Path) -> Path:
    """This tree built as a wheel and unpacked outside the repo: a normal install,
    as the Dockerfile does it (not editable), so nothing can point back into the repo."""
    source = tmp_path / "source"  # a copy: building in the repo would leave build/ there
    repo = Path(__file__).resolve().parents[2]
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(repo / name, source / name)
    shutil.copytree(
        repo / "extensions",
        source / "extensions",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        check=True,
    )
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(next(wheels.glob("metalabel-*.whl"))) as wheel:
        wheel.extractall(site)
    return site


def _metalabel(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREQTRADE__")}
    env["PYTHONPATH"] = str(site)  # the installed copy only, never the repo's extensions
    return subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_an_installed_metalabel_kill_trips_the_bot_reading_that_userdir(
    replay: ReplayServer, tmp_path: Path
) -> None:
    site = _installed_package(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", "import metalabel; print(metalabel.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(site)), probe.stdout
    userdir = tmp_path / "user_data"
    userdir.mkdir()
    bot = _bot(replay, userdir)
    bot.process()
    assert not PairLocks.is_global_lock(side="long")

    # no bot config or state where the command is run: refused, nothing claims TRIPPED
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = _metalabel(site, elsewhere, "kill")
    assert lost.returncode == 2
    assert "TRIPPED" not in lost.stdout and "NOT tripped" in lost.stderr
    wrong_dir = _metalabel(
        site, elsewhere, "kill", "--userdir", str(elsewhere), "--config", str(MAIN_CONFIG)
    )
    assert wrong_dir.returncode == 2 and "no kill-switch state" in wrong_dir.stderr

    # the bot's own userdir and config: tripped, and the running bot acts on it
    overlay = userdir / "overlay.json"
    kill = _metalabel(
        site,
        elsewhere,
        "kill",
        "--userdir",
        str(userdir),
        "--config",
        str(MAIN_CONFIG),
        "--config",
        str(overlay),
        "--reason",
        "operator drill",
    )
    assert kill.returncode == 0, kill.stderr
    assert "kill switch TRIPPED (manual): operator drill" in kill.stdout
    bot.process()
    assert PairLocks.is_global_lock(side="long")
    assert not bot.execute_entry("ETH/USDT:USDT", 50.0, is_short=False)
    status = _metalabel(
        site, elsewhere, "status", "--userdir", str(userdir), "--config", str(MAIN_CONFIG)
    )
    assert status.returncode == 1 and "tripped" in status.stdout
    bot.cleanup()
