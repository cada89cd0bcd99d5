"""Shared fixtures: offline freqtrade runs in a throw-away user directory."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from freqtrade.data.btanalysis import load_backtest_data

from metalabel.ops.runner import run_backtest

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
