"""Triple-barrier labels = freqtrade's own trades. THE ONLY MODULE THAT READS THE FUTURE.

Every function here looks at candles after the one it labels; nothing here may be called
from signal, feature or strategy code that runs on live candles. A label answers "would
the trade the strategy makes on this signal have paid after costs?", so the labeller
replays the trade exactly as freqtrade 2026.9's backtester settles it with
``timeframe: 1h`` and ``timeframe_detail: 15m`` (``optimize/backtesting.py``,
``strategy/interface.py::should_exit``/``ft_stoploss_adjust``,
``persistence/trade_model.py::adjust_stop_loss``), walking the 15-minute sub-candles of
each hour. The measure of correctness is ``metalabel fidelity``: label vs freqtrade's
trade, trade by trade.

Rules (long; a short mirrors high/low, up/down):

* Entry: a signal on 1h candle T-1h (known at its close) enters at the OPEN of the first
  15m sub-candle of hour T, the trade's ``open_rate``. Funding settled at the entry time
  is charged (freqtrade runs the funding at every fill).
* Initial stop: ``open * (1 - sl)`` (freqtrade's static ``stoploss`` = sl x leverage, then
  the strategy's ``custom_stoploss`` after the fill), rounded UP to the tick.
* Every sub-candle, starting with the entry sub-candle itself, in freqtrade's order:

  1. at a whole hour, funding settled at that time is charged (both ends of the trade
     inclusive: an exit at the settlement sub-candle pays it);
  2. ``max_rate = max(max_rate, high)`` (BEFORE the stop logic, so a sub-candle's high
     can arm the trail that its own low then hits);
  3. only if the current stop is still below the low: the strategy's stop for a
     ``current_rate`` of the HIGH (fixed stop, tightened to ``max_rate * (1 - distance)``
     once ``max_rate >= open * (1 + activation)``) goes through freqtrade's arithmetic
     ``high * (1 - |r / leverage|)`` with ``r = (1 - stop / high) * leverage``, rounded
     UP to the tick, and replaces the stop only if higher (then it is "trailing");
  4. stop hit: ``stop >= low``; take-profit hit: the fee- and funding-inclusive margin
     ratio at the HIGH, rounded to 8 places, is strictly above the ROI ratio;
  5. the exit signal (reversal: the previous 1h candle had the opposite primary signal)
     or else ``custom_exit`` (time exit: held >= max_holding_candles hours);
  6. precedence: exit signal / time exit > stop (not trailing) > take-profit > trailing.

* Exit prices (then rounded to the NEAREST tick): exit signal and time exit: the
  sub-candle open. Stop: the stop, or the open when the sub-candle opened beyond it
  (gap); a trailing stop hit on the entry sub-candle: ``max(low, open * (1 - |r| /
  leverage))``. Take-profit: the price where the margin ratio equals the ROI ratio
  (funding included), clipped to the sub-candle's range, or the open when a later hour's
  first sub-candle opens beyond it.
* Net return (``trade_net_return``): freqtrade's profit ratio / leverage, i.e. relative
  to the entry value incl. its fee: long ``(x (1 - f) + funding) / (open (1 + f)) - 1``,
  short ``1 - (x (1 + f) - funding) / (open (1 - f))``; funding per unit is
  ``-sum(rate x mark open)`` for a long (a positive rate is paid), ``+`` for a short.
* ``net_return`` = ``trade_net_return`` - slippage on both fills (freqtrade's backtester
  has no slippage; the label is stricter): ``2 x base x clip(vol_scale, 0.5, 5)``.
  Label "take" iff ``net_return > 0``.
* No label (NaN): no event, an entry past the data, a path that reaches a sub-candle
  without 15m data (counted, never filled from 1h bars), or no exit within the horizon.

Worked example (long, leverage 2, fee 0.06 %, stop 2 %, trail 1 % after +1 %, tick 0.01):
entry at 100.00, stop 98.00. First sub-candle high 101.5, low 99.8: ``max_rate`` 101.5
arms the trail, the stop becomes ROUND_UP(100.485) = 100.49 >= low 99.8: a trailing
stop on the entry sub-candle, exit at ``max(99.8, 100 * (1 - 0.02 / 2)) = 99.80``,
``trade_net_return = 99.8 * 0.9994 / (100 * 1.0006) - 1 = -0.3197 %``. Had that
sub-candle's low been 97.9, the stop (98.00 >= 97.9) was hit before the trail could move:
a plain stop at 98.00. Had the same range come as the second sub-candle, the exit is at
the stop 100.49 (+0.369 %).

Known residuals (kept below 1 % of trades, named in ``metalabel fidelity``): freqtrade
rounds ratios in decimal arithmetic (``round(x, 8)``, FtPrecise) and the label in binary
floats, so a ratio within 1e-8 of the ROI threshold may fall the other way; entries that
freqtrade makes inside an hour (a slot freed mid-hour) are labelled from that sub-candle
when the fidelity check asks, but training labels assume the hour's open.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import IntEnum
from typing import NamedTuple, TypeVar, cast

import numba
import numpy as np
import pandas as pd
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from metalabel.config import CostSettings, ExitSettings
from metalabel.core.exits import ExitReason, margin_ratio, roi_for_price_move
from metalabel.core.precision import round_down_scaled, round_nearest_scaled, round_up_scaled

logger = logging.getLogger(__name__)

LABEL_TAKE = "take"
LABEL_SKIP = "skip"
DETAIL = pd.Timedelta(minutes=15)
HOUR = pd.Timedelta(hours=1)
SUB_CANDLES_PER_HOUR = 4
# Per-event slippage multiplier bounds (vol_scale is e.g. ATR / its rolling mean).
VOL_SCALE_MIN = 0.5
VOL_SCALE_MAX = 5.0


class ExitCode(IntEnum):
    """The kernel's exit codes; :attr:`reason` is freqtrade's ``exit_reason``."""

    NONE = 0  # no label: no event, or no exit within the horizon / the data
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    TIME_EXIT = 4
    REVERSAL = 5
    NO_DETAIL = 6  # the path reached a sub-candle without 15m data

    @property
    def reason(self) -> str | None:
        return _REASONS.get(self)


_REASONS = {
    ExitCode.STOP_LOSS: str(ExitReason.STOP_LOSS),
    ExitCode.TAKE_PROFIT: str(ExitReason.TAKE_PROFIT),
    ExitCode.TRAILING_STOP: str(ExitReason.TRAILING_STOP),
    ExitCode.TIME_EXIT: str(ExitReason.TIME_EXIT),
    ExitCode.REVERSAL: str(ExitReason.REVERSAL),
}
_STOP, _ROI, _TRAIL, _TIME, _REVERSAL, _NO_DETAIL = 1, 2, 3, 4, 5, 6
# 10**d for a tick of 10**-d, exact up to 1e22 (a table: pow() per trade was measurable)
_T = TypeVar("_T", bound=np.generic)
_POWERS_OF_TEN = np.array([10.0**d for d in range(23)])


class SimulatorParams(NamedTuple):
    """The exit policy and costs as the kernel reads them (freqtrade's own ratios)."""

    leverage: float
    fee_ratio: float
    initial_stop_ratio: float  # |static stoploss / leverage|, a price move
    stop_loss_ratio: float
    roi_ratio: float  # freqtrade's ROI: margin ratio of the take-profit move, fees in
    trailing_enabled: bool
    trailing_activation_ratio: float
    trailing_distance_ratio: float
    exit_on_reversal: bool
    time_exit_enabled: bool
    max_holding_ns: int
    horizon_ns: int


def simulator_params(
    exits: ExitSettings, costs: CostSettings, *, leverage: float
) -> SimulatorParams:
    """The kernel's parameters, computed with the strategy's own conversion functions
    (so the floats are bit-identical to what freqtrade receives from the strategy)."""
    hold = int(pd.Timedelta(hours=exits.max_holding_candles).value)
    return SimulatorParams(
        leverage=float(leverage),
        fee_ratio=costs.fee_ratio,
        initial_stop_ratio=abs(-margin_ratio(exits.stop_loss_ratio, leverage) / leverage),
        stop_loss_ratio=exits.stop_loss_ratio,
        roi_ratio=roi_for_price_move(exits.take_profit_ratio, leverage, costs.fee_ratio),
        trailing_enabled=exits.trailing_enabled,
        trailing_activation_ratio=exits.trailing_activation_ratio,
        trailing_distance_ratio=exits.trailing_distance_ratio,
        exit_on_reversal=exits.exit_on_reversal,
        time_exit_enabled=exits.time_exit_enabled,
        max_holding_ns=hold,
        horizon_ns=hold,
    )


class DetailPath(NamedTuple):
    """One pair's 15m sub-candles on a complete grid, with what each one sees."""

    time_ns: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    present: NDArray[np.bool_]  # False where the 15m candle is missing
    exit_long: NDArray[np.bool_]  # the previous 1h candle had a primary SHORT signal
    exit_short: NDArray[np.bool_]
    funding: NDArray[np.float64]  # rate x mark open settled at this sub-candle, else 0


class ExitArrays(NamedTuple):
    """Per event: where and how the simulated trade left (code NONE/NO_DETAIL: no label)."""

    exit_index: NDArray[np.int64]  # sub-candle of the exit, -1 where none
    exit_price: NDArray[np.float64]
    code: NDArray[np.int8]
    trade_net_return: NDArray[np.float64]
    funding_return: NDArray[np.float64]  # funding received (+) / paid (-) per entry value


def detail_path(
    frame: pd.DataFrame,
    detail: pd.DataFrame,
    *,
    funding: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
) -> DetailPath:
    """Align the 15m candles with the 1h frame's signals and the funding settlements.

    ``frame``: the 1h frame with ``date`` and ``primary_direction``; ``detail``: 15m
    candles (``date, open, high, low``); ``funding``: freqtrade's funding-rate candles
    (``date``, ``open`` = rate); ``mark``: 1h mark candles (``date``, ``open``). The
    sub-candles of hour H see the primary signal of the 1h candle H-1h (freqtrade shifts
    signals one candle). Funding is charged per unit as ``rate x mark open`` where both
    exist at a settlement time (freqtrade joins them on the date); without mark candles
    the 1h candle's open stands in for the mark price.
    """
    start = frame["date"].iloc[0]
    end = frame["date"].iloc[-1] + HOUR - DETAIL
    grid = pd.date_range(start, end, freq=DETAIL)
    sub = detail.set_index("date").reindex(grid)
    present = sub["open"].notna().to_numpy()
    direction = frame.set_index("date")["primary_direction"].fillna(0)
    previous = direction.shift(1).reindex(grid.floor(HOUR)).fillna(0).to_numpy()
    settlements = np.zeros(len(grid))
    if funding is not None and not funding.empty:
        prices = (mark if mark is not None and not mark.empty else frame)[["date", "open"]]
        joined = funding[["date", "open"]].merge(prices, on="date", suffixes=("_rate", "_mark"))
        per_unit = pd.Series(
            (joined["open_rate"] * joined["open_mark"]).to_numpy(), index=joined["date"]
        )
        settlements = per_unit.reindex(grid).fillna(0.0).to_numpy()
    return DetailPath(
        time_ns=grid.as_unit("ns").asi8.astype(np.int64),
        open=sub["open"].to_numpy(np.float64, na_value=np.nan),
        high=sub["high"].to_numpy(np.float64, na_value=np.nan),
        low=sub["low"].to_numpy(np.float64, na_value=np.nan),
        present=present,
        exit_long=previous < 0,
        exit_short=previous > 0,
        funding=settlements,
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _strategy_stop(open_rate: float, peak: float, is_short: bool, p: SimulatorParams) -> float:
    """The strategy's absolute stop (metalabel.core.exits.stop_price, same float ops)."""
    if is_short:
        stop = open_rate * (1 + p.stop_loss_ratio)
        if p.trailing_enabled and peak <= open_rate * (1 - p.trailing_activation_ratio):
            stop = min(stop, peak * (1 + p.trailing_distance_ratio))
    else:
        stop = open_rate * (1 - p.stop_loss_ratio)
        if p.trailing_enabled and peak >= open_rate * (1 + p.trailing_activation_ratio):
            stop = max(stop, peak * (1 - p.trailing_distance_ratio))
    return stop


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _placed_stop(
    stop: float, bound: float, is_short: bool, p: SimulatorParams
) -> tuple[float, float]:
    """``stoploss_from_absolute`` then ``adjust_stop_loss``: the stop freqtrade places for
    an absolute stop at ``current_rate = bound``, before its rounding to the tick (up for
    a long, down for a short); returns (price, ratio), ratio 0 = none."""
    ratio = 1 - stop / bound
    if is_short:
        ratio = -ratio
    ratio = max(ratio, 0.0) * p.leverage
    if ratio == 0.0 or not math.isfinite(ratio):
        return math.nan, 0.0
    moved = abs(ratio / p.leverage)
    return (bound * (1 + moved) if is_short else bound * (1 - moved)), ratio


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _simulate_one(
    path: DetailPath, e: int, is_short: bool, tick: int, p: SimulatorParams
) -> tuple[int, float, int, float, float]:
    n = path.open.shape[0]
    f = p.fee_ratio
    lev = p.leverage
    o_e = path.open[e]
    t_e = path.time_ns[e]
    open_value = o_e * (1 - f) if is_short else o_e * (1 + f)
    inv_value = 1.0 / open_value
    scale = _POWERS_OF_TEN[tick]
    initial = o_e * (1 + p.initial_stop_ratio) if is_short else o_e * (1 - p.initial_stop_ratio)
    stop = round_down_scaled(initial, scale) if is_short else round_up_scaled(initial, scale)
    stop_ratio = p.initial_stop_ratio * lev
    # after the fill freqtrade places the strategy's stop either way (a refresh); the
    # rounding is skipped when the unrounded price is the initial one, bit for bit
    refreshed, ratio = _placed_stop(_strategy_stop(o_e, o_e, is_short, p), o_e, is_short, p)
    if ratio != 0.0:
        if refreshed != initial:
            stop = (
                round_down_scaled(refreshed, scale)
                if is_short
                else round_up_scaled(refreshed, scale)
            )
        stop_ratio = ratio
    trailing = False
    peak = o_e
    paid = 0.0  # sum of rate x mark over the settlements so far
    # the arrays as locals: attribute access inside the loop cost a reference count each
    present, times, funding = path.present, path.time_ns, path.funding
    opens, highs, lows = path.open, path.high, path.low
    exits = path.exit_short if is_short else path.exit_long
    if is_short:
        fixed_stop = o_e * (1 + p.stop_loss_ratio)
        activation = o_e * (1 - p.trailing_activation_ratio)
    else:
        fixed_stop = o_e * (1 - p.stop_loss_ratio)
        activation = o_e * (1 + p.trailing_activation_ratio)
    # one exit point (a return inside the loop cost reference counting on every pass)
    out_j, out_x, out_code, out_net, out_funding = -1, math.nan, 0, math.nan, math.nan
    # unsigned indices: numba wraps a signed index around the array's end on every
    # access (three instructions each); an entry outside the path gives no exit
    for j in range(e if e >= 0 else n, n):
        u = np.uint64(j)
        if not present[u]:
            out_j, out_code = j, _NO_DETAIL
            break
        t = times[u]
        if t - t_e > p.horizon_ns:
            break
        paid += funding[u]
        funding_fees = paid if is_short else -paid
        o, h, lo = opens[u], highs[u], lows[u]
        peak = min(peak, lo) if is_short else max(peak, h)
        if (stop > h) if is_short else (stop < lo):  # not hit yet: the custom stop may move
            bound = lo if is_short else h
            # the strategy's stop (_strategy_stop, with its two prices computed once)
            wanted = fixed_stop
            if p.trailing_enabled:
                if is_short and peak <= activation:
                    wanted = min(wanted, peak * (1 + p.trailing_distance_ratio))
                elif not is_short and peak >= activation:
                    wanted = max(wanted, peak * (1 - p.trailing_distance_ratio))
            # the placed stop is within a few ulps of the wanted one: most sub-candles
            # are settled by this cheap test before the exact arithmetic
            near = (wanted < stop * (1 + 1e-12)) if is_short else (wanted > stop * (1 - 1e-12))
            if near:
                placed, ratio = _placed_stop(wanted, bound, is_short, p)
                # rounding to the tick never moves a price across a grid price, so a
                # price at or behind the current stop (on the grid) cannot replace it
                if ratio != 0.0 and ((placed < stop) if is_short else (placed > stop)):
                    placed = (
                        round_down_scaled(placed, scale)
                        if is_short
                        else round_up_scaled(placed, scale)
                    )
                    if (placed < stop) if is_short else (placed > stop):
                        stop, stop_ratio, trailing = placed, ratio, True
        stop_hit = (stop <= h) if is_short else (stop >= lo)
        roi_hit = False
        # freqtrade rounds the ratio to 8 places; far from the threshold it cannot matter,
        # so a cheap multiplication screens the sub-candles first
        best = lo if is_short else h
        if is_short:
            near_roi = (1 - (best * (1 + f) - funding_fees) * inv_value) * lev > p.roi_ratio - 1e-7
        else:
            near_roi = ((best * (1 - f) + funding_fees) * inv_value - 1) * lev > p.roi_ratio - 1e-7
        if near_roi:
            if is_short:
                best_ratio = (1 - (best * (1 + f) - funding_fees) / open_value) * lev
            else:
                best_ratio = ((best * (1 - f) + funding_fees) / open_value - 1) * lev
            roi_hit = np.round(best_ratio, 8) > p.roi_ratio
        signal = p.exit_on_reversal and exits[u]
        timed = p.time_exit_enabled and t - t_e >= p.max_holding_ns
        if not (signal or timed or stop_hit or roi_hit):
            continue
        dur_min = (t - t_e) // 60_000_000_000
        code = 0
        if signal:
            code, x = _REVERSAL, o
        elif timed:
            code, x = _TIME, o
        elif stop_hit and not trailing:
            code, x = _STOP, o if ((stop < lo) if is_short else (stop > h)) else stop
        elif roi_hit:
            code = _ROI
            alpha = (1 + f) if is_short else (1 - f)
            beta = -funding_fees if is_short else funding_fees
            adj = 1.0 + (p.roi_ratio / lev) / (-1.0 if is_short else 1.0)
            target = (adj * open_value - beta) / alpha
            beyond = (o < target) if is_short else (o > target)
            new_hour = dur_min > 0 and dur_min % 60 == 0  # a later hour's first sub-candle
            x = o if new_hour and beyond else min(max(target, lo), h)
        elif stop_hit:
            code = _TRAIL
            if (stop < lo) if is_short else (stop > h):
                x = o
            elif dur_min == 0:
                if is_short:
                    x = min(h, o * (1 + abs(stop_ratio) / lev))
                else:
                    x = max(lo, o * (1 - abs(stop_ratio) / lev))
            else:
                x = stop
        if code != 0:
            x = round_nearest_scaled(x, scale)
            if is_short:
                net = 1 - (x * (1 + f) - funding_fees) / open_value
            else:
                net = (x * (1 - f) + funding_fees) / open_value - 1
            out_j, out_x, out_code, out_net = j, x, code, net
            out_funding = funding_fees / open_value
            break
    return out_j, out_x, out_code, out_net, out_funding


# The per-trade step: (path, entry sub-candle, is_short, tick decimals, params) ->
# (exit sub-candle or -1, exit price, exit code, trade_net_return, funding_return).
# Compiled; callable from other compiled code that decides the entries itself (the
# portfolio simulator, :mod:`metalabel.evaluation.simulator`).
simulate_trade = _simulate_one


def _borrowed_typing(typingctx: object, array: types.Type) -> object:
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        view = context.make_array(array)(context, builder, value=args[0])
        view.meminfo = ir.Constant(view.meminfo.type, None)
        return view._getvalue()

    return array(array), codegen


# A view of an array that holds no reference (a null meminfo), for compiled code only.
# Numba counts references to arrays with atomic instructions: the per-trade step took and
# dropped one per path array, 14 atomics or about 90 ns a trade (more than a third of the
# labelling time). Views made once per call, while the caller's arguments keep the arrays
# alive, turn those into no-ops. A view must never reach Python or outlive the call.
_borrowed = cast(Callable[[NDArray[_T]], NDArray[_T]], intrinsic(_borrowed_typing))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _borrowed_path(path: DetailPath) -> DetailPath:
    return DetailPath(
        _borrowed(path.time_ns), _borrowed(path.open), _borrowed(path.high),
        _borrowed(path.low), _borrowed(path.present), _borrowed(path.exit_long),
        _borrowed(path.exit_short), _borrowed(path.funding),
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _simulate(
    path: DetailPath,
    entry: NDArray[np.int64],
    is_short: NDArray[np.bool_],
    tick: NDArray[np.int64],
    p: SimulatorParams,
) -> tuple[
    NDArray[np.int64], NDArray[np.float64], NDArray[np.int8], NDArray[np.float64],
    NDArray[np.float64],
]:  # fmt: skip
    m = entry.shape[0]
    # every element written once below (filling the arrays first was a second pass)
    exit_index = np.empty(m, dtype=np.int64)
    exit_price = np.empty(m)
    code = np.empty(m, dtype=np.int8)
    net = np.empty(m)
    funding = np.empty(m)
    n = path.open.shape[0]
    view = _borrowed_path(path)  # ``path`` (an argument) outlives the loop
    for k in range(m):
        e = entry[k]
        if e < 0 or e >= n or not path.present[e]:
            j, x, c, r, fr = -1, math.nan, 0, math.nan, math.nan
            if 0 <= e < n:
                c = _NO_DETAIL
        else:
            j, x, c, r, fr = _simulate_one(view, e, is_short[k], tick[k], p)
        exit_index[k], exit_price[k], code[k], net[k], funding[k] = j, x, c, r, fr
    return exit_index, exit_price, code, net, funding


def simulate_exits(
    path: DetailPath,
    entry_index: NDArray[np.int64],
    is_short: NDArray[np.bool_],
    tick_decimals: NDArray[np.int64],
    params: SimulatorParams,
) -> ExitArrays:
    """Simulate one independent trade per entry sub-candle (index into ``path``).

    ``tick_decimals``: the price tick of each trade as decimals (tick = 10**-d), as
    freqtrade's backtester derives it from the candles' digits month by month.
    """
    entry = np.ascontiguousarray(entry_index, dtype=np.int64)
    shorts = np.ascontiguousarray(is_short, dtype=np.bool_)
    ticks = np.ascontiguousarray(tick_decimals, dtype=np.int64)
    if ticks.size and (ticks.min() < 0 or ticks.max() >= len(_POWERS_OF_TEN)):
        raise ValueError(
            f"tick_decimals must be in [0, {len(_POWERS_OF_TEN) - 1}], "
            f"got {ticks.min()}..{ticks.max()}"
        )
    if not (entry.shape == shorts.shape == ticks.shape):
        raise ValueError(
            f"entry_index, is_short and tick_decimals differ in shape: "
            f"{entry.shape}, {shorts.shape}, {ticks.shape}"
        )
    return ExitArrays(*_simulate(path, entry, shorts, ticks, params))


def entry_sub_candles(frame: pd.DataFrame, path: DetailPath) -> NDArray[np.int64]:
    """For each 1h row, the sub-candle a signal on it enters at (the next hour's first
    15m candle), -1 past the data."""
    entry_ns = (frame["date"] + HOUR).dt.as_unit("ns").astype("int64").to_numpy()
    index = np.searchsorted(path.time_ns, entry_ns)
    found = (index < len(path.time_ns)) & (
        path.time_ns[np.minimum(index, len(path.time_ns) - 1)] == entry_ns
    )
    return np.where(found, index, -1).astype(np.int64)


def slippage_ratio(vol_scale: pd.Series | None, costs: CostSettings) -> NDArray[np.float64]:
    """Slippage of one fill per row: base x clip(vol_scale, 0.5, 5), NaN scale -> 1."""
    if vol_scale is None or not costs.slippage_volatility_scaled:
        n = 0 if vol_scale is None else len(vol_scale)
        return np.full(n, costs.base_slippage_ratio)
    scale = np.clip(vol_scale.fillna(1.0).to_numpy(np.float64), VOL_SCALE_MIN, VOL_SCALE_MAX)
    return np.asarray(costs.base_slippage_ratio * scale, dtype=np.float64)


def triple_barrier_labels(
    frame: pd.DataFrame,
    path: DetailPath,
    events: pd.Series,
    exits: ExitSettings,
    costs: CostSettings,
    *,
    leverage: float,
    tick_decimals: pd.Series,
    vol_scale: pd.Series | None = None,
) -> pd.DataFrame:
    """Label every event row of the 1h ``frame`` (``events``: +1 long, -1 short, 0 none).

    Returns, per 1h row: ``label`` ("take"/"skip"/NaN), ``net_return`` (after slippage),
    ``trade_net_return`` (freqtrade's costs only), ``funding_return``, ``barrier`` (the
    exit reason freqtrade writes, None without a label), ``exit_time``, ``exit_price``,
    and ``no_detail`` (True where the path lacked 15m candles).
    """
    direction = events.fillna(0).to_numpy()
    rows = np.flatnonzero(direction != 0)
    entry = entry_sub_candles(frame, path)[rows]
    result = simulate_exits(
        path,
        entry,
        direction[rows] < 0,
        tick_decimals.to_numpy(np.int64)[rows],
        simulator_params(exits, costs, leverage=leverage),
    )
    n = len(frame)
    slip = slippage_ratio(vol_scale, costs) if vol_scale is not None else None
    fill = np.full(n, costs.base_slippage_ratio) if slip is None or len(slip) != n else slip
    code = np.zeros(n, dtype=np.int8)
    code[rows] = result.code
    trade_net = np.full(n, np.nan)
    trade_net[rows] = result.trade_net_return
    funding = np.full(n, np.nan)
    funding[rows] = result.funding_return
    price = np.full(n, np.nan)
    price[rows] = result.exit_price
    exit_time = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    has_exit = (result.exit_index >= 0) & (result.code != _NO_DETAIL)
    exit_time.iloc[rows[has_exit]] = pd.to_datetime(
        path.time_ns[result.exit_index[has_exit]], utc=True
    )
    net = trade_net - 2 * fill
    labelled = np.isfinite(net)
    label = np.full(n, np.nan, dtype=object)
    label[labelled] = np.where(net[labelled] > 0, LABEL_TAKE, LABEL_SKIP)
    no_detail = code == _NO_DETAIL
    if no_detail.any():
        logger.warning(
            "%d signal(s) without a label: their path reaches hours without 15m candles",
            int(no_detail.sum()),
        )
    reasons = np.array([ExitCode(c).reason for c in range(len(ExitCode))], dtype=object)
    return pd.DataFrame(
        {
            "label": label,
            "net_return": np.where(labelled, net, np.nan),
            "trade_net_return": trade_net,
            "funding_return": funding,
            "barrier": reasons[code],
            "exit_time": exit_time,
            "exit_price": price,
            "no_detail": no_detail,
        },
        index=frame.index,
    )
