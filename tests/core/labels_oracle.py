"""A plain-Python oracle of the labeller, built from freqtrade's own helpers.

It follows the rules of :mod:`metalabel.core.labels` step by step with freqtrade's
``stoploss_from_absolute``, ``price_to_precision`` (decimal rounding) and the strategy's
``stop_price``, one event at a time, so the compiled kernel is checked against code that
shares none of its arithmetic shortcuts (numba, the error-free product rounding).
"""

from __future__ import annotations

import math

import numpy as np
from freqtrade.exchange.exchange_utils import (
    ROUND,
    ROUND_DOWN,
    ROUND_UP,
    TICK_SIZE,
    price_to_precision,
)
from freqtrade.strategy import stoploss_from_absolute

from metalabel.config import ExitSettings
from metalabel.core.exits import stop_price
from metalabel.core.labels import DetailPath, ExitCode, SimulatorParams


def _round(price: float, decimals: int, mode: int) -> float:
    return price_to_precision(price, 10.0**-decimals, TICK_SIZE, rounding_mode=mode)


def oracle_exit(
    path: DetailPath, e: int, is_short: bool, decimals: int, p: SimulatorParams
) -> tuple[int, float, ExitCode, float]:
    """(exit sub-candle, exit price, code, trade net return) of one trade."""
    exits = ExitSettings(
        stop_loss_ratio=p.stop_loss_ratio,
        take_profit_ratio=0.03,  # unused: the ROI ratio comes in p.roi_ratio
        trailing_enabled=p.trailing_enabled,
        trailing_activation_ratio=p.trailing_activation_ratio,
        trailing_distance_ratio=p.trailing_distance_ratio,
    )
    lev, f = p.leverage, p.fee_ratio
    stop_mode = ROUND_DOWN if is_short else ROUND_UP
    side = -1 if is_short else 1
    if not path.present[e]:
        return -1, math.nan, ExitCode.NO_DETAIL, math.nan
    o_e, t_e = float(path.open[e]), int(path.time_ns[e])
    open_value = o_e * (1 - f) if is_short else o_e * (1 + f)

    def place(absolute: float, bound: float) -> tuple[float, float]:
        ratio = stoploss_from_absolute(absolute, bound, is_short=is_short, leverage=lev)
        if not ratio:
            return math.nan, 0.0
        moved = bound * (1 + abs(ratio / lev)) if is_short else bound * (1 - abs(ratio / lev))
        return _round(moved, decimals, stop_mode), ratio

    initial = o_e * (1 + p.initial_stop_ratio) if is_short else o_e * (1 - p.initial_stop_ratio)
    stop, stop_ratio = _round(initial, decimals, stop_mode), p.initial_stop_ratio * lev
    placed, ratio = place(stop_price(o_e, o_e, is_short=is_short, exits=exits), o_e)
    if ratio:
        stop, stop_ratio = placed, ratio
    trailing, peak, paid = False, o_e, 0.0
    for j in range(e, len(path.open)):
        if not path.present[j]:
            return j, math.nan, ExitCode.NO_DETAIL, math.nan
        t = int(path.time_ns[j])
        if t - t_e > p.horizon_ns:
            return -1, math.nan, ExitCode.NONE, math.nan
        paid += float(path.funding[j])
        fees = paid if is_short else -paid
        o, h, lo = float(path.open[j]), float(path.high[j]), float(path.low[j])
        peak = min(peak, lo) if is_short else max(peak, h)
        bound = lo if is_short else h
        if (stop > h) if is_short else (stop < lo):
            placed, ratio = place(stop_price(o_e, peak, is_short=is_short, exits=exits), bound)
            if ratio and ((placed < stop) if is_short else (placed > stop)):
                stop, stop_ratio, trailing = placed, ratio, True
        stop_hit = (stop <= h) if is_short else (stop >= lo)
        value = bound * (1 + f) - fees if is_short else bound * (1 - f) + fees
        best = (1 - value / open_value) * lev if is_short else (value / open_value - 1) * lev
        roi_hit = float(np.round(best, 8)) > p.roi_ratio
        signal = p.exit_on_reversal and bool(path.exit_short[j] if is_short else path.exit_long[j])
        timed = p.time_exit_enabled and t - t_e >= p.max_holding_ns
        minutes = (t - t_e) // 60_000_000_000
        gapped = (stop < lo) if is_short else (stop > h)
        if signal or timed:
            code, x = (ExitCode.REVERSAL if signal else ExitCode.TIME_EXIT), o
        elif stop_hit and not trailing:
            code, x = ExitCode.STOP_LOSS, (o if gapped else stop)
        elif roi_hit:
            alpha, beta = ((1 + f), -fees) if is_short else ((1 - f), fees)
            target = ((1.0 + (p.roi_ratio / lev) / side) * open_value - beta) / alpha
            beyond = (o < target) if is_short else (o > target)
            code = ExitCode.TAKE_PROFIT
            x = o if minutes > 0 and minutes % 60 == 0 and beyond else min(max(target, lo), h)
        elif stop_hit:
            code = ExitCode.TRAILING_STOP
            if gapped:
                x = o
            elif minutes == 0:
                moved = o * (1 + side * -abs(stop_ratio) / lev)
                x = min(h, moved) if is_short else max(lo, moved)
            else:
                x = stop
        else:
            continue
        x = _round(x, decimals, ROUND)
        value = x * (1 + f) - fees if is_short else x * (1 - f) + fees
        net = 1 - value / open_value if is_short else value / open_value - 1
        return j, x, code, net
    return -1, math.nan, ExitCode.NONE, math.nan
