"""The research inner loop: its speed (``metalabel bench research``) and its agreement
with a real freqtrade backtest.

A research trial changes exit and cost settings every time and signal settings now and
then, so the work splits in two:

* cached per signal setting: the 1h frames with features, signals and regime, the
  15m paths and tick sizes (:class:`metalabel.evaluation.simulator.Market`) and the
  entry/exit signals on the grid (:class:`~metalabel.evaluation.simulator.Signals`);
* per trial: :func:`~metalabel.evaluation.simulator.simulate_portfolio`, the trades
  table and the period metrics. ``research_trial_ms`` times exactly that, over 180
  days x 2 pairs of the bundled data, on one core.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from metalabel.config import MetalabelConfig, StrategyMode
from metalabel.core import pipeline
from metalabel.core.labels import SimulatorParams, detail_path, simulator_params, slippage_ratio
from metalabel.evaluation import simulator
from metalabel.evaluation.metrics import PeriodMetrics
from metalabel.ops.bench_labels import _best_seconds, _pin_to_one_core, format_figures
from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, run_backtest

logger = logging.getLogger(__name__)

DEFAULT_PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
TRIAL_DAYS = 180
TRIAL_END = pd.Timestamp("2026-07-01", tz="UTC")
STAKE = 100.0  # config.json's stake_amount: equal stakes in the simulator
START_EQUITY = 10_000.0  # config.json's dry_run_wallet
_TIMING_REPEATS = 20
# A backtest where the risk desk cannot change which trades happen (what the simulator
# leaves out): no model, no performance guard, no kill switch.
AGREEMENT_OVERLAY = {
    "metalabel": {
        "mode": "primary_regime",
        "guard": {"enabled": False},
        "kill_switch": {"enabled": False},
    },
    "freqai": {"enabled": False},
}


@dataclass(frozen=True)
class ResearchInputs:
    """What a trial reuses: the market, its signals, the exit parameters, the settings."""

    market: simulator.Market
    signals: simulator.Signals
    params: SimulatorParams
    settings: MetalabelConfig


def research_inputs(
    bundles: Sequence[pipeline.CandleBundle],
    settings: MetalabelConfig,
    *,
    mode: StrategyMode | None = None,
) -> ResearchInputs:
    """Frames, paths and signals of ``bundles`` (in freqtrade's pair order) for
    ``settings``: the part of a trial that only signal settings change."""
    frames, paths, ticks, slips = [], [], [], []
    for bundle in bundles:
        frame = pipeline.signal_frame(
            bundle.candles_1h, bundle.candles_4h, bundle.funding, settings
        )
        funding = bundle.funding if settings.costs.include_funding else None
        frames.append(frame)
        paths.append(detail_path(frame, bundle.detail, funding=funding, mark=bundle.mark))
        ticks.append(pipeline.tick_decimals(frame))
        slips.append(slippage_ratio(frame["atr_ratio"], settings.costs))
    market = simulator.build_market([b.pair for b in bundles], frames, paths, ticks)
    signals = simulator.build_signals(
        market,
        frames,
        mode or settings.mode,
        exit_on_reversal=settings.exits.exit_on_reversal,
        slippage=slips,
    )
    params = simulator_params(settings.exits, settings.costs, leverage=settings.risk.leverage)
    return ResearchInputs(market, signals, params, settings)


def run_trial(
    inputs: ResearchInputs,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    max_open_trades: int,
) -> tuple[pd.DataFrame, PeriodMetrics]:
    """One trial: simulate, tabulate and score ``[start, end]`` (net of slippage)."""
    leverage = inputs.settings.risk.leverage
    run = simulator.simulate_portfolio(
        inputs.market,
        inputs.signals,
        inputs.params,
        start=start,
        end=end,
        max_open_trades=max_open_trades,
    )
    trades = simulator.trades_table(
        inputs.market, inputs.signals, run, leverage=leverage, stake=STAKE
    )
    period, _ = simulator.simulated_metrics(
        trades, start=start, end=end, start_equity=START_EQUITY, stake=STAKE, leverage=leverage
    )
    return trades, period


@dataclass(frozen=True)
class RunConfig:
    """What the simulator reads from freqtrade's config: settings, pairs, slots."""

    settings: MetalabelConfig
    pairs: tuple[str, ...]  # the whitelist, freqtrade's pair processing order
    max_open_trades: int


def run_config(configs: Sequence[Path], mode: StrategyMode) -> RunConfig:
    """The merged freqtrade config files, read as a backtest in ``mode`` reads them."""
    from metalabel.config import load_config
    from metalabel.ops.startup_checks import load_config_files

    merged = load_config_files(list(configs), runmode="backtest")
    merged.setdefault("metalabel", {})["mode"] = mode.value
    pairs = tuple(merged.get("exchange", {}).get("pair_whitelist") or DEFAULT_PAIRS)
    return RunConfig(load_config(merged), pairs, int(merged.get("max_open_trades", 3)))


def bench_research(
    *,
    data_dir: Path = BUNDLED_DATA,
    configs: Sequence[Path] = (MAIN_CONFIG,),
    days: int = TRIAL_DAYS,
    end: pd.Timestamp = TRIAL_END,
) -> dict[str, float]:
    """Time one research trial over ``days`` x the config's pairs, pinned to one core.

    Figures: ``research_trial_ms`` (best of 20: simulate + trades table + metrics),
    ``research_simulate_ms`` (the simulator alone), ``research_prepare_seconds`` (the
    cached part: frames, paths, signals), ``research_trades`` and
    ``research_jit_first_call_seconds``.
    """
    config = run_config(configs, StrategyMode.PRIMARY_REGIME)
    started = time.perf_counter()
    bundles = [pipeline.load_bundle(data_dir, pair) for pair in config.pairs]
    inputs = research_inputs(bundles, config.settings)
    prepare = time.perf_counter() - started
    start = end - pd.Timedelta(days=days)
    max_open = config.max_open_trades

    def simulate() -> simulator.PortfolioRun:
        return simulator.simulate_portfolio(
            inputs.market, inputs.signals, inputs.params, start=start, end=end,
            max_open_trades=max_open,
        )  # fmt: skip

    unpin = _pin_to_one_core()
    try:
        first = time.perf_counter()
        trades, _ = run_trial(inputs, start=start, end=end, max_open_trades=max_open)
        first_call = time.perf_counter() - first
        trial = _best_seconds(
            lambda: run_trial(inputs, start=start, end=end, max_open_trades=max_open),
            _TIMING_REPEATS,
        )
        kernel = _best_seconds(simulate, _TIMING_REPEATS)
    finally:
        unpin()
    figures = {
        "research_trial_ms": trial * 1e3,
        "research_simulate_ms": kernel * 1e3,
        "research_prepare_seconds": prepare,
        "research_days": float(days),
        "research_pairs": float(len(bundles)),
        "research_trades": float(len(trades)),
        "research_jit_first_call_seconds": first_call,
    }
    print(format_figures(figures))  # the CLI's output, not a log line
    return figures


def timerange_bounds(timerange: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """freqtrade's first and last 1h candle of ``YYYYMMDD-YYYYMMDD`` (both ends in)."""
    first, _, last = timerange.partition("-")
    try:
        return pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
    except ValueError as err:
        raise ValueError(f"timerange {timerange!r} is not YYYYMMDD-YYYYMMDD") from err


def freqtrade_agreement(
    timerange: str,
    *,
    workdir: Path,
    data_dir: Path = BUNDLED_DATA,
    configs: Sequence[Path] = (MAIN_CONFIG,),
    overlay: dict[str, Any] | None = None,
) -> simulator.Agreement:
    """Backtest ``primary_regime`` with freqtrade (risk desk out of the way, see
    :data:`AGREEMENT_OVERLAY`), simulate the same timerange, compare trade by trade.

    ``overlay``: a config overlay both read (e.g. ``{"max_open_trades": 1}`` to make
    the slot limit bind with two pairs)."""
    from freqtrade.data.btanalysis import load_backtest_data

    workdir.mkdir(parents=True, exist_ok=True)
    configs = list(configs)
    if overlay:
        extra = workdir / "overlay.json"
        extra.write_text(json.dumps(overlay))
        configs.append(extra)
    results = workdir / "results"
    done = run_backtest(
        timerange,
        configs=configs,
        overlays=(AGREEMENT_OVERLAY,),
        userdir=workdir / "user_data",
        data_dir=data_dir,
        results_dir=results,
        capture=True,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"freqtrade backtesting {timerange} failed ({done.returncode}): "
            + (done.stdout + done.stderr)[-2000:]
        )
    return agreement_with(
        load_backtest_data(results), timerange, data_dir=data_dir, configs=configs
    )


def agreement_with(
    freqtrade_trades: pd.DataFrame,
    timerange: str,
    *,
    data_dir: Path = BUNDLED_DATA,
    configs: Sequence[Path] = (MAIN_CONFIG,),
) -> simulator.Agreement:
    """Simulate ``timerange`` and compare with freqtrade's trades of that timerange."""
    config = run_config(configs, StrategyMode.PRIMARY_REGIME)
    bundles = [pipeline.load_bundle(data_dir, pair) for pair in config.pairs]
    inputs = research_inputs(bundles, config.settings)
    start, end = timerange_bounds(timerange)
    trades, _ = run_trial(inputs, start=start, end=end, max_open_trades=config.max_open_trades)
    return simulator.compare_with_freqtrade(trades, freqtrade_trades)
