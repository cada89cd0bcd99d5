"""The project's promises to a fresh clone: two commands, safe config, compose file."""

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from metalabel.config import settings_reference

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quick start has a shell block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))


def test_readme_quick_start_is_exactly_two_make_commands() -> None:
    assert _quick_start_commands() == ["make backtest", "make test"]


def test_the_makefile_defines_both_commands_with_their_own_setup() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert {"backtest", "test"} <= _make_targets()
    # both depend on the venv stamp, which installs the package when it is missing
    assert re.search(r"^backtest: \$\(STAMP\)", makefile, re.M)
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.M)
    assert "pip install --quiet -e '.[dev]'" in makefile


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "make test" in commands


def test_readme_settings_table_is_the_generated_one() -> None:
    table = README.split("<!-- settings-table:start", 1)[1].split("<!-- settings-table:end", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    expected = [f"| `{k}` | {t} | `{d}` | {a} |" for k, t, d, a in settings_reference()]
    assert rows == expected, "regenerate with `metalabel settings`"


def test_freqtrade_is_pinned_exactly_and_matches_the_docker_image() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("freqtrade")]
    assert pins == ["freqtrade[freqai,hyperopt,plot]==2026.9"]
    for dependency in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in dependency, f"{dependency} is not pinned"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM freqtradeorg/freqtrade:2026.9_freqai" in dockerfile


def test_shipped_config_is_safe_by_default() -> None:
    config = json.loads((ROOT / "user_data" / "config.json").read_text())
    assert config["$schema"]
    assert config["dry_run"] is True
    assert config["trading_mode"] == "futures" and config["margin_mode"] == "isolated"
    assert config["exchange"]["name"] == "bybit"
    assert config["exchange"]["pair_whitelist"] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert config["max_open_trades"] == 3 and config["timeframe"] == "1h"
    # no secrets in a tracked file
    assert config["exchange"]["key"] == "" and config["exchange"]["secret"] == ""
    assert config["api_server"]["password"] == ""
    assert config["api_server"]["listen_ip_address"] == "127.0.0.1"
    assert config["telegram"] == {"enabled": False, "token": "", "chat_id": ""}
    # freqtrade looks fiat rates up on CoinGecko at startup: an offline bot must not
    assert "fiat_display_currency" not in config


def test_gitignore_keeps_secrets_and_artifacts_out() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for pattern in (
        ".venv/",
        ".env",
        "user_data/models/*",
        "user_data/backtest_results/",
        "user_data/logs/",
        "*.sqlite",
        "*.private.json",
    ):
        assert pattern in ignored


def test_compose_file_publishes_the_api_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["freqtrade"]
    assert service["ports"] == ["127.0.0.1:8080:8080"]
    assert "./user_data:/freqtrade/user_data" in service["volumes"]
    assert service["command"].split()[0] == "trade"
    # secrets are passed through from the environment, never written here
    for key, value in service["environment"].items():
        if key.endswith(("KEY", "SECRET", "PASSWORD", "TOKEN")):
            assert value.startswith("${"), key


def _compose_command() -> list[str] | None:
    """The compose CLI this machine has: the docker plugin (probed, since a docker CLI
    without it misreads ``-f``) or the standalone docker-compose; None when neither."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_command() is None, reason="no compose CLI (plugin or standalone)")
def test_compose_file_parses_with_the_compose_cli() -> None:
    command = [*(_compose_command() or []), "-f", "docker-compose.yml", "config", "--quiet"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
