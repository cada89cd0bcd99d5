"""The ``metalabel`` command line: replay exchange, offline backtest, config checks, data.

Each sub-command is a thin wrapper over a package function; output meant for people
goes to stdout, diagnostics to the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from metalabel.config import ConfigError, load_config, settings_reference

if TYPE_CHECKING:
    from metalabel.risk.killswitch import KillSwitchStore

logger = logging.getLogger("metalabel")


def _cmd_replay(args: argparse.Namespace) -> int:
    from metalabel.ops.replay import ReplayServer
    from metalabel.ops.replay.clock import HistoricalClock, LiveClock

    clock = LiveClock(lead_hours=args.lead_hours) if args.clock == "live" else HistoricalClock()
    server = ReplayServer(Path(args.data_dir), port=args.port, host=args.host, clock=clock)
    server.start()
    print(f"replay exchange ({args.clock} clock) listening on {server.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    """The walk-forward backtest of the product and its baselines, then the report."""
    from metalabel.evaluation.report import ReportInputError, build_report, headline
    from metalabel.model.lifecycle import LIFECYCLE_LOG
    from metalabel.ops.runner import (
        BACKTEST_IDENTIFIER,
        VARIANT_OVERLAYS,
        current_commit,
        run_backtest,
    )

    configs = [Path(c) for c in args.config]
    _check_config_file(*configs)
    reports = Path(args.reports)
    results_dirs = {}
    variants = ["meta"] if args.meta_only else list(VARIANT_OVERLAYS)
    for variant in variants:
        print(f"\n=== freqtrade backtesting: {variant} ({args.timerange}) ===", flush=True)
        results_dirs[variant] = reports / "runs" / variant
        shutil.rmtree(results_dirs[variant], ignore_errors=True)  # this run's results only
        result = run_backtest(
            args.timerange,
            configs=configs,
            overlays=VARIANT_OVERLAYS[variant],
            userdir=Path(args.userdir),
            data_dir=Path(args.data_dir),
            results_dir=results_dirs[variant],
        )
        if result.returncode != 0:
            print(f"freqtrade backtesting ({variant}) failed with exit code {result.returncode}")
            return result.returncode
        log = Path(args.userdir) / "models" / BACKTEST_IDENTIFIER / LIFECYCLE_LOG
        if variant == "meta" and log.exists():  # the next run clears the model folder
            shutil.copy(log, results_dirs[variant] / LIFECYCLE_LOG)
    if args.meta_only:
        return 0
    try:
        report = build_report(
            results_dirs,
            timerange=args.timerange,
            candles_dir=Path(args.data_dir),
            out_dir=reports,
            commit=current_commit(),
            lifecycle_log=results_dirs["meta"] / LIFECYCLE_LOG,
        )
    except ReportInputError as err:
        print(f"walk-forward report not written: {err}")
        return 1
    print(headline(report))
    print(f"wrote {reports / 'walkforward.json'} and {reports / 'walkforward.html'}")
    return 0


def _check_config_file(*paths: Path, runmode: str = "backtest") -> None:
    """Validate configs (merged, as freqtrade merges them) before a long run starts."""
    from metalabel.ops.startup_checks import load_config_files, validate_config

    try:
        validate_config(load_config_files(list(paths), runmode=runmode))
    except ConfigError as err:
        raise SystemExit(f"{', '.join(map(str, paths))}: {err}") from err


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


class BotStateError(Exception):
    """The CLI can not tell which bot's kill-switch state to act on."""


def _kill_switch_store(args: argparse.Namespace, *, create: bool = False) -> KillSwitchStore:
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
        store = _kill_switch_store(args, create=args.create)
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
        store = _kill_switch_store(args)
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
        store = _kill_switch_store(args)
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


