"""Benchmark of the labeller (``metalabel bench labels``): speed, memory, JIT cost, baselines.

Labelling runs inside every FreqAI retrain, so its budget is a figure we measure, not a
timed test: 1,000,000 candles with a 24-candle horizon and the full cost model in at most
0.2 s on one core and under 300 MB of extra memory. The per-event loops are timed on a
sample and extrapolated per event, because running them on a million candles would take
minutes (the plain loop) or hours (the pandas loop).
"""

from __future__ import annotations

import logging
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metalabel import labels
from metalabel.config import CostSettings, ExitSettings

logger = logging.getLogger(__name__)

# Synthetic market: hourly-like volatility, ~30 % of bars carry an event, funding every 8 bars.
_BAR_VOLATILITY = 0.007
_GAP_VOLATILITY = 0.0005
_WICK_VOLATILITY = 0.003
_EVENT_SHARE = 0.30
_SIGNAL_SPAN_CANDLES = 12
_FUNDING_EVERY_CANDLES = 8
_FUNDING_MEAN = 0.0001
_FUNDING_STD = 0.0002
_ATR_CANDLES = 14
_ATR_MEAN_CANDLES = 50
_TIMING_REPEATS = 3


class SyntheticMarket(NamedTuple):
    """Inputs of :func:`metalabel.labels.label_events_arrays`, aligned bar by bar."""

    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    direction: NDArray[np.int8]
    vol_scale: NDArray[np.float64]
    funding_rate: NDArray[np.float64]


