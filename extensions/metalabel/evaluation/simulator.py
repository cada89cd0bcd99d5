"""Portfolio trade simulator: freqtrade's backtest of the signals, fast enough to tune.

:mod:`metalabel.core.labels` settles ONE trade as freqtrade 2026.9's backtester does with
``timeframe_detail: 15m``. This module decides which trades happen: it replays
freqtrade's backtest loop (``optimize/backtesting.py::time_pair_generator``,
``backtest``, ``backtest_loop``) over every pair at once and hands each entry to the
label kernel's per-trade step (:data:`metalabel.core.labels.simulate_trade`), so a
research trial scores the trades freqtrade would make, in milliseconds.

Position rules replayed (read from freqtrade 2026.9 and confirmed by running it):

* The sub-candles of main hour ``H`` see the entry signal of the 1h candle ``H-1h``
  (freqtrade shifts signals one candle). The hours run from ``start + 1h`` to ``end``;
  the last hour has only its first sub-candle (the 15m data ends at ``end``), enters
  nothing, and what is still open is force-exited at its open (``force_exit``).
* At each sub-candle the pairs with open trades come first, in the order their trades
  opened, then the rest of the pair list: a slot freed by one pair's exit is free for
  the pairs after it in the same sub-candle.
* An entry needs a flat pair and a free slot (``max_open_trades``, shared by all pairs);
  it fills at the sub-candle's open and is checked for exits on that same sub-candle.
  A refused entry (no slot) is retried at each later sub-candle of the hour.
* A pair whose trade was open at the start of the hour (or seen open at an earlier
  sub-candle) is skipped for the rest of the hour once the trade closes. A trade that
  opens and closes on one sub-candle was never seen open: while the hour's signal
  stands, the pair enters again at the next sub-candle's open.
* Reversal: when a trade closes on a sub-candle whose hour carries the opposite entry
  signal, freqtrade calls the loop a second time and the new trade opens on the same
  sub-candle, at its open.
* Entry gates are the strategy's (:func:`entry_directions`): primary signal, volume,
  a sane candle and, in ``primary_regime`` / ``meta`` mode, the regime (plus
  ``meta_ok`` in ``meta``); an entry signal with the same hour's exit signal or the
  opposite entry is no entry (``check_for_trade_entry``).

Worked example (max_open_trades 1, pairs A then B, both with a long signal on the 1h
candle 12:00): at 13:00 A enters (first in the pair list) and B is refused. A's stop is
hit in the 13:15 sub-candle; A has the open trade, so it is processed before B and B
enters at the 13:15 open. Had A opened AND stopped out in the 13:00 sub-candle, A was
never seen open: A itself re-enters at 13:15 (first in the pair list), B stays out.

Not simulated: the risk desk (performance guard, kill switch, pre-trade daily-loss and
drawdown limits, pair locks) and position sizing. Trades are of equal stake: profits
are per-trade returns times a fixed stake. Compare with a freqtrade backtest where the
desk cannot interfere (guard and kill switch disabled) and compare per-trade returns,
since freqtrade's ``custom_stake_amount`` sizes by volatility.

Slippage: freqtrade's backtester has none; ``net_return`` subtracts the labels' slippage
(one fill at entry and one at exit, ``slippage`` of the signal candle), while
``trade_net_return`` is freqtrade's profit ratio / leverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metalabel.config import StrategyMode
from metalabel.core.labels import (
    SUB_CANDLES_PER_HOUR,
    DetailPath,
    ExitCode,
    SimulatorParams,
    simulate_trade,
)
from metalabel.core.precision import round_nearest_scaled
from metalabel.evaluation.folds import Fold
from metalabel.evaluation.metrics import PeriodMetrics, trade_fold_metrics, trade_metrics

FORCE_EXIT = "force_exit"
_FORCE = 7  # exit code of a trade still open at the end (not one of the label kernel's)
_NEVER_NS = np.iinfo(np.int64).max // 2  # no label horizon: the portfolio runs to its end
HOUR_NS = 3_600_000_000_000
SUB_NS = HOUR_NS // SUB_CANDLES_PER_HOUR
# Agreement with freqtrade: the share of its trades the simulator makes identically.
TARGET_TRADE_MATCH = 0.99


class Market(NamedTuple):
    """Every pair's 15m candles on one grid: what no trial changes.

    Sub-candle ``s`` belongs to hour ``s // 4`` of ``hour_ns``. Arrays are per pair
    (first axis, in the pair list's order, which is freqtrade's processing order).
    """

    pairs: tuple[str, ...]
    hour_ns: NDArray[np.int64]  # (H,) start of each 1h candle
    time_ns: NDArray[np.int64]  # (4H,)
    open: NDArray[np.float64]  # (P, 4H)
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    present: NDArray[np.bool_]  # False where the pair has no 15m candle
    funding: NDArray[np.float64]  # rate x mark settled at the sub-candle, per unit
    tick_decimals: NDArray[np.int64]  # (P, H) price tick of each hour (10**-d)


class Signals(NamedTuple):
    """What a trial's signal settings decide; cached while they stay the same."""

    enter: NDArray[np.int8]  # (P, H) entry on 1h candle h: +1 long, -1 short, 0 none
    exit_long: NDArray[np.bool_]  # (P, 4H) the sub-candle's hour exits longs (reversal)
    exit_short: NDArray[np.bool_]
    slippage: NDArray[np.float64]  # (P, H) one fill's slippage of a signal on candle h


