"""The settings freqtrade's hyperopt may tune, and how its values map onto our config.

Each tunable setting has one name, used as the strategy's hyperopt parameter and in
freqtrade's parameter file. Its default comes from the ``metalabel`` block; a value
from a hyperopt parameter file (``MetaLabelStrategy.json``) wins, as usual in freqtrade.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from metalabel.config import ConfigError, MetalabelConfig, checked_setting

# parameter name -> (hyperopt space, config section, setting)
TUNABLE: dict[str, tuple[str, str, str]] = {
    "adx_threshold": ("buy", "regime", "adx_threshold"),
    "rsi_oversold": ("buy", "signal", "rsi_oversold"),
    "rsi_overbought": ("buy", "signal", "rsi_overbought"),
    "ema_vote_weight": ("buy", "signal", "ema_vote_weight"),
    "rsi_vote_weight": ("buy", "signal", "rsi_vote_weight"),
    "macd_vote_weight": ("buy", "signal", "macd_vote_weight"),
    "min_vote_ratio": ("buy", "signal", "min_vote_ratio"),
    "confidence_threshold": ("buy", "model", "confidence_threshold"),
    "stop_loss_ratio": ("sell", "exits", "stop_loss_ratio"),
    "take_profit_ratio": ("sell", "exits", "take_profit_ratio"),
}


def parameter_defaults(settings: MetalabelConfig) -> dict[str, dict[str, Any]]:
    """``{"buy": {...}, "sell": {...}}`` from the config, for freqtrade's *_params."""
    spaces: dict[str, dict[str, Any]] = {}
    for name, (space, section, key) in TUNABLE.items():
        spaces.setdefault(space, {})[name] = getattr(getattr(settings, section), key)
    return spaces


def with_parameters(settings: MetalabelConfig, values: Mapping[str, Any]) -> MetalabelConfig:
    """The config with tuned values applied, through the config's own gate.

    Each value passes the range check of its setting and the result the cross-field
    rules, so a hand-edited or stale parameter file is refused like a bad config.

    >>> from metalabel.config import load_config
    >>> with_parameters(load_config({}), {"adx_threshold": 30.0}).regime.adx_threshold
    30.0
    >>> with_parameters(load_config({}), {"adx_threshold": -5})
    Traceback (most recent call last):
    ...
    metalabel.config.ConfigError: hyperopt parameter adx_threshold: ...must be in (0, 100), got -5.0
    """
    sections: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if name not in TUNABLE:
            raise KeyError(f"{name!r} is not a tunable parameter; known: {sorted(TUNABLE)}")
        _space, section, key = TUNABLE[name]
        try:
            sections.setdefault(section, {})[key] = checked_setting(section, key, value)
        except ConfigError as err:
            raise ConfigError(f"hyperopt parameter {name}: {err}") from err
    changes = {
        section: dataclasses.replace(getattr(settings, section), **updates)
        for section, updates in sections.items()
    }
    tuned = dataclasses.replace(settings, **changes)
    try:
        tuned.validate()
    except ConfigError as err:
        raise ConfigError(f"hyperopt parameters {dict(values)}: {err}") from err
    return tuned
