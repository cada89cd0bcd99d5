"""The settings freqtrade's hyperopt may tune, and how its values map onto our config.

Each tunable setting has one name, used as the strategy's hyperopt parameter and in
freqtrade's parameter file. Its default comes from the ``metalabel`` block; a value
from a hyperopt parameter file (``MetaLabelStrategy.json``) wins, as usual in freqtrade.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

from metalabel.config import ConfigError, MetalabelConfig, checked_setting


class Tunable(NamedTuple):
    """One hyperopt parameter: where it lives in the config and the range hyperopt
    searches (``decimals`` None = an integer parameter)."""

    space: str
    section: str
    key: str
    low: float
    high: float
    decimals: int | None


# The one table of tunable settings: the strategy builds its hyperopt parameters from
# it, and values from a parameter file are mapped back onto the config through it.
# The stop and take-profit ranges do not overlap: no epoch can sample stop >= take-profit.
TUNABLE: dict[str, Tunable] = {
    "adx_threshold": Tunable("buy", "regime", "adx_threshold", 15.0, 40.0, 1),
    "rsi_oversold": Tunable("buy", "signal", "rsi_oversold", 15, 40, None),
    "rsi_overbought": Tunable("buy", "signal", "rsi_overbought", 60, 85, None),
    "ema_vote_weight": Tunable("buy", "signal", "ema_vote_weight", 0.2, 2.0, 1),
    "rsi_vote_weight": Tunable("buy", "signal", "rsi_vote_weight", 0.2, 2.0, 1),
    "macd_vote_weight": Tunable("buy", "signal", "macd_vote_weight", 0.2, 2.0, 1),
    "min_vote_ratio": Tunable("buy", "signal", "min_vote_ratio", 0.3, 1.0, 2),
    "confidence_threshold": Tunable("buy", "model", "confidence_threshold", 0.5, 0.8, 2),
    "stop_loss_ratio": Tunable("sell", "exits", "stop_loss_ratio", 0.01, 0.025, 3),
    "take_profit_ratio": Tunable("sell", "exits", "take_profit_ratio", 0.026, 0.06, 3),
}


def parameter_defaults(settings: MetalabelConfig) -> dict[str, dict[str, Any]]:
    """``{"buy": {...}, "sell": {...}}`` from the config, for freqtrade's *_params."""
    spaces: dict[str, dict[str, Any]] = {}
    for name, t in TUNABLE.items():
        spaces.setdefault(t.space, {})[name] = getattr(getattr(settings, t.section), t.key)
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
        t = TUNABLE[name]
        try:
            sections.setdefault(t.section, {})[t.key] = checked_setting(t.section, t.key, value)
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
