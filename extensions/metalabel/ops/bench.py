"""Benchmarks (``metalabel bench``): labelling, decision latency, walk-forward backtest.

Speed and memory targets are figures we measure and print as ``key=value`` lines, not
timed tests:

* labelling: :mod:`metalabel.ops.bench_labels` (re-exported here).
* decision latency (``bench_decision_latency``): per pair and new closed candle, the
  time a dry-run bot takes from the candles it holds to the entry decision, with a
  trained meta-model loaded by FreqAI's live path.
* walk-forward (``bench_walkforward``): wall time and peak memory of ``make backtest``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metalabel.ops.bench_labels import format_figures

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------ decision latency

# The meta-model of the latency benchmark is trained on the train_period_days before this
# day; the decisions are taken on the candles that follow it, as a dry-run bot would.
LATENCY_TRAINED_UNTIL = "20260601"
LATENCY_CANDLES_PER_PAIR = 250
_PERCENTILE_P99 = 99.0

# (pair, timeframe, candle type): the key of freqtrade's candle cache (PairWithTimeframe).
CandleKey = tuple[str, str, str]


@dataclass(frozen=True)
class Decision:
    """One pair's entry decision on one new closed candle, and how long it took."""

    pair: str
    candle: pd.Timestamp  # open time of the newest closed candle
    enter_long: bool
    enter_short: bool
    enter_tag: str | None
    meta_confidence: float
    do_predict: int
    seconds: float


def train_meta_model(userdir: Path, trained_until: pd.Timestamp) -> Path:
    """Train every pair's meta-model on the days before ``trained_until``; return its folder.

    Runs the real walk-forward backtest (meta mode) over the one day after
    ``trained_until``: FreqAI trains one window per pair on the ``train_period_days``
    before it, saves it under ``<userdir>/models/metalabel-backtest/sub-train-*`` and
    records it in that folder's ``pair_dictionary.json``, which is where a dry-run bot
    with the same FreqAI identifier finds its latest models.
    """
    from metalabel.ops.runner import BACKTEST_IDENTIFIER, run_backtest

    start = trained_until.strftime("%Y%m%d")
    end = (trained_until + pd.Timedelta(days=1)).strftime("%Y%m%d")
    result = run_backtest(
        f"{start}-{end}",
        userdir=userdir,
        results_dir=userdir / "backtest_results",
        capture=True,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-5000:]
        raise RuntimeError(f"training backtest failed ({result.returncode}):\n{output}")
    return userdir / "models" / BACKTEST_IDENTIFIER


