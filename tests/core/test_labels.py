"""The labeller on scripted 15-minute paths, by hand, and against an oracle.

Unless a case says otherwise: a long enters at the open of sub-candle 0 at 100.00,
leverage 2, fee 0.06 % a side, stop 2 % (98.00), take-profit 3 % (ROI ratio at 2x with
fees), trailing 1 % behind the best price once it is 1 % up, time exit after 24 hours,
tick 0.01, no funding.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalabel.config import CostSettings, ExitSettings
from metalabel.core.labels import (
    LABEL_TAKE,
    DetailPath,
    ExitCode,
    _simulate_one,
    detail_path,
    simulate_exits,
    simulator_params,
    triple_barrier_labels,
)
from metalabel.ops.bench_labels import synthetic_path
from tests.core.labels_oracle import oracle_exit

T0 = pd.Timestamp("2025-01-06 00:00", tz="UTC")
FEE = 0.0006
COSTS = CostSettings(
    fee_ratio=FEE, base_slippage_ratio=0.0, slippage_volatility_scaled=False, include_funding=True
)
PARAMS = simulator_params(ExitSettings(), COSTS, leverage=2.0)
QUIET = (100.0, 100.4, 99.7)


def path_of(
    bars: list[tuple[float, float, float]],
    *,
    exit_long_at: tuple[int, ...] = (),
    funding_at: dict[int, float] | None = None,
    missing: tuple[int, ...] = (),
) -> DetailPath:
    n = len(bars)
    o, h, lo = (np.array([b[i] for b in bars], dtype=np.float64) for i in range(3))
    present = np.ones(n, dtype=bool)
    present[list(missing)] = False
    exit_long = np.zeros(n, dtype=bool)
    exit_long[list(exit_long_at)] = True
    funding = np.zeros(n)
    for j, value in (funding_at or {}).items():
        funding[j] = value
    times = pd.date_range(T0, periods=n, freq="15min").as_unit("ns").asi8.astype(np.int64)
    return DetailPath(times, o, h, lo, present, exit_long, np.zeros(n, bool), funding)


def simulate(path: DetailPath, *, short: bool = False, params: Any = PARAMS) -> tuple:
    r = simulate_exits(
        path, np.array([0]), np.array([short]), np.array([2], dtype=np.int64), params
    )
    return int(r.exit_index[0]), float(r.exit_price[0]), ExitCode(r.code[0]), r.trade_net_return[0]


def long_net(exit_price: float, funding: float = 0.0) -> float:
    return (exit_price * (1 - FEE) - funding) / (100.0 * (1 + FEE)) - 1


@pytest.mark.parametrize(
    ("bars", "expected"),
    [
        # the entry sub-candle's high 101.5 arms the trail (stop 100.49) and its low 99.8
        # hits it: freqtrade's worst case on the entry candle, max(low, open * (1 - 1 %))
        ([(100.0, 101.5, 99.8)], (0, 99.80, ExitCode.TRAILING_STOP)),
        # same, but the low 98.5 is below open * (1 - 1 %) = 99.00: exit at 99.00
        ([(100.0, 101.5, 98.5)], (0, 99.00, ExitCode.TRAILING_STOP)),
        # low 97.9 is through the fixed stop 98.00 before the trail moves: a plain stop
        ([(100.0, 101.5, 97.9)], (0, 98.00, ExitCode.STOP_LOSS)),
        # the same range one sub-candle later: the trail stop 100.49 itself
        ([QUIET, (100.0, 101.5, 99.8)], (1, 100.49, ExitCode.TRAILING_STOP)),
        # a gap through the stop: the sub-candle's open
        ([QUIET, (97.0, 97.5, 96.5)], (1, 97.00, ExitCode.STOP_LOSS)),
        # take-profit inside sub-candle 1 (:15): the ROI price, 3 % up
        ([QUIET, (100.2, 103.6, 100.1)], (1, 103.00, ExitCode.TAKE_PROFIT)),
        # a gap past the take-profit at :15 exits at the sub-candle's LOW, not its open
        ([QUIET, (103.9, 104.2, 103.5)], (1, 103.50, ExitCode.TAKE_PROFIT)),
        # the same gap at a later hour's first sub-candle exits at its open
        ([QUIET] * 4 + [(103.9, 104.2, 103.5)], (4, 103.90, ExitCode.TAKE_PROFIT)),
        # take-profit and trailing stop in one sub-candle: the take-profit wins
        ([QUIET, (100.3, 103.6, 101.0)], (1, 103.00, ExitCode.TAKE_PROFIT)),
    ],
)
def test_scripted_long_paths(bars: list, expected: tuple) -> None:
    index, price, code, net = simulate(path_of(bars))
    assert (index, round(price, 2), code) == expected
    assert net == pytest.approx(long_net(price), abs=1e-12)


def test_reversal_exits_at_the_open_before_a_stop_in_the_same_sub_candle() -> None:
    # the previous hour closed with a primary SHORT: exit at 12:00's open, although its
    # low 97.0 is through the stop
    bars = [QUIET] * 4 + [(100.1, 100.2, 97.0)]
    index, price, code, _ = simulate(path_of(bars, exit_long_at=(4,)))
    assert (index, price, code) == (4, 100.1, ExitCode.REVERSAL)


def test_time_exit_after_24_hours_at_the_open() -> None:
    bars = [QUIET] * 96 + [(100.3, 100.4, 99.9)]
    index, price, code, _ = simulate(path_of(bars))
    assert (index, price, code) == (96, 100.3, ExitCode.TIME_EXIT)


def test_short_trailing_on_the_entry_sub_candle_exits_at_most_at_the_high() -> None:
    # short at 100: low 98.5 arms the trail (98.5 * 1.01 = 99.485 -> 99.48), high 100.2
    # hits it; the worst case open * (1 + 1 %) = 101.0 is capped by the high
    index, price, code, net = simulate(path_of([(100.0, 100.2, 98.5)]), short=True)
    assert (index, price, code) == (0, 100.2, ExitCode.TRAILING_STOP)
    assert net == pytest.approx(1 - 100.2 * (1 + FEE) / (100.0 * (1 - FEE)), abs=1e-12)


def test_funding_is_charged_at_settlements_from_entry_to_exit_inclusive() -> None:
    # settlements at the entry sub-candle and at the exit sub-candle: both are paid
    bars = [QUIET] * 8 + [(97.0, 97.5, 96.5)]
    rate_times_mark = {0: 0.01, 4: 0.02, 8: 0.03}
    index, _, code, net = simulate(path_of(bars, funding_at=rate_times_mark))
    assert (index, code) == (8, ExitCode.STOP_LOSS)
    assert net == pytest.approx(long_net(97.0, funding=0.06), abs=1e-12)


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ((0,), ExitCode.NO_DETAIL),  # no 15m candle to enter on
        ((2,), ExitCode.NO_DETAIL),  # the path reaches an hour without detail
    ],
)
def test_missing_detail_gives_no_label(missing: tuple, expected: ExitCode) -> None:
    _, price, code, net = simulate(path_of([QUIET] * 4, missing=missing))
    assert code is expected and math.isnan(price) and math.isnan(net)


def test_a_path_that_ends_before_the_exit_gives_no_label() -> None:
    _, _, code, net = simulate(path_of([QUIET] * 8))
    assert code is ExitCode.NONE and math.isnan(net)


def test_labels_on_a_1h_frame_with_signals_and_slippage() -> None:
    """The 1h wrapper: signal at 00:00 enters at 01:00; "take" needs net > slippage."""
    hours = pd.date_range(T0, periods=3, freq="1h")
    frame = pd.DataFrame(
        {"date": hours, "open": 100.0, "primary_direction": [1, 0, 0], "atr_ratio": 1.0}
    )
    detail = pd.DataFrame(
        {
            "date": pd.date_range(T0, periods=12, freq="15min"),
            "open": 100.0,
            "high": [100.1] * 4 + [103.6] + [100.1] * 7,
            "low": 99.9,
        }
    )
    path = detail_path(frame, detail)
    costs = CostSettings(fee_ratio=FEE, base_slippage_ratio=0.0001)
    out = triple_barrier_labels(
        frame, path, frame["primary_direction"], ExitSettings(), costs,
        leverage=2.0, tick_decimals=pd.Series(2, index=frame.index),
        vol_scale=frame["atr_ratio"],
    )  # fmt: skip
    row = out.iloc[0]
    assert row["barrier"] == "roi" and row["exit_time"] == hours[1]
    assert row["net_return"] == pytest.approx(row["trade_net_return"] - 2 * 0.0001)
    assert row["label"] == LABEL_TAKE
    assert out["label"].iloc[1:].isna().all() and out["barrier"].iloc[1:].isna().all()


bar = st.tuples(
    st.floats(-0.025, 0.025), st.floats(0.0, 0.02), st.floats(0.0, 0.02)
)  # open move from the previous close, high above / low below the body


@settings(max_examples=300, deadline=None)
@given(
    moves=st.lists(bar, min_size=1, max_size=120),
    short=st.booleans(),
    decimals=st.sampled_from([1, 2]),
    reversal_at=st.integers(0, 130),
    funding=st.floats(-0.05, 0.05),
)
def test_kernel_equals_the_oracle(
    moves: list, short: bool, decimals: int, reversal_at: int, funding: float
) -> None:
    """Bit for bit, on random paths (gaps, trails, take-profits, reversals, funding)."""
    price, bars = 100.0, []
    for open_move, up, down in moves:
        o = round(price * (1 + open_move), decimals)
        h, lo = round(o * (1 + up), decimals), round(o * (1 - down), decimals)
        bars.append((o, h, lo))
        price = (h + lo) / 2
    path = path_of(bars, funding_at={j: funding for j in range(0, len(bars), 32)})
    path = path._replace(
        exit_long=(np.arange(len(bars)) == reversal_at),
        exit_short=(np.arange(len(bars)) == reversal_at),
    )
    r = simulate_exits(
        path, np.array([0]), np.array([short]), np.array([decimals], np.int64), PARAMS
    )
    j, x, code, net = oracle_exit(path, 0, short, decimals, PARAMS)
    assert (int(r.exit_index[0]), ExitCode(r.code[0])) == (j, code)
    np.testing.assert_array_equal([r.exit_price[0], r.trade_net_return[0]], [x, net])


def test_compiled_batch_equals_the_interpreted_step_and_keeps_references() -> None:
    """The batch kernel (borrowed array views, no reference counting per trade) gives
    the per-trade step's results bit for bit, and holds no reference to the path after
    the call (a leaked view would keep the arrays' counts raised)."""
    path, short = synthetic_path(600, seed=3)
    entries = np.arange(len(short), dtype=np.int64) * 4 + np.arange(len(short)) % 4
    ticks = np.where(np.arange(len(short)) % 3 == 0, 1, 2).astype(np.int64)
    counts = [sys.getrefcount(array) for array in path]
    r = simulate_exits(path, entries, short, ticks, PARAMS)
    assert [sys.getrefcount(array) for array in path] == counts
    step = _simulate_one.py_func
    expected = [
        step(path, int(e), bool(s), int(d), PARAMS)
        for e, s, d in zip(entries, short, ticks, strict=True)
    ]
    columns = [np.array(c) for c in zip(*expected, strict=True)]
    assert len(set(r.code.tolist())) >= 3  # stops, trails and take-profits all exercised
    for got, want in zip(r, columns, strict=True):
        np.testing.assert_array_equal(got, want.astype(got.dtype))
