"""Loading the report's inputs: freqtrade's backtest exports, the candles, file hashes.

Each variant's latest exported backtest (``.last_result.json``) is read through
freqtrade's own loaders; the ``metalabel`` block it ran with comes from the exported
config, so a results directory of the wrong variant is refused rather than reported.
Input the report cannot use raises :class:`ReportInputError` naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from freqtrade.configuration import TimeRange
from freqtrade.data.btanalysis import (
    get_latest_backtest_filename,
    load_backtest_analysis_data,
    load_backtest_data,
    load_backtest_stats,
    load_file_from_zip,
)
from freqtrade.exceptions import FreqtradeException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.misc import pair_to_filename

from metalabel.config import ConfigError, MetalabelConfig, load_config
from metalabel.core.pipeline import labelled_events, load_bundle
from metalabel.model.classifier import TAKE

logger = logging.getLogger(__name__)

STRATEGY_NAME = "MetaLabelStrategy"
TRADE_VARIANTS: tuple[str, ...] = ("meta", "primary", "primary_regime")
BUY_HOLD = "buy_hold"
VARIANTS: tuple[str, ...] = (*TRADE_VARIANTS, BUY_HOLD)

_TRADE_COLUMNS = {
    "pair": "str",
    "open_date": "datetime64[us, UTC]",
    "close_date": "datetime64[us, UTC]",
    "profit_abs": "float64",
    "profit_ratio": "float64",
    "stake_amount": "float64",
    "amount": "float64",
    "open_rate": "float64",
    "close_rate": "float64",
    "fee_open": "float64",
    "fee_close": "float64",
    "is_short": "bool",
    "enter_tag": "str",
}


# FreqAI keeps each backtest window's predictions in the model folder as
# ``backtesting_predictions/cb_<coin>_<window start, unix s>_prediction.feather``
# (``FreqaiDataKitchen.save_backtesting_prediction``); the runner copies the folder
# beside the meta run's results.
PREDICTIONS_DIR = "backtesting_predictions"
_UTC_NS = "datetime64[ns, UTC]"
_PREDICTION_FILE = re.compile(r"cb_(?P<coin>[a-z0-9]+)_(?P<start>\d+)_prediction\.feather")


class ReportInputError(ValueError):
    """The backtest results cannot be reported on; the message says which and why."""


@dataclass(frozen=True)
class BacktestRun:
    """One variant's exported freqtrade backtest, as the report needs it."""

    variant: str
    source: Path
    trades: pd.DataFrame
    starting_balance: float
    stake_currency: str
    start: pd.Timestamp
    end: pd.Timestamp
    timeframe: str
    trading_mode: str
    pairs: tuple[str, ...]
    settings: MetalabelConfig
    signals: pd.DataFrame | None  # pair, date, meta_confidence of each trade's signal candle
    signals_reason: str | None


def load_run(variant: str, results_dir: Path, *, strategy: str = STRATEGY_NAME) -> BacktestRun:
    """The latest backtest result in ``results_dir`` (freqtrade's ``.last_result.json``).

    Raises :class:`ReportInputError` when there is none, when it holds another strategy,
    or when its exported config ran another ``metalabel.mode`` than ``variant``.
    """
    if not results_dir.is_dir():
        raise ReportInputError(
            f"{variant}: no backtest results: directory {results_dir} does not exist"
        )
    try:
        source = results_dir / get_latest_backtest_filename(results_dir)
        stats = load_backtest_stats(source)
    except (ValueError, OSError, FreqtradeException) as err:
        raise ReportInputError(
            f"{variant}: no readable backtest result in {results_dir}: {err}"
        ) from err
    strategies = stats.get("strategy") if isinstance(stats, dict) else None
    if not isinstance(strategies, dict):
        raise ReportInputError(f"{variant}: {source} is not a freqtrade backtest result")
    if strategy not in strategies:
        found = ", ".join(sorted(strategies)) or "no strategy"
        raise ReportInputError(f"{variant}: {source} holds results of {found}, not of {strategy}")
    result = strategies[strategy]
    settings, from_file = _exported_settings(source)
    if from_file and settings.mode.value != variant:
        raise ReportInputError(
            f"{variant}: {source} was run with metalabel.mode={settings.mode.value!r}, "
            f"expected {variant!r} (are the results directories swapped?)"
        )
    try:
        start = pd.Timestamp(int(result["backtest_start_ts"]), unit="ms", tz="UTC")
        end = pd.Timestamp(int(result["backtest_end_ts"]), unit="ms", tz="UTC")
        starting_balance = float(result["starting_balance"])
        timeframe = str(result["timeframe"])
    except (KeyError, TypeError, ValueError) as err:
        raise ReportInputError(f"{variant}: {source} lacks or garbles {err}") from err
    if starting_balance <= 0:
        raise ReportInputError(f"{variant}: {source} starts with a balance of {starting_balance}")
    trades = normalised_trades(load_backtest_data(source, strategy=strategy), start, end)
    signals, signals_reason = _signal_confidence(source, strategy)
    return BacktestRun(
        variant=variant,
        source=source,
        trades=trades,
        starting_balance=starting_balance,
        stake_currency=str(result.get("stake_currency", "")),
        start=start,
        end=end,
        timeframe=timeframe,
        trading_mode=str(result.get("trading_mode", "futures")),
        pairs=tuple(result.get("pairlist") or sorted(set(trades["pair"]))),
        settings=settings,
        signals=signals,
        signals_reason=signals_reason,
    )