def synthetic_market(n_candles: int, seed: int = 0) -> SyntheticMarket:
    """A seeded random walk with wicks, small gaps, a persistent signal and 8-hourly funding."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_normal(n_candles) * _BAR_VOLATILITY))
    prev_close = np.concatenate(([100.0], close[:-1]))
    open_ = prev_close * np.exp(rng.standard_normal(n_candles) * _GAP_VOLATILITY)
    wick_up = np.abs(rng.standard_normal(n_candles)) * _WICK_VOLATILITY
    wick_down = np.abs(rng.standard_normal(n_candles)) * _WICK_VOLATILITY
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_down)

    # A trend-ish signal: sign of an EMA of returns, an event where it is strongest.
    momentum = (
        pd.Series(np.diff(np.log(close), prepend=np.log(100.0)))
        .ewm(span=_SIGNAL_SPAN_CANDLES)
        .mean()
        .to_numpy()
    )
    threshold = np.quantile(np.abs(momentum), 1.0 - _EVENT_SHARE)
    direction = np.where(np.abs(momentum) > threshold, np.sign(momentum), 0.0).astype(np.int8)

    true_range = pd.Series(np.maximum(high, prev_close) - np.minimum(low, prev_close))
    atr = true_range.rolling(_ATR_CANDLES).mean()
    vol_scale = (atr / atr.rolling(_ATR_MEAN_CANDLES).mean()).to_numpy()  # NaN at the start

    funding = np.zeros(n_candles)
    funding[::_FUNDING_EVERY_CANDLES] = rng.normal(
        _FUNDING_MEAN, _FUNDING_STD, len(funding[::_FUNDING_EVERY_CANDLES])
    )
    return SyntheticMarket(open_, high, low, close, direction, vol_scale, funding)


def _head(market: SyntheticMarket, n: int) -> SyntheticMarket:
    return market._replace(**{name: arr[:n] for name, arr in market._asdict().items()})


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _events(market: SyntheticMarket) -> int:
    return max(int(np.count_nonzero(market.direction[:-1])), 1)


def _jit_compile_seconds(market: SyntheticMarket, params: labels.LabelParams) -> float:
    """Compile a fresh, uncached copy of the kernel: what a clone without a cache pays once."""
    fresh = numba.njit(cache=False, nogil=True)(labels._kernel_impl)
    tiny = _head(market, 64)
    n = len(tiny.open)
    slippage = np.full(n, params["base_slippage_ratio"])
    start = time.perf_counter()
    fresh(
        tiny.open,
        tiny.high,
        tiny.low,
        tiny.direction,
        slippage,
        tiny.funding_rate,
        params["take_profit_ratio"],
        params["stop_loss_ratio"],
        params["trailing_enabled"],
        params["trailing_activation_ratio"],
        params["trailing_distance_ratio"],
        params["exit_on_reversal"],
        params["time_exit_enabled"],
        params["max_holding_candles"],
        params["fee_ratio"],
        np.full(n, -1, np.int8),
        np.full(n, np.nan),
        np.full(n, np.nan),
        np.zeros(n, np.int8),
        np.full(n, -1, np.int64),
        np.full(n, -1, np.int64),
    )
    return time.perf_counter() - start


def _pin_to_one_core() -> Callable[[], None]:
    """Restrict this process to one CPU while timing (Linux); returns the undo."""
    if not hasattr(os, "sched_setaffinity"):
        logger.warning("cannot pin to one core on this platform; timings may use more")
        return lambda: None
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    return lambda: os.sched_setaffinity(0, cpus)


def bench_labels(
    n_candles: int = 1_000_000,
    loop_sample: int = 20_000,
    pandas_sample: int = 2_000,
    seed: int = 0,
) -> dict[str, float]:
    """Time the compiled labeller on ``n_candles`` and the two per-event loops on samples.

    Timings run pinned to one CPU. Figures (seconds unless named otherwise):
    ``label_seconds_1m`` (``label_events_arrays``, validation included, best of 3, kernel
    already compiled, scaled to 1M candles if ``n_candles`` differs), ``label_peak_mem_mb``
    (tracemalloc peak of one call: outputs and temporaries, not the inputs allocated
    before it; numpy reports its buffers to tracemalloc, the kernel allocates nothing),
    per-event times and the speed-ups of the kernel per event, and the JIT
    costs: ``label_jit_first_call_seconds`` (this process's first call: a cache load, or a
    compile in a fresh clone) and ``label_jit_compile_seconds`` (an uncached compile).
    Prints the figures with :func:`format_figures` and returns them.
    """
    exits, costs = ExitSettings(max_holding_candles=24), CostSettings()
    params = labels.label_params(exits, costs)
    market = synthetic_market(n_candles, seed)
    events = _events(market)
    logger.info("labels benchmark: %d candles, %d events, seed %d", n_candles, events, seed)

    def run_kernel(m: SyntheticMarket = market) -> labels.LabelArrays:
        return labels.label_events_arrays(*m, **params)

    frame = pd.DataFrame(
        {"open": market.open, "high": market.high, "low": market.low, "close": market.close}
    )
    loop_market = _head(market, loop_sample)
    pandas_market = _head(market, pandas_sample)
    unpin = _pin_to_one_core()
    try:
        start = time.perf_counter()
        run_kernel(_head(market, 64))
        first_call = time.perf_counter() - start
        seconds = _best_seconds(run_kernel, _TIMING_REPEATS)
        wrapper_seconds = _best_seconds(
            lambda: labels.triple_barrier_labels(
                frame,
                pd.Series(market.direction),
                exits,
                costs,
                vol_scale=pd.Series(market.vol_scale),
                funding_rate=pd.Series(market.funding_rate),
            ),
            _TIMING_REPEATS,
        )
        loop_seconds = _best_seconds(lambda: labels.label_events_loop(*loop_market, **params), 1)
        pandas_seconds = _best_seconds(
            lambda: labels.label_events_pandas_loop(*pandas_market, **params), 1
        )
        compile_seconds = _jit_compile_seconds(market, params)
    finally:
        unpin()

    tracemalloc.start()
    tracemalloc.reset_peak()
    run_kernel()
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    kernel_per_event = seconds / events
    loop_per_event = loop_seconds / _events(loop_market)
    pandas_per_event = pandas_seconds / _events(pandas_market)
    scale_to_1m = 1_000_000 / n_candles
    figures = {
        "label_seconds_1m": seconds * scale_to_1m,
        "label_wrapper_seconds_1m": wrapper_seconds * scale_to_1m,
        "label_peak_mem_mb": peak_bytes / 2**20,
        "label_events": float(events),
        "label_kernel_seconds_per_event": kernel_per_event,
        "label_loop_seconds_per_event": loop_per_event,
        "label_pandas_seconds_per_event": pandas_per_event,
        "label_speedup_vs_loop": loop_per_event / kernel_per_event,
        "label_speedup_vs_pandas": pandas_per_event / kernel_per_event,
        "label_jit_first_call_seconds": first_call,
        "label_jit_compile_seconds": compile_seconds,
    }
    print(format_figures(figures))  # the CLI's output, not a log line
    return figures


def format_figures(figures: dict[str, float]) -> str:
    """One ``key=value`` line per figure, in insertion order, for the CLI and CI logs."""
    return "\n".join(f"{key}={value:.6g}" for key, value in figures.items())
