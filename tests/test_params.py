"""Tunable parameters: defaults from the config, tuned values applied and re-validated."""

import pytest

from metalabel.config import ConfigError, load_config
from metalabel.tunable import TUNABLE, parameter_defaults, with_parameters


def test_defaults_come_from_the_config_block() -> None:
    settings = load_config({"metalabel": {"regime": {"adx_threshold": 30}}})
    defaults = parameter_defaults(settings)
    assert defaults["buy"]["adx_threshold"] == 30.0
    assert defaults["sell"]["stop_loss_ratio"] == 0.02
    assert sorted(defaults["buy"]) + sorted(defaults["sell"]) == sorted(
        sorted(n for n, t in TUNABLE.items() if t[0] == "buy")
        + sorted(n for n, t in TUNABLE.items() if t[0] == "sell")
    )


def test_values_are_applied_to_their_sections() -> None:
    tuned = with_parameters(load_config({}), {"rsi_oversold": 25, "take_profit_ratio": 0.04})
    assert tuned.signal.rsi_oversold == 25
    assert tuned.exits.take_profit_ratio == 0.04
    assert tuned.regime == load_config({}).regime


def test_cross_field_rules_still_hold() -> None:
    with pytest.raises(ConfigError, match="rsi_oversold"):
        with_parameters(load_config({}), {"rsi_oversold": 75})


def test_unknown_parameter() -> None:
    with pytest.raises(KeyError, match="not a tunable"):
        with_parameters(load_config({}), {"leverage": 3})
