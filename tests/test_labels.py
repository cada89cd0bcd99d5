"""Hand-checked price paths for the triple-barrier labeller (metalabel.labels).

Unless a test says otherwise: the signal is at bar 0, entry at the open of bar 1 at 100.0,
stop 2 % (long 98 / short 102), take-profit 3 % (long 103 / short 97), time exit after 3
candles (open of bar 4), no costs, so net_return == gross_return. Every case runs through
all three implementations (kernel, oracle loop, pandas loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from metalabel.config import CostSettings, ExitSettings
from metalabel.core.labels import (
    LABEL_SKIP,
    LABEL_TAKE,
    Barrier,
    LabelArrays,
    label_events_arrays,
    label_events_loop,
    label_events_pandas_loop,
    label_params,
    triple_barrier_labels,
)

Bar = tuple[float, float, float, float]  # open, high, low, close
Impl = Callable[..., LabelArrays]

IMPLEMENTATIONS = [
    pytest.param(label_events_arrays, id="kernel"),
    pytest.param(label_events_loop, id="loop"),
    pytest.param(label_events_pandas_loop, id="pandas"),
]

FLAT: Bar = (100.0, 100.0, 100.0, 100.0)
# A quiet path that touches nothing: bar 4 opens at 100.7 (the time-exit price).
QUIET: list[Bar] = [
    FLAT,
    (100.0, 101.0, 99.5, 100.5),
    (100.5, 101.5, 100.0, 101.0),
    (101.0, 101.8, 100.2, 100.7),
    (100.7, 101.0, 100.5, 100.8),
]

NO_COSTS = CostSettings(
    fee_ratio=0.0, base_slippage_ratio=0.0, slippage_volatility_scaled=False, include_funding=False
)


def make_exits(**overrides: Any) -> ExitSettings:
    """Explicit settings, so a changed project default cannot change a hand-checked number."""
    values: dict[str, Any] = {
        "stop_loss_ratio": 0.02,
        "take_profit_ratio": 0.03,
        "trailing_enabled": False,
        "trailing_activation_ratio": 0.01,
        "trailing_distance_ratio": 0.01,
        "exit_on_reversal": False,
        "time_exit_enabled": True,
        "max_holding_candles": 3,
    }
    values.update(overrides)
    return ExitSettings(**values)


def make_costs(**overrides: Any) -> CostSettings:
    values: dict[str, Any] = {
        "fee_ratio": 0.0,
        "base_slippage_ratio": 0.0,
        "slippage_volatility_scaled": False,
        "include_funding": False,
    }
    values.update(overrides)
    return CostSettings(**values)


def run(
    impl: Impl,
    bars: Sequence[Bar],
    direction: Sequence[float],
    exits: ExitSettings,
    costs: CostSettings = NO_COSTS,
    *,
    vol_scale: Sequence[float] | None = None,
    funding: Sequence[float] | None = None,
    horizon: int | None = None,
) -> LabelArrays:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*bars, strict=True))
    return impl(
        o,
        h,
        lo,
        c,
        np.array(direction, dtype=float),
        None if vol_scale is None else np.array(vol_scale, dtype=float),
        None if funding is None else np.array(funding, dtype=float),
        **label_params(exits, costs, horizon_candles=horizon),
    )


def with_bars(*changes: tuple[int, Bar]) -> list[Bar]:
    bars = list(QUIET)
    for at, bar in changes:
        bars[at] = bar
    return bars


class Case(NamedTuple):
    bars: list[Bar]
    direction: list[float]
    exits: ExitSettings
    barrier: Barrier
    gross: float
    holding: int
    exit_index: int


LONG = [1.0, 0.0, 0.0, 0.0, 0.0]
SHORT = [-1.0, 0.0, 0.0, 0.0, 0.0]
TRAIL = make_exits(trailing_enabled=True)
REVERSE = make_exits(exit_on_reversal=True)

CASES = [
    # Long: bar 2's high 103.2 >= 103 -> take-profit at 103 (+3 %), held bars 1-2.
    pytest.param(
        Case(
            with_bars((2, (100.5, 103.2, 100.0, 103.0))),
            LONG,
            make_exits(),
            Barrier.PROFIT,
            0.03,
            2,
            2,
        ),
        id="long-take-profit",
    ),
    # Long: bar 2's low 97.9 <= 98 -> stop at 98 (-2 %).
    pytest.param(
        Case(
            with_bars((2, (100.5, 101.0, 97.9, 98.5))),
            LONG,
            make_exits(),
            Barrier.LOSS,
            -0.02,
            2,
            2,
        ),
        id="long-stop-loss",
    ),
    # Short: bar 2's low 96.8 <= 97 -> take-profit at 97, return -(97-100)/100 = +3 %.
    pytest.param(
        Case(
            with_bars((2, (100.5, 101.0, 96.8, 97.0))),
            SHORT,
            make_exits(),
            Barrier.PROFIT,
            0.03,
            2,
            2,
        ),
        id="short-take-profit",
    ),
    # Short: bar 2's high 102.1 >= 102 -> stop at 102, -2 %.
    pytest.param(
        Case(
            with_bars((2, (100.5, 102.1, 100.0, 102.0))),
            SHORT,
            make_exits(),
            Barrier.LOSS,
            -0.02,
            2,
            2,
        ),
        id="short-stop-loss",
    ),
    # Entry bar touches 97.5 and 103.5: both barriers, the stop wins (98), held 1 candle.
    pytest.param(
        Case(
            with_bars((1, (100.0, 103.5, 97.5, 101.0))),
            LONG,
            make_exits(),
            Barrier.LOSS,
            -0.02,
            1,
            1,
        ),
        id="long-both-touched-is-stop",
    ),
    # Same for a short: 103.5 >= 102 and 96.5 <= 97 -> stop at 102.
    pytest.param(
        Case(
            with_bars((1, (100.0, 103.5, 96.5, 99.0))),
            SHORT,
            make_exits(),
            Barrier.LOSS,
            -0.02,
            1,
            1,
        ),
        id="short-both-touched-is-stop",
    ),
    # Bar 2 opens at 97 < 98: gap through the stop, exit at the open 97 (-3 %), held 1.
    pytest.param(
        Case(
            with_bars((2, (97.0, 97.5, 96.0, 97.0))), LONG, make_exits(), Barrier.LOSS, -0.03, 1, 2
        ),
        id="long-gap-through-stop",
    ),
    # Bar 2 opens at 104 > 103: gap through the take-profit, exit at 104 (+4 %).
    pytest.param(
        Case(
            with_bars((2, (104.0, 104.5, 103.5, 104.0))),
            LONG,
            make_exits(),
            Barrier.PROFIT,
            0.04,
            1,
            2,
        ),
        id="long-gap-through-take-profit",
    ),
    # Exact touches count (100 * 0.98 == 98.0 and 100 * 1.03 == 103.0 in floats):
    # bar 2 opens exactly at the stop -> exit at that open, held 1 candle ...
    pytest.param(
        Case(
            with_bars((2, (98.0, 98.5, 97.5, 98.0))), LONG, make_exits(), Barrier.LOSS, -0.02, 1, 2
        ),
        id="open-exactly-at-stop",
    ),
    # ... bar 2's low is exactly the stop -> stop inside bar 2, held 2 candles ...
    pytest.param(
        Case(
            with_bars((2, (100.5, 101.0, 98.0, 99.0))),
            LONG,
            make_exits(),
            Barrier.LOSS,
            -0.02,
            2,
            2,
        ),
        id="low-exactly-at-stop",
    ),
    # ... bar 2 opens exactly at the take-profit -> exit at that open, held 1 ...
    pytest.param(
        Case(
            with_bars((2, (103.0, 103.5, 102.5, 103.0))),
            LONG,
            make_exits(),
            Barrier.PROFIT,
            0.03,
            1,
            2,
        ),
        id="open-exactly-at-take-profit",
    ),
    # ... bar 2's high is exactly the take-profit -> inside bar 2, held 2.
    pytest.param(
        Case(
            with_bars((2, (100.5, 103.0, 100.0, 102.5))),
            LONG,
            make_exits(),
            Barrier.PROFIT,
            0.03,
            2,
            2,
        ),
        id="high-exactly-at-take-profit",
    ),
    # Short, bar 2 opens at 103 > 102: exit at 103, -(103-100)/100 = -3 %.
    pytest.param(
        Case(
            with_bars((2, (103.0, 103.5, 102.5, 103.0))),
            SHORT,
            make_exits(),
            Barrier.LOSS,
            -0.03,
            1,
            2,
        ),
        id="short-gap-through-stop",
    ),
    # Nothing touched: time exit at bar 4's open 100.7 = 0 + 1 + 3, held 3 candles.
    pytest.param(Case(QUIET, LONG, make_exits(), Barrier.TIME, 0.007, 3, 4), id="long-time"),
    # The same path short loses 0.7 %.
    pytest.param(Case(QUIET, SHORT, make_exits(), Barrier.TIME, -0.007, 3, 4), id="short-time"),
    # The module docstring's example: bar 1's high 101.5 >= 101 activates the trail at
    # 101.5 * 0.99 = 100.485; bar 2's low 100.4 hits it -> +0.485 %.
    pytest.param(
        Case(
            with_bars((1, (100.0, 101.5, 99.5, 101.0)), (2, (101.0, 102.0, 100.4, 101.0))),
            LONG,
            TRAIL,
            Barrier.TRAILING,
            0.00485,
            2,
            2,
        ),
        id="long-trailing",
    ),
    # Short mirror: bar 1's low 98.5 <= 99 activates the trail at 98.5 * 1.01 = 99.485;
    # bar 2's high 99.6 hits it -> -(99.485 - 100)/100 = +0.515 %.
    pytest.param(
        Case(
            with_bars((1, (100.0, 100.5, 98.5, 99.0)), (2, (99.0, 99.6, 98.0, 99.0))),
            SHORT,
            TRAIL,
            Barrier.TRAILING,
            0.00515,
            2,
            2,
        ),
        id="short-trailing",
    ),
    # Bar 2 raises the peak to 102 (trail 100.98) and also trades at 100.2, but it is
    # tested with the stop of bar 1 (inactive -> 98): no exit. Bar 3 hits 100.98.
    pytest.param(
        Case(
            with_bars(
                (1, (100.0, 100.5, 99.5, 100.2)),
                (2, (100.2, 102.0, 100.2, 101.8)),
                (3, (101.5, 101.6, 100.9, 101.0)),
            ),
            LONG,
            TRAIL,
            Barrier.TRAILING,
            0.0098,
            3,
            3,
        ),
        id="trailing-set-by-previous-bars-only",
    ),
    # The trail ratchets: 100.485 after bar 1, 102.5 * 0.99 = 101.475 after bar 2 (whose
    # low 100.6 stays above 100.485), hit by bar 3's low 101.4 -> +1.475 %.
    pytest.param(
        Case(
            with_bars(
                (1, (100.0, 101.5, 99.8, 101.0)),
                (2, (101.0, 102.5, 100.6, 102.0)),
                (3, (102.0, 102.2, 101.4, 101.5)),
            ),
            LONG,
            TRAIL,
            Barrier.TRAILING,
            0.01475,
            3,
            3,
        ),
        id="trailing-ratchets",
    ),
    # Trail active at 100.485 after bar 1; bar 2 opens at 100.2 below it -> exit at 100.2.
    pytest.param(
        Case(
            with_bars((1, (100.0, 101.5, 99.8, 101.0)), (2, (100.2, 100.5, 99.9, 100.0))),
            LONG,
            TRAIL,
            Barrier.TRAILING,
            0.002,
            1,
            2,
        ),
        id="gap-through-trailing-stop",
    ),
    # Trail distance 5 %: 101.5 * 0.95 = 96.425 is looser than the fixed 98, so the fixed
    # stop stays in charge and the hit is a "loss".
    pytest.param(
        Case(
            with_bars((1, (100.0, 101.5, 99.5, 101.0)), (2, (101.0, 101.2, 97.9, 98.0))),
            LONG,
            make_exits(trailing_enabled=True, trailing_distance_ratio=0.05),
            Barrier.LOSS,
            -0.02,
            2,
            2,
        ),
        id="looser-trail-is-fixed-stop",
    ),
    # Short signal at bar 2 (known at its close) -> exit at bar 3's open 101.0, held 2.
    pytest.param(
        Case(QUIET, [1.0, 0.0, -1.0, 0.0, 0.0], REVERSE, Barrier.REVERSAL, 0.01, 2, 3),
        id="long-reversal",
    ),
    # Long signal at bar 2 closes the short at bar 3's open 101.0: -1 %.
    pytest.param(
        Case(QUIET, [-1.0, 0.0, 1.0, 0.0, 0.0], REVERSE, Barrier.REVERSAL, -0.01, 2, 3),
        id="short-reversal",
    ),
    # The reversal at bar 1 would exit at bar 2's open, but bar 1 already hit the stop.
    pytest.param(
        Case(
            with_bars((1, (100.0, 100.5, 97.5, 98.0))),
            [1.0, -1.0, 0.0, 0.0, 0.0],
            REVERSE,
            Barrier.LOSS,
            -0.02,
            1,
            1,
        ),
        id="stop-before-reversal",
    ),
    # Reversal at bar 1 and a gap to 97 at bar 2's open: the resting stop fills first.
    pytest.param(
        Case(
            with_bars((2, (97.0, 97.5, 96.0, 97.0))),
            [1.0, -1.0, 0.0, 0.0, 0.0],
            REVERSE,
            Barrier.LOSS,
            -0.03,
            1,
            2,
        ),
        id="gap-stop-before-reversal",
    ),
    # Holding 2: time and a reversal (bar 2) both exit at bar 3's open; named reversal.
    pytest.param(
        Case(
            QUIET,
            [1.0, 0.0, -1.0, 0.0, 0.0],
            make_exits(exit_on_reversal=True, max_holding_candles=2),
            Barrier.REVERSAL,
            0.01,
            2,
            3,
        ),
        id="reversal-named-before-time",
    ),
    # Repeated long signals are not a reversal: the trade runs to its time exit.
    pytest.param(
        Case(QUIET, [1.0, 1.0, 1.0, 0.0, 0.0], REVERSE, Barrier.TIME, 0.007, 3, 4),
        id="same-direction-is-no-reversal",
    ),
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES)
def test_barriers(impl: Impl, case: Case) -> None:
    result = run(impl, case.bars, case.direction, case.exits)
    assert result.barrier[0] == case.barrier
    assert result.gross_return[0] == pytest.approx(case.gross, abs=1e-12)
    assert result.net_return[0] == pytest.approx(case.gross, abs=1e-12)  # no costs
    assert result.holding_candles[0] == case.holding
    assert result.exit_index[0] == case.exit_index
    assert result.label[0] == (LABEL_TAKE if case.gross > 0 else LABEL_SKIP)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_no_event_rows_and_nan_tail(impl: Impl) -> None:
    # Row 1 (short, stop 102 / take 97): bars 2-4 touch neither, and its time exit would
    #        be bar 2 + 3 = 5 >= n = 5 -> unresolved, NaN.
    # Row 3 (long): stop 98 hit inside its entry bar 4 (low 97.5) -> labelled, although
    #        its horizon runs past the data. Row 4: last row, no entry bar -> NaN.
    # Rows 0 and 2: no event -> NaN.
    bars = [FLAT, FLAT, FLAT, FLAT, (100.0, 100.5, 97.5, 98.0)]
    result = run(impl, bars, [0.0, -1.0, 0.0, 1.0, -1.0], make_exits())
    assert result.barrier.tolist() == [0, 0, 0, Barrier.LOSS, 0]
    assert result.holding_candles.tolist() == [-1, -1, -1, 1, -1]
    assert result.exit_index.tolist() == [-1, -1, -1, 4, -1]
    assert pd.isna(result.label).tolist() == [True, True, True, False, True]
    assert result.label[3] == LABEL_SKIP
    assert np.isnan(result.net_return[[0, 1, 2, 4]]).all()
    assert np.isnan(result.gross_return[[0, 1, 2, 4]]).all()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_time_exit_off_leaves_unresolved_nan(impl: Impl) -> None:
    exits = make_exits(time_exit_enabled=False)
    # QUIET touches nothing within 3 candles: no label instead of a time exit.
    assert pd.isna(run(impl, QUIET, LONG, exits).label[0])
    # A longer horizon reaches bar 5's take-profit (103.5 >= 103): held 5 candles.
    bars = [*QUIET, (100.8, 103.5, 100.5, 103.0), FLAT]
    result = run(impl, bars, [*LONG, 0.0, 0.0], exits, horizon=5)
    assert result.barrier[0] == Barrier.PROFIT
    assert result.holding_candles[0] == 5


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_zero_net_is_skip(impl: Impl) -> None:
    # Time exit at the entry price: net exactly 0 is not "> 0".
    bars = [FLAT, FLAT, FLAT, FLAT, FLAT]
    result = run(impl, bars, LONG, make_exits())
    assert result.net_return[0] == 0.0
    assert result.label[0] == LABEL_SKIP


# ---------------------------------------------------------------- costs, checked by hand

UP = with_bars((4, (101.0, 101.0, 101.0, 101.0)))  # time exit at 101.0
DOWN = with_bars((4, (99.0, 99.0, 99.0, 99.0)))  # time exit at 99.0


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("bars", "direction", "costs", "net"),
    [
        # Fee 0.1 % on both notionals: 0.01 - 0.001 * (1 + 101/100) = 0.00799.
        pytest.param(UP, LONG, make_costs(fee_ratio=0.001), 0.00799, id="fee-long"),
        # Short 100 -> 99: 0.01 - 0.001 * (1 + 99/100) = 0.00801.
        pytest.param(DOWN, SHORT, make_costs(fee_ratio=0.001), 0.00801, id="fee-short"),
        # Slippage 0.1 %: fills 100.1 and 101 * 0.999 = 100.899;
        # 100.899 / 100.1 - 1 = 0.007982017982018.
        pytest.param(
            UP, LONG, make_costs(base_slippage_ratio=0.001), 0.007982017982018, id="slippage-long"
        ),
        # Short fills 99.9 and 99 * 1.001 = 99.099; -(99.099 / 99.9 - 1) = 0.008018018018018.
        pytest.param(
            DOWN,
            SHORT,
            make_costs(base_slippage_ratio=0.001),
            0.008018018018018,
            id="slippage-short",
        ),
        # Both: r = 100.899 / 100.1; r - 1 - 0.001 * (1 + r) = 0.007982018 - 0.002007982
        #     = 0.005974036
        pytest.param(
            UP,
            LONG,
            make_costs(fee_ratio=0.001, base_slippage_ratio=0.001),
            0.005974035964036,
            id="fee-and-slippage-long",
        ),
    ],
)
def test_costs(
    impl: Impl, bars: list[Bar], direction: list[float], costs: CostSettings, net: float
) -> None:
    result = run(impl, bars, direction, make_exits(), costs)
    assert result.net_return[0] == pytest.approx(net, abs=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("scale", "slippage"),
    [
        pytest.param(3.0, 0.003, id="scaled"),  # 0.001 x 3
        pytest.param(math.nan, 0.001, id="nan-is-one"),  # warm-up rows of ATR
        pytest.param(10.0, 0.005, id="capped-at-5"),
        pytest.param(0.1, 0.0005, id="floored-at-half"),
    ],
)
def test_volatility_scaled_slippage(impl: Impl, scale: float, slippage: float) -> None:
    costs = make_costs(base_slippage_ratio=0.001, slippage_volatility_scaled=True)
    vol = [scale, 50.0, 50.0, 50.0, 50.0]  # only the signal bar's scale counts
    result = run(impl, UP, LONG, make_exits(), costs, vol_scale=vol)
    expected = 101.0 * (1 - slippage) / (100.0 * (1 + slippage)) - 1
    assert result.net_return[0] == pytest.approx(expected, abs=1e-12)


# Funding per bar, settled at that bar's open. The trade enters just after bar 1's open and
# leaves at bar 4's open (time exit): it pays bars 2 and 4, not bar 1 (settled before the
# fill), not bar 0 or 5. NaN means no settlement.
FUNDING = [0.5, 0.01, 0.0001, math.nan, 0.0002, 0.05]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("direction", "net"),
    [
        # Long pays 0.0001 + 0.0002: 0.007 - 0.0003 = 0.0067.
        pytest.param(LONG, 0.0067, id="long-pays"),
        # Short receives it: -0.007 + 0.0003 = -0.0067.
        pytest.param(SHORT, -0.0067, id="short-receives"),
    ],
)
def test_funding(impl: Impl, direction: list[float], net: float) -> None:
    bars = [*QUIET, FLAT]
    costs = make_costs(include_funding=True)
    result = run(impl, bars, [*direction, 0.0], make_exits(), costs, funding=FUNDING)
    assert result.net_return[0] == pytest.approx(net, abs=1e-12)
    off = run(impl, bars, [*direction, 0.0], make_exits(), NO_COSTS, funding=FUNDING)
    assert off.net_return[0] == pytest.approx(off.gross_return[0], abs=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_funding_counts_the_exit_bar_of_an_intrabar_exit(impl: Impl) -> None:
    # Stop inside bar 2: held over bar 2's settlement (0.0001), not bar 3's (0.01).
    bars = with_bars((2, (100.5, 101.0, 97.9, 98.5)))
    costs = make_costs(include_funding=True)
    result = run(impl, bars, LONG, make_exits(), costs, funding=[0.0, 0.5, 0.0001, 0.01, 0.0])
    assert result.net_return[0] == pytest.approx(-0.02 - 0.0001, abs=1e-12)


# ---------------------------------------------------------------- pandas wrapper


def test_wrapper_frame() -> None:
    index = pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC")
    bars = [*with_bars((2, (100.5, 103.2, 100.0, 103.0))), FLAT]
    df = pd.DataFrame(bars, columns=["open", "high", "low", "close"], index=index)
    # Row 0 long (take-profit at bar 2); row 1 NaN = no event; row 4 unresolved; row 5
    # absent from the series (reindexed to no event).
    direction = pd.Series([1.0, np.nan, 0.0, 0.0, 1.0], index=index[:5])
    out = triple_barrier_labels(df, direction, make_exits(), NO_COSTS)
    assert list(out.columns) == [
        "label",
        "net_return",
        "gross_return",
        "barrier",
        "holding_candles",
    ]
    assert out.index.equals(index)
    assert out["label"].dtype == object
    assert out["barrier"].dtype == object
    assert out["label"].iloc[0] == LABEL_TAKE
    assert out["barrier"].iloc[0] == "profit"
    assert out["holding_candles"].tolist() == [2, -1, -1, -1, -1, -1]
    assert out["label"].iloc[1:].isna().all()
    assert out["barrier"].iloc[1:].isna().all()
    assert out["net_return"].iloc[1:].isna().all()
    assert out["net_return"].iloc[0] == pytest.approx(0.03)


def test_wrapper_costs_from_settings() -> None:
    index = pd.RangeIndex(6)
    df = pd.DataFrame([*QUIET, FLAT], columns=["open", "high", "low", "close"], index=index)
    costs = make_costs(fee_ratio=0.001, include_funding=True)
    out = triple_barrier_labels(
        df,
        pd.Series([1.0, 0, 0, 0, 0, 0], index=index),
        make_exits(),
        costs,
        funding_rate=pd.Series(FUNDING, index=index),
    )
    # 0.007 - 0.001 * (1 + 1.007) - 0.0003 = 0.004693
    assert out["net_return"].iloc[0] == pytest.approx(0.004693, abs=1e-12)
    assert out["barrier"].iloc[0] == "time"


# ---------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"direction": [2.0, 0, 0, 0, 0]}, "direction", id="bad-direction"),
        pytest.param({"low": [math.nan, 100, 100, 100, 100]}, "low", id="nan-price"),
        pytest.param({"low": [100.0, 100.0]}, "shape", id="wrong-length"),
        pytest.param({"horizon_candles": 5}, "horizon_candles", id="horizon-with-time-exit"),
    ],
)
def test_rejects_bad_input(change: dict[str, Any], message: str) -> None:
    o = np.full(5, 100.0)
    args: dict[str, Any] = {"open_": o, "high": o, "low": o, "close": o, "direction": LONG}
    kwargs: dict[str, Any] = dict(label_params(make_exits(), NO_COSTS))
    for key, value in change.items():
        (kwargs if key in kwargs else args)[key] = value
    with pytest.raises(ValueError, match=message):
        label_events_arrays(**args, **kwargs)
