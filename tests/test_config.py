"""The metalabel block: defaults, and every malformed block rejected naming its key."""

import json
from typing import Any

import pytest

from metalabel.config import (
    ConfigError,
    MetalabelConfig,
    StrategyMode,
    load_config,
    settings_reference,
)
from metalabel.ops.runner import MAIN_CONFIG


def test_a_config_without_the_block_gets_the_defaults() -> None:
    assert load_config({}) == MetalabelConfig()
    assert load_config({"metalabel": {}}) == MetalabelConfig()


def test_the_shipped_config_is_valid_and_matches_the_design() -> None:
    settings = load_config(json.loads(MAIN_CONFIG.read_text()))
    assert settings.mode is StrategyMode.META
    assert settings.exits.stop_loss_ratio == 0.02
    assert settings.exits.take_profit_ratio == 0.03
    assert settings.model.confidence_threshold == 0.6
    assert settings.risk.leverage <= 3
    assert settings.risk.leverage == 2.0


def test_values_are_typed_and_frozen() -> None:
    settings = load_config(
        {"metalabel": {"exits": {"max_holding_candles": 12.0}, "mode": "primary"}}
    )
    assert settings.exits.max_holding_candles == 12
    assert isinstance(settings.exits.max_holding_candles, int)
    assert settings.mode is StrategyMode.PRIMARY
    with pytest.raises(AttributeError):
        settings.mode = StrategyMode.META  # type: ignore[misc]


@pytest.mark.parametrize(
    ("block", "key", "hint"),
    [
        # the block itself is not an object
        ([], "metalabel", "must be an object"),
        # a section is not an object
        ({"exits": 0.02}, "metalabel.exits", "must be an object"),
        # unknown top-level key (a typo)
        ({"mdoe": "meta"}, "metalabel.mdoe", "unknown setting"),
        # unknown key inside a section
        ({"risk": {"levrage": 2}}, "metalabel.risk.levrage", "unknown setting"),
        # mode outside its choices
        ({"mode": "yolo"}, "metalabel.mode", "must be one of"),
        # wrong type: a string for a number
        ({"exits": {"stop_loss_ratio": "2%"}}, "metalabel.exits.stop_loss_ratio", "number"),
        # a percent where a ratio is expected
        ({"exits": {"take_profit_ratio": 3}}, "metalabel.exits.take_profit_ratio", "(0, 2]"),
        # zero stop-loss (open lower bound)
        ({"exits": {"stop_loss_ratio": 0}}, "metalabel.exits.stop_loss_ratio", "(0, 0.5]"),
        # leverage above the hard cap of 3 is refused, not clipped
        ({"risk": {"leverage": 5}}, "metalabel.risk.leverage", "[1, 3]"),
        # a bool where a number is expected
        ({"risk": {"leverage": True}}, "metalabel.risk.leverage", "number"),
        # a number where a bool is expected
        ({"regime": {"enabled": 1}}, "metalabel.regime.enabled", "true or false"),
        # a fractional candle count
        (
            {"exits": {"max_holding_candles": 2.5}},
            "metalabel.exits.max_holding_candles",
            "whole number",
        ),
        # a threshold of exactly 1 can never be exceeded
        (
            {"model": {"confidence_threshold": 1.0}},
            "metalabel.model.confidence_threshold",
            "[0.5, 1)",
        ),
        # NaN sneaks through JSON parsers that allow it
        ({"costs": {"fee_ratio": float("nan")}}, "metalabel.costs.fee_ratio", "finite"),
        # negative fee
        ({"costs": {"fee_ratio": -0.001}}, "metalabel.costs.fee_ratio", "[0, 0.01]"),
        # calibration outside its choices
        ({"model": {"calibration": "platt"}}, "metalabel.model.calibration", "must be one of"),
        # cross-field: fast EMA must be faster than slow
        ({"signal": {"ema_fast_period": 30}}, "ema_fast_period", "ema_slow_period"),
        # cross-field: RSI bounds inverted
        ({"signal": {"rsi_oversold": 80}}, "rsi_oversold", "rsi_overbought"),
        # the model needs at least two events to learn anything
        (
            {"model": {"min_training_events": 1}},
            "metalabel.model.min_training_events",
            "[2, 1000000]",
        ),
        # all vote weights zero: no signal could ever fire
        (
            {"signal": {"ema_vote_weight": 0, "rsi_vote_weight": 0, "macd_vote_weight": 0}},
            "vote_weight",
            "above 0",
        ),
    ],
)
def test_malformed_blocks_are_rejected_naming_the_key(block: Any, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"metalabel": block})
    message = str(err.value)
    assert key in message
    assert hint in message


def test_settings_reference_lists_every_leaf_setting() -> None:
    keys = [row[0] for row in settings_reference()]
    assert "metalabel.mode" in keys
    assert "metalabel.exits.stop_loss_ratio" in keys
    assert len(keys) == len(set(keys))
    # every listed key is accepted by the loader with its documented default
    for key, _kind, default, _allowed in settings_reference():
        section = key.split(".")[1:]
        value: Any = (
            json.loads(default.replace("'", '"'))
            if default not in ("true", "false")
            else default == "true"
        )
        block: dict[str, Any] = {}
        node = block
        for part in section[:-1]:
            node = node.setdefault(part, {})
        node[section[-1]] = value
        load_config({"metalabel": block})
