"""The labelling benchmark (``metalabel bench labels``).

Labelling runs inside every FreqAI retrain, so its budget is 1,000,000 events over 15m
sub-candles with a 24-hour horizon and full costs (fees, funding at 8-hourly
settlements, tick rounding) within 0.2 s on one core. The market is synthetic and
seeded: a random walk of 15m candles, one event per hour (long or short by momentum).

Two baselines run the same rules per event on a sample and are extrapolated per event:
a plain Python loop (the kernel's own per-trade function, uncompiled) and an
mlfinlab-shaped loop that slices a pandas frame per event and walks it row by row.
"""

from __future__ import annotations

import logging
import os
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metalabel.config import CostSettings, ExitSettings
from metalabel.core import labels

logger = logging.getLogger(__name__)

_SUB_CANDLE_VOLATILITY = 0.0035  # about 0.7 % an hour, like BTC's 1h candles
_WICK_VOLATILITY = 0.0015
_FUNDING_MEAN, _FUNDING_STD = 0.0001, 0.0002
_SETTLEMENT_EVERY = 32  # sub-candles: 8 hours
_TIMING_REPEATS = 3
_TICK_DECIMALS = 2
_SIGNAL_SPAN = 48


def synthetic_path(n_events: int, seed: int = 0) -> tuple[labels.DetailPath, NDArray[np.bool_]]:
    """A seeded 15m path of ``n_events`` hours plus a day, and each hour's side."""
    rng = np.random.default_rng(seed)
    n = (n_events + 25) * labels.SUB_CANDLES_PER_HOUR
    close = 100.0 * np.exp(np.cumsum(rng.standard_normal(n) * _SUB_CANDLE_VOLATILITY))
    open_ = np.asarray(np.round(np.concatenate(([100.0], close[:-1])), 2), dtype=np.float64)
    close = np.round(close, _TICK_DECIMALS)
    wick_up = np.exp(np.abs(rng.standard_normal(n)) * _WICK_VOLATILITY)
    wick_down = np.exp(-np.abs(rng.standard_normal(n)) * _WICK_VOLATILITY)
    high = np.asarray(np.round(np.maximum(open_, close) * wick_up, 2), dtype=np.float64)
    low = np.asarray(np.round(np.minimum(open_, close) * wick_down, 2), dtype=np.float64)
    funding = np.zeros(n)
    funding[::_SETTLEMENT_EVERY] = (
        rng.normal(_FUNDING_MEAN, _FUNDING_STD, len(funding[::_SETTLEMENT_EVERY]))
        * close[::_SETTLEMENT_EVERY]
    )
    hourly = close[:: labels.SUB_CANDLES_PER_HOUR]
    momentum = pd.Series(np.log(hourly)).diff().ewm(span=_SIGNAL_SPAN).mean().to_numpy()
    short = (momentum < 0)[:n_events]
    start = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64)
    times = start + np.arange(n, dtype=np.int64) * 15 * 60 * 1_000_000_000
    flags = np.zeros(n, dtype=bool)
    path = labels.DetailPath(times, open_, high, low, ~flags, flags, flags.copy(), funding)
    return path, short


def _entries(n_events: int) -> NDArray[np.int64]:
    return np.arange(n_events, dtype=np.int64) * labels.SUB_CANDLES_PER_HOUR


def loop_baseline(
    path: labels.DetailPath, short: NDArray[np.bool_], params: labels.SimulatorParams
) -> list[tuple[int, float, int, float, float]]:
    """The kernel's per-trade function run by the interpreter, one event at a time."""
    step = labels._simulate_one.py_func
    return [
        step(path, int(e), bool(s), _TICK_DECIMALS, params)
        for e, s in zip(_entries(len(short)), short, strict=True)
    ]


def pandas_baseline(
    path: labels.DetailPath, short: NDArray[np.bool_], params: labels.SimulatorParams
) -> list[tuple[int, float, int, float, float]]:
    """mlfinlab's shape: per event, slice a pandas frame over the horizon and walk it."""
    frame = pd.DataFrame(path._asdict())
    horizon = 24 * labels.SUB_CANDLES_PER_HOUR + 1
    step = labels._simulate_one.py_func
    out = []
    for e, s in zip(_entries(len(short)), short, strict=True):
        window = frame.iloc[e : e + horizon]
        sub = labels.DetailPath(*(window[c].to_numpy() for c in labels.DetailPath._fields))
        out.append(step(sub, 0, bool(s), _TICK_DECIMALS, params))
    return out


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _pin_to_one_core() -> Callable[[], None]:
    """Restrict this process to one CPU while timing (Linux); returns the undo."""
    if not hasattr(os, "sched_setaffinity"):
        logger.warning("cannot pin to one core on this platform; timings may use more")
        return lambda: None
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    return lambda: os.sched_setaffinity(0, cpus)


def bench_labels(
    n_events: int = 1_000_000,
    loop_sample: int = 2_000,
    pandas_sample: int = 300,
    seed: int = 0,
) -> dict[str, float]:
    """Time the compiled labeller on ``n_events`` and the two baselines on samples.

    Figures (seconds unless named): ``label_seconds_1m`` (best of 3, pinned to one core,
    compiled, scaled to 1M events), ``label_peak_mem_mb`` (tracemalloc peak of one call),
    per-event times, speed-ups, ``label_jit_first_call_seconds`` (a cache load, or the
    compile in a fresh clone), and ``label_exit_share_<reason>`` (how the trades left).
    """
    exits, costs = ExitSettings(max_holding_candles=24), CostSettings()
    params = labels.simulator_params(exits, costs, leverage=2.0)
    path, short = synthetic_path(n_events, seed)
    entries = _entries(n_events)
    ticks = np.full(n_events, _TICK_DECIMALS, dtype=np.int64)

    def run(count: int = n_events) -> labels.ExitArrays:
        return labels.simulate_exits(path, entries[:count], short[:count], ticks[:count], params)

    unpin = _pin_to_one_core()
    try:
        start = time.perf_counter()
        run(16)
        first_call = time.perf_counter() - start
        seconds = _best_seconds(run, _TIMING_REPEATS)
        loop_seconds = _best_seconds(lambda: loop_baseline(path, short[:loop_sample], params), 1)
        pandas_seconds = _best_seconds(
            lambda: pandas_baseline(path, short[:pandas_sample], params), 1
        )
    finally:
        unpin()
    tracemalloc.start()
    result = run()
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    per_event = seconds / n_events
    loop_per_event = loop_seconds / loop_sample
    pandas_per_event = pandas_seconds / pandas_sample
    figures = {
        "label_seconds_1m": seconds * 1_000_000 / n_events,
        "label_peak_mem_mb": peak_bytes / 2**20,
        "label_events": float(n_events),
        "label_kernel_seconds_per_event": per_event,
        "label_loop_seconds_per_event": loop_per_event,
        "label_pandas_seconds_per_event": pandas_per_event,
        "label_speedup_vs_loop": loop_per_event / per_event,
        "label_speedup_vs_pandas": pandas_per_event / per_event,
        "label_jit_first_call_seconds": first_call,
    }
    codes = pd.Series(result.code).map(lambda c: labels.ExitCode(c).name.lower())
    for reason, share in codes.value_counts(normalize=True).sort_index().items():
        figures[f"label_exit_share_{reason}"] = float(share)
    print(format_figures(figures))  # the CLI's output, not a log line
    return figures


def format_figures(figures: dict[str, float]) -> str:
    """One ``key=value`` line per figure, in insertion order, for the CLI and CI logs."""
    return "\n".join(f"{key}={value:.6g}" for key, value in figures.items())
