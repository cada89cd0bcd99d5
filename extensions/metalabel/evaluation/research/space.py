"""The research search space: one table of knobs, its validator, and ``suggest(trial)``.

Wider than freqtrade's hyperopt table (:data:`metalabel.tunable.TUNABLE`): it covers the
seed's knobs of issue #13 (primary vote, regime, exits, the meta threshold and the
model's main XGBoost parameters). Each knob names where its value lands, a config
setting (``section.key``) or an XGBoost training parameter (section ``xgboost``).

Every sample must be a valid config, so the space is shaped rather than trials failed:
the take-profit is sampled as a multiple of the stop (``reward_risk_ratio`` >= 1.2, so
stop < take-profit holds by construction), and :func:`check_space` refuses, at start, a
table whose box contains any refused config. The config's cross-field rules are
multilinear in the knobs (``tp - stop = stop x (ratio - 1)``, ``rsi_oversold <
rsi_overbought``, the vote weights' sum, ``trailing_distance < 10 x stop``, the stop
against the liquidation distance), and a multilinear function on a box takes its
extremes at the corners, so checking every corner of each section's knobs proves every
sample valid. Cross-section rules over tuned knobs would need the product of corners;
none exists today (the validator refuses a ``times`` link across sections).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna

from metalabel.config import ConfigError, MetalabelConfig, checked_setting
from metalabel.config_fields import coerce, number_in

XGBOOST = "xgboost"
Kind = Literal["float", "int", "bool"]

# XGBoost's own allowed ranges for the training parameters the space reaches (the
# config block has no fields for them: they live in freqai.model_training_parameters).
XGBOOST_RANGES: dict[str, tuple[type, dict[str, Any]]] = {
    "max_depth": (int, number_in(1, 64)),
    "learning_rate": (float, number_in(0, 1, lo_open=True)),
    "n_estimators": (int, number_in(1, 100_000)),
    "min_child_weight": (float, number_in(0, 10_000)),
    "subsample": (float, number_in(0, 1, lo_open=True)),
    "colsample_bytree": (float, number_in(0, 1, lo_open=True)),
    "reg_lambda": (float, number_in(0, 10_000)),
}


@dataclass(frozen=True)
class Knob:
    """One searched value: where it lands, its bounds, and how it is sampled.

    ``decimals`` rounds a float sample (and sets its grid unless ``log``); ``times``
    names an earlier knob of the same section whose value multiplies this one's (the
    setting receives the product).
    """

    section: str
    key: str
    kind: Kind
    low: float = 0.0
    high: float = 1.0
    decimals: int = 0
    log: bool = False
    times: str | None = None


def _f(section: str, key: str, low: float, high: float, decimals: int, **kw: Any) -> Knob:
    return Knob(section, key, "float", low, high, decimals, **kw)


def _i(section: str, key: str, low: int, high: int, **kw: Any) -> Knob:
    return Knob(section, key, "int", low, high, **kw)


def _b(section: str, key: str) -> Knob:
    return Knob(section, key, "bool")


# The one table of research bounds. Order matters: a ``times`` knob follows its factor.
SPACE: dict[str, Knob] = {
    # primary signal
    "ema_vote_weight": _f("signal", "ema_vote_weight", 0.1, 3.0, 1),
    "rsi_vote_weight": _f("signal", "rsi_vote_weight", 0.1, 3.0, 1),
    "macd_vote_weight": _f("signal", "macd_vote_weight", 0.1, 3.0, 1),
    "rsi_oversold": _i("signal", "rsi_oversold", 10, 45),
    "rsi_overbought": _i("signal", "rsi_overbought", 55, 90),
    "min_vote_ratio": _f("signal", "min_vote_ratio", 0.3, 1.0, 2),
    "use_4h_confirmation": _b("signal", "use_4h_confirmation"),
    # regime
    "adx_threshold": _f("regime", "adx_threshold", 10.0, 40.0, 1),
    "high_volatility_atr_ratio": _f("regime", "high_volatility_atr_ratio", 1.2, 4.0, 1),
    # exits
    "stop_loss_ratio": _f("exits", "stop_loss_ratio", 0.005, 0.06, 3),
    "reward_risk_ratio": _f("exits", "take_profit_ratio", 1.2, 6.0, 1, times="stop_loss_ratio"),
    "trailing_enabled": _b("exits", "trailing_enabled"),
    "trailing_activation_ratio": _f("exits", "trailing_activation_ratio", 0.002, 0.05, 3),
    "trailing_distance_ratio": _f("exits", "trailing_distance_ratio", 0.002, 0.04, 3),
    "max_holding_candles": _i("exits", "max_holding_candles", 4, 96),
    "exit_on_reversal": _b("exits", "exit_on_reversal"),
    # meta-model gate and its main parameters
    "confidence_threshold": _f("model", "confidence_threshold", 0.5, 0.85, 2),
    "max_depth": _i(XGBOOST, "max_depth", 2, 8),
    "learning_rate": _f(XGBOOST, "learning_rate", 0.01, 0.3, 3, log=True),
    "n_estimators": _i(XGBOOST, "n_estimators", 50, 1000),
    "min_child_weight": _f(XGBOOST, "min_child_weight", 0.5, 20.0, 2, log=True),
    "subsample": _f(XGBOOST, "subsample", 0.5, 1.0, 2),
    "colsample_bytree": _f(XGBOOST, "colsample_bytree", 0.5, 1.0, 2),
}


@dataclass(frozen=True)
class Candidate:
    """One sampled point: the validated settings and the XGBoost parameter overrides."""

    settings: MetalabelConfig
    model_params: Mapping[str, float | int]


def with_bounds(
    space: Mapping[str, Knob], bounds: Mapping[str, tuple[float, float]]
) -> dict[str, Knob]:
    """The table with some bounds replaced (``--bound NAME=LOW:HIGH``); check it after."""
    out = dict(space)
    for name, (low, high) in bounds.items():
        if name not in out:
            raise ConfigError(f"search space: unknown parameter {name!r}; known: {sorted(out)}")
        if out[name].kind == "bool":
            raise ConfigError(f"search space: {name} is on/off and has no bounds")
        out[name] = dataclasses.replace(out[name], low=low, high=high)
    return out


def _check_value(name: str, knob: Knob, value: Any) -> Any:
    """``value`` at the knob's destination, through the config's own gate."""
    try:
        if knob.section == XGBOOST:
            if knob.key not in XGBOOST_RANGES:
                raise ConfigError(f"unknown XGBoost parameter; known: {sorted(XGBOOST_RANGES)}")
            kind, meta = XGBOOST_RANGES[knob.key]
            return coerce(f"{XGBOOST}.{knob.key}", value, kind, meta)
        return checked_setting(knob.section, knob.key, value)
    except ConfigError as err:
        raise ConfigError(f"search space parameter {name}: {err}") from err


def _corners(knob: Knob) -> tuple[Any, ...]:
    return (False, True) if knob.kind == "bool" else (knob.low, knob.high)


def check_space(space: Mapping[str, Knob], base: MetalabelConfig) -> None:
    """Refuse, naming the parameter, a table that could sample an invalid config.

    Each bound must pass its setting's range check (a ``times`` knob: the products of
    the bounds), and every corner of each section's knobs must give a config that
    passes the cross-field rules, with the other settings at ``base``.

    >>> from metalabel.config import load_config
    >>> check_space(SPACE, load_config({}))
    >>> check_space(with_bounds(SPACE, {"stop_loss_ratio": (0.005, 0.9)}), load_config({}))
    Traceback (most recent call last):
    ...
    metalabel.config.ConfigError: search space parameter stop_loss_ratio: ...(0, 0.5], got 0.9
    """
    seen: dict[str, Knob] = {}
    for name, knob in space.items():
        if knob.kind != "bool":
            if not knob.low < knob.high:
                raise ConfigError(
                    f"search space parameter {name}: low must be below high, "
                    f"got {knob.low} >= {knob.high}"
                )
            if knob.log and knob.low <= 0:
                raise ConfigError(f"search space parameter {name}: a log scale needs low > 0")
        if knob.times is not None:
            factor = seen.get(knob.times)
            if factor is None or factor.section != knob.section or factor.kind == "bool":
                raise ConfigError(
                    f"search space parameter {name}: times={knob.times!r} must name an earlier "
                    "numeric parameter of the same section"
                )
            if factor.low <= 0 or knob.low <= 0:
                raise ConfigError(f"search space parameter {name}: a product needs bounds > 0")
        for corner in _corners(knob) if knob.kind != "bool" else ():
            scale = _corners(space[knob.times]) if knob.times else (1.0,)
            for factor_value in scale:
                _check_value(name, knob, _rounded(knob, corner * factor_value, space))
        seen[name] = knob
    sections: dict[str, list[str]] = {}
    for name, knob in space.items():
        if knob.section != XGBOOST:
            sections.setdefault(knob.section, []).append(name)
    for names in sections.values():
        for values in itertools.product(*(_corners(space[n]) for n in names)):
            corner = dict(zip(names, values, strict=True))
            try:
                settings_at(base, {n: space[n] for n in names}, corner)
            except ConfigError as err:
                raise ConfigError(
                    f"search space parameters {', '.join(names)}: the corner {corner} "
                    f"gives a refused config: {err}"
                ) from err


def _rounded(knob: Knob, value: float, space: Mapping[str, Knob]) -> float | int | bool:
    """A sample as its setting receives it: a product keeps both factors' decimals."""
    if knob.kind == "int":
        return round(value)
    if knob.kind == "bool":
        return bool(value)
    decimals = knob.decimals + (space[knob.times].decimals if knob.times else 0)
    return round(float(value), decimals)


