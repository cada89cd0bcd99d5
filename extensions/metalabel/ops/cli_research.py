"""``metalabel`` research sub-commands: backtest, analysis, bench, tune."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from metalabel.config import ConfigError, load_config
from metalabel.ops.cli_common import Subparsers, check_config_file


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
    check_config_file(*configs)
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
    if args.what in ("research", "all"):
        from metalabel.ops.bench_research import bench_research

        bench_research()
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    """Optuna over the meta-model's XGBoost parameters and threshold; optionally write them."""
    from freqtrade.configuration.load_config import load_config_file

    from metalabel.evaluation.tuning import DEFAULT_PAIRS, config_with_result, tune

    path = Path(args.config)
    check_config_file(path)
    raw = load_config_file(str(path))  # freqtrade's reader: JSON with // comments
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
    try:
        json.loads(path.read_text())
    except json.JSONDecodeError:
        print(f"{path} not written: it has comments or other non-JSON text a rewrite would lose")
        return 1
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


def register_backtest(sub: Subparsers) -> None:
    """backtest (listed second in ``metalabel --help``, before the config commands)."""
    from metalabel.ops.runner import BUNDLED_DATA, PROJECT_ROOT, USER_DATA

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


def register(sub: Subparsers) -> None:
    """analysis, bench, tune."""
    from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, USER_DATA

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
        "what",
        nargs="?",
        choices=["labels", "latency", "walkforward", "research", "all"],
        default="all",
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
