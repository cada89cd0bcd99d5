"""The ``metalabel`` command line: replay exchange, offline backtest, config checks, data.

Each sub-command is a thin wrapper over a package function; output meant for people
goes to stdout, diagnostics to the log.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from metalabel.ops import (
    cli_config,
    cli_fidelity,
    cli_journal,
    cli_killswitch,
    cli_model,
    cli_parity,
    cli_replay,
    cli_research,
    cli_study,
)
from metalabel.ops.cli_common import Register

logger = logging.getLogger("metalabel")

# Each area module adds its sub-commands with ``register(subparsers)``; the order here is
# the order of ``metalabel --help``. A new area: import its module above, list it here.
SUBCOMMANDS: tuple[Register, ...] = (
    cli_replay.register_replay,  # replay
    cli_research.register_backtest,  # backtest
    cli_config.register,  # check-config, settings, derive-4h
    cli_killswitch.register,  # kill, resume, status
    cli_research.register,  # analysis, bench, tune
    cli_replay.register,  # dryrun, health, drill
    cli_fidelity.register,  # fidelity
    cli_journal.register,  # journal, daily
    cli_study.register,  # study-bench
    cli_model.register,  # model-cv
    cli_parity.register,  # parity
)


def build_parser() -> argparse.ArgumentParser:
    from metalabel.ops.runner import MAIN_CONFIG

    parser = argparse.ArgumentParser(prog="metalabel", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in SUBCOMMANDS:
        register(sub)
    parser.set_defaults(default_config=str(MAIN_CONFIG))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", "absent") is None:
        args.config = [args.default_config]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
