"""The one config validator: freqtrade's schema, the strategy's operational rules and
the ``metalabel`` block, used by the strategy at startup and by ``metalabel check-config``.

freqtrade would happily start its REST API with an empty password, trade live with
keys left in a tracked file, or let a top-level ``"stoploss": -0.99`` replace the
strategy's stop; these checks refuse that before the bot starts. Both callers pass the
same dict through :func:`validate_config` (the strategy as ``load_config`` +
:func:`check_operational_config`, which is the same thing), so a config gets the same
answer, word for word, from either.

Rules that need only the ``metalabel`` block (ranges, stop below take-profit, stop
inside the liquidation distance, guard inside the kill switch) live in
:mod:`metalabel.config`; the ones here need the rest of the freqtrade config or the
environment.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metalabel.config import ConfigError, MetalabelConfig, StrategyMode, load_config
from metalabel.core.exits import freqtrade_exit_params

# The strategy's candle; every duration in the metalabel block is counted in it.
STRATEGY_TIMEFRAME = "1h"
MIN_PASSWORD_LENGTH = 16
# Passwords shipped in freqtrade's templates and docs, and other placeholders.
DEFAULT_PASSWORDS = frozenset(
    {
        "",
        "freqtrader",
        "SuperSecurePassword",
        "password",
        "changeme",
        "admin",
        "secret",
        "0123456789abcdef",
        "passwordpassword",
        "changemechangeme",
    }
)
DEFAULT_JWT_SECRETS = frozenset(
    {
        "",
        "somethingrandom",
        "somethingRandomSomethingRandom123",
        "super-secret",
        "secret",
        "changeme",
        # the placeholder in user_data/config.json (freqtrade requires 32+ characters)
        "placeholder-set-FREQTRADE__API_SERVER__JWT_SECRET_KEY",
    }
)
LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})
TRADING_RUNMODES = frozenset({"live", "dry_run"})
# docker-compose.yml publishes the API port on the host's loopback only and says so in
# this variable ("127.0.0.1:8080"); only then may the API listen on the container's
# interfaces. An image run without compose (`docker run -p 8080:8080`) lacks it.
PUBLISHED_API_ENV = "METALABEL_API_PUBLISHED"
EXCHANGE_KEY_ENV = ("FREQTRADE__EXCHANGE__KEY", "FREQTRADE__EXCHANGE__SECRET")
# Top-level freqtrade keys that would replace the strategy's own exits (freqtrade's
# StrategyResolver lets the config win over the strategy).
OVERRIDE_KEYS = (
    "stoploss",
    "minimal_roi",
    "trailing_stop",
    "trailing_stop_positive",
    "trailing_stop_positive_offset",
    "trailing_only_offset_is_reached",
    "use_custom_stoploss",
)


def strategy_owned_values(settings: MetalabelConfig) -> dict[str, Any]:
    """What MetaLabelStrategy sets for each of :data:`OVERRIDE_KEYS` (None: unset).

    freqtrade copies these back into the config after loading the strategy, so a
    config holding exactly these values is the strategy's own, not an override.
    """
    params = freqtrade_exit_params(
        settings.exits, leverage=settings.risk.leverage, fee_ratio=settings.costs.fee_ratio
    )
    return {
        "stoploss": params.stoploss,
        "minimal_roi": {"0": 100.0},  # ROI comes from custom_roi; this only backs it up
        "trailing_stop": False,  # trailing happens in custom_stoploss
        "trailing_stop_positive": None,
        "trailing_stop_positive_offset": 0.0,
        "trailing_only_offset_is_reached": False,
        "use_custom_stoploss": True,
    }


def _runmode(config: Mapping[str, Any]) -> str:
    runmode = config.get("runmode")
    return str(getattr(runmode, "value", runmode or ""))


def _is_live(config: Mapping[str, Any]) -> bool:
    mode = _runmode(config)
    return mode == "live" or (mode in TRADING_RUNMODES and config.get("dry_run") is False)


def _same(value: Any, owned: Any) -> bool:
    if owned is None:
        return False
    if isinstance(owned, dict):
        if not isinstance(value, Mapping):
            return False
        try:
            return {str(int(k)): float(v) for k, v in value.items()} == owned
        except (TypeError, ValueError):
            return False
    if isinstance(owned, bool) or isinstance(value, bool):
        return value is owned
    if isinstance(value, int | float):
        return math.isclose(float(value), float(owned), rel_tol=1e-9, abs_tol=1e-12)
    return False


def _check_schema(config: Mapping[str, Any], settings: MetalabelConfig) -> None:
    """freqtrade's own schema, on the config as it will be once the strategy is loaded."""
    from freqtrade.configuration.config_validation import (
        FreqtradeValidator,
        validate_config_schema,
    )
    from freqtrade.exceptions import ConfigurationError

    resolved = copy.deepcopy({k: v for k, v in config.items() if k != "original_config"})
    for key, value in strategy_owned_values(settings).items():
        if value is not None:
            resolved.setdefault(key, value)
    resolved.setdefault("timeframe", STRATEGY_TIMEFRAME)
    quiet = logging.getLogger("freqtrade.configuration.config_validation")
    was_disabled, quiet.disabled = quiet.disabled, True  # it logs the whole schema
    try:
        validate_config_schema(resolved)
    except ConfigurationError as err:
        message = str(err)
        raise ConfigError(
            f"{_schema_key(resolved, message, FreqtradeValidator)}: {message} "
            "(freqtrade's config schema)"
        ) from None
    finally:
        quiet.disabled = was_disabled


