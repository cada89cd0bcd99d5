"""``metalabel`` research sub-commands: backtest, analysis, bench, tune, research."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

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


def _cmd_research(args: argparse.Namespace) -> int:
    """Nested walk-forward research: studies per outer fold, report, optional overlay."""
    import logging
    import time

    from metalabel.config import StrategyMode
    from metalabel.core import pipeline
    from metalabel.evaluation.research import nested
    from metalabel.evaluation.research.meta_gate import MetaFold, meta_fold
    from metalabel.evaluation.research.report import (
        OverlayRefusedError,
        build_research_report,
        headline,
        write_config_overlay,
        write_research_report,
    )
    from metalabel.evaluation.research.space import SPACE, check_space, with_bounds
    from metalabel.evaluation.research.storage import (
        StudyMismatchError,
        StudyStorageError,
        shown_url,
    )
    from metalabel.evaluation.research.workers import WorkerError
    from metalabel.evaluation.simulator import Agreement
    from metalabel.ops.bench_research import freqtrade_agreement, run_config, timerange_bounds
    from metalabel.ops.runner import current_commit
    from metalabel.ops.startup_checks import load_config_files

    started = time.monotonic()
    config_path = Path(args.config)
    check_config_file(config_path)
    if args.write_config and Path(args.write_config).resolve().name == "config.json":
        print(f"metalabel research: refusing --write-config {args.write_config}: never config.json")
        return 1
    try:
        config = run_config([config_path], StrategyMode.PRIMARY_REGIME)
        bounds = dict(args.bound)
        model_bounds = [
            n for n in bounds if n in SPACE and SPACE[n].section in nested.MODEL_SECTIONS
        ]
        if model_bounds:
            raise ConfigError(
                f"--bound {', '.join(model_bounds)}: the research does not search the model's knobs"
            )
        space = nested.research_space(with_bounds(SPACE, bounds))
        check_space(space, config.settings)
        start, end = timerange_bounds(args.timerange)
        folds = nested.outer_folds(start, end, purge=nested.purge_candles(space, config.settings))
        if args.folds_limit is not None:
            folds = folds[-args.folds_limit :] if args.folds_limit > 0 else []
        if not folds:
            raise ValueError(f"timerange {args.timerange} holds no complete outer fold")
        if args.trials < 2 or args.workers < 1:
            raise ValueError(
                f"need --trials >= 2 and --workers >= 1, got {args.trials}, {args.workers}"
            )
    except (ConfigError, ValueError) as err:
        print(f"metalabel research: {err}")
        return 1
    data = nested.ResearchData(
        tuple(pipeline.load_bundle(Path(args.data_dir), pair) for pair in config.pairs),
        config.settings,
        config.max_open_trades,
    )
    spec = nested.RunSpec(
        storage_url=args.storage,
        study=args.study,
        trials=args.trials,
        space=space,
        workers=args.workers,
        seed=args.seed,
        log_level=logging.getLogger().level,
    )
    print(
        f"research: {len(folds)} outer folds ({folds[0].test_start:%Y-%m-%d} to "
        f"{folds[-1].test_end:%Y-%m-%d}), {args.trials} trials each, {args.workers} worker(s), "
        f"studies {args.study}-fold-* in {shown_url(args.storage)}",
        flush=True,
    )
    confirmations: dict[int, Agreement] = {}
    gates: dict[int, MetaFold] = {}
    features = nested.feature_frames(data) if args.meta else ()
    freqai = load_config_files([config_path], runmode="backtest").get("freqai", {})
    xgb_params = dict(freqai.get("model_training_parameters", {}))
    test_size = float(freqai.get("data_split_parameters", {}).get("test_size", 0.2))
    reports = Path(args.reports)
    progress = _StudyProgress(args.storage, total=len(folds) * args.trials)

    def after_fold(result: nested.FoldResult) -> None:
        f = result.fold
        trades = result.trades
        line = (
            f"fold {f.index} {f.test_start:%Y-%m-%d}..{f.test_end:%Y-%m-%d}: best inner score "
            f"{result.outcome.best_value:+.3f} (trial {result.outcome.best_number}), "
            f"{len(trades)} trades, net return {trades['net_return'].sum():+.4f}"
        )
        progress.write(line)
        if args.meta:
            gate = meta_fold(
                data, features, f, result.settings, xgb_params=xgb_params, test_size=test_size
            )
            gates[f.index] = gate
            progress.write(
                f"fold {f.index} meta gate: threshold {gate.threshold:.2f} (model on "
                f"{gate.train_events} events), {len(gate.trades)} trades, net return "
                f"{gate.trades['net_return'].sum():+.4f}"
            )
        if not args.confirm:
            return
        timerange = f"{f.test_start:%Y%m%d}-{f.test_end:%Y%m%d}"
        try:
            agreement = freqtrade_agreement(
                timerange,
                workdir=reports / "research-runs" / f"fold-{f.index}",
                data_dir=Path(args.data_dir),
                configs=[config_path],
                overlay=nested.overlay_of(result.params, space, config.settings),
            )
        except KeyError:
            # freqtrade's trades table of a backtest without trades has no columns
            agreement = Agreement(
                freqtrade_trades=0,
                simulated_trades=len(trades),
                identical=0,
                missing=0,
                extra=len(trades),
                other_exit=0,
                freqtrade_net_return=0.0,
                simulated_net_return=float(trades["trade_net_return"].sum()),
                rows=trades.iloc[0:0],
            )
        except Exception as err:  # a failed confirmation is reported, the run goes on
            progress.write(f"fold {f.index}: freqtrade confirmation failed: {err}")
            return
        confirmations[f.index] = agreement
        progress.write(
            f"fold {f.index} freqtrade {timerange}: trades freqtrade {agreement.freqtrade_trades} "
            f"/ simulator {agreement.simulated_trades} ({agreement.identical} identical), "
            f"net return freqtrade {agreement.freqtrade_net_return:+.4f} / simulator "
            f"{agreement.simulated_net_return:+.4f}"
        )

    try:
        with progress:
            results = []
            for fold in folds:
                progress.watch(nested.study_name(args.study, fold))
                results.extend(
                    nested.run_research(
                        data, [fold], spec, on_fold=after_fold, random_settings=args.random_settings
                    )
                )
    except (ConfigError, StudyStorageError, StudyMismatchError, WorkerError, ValueError) as err:
        print(f"metalabel research: {err}")
        return 1
    source = {
        "commit": current_commit(),
        "timerange": args.timerange,
        "pairs": list(config.pairs),
        "config": str(config_path),
        "variant": nested.RESEARCH_MODE.value,
        "method": (
            f"Outer folds of {nested.OUTER_DAYS} days; each chooses its settings by an optuna "
            f"study on the {nested.TRAIN_DAYS} days before it, purged "
            f"{nested.purge_candles(space, config.settings)} 1h candles before the fold; "
            f"objective: mean over {nested.INNER_DAYS}-day inner folds of the daily Sharpe of "
            f"simulated trades (fewer than {nested.MIN_INNER_TRADES} trades in an inner fold: "
            f"{nested.FEW_TRADES_SHARPE})."
        ),
        "model_knobs": (
            "The study does not search the meta-model's knobs: a model retrained per trial "
            "costs seconds, so trials score the primary_regime variant (primary signal and "
            "regime filter, no model gate). "
            + (
                "The meta variant is added per fold after the choice: one model per pair "
                "trained on the fold's training window (config's XGBoost parameters), the "
                "confidence threshold chosen on out-of-fold probabilities of its inner folds."
                if args.meta
                else "The meta variant was not run (--no-meta)."
            )
        ),
        "storage": shown_url(args.storage),
        "study": args.study,
        "trials_per_fold": args.trials,
        "workers": args.workers,
        "seed": args.seed,
        "random_settings": args.random_settings,
        "searched_knobs": list(space),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    report = build_research_report(
        results,
        space=space,
        leverage=config.settings.risk.leverage,
        source=source,
        confirmations=confirmations,
        meta=gates,
        seed=args.seed,
    )
    json_path, html_path = write_research_report(report, reports)
    print(headline(report))
    print(f"wrote {json_path} and {html_path} in {source['wall_seconds']} s")
    if args.write_config:
        try:
            written = write_config_overlay(
                Path(args.write_config), report["latest_overlay"], protected=[config_path]
            )
        except OverlayRefusedError as err:
            print(f"metalabel research: {err}")
            return 1
        print(
            f"wrote the latest fold's settings to {written}; adopt with "
            f"--config {config_path} --config {written} (a backtest over the research "
            "period is then partly in-sample)"
        )
    return 0


class _StudyProgress:
    """A progress bar over the finished trials of the watched studies (read from the
    storage once a second, so worker processes and other machines count too)."""

    def __init__(self, storage_url: str, *, total: int) -> None:
        import threading

        from tqdm import tqdm

        self._url = storage_url
        self._bar = tqdm(total=total, unit="trial", dynamic_ncols=True, smoothing=0.1)
        self._done_before = 0  # trials of studies already finished
        self._study: str | None = None
        self._last = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._storage: Any = None  # the poller's own connection, opened on first use
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _StudyProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._bar.close()

    def watch(self, study: str) -> None:
        with self._lock:
            self._done_before += self._last
            self._last = 0
            self._study = study

    def write(self, line: str) -> None:
        self._bar.write(line)

    def _count(self, name: str) -> int | None:
        import optuna
        from optuna.trial import TrialState

        try:
            if self._storage is None:
                # never create the schema: the run itself does, once
                self._storage = optuna.storages.RDBStorage(self._url, skip_table_creation=True)
            loaded = optuna.load_study(study_name=name, storage=self._storage)
            return len(loaded.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        except KeyError:
            return 0  # not created yet
        except Exception:  # the bar is cosmetic: a failed read waits for the next one
            return None

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            name = self._study
            count = None if name is None else self._count(name)
            with self._lock:  # a count of the study watched before is dropped
                if count is None or name != self._study or count <= self._last:
                    continue
                self._last = count
                self._bar.n = min(self._bar.total, self._done_before + self._last)
                self._bar.refresh()


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
    """analysis, bench, tune, research."""
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

    from metalabel.ops.cli_study import add_study_arguments
    from metalabel.ops.runner import PROJECT_ROOT

    research = sub.add_parser(
        "research",
        help="nested walk-forward research: settings chosen on each fold's past, traded on it",
    )
    add_study_arguments(research, default_study="research")
    research.set_defaults(trials=500)
    research.add_argument("--timerange", default="20240701-20260721", help="outer folds tile it")
    research.add_argument("--folds-limit", type=int, default=None, help="only the latest N folds")
    research.add_argument("--data-dir", default=str(BUNDLED_DATA))
    research.add_argument("--reports", default=str(PROJECT_ROOT / "reports"))
    research.add_argument(
        "--confirm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a real freqtrade backtest of each fold with its settings (about 10 s a fold)",
    )
    research.add_argument(
        "--meta",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the meta gate per fold: a model trained in the fold's training window",
    )
    research.add_argument(
        "--random-settings",
        type=int,
        default=100,
        help="random settings per fold whose trades form the chance test's pool",
    )
    research.add_argument(
        "--write-config",
        default=None,
        metavar="FILE",
        help="write the latest fold's settings to this overlay (never config.json)",
    )
    research.set_defaults(func=_cmd_research)
