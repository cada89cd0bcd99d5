"""``metalabel`` kill-switch sub-commands: kill, resume, status of a bot's state file."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from metalabel.config import ConfigError, load_config
from metalabel.ops.cli_common import Subparsers

if TYPE_CHECKING:
    from metalabel.risk.killswitch import KillSwitchStore


class BotStateError(Exception):
    """The CLI can not tell which bot's kill-switch state to act on."""


def kill_switch_store(args: argparse.Namespace, *, create: bool = False) -> KillSwitchStore:
    """The state file of the bot that runs with ``--userdir`` / ``--config``.

    Resolved like freqtrade resolves them, never from where this package is installed:
    ``--userdir``, else the config's ``user_data_dir``, else ``./user_data`` (freqtrade's
    default; ``/freqtrade/user_data`` in the official image); ``--config``, else
    ``./config.json``, else ``<userdir>/config.json`` (docker-compose.yml's). The
    file must exist (a bot creates it at start) unless ``create``.
    """
    from metalabel.ops.startup_checks import load_config_files
    from metalabel.risk.killswitch import KillSwitchStore

    cwd = Path.cwd()
    given_userdir = Path(args.userdir) if args.userdir else None
    if args.bot_config:
        configs = [Path(c) for c in args.bot_config]
    else:
        candidates = [cwd / "config.json", (given_userdir or cwd / "user_data") / "config.json"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise BotStateError(
                f"no bot config found (looked for {', '.join(map(str, candidates))}); pass "
                "--config and --userdir as the bot was started with"
            )
        configs = found[:1]
    try:
        raw = load_config_files(configs)
        settings = load_config(raw).kill_switch
    except ConfigError as err:
        raise BotStateError(str(err)) from err
    userdir = given_userdir or Path(raw.get("user_data_dir") or cwd / "user_data")
    if not userdir.is_dir():
        raise BotStateError(f"user data directory {userdir} does not exist; pass --userdir")
    store = KillSwitchStore(userdir / settings.state_file)
    try:
        store.path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise BotStateError(
                f"no kill-switch state at {store.path}: no bot has started with user data "
                f"{userdir} and config {', '.join(map(str, configs))} (a bot creates the "
                "file at start); check --userdir / --config"
            ) from None
    except OSError as err:
        raise BotStateError(f"can not read {store.path}: {err}") from err
    return store


def _cmd_kill(args: argparse.Namespace) -> int:
    from metalabel.risk.killswitch import KillTrigger, StateWriteError

    try:
        store = kill_switch_store(args, create=args.create)
        state = store.trip(KillTrigger.MANUAL, args.reason, datetime.now(UTC), must_persist=True)
    except BotStateError as err:
        print(f"kill switch NOT tripped: {err}", file=sys.stderr)
        return 2
    except StateWriteError as err:
        print(f"kill switch NOT tripped: {err}", file=sys.stderr)
        return 1
    if not store.read().tripped:  # pragma: no cover - trip() raises when it can not write
        print(f"kill switch NOT tripped: {store.path} still reads ACTIVE", file=sys.stderr)
        return 1
    print(f"kill switch TRIPPED ({state.trigger}): {state.reason}")
    print(
        f"state file: {store.path}; a running bot blocks entries and closes positions on "
        "its next loop; `metalabel resume` resets it"
    )
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from metalabel.risk.killswitch import StateWriteError

    try:
        store = kill_switch_store(args)
        before = store.read()
        store.reset(datetime.now(UTC))
    except BotStateError as err:
        print(f"kill switch NOT reset: {err}", file=sys.stderr)
        return 2
    except StateWriteError as err:
        print(f"kill switch NOT reset: {err}", file=sys.stderr)
        return 1
    print(f"kill switch ACTIVE again (was {before.state}: {before.reason or '-'})")
    print(f"state file: {store.path}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    """Exit code 0 when active, 1 when tripped, 2 when no bot state was found."""
    try:
        store = kill_switch_store(args)
    except BotStateError as err:
        print(f"kill switch state unknown: {err}", file=sys.stderr)
        return 2
    state = store.read()
    print(
        f"kill switch: {state.state}"
        + (f" ({state.trigger}: {state.reason})" if state.tripped else "")
    )
    print(f"state file: {store.path}")
    return 1 if state.tripped else 0


def register(sub: Subparsers) -> None:
    """kill, resume, status: each acts on the bot given by --userdir / --config."""
    for name, func, text in (
        ("kill", _cmd_kill, "trip the kill switch of a (running) bot"),
        ("resume", _cmd_resume, "reset a tripped kill switch"),
        ("status", _cmd_status, "show the kill switch state (exit code 1 when tripped)"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument(
            "--userdir",
            default=None,
            help="the bot's user data directory (default: the config's user_data_dir, "
            "else ./user_data)",
        )
        command.add_argument(
            "--config",
            dest="bot_config",
            action="append",
            default=None,
            help="the bot's config (default: ./config.json, else <userdir>/config.json)",
        )
        if name == "kill":
            command.add_argument("--reason", default="manual trip from the command line")
            command.add_argument(
                "--create",
                action="store_true",
                help="trip even if no bot has started here yet (it will start tripped)",
            )
        command.set_defaults(func=func)
