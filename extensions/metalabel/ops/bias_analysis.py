"""Bias checks: freqtrade's lookahead and recursive analysis, in every strategy mode.

Runs freqtrade's own ``LookaheadAnalysis`` and ``RecursiveAnalysis`` in-process
against a replay exchange (they need markets), with FreqAI under an identifier of its
own, because these analyses delete the identifier's model folder. The verdict is
structured rather than scraped from freqtrade's console table:

- lookahead: freqtrade re-runs the backtest cut off at each of 20 signals and compares
  the strategy's columns with the full run. We compare every column on every common
  row ourselves (not only freqtrade's verdict), ignoring FreqAI targets (``&``-columns,
  which only ``set_freqai_targets`` writes and which are meant to see the future) and
  one FreqAI artefact: a backtest's very last candle gets no prediction (do_predict 0,
  probabilities 0), so the cut-off run's final row is compared only where it was
  predicted. It is a failure when fewer signals than required could be checked;
- recursive: biased when any column, computed with the strategy's own
  ``startup_candle_count``, differs from the longest-history value by more than
  ``RECURSIVE_TOLERANCE`` (relative), or is missing on one side.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from metalabel.config import StrategyMode
from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, USER_DATA, replay_session

logger = logging.getLogger(__name__)

ANALYSIS_IDENTIFIER = "metalabel-analysis"
RECURSIVE_TOLERANCE = 1e-3  # 0.1 %: EMA seeds converge far below this within 800 candles
STARTUP_CANDLES = [199, 399, 499, 999, 1999]
STRATEGY = "MetaLabelStrategy"


@dataclass
class ModeVerdict:
    """What the two analyses found for one strategy mode."""

    mode: str
    lookahead_signals: int = 0
    lookahead_biased: list[str] = field(default_factory=list)
    lookahead_failed: bool = False
    recursive_biased: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lookahead_biased or self.lookahead_failed or self.recursive_biased)

    def line(self) -> str:
        if self.ok:
            return (
                f"{self.mode}: no lookahead bias ({self.lookahead_signals} signals checked), "
                "no recursive-formula bias"
            )
        problems = []
        if self.lookahead_failed:
            problems.append("lookahead check could not run on enough signals")
        if self.lookahead_biased:
            problems.append(f"lookahead bias in {', '.join(self.lookahead_biased)}")
        if self.recursive_biased:
            worst = ", ".join(f"{k} ({v:.3%})" for k, v in self.recursive_biased.items())
            problems.append(f"recursive bias in {worst}")
        return f"{self.mode}: " + "; ".join(problems)


# The lookahead check needs entry signals; the calibrated model seldom passes the shipped
# 0.6 in a few months, so the meta mode is checked with the lowest allowed threshold (the
# gate's code path and the model's inputs are the same at any threshold).
ANALYSIS_CONFIDENCE_THRESHOLD = 0.5


def _overlay(mode: StrategyMode) -> dict[str, Any]:
    if mode is StrategyMode.META:
        return {
            "metalabel": {
                "mode": mode.value,
                "model": {"confidence_threshold": ANALYSIS_CONFIDENCE_THRESHOLD},
            },
            "freqai": {"identifier": ANALYSIS_IDENTIFIER},
        }
    return {"metalabel": {"mode": mode.value}, "freqai": {"enabled": False}}


def _config(
    extra_args: dict[str, Any], overlay_files: list[Path], strategy: str, strategy_path: Path
) -> dict[str, Any]:
    from freqtrade.configuration import Configuration
    from freqtrade.enums import RunMode

    args = {
        "config": [str(MAIN_CONFIG), *map(str, overlay_files)],
        "datadir": str(BUNDLED_DATA.parent),
        "strategy_path": str(strategy_path),
        "freqaimodel_path": str(USER_DATA / "freqaimodels"),
        "dataformat_ohlcv": "feather",
        "strategy": strategy,
        **extra_args,
    }
    config: dict[str, Any] = Configuration(args, RunMode.UTIL_NO_EXCHANGE).get_config()
    return config


def _strategy_obj(config: dict[str, Any]) -> dict[str, Any]:
    from freqtrade.resolvers import StrategyResolver

    for obj in StrategyResolver.search_all_objects(config, enum_failed=False):
        if obj["name"] == config["strategy"]:
            found: dict[str, Any] = obj
            return found
    raise LookupError(f"strategy {config['strategy']} not found in {config['strategy_path']}")


PREDICTION_COLUMNS = ("do_predict",)


def lookahead_bias(
    full: dict[str, pd.DataFrame], partials: list[dict[str, pd.DataFrame]]
) -> dict[str, int]:
    """Columns whose values differ between the full run and cut-off runs, with counts.

    Each frame has a ``date`` column; rows are matched on it. NaN equals NaN. The last
    row of a cut-off run is skipped where FreqAI did not predict it (``do_predict`` 0
    while the full run predicted that candle): that is the backtest's missing final
    prediction, not information from the future.
    """
    counts: dict[str, int] = {}
    for partial in partials:
        for pair, cut in partial.items():
            if pair not in full or cut.empty:
                continue
            whole = full[pair].set_index("date")
            cut = cut.set_index("date")
            if _unpredicted_final_row(whole, cut):
                cut = cut.iloc[:-1]
            common = cut.index.intersection(whole.index)
            for column in cut.columns.intersection(whole.columns):
                if column.startswith("&"):
                    continue
                left, right = whole.loc[common, column], cut.loc[common, column]
                differs = ~((left == right) | (left.isna() & right.isna()))
                if differs.any():
                    counts[column] = counts.get(column, 0) + int(differs.sum())
    return counts


def _unpredicted_final_row(whole: pd.DataFrame, cut: pd.DataFrame) -> bool:
    if "do_predict" not in cut.columns or "do_predict" not in whole.columns:
        return False
    last = cut.index[-1]
    return bool(cut["do_predict"].iloc[-1] == 0 and whole.loc[last, "do_predict"] != 0)


def recursive_bias(
    table: dict[str, dict[int, float]], strategy_startup: int, tolerance: float
) -> dict[str, float]:
    """Columns whose value at the strategy's startup count is off by more than tolerance.

    ``table`` is freqtrade's ``RecursiveAnalysis.dict_recursive``: column -> startup
    count -> relative difference to the longest-history run (NaN: one side missing).
    A column absent at ``strategy_startup`` agreed exactly there.

    >>> recursive_bias({"ema": {199: 0.02, 800: 0.0}, "obv": {800: 0.25}}, 800, 1e-3)
    {'obv': 0.25}
    """
    biased = {}
    for column, by_startup in table.items():
        diff = by_startup.get(strategy_startup)
        if diff is None:
            continue
        if math.isnan(diff) or abs(diff) > tolerance:
            biased[column] = diff
    return biased


def analyse_mode(
    mode: StrategyMode,
    *,
    timerange: str,
    userdir: Path,
    minimum_trades: int = 10,
    targeted_trades: int = 20,
    strategy: str = STRATEGY,
    strategy_path: Path = USER_DATA / "strategies",
) -> ModeVerdict:
    """Run both analyses for one mode and return the verdict."""
    from freqtrade.optimize.analysis.lookahead import LookaheadAnalysis
    from freqtrade.optimize.analysis.lookahead_helpers import LookaheadAnalysisSubFunctions
    from freqtrade.optimize.analysis.recursive import RecursiveAnalysis
    from freqtrade.optimize.analysis.recursive_helpers import RecursiveAnalysisSubFunctions
    from freqtrade.util import get_progress_tracker

    verdict = ModeVerdict(mode=mode.value)
    userdir.mkdir(parents=True, exist_ok=True)
    with replay_session() as (_server, replay_overlay), tempfile.TemporaryDirectory() as tmp:
        mode_overlay = Path(tmp) / "mode.json"
        mode_overlay.write_text(json.dumps(_overlay(mode)))
        common = {"user_data_dir": str(userdir), "timerange": timerange}
        files = [mode_overlay, replay_overlay]

        lookahead_args = {
            **common,
            "minimum_trade_amount": minimum_trades,
            "targeted_trade_amount": targeted_trades,
        }
        config = _config(lookahead_args, files, strategy, strategy_path)
        config = LookaheadAnalysisSubFunctions.calculate_config_overrides(config)
        with get_progress_tracker() as progress:
            lookahead = LookaheadAnalysis(config, _strategy_obj(config))
            lookahead.start(progress)
        verdict.lookahead_signals = int(lookahead.current_analysis.total_signals)
        verdict.lookahead_failed = bool(lookahead.failed_bias_check)
        partials = [v.indicators for v in lookahead.entry_varHolders + lookahead.exit_varHolders]
        differing = lookahead_bias(lookahead.full_varHolder.indicators, partials)
        verdict.lookahead_biased = sorted(differing)

        recursive_args = {**common, "startup_candle": STARTUP_CANDLES}
        config = _config(recursive_args, files, strategy, strategy_path)
        config = RecursiveAnalysisSubFunctions.calculate_config_overrides(config)
        with get_progress_tracker() as progress:
            recursive = RecursiveAnalysis(config, _strategy_obj(config))
            recursive.start(progress)
        startup = int(recursive._strat_scc or 0)
        verdict.recursive_biased = recursive_bias(
            recursive.dict_recursive, startup, RECURSIVE_TOLERANCE
        )
    return verdict


def analyse_all(timerange: str, *, userdir: Path) -> list[ModeVerdict]:
    """Both analyses for every mode, baselines first."""
    modes = [StrategyMode.PRIMARY, StrategyMode.PRIMARY_REGIME, StrategyMode.META]
    return [analyse_mode(mode, timerange=timerange, userdir=userdir) for mode in modes]
