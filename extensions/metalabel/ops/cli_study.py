"""``metalabel study-bench``: optuna study storage and workers, run on a quadratic bowl.

The storage options (``--storage``, ``--study``, ``--workers``, ``--trials``, ``--seed``,
``--bound``) are added by :func:`add_study_arguments`, for the research command to share
once its trade-simulator objective exists; until then this bench exercises the same
storage, resumption and workers on a cheap objective whose best is known.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from metalabel.config import ConfigError, load_config
from metalabel.ops.cli_common import Subparsers


def _bound(text: str) -> tuple[str, tuple[float, float]]:
    """``NAME=LOW:HIGH`` -> (name, (low, high))."""
    name, _, rest = text.partition("=")
    low, _, high = rest.partition(":")
    try:
        return name.strip(), (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bound {text!r}: expected NAME=LOW:HIGH") from None


def add_study_arguments(parser: argparse.ArgumentParser, *, default_study: str) -> None:
    from metalabel.evaluation.research.storage import default_storage_url
    from metalabel.ops.runner import MAIN_CONFIG, USER_DATA

    parser.add_argument(
        "--storage",
        default=default_storage_url(USER_DATA),
        help="sqlite:///FILE (default under user_data/research/) or postgresql://user@host/db",
    )
    parser.add_argument("--study", default=default_study, help="study name in the storage")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--trials", type=int, default=100, help="finished trials the study holds")
    parser.add_argument("--seed", type=int, default=42, help="worker i samples with seed + i")
    parser.add_argument(
        "--bound",
        type=_bound,
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH",
        help="replace a bound of the search space table (checked at start)",
    )
    parser.add_argument("--config", default=str(MAIN_CONFIG), help="base settings")


def _cmd_study_bench(args: argparse.Namespace) -> int:
    from metalabel.evaluation.research.bench import QuadraticBench
    from metalabel.evaluation.research.space import SPACE, space_digest, with_bounds
    from metalabel.evaluation.research.storage import (
        StudyKey,
        StudyMismatchError,
        StudyStorageError,
        shown_url,
    )
    from metalabel.evaluation.research.workers import StudyPlan, WorkerError, run_study

    try:
        base = load_config(json.loads(Path(args.config).read_text()))
        space = with_bounds(SPACE, dict(args.bound))
        plan = StudyPlan(
            key=StudyKey(args.storage, args.study, "study-bench", space_digest(space)),
            trials=args.trials,
            base=base,
            space=space,
            workers=args.workers,
            seed=args.seed,
            heartbeat_seconds=args.heartbeat_seconds,
            grace_seconds=args.grace_seconds,
            log_level=logging.getLogger().level,
        )
        outcome = run_study(plan, QuadraticBench(delay_seconds=args.delay_seconds))
    except (ConfigError, StudyStorageError, StudyMismatchError, WorkerError, ValueError) as err:
        print(f"metalabel study-bench: {err}")
        return 1
    print(
        f"study {args.study} in {shown_url(args.storage)}: {outcome.finished} finished trials "
        f"({outcome.ran_now} run now, {outcome.failed} failed or surplus) "
        f"in {outcome.seconds:.1f} s with {args.workers} worker(s)"
    )
    print(f"best trial {outcome.best_number}: value {outcome.best_value:.6f}")
    print(f"best params {json.dumps(outcome.best_params, sort_keys=True)}")
    return 0


def register(sub: Subparsers) -> None:
    """study-bench."""
    bench = sub.add_parser(
        "study-bench",
        help="optuna study storage and workers on a quadratic bowl (no trading objective)",
    )
    add_study_arguments(bench, default_study="study-bench")
    bench.add_argument(
        "--delay-seconds", type=float, default=0.0, help="sleep per trial, to mimic a real one"
    )
    bench.add_argument("--heartbeat-seconds", type=int, default=10)
    bench.add_argument(
        "--grace-seconds",
        type=int,
        default=30,
        help="a RUNNING trial without a heartbeat this long is failed and re-run",
    )
    bench.set_defaults(func=_cmd_study_bench)