class LiveDecisions:
    """A dry-run strategy with FreqAI in live mode, fed one closed candle at a time.

    Built the way ``freqtrade trade`` builds it (``FreqtradeBot.__init__``), see
    :func:`live_decisions`. :meth:`step` is one bot loop after a candle closed: it puts
    the candles the bot would now hold into the exchange's candle cache (what
    ``refresh_latest_ohlcv`` does from the network; not timed), then times, per pair,
    ``strategy.analyze([pair])`` (``analyze_pair``: ``advise_indicators`` with FreqAI's
    live prediction, ``advise_entry``, ``advise_exit``, caching) and reading the entry
    decision off the analysed newest candle, as ``get_entry_signal`` does.

    The bot holds, per candle key, at most ``ohlcv_candle_limit + startup_candle_count``
    candles (freqtrade ages older ones out of its cache); every key is held at that size,
    the steady state of a bot that has run for a while. A candle is held once it has
    closed: at ``now`` = 10:00 the newest 1h candle is the one that opened at 09:00, the
    newest 4h candle the one that opened at 04:00.
    """

    def __init__(self, strategy: Any, exchange: Any, pairs: list[str], keys: list[CandleKey]):
        from freqtrade.data.history import load_pair_history
        from freqtrade.exchange import timeframe_to_seconds

        self.strategy = strategy
        self.pairs = pairs
        config = strategy.config
        self._exchange = exchange
        self._timeframe: str = config["timeframe"]
        self._candle_type: str = config["candle_type_def"]
        self._candles: dict[CandleKey, pd.DataFrame] = {}
        self._held: dict[CandleKey, int] = {}
        self._length: dict[CandleKey, pd.Timedelta] = {}
        for key in keys:
            pair, timeframe, candle_type = key
            self._candles[key] = load_pair_history(
                pair=pair,
                timeframe=timeframe,
                datadir=Path(config["datadir"]),
                data_format=config.get("dataformat_ohlcv", "feather"),
                candle_type=candle_type,
            )
            limit = int(exchange.ohlcv_candle_limit(timeframe, config["candle_type_def"]))
            self._held[key] = limit + int(strategy.startup_candle_count)
            self._length[key] = pd.Timedelta(seconds=timeframe_to_seconds(timeframe))

    def advance(self, now: pd.Timestamp) -> None:
        """Hold the candles closed by ``now`` in the exchange's candle cache, as the bot would."""
        for key, frame in self._candles.items():
            end = int(frame["date"].searchsorted(now - self._length[key], side="right"))
            start = max(0, end - self._held[key])
            # freqtrade's candle cache, which refresh_latest_ohlcv fills in a running bot
            self._exchange._klines[key] = frame.iloc[start:end].reset_index(drop=True)

    def decide(self, pair: str, candle: pd.Timestamp) -> Decision:
        """Analyse ``pair`` on its newest closed candle and return the timed decision."""
        start = time.perf_counter()
        self.strategy.analyze([pair])
        analysed, _ = self.strategy.dp.get_analyzed_dataframe(pair, self._timeframe)
        latest = analysed.iloc[-1]
        enter_long = latest.get("enter_long", 0) == 1
        enter_short = latest.get("enter_short", 0) == 1
        seconds = time.perf_counter() - start
        if latest["date"] != candle:
            # analyze_pair logs and swallows a failing strategy; a stale frame is a failure
            raise RuntimeError(f"{pair}: no analysis of the candle at {candle} (see the log)")
        tag = latest.get("enter_tag")
        return Decision(
            pair=pair,
            candle=candle,
            enter_long=bool(enter_long),
            enter_short=bool(enter_short),
            enter_tag=str(tag) if isinstance(tag, str) else None,
            meta_confidence=float(latest["meta_confidence"]),
            do_predict=int(latest["do_predict"]),
            seconds=seconds,
        )

    def step(self, now: pd.Timestamp) -> list[Decision]:
        """One bot loop right after ``now``: hold the new candles, decide for every pair."""
        candle = now - pd.Timedelta(self._timeframe)
        for pair in self.pairs:
            dates = self._candles[(pair, self._timeframe, self._candle_type)]["date"]
            if dates.iloc[-1] < candle:
                raise ValueError(f"the bundled {pair} candles end before {candle}")
        self.advance(now)
        return [self.decide(pair, candle) for pair in self.pairs]


