"""Run real freqtrade commands offline, against the replay exchange.

freqtrade loads Bybit's market list at startup and has no offline mode, so every
offline run starts a replay exchange, points ccxt at it with a config overlay and
runs the unmodified ``freqtrade`` executable in a subprocess.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from metalabel.evaluation.report.loading import PREDICTIONS_DIR
from metalabel.ops.replay import ReplayServer
from metalabel.ops.replay.clock import Clock, HistoricalClock

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
USER_DATA = PROJECT_ROOT / "user_data"
MAIN_CONFIG = USER_DATA / "config.json"
BUNDLED_DATA = USER_DATA / "data" / "bybit" / "futures"


def freqtrade_executable() -> str:
    """The ``freqtrade`` script of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("freqtrade")
    return str(candidate) if candidate.exists() else "freqtrade"


def replay_overlay(url: str) -> dict[str, Any]:
    """A freqtrade config overlay that sends every ccxt request to ``url``."""
    api = {name: url for name in ("public", "private", "spot", "futures", "v2")}
    ccxt = {"enableRateLimit": False, "urls": {"api": api}}
    return {
        "exchange": {"enable_ws": False, "ccxt_config": ccxt, "ccxt_async_config": ccxt},
    }


@contextmanager
def replay_session(
    *, data_dir: Path = BUNDLED_DATA, port: int = 0, clock: Clock | None = None
) -> Iterator[tuple[ReplayServer, Path]]:
    """A running replay exchange and the path of an overlay config pointing at it."""
    with (
        ReplayServer(data_dir, port=port, clock=clock or HistoricalClock()) as server,
        tempfile.TemporaryDirectory(prefix="metalabel-replay-") as tmp,
    ):
        overlay = Path(tmp) / "config.replay.json"
        overlay.write_text(json.dumps(replay_overlay(server.url), indent=2))
        yield server, overlay


def run_freqtrade(
    subcommand: str,
    extra_args: Sequence[str] = (),
    *,
    configs: Sequence[Path] = (MAIN_CONFIG,),
    overlays: Sequence[dict[str, Any]] = (),
    userdir: Path = USER_DATA,
    data_dir: Path = BUNDLED_DATA,
    capture: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``freqtrade SUBCOMMAND`` against a fresh replay exchange; return its result.

    ``overlays`` are extra config dicts applied after ``configs`` (and before the
    replay overlay); strategies and models are always loaded from this project.
    """
    userdir.mkdir(parents=True, exist_ok=True)
    with replay_session(data_dir=data_dir) as (_server, replay_overlay_path):
        command = [freqtrade_executable(), subcommand]
        overlay_dir = replay_overlay_path.parent
        extra_configs = []
        for index, overlay in enumerate(overlays):
            path = overlay_dir / f"overlay-{index}.json"
            path.write_text(json.dumps(overlay, indent=2))
            extra_configs.append(path)
        for config in (*configs, *extra_configs, replay_overlay_path):
            command += ["--config", str(config)]
        command += [
            "--userdir",
            str(userdir),
            "--datadir",
            str(data_dir.parent),
            "--strategy-path",
            str(USER_DATA / "strategies"),
            "--freqaimodel-path",
            str(USER_DATA / "freqaimodels"),
            *extra_args,
        ]
        logger.info("running %s", " ".join(command))
        return subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            check=False,
            text=True,
            capture_output=capture,
            env=env,
        )


# Backtests train under their own FreqAI identifier, so they never touch (or delete)
# the models of a running bot, and every run retrains from scratch: a model saved by
# an earlier run of other code must not be reused silently.
BACKTEST_IDENTIFIER = "metalabel-backtest"


def run_backtest(
    timerange: str,
    *,
    configs: Sequence[Path] = (MAIN_CONFIG,),
    overlays: Sequence[dict[str, Any]] = (),
    userdir: Path = USER_DATA,
    data_dir: Path = BUNDLED_DATA,
    results_dir: Path | None = None,
    identifier: str = BACKTEST_IDENTIFIER,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``freqtrade backtesting`` (FreqAI walk-forward in meta mode) over ``timerange``."""
    model_dir = userdir / "models" / identifier
    if model_dir.exists():
        shutil.rmtree(model_dir)
    results_dir = results_dir or userdir / "backtest_results"
    results_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "--timerange",
        timerange,
        "--cache",
        "none",
        "--export",
        "signals",
        "--backtest-directory",
        str(results_dir),
        "--breakdown",
        "month",
    ]
    result = run_freqtrade(
        "backtesting",
        args,
        configs=configs,
        overlays=[*overlays, {"freqai": {"identifier": identifier}}],
        userdir=userdir,
        data_dir=data_dir,
        capture=capture,
    )
    # FreqAI's out-of-sample predictions, one feather per window (the next run clears
    # the model folder): beside the results, for the report's skill section.
    predictions = model_dir / PREDICTIONS_DIR
    if predictions.is_dir():
        shutil.copytree(predictions, results_dir / PREDICTIONS_DIR, dirs_exist_ok=True)
    return result


# The product and its baselines: same data, same costs, same period (DESIGN.md).
BASELINE_OFF = {"freqai": {"enabled": False}}
VARIANT_OVERLAYS: dict[str, tuple[dict[str, Any], ...]] = {
    "meta": (),
    "primary": (BASELINE_OFF, {"metalabel": {"mode": "primary"}}),
    "primary_regime": (BASELINE_OFF, {"metalabel": {"mode": "primary_regime"}}),
}


def current_commit() -> str:
    """The checked-out commit (with ``-dirty`` for uncommitted changes), or "unknown"."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head