class PortfolioRun(NamedTuple):
    """The simulator's raw trades (indices into the market's grid) and refusals."""

    pair: NDArray[np.int64]
    entry: NDArray[np.int64]  # sub-candle of the entry
    exit: NDArray[np.int64]  # sub-candle of the exit
    is_short: NDArray[np.bool_]
    code: NDArray[np.int8]  # ExitCode, or 7 = force exit at the end
    open_rate: NDArray[np.float64]
    close_rate: NDArray[np.float64]
    trade_net_return: NDArray[np.float64]
    funding_return: NDArray[np.float64]
    signal_hour: NDArray[np.int64]  # the 1h candle whose signal opened the trade
    rejected: int  # entry attempts refused for want of a slot (freqtrade's count)


# ----------------------------------------------------------------------------- inputs
def build_market(
    pairs: Sequence[str],
    frames: Sequence[pd.DataFrame],
    paths: Sequence[DetailPath],
    tick_decimals: Sequence[pd.Series],
) -> Market:
    """Put each pair's :class:`DetailPath` (from ``labels.detail_path`` over its 1h
    ``frame``) and its per-row tick decimals on one hourly grid covering all pairs."""
    if not (len(pairs) == len(frames) == len(paths) == len(tick_decimals)) or not pairs:
        raise ValueError("need one frame, path and tick series per pair, and a pair")
    starts = [int(p.time_ns[0]) for p in paths]
    ends = [int(p.time_ns[-1]) for p in paths]
    first = min(starts) - min(starts) % HOUR_NS
    n_hours = (max(ends) - first) // HOUR_NS + 1
    hour_ns = first + np.arange(n_hours, dtype=np.int64) * HOUR_NS
    time_ns = first + np.arange(n_hours * SUB_CANDLES_PER_HOUR, dtype=np.int64) * SUB_NS
    shape = (len(pairs), len(time_ns))
    prices = {name: np.full(shape, np.nan) for name in ("open", "high", "low")}
    present = np.zeros(shape, dtype=np.bool_)
    funding = np.zeros(shape)
    ticks = np.zeros((len(pairs), n_hours), dtype=np.int64)
    for k, (pair, frame, path, tick) in enumerate(
        zip(pairs, frames, paths, tick_decimals, strict=True)
    ):
        if (path.time_ns[0] - first) % SUB_NS or np.any(np.diff(path.time_ns) != SUB_NS):
            raise ValueError(f"{pair}: the detail path is not a 15m grid")
        at = int((path.time_ns[0] - first) // SUB_NS)
        span = slice(at, at + len(path.time_ns))
        for name in prices:
            prices[name][k, span] = getattr(path, name)
        present[k, span] = path.present
        funding[k, span] = path.funding
        rows = _hour_index(hour_ns, frame["date"], pair)
        ticks[k, rows] = np.asarray(tick, dtype=np.int64)
    return Market(
        tuple(pairs), hour_ns, time_ns, prices["open"], prices["high"], prices["low"],
        present, funding, ticks,
    )  # fmt: skip


def _hour_index(hour_ns: NDArray[np.int64], dates: pd.Series, pair: str) -> NDArray[np.int64]:
    ns = dates.dt.as_unit("ns").astype("int64").to_numpy()
    rows = np.searchsorted(hour_ns, ns)
    if np.any(rows >= len(hour_ns)) or np.any(hour_ns[np.minimum(rows, len(hour_ns) - 1)] != ns):
        raise ValueError(f"{pair}: 1h candle dates are not on the hourly grid of the market")
    index: NDArray[np.int64] = rows.astype(np.int64)
    return index


def entry_directions(
    frame: pd.DataFrame, mode: StrategyMode, *, exit_on_reversal: bool
) -> NDArray[np.int8]:
    """The strategy's entry per 1h candle (``populate_entry_trend``, then freqtrade's
    ``check_for_trade_entry``): +1 long, -1 short, 0 none.

    Gates: ``primary_<side>``, ``volume > 0``, ``candle_ok``; ``regime_ok_<side>`` in
    ``primary_regime`` and ``meta`` mode; ``meta_ok`` in ``meta`` mode. An entry with
    the same candle's exit signal (the opposite primary signal, with reversal exits) or
    the opposite entry is none.
    """
    gates = {}
    for side in ("long", "short"):
        gate = frame[f"primary_{side}"].fillna(False).astype(bool) & (frame["volume"] > 0)
        gate &= frame["candle_ok"].fillna(False).astype(bool)
        if mode in (StrategyMode.PRIMARY_REGIME, StrategyMode.META):
            gate &= frame[f"regime_ok_{side}"].fillna(False).astype(bool)
        if mode is StrategyMode.META:
            if "meta_ok" not in frame.columns:
                raise ValueError("meta mode needs the frame's meta_ok column")
            gate &= frame["meta_ok"].fillna(False).astype(bool)
        gates[side] = gate.to_numpy(dtype=bool)
    exit_long = exit_short = np.zeros(len(frame), dtype=bool)
    if exit_on_reversal:
        exit_long = frame["primary_short"].fillna(False).to_numpy(dtype=bool)
        exit_short = frame["primary_long"].fillna(False).to_numpy(dtype=bool)
    long = gates["long"] & ~(exit_long | gates["short"])
    short = gates["short"] & ~(exit_short | gates["long"])
    directions: NDArray[np.int8] = (long.astype(np.int8) - short.astype(np.int8)).astype(np.int8)
    return directions


def build_signals(
    market: Market,
    frames: Sequence[pd.DataFrame],
    mode: StrategyMode,
    *,
    exit_on_reversal: bool,
    slippage: Sequence[NDArray[np.float64]] | None = None,
) -> Signals:
    """Entry and exit signals of each pair on the market's grid (``frames`` in the
    market's pair order, with the signal and regime columns of ``pipeline.with_signals``;
    ``slippage``: one fill's slippage per 1h row, e.g. ``labels.slippage_ratio``)."""
    if len(frames) != len(market.pairs):
        raise ValueError(f"{len(frames)} frames for {len(market.pairs)} pairs")
    n_pairs, n_hours = len(market.pairs), len(market.hour_ns)
    enter = np.zeros((n_pairs, n_hours), dtype=np.int8)
    direction = np.zeros((n_pairs, n_hours), dtype=np.float64)
    slip = np.zeros((n_pairs, n_hours))
    for k, frame in enumerate(frames):
        rows = _hour_index(market.hour_ns, frame["date"], market.pairs[k])
        enter[k, rows] = entry_directions(frame, mode, exit_on_reversal=exit_on_reversal)
        direction[k, rows] = frame["primary_direction"].fillna(0).to_numpy(np.float64)
        if slippage is not None:
            slip[k, rows] = slippage[k]
    # the sub-candles of hour h see candle h-1's signal (freqtrade's shift)
    previous = np.zeros_like(direction)
    previous[:, 1:] = direction[:, :-1]
    per_sub = np.repeat(previous, SUB_CANDLES_PER_HOUR, axis=1)
    return Signals(enter, per_sub < 0, per_sub > 0, slip)


# ----------------------------------------------------------------------------- kernel
@numba.njit(cache=True, nogil=True)
def _pair_path(
    time_ns: NDArray[np.int64],
    open_: NDArray[np.float64],
    high: NDArray[np.float64],
    low: NDArray[np.float64],
    present: NDArray[np.bool_],
    exit_long: NDArray[np.bool_],
    exit_short: NDArray[np.bool_],
    funding: NDArray[np.float64],
    k: int,
    n: int,
) -> DetailPath:
    """Pair ``k``'s path up to (not including) sub-candle ``n``: views, no copies."""
    return DetailPath(
        time_ns[:n], open_[k, :n], high[k, :n], low[k, :n], present[k, :n],
        exit_long[k, :n], exit_short[k, :n], funding[k, :n],
    )  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _portfolio(
    time_ns: NDArray[np.int64],
    open_: NDArray[np.float64],
    high: NDArray[np.float64],
    low: NDArray[np.float64],
    present: NDArray[np.bool_],
    funding: NDArray[np.float64],
    exit_long: NDArray[np.bool_],
    exit_short: NDArray[np.bool_],
    enter: NDArray[np.int8],
    tick: NDArray[np.int64],
    h_first: int,
    h_last: int,
    max_open: int,
    p: SimulatorParams,
) -> tuple[
    NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_],
    NDArray[np.int8], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
    NDArray[np.float64], NDArray[np.int64], int,
]:  # fmt: skip
    n_pairs = open_.shape[0]
    last_sub = SUB_CANDLES_PER_HOUR * h_last  # the last hour's only sub-candle
    n_sub = last_sub + 1
    # every sub-candle can close one trade and open two (reversal) per pair
    cap = 2 * n_pairs * (SUB_CANDLES_PER_HOUR * (h_last - h_first) + 1) + 2
    o_pair = np.empty(cap, np.int64)
    o_entry = np.empty(cap, np.int64)
    o_exit = np.empty(cap, np.int64)
    o_short = np.empty(cap, np.bool_)
    o_code = np.empty(cap, np.int8)
    o_open = np.empty(cap, np.float64)
    o_close = np.empty(cap, np.float64)
    o_net = np.empty(cap, np.float64)
    o_fund = np.empty(cap, np.float64)
    o_signal = np.empty(cap, np.int64)
    n_trades = 0
    # the open trade of each pair (one at most) and the pairs in trade-opening order
    is_open = np.zeros(n_pairs, np.bool_)
    t_short = np.zeros(n_pairs, np.bool_)
    t_entry = np.zeros(n_pairs, np.int64)
    t_exit = np.zeros(n_pairs, np.int64)
    t_code = np.zeros(n_pairs, np.int8)
    t_close = np.zeros(n_pairs, np.float64)
    t_net = np.zeros(n_pairs, np.float64)
    t_fund = np.zeros(n_pairs, np.float64)
    t_signal = np.zeros(n_pairs, np.int64)
    t_tick = np.zeros(n_pairs, np.int64)
    opened = np.empty(n_pairs, np.int64)
    n_open = 0
    seen = np.zeros(n_pairs, np.bool_)  # freqtrade's pairs_with_open_trades of the hour
    detail = np.zeros(n_pairs, np.bool_)  # the pair's sub-candles are walked this hour
    visit = np.empty(n_pairs, np.int64)
    rejected = 0
    for h in range(h_first, h_last + 1):
        for k in range(n_pairs):
            seen[k] = is_open[k]
            detail[k] = False
        steps = 1 if h == h_last else SUB_CANDLES_PER_HOUR
        for idx in range(steps):
            s = SUB_CANDLES_PER_HOUR * h + idx
            m = 0
            for i in range(n_open):  # pairs with open trades first, then the pair list
                visit[m] = opened[i]
                m += 1
            for k in range(n_pairs):
                if not is_open[k]:
                    visit[m] = k
                    m += 1
            can_enter = h != h_last
            for i in range(m):
                k = visit[i]
                d = enter[k, h - 1]
                if idx > 0 and not detail[k]:
                    continue
                if seen[k] and not is_open[k]:
                    continue  # closed during this hour: out until the next one
                if is_open[k]:
                    seen[k] = True
                if idx == 0 and (d != 0 or is_open[k]):
                    detail[k] = True
                for _call in range(2):  # freqtrade's backtest(): a 2nd call on reversal
                    exiting = 0
                    if is_open[k]:
                        exiting = -1 if t_short[k] else 1
                    if can_enter and d != 0 and not is_open[k]:
                        if n_open < max_open:
                            path = _pair_path(
                                time_ns, open_, high, low, present, exit_long, exit_short,
                                funding, k, n_sub,
                            )  # fmt: skip
                            j, x, c, r, fr = simulate_trade(path, s, d < 0, tick[k, h], p)
                            is_open[k] = True
                            t_short[k] = d < 0
                            t_entry[k] = s
                            t_exit[k] = j  # -1: still open at the end
                            t_code[k] = c
                            t_close[k] = x
                            t_net[k] = r
                            t_fund[k] = fr
                            t_signal[k] = h - 1
                            t_tick[k] = tick[k, h]
                            opened[n_open] = k
                            n_open += 1
                        else:
                            rejected += 1
                    if is_open[k] and t_exit[k] == s:
                        o_pair[n_trades] = k
                        o_entry[n_trades] = t_entry[k]
                        o_exit[n_trades] = s
                        o_short[n_trades] = t_short[k]
                        o_code[n_trades] = t_code[k]
                        o_open[n_trades] = open_[k, t_entry[k]]
                        o_close[n_trades] = t_close[k]
                        o_net[n_trades] = t_net[k]
                        o_fund[n_trades] = t_fund[k]
                        o_signal[n_trades] = t_signal[k]
                        n_trades += 1
                        is_open[k] = False
                        w = 0
                        for i2 in range(n_open):
                            if opened[i2] != k:
                                opened[w] = opened[i2]
                                w += 1
                        n_open = w
                    closed_dir = exiting if (exiting != 0 and not is_open[k]) else 0
                    if d == 0 or closed_dir == 0 or closed_dir == d:
                        break
    # force exit at the open of the last hour of what is still open
    f = p.fee_ratio
    for i in range(n_open):
        k = opened[i]
        e = t_entry[k]
        paid = 0.0
        for j in range(e, n_sub):
            paid += funding[k, j]
        o_e = open_[k, e]
        x = round_nearest_scaled(open_[k, last_sub], 10.0 ** t_tick[k])
        if t_short[k]:
            open_value = o_e * (1 - f)
            fees = paid
            net = 1 - (x * (1 + f) - fees) / open_value
        else:
            open_value = o_e * (1 + f)
            fees = -paid
            net = (x * (1 - f) + fees) / open_value - 1
        o_pair[n_trades] = k
        o_entry[n_trades] = e
        o_exit[n_trades] = last_sub
        o_short[n_trades] = t_short[k]
        o_code[n_trades] = _FORCE
        o_open[n_trades] = o_e
        o_close[n_trades] = x
        o_net[n_trades] = net
        o_fund[n_trades] = fees / open_value
        o_signal[n_trades] = t_signal[k]
        n_trades += 1
    n = n_trades
    return (
        o_pair[:n], o_entry[:n], o_exit[:n], o_short[:n], o_code[:n], o_open[:n],
        o_close[:n], o_net[:n], o_fund[:n], o_signal[:n], rejected,
    )  # fmt: skip


