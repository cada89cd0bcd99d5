"""The ``metalabel`` command line: its parser (every sub-command, help, errors) and
``check-config`` on a good and a bad config, through the entry point ``main``."""

import json
from pathlib import Path

import pytest

from metalabel.ops import cli
from metalabel.ops.runner import MAIN_CONFIG

# In the order of `metalabel --help`.
SUBCOMMANDS = [
    "replay",
    "backtest",
    "check-config",
    "settings",
    "derive-4h",
    "kill",
    "resume",
    "status",
    "analysis",
    "bench",
    "tune",
    "research",
    "dryrun",
    "health",
    "drill",
    "fidelity",
    "journal",
    "daily",
    "study-bench",
    "model-cv",
    "parity",
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``metalabel argv`` (argparse's exits included)."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _choices() -> dict[str, object]:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert isinstance(sub.choices, dict)
    return sub.choices


def test_every_subcommand_is_registered_once_in_order() -> None:
    assert list(_choices()) == SUBCOMMANDS


def test_every_subcommand_has_a_command_to_run() -> None:
    parser = cli.build_parser()
    for name in SUBCOMMANDS:
        assert callable(parser.parse_args([name]).func), name


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    assert out.startswith("usage: metalabel")
    for name in SUBCOMMANDS:
        assert f"\n    {name}" in out, name


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([name, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"usage: metalabel {name} [-h]")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),  # no sub-command
        (["nosuch"], "invalid choice: 'nosuch'"),  # unknown sub-command
        (["replay", "--port", "x"], "argument --port: invalid int value: 'x'"),
        (["dryrun", "--mode", "live"], "argument --mode: invalid choice: 'live'"),
        (["status", "--nosuch"], "unrecognized arguments: --nosuch"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert out == ""
    assert message in err and err.startswith("usage: metalabel")


def test_unset_config_falls_back_to_the_main_config() -> None:
    args = cli.build_parser().parse_args(["check-config"])
    assert args.config is None and args.default_config == str(MAIN_CONFIG)


@pytest.mark.usefixtures("no_freqtrade_env")
def test_check_config_accepts_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check-config", "--config", str(MAIN_CONFIG), "--runmode", "backtest"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert f"{MAIN_CONFIG}: OK for runmode backtest" in out


@pytest.mark.usefixtures("no_freqtrade_env")
def test_check_config_refuses_a_bad_setting_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "overlay.json"
    bad.write_text(json.dumps({"metalabel": {"risk": {"leverage": 5}}}))
    argv = ["check-config", "--config", str(MAIN_CONFIG), "--config", str(bad)]
    code, out, err = _run([*argv, "--runmode", "backtest"], capsys)
    assert code == 1
    assert "OK" not in out
    assert "metalabel.risk.leverage: must be in [1, 3], got 5.0" in err
    assert str(bad) in err  # names the files it checked


@pytest.mark.usefixtures("no_freqtrade_env")
def test_check_config_refuses_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["check-config", "--config", str(tmp_path / "absent.json")], capsys)
    assert code != 0
    assert "absent.json" in err