@contextmanager
def live_decisions(workdir: Path, trained_until: pd.Timestamp) -> Iterator[LiveDecisions]:
    """Train a meta-model, then build a dry-run bot's strategy that loads it; yield it.

    The strategy, exchange, data provider and pair list are built as ``freqtrade trade``
    builds them: freqtrade's configuration pipeline in dry-run mode over
    ``user_data/config.json`` (API server off: no bot runs here), the exchange against the
    replay exchange, then ``ft_bot_start()``, which loads the FreqAI model plugin. FreqAI
    then runs its live path (``start_live``): the model recorded in the data drawer's
    ``pair_dictionary.json`` is loaded from disk on the first candle and kept in memory,
    and each later candle is predicted alone.

    Two parts of a bot's start-up are adapted to replayed time. FreqAI's auto-download
    writes to a scratch copy of the bundled data. FreqAI's training history, which it
    loads once from disk for "now", is loaded by FreqAI's own loader up to the candle
    before the first replayed one, so that each new candle extends it as in a bot. The
    background retraining thread (``start_scanning``) is not started: retraining is a
    separate cost (see the walk-forward benchmark), and the wall clock, months after the
    replayed candles, would make it retrain at once.
    """
    import shutil

    from freqtrade.configuration import Configuration, TimeRange
    from freqtrade.data.dataprovider import DataProvider
    from freqtrade.enums import CandleType, RunMode
    from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
    from freqtrade.plugins.pairlistmanager import PairListManager
    from freqtrade.resolvers import ExchangeResolver, StrategyResolver

    from metalabel.ops.runner import (
        BACKTEST_IDENTIFIER,
        BUNDLED_DATA,
        MAIN_CONFIG,
        USER_DATA,
        replay_session,
    )

    userdir = workdir / "user_data"
    train_meta_model(userdir, trained_until)
    datadir = workdir / "data" / BUNDLED_DATA.parent.name
    shutil.copytree(BUNDLED_DATA, datadir / BUNDLED_DATA.name, dirs_exist_ok=True)
    overlay = workdir / "latency.json"
    overlay.write_text(
        json.dumps(
            {"freqai": {"identifier": BACKTEST_IDENTIFIER}, "api_server": {"enabled": False}}
        )
    )
    with replay_session() as (_server, replay_overlay):
        args = {
            "config": [str(MAIN_CONFIG), str(overlay), str(replay_overlay)],
            "user_data_dir": str(userdir),
            "datadir": str(datadir),
            "strategy_path": str(USER_DATA / "strategies"),
            "freqaimodel_path": str(USER_DATA / "freqaimodels"),
            "dataformat_ohlcv": "feather",  # the CLI's default, which this dict bypasses
        }
        config = Configuration(args, RunMode.DRY_RUN).get_config()
        strategy = StrategyResolver.load_strategy(config)
        exchange = ExchangeResolver.load_exchange(config, load_leverage_tiers=False)
        try:
            dp = DataProvider(config, exchange)
            pairlists = PairListManager(exchange, config, dp)
            dp.add_pairlisthandler(pairlists)
            pairlists.refresh_pairlist()
            strategy.dp = dp
            strategy.ft_bot_start()
            freqai = strategy.freqai
            freqai.scanning = True  # no background retraining thread (see the docstring)

            timeframe = config["timeframe"]
            funding_timeframe = dp.get_funding_rate_timeframe()
            keys: list[CandleKey] = []
            for pair, tf, candle_type in [
                *pairlists.create_pair_list(pairlists.whitelist),
                *strategy.gather_informative_pairs(),
            ]:
                kind = CandleType.from_string(str(candle_type))
                key = (pair, funding_timeframe if kind == CandleType.FUNDING_RATE else tf, kind)
                if key not in keys:
                    keys.append(key)

            # FreqAI's data_load_timerange for "now" = the first replayed candle's close.
            first_close = trained_until + pd.Timedelta(timeframe)
            history_start = (
                first_close
                - pd.Timedelta(days=config["freqai"]["train_period_days"])
                - 2 * int(config["startup_candle_count"]) * pd.Timedelta(timeframe)
            )
            history = TimeRange(
                "date",
                "date",
                int(history_start.timestamp()),
                int((trained_until - pd.Timedelta(timeframe)).timestamp()),
            )
            kitchen = FreqaiDataKitchen(config, live=True, pair=pairlists.whitelist[0])
            freqai.dd.load_all_pair_histories(history, kitchen)

            yield LiveDecisions(strategy, exchange, list(pairlists.whitelist), keys)
        finally:
            strategy.ft_bot_cleanup()
            exchange.close()


def bench_decision_latency(
    candles_per_pair: int = LATENCY_CANDLES_PER_PAIR,
    trained_until: str = LATENCY_TRAINED_UNTIL,
    workdir: Path | None = None,
) -> dict[str, float]:
    """Time the entry decision per pair and new closed candle with a loaded meta-model.

    Trains a meta-model on the bundled data (see :func:`train_meta_model`), then replays
    ``candles_per_pair`` consecutive hourly candles after ``trained_until`` through a
    dry-run strategy (see :class:`LiveDecisions` for what is timed). The first candle is
    the start-up (model loaded from disk, the held history predicted once) and is
    reported apart, as ``decision_latency_ms_first`` (mean over pairs); the figures
    ``decision_latency_ms_median``, ``_p99`` and ``_max`` pool the later candles of
    every pair (``decision_latency_samples`` of them), and ``decision_latency_entries``
    counts the entries among them. Runs on the process's CPUs unpinned, like a bot;
    other load on the machine shows up in the tail. Prints the figures with
    :func:`format_figures` and returns them.
    """
    if candles_per_pair < 1:
        raise ValueError(f"candles_per_pair must be >= 1, got {candles_per_pair}")
    start = pd.Timestamp(trained_until, tz="UTC")
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ml-bench-")))
        loop = stack.enter_context(live_decisions(workdir, start))
        hour = pd.Timedelta(loop.strategy.timeframe)
        first = loop.step(start + hour)
        logger.info(
            "latency benchmark: %d candles per pair for %s after %s",
            candles_per_pair,
            ", ".join(loop.pairs),
            start.date(),
        )
        decisions = [
            decision
            for k in range(2, candles_per_pair + 2)
            for decision in loop.step(start + k * hour)
        ]
    figures = latency_figures(first, decisions)
    print(format_figures(figures))  # the CLI's output, not a log line
    return figures


