"""Translate the exit policy (price moves) into freqtrade's settings (ratios of margin).

In futures freqtrade measures ``stoploss``, ``minimal_roi`` and the trailing settings
as ratios of the position's *margin*: a 2 % price move at leverage 3 is a 6 % margin
ratio. The exit policy in :class:`~metalabel.config.ExitSettings` is written in price
moves because that is what the labeller simulates, so every conversion happens here,
once, and is tested at leverage 1, 2 and 3.

Worked example (long, leverage 2, stop 2 %, take-profit 3 %, fee 0.055 % per side):
``stoploss = -0.04`` puts freqtrade's stop at ``open * (1 - 0.04 / 2)`` = a 2 % move.
ROI is compared with freqtrade's fee-inclusive profit ratio, so a 3 % move is worth
``2 * (1.03 * (1 - f) - (1 + f)) / (1 + f)`` = 0.05777 of margin, and that is the ROI
that closes the trade exactly at the 3 % barrier the labeller uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from metalabel.config import ExitSettings


class ExitReason(StrEnum):
    """Why a trade closed, under the names freqtrade writes to ``exit_reason``.

    The strategy returns the custom ones (``reversal`` is the exit signal's tag,
    ``time_exit`` and ``kill_switch`` come from ``custom_exit``); freqtrade writes the
    others (``roi`` for the take-profit, ``stop_loss``, ``trailing_stop_loss`` once
    ``custom_stoploss`` has moved the stop). The labeller records the same names.
    """

    TAKE_PROFIT = "roi"
    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop_loss"
    REVERSAL = "reversal"
    TIME_EXIT = "time_exit"
    KILL_SWITCH = "kill_switch"


def margin_ratio(price_move_ratio: float, leverage: float) -> float:
    """A price move as a ratio of margin: ``move * leverage``.

    >>> margin_ratio(0.02, 3)
    0.06
    """
    if leverage < 1:
        raise ValueError(f"leverage must be >= 1, got {leverage}")
    return round(price_move_ratio * leverage, 12)


def roi_for_price_move(price_move_ratio: float, leverage: float, fee_ratio: float) -> float:
    """The fee-inclusive margin profit ratio freqtrade reports at a favourable price move.

    freqtrade's ROI check compares this fee-inclusive ratio, so using it as the ROI
    makes the take-profit fire exactly at ``price_move_ratio``, as in the labels.
    The formula is symmetric for shorts to first order; the difference is below
    ``fee * move`` and is ignored.
    """
    gross = (1 + price_move_ratio) * (1 - fee_ratio) - (1 + fee_ratio)
    return round(leverage * gross / (1 + fee_ratio), 12)


@dataclass(frozen=True)
class FreqtradeExitParams:
    """The freqtrade strategy attributes that implement :class:`ExitSettings`.

    The trailing stop is not freqtrade's built-in one: that refuses an activation
    offset equal to the trail distance (the design's 1 % / 1 %), so the strategy
    trails in ``custom_stoploss`` with :func:`trailing_stop_price` instead.
    """

    stoploss: float
    minimal_roi: dict[str, float]
    use_custom_stoploss: bool


def freqtrade_exit_params(
    exits: ExitSettings, *, leverage: float, fee_ratio: float
) -> FreqtradeExitParams:
    """Build freqtrade's stop-loss, ROI and trailing settings for one leverage."""
    return FreqtradeExitParams(
        stoploss=-margin_ratio(exits.stop_loss_ratio, leverage),
        minimal_roi={"0": roi_for_price_move(exits.take_profit_ratio, leverage, fee_ratio)},
        use_custom_stoploss=exits.trailing_enabled,
    )


def time_exit_due(held_candles: float, exits: ExitSettings) -> bool:
    """True once a trade has been held for ``max_holding_candles`` (if time exits are on)."""
    return exits.time_exit_enabled and held_candles >= exits.max_holding_candles


def fixed_stop_price(open_rate: float, *, is_short: bool, exits: ExitSettings) -> float:
    """The stop-loss price ``stop_loss_ratio`` away from the entry, against the trade.

    >>> fixed_stop_price(100.0, is_short=False, exits=ExitSettings())
    98.0
    """
    move = exits.stop_loss_ratio
    return open_rate * (1 + move) if is_short else open_rate * (1 - move)


def trailing_stop_price(
    open_rate: float, peak_rate: float, *, is_short: bool, exits: ExitSettings
) -> float | None:
    """The trailing stop price once the trade has moved ``trailing_activation_ratio``.

    ``peak_rate`` is the best price seen (highest for a long, lowest for a short).
    Returns None while the trail is not active; the fixed stop-loss still applies.

    >>> trailing_stop_price(100.0, 101.5, is_short=False, exits=ExitSettings())
    100.485
    >>> trailing_stop_price(100.0, 100.5, is_short=False, exits=ExitSettings()) is None
    True
    """
    if not exits.trailing_enabled or open_rate <= 0 or peak_rate <= 0:
        return None
    if is_short:
        if peak_rate > open_rate * (1 - exits.trailing_activation_ratio):
            return None
        return peak_rate * (1 + exits.trailing_distance_ratio)
    if peak_rate < open_rate * (1 + exits.trailing_activation_ratio):
        return None
    return peak_rate * (1 - exits.trailing_distance_ratio)


def stop_price(open_rate: float, peak_rate: float, *, is_short: bool, exits: ExitSettings) -> float:
    """The stop in force: the fixed stop, tightened by the trailing stop once active.

    ``peak_rate`` is the best price seen (freqtrade's ``max_rate`` for a long,
    ``min_rate`` for a short).

    >>> stop_price(100.0, 101.5, is_short=False, exits=ExitSettings())
    100.485
    >>> stop_price(100.0, 100.5, is_short=False, exits=ExitSettings())
    98.0
    >>> stop_price(100.0, 98.0, is_short=True, exits=ExitSettings())
    98.98
    """
    stop = fixed_stop_price(open_rate, is_short=is_short, exits=exits)
    trail = trailing_stop_price(open_rate, peak_rate, is_short=is_short, exits=exits)
    if trail is None:
        return stop
    return min(stop, trail) if is_short else max(stop, trail)