def simulate_portfolio(
    market: Market,
    signals: Signals,
    params: SimulatorParams,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    max_open_trades: int,
) -> PortfolioRun:
    """Replay freqtrade's backtest of ``signals`` over the timerange ``start``-``end``.

    ``start``/``end`` are freqtrade's: the first and last 1h candle of the backtest
    (``--timerange 20250101-20250701`` gives 2025-01-01 00:00 and 2025-07-01 00:00).
    The first trade can enter at ``start + 1h`` on ``start``'s signal.
    """
    if max_open_trades < 1:
        raise ValueError(f"max_open_trades must be >= 1, got {max_open_trades}")
    h_first = _hour_of(market, start, "start") + 1
    h_last = _hour_of(market, end, "end")
    if h_last < h_first:
        raise ValueError(f"empty timerange: {start} to {end}")
    walked = slice(SUB_CANDLES_PER_HOUR * h_first, SUB_CANDLES_PER_HOUR * h_last + 1)
    missing = ~market.present[:, walked]
    if missing.any():
        k, s = np.argwhere(missing)[0]
        when = pd.Timestamp(int(market.time_ns[walked][s]), tz="UTC")
        raise ValueError(
            f"{market.pairs[k]}: no 15m candle at {when}; the simulator needs every "
            "sub-candle of the timerange (freqtrade fills gaps when it loads them)"
        )
    run = _portfolio(
        market.time_ns, market.open, market.high, market.low, market.present,
        market.funding, signals.exit_long, signals.exit_short, signals.enter,
        market.tick_decimals, h_first, h_last, int(max_open_trades),
        params._replace(horizon_ns=_NEVER_NS),
    )  # fmt: skip
    return PortfolioRun(*run)


