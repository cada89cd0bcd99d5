"""Start-up checks on the freqtrade config that protect a live account.

freqtrade would happily start its REST API with an empty password, or trade live
with keys left in a tracked file; these checks refuse that before the bot starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from metalabel.config import ConfigError, MetalabelConfig, StrategyMode

# Passwords shipped in freqtrade's templates and docs, and other placeholders.
DEFAULT_PASSWORDS = frozenset(
    {"", "freqtrader", "SuperSecurePassword", "password", "changeme", "admin", "secret"}
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


def _runmode(config: Mapping[str, Any]) -> str:
    runmode = config.get("runmode")
    return str(getattr(runmode, "value", runmode or ""))


def check_operational_config(config: Mapping[str, Any], settings: MetalabelConfig) -> None:
    """Raise :class:`ConfigError` for settings that must never reach a running bot."""
    freqai_enabled = bool(config.get("freqai", {}).get("enabled", False))
    if settings.mode is StrategyMode.META and not freqai_enabled:
        raise ConfigError(
            "metalabel.mode: 'meta' needs freqai.enabled = true (or choose 'primary' or "
            "'primary_regime')"
        )
    if _runmode(config) not in TRADING_RUNMODES:
        return
    api = config.get("api_server", {})
    if api.get("enabled"):
        if str(api.get("password", "")) in DEFAULT_PASSWORDS:
            raise ConfigError(
                "api_server.password: empty or a known default; set FREQTRADE__API_SERVER__"
                "PASSWORD in the environment (or disable the API server)"
            )
        if str(api.get("jwt_secret_key", "")) in DEFAULT_JWT_SECRETS:
            raise ConfigError(
                "api_server.jwt_secret_key: empty or a known default; set FREQTRADE__API_"
                "SERVER__JWT_SECRET_KEY in the environment"
            )
        # In the container the API listens on the container's interfaces and compose
        # publishes the port on the host's 127.0.0.1 only (see docker-compose.yml).
        in_container = os.environ.get("METALABEL_CONTAINER") == "1"
        if not in_container and str(api.get("listen_ip_address", "")) not in LOOPBACK_ADDRESSES:
            raise ConfigError(
                f"api_server.listen_ip_address: {api.get('listen_ip_address')!r} is not a "
                "loopback address; put a reverse proxy with TLS in front instead"
            )
    telegram = config.get("telegram", {})
    if telegram.get("enabled") and not (telegram.get("token") and telegram.get("chat_id")):
        raise ConfigError(
            "telegram: enabled without token and chat_id; set FREQTRADE__TELEGRAM__TOKEN and "
            "FREQTRADE__TELEGRAM__CHAT_ID in the environment"
        )