def latency_figures(first: list[Decision], later: list[Decision]) -> dict[str, float]:
    """The latency figures: ``first`` are the start-up decisions, ``later`` the samples.

    Percentiles interpolate linearly between samples (numpy's default): of the decisions
    taking 10, 20, 30 and 40 ms the median is 25 ms and the p99 39.7 ms.
    """
    if not first or not later:
        raise ValueError("latency figures need start-up decisions and later ones")
    millis = np.array([d.seconds for d in later]) * 1000.0
    return {
        "decision_latency_ms_median": float(np.median(millis)),
        "decision_latency_ms_p99": float(np.percentile(millis, _PERCENTILE_P99)),
        "decision_latency_ms_max": float(millis.max()),
        "decision_latency_samples": float(len(millis)),
        "decision_latency_ms_first": float(np.mean([d.seconds for d in first]) * 1000.0),
        "decision_latency_entries": float(sum(d.enter_long or d.enter_short for d in later)),
    }


# ------------------------------------------------------------------ walk-forward backtest

# `metalabel bench walkforward --quick`: the last ~3.5 months, 4 windows per pair.
WALKFORWARD_QUICK_TIMERANGE = "20260401-20260721"
_SAMPLE_SECONDS = 0.2
_MB = 2**20


@dataclass(frozen=True)
class TreeSample:
    """Resident memory of every live process of a process tree at one moment."""

    seconds: float  # since the start of the run
    rss_bytes: dict[int, int]  # by process id

    @property
    def total_bytes(self) -> int:
        return sum(self.rss_bytes.values())


@dataclass(frozen=True)
class TreeRun:
    """A finished command: exit code, wall time and its process tree's memory over time."""

    returncode: int
    seconds: float
    samples: list[TreeSample]
    commands: dict[int, tuple[str, ...]]  # command line of every process id seen

    @property
    def peak_rss_bytes(self) -> int:
        """Largest sum of RSS over the tree's processes alive at the same sample."""
        return max((s.total_bytes for s in self.samples), default=0)

    @property
    def max_process_rss_bytes(self) -> int:
        """Largest RSS of a single process of the tree at any sample."""
        return max((max(s.rss_bytes.values(), default=0) for s in self.samples), default=0)

    def lifetimes(self, argument: str) -> list[tuple[int, float, float]]:
        """(pid, first seen, last seen) of the processes run with ``argument``, in order."""
        seen: dict[int, list[float]] = {}
        for sample in self.samples:
            for pid in sample.rss_bytes:
                if argument in self.commands.get(pid, ()):
                    seen.setdefault(pid, []).append(sample.seconds)
        return sorted(((p, t[0], t[-1]) for p, t in seen.items()), key=lambda x: x[1])

    def peak_between(self, start: float, end: float) -> int:
        """Peak tree RSS over the samples taken from ``start`` to ``end`` (seconds)."""
        return max((s.total_bytes for s in self.samples if start <= s.seconds <= end), default=0)


