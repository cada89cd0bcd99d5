"""Shared fixtures: the replay exchange, the strategy loaded as freqtrade loads it, and
offline freqtrade runs in a throw-away user directory."""

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from freqtrade.configuration import Configuration
from freqtrade.data.btanalysis import load_backtest_data
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import RunMode
from freqtrade.misc import deep_merge_dicts
from freqtrade.resolvers import ExchangeResolver, StrategyResolver

from metalabel.ops.replay import ReplayServer
from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, USER_DATA, replay_overlay, run_backtest

BacktestRunner = Callable[..., tuple[str, pd.DataFrame, Path]]


@pytest.fixture
def backtest(tmp_path: Path) -> BacktestRunner:
    """Run the real ``freqtrade backtesting`` offline; return (output, trades, userdir)."""

    def run(timerange: str, *, overlays: tuple[dict, ...] = ()) -> tuple[str, pd.DataFrame, Path]:
        userdir = tmp_path / "user_data"
        results = tmp_path / "results"
        result = run_backtest(
            timerange, overlays=overlays, userdir=userdir, results_dir=results, capture=True
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-5000:]
        return output, load_backtest_data(results), userdir

    return run


@pytest.fixture(autouse=True)
def _freqtrade_persistence_mode() -> Iterator[None]:
    """freqtrade's in-process backtests switch its trade store to memory globally
    (``Trade.use_db = False``); give every test the live default back."""
    yield
    from freqtrade.persistence import PairLocks, Trade

    Trade.use_db = True
    PairLocks.use_db = True


@pytest.fixture(scope="module")
def replay_url() -> Iterator[str]:
    """A replay exchange over the bundled data, for freqtrade's Exchange object."""
    with ReplayServer(BUNDLED_DATA) as server:
        yield server.url


def strategy_config(replay_url: str, overrides: dict[str, Any], tmp_dir: Path) -> dict[str, Any]:
    """freqtrade's own configuration pipeline over config.json + overlays, as the CLI does."""
    overlay = tmp_dir / "overlay.json"
    overlay.write_text(json.dumps(deep_merge_dicts(overrides, replay_overlay(replay_url))))
    args = {
        "config": [str(MAIN_CONFIG), str(overlay)],
        "user_data_dir": str(tmp_dir / "user_data"),
        "datadir": str(BUNDLED_DATA.parent),
        "strategy_path": str(USER_DATA / "strategies"),
        "dataformat_ohlcv": "feather",  # the CLI's default, which this dict bypasses
    }
    (tmp_dir / "user_data").mkdir(exist_ok=True)
    return Configuration(args, RunMode.BACKTEST).get_config()


def load_strategy(
    replay_url: str, mode: str, tmp_dir: Path, overrides: dict[str, Any] | None = None
) -> Any:
    """The strategy through freqtrade's resolver, with a DataProvider and bot_start run."""
    base: dict[str, Any] = {"metalabel": {"mode": mode}, "freqai": {"enabled": False}}
    config = strategy_config(replay_url, deep_merge_dicts(overrides or {}, base), tmp_dir)
    strategy = StrategyResolver.load_strategy(config)
    exchange = ExchangeResolver.load_exchange(config, validate=False, load_leverage_tiers=False)
    strategy.dp = DataProvider(config, exchange)
    strategy.ft_bot_start()  # freqtrade calls it before any callback
    return strategy


@pytest.fixture
def no_freqtrade_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``FREQTRADE__*`` variables from the developer's shell reach the config checks."""
    for key in [k for k in os.environ if k.startswith("FREQTRADE__")]:
        monkeypatch.delenv(key)


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """``probe()``'s first truthy result, or a test failure naming what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
