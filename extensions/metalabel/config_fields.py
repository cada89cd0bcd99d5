"""Typed, frozen settings dataclasses read from JSON: the checks behind :mod:`metalabel.config`.

A field declares what it allows in its metadata (:func:`number_in`, :func:`one_of`);
:func:`build` turns a JSON mapping into the dataclass, checking types, ranges and
unknown keys, and raises :class:`ConfigError` naming the key. Nothing here knows the
project's settings; they are declared in :mod:`metalabel.config`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar, get_type_hints


class ConfigError(ValueError):
    """A ``metalabel`` setting is malformed; the message names the key and what is allowed."""


# Its public home (and the name tracebacks show) is metalabel.config, which re-exports it.
ConfigError.__module__ = "metalabel.config"


def number_in(
    lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> dict[str, Any]:
    """Field metadata: a number allowed in [lo, hi] (an open end excludes the bound)."""
    return {"range": (lo, hi, lo_open, hi_open)}


def one_of(enum: type[Enum]) -> dict[str, Any]:
    return {"choices": enum}


T = TypeVar("T")


def describe_range(rng: tuple[float, float, bool, bool]) -> str:
    lo, hi, lo_open, hi_open = rng
    return f"{'(' if lo_open else '['}{plain(lo)}, {plain(hi)}{')' if hi_open else ']'}"


def plain(number: float) -> str:
    """1000000 rather than 1e+06, 0.02 rather than 0.020000."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def coerce(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    """Check one scalar against its declared type and range; return the typed value."""
    if "choices" in meta:
        enum: type[Enum] = meta["choices"]
        allowed = [str(member.value) for member in enum]
        if isinstance(value, enum):
            return value
        if not isinstance(value, str) or value not in allowed:
            raise ConfigError(f"{key}: must be one of {allowed}, got {value!r}")
        return enum(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if kind is int:
        # JSON has no int/float split for 3.0; accept integral floats, reject bools.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a whole number, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key}: must be a whole number, got {value!r}")
        value = int(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    if "range" in meta:
        lo, hi, lo_open, hi_open = meta["range"]
        below = value <= lo if lo_open else value < lo
        above = value >= hi if hi_open else value > hi
        if below or above:
            raise ConfigError(f"{key}: must be in {describe_range(meta['range'])}, got {value!r}")
    return value


def build(cls: type[T], raw: Any, prefix: str) -> T:
    """Build a settings dataclass from a JSON mapping, rejecting unknown keys."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}: must be an object, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}: unknown setting; allowed keys are {sorted(fields)}"
        )
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        kind = hints[name]
        key = f"{prefix}.{name}"
        if dataclasses.is_dataclass(kind):
            kwargs[name] = build(kind, value, key)  # type: ignore[arg-type]
        else:
            kwargs[name] = coerce(key, value, kind, fields[name].metadata)
    settings = cls(**kwargs)
    validate = getattr(settings, "validate", None)
    if validate is not None:
        validate()
    return settings


def reference_rows(root: type[Any], prefix: str) -> list[tuple[str, str, str, str]]:
    """Every leaf field of the dataclass ``root`` as (key, type, default, allowed) rows."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            key = f"{prefix}.{f.name}"
            if dataclasses.is_dataclass(kind):
                walk(kind, key)  # type: ignore[arg-type]
                continue
            default = f.default
            if isinstance(default, Enum):
                default = default.value
            if "choices" in f.metadata:
                allowed = " / ".join(str(m.value) for m in f.metadata["choices"])
                type_name = "string"
            elif "range" in f.metadata:
                allowed = describe_range(f.metadata["range"])
                type_name = kind.__name__
            else:
                allowed = "true / false" if kind is bool else ""
                type_name = kind.__name__
            rows.append(
                (
                    key,
                    type_name,
                    repr(default)
                    if isinstance(default, str)
                    else str(default).lower()
                    if isinstance(default, bool)
                    else str(default),
                    allowed,
                )
            )

    walk(root, prefix)
    return rows