def run_process_tree(
    command: list[str], *, cwd: Path | None = None, sample_seconds: float = _SAMPLE_SECONDS
) -> TreeRun:
    """Run ``command`` (its stdout to our stderr); measure its time and its tree's memory.

    A sampler thread reads the RSS of the process and of all its descendants every
    ``sample_seconds`` (psutil), so processes alive together add up. A spike shorter
    than the interval can be missed, and pages shared between processes count once per
    process. ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is not used: it is the maximum over
    the children, not the sum, and Linux also charges a child with the high-water mark
    of the parent image it was forked from before its ``exec``, so after the other
    benchmarks it would report this process's own peak.
    """
    import psutil

    samples: list[TreeSample] = []
    commands: dict[int, tuple[str, ...]] = {}
    stop = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=2)  # stdout is for figures only

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            rss: dict[int, int] = {}
            for process in processes:
                try:
                    rss[process.pid] = process.memory_info().rss
                    if process.pid not in commands:
                        commands[process.pid] = tuple(process.cmdline())
                except psutil.Error:  # exited (or a zombie) since children() listed it
                    continue
            samples.append(TreeSample(time.perf_counter() - start, rss))
            stop.wait(sample_seconds)

    sampler = threading.Thread(target=sample, name="bench-memory-sampler", daemon=True)
    sampler.start()
    try:
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        stop.set()
        sampler.join()
    seconds = time.perf_counter() - start
    return TreeRun(returncode, seconds, samples, commands)


def bench_walkforward(quick: bool = False, workdir: Path | None = None) -> dict[str, float]:
    """Wall time and peak memory of the walk-forward job of ``make backtest``.

    Runs ``metalabel backtest`` (its default timerange, or
    :data:`WALKFORWARD_QUICK_TIMERANGE` when ``quick``) as a subprocess: the three
    variants' ``freqtrade backtesting`` runs one after the other, then the report. Its
    user directory and reports go to a scratch directory instead of ``user_data`` and
    ``reports``, so the project's report is left as it is. Figures: the wall time
    (``walkforward_backtest_seconds``); sampled every 0.2 s (see
    :func:`run_process_tree`), the peak of the process tree's summed RSS
    (``walkforward_peak_rss_mb``) and of its largest process
    (``walkforward_max_process_rss_mb``); per variant, the seconds its ``freqtrade
    backtesting`` process was seen alive (to within a sample) and the tree's peak RSS
    meanwhile; and the report's seconds after the last run. Prints the figures with
    :func:`format_figures` and returns them.
    """
    from metalabel.ops.cli import build_parser
    from metalabel.ops.runner import PROJECT_ROOT, VARIANT_OVERLAYS

    timerange = (
        WALKFORWARD_QUICK_TIMERANGE if quick else build_parser().parse_args(["backtest"]).timerange
    )
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ml-bench-")))
        command = [
            *_metalabel_command(),
            "backtest",
            "--timerange",
            timerange,
            "--userdir",
            str(workdir / "user_data"),
            "--reports",
            str(workdir / "reports"),
        ]
        logger.info("walk-forward benchmark: %s", " ".join(command))
        run = run_process_tree(command, cwd=PROJECT_ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"metalabel backtest failed with exit code {run.returncode}")
    figures = walkforward_figures(run, timerange, list(VARIANT_OVERLAYS))
    print(format_figures(figures))  # the CLI's output, not a log line
    return figures


def walkforward_figures(run: TreeRun, timerange: str, variants: list[str]) -> dict[str, float]:
    """The walk-forward figures of a finished ``metalabel backtest`` run.

    The n-th ``freqtrade backtesting`` process seen is the n-th of ``variants`` (the
    order ``metalabel backtest`` runs them in); per-variant figures are left out, with a
    warning, when the count differs.
    """
    start, end = (pd.Timestamp(day) for day in timerange.split("-"))
    figures = {
        "walkforward_backtest_seconds": run.seconds,
        "walkforward_peak_rss_mb": run.peak_rss_bytes / _MB,
        "walkforward_max_process_rss_mb": run.max_process_rss_bytes / _MB,
        "walkforward_timerange_days": float((end - start).days),
    }
    runs = run.lifetimes("backtesting")
    if len(runs) != len(variants):
        logger.warning("saw %d backtesting processes for %d variants", len(runs), len(variants))
        return figures
    for variant, (_pid, first, last) in zip(variants, runs, strict=True):
        figures[f"walkforward_{variant}_seconds"] = last - first
        figures[f"walkforward_{variant}_peak_rss_mb"] = run.peak_between(first, last) / _MB
    figures["walkforward_report_seconds"] = run.seconds - runs[-1][2]
    return figures


def _metalabel_command() -> list[str]:
    """The ``metalabel`` script of the running interpreter's environment (as ``make`` runs it)."""
    script = Path(sys.executable).with_name("metalabel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "metalabel.ops.cli"]
