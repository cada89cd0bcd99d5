"""Leverage: min(configured, hard cap 3, exchange maximum); unusable inputs give 1x."""

import math

import pytest

from metalabel.config import RiskSettings
from metalabel.risk.leverage import leverage_for_trade


@pytest.mark.parametrize(
    ("configured", "exchange_max", "expected"),
    [
        (2.0, 100.0, 2.0),  # the configured value when the exchange allows it
        (3.0, 100.0, 3.0),  # the hard cap itself is allowed
        (3.0, 2.5, 2.5),  # the exchange's lower maximum wins
        (2.0, None, 1.0),  # unknown exchange maximum: safest leverage
        (2.0, math.nan, 1.0),  # NaN maximum: safest leverage
        (2.0, 0.5, 1.0),  # a maximum below 1 is unusable
    ],
)
def test_leverage_for_trade(configured: float, exchange_max: float | None, expected: float) -> None:
    assert leverage_for_trade(RiskSettings(leverage=configured), exchange_max) == expected


def test_configured_leverage_can_not_exceed_the_hard_cap() -> None:
    from metalabel.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"metalabel\.risk\.leverage"):
        load_config({"metalabel": {"risk": {"leverage": 3.5}}})
