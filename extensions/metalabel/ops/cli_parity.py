"""``metalabel parity``: the dry run's decisions against the backtest's, candle by candle.

1. Dry run: ``freqtrade trade --dry-run`` against the replay exchange's live clock, on
   compressed time (:class:`~metalabel.ops.replay.clock.TimeWarp`, ``--speed`` warped
   seconds per real second once start-up is over), for ``--hours`` new closed candles;
   its decision journal is the live side.
2. Backtest: the same hours in bundle time, same config and mode: the per-candle
   decisions rebuilt by the strategy's pipeline on the bundled candles, and the trades
   of a real ``freqtrade backtesting`` run.
3. :func:`metalabel.ops.parity.compare`, printed as differences and ``key=value`` lines.

``--journal-dir`` with ``--offset-hours`` skips step 1 and compares a journal already
written (for example by ``metalabel dryrun``). Exit 0 when the target is met, 1 when
not, 2 when the inputs cannot be compared or a run fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODES = ("primary", "primary_regime", "meta")
# Warped seconds between the bot's loops: many loops per replayed hour, few real ones.
THROTTLE_WARPED_SECONDS = 60
# Past the last candle's close, so the bot has journalled it before it is stopped.
SETTLE_WARPED_SECONDS = 15 * 60
STARTUP_SECONDS = 45.0
# The replay clock's shift in whole weeks: hour of day, weekday, 4h candles and funding
# times stay where they are in the bundle (a shift of 3 h changes every 4h candle).
ALIGN_HOURS = 168
# FreqAI trains the first model at start-up, in the background: before time is compressed
META_STARTUP_SECONDS = 240.0


def register(sub: Any) -> None:
    """Add the ``parity`` subcommand to the ``metalabel`` parser."""
    from metalabel.ops.runner import BUNDLED_DATA

    parity = sub.add_parser(
        "parity",
        help="dry run on compressed replay time vs backtest of the same hours, candle by candle",
    )
    parity.add_argument("--hours", type=int, default=6, help="replayed hours (new candles)")
    parity.add_argument(
        "--speed", type=float, default=240.0, help="warped seconds per real second (>= 1)"
    )
    parity.add_argument(
        "--lead-hours",
        type=int,
        default=None,
        help="the stretch starts this many hours before the bundle's end (default hours+1)",
    )
    parity.add_argument("--mode", choices=MODES, default="primary_regime")
    parity.add_argument(
        "--startup-seconds",
        type=float,
        default=None,
        help="real seconds before time is compressed: freqtrade's start-up, and in mode "
        "meta FreqAI's first training (default 45, meta 240)",
    )
    parity.add_argument("--config", action="append", default=None)
    parity.add_argument("--data-dir", default=str(BUNDLED_DATA))
    parity.add_argument("--workdir", default=None, help="keep the run's files here")
    parity.add_argument("--journal-dir", default=None, help="compare this journal; no dry run")
    parity.add_argument(
        "--offset-hours",
        type=int,
        default=None,
        help="with --journal-dir: served time minus bundle time, in hours",
    )
    parity.add_argument("--list", type=int, default=50, help="list at most this many differences")
    parity.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metalabel.ops.journal import JournalError
    from metalabel.ops.parity import ParityError

    if args.journal_dir is not None and args.offset_hours is None:
        print("parity: --journal-dir needs --offset-hours (served minus bundle time)")
        return 2
    if args.hours < 1 or args.speed < 1:
        print("parity: --hours and --speed must be >= 1")
        return 2
    with tempfile.TemporaryDirectory(prefix="metalabel-parity-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            if args.journal_dir is None:
                journal_dir, offset_hours = _dry_run(args, workdir)
            else:
                journal_dir, offset_hours = Path(args.journal_dir), args.offset_hours
            return _compare(args, journal_dir, offset_hours, workdir)
        except (ParityError, JournalError) as err:
            print(f"parity: {err}")
            return 2
        except RuntimeError as err:  # the dry run or the backtest failed
            print(f"parity: {err}")
            return 2


def _dry_run(args: argparse.Namespace, workdir: Path) -> tuple[Path, int]:
    """Run the bot on warped time until ``--hours`` new candles have closed."""
    from metalabel.config import JournalSettings
    from metalabel.ops.dryrun import DryRunError, dryrun_session
    from metalabel.ops.replay.clock import LiveClock, TimeWarp
    from metalabel.ops.replay.data import HOUR_MS

    lead_hours = args.lead_hours or args.hours + 1
    if lead_hours <= args.hours:
        raise RuntimeError(f"--lead-hours {lead_hours} leaves fewer than --hours {args.hours}")
    startup_s = args.startup_seconds
    if startup_s is None:
        startup_s = META_STARTUP_SECONDS if args.mode == "meta" else STARTUP_SECONDS
    warp = TimeWarp(time.time() + startup_s, args.speed)
    clock = LiveClock(lead_hours, wall=warp.now, align_hours=ALIGN_HOURS)
    launcher = [
        sys.executable, "-m", "metalabel.ops.replay.warp",
        "--start", repr(warp.start_s), "--speed", repr(warp.speed), "--",
    ]  # fmt: skip
    log_path = workdir / "freqtrade.log"
    overlay = {"internals": {"process_throttle_secs": THROTTLE_WARPED_SECONDS}}
    with log_path.open("wb") as log:
        try:
            with dryrun_session(
                mode=args.mode,
                env_file=None,
                config=Path(args.config[0]),
                data_dir=Path(args.data_dir),
                workdir=workdir,
                extra_overlay=_extra_configs(args, overlay),
                clock=clock,
                launcher=launcher,
                output=log.fileno(),
            ) as session:
                first_hour_ms = clock.now_ms() // HOUR_MS * HOUR_MS
                done_s = (first_hour_ms + args.hours * HOUR_MS) / 1000 + SETTLE_WARPED_SECONDS
                wait_s = max(0.0, warp.real_at(done_s) - time.time())
                print(
                    f"dry run: {args.hours} replayed hours at x{args.speed:g} "
                    f"(about {wait_s:.0f} s), freqtrade log {log_path}",
                    flush=True,
                )
                while time.time() < warp.real_at(done_s):
                    if session.process.poll() is not None:
                        raise RuntimeError(
                            f"freqtrade exited with code {session.process.returncode}; "
                            f"see {log_path}"
                        )
                    time.sleep(1.0)
        except DryRunError as err:
            raise RuntimeError(f"dry run did not start: {err}; see {log_path}") from err
    offset_hours = clock.offset_ms // HOUR_MS
    return workdir / "user_data" / JournalSettings().directory, offset_hours


def _extra_configs(args: argparse.Namespace, overlay: dict[str, Any]) -> dict[str, Any]:
    """The user's further ``--config`` files folded into the dry run's extra overlay."""
    from metalabel.ops.startup_checks import load_config_files

    if len(args.config) == 1:
        return overlay
    merged = load_config_files([Path(c) for c in args.config[1:]], runmode="dry_run")
    merged.update(overlay)
    return merged


def _compare(args: argparse.Namespace, journal_dir: Path, offset_hours: int, workdir: Path) -> int:
    from freqtrade.data.btanalysis import load_backtest_data

    from metalabel.config import StrategyMode, load_config
    from metalabel.core.pipeline import load_bundle, signal_frame
    from metalabel.evaluation.report.loading import PREDICTIONS_DIR
    from metalabel.model.lifecycle import LIFECYCLE_LOG
    from metalabel.ops.journal import journal_days, read_journal
    from metalabel.ops.journal.recorder import ModelVersions
    from metalabel.ops.parity import (
        HOUR,
        ParityError,
        backtest_decisions,
        backtest_events,
        compare,
        live_side,
    )
    from metalabel.ops.runner import BACKTEST_IDENTIFIER, VARIANT_OVERLAYS, run_backtest
    from metalabel.ops.startup_checks import load_config_files

    days = journal_days(journal_dir)
    journal = read_journal(journal_dir, days[0], days[-1])
    if journal.corrupt:
        where = ", ".join(f"{name}:{line}" for name, line in journal.corrupt[:5])
        raise ParityError(
            f"{len(journal.corrupt)} corrupt journal line(s) in {journal_dir} ({where}): "
            "a decision may be missing, so the comparison would not be honest"
        )
    live = live_side(journal.records, offset_hours)
    configs = [Path(c) for c in args.config]
    merged = load_config_files(configs, runmode="backtest")
    merged.setdefault("metalabel", {})["mode"] = args.mode
    settings = load_config(merged)
    mode = StrategyMode(args.mode)
    first, last = live.candles[0].candle, live.candles[-1].candle
    pairs = sorted({r.pair for r in live.candles})
    frames = {}
    for pair in pairs:
        bundle = load_bundle(Path(args.data_dir), pair)
        frame = signal_frame(bundle.candles_1h, bundle.candles_4h, bundle.funding, settings)
        frames[pair] = frame[(frame["date"] >= first) & (frame["date"] <= last)]
    # no common hour: a clear error before the backtest runs (and fails on the timerange)
    compare(live, [r for pair, f in frames.items() for r in backtest_decisions(f, pair, mode)])
    # entries from the first candle's signal on; the hour after the last one for its entry
    start_s, end_s = int(first.timestamp()), int((last + 2 * HOUR).timestamp())
    results = workdir / "backtest_results"
    backtest_userdir = workdir / "backtest_user_data"
    done = run_backtest(
        f"{start_s}-{end_s}",
        configs=configs,
        overlays=VARIANT_OVERLAYS[args.mode],
        userdir=backtest_userdir,
        data_dir=Path(args.data_dir),
        results_dir=results,
        capture=True,
    )
    if done.returncode != 0:
        print((done.stdout + done.stderr)[-3000:])
        raise RuntimeError(f"freqtrade backtesting failed with exit code {done.returncode}")
    trades = load_backtest_data(results)
    events = backtest_events(trades) if not trades.empty else []
    backtest = []
    for pair, frame in frames.items():
        if mode is StrategyMode.META:
            models = backtest_userdir / "models" / BACKTEST_IDENTIFIER / LIFECYCLE_LOG
            frame = _with_backtest_model(
                frame, pair, pairs, results / PREDICTIONS_DIR, ModelVersions(models), settings
            )
        backtest.extend(backtest_decisions(frame, pair, mode))
    report = compare(live, backtest, events)
    print(
        f"compared {report.candles} candle decisions of {len({r.pair for r in live.candles})} "
        f"pair(s), {report.first_hour:%Y-%m-%d %H:%M} .. {report.last_hour:%Y-%m-%d %H:%M} "
        f"UTC bundle time (journal {journal_dir}, offset {offset_hours:+d} h)"
    )
    if report.differences:
        shown = report.differences[: args.list]
        print(f"differences ({len(report.differences)}, first {len(shown)}):")
        for difference in shown:
            print(f"  {difference.line()}")
    for line in report.lines():
        print(line)
    return 0 if report.targets_met else 1


def _with_backtest_model(
    frame: Any,
    pair: str,
    pairs: list[str],
    predictions_dir: Path,
    models: Any,
    settings: Any,
) -> Any:
    """The backtest's model columns on ``frame``: FreqAI's out-of-sample predictions of
    the backtest (``take`` probability, ``do_predict``), the strategy's ``meta_ok`` rule,
    and the version the backtest's lifecycle log made active."""
    from metalabel.evaluation.report.loading import ReportInputError, load_predictions
    from metalabel.ops.parity import ParityError

    try:
        predictions = load_predictions(predictions_dir, pairs)
    except ReportInputError as err:
        raise ParityError(f"the backtest left no model predictions: {err}") from err
    ours = predictions[predictions["pair"] == pair].drop_duplicates("date", keep="last")
    merged = frame.merge(ours[["date", "take", "do_predict"]], on="date", how="left")
    merged["meta_confidence"] = merged["take"]
    merged["do_predict"] = merged["do_predict"].fillna(0).astype(int)
    threshold = settings.model.confidence_threshold
    merged["meta_ok"] = (merged["do_predict"] == 1) & (merged["meta_confidence"] > threshold)
    merged["model_version"] = models.version(pair)
    return merged.drop(columns=["take"])
