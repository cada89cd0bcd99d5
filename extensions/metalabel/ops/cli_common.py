"""What the ``metalabel`` sub-command modules share: the sub-parser type and the config gate."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from metalabel.config import ConfigError

# The object ``ArgumentParser.add_subparsers()`` returns; each area module's
# ``register(subparsers)`` adds its commands to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Register: TypeAlias = Callable[[Subparsers], None]


def check_config_file(*paths: Path, runmode: str = "backtest") -> None:
    """Validate configs (merged, as freqtrade merges them) before a long run starts."""
    from metalabel.ops.startup_checks import load_config_files, validate_config

    try:
        validate_config(load_config_files(list(paths), runmode=runmode))
    except ConfigError as err:
        raise SystemExit(f"{', '.join(map(str, paths))}: {err}") from err
