"""The portfolio simulator replays freqtrade's backtest loop: hand-checked small markets.

Every market here is flat at 100 (tick 0.01, no fee, no funding) except where a case
puts a dip to 97 into one 15m sub-candle: a 2 % stop (98.00) is hit there. Exits:
stop 2 %, take-profit 3 %, no trailing, reversal exits, time exit after 2 hours. The
grid starts 2025-01-01 00:00; hour h is the 1h candle h:00, sub-candle s = 4h + q.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metalabel.config import CostSettings, ExitSettings, StrategyMode
from metalabel.core.labels import simulator_params
from metalabel.evaluation import simulator
from metalabel.evaluation.folds import walk_forward_folds

T0 = pd.Timestamp("2025-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)
QUARTER = pd.Timedelta(minutes=15)
N_HOURS = 8
END = T0 + 6 * HOUR  # the backtest's last 1h candle: force exit at its open
EXITS = ExitSettings(trailing_enabled=False, max_holding_candles=2)
PARAMS = simulator_params(EXITS, CostSettings(fee_ratio=0.0, include_funding=False), leverage=1.0)


def at(hour: int, quarter: int = 0) -> pd.Timestamp:
    return T0 + hour * HOUR + quarter * QUARTER


def market(n_pairs: int, dips: tuple[tuple[int, int, int], ...] = ()) -> simulator.Market:
    """Flat 100 candles; ``dips``: (pair, hour, quarter) sub-candles whose low is 97."""
    n_sub = 4 * N_HOURS
    hour_ns = pd.date_range(T0, periods=N_HOURS, freq=HOUR).as_unit("ns").asi8
    time_ns = pd.date_range(T0, periods=n_sub, freq=QUARTER).as_unit("ns").asi8
    flat = np.full((n_pairs, n_sub), 100.0)
    low = flat.copy()
    for pair, hour, quarter in dips:
        low[pair, 4 * hour + quarter] = 97.0
    return simulator.Market(
        pairs=tuple("ABCDEFG"[:n_pairs]),
        hour_ns=hour_ns,
        time_ns=time_ns,
        open=flat.copy(),
        high=flat.copy(),
        low=low,
        present=np.ones((n_pairs, n_sub), dtype=bool),
        funding=np.zeros((n_pairs, n_sub)),
        tick_decimals=np.full((n_pairs, N_HOURS), 2, dtype=np.int64),
    )


def signals(direction: dict[tuple[int, int], int], n_pairs: int) -> simulator.Signals:
    """Primary signal (pair, 1h candle) -> +1/-1, all admitted (entries = signals)."""
    d = np.zeros((n_pairs, N_HOURS), dtype=np.int8)
    for (pair, hour), side in direction.items():
        d[pair, hour] = side
    previous = np.zeros_like(d)
    previous[:, 1:] = d[:, :-1]
    per_sub = np.repeat(previous, 4, axis=1)
    return simulator.Signals(d, per_sub < 0, per_sub > 0, np.zeros((n_pairs, N_HOURS)))


def trades(
    m: simulator.Market, s: simulator.Signals, max_open: int
) -> tuple[list[tuple[str, pd.Timestamp, pd.Timestamp, str, str]], int]:
    run = simulator.simulate_portfolio(m, s, PARAMS, start=T0, end=END, max_open_trades=max_open)
    table = simulator.trades_table(m, s, run, leverage=1.0, stake=100.0)
    rows = [
        (r.pair, r.open_date, r.close_date, "short" if r.is_short else "long", r.exit_reason)
        for r in table.sort_values(["open_date", "pair"]).itertuples()
    ]
    return rows, run.rejected


def test_a_freed_slot_is_taken_at_the_next_sub_candle_by_a_refused_pair() -> None:
    # one slot; A and B signal on candle 0. At 01:00 A enters (first in the list) and B
    # is refused; A stops out at 01:15, is processed first (open trade), so B enters at
    # the 01:15 open; A sits out the rest of hour 1 though its signal stands.
    rows, rejected = trades(market(2, dips=((0, 1, 1),)), signals({(0, 0): 1, (1, 0): 1}, 2), 1)
    assert rows == [
        ("A", at(1), at(1, 1), "long", "stop_loss"),
        ("B", at(1, 1), at(3, 1), "long", "time_exit"),  # held 2 hours
    ]
    assert rejected == 1


def test_without_a_slot_limit_both_pairs_enter_at_the_hour() -> None:
    rows, rejected = trades(market(2, dips=((0, 1, 1),)), signals({(0, 0): 1, (1, 0): 1}, 2), 3)
    assert rows == [
        ("A", at(1), at(1, 1), "long", "stop_loss"),
        ("B", at(1), at(3), "long", "time_exit"),
    ]
    assert rejected == 0


def test_a_trade_closed_on_its_entry_sub_candle_re_enters_at_the_next_one() -> None:
    # opened and stopped in the 01:00 sub-candle: never seen open, so the hour's signal
    # enters again at 01:15
    rows, _ = trades(market(1, dips=((0, 1, 0),)), signals({(0, 0): 1}, 1), 3)
    assert rows == [
        ("A", at(1), at(1), "long", "stop_loss"),
        ("A", at(1, 1), at(3, 1), "long", "time_exit"),
    ]


def test_a_trade_open_at_the_hour_start_does_not_re_enter_in_that_hour() -> None:
    # entered 01:00, stopped 02:15 while candle 1's signal stands for hour 2: the pair
    # sits out hour 2; candle 2 has no signal, so there is no later trade either
    rows, _ = trades(market(1, dips=((0, 2, 1),)), signals({(0, 0): 1, (0, 1): 1}, 1), 3)
    assert rows == [("A", at(1), at(2, 1), "long", "stop_loss")]


def test_reversal_exits_and_enters_the_opposite_side_on_the_same_sub_candle() -> None:
    # long from candle 0; candle 2's short signal exits it at the 03:00 open and opens
    # the short there too; with one slot, B (long signal on candle 2, second in the
    # list) finds it taken at every sub-candle of hour 3. Flat market: time exit 05:00.
    rows, rejected = trades(market(2), signals({(0, 0): 1, (0, 2): -1, (1, 2): 1}, 2), 1)
    assert rows[:2] == [
        ("A", at(1), at(3), "long", "reversal"),
        ("A", at(3), at(5), "short", "time_exit"),
    ]
    assert rows[2:] == [], "B never got the slot in hour 3"
    assert rejected == 4  # B refused at 03:00, 03:15, 03:30 and 03:45


def test_a_reversal_reuses_the_slot_its_own_exit_frees() -> None:
    # two slots, both taken from 01:00 (A and B long); A's reversal at 03:00 frees its
    # slot and the second call takes it again for the short
    rows, _ = trades(market(2), signals({(0, 0): 1, (1, 0): 1, (0, 2): -1}, 2), 2)
    assert ("A", at(3), at(5), "short", "time_exit") in rows


def test_pairs_with_open_trades_are_processed_before_the_pair_list() -> None:
    # one slot: B (second in the list) holds it from 01:00 and leaves by its time exit
    # at 03:00; A signals on candle 2. B is processed first, so its slot is free when
    # A's turn comes at 03:00: A enters at the hour, not at 03:15.
    rows, rejected = trades(market(2), signals({(1, 0): 1, (0, 2): 1}, 2), 1)
    assert rows == [
        ("B", at(1), at(3), "long", "time_exit"),
        ("A", at(3), at(5), "long", "time_exit"),
    ]
    assert rejected == 0


def test_no_entry_on_the_last_candle_and_open_trades_force_exit_at_its_open() -> None:
    # a signal on candle 5 would enter at 06:00, the backtest's last candle: no entry.
    # A short from candle 4 (05:00) is still open at 06:00: force exit at that open.
    rows, _ = trades(market(2), signals({(0, 5): 1, (1, 4): -1}, 2), 3)
    assert rows == [("B", at(5), at(6), "short", "force_exit")]


def test_trade_returns_and_metrics_of_the_table() -> None:
    m = market(1, dips=((0, 1, 1),))
    s = signals({(0, 0): 1}, 1)
    run = simulator.simulate_portfolio(m, s, PARAMS, start=T0, end=END, max_open_trades=1)
    table = simulator.trades_table(m, s, run, leverage=1.0, stake=100.0)
    # long 100 -> stop 98.00, no fee: -2 %; 100 of stake loses 2
    assert table["trade_net_return"].tolist() == pytest.approx([-0.02])
    assert table["profit_abs"].tolist() == pytest.approx([-2.0])
    folds = walk_forward_folds(T0, T0 + 2 * pd.Timedelta(days=1), test_days=1)
    period, per_fold = simulator.simulated_metrics(
        table, start=T0, end=END, start_equity=1000.0, stake=100.0, leverage=1.0, folds=folds
    )
    assert period.trades == 1 and period.total_return.value == pytest.approx(-0.002)
    assert [f.trades for f in per_fold] == [1, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": T0 + QUARTER}, "start .* is not a 1h candle"),  # off the hourly grid
        ({"end": T0 + 20 * HOUR}, "end .* is not a 1h candle"),  # past the market
        ({"max_open_trades": 0}, "max_open_trades must be >= 1"),
        ({"end": T0}, "empty timerange"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    args = {"start": T0, "end": END, "max_open_trades": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        simulator.simulate_portfolio(market(1), signals({}, 1), PARAMS, **args)


def test_a_missing_sub_candle_is_refused_with_the_pair_and_time() -> None:
    m = market(2)
    m.present[1, 4 * 2 + 3] = False
    with pytest.raises(ValueError, match=r"B: no 15m candle at 2025-01-01 02:45"):
        simulator.simulate_portfolio(
            m, signals({}, 2), PARAMS, start=T0, end=END, max_open_trades=1
        )


# ----------------------------------------------------------------------------- gates
def _frame(**columns: list) -> pd.DataFrame:
    base = {
        "primary_long": [True], "primary_short": [False], "volume": [1.0],
        "candle_ok": [True], "regime_ok_long": [True], "regime_ok_short": [True],
    }  # fmt: skip
    return pd.DataFrame({**base, **columns})


@pytest.mark.parametrize(
    ("columns", "mode", "expected"),
    [
        ({}, StrategyMode.PRIMARY_REGIME, 1),  # every gate open: long
        ({"regime_ok_long": [False]}, StrategyMode.PRIMARY_REGIME, 0),  # regime refuses
        ({"regime_ok_long": [False]}, StrategyMode.PRIMARY, 1),  # primary ignores regime
        ({"volume": [0.0]}, StrategyMode.PRIMARY, 0),  # a filled-in candle: no volume
        ({"candle_ok": [False]}, StrategyMode.PRIMARY_REGIME, 0),  # a broken candle
        ({"primary_long": [False], "primary_short": [True]}, StrategyMode.PRIMARY, -1),
        ({"meta_ok": [False]}, StrategyMode.META, 0),  # the model refuses
        ({"meta_ok": [True]}, StrategyMode.META, 1),
    ],
)
def test_entry_gates_are_the_strategy_s(columns: dict, mode: StrategyMode, expected: int) -> None:
    got = simulator.entry_directions(_frame(**columns), mode, exit_on_reversal=True)
    assert got.tolist() == [expected]


def test_meta_mode_without_meta_ok_is_refused() -> None:
    with pytest.raises(ValueError, match="meta_ok"):
        simulator.entry_directions(_frame(), StrategyMode.META, exit_on_reversal=True)


# ----------------------------------------------------------------------------- agreement
def _table(*rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["pair", "open_date", "is_short", "close_date", "exit_reason", "r"]
    )
    return frame.assign(trade_net_return=frame["r"], profit_ratio=2 * frame["r"], leverage=2.0)


def test_agreement_classifies_each_trade() -> None:
    ours = _table(
        ("A", at(1), False, at(2), "roi", 0.03),  # identical
        ("A", at(3), True, at(4), "stop_loss", -0.02),  # closes elsewhere in freqtrade
        ("B", at(1), False, at(2), "roi", 0.03),  # freqtrade did not make it
    )
    theirs = _table(
        ("A", at(1), False, at(2), "roi", 0.03),
        ("A", at(3), True, at(5), "time_exit", -0.01),
        ("B", at(4), False, at(5), "roi", 0.03),  # we did not make it
    )
    agreement = simulator.compare_with_freqtrade(ours, theirs)
    assert agreement.rows["status"].tolist() == ["identical", "extra", "other_exit", "missing"]
    assert (agreement.identical, agreement.other_exit, agreement.missing, agreement.extra) == (
        1, 1, 1, 1,
    )  # fmt: skip
    assert agreement.identical_ratio == pytest.approx(1 / 3)
    assert not agreement.target_met
    assert agreement.simulated_net_return - agreement.freqtrade_net_return == pytest.approx(-0.01)
    assert "sim_identical_ratio=0.3333" in agreement.lines()


def test_a_freqtrade_backtest_without_trades_is_compared_too() -> None:
    ours = _table(("A", at(1), False, at(2), "roi", 0.03))
    agreement = simulator.compare_with_freqtrade(ours, pd.DataFrame())  # exported: no columns
    assert (agreement.freqtrade_trades, agreement.extra, agreement.identical) == (0, 1, 0)
    assert agreement.freqtrade_net_return == 0.0


# ----------------------------------------------------------------------------- freqtrade
@pytest.mark.slow
@pytest.mark.parametrize(
    "overlay",
    [
        None,  # the config's 3 slots: with two pairs they never bind
        {"max_open_trades": 1},  # one slot: refusals, mid-hour entries when it frees
    ],
)
def test_simulated_trades_equal_a_real_freqtrade_backtest(
    tmp_path: Path, overlay: dict | None
) -> None:
    from metalabel.ops.bench_research import freqtrade_agreement

    agreement = freqtrade_agreement("20250101-20250701", workdir=tmp_path, overlay=overlay)
    differing = agreement.rows[agreement.rows["status"] != "identical"]
    assert agreement.freqtrade_trades > 200
    assert agreement.identical_ratio >= simulator.TARGET_TRADE_MATCH, differing.to_string()
    assert abs(agreement.simulated_net_return - agreement.freqtrade_net_return) < 1e-3