def _cmd_analysis(args: argparse.Namespace) -> int:
    from metalabel.ops.bias_analysis import analyse_all

    verdicts = analyse_all(args.timerange, userdir=Path(args.userdir))
    for verdict in verdicts:
        print(("PASS " if verdict.ok else "FAIL ") + verdict.line())
    return 0 if all(v.ok for v in verdicts) else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    """Each benchmark prints its own key=value figures; logs go to stderr."""
    from metalabel.ops.bench import bench_decision_latency, bench_walkforward
    from metalabel.ops.bench_labels import bench_labels

    if args.what in ("labels", "all"):
        bench_labels(n_events=args.candles)
    if args.what in ("latency", "all"):
        bench_decision_latency(candles_per_pair=args.latency_candles)
    if args.what in ("walkforward", "all"):
        bench_walkforward(quick=args.quick)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    """Optuna over the meta-model's XGBoost parameters and threshold; optionally write them."""
    from metalabel.evaluation.tuning import DEFAULT_PAIRS, config_with_result, tune

    path = Path(args.config)
    _check_config_file(path)
    raw = json.loads(path.read_text())
    settings = load_config(raw)
    freqai = raw.get("freqai", {})
    split = freqai.get("data_split_parameters", {})
    result = tune(
        Path(args.data_dir),
        settings,
        config_training_params=freqai.get("model_training_parameters", {}),
        trials=args.trials,
        timeout_seconds=args.timeout,
        seed=settings.model.seed if args.seed is None else args.seed,
        folds_limit=args.folds_limit,
        pairs=raw.get("exchange", {}).get("pair_whitelist") or DEFAULT_PAIRS,
        train_days=freqai.get("train_period_days", 180),
        test_days=freqai.get("backtest_period_days", 30),
        test_size=split.get("test_size", 0.2),
    )
    folds = result.folds
    print(
        f"{result.trials_run} trials on {len(folds)} walk-forward folds "
        f"({folds[0].test_start:%Y-%m-%d} to {folds[-1].test_end:%Y-%m-%d} tested); "
        "score = mean over folds of the taken events' t-statistic"
    )
    print(f"best score     {result.best_score:+.4f}  {json.dumps(result.best_params)}")
    print(f"baseline score {result.baseline_score:+.4f}  {json.dumps(result.baseline_params)}")
    print(f"all signals    {result.signals_score:+.4f}  (no model: every admitted signal)")
    print(f"best, per fold:     {' '.join(f'{s:+.2f}' for s in result.fold_scores)}")
    print(f"baseline, per fold: {' '.join(f'{s:+.2f}' for s in result.baseline_fold_scores)}")
    print(f"best, trades per fold: {' '.join(map(str, result.fold_trades))}")
    if not args.write:
        return 0
    updated, changed = config_with_result(raw, result)
    try:
        load_config(updated)
    except ConfigError as err:
        print(f"{path} not written: the tuned values are invalid: {err}")
        return 1
    if not changed:
        print(f"{path}: already holds these values, not written")
        return 0
    path.write_text(json.dumps(updated, indent=4, ensure_ascii=False) + "\n")
    print(f"wrote {path}; changed: {', '.join(changed)}")
    return 0


def _cmd_dryrun(args: argparse.Namespace) -> int:
    """freqtrade trade --dry-run against the replay live clock until Ctrl-C / SIGTERM."""
    from metalabel.ops.dryrun import DryRunError, dryrun_session

    env_file = Path(args.env_file)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with dryrun_session(
            mode=args.mode,
            api_port=args.api_port,
            lead_hours=args.lead_hours,
            env_file=env_file,
            config=Path(args.config[0]),
            startup_timeout_seconds=args.startup_timeout,
        ) as session:
            creds = session.credentials
            print(
                f"\ndry run ({args.mode}) against the replay exchange {session.replay.url}\n"
                f"REST API: {creds.url}/api/v1  (FreqUI at {creds.url} once installed with "
                "`freqtrade install-ui`, which needs internet)\n"
                f"login: username {creds.username}, password: FREQTRADE__API_SERVER__PASSWORD "
                f"in {env_file}\n"
                "(generated for this session; the file is mode 0600 and removed on exit)\n"
                f"health: metalabel health --env-file {env_file}\n"
                "Ctrl-C stops the bot and the replay exchange.\n",
                flush=True,
            )
            while not stop.wait(1.0):
                if session.process.poll() is not None:
                    print(f"freqtrade exited with code {session.process.returncode}")
                    return session.process.returncode or 1
    except DryRunError as err:
        print(f"dry run failed: {err}")
        return 1
    print("dry run stopped")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    """One line per check; exit code 0 only when every check passes."""
    import time

    from metalabel.ops.health import BotClient, HealthLimits, resolve_credentials, run_checks

    config_path = Path(args.config[0])
    try:
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        config = {}
    credentials = resolve_credentials(
        url=args.url, username=args.username, env_file=Path(args.env_file), config=config
    )
    limits = HealthLimits(
        candle_grace_seconds=args.grace_minutes * 60,
        process_max_age_seconds=args.process_max_age,
    )
    client = BotClient(credentials, timeout_seconds=args.timeout)
    try:
        results = run_checks(client, now_s=time.time(), limits=limits, pairs=args.pair or None)
    finally:
        client.close()
    for result in results:
        print(result.line())
    return 0 if results and all(r.ok for r in results) else 1


