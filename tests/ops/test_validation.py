"""One validator, two doors: every malformed config is refused by the strategy at
startup (loaded through freqtrade's StrategyResolver) and by `metalabel check-config`
(a subprocess on a temp file with `//` comments), with the same message naming the key."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from freqtrade.configuration.load_config import load_config_file
from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.resolvers import StrategyResolver

from metalabel.ops import cli
from metalabel.ops.runner import MAIN_CONFIG, USER_DATA
from metalabel.ops.startup_checks import PUBLISHED_API_ENV

DELETE = object()
STRONG_API = {
    "password": "a-long-random-password-0123",
    "jwt_secret_key": "a-long-random-jwt-secret-0123456789abcdef",
}
KEYS = {"FREQTRADE__EXCHANGE__KEY": "k" * 20, "FREQTRADE__EXCHANGE__SECRET": "s" * 30}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _base() -> dict[str, Any]:
    """The shipped config with the secrets the environment would give it."""
    return _merge(load_config_file(str(MAIN_CONFIG)), {"api_server": STRONG_API})


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FREQTRADE__") and k not in (PUBLISHED_API_ENV, "METALABEL_CONTAINER")
    }
    return {**env, **extra}


def _startup(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    """The strategy's own startup, as freqtrade loads it; the refusal message or ''."""
    for key in [k for k in os.environ if k.startswith("FREQTRADE__")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv(PUBLISHED_API_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    live = config.get("dry_run") is False
    runtime = {
        **copy.deepcopy(config),
        "runmode": RunMode.LIVE if live else RunMode.DRY_RUN,
        "strategy": "MetaLabelStrategy",
        "strategy_path": str(USER_DATA / "strategies"),
        "user_data_dir": USER_DATA,
        "candle_type_def": CandleType.FUTURES,
    }
    try:
        StrategyResolver.load_strategy(runtime)
    except OperationalException as err:
        text = str(err)
        assert text.startswith("Invalid configuration: "), text
        return text.removeprefix("Invalid configuration: ")
    return ""


def _write(config: dict[str, Any], path: Path) -> Path:
    # freqtrade's JSON allows comments; check-config must too
    path.write_text("// a user's config, with a comment\n" + json.dumps(config, indent=2))
    return path


def _check_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=_env(env),
    )


LIVE = {"dry_run": False}

# (patch of the shipped config, key the message must name, extra environment)
CASES: list[tuple[dict[str, Any], str, dict[str, str]]] = [
    # a top-level stop replaces the strategy's (-0.99 at 2x: no working stop)
    ({"stoploss": -0.99}, "stoploss", {}),
    # custom stop-loss switched off: no fixed stop, no trailing
    ({"use_custom_stoploss": False}, "use_custom_stoploss", {}),
    # a top-level ROI table replaces the take-profit
    ({"minimal_roi": {"0": 0.01}}, "minimal_roi", {}),
    # freqtrade's own trailing stop on top of ours
    ({"trailing_stop": True}, "trailing_stop", {}),
    ({"trailing_stop_positive": 0.01}, "trailing_stop_positive", {}),
    ({"trailing_stop_positive_offset": 0.02}, "trailing_stop_positive_offset", {}),
    ({"trailing_only_offset_is_reached": True}, "trailing_only_offset_is_reached", {}),
    # 5m candles: 24 candles of time exit become 2 hours
    ({"timeframe": "5m"}, "timeframe", {}),
    ({"timeframe": "4h"}, "timeframe", {}),
    # stop 0.4 at 3x: -1.2 margin, far beyond liquidation
    (
        {
            "metalabel": {
                "exits": {"stop_loss_ratio": 0.4, "take_profit_ratio": 0.6},
                "risk": {"leverage": 3},
            }
        },
        "metalabel.exits.stop_loss_ratio",
        {},
    ),
    # stop 0.34 at 3x: just past 1/3 - 0.5 % maintenance margin
    (
        {
            "metalabel": {
                "exits": {"stop_loss_ratio": 0.34, "take_profit_ratio": 0.6},
                "risk": {"leverage": 3},
            }
        },
        "liquidation",
        {},
    ),
    # stop 0.33 at 3x: inside 1/3 but beyond it once the maintenance margin counts
    (
        {
            "metalabel": {
                "exits": {"stop_loss_ratio": 0.33, "take_profit_ratio": 0.6},
                "risk": {"leverage": 3},
            }
        },
        "metalabel.risk.leverage",
        {},
    ),
    # stop 0.5 at 2x: liquidation at 0.495
    (
        {"metalabel": {"exits": {"stop_loss_ratio": 0.5, "take_profit_ratio": 0.6}}},
        "metalabel.exits.stop_loss_ratio",
        {},
    ),
    # stop equal to the take-profit
    (
        {"metalabel": {"exits": {"stop_loss_ratio": 0.03, "take_profit_ratio": 0.03}}},
        "take_profit_ratio",
        {},
    ),
    # stop above the take-profit
    (
        {"metalabel": {"exits": {"stop_loss_ratio": 0.05, "take_profit_ratio": 0.03}}},
        "metalabel.exits.stop_loss_ratio",
        {},
    ),
    # a kill-switch drawdown of 100 % only trips once the account is gone
    (
        {"metalabel": {"kill_switch": {"max_drawdown_ratio": 1.0}}},
        "metalabel.kill_switch.max_drawdown_ratio",
        {},
    ),
    (
        {"metalabel": {"kill_switch": {"max_daily_loss_ratio": 1.0}}},
        "metalabel.kill_switch.max_daily_loss_ratio",
        {},
    ),
    # a live bot without its kill switch
    (
        {**LIVE, "metalabel": {"kill_switch": {"enabled": False}}},
        "metalabel.kill_switch.enabled",
        KEYS,
    ),
    # guard pause at the kill switch's drawdown: the guard never steps in first
    (
        {"metalabel": {"guard": {"paused_drawdown_ratio": 0.15}}},
        "metalabel.guard.paused_drawdown_ratio",
        {},
    ),
    # guard tiers both beyond the kill switch
    (
        {"metalabel": {"guard": {"reduced_drawdown_ratio": 0.2, "paused_drawdown_ratio": 0.25}}},
        "metalabel.guard.reduced_drawdown_ratio",
        {},
    ),
    # a kill switch tightened below the guard's default pause
    (
        {"metalabel": {"kill_switch": {"max_drawdown_ratio": 0.08}}},
        "metalabel.guard.paused_drawdown_ratio",
        {},
    ),
    # a confidence threshold that lets every prediction through
    (
        {"metalabel": {"model": {"confidence_threshold": 0.0001}}},
        "metalabel.model.confidence_threshold",
        {},
    ),
    # just below a coin flip
    (
        {"metalabel": {"model": {"confidence_threshold": 0.49}}},
        "metalabel.model.confidence_threshold",
        {},
    ),
    # 100 % of equity per position at 3x, three positions
    (
        {"metalabel": {"risk": {"max_position_ratio": 1.0, "leverage": 3}}},
        "metalabel.risk.max_position_ratio",
        {},
    ),
    # half the equity per position, three positions: 1.5x the account
    (
        {"metalabel": {"risk": {"max_position_ratio": 0.5}}},
        "metalabel.risk.max_position_ratio",
        {},
    ),
    # twenty positions at the default 10 % cap
    (
        {"metalabel": {"risk": {"max_open_positions": 20}}},
        "metalabel.risk.max_position_ratio",
        {},
    ),
    # leverage above the hard cap
    ({"metalabel": {"risk": {"leverage": 5}}}, "metalabel.risk.leverage", {}),
    # a one-character API password
    ({"api_server": {"password": "x"}}, "api_server.password", {}),
    # fifteen characters: one short
    ({"api_server": {"password": "abcdefghijklmno"}}, "api_server.password", {}),
    # freqtrade's documented example password
    ({"api_server": {"password": "SuperSecurePassword"}}, "api_server.password", {}),
    # the empty password of an unset environment variable
    ({"api_server": {"password": ""}}, "api_server.password", {}),
    # the shipped JWT placeholder
    (
        {"api_server": {"jwt_secret_key": "placeholder-set-FREQTRADE__API_SERVER__JWT_SECRET_KEY"}},
        "api_server.jwt_secret_key",
        {},
    ),
    # live without exchange keys in the environment
    (LIVE, "exchange.key", {}),
    # live with a key but no secret
    (LIVE, "FREQTRADE__EXCHANGE__SECRET", {"FREQTRADE__EXCHANGE__KEY": "k" * 20}),
    # an empty dry-run wallet
    ({"dry_run_wallet": 0}, "dry_run_wallet", {}),
    ({"dry_run_wallet": -100}, "dry_run_wallet", {}),
    # a wallet that is not a number (freqtrade's schema)
    ({"dry_run_wallet": "lots"}, "dry_run_wallet", {}),
    # the API on every interface, outside compose
    ({"api_server": {"listen_ip_address": "0.0.0.0"}}, "api_server.listen_ip_address", {}),
    # ... published on every host interface (`docker run -p 8080:8080`)
    (
        {"api_server": {"listen_ip_address": "0.0.0.0"}},
        "api_server.listen_ip_address",
        {PUBLISHED_API_ENV: "0.0.0.0:8080"},
    ),
    # ... published on loopback, but another port than the API's
    (
        {"api_server": {"listen_ip_address": "0.0.0.0"}},
        "api_server.listen_ip_address",
        {PUBLISHED_API_ENV: "127.0.0.1:9000"},
    ),
    # freqtrade's schema: a trading mode that does not exist
    ({"trading_mode": "fut"}, "trading_mode", {}),
    # freqtrade's schema: a whitelist that is not a list
    ({"exchange": {"pair_whitelist": "BTC/USDT:USDT"}}, "exchange.pair_whitelist", {}),
    # freqtrade's schema: a required key missing
    ({"stake_currency": DELETE}, "stake_currency", {}),
    # freqtrade's schema: below its minimum
    ({"max_open_trades": -5}, "max_open_trades", {}),
    # meta mode without FreqAI
    ({"freqai": {"enabled": False}}, "metalabel.mode", {}),
    # telegram on without its token
    ({"telegram": {"enabled": True, "chat_id": "1"}}, "telegram", {}),
    # a typo in the metalabel block
    ({"metalabel": {"rsik": {"leverage": 2}}}, "metalabel.rsik", {}),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40


def test_a_sound_config_passes_both_doors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _startup(_base(), monkeypatch, {}) == ""
    result = _check_config(_write(_base(), tmp_path / "config.json"), {})
    assert result.returncode == 0, result.stderr
    assert "OK for runmode dry_run" in result.stdout


def test_a_sound_live_config_with_keys_in_the_environment_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _merge(_base(), LIVE)
    assert _startup(config, monkeypatch, KEYS) == ""
    result = _check_config(_write(config, tmp_path / "config.json"), KEYS)
    assert result.returncode == 0, result.stderr


def test_compose_published_loopback_port_allows_listening_inside_the_container(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _merge(_base(), {"api_server": {"listen_ip_address": "0.0.0.0"}})
    assert _startup(config, monkeypatch, {PUBLISHED_API_ENV: "127.0.0.1:8080"}) == ""


def _check_config_in_process(
    path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, str]:
    """`metalabel check-config` through its entry point, in this process (fast)."""
    for key in [k for k in os.environ if k.startswith("FREQTRADE__")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv(PUBLISHED_API_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = cli.main(["check-config", "--config", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("patch", "key", "env"), CASES)
def test_refused_at_startup_and_by_check_config_alike(
    patch: dict[str, Any],
    key: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    tmp_path: Path,
) -> None:
    config = _merge(_base(), patch)
    message = _startup(config, monkeypatch, env)
    assert message, "the strategy started"
    assert key in message
    path = _write(config, tmp_path / "config.json")
    code, err = _check_config_in_process(path, env, monkeypatch, capsys)
    assert code == 1
    assert err.strip().splitlines()[-1] == f"{path}: {message}"


@pytest.mark.slow
@pytest.mark.parametrize(("patch", "key", "env"), CASES)
def test_refused_by_the_check_config_command_as_a_subprocess(
    patch: dict[str, Any],
    key: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = _merge(_base(), patch)
    message = _startup(config, monkeypatch, env)
    path = _write(config, tmp_path / "config.json")
    result = _check_config(path, env)
    assert result.returncode == 1
    assert key in message
    assert result.stderr.strip().splitlines()[-1] == f"{path}: {message}"
