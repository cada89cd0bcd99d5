"""The compiled labeller equals the plain per-event loop on random paths and settings.

Prices sit on a 0.25 grid, often return to 100.0 and the ratios are often round, so exact
touches (low == stop, open == take-profit), gaps, bars touching both barriers and net
returns of exactly zero come up regularly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalabel.config import CostSettings, ExitSettings
from metalabel.core.labels import (
    LabelArrays,
    LabelParams,
    label_events_arrays,
    label_events_loop,
    label_events_pandas_loop,
    label_params,
)
from metalabel.ops.bench import synthetic_market

TICK = 0.25


@st.composite
def paths(draw: st.DrawFn) -> dict[str, Any]:
    """OHLC on a tick grid with gaps, wicks, mixed directions, NaN scales and NaN funding."""
    n = draw(st.integers(1, 40))
    ticks = st.integers(-4, 4)
    start = 400  # in ticks: 100.0, where round ratios give barriers on the grid
    close = start
    o, h, lo, c = [], [], [], []
    for _ in range(n):
        # Mostly no gap; sometimes a gap; sometimes back to 100.0 (more exact touches).
        gap = draw(st.sampled_from([0, 0, start - close]) | ticks)
        bar_open = close + gap
        close = bar_open + draw(ticks)
        o.append(bar_open)
        c.append(close)
        h.append(max(bar_open, close) + draw(st.integers(0, 3)))
        lo.append(min(bar_open, close) - draw(st.integers(0, 3)))
    direction = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.0, 1.0]), min_size=n, max_size=n))
    vol = draw(
        st.none()
        | st.lists(
            st.sampled_from([math.nan, 0.1, 1.0, 2.0, 9.0]) | st.floats(0.0, 6.0),
            min_size=n,
            max_size=n,
        )
    )
    funding = draw(
        st.none()
        | st.lists(
            st.sampled_from([0.0, 0.0, math.nan, 0.0001, -0.0003]) | st.floats(-0.01, 0.01),
            min_size=n,
            max_size=n,
        )
    )
    return {
        "open": np.array(o) * TICK,
        "high": np.array(h) * TICK,
        "low": np.array(lo) * TICK,
        "close": np.array(c) * TICK,
        "direction": np.array(direction),
        "vol_scale": None if vol is None else np.array(vol),
        "funding_rate": None if funding is None else np.array(funding),
    }


def ratio(lo: float, hi: float, round_values: list[float]) -> st.SearchStrategy[float]:
    """Mostly round ratios (barriers on the grid from 100.0), sometimes any in [lo, hi]."""
    return st.sampled_from(round_values) | st.sampled_from(round_values) | st.floats(lo, hi)


@st.composite
def params(draw: st.DrawFn) -> LabelParams:
    time_exit = draw(st.booleans())
    max_holding = draw(st.integers(1, 8))
    exits = ExitSettings(
        stop_loss_ratio=draw(ratio(0.001, 0.2, [0.005, 0.01, 0.02, 0.025, 0.05])),
        take_profit_ratio=draw(ratio(0.001, 0.3, [0.005, 0.01, 0.03, 0.05])),
        trailing_enabled=draw(st.booleans()),
        trailing_activation_ratio=draw(ratio(0.001, 0.1, [0.005, 0.01, 0.02])),
        trailing_distance_ratio=draw(ratio(0.001, 0.05, [0.005, 0.01, 0.02])),
        exit_on_reversal=draw(st.booleans()),
        time_exit_enabled=time_exit,
        max_holding_candles=max_holding,
    )
    costs = CostSettings(
        fee_ratio=draw(ratio(0.0, 0.01, [0.0, 0.0006])),
        base_slippage_ratio=draw(ratio(0.0, 0.01, [0.0, 0.0001])),
        slippage_volatility_scaled=draw(st.booleans()),
        include_funding=draw(st.booleans()),
    )
    horizon = None if time_exit else draw(st.none() | st.integers(1, 10))
    return label_params(exits, costs, horizon_candles=horizon)


def call(impl: Any, market: dict[str, Any], p: LabelParams) -> LabelArrays:
    result: LabelArrays = impl(
        market["open"],
        market["high"],
        market["low"],
        market["close"],
        market["direction"],
        market["vol_scale"],
        market["funding_rate"],
        **p,
    )
    return result


def assert_same(actual: LabelArrays, expected: LabelArrays) -> None:
    np.testing.assert_array_equal(actual.barrier, expected.barrier)
    np.testing.assert_array_equal(actual.holding_candles, expected.holding_candles)
    np.testing.assert_array_equal(actual.exit_index, expected.exit_index)
    # Same float operations in the same order: the results are bit-for-bit equal, so a
    # net of exactly 0 is "skip" in both.
    np.testing.assert_array_equal(actual.gross_return, expected.gross_return)
    np.testing.assert_array_equal(actual.net_return, expected.net_return)
    assert pd.isna(actual.label).tolist() == pd.isna(expected.label).tolist()
    labelled = ~pd.isna(expected.label)
    assert actual.label[labelled].tolist() == expected.label[labelled].tolist()


@settings(max_examples=200, deadline=None)
@given(market=paths(), p=params())
def test_kernel_equals_loop(market: dict[str, Any], p: LabelParams) -> None:
    assert_same(call(label_events_arrays, market, p), call(label_events_loop, market, p))


@pytest.mark.parametrize(
    ("seed", "overrides"),
    [
        pytest.param(0, {}, id="project-defaults"),
        pytest.param(1, {"trailing_enabled": False, "exit_on_reversal": False}, id="plain"),
        pytest.param(
            2,
            {"time_exit_enabled": False, "max_holding_candles": 12},
            id="no-time-exit",
        ),
    ],
)
def test_pandas_loop_equals_kernel_and_loop(seed: int, overrides: dict[str, Any]) -> None:
    market = synthetic_market(400, seed)._asdict()
    p = label_params(ExitSettings(**overrides), CostSettings())
    kernel = call(label_events_arrays, market, p)
    assert (kernel.barrier != 0).sum() > 50  # the path really exercises the barriers
    assert_same(call(label_events_pandas_loop, market, p), kernel)
    assert_same(call(label_events_loop, market, p), kernel)