def _schema_key(config: dict[str, Any], message: str, validator: Any) -> str:
    """The dotted key a schema message is about (freqtrade's message does not say)."""
    from freqtrade.config_schema.config_schema import CONF_SCHEMA

    required = re.fullmatch(r"'(.+)' is a required property", message)
    for error in validator(CONF_SCHEMA).iter_errors(copy.deepcopy(config)):
        if error.message == message:
            parts = [str(p) for p in error.absolute_path]
            if required:
                parts.append(required.group(1))
            if parts:
                return ".".join(parts)
    return required.group(1) if required else "config"


def check_operational_config(config: Mapping[str, Any], settings: MetalabelConfig) -> None:
    """Raise :class:`ConfigError` for settings that must never reach a running bot.

    ``config`` is freqtrade's config dict with its ``runmode``; ``settings`` its
    parsed ``metalabel`` block. Checks run in a fixed order, so the first problem is
    the one reported, by the strategy and the CLI alike.
    """
    user = config.get("original_config") or config  # what the user wrote, not freqtrade
    owned = strategy_owned_values(settings)
    for key in OVERRIDE_KEYS:
        if key in user and not _same(user[key], owned[key]):
            raise ConfigError(
                f"{key}: {user[key]!r} would replace the strategy's own {key}; remove it "
                "and set the exits in the metalabel.exits block"
            )
    timeframe = config.get("timeframe", STRATEGY_TIMEFRAME)
    if timeframe != STRATEGY_TIMEFRAME:
        raise ConfigError(
            f"timeframe: {timeframe!r}; the strategy trades {STRATEGY_TIMEFRAME!r} candles "
            "(every candle count in the metalabel block is in them); remove the key or "
            f"set {STRATEGY_TIMEFRAME!r}"
        )
    _check_schema(config, settings)
    _check_wallet(config.get("dry_run_wallet"))
    freqai_enabled = bool(config.get("freqai", {}).get("enabled", False))
    if settings.mode is StrategyMode.META and not freqai_enabled:
        raise ConfigError(
            "metalabel.mode: 'meta' needs freqai.enabled = true (or choose 'primary' or "
            "'primary_regime')"
        )
    if _is_live(config):
        _check_live(settings)
    if _runmode(config) in TRADING_RUNMODES:
        _check_api(config.get("api_server", {}))
        telegram = config.get("telegram", {})
        if telegram.get("enabled") and not (telegram.get("token") and telegram.get("chat_id")):
            raise ConfigError(
                "telegram: enabled without token and chat_id; set FREQTRADE__TELEGRAM__TOKEN "
                "and FREQTRADE__TELEGRAM__CHAT_ID in the environment"
            )