def _exported_settings(source: Path) -> tuple[MetalabelConfig, bool]:
    """The ``metalabel`` block the run used (from the exported config), else the defaults."""
    if source.suffix != ".zip":
        return MetalabelConfig(), False
    try:
        raw = json.loads(load_file_from_zip(source, f"{source.stem}_config.json"))
    except ValueError:
        logger.warning("%s has no exported config; using the default metalabel settings", source)
        return MetalabelConfig(), False
    try:
        return load_config(raw), True
    except ConfigError as err:
        raise ReportInputError(f"{source}: exported config is invalid: {err}") from err


def normalised_trades(trades: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The trades table with the columns the report uses, every close inside the period."""
    if trades.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _TRADE_COLUMNS.items()})
    missing = sorted(set(_TRADE_COLUMNS) - set(trades.columns))
    if missing:
        raise ReportInputError(f"backtest trades lack the columns {missing}")
    out = trades.copy()
    # freqtrade force-exits what is still open at the close of the last candle, dated
    # ``end`` itself; a microsecond earlier it belongs to the last day and the last fold.
    late = out["close_date"] >= end
    if late.any():
        logger.debug("%d trades close at %s (force exit); counted on the last day", late.sum(), end)
        out.loc[late, "close_date"] = end - pd.Timedelta(microseconds=1)
    return out.sort_values(["close_date", "open_date"], kind="stable").reset_index(drop=True)


def _signal_confidence(source: Path, strategy: str) -> tuple[pd.DataFrame | None, str | None]:
    """Signal candles' ``meta_confidence`` from ``--export signals``, or why there are none."""
    name = f"{source.stem}_signals.pkl"
    if source.suffix != ".zip":
        return None, "results are not a zip archive, so no exported signal candles"
    with zipfile.ZipFile(source) as archive:
        if name not in archive.namelist():
            return None, "the backtest was not run with --export signals"
    data = load_backtest_analysis_data(source, "signals")
    per_pair: Mapping[str, pd.DataFrame] = (data or {}).get(strategy, {})
    parts = [
        frame.loc[:, ["date", "meta_confidence"]].assign(pair=pair)
        for pair, frame in per_pair.items()
        if not frame.empty and "meta_confidence" in frame.columns
    ]
    if not parts:
        return None, "the exported signal candles carry no meta_confidence (no meta-model)"
    return pd.concat(parts, ignore_index=True), None


def candles_path(candles_dir: Path, pair: str, timeframe: str, trading_mode: str) -> Path:
    """freqtrade's feather file name of a pair, e.g. ``BTC_USDT_USDT-1h-futures.feather``."""
    suffix = "-futures" if trading_mode == "futures" else ""
    return candles_dir / f"{pair_to_filename(pair)}-{timeframe}{suffix}.feather"


def load_candles(
    candles_dir: Path,
    pairs: Sequence[str],
    *,
    timeframe: str,
    trading_mode: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict[str, pd.DataFrame]:
    """Each pair's candles up to ``end``; they must cover ``[start, end)``."""
    step = pd.Timedelta(seconds=timeframe_to_seconds(timeframe))
    out = {}
    for pair in pairs:
        path = candles_path(candles_dir, pair, timeframe, trading_mode)
        if not path.is_file():
            raise ReportInputError(f"no candles for {pair}: {path} does not exist")
        frame = pd.read_feather(path)
        frame["date"] = pd.to_datetime(frame["date"], utc=True)
        frame = frame[frame["date"] < end].sort_values("date").reset_index(drop=True)
        if frame.empty or frame["date"].iloc[0] > start or frame["date"].iloc[-1] < end - step:
            span = (
                f"{frame['date'].iloc[0]} .. {frame['date'].iloc[-1]}" if len(frame) else "nothing"
            )
            raise ReportInputError(f"{path} covers {span}, not the report period {start} .. {end}")
        out[pair] = frame
    return out


def file_sha256(path: Path) -> str:
    """The file's SHA-256, so a report names the exact data it was computed from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_variants(results_dirs: Mapping[str, Path]) -> None:
    """Results for exactly the three strategy variants, no more, no fewer."""
    unknown = sorted(set(results_dirs) - set(TRADE_VARIANTS))
    if unknown:
        raise ReportInputError(
            f"unknown variant(s) {unknown}; expected results for {list(TRADE_VARIANTS)}"
        )
    missing = [v for v in TRADE_VARIANTS if v not in results_dirs]
    if missing:
        raise ReportInputError(
            f"missing backtest results for {missing}; the report compares "
            f"{list(TRADE_VARIANTS)} over the same timerange"
        )


def check_same_run_setup(runs: Mapping[str, BacktestRun], timerange: str) -> None:
    """Every run covers ``timerange`` on the same pairs, balance and timeframe."""
    try:
        wanted = TimeRange.parse_timerange(timerange)
    except FreqtradeException as err:
        raise ReportInputError(f"timerange {timerange!r}: {err}") from err
    for run in runs.values():
        if wanted.startts and run.start != pd.Timestamp(wanted.startts, unit="s", tz="UTC"):
            raise ReportInputError(
                f"{run.variant}: {run.source} starts {run.start}, not at the start of "
                f"timerange {timerange}"
            )
        if wanted.stopts and run.end != pd.Timestamp(wanted.stopts, unit="s", tz="UTC"):
            raise ReportInputError(
                f"{run.variant}: {run.source} ends {run.end}, not at the end of "
                f"timerange {timerange}"
            )
    reference = runs[TRADE_VARIANTS[0]]
    for run in runs.values():
        for attribute in ("start", "end", "starting_balance", "pairs", "timeframe"):
            if getattr(run, attribute) != getattr(reference, attribute):
                raise ReportInputError(
                    f"{run.variant} and {reference.variant} differ in {attribute}: "
                    f"{getattr(run, attribute)} vs {getattr(reference, attribute)}; "
                    "the variants must be run on the same data and period"
                )


def lifecycle_summary(log_path: Path | None) -> dict[str, Any]:
    """Promotions and refusals of the meta run's model lifecycle, per pair and window."""
    from metalabel.model.lifecycle import LifecycleLog

    events = LifecycleLog(log_path).read() if log_path is not None else []
    by_pair: dict[str, dict[str, Any]] = {}
    for event in events:
        pair = by_pair.setdefault(
            str(event.get("pair")), {"promotions": 0, "refusals": 0, "windows": []}
        )
        promoted = event.get("decision") == "promote"
        pair["promotions" if promoted else "refusals"] += 1
        pair["windows"].append(
            {
                "window_end": str(event.get("window_end")),
                "decision": str(event.get("decision")),
                "active_version": event.get("active_version"),
            }
        )
    return {
        "available": bool(events),
        "promotions": sum(p["promotions"] for p in by_pair.values()),
        "refusals": sum(p["refusals"] for p in by_pair.values()),
        "by_pair": by_pair,
    }


@dataclass(frozen=True)
class SkillInputs:
    """The meta run's out-of-sample predictions joined with the labels of their candles.

    ``signals``: one row per admitted, labelled signal candle that a window's model
    predicted -- ``pair``, ``date``, ``window_start``, ``take`` (the probability),
    ``do_predict``, ``label`` ("take"/"skip"), ``net_return``. ``events``: every labelled
    event of the bundled data (``pair``, ``date``, ``label``), for the base rate each
    window's model was trained on. ``reason`` says why there are none.
    """

    signals: pd.DataFrame | None
    events: pd.DataFrame | None
    train_days: int
    unpredicted: int  # labelled events inside the predicted period without a prediction
    reason: str | None


def load_predictions(directory: Path, pairs: Sequence[str]) -> pd.DataFrame:
    """Every window's predictions in ``directory`` (FreqAI's feather files), one frame.

    Raises :class:`ReportInputError` when the folder is missing or empty, or a file
    names a coin none of ``pairs`` trades.
    """
    if not directory.is_dir():
        raise ReportInputError(f"no out-of-sample predictions: {directory} does not exist")
    by_coin = {pair.split("/")[0].lower(): pair for pair in pairs}
    parts = []
    for path in sorted(directory.glob("*_prediction.feather")):
        match = _PREDICTION_FILE.fullmatch(path.name)
        if match is None or match["coin"] not in by_coin:
            raise ReportInputError(f"{path} is not a prediction file of the pairs {list(pairs)}")
        frame = pd.read_feather(path)
        missing = sorted({"date", TAKE, "do_predict"} - set(frame.columns))
        if missing:
            raise ReportInputError(f"{path} lacks the columns {missing}")
        parts.append(
            pd.DataFrame(
                {
                    "pair": by_coin[match["coin"]],
                    "date": pd.to_datetime(frame["date"], utc=True).astype(_UTC_NS),
                    "window_start": pd.Timestamp(int(match["start"]), unit="s", tz="UTC"),
                    "take": frame[TAKE].astype("float64"),
                    "do_predict": frame["do_predict"].astype("int64"),
                }
            )
        )
    if not parts:
        raise ReportInputError(f"no out-of-sample predictions: {directory} holds no feather file")
    return pd.concat(parts, ignore_index=True)


def exported_train_days(source: Path) -> int | None:
    """``freqai.train_period_days`` of the exported config, None when not exported."""
    if source.suffix != ".zip":
        return None
    try:
        raw = json.loads(load_file_from_zip(source, f"{source.stem}_config.json"))
        return int(raw["freqai"]["train_period_days"])
    except (ValueError, KeyError, TypeError):
        return None


def load_skill_inputs(run: BacktestRun, candles_dir: Path) -> SkillInputs:
    """The meta run's predictions (``<results>/backtesting_predictions``) and the labels
    of the same candles, recomputed from the bundled data with the run's settings."""
    train_days = exported_train_days(run.source)
    try:
        predictions = load_predictions(run.source.parent / PREDICTIONS_DIR, run.pairs)
    except ReportInputError as err:
        return SkillInputs(None, None, train_days or 0, 0, str(err))
    if train_days is None:
        return SkillInputs(None, None, 0, 0, f"{run.source} exports no freqai.train_period_days")
    events = pd.concat(
        [
            labelled_events(load_bundle(candles_dir, pair), run.settings)
            .loc[:, ["date", "label", "net_return"]]
            .assign(pair=pair, date=lambda f: f["date"].astype(_UTC_NS))
            for pair in run.pairs
        ],
        ignore_index=True,
    )
    signals = predictions.merge(events, on=["pair", "date"], how="inner", validate="one_to_one")
    first = predictions.groupby("pair")["date"].min()
    last = predictions.groupby("pair")["date"].max()
    inside = (events["date"] >= events["pair"].map(first)) & (
        events["date"] <= events["pair"].map(last)
    )
    unpredicted = int(inside.sum()) - len(signals)
    if signals.empty:
        return SkillInputs(
            None, events, train_days, unpredicted, "no labelled signal was predicted"
        )
    signals = signals.sort_values(["date", "pair"], kind="stable").reset_index(drop=True)
    return SkillInputs(signals, events, train_days, unpredicted, None)