def _hour_of(market: Market, moment: pd.Timestamp, name: str) -> int:
    ns = pd.Timestamp(moment).as_unit("ns").value
    h = int(np.searchsorted(market.hour_ns, ns))
    if h >= len(market.hour_ns) or market.hour_ns[h] != ns:
        raise ValueError(f"{name} {moment} is not a 1h candle of the market")
    return h


# ----------------------------------------------------------------------------- outputs
def _reason(code: int) -> str:
    return FORCE_EXIT if code == _FORCE else str(ExitCode(code).reason)


_REASON_BY_CODE = np.array([_reason(c) if c else "" for c in range(_FORCE + 1)], dtype=object)


def trades_table(
    market: Market, signals: Signals, run: PortfolioRun, *, leverage: float, stake: float
) -> pd.DataFrame:
    """The run's trades in freqtrade's trades-table layout, in closing order.

    ``profit_ratio`` is freqtrade's (return on margin, no slippage), ``profit_abs`` a
    fixed margin ``stake`` times it; ``net_return`` is after the slippage of both fills.
    """
    slip = signals.slippage[run.pair, run.signal_hour]
    ratio = run.trade_net_return * leverage
    return pd.DataFrame(
        {
            "pair": np.asarray(market.pairs, dtype=object)[run.pair],
            "open_date": pd.to_datetime(market.time_ns[run.entry], utc=True),
            "close_date": pd.to_datetime(market.time_ns[run.exit], utc=True),
            "is_short": run.is_short,
            "exit_reason": _REASON_BY_CODE[run.code],
            "open_rate": run.open_rate,
            "close_rate": run.close_rate,
            "trade_net_return": run.trade_net_return,
            "funding_return": run.funding_return,
            "net_return": run.trade_net_return - 2 * slip,
            "profit_ratio": ratio,
            "profit_abs": ratio * stake,
            "leverage": leverage,
        }
    )