def _check_wallet(wallet: Any) -> None:
    values = wallet.values() if isinstance(wallet, Mapping) else [wallet]
    for value in values:
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigError(f"dry_run_wallet: must be a positive number, got {wallet!r}")


def _check_live(settings: MetalabelConfig) -> None:
    if not settings.kill_switch.enabled:
        raise ConfigError(
            "metalabel.kill_switch.enabled: false is allowed in dry runs only; a live bot "
            "always runs with its kill switch"
        )
    missing = [name for name in EXCHANGE_KEY_ENV if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"exchange.key: dry_run is false but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set in the environment (exchange "
            "keys never go in a config file)"
        )


def _check_api(api: Mapping[str, Any]) -> None:
    if not api.get("enabled"):
        return
    password = str(api.get("password", ""))
    if password in DEFAULT_PASSWORDS or len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"api_server.password: empty, a known default or shorter than "
            f"{MIN_PASSWORD_LENGTH} characters; set FREQTRADE__API_SERVER__PASSWORD in the "
            "environment (or disable the API server)"
        )
    if str(api.get("jwt_secret_key", "")) in DEFAULT_JWT_SECRETS:
        raise ConfigError(
            "api_server.jwt_secret_key: empty or a known default; set FREQTRADE__API_"
            "SERVER__JWT_SECRET_KEY in the environment"
        )
    address = str(api.get("listen_ip_address", ""))
    if address in LOOPBACK_ADDRESSES:
        return
    published = os.environ.get(PUBLISHED_API_ENV, "")
    host, _, port = published.rpartition(":")
    if host.strip("[]") in LOOPBACK_ADDRESSES and port == str(api.get("listen_port", "")):
        return  # inside compose: the host sees the port on its loopback only
    raise ConfigError(
        f"api_server.listen_ip_address: {address!r} is not a loopback address and "
        f"{PUBLISHED_API_ENV} ({published or 'unset'}) does not name a loopback port "
        f"{api.get('listen_port')} published by docker compose; put a reverse proxy with "
        "TLS in front instead"
    )


def validate_config(config: Mapping[str, Any]) -> MetalabelConfig:
    """The whole check, in the order the strategy runs it: the block, then the rest."""
    settings = load_config(config)
    check_operational_config(config, settings)
    return settings


def load_config_files(paths: Sequence[Path], *, runmode: str | None = None) -> dict[str, Any]:
    """Config files merged the way ``freqtrade trade`` merges them, environment included.

    freqtrade's own loader (JSON with ``//`` comments, ``add_config_files``, later files
    win) and its ``FREQTRADE__*`` environment overlay. ``runmode`` defaults to the one
    ``freqtrade trade`` would run in (``dry_run`` unless ``"dry_run": false``).
    Raises :class:`ConfigError` for a file that is missing or not valid JSON.
    """
    from freqtrade.configuration.environment_vars import environment_vars_to_dict
    from freqtrade.configuration.load_config import load_from_files
    from freqtrade.enums import RunMode
    from freqtrade.exceptions import OperationalException
    from freqtrade.misc import deep_merge_dicts

    try:
        config = load_from_files([str(p) for p in paths])
    except OperationalException as err:  # ConfigurationError is one too
        raise ConfigError(f"config: {err}") from None
    config = dict(deep_merge_dicts(environment_vars_to_dict(), config))
    config["original_config"] = copy.deepcopy(config)
    if runmode is None:
        runmode = "dry_run" if config.get("dry_run", True) is not False else "live"
    config["runmode"] = RunMode(runmode)
    return config
