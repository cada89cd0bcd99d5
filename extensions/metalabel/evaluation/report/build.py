"""Building the report: load the three runs, analyse them, write the JSON and the page."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from metalabel.core.pipeline import load_bundle
from metalabel.evaluation.fidelity import Fidelity, compare, label_trades
from metalabel.evaluation.folds import walk_forward_folds
from metalabel.evaluation.report.analysis import (
    Calibration,
    ReportSettings,
    VariantAnalysis,
    analyse_buy_hold,
    analyse_skill,
    analyse_trades,
    calibration_data,
    report_fee_ratio,
    sharpe_difference,
)
from metalabel.evaluation.report.html import render_html
from metalabel.evaluation.report.joins import candle_regimes
from metalabel.evaluation.report.json_output import report_json
from metalabel.evaluation.report.loading import (
    BUY_HOLD,
    TRADE_VARIANTS,
    candles_path,
    check_same_run_setup,
    check_variants,
    lifecycle_summary,
    load_candles,
    load_run,
    load_skill_inputs,
)

logger = logging.getLogger(__name__)

JSON_NAME = "walkforward.json"
HTML_NAME = "walkforward.html"


def build_report(
    results_dirs: Mapping[str, Path],
    *,
    timerange: str,
    candles_dir: Path,
    out_dir: Path,
    commit: str,
    seed: int = 0,
    settings: ReportSettings | None = None,
    lifecycle_log: Path | None = None,
) -> dict[str, Any]:
    """Build the report of ``meta``, ``primary`` and ``primary_regime`` results; write it.

    ``results_dirs`` maps each variant to the ``--backtest-directory`` it was exported
    to; ``candles_dir`` holds the candles (for buy and hold and the regimes). Writes
    ``out_dir/walkforward.json`` and ``out_dir/walkforward.html`` and returns the JSON
    dict. Raises :class:`ReportInputError` for results it cannot report on.
    """
    settings = settings or ReportSettings(seed=seed)
    check_variants(results_dirs)
    runs = {v: load_run(v, Path(results_dirs[v])) for v in TRADE_VARIANTS}
    check_same_run_setup(runs, timerange)
    meta = runs["meta"]
    start, end = meta.start, meta.end
    folds = walk_forward_folds(start, end, test_days=settings.fold_days, partial_last=True)
    candles = load_candles(
        candles_dir,
        meta.pairs,
        timeframe=meta.timeframe,
        trading_mode=meta.trading_mode,
        start=start,
        end=end,
    )
    regimes_by_settings: dict[tuple[Any, Any], pd.DataFrame] = {}
    analyses: dict[str, VariantAnalysis] = {}
    for variant, run in runs.items():
        key = (run.settings.signal, run.settings.regime)
        if key not in regimes_by_settings:
            regimes_by_settings[key] = candle_regimes(candles, run.settings)
        analyses[variant] = analyse_trades(run, folds, regimes_by_settings[key], settings)
        logger.info("%s: %d trades analysed", variant, run.trades.shape[0])
    fee_ratio = report_fee_ratio(meta)
    analyses[BUY_HOLD] = analyse_buy_hold(
        candles,
        folds,
        start=start,
        end=end,
        start_equity=meta.starting_balance,
        fee_ratio=fee_ratio,
        slippage_ratio=meta.settings.costs.base_slippage_ratio,
        settings=settings,
    )
    calibration = calibration_data(meta)
    skill = analyse_skill(
        load_skill_inputs(meta, candles_dir), meta, runs["primary_regime"], settings
    )
    report = report_json(
        runs=runs,
        analyses=analyses,
        calibration=calibration,
        sharpe_difference=sharpe_difference(analyses, settings),
        lifecycle=lifecycle_summary(lifecycle_log),
        settings=settings,
        timerange=timerange,
        candles_dir=candles_dir,
        data_files=[
            candles_path(candles_dir, pair, meta.timeframe, meta.trading_mode)
            for pair in meta.pairs
        ],
        fee_ratio=fee_ratio,
        commit=commit,
        skill=skill,
    )
    report["fidelity"] = fidelity_json(trade_fidelity(runs["primary_regime"], candles_dir))
    write_report(report, analyses, calibration, out_dir)
    return report


def trade_fidelity(run: Any, candles_dir: Path) -> Fidelity:
    """The labels against the trades of a run (the ``primary_regime`` baseline trades
    every admitted signal with a free slot: the labels' own events)."""
    bundles = [load_bundle(candles_dir, pair) for pair in run.pairs]
    return compare(label_trades(run.trades, bundles, run.settings))


def fidelity_json(fidelity: Fidelity) -> dict[str, Any]:
    """The report's ``fidelity`` section (stable keys; see README)."""
    return {
        "variant": "primary_regime",
        "trades": fidelity.trades,
        "compared": fidelity.compared,
        "exit_match": fidelity.exit_match,
        "sign_match": fidelity.sign_match,
        "net_err_bp_p50": fidelity.net_err_bp_p50,
        "net_err_bp_p99": fidelity.net_err_bp_p99,
        "excluded": fidelity.excluded,
        "disagreements": fidelity.disagreements,
        "targets_met": fidelity.targets_met,
    }


def write_report(
    report: Mapping[str, Any],
    analyses: Mapping[str, VariantAnalysis],
    calibration: Calibration,
    out_dir: Path,
) -> tuple[Path, Path]:
    """Write ``walkforward.json`` (no NaN/inf allowed) and ``walkforward.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / JSON_NAME, out_dir / HTML_NAME
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    html_path.write_text(render_html(report, analyses, calibration))
    logger.info("wrote %s and %s", json_path, html_path)
    return json_path, html_path