def simulated_metrics(
    trades: pd.DataFrame,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    start_equity: float,
    stake: float,
    leverage: float,
    folds: Sequence[Fold] = (),
    with_slippage: bool = True,
) -> tuple[PeriodMetrics, list[PeriodMetrics]]:
    """Period and fold metrics (:mod:`metalabel.evaluation.metrics`) of equal-stake
    trades; with slippage the profits are from ``net_return`` (the research score),
    without, freqtrade's ``profit_ratio``."""
    if with_slippage:
        ratio = trades["net_return"] * leverage
        trades = trades.assign(profit_ratio=ratio, profit_abs=ratio * stake)
    period = trade_metrics(trades, start=start, end=end, start_equity=start_equity)
    return period, trade_fold_metrics(trades, folds, start_equity) if folds else []


# ----------------------------------------------------------------------------- agreement
MATCH_KEYS = ["pair", "open_date", "is_short"]


@dataclass(frozen=True)
class Agreement:
    """The simulator's trades against freqtrade's, trade by trade.

    A freqtrade trade is *identical* when the simulator made a trade on the same pair,
    side and open time that closed at the same time with the same reason. ``missing``:
    freqtrade entries the simulator did not make; ``extra``: the reverse.
    """

    freqtrade_trades: int
    simulated_trades: int
    identical: int
    missing: int
    extra: int
    other_exit: int
    freqtrade_net_return: float  # sum of profit_ratio / leverage
    simulated_net_return: float  # sum of trade_net_return
    rows: pd.DataFrame = field(repr=False)

    @property
    def identical_ratio(self) -> float:
        return self.identical / self.freqtrade_trades if self.freqtrade_trades else math.nan

    @property
    def target_met(self) -> bool:
        return self.identical_ratio >= TARGET_TRADE_MATCH

    def lines(self) -> list[str]:
        """``key=value`` lines for the CLI and test logs."""
        return [
            f"sim_freqtrade_trades={self.freqtrade_trades}",
            f"sim_simulated_trades={self.simulated_trades}",
            f"sim_identical={self.identical}",
            f"sim_identical_ratio={self.identical_ratio:.4f}",
            f"sim_missing={self.missing}",
            f"sim_extra={self.extra}",
            f"sim_other_exit={self.other_exit}",
            f"sim_freqtrade_net_return={self.freqtrade_net_return:.6f}",
            f"sim_simulated_net_return={self.simulated_net_return:.6f}",
            f"sim_net_return_diff={self.simulated_net_return - self.freqtrade_net_return:.6f}",
            f"sim_target_met={str(self.target_met).lower()}",
        ]