def _cmd_drill(args: argparse.Namespace) -> int:
    """One line per drill, then drills_passed=N/M; exit code 0 only when all pass."""
    from metalabel.ops.drills import DrillResult, run_drills, summary
    from metalabel.ops.dryrun import DryRunError

    def show(result: DrillResult) -> None:
        print(result.line(), flush=True)

    try:
        results = run_drills(
            names=tuple(args.only or ()),
            log_path=Path(args.log) if args.log else None,
            on_result=show,
        )
    except (DryRunError, ValueError) as err:
        print(f"drill session failed: {err}")
        return 1
    print(summary(results))
    return 0 if results and all(r.passed for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, PROJECT_ROOT, USER_DATA

    parser = argparse.ArgumentParser(prog="metalabel", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="serve the bundled data as a Bybit v5 market API")
    replay.add_argument("--port", type=int, default=18269)
    replay.add_argument("--host", default="127.0.0.1")
    replay.add_argument("--clock", choices=["historical", "live"], default="historical")
    replay.add_argument(
        "--lead-hours",
        type=int,
        default=720,
        help="live clock: hours of data still ahead of 'now' at start",
    )
    replay.add_argument("--data-dir", default=str(BUNDLED_DATA))
    replay.set_defaults(func=_cmd_replay)

    backtest = sub.add_parser("backtest", help="freqtrade backtesting offline (walk-forward)")
    backtest.add_argument("--timerange", default="20240701-20260721")
    backtest.add_argument("--config", action="append", default=None)
    backtest.add_argument("--userdir", default=str(USER_DATA))
    backtest.add_argument("--data-dir", default=str(BUNDLED_DATA))
    backtest.add_argument("--reports", default=str(PROJECT_ROOT / "reports"))
    backtest.add_argument(
        "--meta-only", action="store_true", help="only the meta variant, no report"
    )
    backtest.set_defaults(func=_cmd_backtest)

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

    analysis = sub.add_parser(
        "analysis", help="freqtrade lookahead- and recursive-analysis in every mode"
    )
    analysis.add_argument("--timerange", default="20250101-20250601")
    analysis.add_argument(
        "--userdir",
        default=str(USER_DATA / "analysis"),
        help="scratch user directory (FreqAI models of the analysis go here)",
    )
    analysis.set_defaults(func=_cmd_analysis)

    bench = sub.add_parser("bench", help="benchmarks, printed as key=value lines")
    bench.add_argument(
        "what", nargs="?", choices=["labels", "latency", "walkforward", "all"], default="all"
    )
    bench.add_argument("--candles", type=int, default=1_000_000, help="labels: events")
    bench.add_argument(
        "--latency-candles", type=int, default=250, help="latency: new candles per pair"
    )
    bench.add_argument(
        "--quick", action="store_true", help="walkforward: a short timerange (development)"
    )
    bench.set_defaults(func=_cmd_bench)

    tune = sub.add_parser(
        "tune", help="optuna over the meta-model's XGBoost parameters on walk-forward folds"
    )
    tune.add_argument("--trials", type=int, default=50, help="most trials to run")
    tune.add_argument("--timeout", type=float, default=600.0, help="time budget in seconds")
    tune.add_argument("--seed", type=int, default=None, help="default: metalabel.model.seed")
    tune.add_argument("--config", default=str(MAIN_CONFIG))
    tune.add_argument("--data-dir", default=str(BUNDLED_DATA))
    tune.add_argument("--folds-limit", type=int, default=None, help="only the latest N folds")
    tune.add_argument(
        "--write",
        action="store_true",
        help="write the best set into freqai.model_training_parameters and "
        "metalabel.model.confidence_threshold of --config",
    )
    tune.set_defaults(func=_cmd_tune)

    dryrun = sub.add_parser(
        "dryrun", help="freqtrade trade --dry-run offline, against the replay live clock"
    )
    dryrun.add_argument(
        "--mode",
        choices=["primary", "primary_regime", "meta"],
        default="primary_regime",
        help="strategy mode; 'meta' enables FreqAI, which trains at start-up (minutes)",
    )
    dryrun.add_argument("--api-port", type=int, default=8080, help="REST API port on 127.0.0.1")
    dryrun.add_argument(
        "--lead-hours", type=int, default=720, help="hours of replayed candles still ahead"
    )
    dryrun.add_argument("--config", action="append", default=None)
    dryrun.add_argument("--env-file", default=str(USER_DATA / "dryrun.env"))
    dryrun.add_argument(
        "--startup-timeout", type=float, default=900.0, help="seconds to wait for the API"
    )
    dryrun.set_defaults(func=_cmd_dryrun)

    health = sub.add_parser(
        "health", help="check a running bot through its REST API (exit code 0 = healthy)"
    )
    health.add_argument("--url", default=None, help="default: env, --env-file, then config")
    health.add_argument("--username", default=None)
    health.add_argument(
        "--env-file",
        default=str(USER_DATA / "dryrun.env"),
        help="credentials file of `metalabel dryrun` (the environment wins over it)",
    )
    health.add_argument("--config", action="append", default=None)
    health.add_argument("--pair", action="append", default=None, help="default: the whitelist")
    health.add_argument(
        "--grace-minutes", type=float, default=10.0, help="candle age allowed beyond a timeframe"
    )
    health.add_argument(
        "--process-max-age", type=float, default=180.0, help="seconds since the last bot loop"
    )
    health.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    health.set_defaults(func=_cmd_health)

    drill = sub.add_parser(
        "drill", help="fault drills: a dry-run bot against a faulty replay exchange"
    )
    drill.add_argument("--only", action="append", default=None, help="run only this drill")
    drill.add_argument("--log", default=None, help="keep freqtrade's output in this file")
    drill.set_defaults(func=_cmd_drill)

    from metalabel.ops import cli_fidelity, cli_journal

    cli_fidelity.register(sub)
    cli_journal.register(sub)
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
