"""Start-up checks beyond the refusal table (tests/ops/test_validation.py): which run modes
need what, the strategy's own values freqtrade copies back, and the environment."""

import copy
from pathlib import Path
from typing import Any

import pytest
from freqtrade.configuration.load_config import load_config_file

from metalabel.config import ConfigError, load_config
from metalabel.ops.runner import MAIN_CONFIG
from metalabel.ops.startup_checks import (
    check_operational_config,
    load_config_files,
    strategy_owned_values,
    validate_config,
)

STRONG_API = {
    "password": "a-long-random-password",
    "jwt_secret_key": "a-long-random-jwt-secret-0123456789",
}


def _config(runmode: str = "dry_run", **overrides: Any) -> dict[str, Any]:
    config = load_config_file(str(MAIN_CONFIG))
    config["api_server"].update(STRONG_API)
    config["runmode"] = runmode
    config.update(overrides)
    return config


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("FREQTRADE__EXCHANGE__KEY", "FREQTRADE__EXCHANGE__SECRET"):
        monkeypatch.delenv(key, raising=False)


def test_a_sound_config_passes() -> None:
    validate_config(_config())


def test_backtests_need_no_api_secrets_and_no_exchange_keys() -> None:
    config = _config("backtest", dry_run=False)
    config["api_server"]["password"] = ""
    validate_config(config)


def test_baseline_modes_run_without_freqai() -> None:
    config = _config()
    config["freqai"]["enabled"] = False
    config["metalabel"]["mode"] = "primary"
    validate_config(config)


def test_the_strategys_own_values_copied_back_by_freqtrade_are_not_overrides() -> None:
    """freqtrade's StrategyResolver writes the strategy's stop, ROI and trailing into the
    config it was given; a second strategy built on that dict must still start."""
    config = _config()
    config.update(strategy_owned_values(load_config(config)))
    config.pop("trailing_stop_positive")  # None: freqtrade does not copy it
    validate_config(config)


def test_a_stop_set_in_a_file_is_found_in_freqtrades_original_config() -> None:
    """At runtime freqtrade keeps what the files and environment said in
    ``original_config``; the live dict also holds its own copies."""
    config = _config()
    config.update(strategy_owned_values(load_config(config)))
    config.pop("trailing_stop_positive")
    config["original_config"] = {**copy.deepcopy(config), "stoploss": -0.99}
    with pytest.raises(ConfigError, match=r"^stoploss: -0\.99"):
        check_operational_config(config, load_config(config))


def test_a_timeframe_from_the_command_line_is_refused() -> None:
    """`--timeframe 5m` lands in the live dict, not in original_config."""
    config = _config()
    config["original_config"] = copy.deepcopy(config)
    config["timeframe"] = "5m"
    with pytest.raises(ConfigError, match=r"^timeframe: '5m'"):
        validate_config(config)


def test_the_environment_overlay_is_checked_like_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """FREQTRADE__STOPLOSS in the environment overrides like a key in the file."""
    monkeypatch.setenv("FREQTRADE__API_SERVER__PASSWORD", STRONG_API["password"])
    monkeypatch.setenv("FREQTRADE__API_SERVER__JWT_SECRET_KEY", STRONG_API["jwt_secret_key"])
    validate_config(load_config_files([MAIN_CONFIG]))
    monkeypatch.setenv("FREQTRADE__STOPLOSS", "-0.99")
    with pytest.raises(ConfigError, match=r"^stoploss"):
        validate_config(load_config_files([MAIN_CONFIG]))


def test_runmode_follows_dry_run_like_freqtrade_trade(tmp_path: Path) -> None:
    live = tmp_path / "live.json"
    live.write_text('{"dry_run": false} // live\n')
    assert load_config_files([MAIN_CONFIG])["runmode"].value == "dry_run"
    assert load_config_files([MAIN_CONFIG, live])["runmode"].value == "live"


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config_files([tmp_path / "nope.json"])
    broken = tmp_path / "broken.json"
    broken.write_text('{"dry_run": tru')
    with pytest.raises(ConfigError, match=r"^config: "):
        load_config_files([broken])
