"""Price-move exits converted to freqtrade's margin ratios, at leverage 1, 2 and 3."""

import pytest

from metalabel.config import ExitSettings
from metalabel.core.exits import (
    freqtrade_exit_params,
    margin_ratio,
    roi_for_price_move,
    time_exit_due,
    trailing_stop_price,
)

FEE = 0.0006


@pytest.mark.parametrize(
    ("leverage", "stoploss"),
    [
        (1, -0.02),  # margin ratio equals the price move at 1x
        (2, -0.04),  # doubled at 2x
        (3, -0.06),  # tripled at 3x
    ],
)
def test_stoploss_scales_with_leverage(leverage: float, stoploss: float) -> None:
    params = freqtrade_exit_params(ExitSettings(), leverage=leverage, fee_ratio=FEE)
    assert params.stoploss == pytest.approx(stoploss)


@pytest.mark.parametrize("leverage", [1, 2, 3])
def test_freqtrade_stop_price_is_a_two_percent_move(leverage: float) -> None:
    # freqtrade places a long's stop at open * (1 - |stoploss| / leverage).
    params = freqtrade_exit_params(ExitSettings(), leverage=leverage, fee_ratio=FEE)
    stop_price = 100.0 * (1 - abs(params.stoploss) / leverage)
    assert stop_price == pytest.approx(98.0)


@pytest.mark.parametrize("leverage", [1, 2, 3])
def test_roi_fires_exactly_at_the_take_profit_price_move(leverage: float) -> None:
    # freqtrade's fee-inclusive futures profit ratio at a 3% move, computed the way
    # freqtrade does it: (close_value - open_value) / (open_value / leverage).
    open_value = 100.0 * (1 + FEE)
    close_value = 103.0 * (1 - FEE)
    freqtrade_profit = (close_value - open_value) / (open_value / leverage)
    roi = freqtrade_exit_params(ExitSettings(), leverage=leverage, fee_ratio=FEE).minimal_roi
    assert roi == {"0": pytest.approx(freqtrade_profit)}
    # and it is a bit below the naive leveraged move, because of fees
    assert roi["0"] < 0.03 * leverage


def test_margin_ratio_refuses_leverage_below_one() -> None:
    with pytest.raises(ValueError, match="leverage"):
        margin_ratio(0.02, 0.5)


def test_trailing_uses_the_custom_stoploss_only_when_enabled() -> None:
    on = freqtrade_exit_params(ExitSettings(), leverage=2, fee_ratio=FEE)
    off = freqtrade_exit_params(ExitSettings(trailing_enabled=False), leverage=2, fee_ratio=FEE)
    assert on.use_custom_stoploss is True
    assert off.use_custom_stoploss is False


@pytest.mark.parametrize(
    ("peak", "is_short", "expected"),
    [
        (100.99, False, None),  # long: +0.99% is below the 1% activation
        (101.0, False, 99.99),  # long: activated at exactly +1%, trail 1% below the peak
        (105.0, False, 103.95),  # long: further up, the trail follows
        (99.01, True, None),  # short: -0.99% is not enough
        (99.0, True, 99.99),  # short: activated at exactly -1%, trail 1% above the trough
        (95.0, True, 95.95),  # short: further down
    ],
)
def test_trailing_stop_price(peak: float, is_short: bool, expected: float | None) -> None:
    price = trailing_stop_price(100.0, peak, is_short=is_short, exits=ExitSettings())
    assert price == (None if expected is None else pytest.approx(expected))


def test_trailing_stop_price_off_or_unusable() -> None:
    off = ExitSettings(trailing_enabled=False)
    assert trailing_stop_price(100.0, 110.0, is_short=False, exits=off) is None
    assert trailing_stop_price(0.0, 110.0, is_short=False, exits=ExitSettings()) is None


def test_roi_without_fees_is_the_leveraged_move() -> None:
    assert roi_for_price_move(0.03, 2, 0.0) == pytest.approx(0.06)


@pytest.mark.parametrize(
    ("held", "enabled", "due"),
    [
        (23, True, False),  # one candle short of 24
        (24, True, True),  # exactly 24 candles: exit
        (30, False, False),  # time exit switched off
    ],
)
def test_time_exit(held: float, enabled: bool, due: bool) -> None:
    assert time_exit_due(held, ExitSettings(time_exit_enabled=enabled)) is due