def settings_at(
    base: MetalabelConfig, space: Mapping[str, Knob], values: Mapping[str, Any]
) -> Candidate:
    """The candidate for sampled ``values`` (by knob name), through the config's gate.

    >>> from metalabel.config import load_config
    >>> values = {"stop_loss_ratio": 0.012, "reward_risk_ratio": 2.5}
    >>> c = settings_at(load_config({}), SPACE, values)
    >>> c.settings.exits.take_profit_ratio, c.model_params
    (0.03, {})
    """
    sections: dict[str, dict[str, Any]] = {}
    model_params: dict[str, float | int] = {}
    for name, value in values.items():
        if name not in space:
            raise ConfigError(f"search space: unknown parameter {name!r}; known: {sorted(space)}")
        knob = space[name]
        setting = value * values[knob.times] if knob.times else value
        checked = _check_value(name, knob, _rounded(knob, setting, space))
        if knob.section == XGBOOST:
            model_params[knob.key] = checked
        else:
            sections.setdefault(knob.section, {})[knob.key] = checked
    changes = {
        section: dataclasses.replace(getattr(base, section), **updates)
        for section, updates in sections.items()
    }
    settings = dataclasses.replace(base, **changes)
    settings.validate()
    return Candidate(settings, model_params)


def sample(trial: optuna.Trial, name: str, knob: Knob) -> Any:
    """One knob's value from optuna (the grid of ``decimals`` unless on a log scale)."""
    if knob.kind == "bool":
        return trial.suggest_categorical(name, (False, True))
    if knob.kind == "int":
        return trial.suggest_int(name, int(knob.low), int(knob.high), log=knob.log)
    step = None if knob.log else 10.0**-knob.decimals
    return round(trial.suggest_float(name, knob.low, knob.high, step=step, log=knob.log), 10)


def suggest(
    trial: optuna.Trial, base: MetalabelConfig, space: Mapping[str, Knob] = SPACE
) -> Candidate:
    """Sample every knob of a checked table; the result always passes the config's rules."""
    values = {name: sample(trial, name, knob) for name, knob in space.items()}
    return settings_at(base, space, values)


def space_digest(space: Mapping[str, Knob]) -> str:
    """A short fingerprint of the table, recorded on a study: resuming it under other
    bounds would mix two searches in one record."""
    table = {name: dataclasses.asdict(knob) for name, knob in space.items()}
    return hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()[:16]