def compare_with_freqtrade(simulated: pd.DataFrame, freqtrade: pd.DataFrame) -> Agreement:
    """Match :func:`trades_table` rows with freqtrade's trades (``load_backtest_data``)
    on pair, side and open time; ``rows`` is the outer join with a ``status`` column:
    ``identical``, ``other_exit``, ``missing`` (freqtrade only), ``extra`` (ours only)."""
    ours = simulated[[*MATCH_KEYS, "close_date", "exit_reason", "trade_net_return"]]
    if freqtrade.empty:  # a backtest without trades exports no columns at all
        freqtrade = pd.DataFrame(
            columns=[*MATCH_KEYS, "close_date", "exit_reason", "profit_ratio", "leverage"]
        ).astype({"profit_ratio": "float64", "leverage": "float64"})
    theirs = freqtrade.assign(trade_net_return=freqtrade["profit_ratio"] / freqtrade["leverage"])[
        [*MATCH_KEYS, "close_date", "exit_reason", "trade_net_return"]
    ]
    rows = theirs.merge(
        ours, on=MATCH_KEYS, how="outer", suffixes=("_ft", "_sim"), indicator=True
    ).sort_values(["open_date", "pair"], ignore_index=True)
    same = (rows["close_date_ft"] == rows["close_date_sim"]) & (
        rows["exit_reason_ft"] == rows["exit_reason_sim"]
    )
    both = rows["_merge"] == "both"
    rows["status"] = np.select(
        [both & same, both, rows["_merge"] == "left_only"],
        ["identical", "other_exit", "missing"],
        default="extra",
    )
    rows = rows.drop(columns="_merge")
    counts = rows["status"].value_counts()
    return Agreement(
        freqtrade_trades=len(freqtrade),
        simulated_trades=len(simulated),
        identical=int(counts.get("identical", 0)),
        missing=int(counts.get("missing", 0)),
        extra=int(counts.get("extra", 0)),
        other_exit=int(counts.get("other_exit", 0)),
        freqtrade_net_return=float(theirs["trade_net_return"].sum()),
        simulated_net_return=float(ours["trade_net_return"].sum()),
        rows=rows,
    )
