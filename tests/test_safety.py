"""Start-up checks: no API server with a default password, no half-configured Telegram."""

from typing import Any

import pytest

from metalabel.config import ConfigError, MetalabelConfig, StrategyMode
from metalabel.ops.startup_checks import check_operational_config

GOOD_API = {
    "enabled": True,
    "listen_ip_address": "127.0.0.1",
    "password": "a-long-random-password",
    "jwt_secret_key": "a-long-random-jwt-secret",
}


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "runmode": "dry_run",
        "freqai": {"enabled": True},
        "api_server": dict(GOOD_API),
        "telegram": {"enabled": False},
    }
    config.update(overrides)
    return config


def test_a_sound_config_passes() -> None:
    check_operational_config(_config(), MetalabelConfig())


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        # empty password from an unset environment variable
        ({"api_server": {**GOOD_API, "password": ""}}, "api_server.password"),
        # freqtrade's documented example password
        ({"api_server": {**GOOD_API, "password": "SuperSecurePassword"}}, "api_server.password"),
        # empty JWT secret
        ({"api_server": {**GOOD_API, "jwt_secret_key": ""}}, "api_server.jwt_secret_key"),
        # bound to every interface
        (
            {"api_server": {**GOOD_API, "listen_ip_address": "0.0.0.0"}},
            "api_server.listen_ip_address",
        ),
        # telegram on without its token
        ({"telegram": {"enabled": True, "token": "", "chat_id": "1"}}, "telegram"),
        # meta mode without FreqAI
        ({"freqai": {"enabled": False}}, "metalabel.mode"),
    ],
)
def test_unsafe_live_settings_are_refused(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_operational_config(_config(**overrides), MetalabelConfig())


def test_backtests_do_not_need_api_secrets() -> None:
    config = _config(runmode="backtest", api_server={**GOOD_API, "password": ""})
    check_operational_config(config, MetalabelConfig())


def test_baseline_modes_run_without_freqai() -> None:
    config = _config(freqai={"enabled": False})
    check_operational_config(config, MetalabelConfig(mode=StrategyMode.PRIMARY))
