"""``metalabel`` sub-commands for settings and data files: check-config, settings, derive-4h."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metalabel.config import ConfigError, settings_reference
from metalabel.ops.cli_common import Subparsers


def _cmd_check_config(args: argparse.Namespace) -> int:
    """The validator the strategy runs at startup, on the merged files + environment."""
    from metalabel.ops.startup_checks import load_config_files, validate_config

    paths = [Path(p) for p in args.config]
    names = ", ".join(map(str, paths))
    try:
        config = load_config_files(paths, runmode=args.runmode)
        validate_config(config)
    except ConfigError as err:
        print(f"{names}: {err}", file=sys.stderr)
        return 1
    print(
        f"{names}: OK for runmode {config['runmode'].value} (freqtrade schema, operational "
        "checks, metalabel block)"
    )
    return 0


def _cmd_settings(_args: argparse.Namespace) -> int:
    print("| key | type | default | allowed |")
    print("|---|---|---|---|")
    for key, kind, default, allowed in settings_reference():
        print(f"| `{key}` | {kind} | `{default}` | {allowed} |")
    return 0


def _cmd_derive_4h(args: argparse.Namespace) -> int:
    from metalabel.core.candles import write_derived_4h

    for path in write_derived_4h(Path(args.data_dir)):
        print(f"wrote {path}")
    return 0


def register(sub: Subparsers) -> None:
    """check-config, settings, derive-4h."""
    from metalabel.ops.runner import BUNDLED_DATA

    check = sub.add_parser(
        "check-config",
        help="validate configs as the strategy does at startup (freqtrade schema, "
        "operational checks, metalabel block); the FREQTRADE__* environment applies",
    )
    check.add_argument("--config", action="append", default=None)
    check.add_argument(
        "--runmode",
        choices=["dry_run", "live", "backtest"],
        default=None,
        help="check as this run mode (default: what `freqtrade trade` would use)",
    )
    check.set_defaults(func=_cmd_check_config)

    settings = sub.add_parser("settings", help="print every metalabel setting as a table")
    settings.set_defaults(func=_cmd_settings)

    derive = sub.add_parser("derive-4h", help="derive 4h candles from the bundled 1h candles")
    derive.add_argument("--data-dir", default=str(BUNDLED_DATA))
    derive.set_defaults(func=_cmd_derive_4h)
