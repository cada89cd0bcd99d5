"""The report as JSON: stable keys, ``null`` with a reason, never NaN or inf.

Every value that cannot be computed is ``null`` with its reason under ``null_reasons``,
keyed by the value's path (``variants.meta.folds[3].sharpe``), so the keys are the same
whatever the data; the README lists them and a test keeps that list in step
(:func:`report_key_paths`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metalabel.evaluation import metrics
from metalabel.evaluation.bootstrap import Interval
from metalabel.evaluation.metrics import Metric, PeriodMetrics
from metalabel.evaluation.report.analysis import (
    STRESS_FEE_MULTIPLIER,
    STRESS_SLIPPAGE_MULTIPLIER,
    Calibration,
    RegimeView,
    ReportSettings,
    SkillAnalysis,
    VariantAnalysis,
    calibration_edges,
    difference,
)
from metalabel.evaluation.report.loading import (
    BUY_HOLD,
    STRATEGY_NAME,
    VARIANTS,
    BacktestRun,
    file_sha256,
)
from metalabel.evaluation.skill import SKILL_ALPHA, ChanceTest, skill_targets

SCHEMA_VERSION = 1


class NullReasons:
    """Turns metrics into JSON values and remembers why each ``null`` is null."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def value(self, path: str, metric: Metric) -> float | None:
        if metric.value is None or not math.isfinite(metric.value):
            self.reasons[path] = metric.reason or "not computable"
            return None
        return float(metric.value)

    def interval(self, path: str, interval: Interval) -> list[float] | None:
        if interval.lo is None or interval.hi is None:
            self.reasons[path] = interval.reason or "not computable"
            return None
        return [float(interval.lo), float(interval.hi)]


def iso(moment: pd.Timestamp) -> str:
    """``2025-01-01T00:00:00Z``: UTC, second precision."""
    return str(pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def _period_json(nulls: NullReasons, path: str, period: PeriodMetrics) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": iso(period.start),
        "end": iso(period.end),
        "days": (period.end - period.start) / metrics.ONE_DAY,
        "trades": period.trades,
    }
    for name in metrics.METRIC_NAMES:
        out[name] = nulls.value(f"{path}.{name}", period.metric(name))
    return out


def _regime_json(nulls: NullReasons, path: str, view: RegimeView) -> dict[str, Any]:
    out: dict[str, Any] = {"trades": view.trades}
    for name in (
        "share_of_trades", "win_rate", "profit_factor", "mean_trade_return", "profit_abs",
        "return_contribution",
    ):  # fmt: skip
        out[name] = nulls.value(f"{path}.{name}", getattr(view, name))
    out["unknown_regime_trades"] = view.unknown_regime_trades
    return out


def variant_json(nulls: NullReasons, analysis: VariantAnalysis) -> dict[str, Any]:
    """One variant: whole-range metrics and intervals, folds, their summary, stress."""
    path = f"variants.{analysis.name}"
    o = analysis.overall
    out: dict[str, Any] = {
        "trades": o.trades,
        "days": (o.end - o.start) / metrics.ONE_DAY,
        "start_balance": o.start_equity,
        "end_balance": o.end_equity,
    }
    for name in metrics.METRIC_NAMES:
        out[name] = nulls.value(f"{path}.{name}", o.metric(name))
    out["sharpe_ci95"] = nulls.interval(f"{path}.sharpe_ci95", analysis.sharpe_ci)
    out["total_return_ci95"] = nulls.interval(f"{path}.total_return_ci95", analysis.total_return_ci)
    out["max_drawdown_p95_mc"] = nulls.value(f"{path}.max_drawdown_p95_mc", analysis.drawdown_p95)
    out["folds"] = [
        {"index": i, **_period_json(nulls, f"{path}.folds[{i}]", fold)}
        for i, fold in enumerate(analysis.folds)
    ]
    summary = {}
    for name in ("trades", *metrics.METRIC_NAMES):
        agg = metrics.aggregate_folds(analysis.folds, name)
        base = f"{path}.fold_summary.{name}"
        summary[name] = {
            "mean": nulls.value(f"{base}.mean", agg.mean),
            "std": nulls.value(f"{base}.std", agg.std),
            "min": nulls.value(f"{base}.min", agg.min),
            "max": nulls.value(f"{base}.max", agg.max),
            "folds": agg.folds,
        }
    out["fold_summary"] = summary
    worst = min(range(len(analysis.folds)), key=lambda i: _sort_key(analysis.folds[i]))
    stressed = analysis.doubled_costs
    doubled = {
        "trades": stressed.trades,
        **{
            name: nulls.value(f"{path}.stress.doubled_costs.{name}", stressed.metric(name))
            for name in _STRESS_METRICS
        },
        "total_return_change": nulls.value(
            f"{path}.stress.doubled_costs.total_return_change",
            difference(stressed.total_return, o.total_return),
        ),
    }
    fold = analysis.folds[worst]
    out["stress"] = {
        "high_volatility": _regime_json(
            nulls, f"{path}.stress.high_volatility", analysis.high_volatility
        ),
        "worst_fold": {
            "index": worst,
            "start": iso(fold.start),
            "end": iso(fold.end),
            "trades": fold.trades,
            **{
                name: nulls.value(f"{path}.stress.worst_fold.{name}", fold.metric(name))
                for name in ("total_return", "sharpe", "max_drawdown")
            },
        },
        "doubled_costs": doubled,
    }
    return out


_STRESS_METRICS = ("sharpe", "sortino", "profit_factor", "max_drawdown", "win_rate", "total_return")


def _sort_key(period: PeriodMetrics) -> float:
    value = period.total_return.value
    return math.inf if value is None else value


def calibration_json(nulls: NullReasons, cal: Calibration, bins: int) -> dict[str, Any]:
    """Reliability table of the meta trades; the same keys whether or not it is available."""
    brier = (
        Metric.undefined(cal.reason)
        if cal.reason is not None
        else Metric.of(float(np.mean((cal.confidence - cal.won) ** 2)))
    )
    edges = calibration_edges(cal.threshold, bins)
    which = np.clip(np.searchsorted(edges, cal.confidence, side="right") - 1, 0, bins - 1)
    table = []
    for i in range(bins):
        member = which == i
        n = int(member.sum())
        empty = Metric.undefined(cal.reason or "no meta trade in this confidence bin")
        table.append(
            {
                "lo": float(edges[i]),
                "hi": float(edges[i + 1]),
                "trades": n,
                "mean_confidence": nulls.value(
                    f"calibration.bins[{i}].mean_confidence",
                    Metric.of(float(cal.confidence[member].mean())) if n else empty,
                ),
                "win_rate": nulls.value(
                    f"calibration.bins[{i}].win_rate",
                    Metric.of(float(cal.won[member].mean())) if n else empty,
                ),
            }
        )
    return {
        "available": cal.reason is None,
        "reason": cal.reason,
        "variant": "meta",
        "trades": int(cal.confidence.size),
        "unmatched_trades": cal.unmatched,
        "confidence_threshold": cal.threshold,
        "brier_score": nulls.value("calibration.brier_score", brier),
        "bins": table,
    }


def sharpe_difference_json(nulls: NullReasons, diff: Metric, interval: Interval) -> dict[str, Any]:
    """Meta minus primary Sharpe, its interval and whether the interval excludes zero."""
    ci = nulls.interval("meta_minus_primary_sharpe.ci95", interval)
    if ci is None:
        nulls.reasons["meta_minus_primary_sharpe.ci95_excludes_zero"] = (
            interval.reason or "no interval"
        )
    return {
        "value": nulls.value("meta_minus_primary_sharpe.value", diff),
        "ci95": ci,
        "ci95_excludes_zero": None if ci is None else bool(ci[0] > 0 or ci[1] < 0),
        "method": "paired circular block bootstrap: the same resampled days for both variants",
    }


def report_json(
    *,
    runs: Mapping[str, BacktestRun],
    analyses: Mapping[str, VariantAnalysis],
    calibration: Calibration,
    sharpe_difference: tuple[Metric, Interval],
    lifecycle: dict[str, Any],
    settings: ReportSettings,
    timerange: str,
    candles_dir: Path,
    data_files: list[Path],
    fee_ratio: float,
    commit: str,
    skill: SkillAnalysis,
) -> dict[str, Any]:
    """The whole report as a JSON-ready dict, ``null_reasons`` last and sorted by path."""
    nulls = NullReasons()
    meta = runs["meta"]
    legs = analyses[BUY_HOLD].legs
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_from": {
            "commit": commit,
            "timerange": timerange,
            "data": candles_dir.as_posix(),
            "data_files": [{"file": p.name, "sha256": file_sha256(p)} for p in data_files],
            "strategy": STRATEGY_NAME,
            "start": iso(meta.start),
            "end": iso(meta.end),
            "pairs": list(meta.pairs),
            "timeframe": meta.timeframe,
            "stake_currency": meta.stake_currency,
            "starting_balance": meta.starting_balance,
            "results": {v: run.source.as_posix() for v, run in runs.items()},
        },
        "settings": {
            "seed": settings.seed,
            "fold_days": settings.fold_days,
            "annualisation_days": metrics.ANNUALISATION_DAYS,
            "bootstrap": "circular block bootstrap of daily returns, percentile interval",
            "bootstrap_resamples": settings.bootstrap_resamples,
            "bootstrap_block_days": settings.bootstrap_block_days,
            "confidence": settings.confidence,
            "mc_resamples": settings.mc_resamples,
            "mc_percentile": settings.mc_percentile,
            "fee_ratio": fee_ratio,
            "stress_fee_multiplier": STRESS_FEE_MULTIPLIER,
            "stress_slippage_ratio_per_side": STRESS_SLIPPAGE_MULTIPLIER
            * meta.settings.costs.base_slippage_ratio,
            "calibration_bins": settings.calibration_bins,
        },
        "variants": {name: variant_json(nulls, analyses[name]) for name in VARIANTS},
        "buy_hold_pairs": [
            {"pair": str(leg.pair), "total_return": float(leg.profit_ratio)}
            for leg in (legs.itertuples() if legs is not None else ())
        ],
        "meta_minus_primary_sharpe": sharpe_difference_json(nulls, *sharpe_difference),
        "calibration": calibration_json(nulls, calibration, settings.calibration_bins),
        "lifecycle": lifecycle,
        "skill": skill_json(nulls, skill),
    }
    report["null_reasons"] = dict(sorted(nulls.reasons.items()))
    return report


def report_key_paths(report: Mapping[str, Any]) -> list[str]:
    """Every key path of a report, as the README documents them.

    Variant names become ``<variant>``, the metric names under ``fold_summary``
    ``<metric>``, list items ``[]``; ``null_reasons`` (keyed by the paths of null values),
    ``generated_from.results`` (keyed by variant) and ``lifecycle.by_pair`` (keyed by
    pair) are listed as single keys.
    """
    paths: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if prefix == "variants":
                    name = "<variant>"
                elif prefix.endswith(".fold_summary"):
                    name = "<metric>"
                else:
                    name = key
                path = f"{prefix}.{name}" if prefix else name
                paths.add(path)
                if path not in ("null_reasons", "generated_from.results", "lifecycle.by_pair"):
                    walk(value, path)
        elif isinstance(node, list):
            for item in node:
                walk(item, f"{prefix}[]")

    walk(report, "")
    return sorted(paths)


SKILL_METHOD = {
    "population": (
        "admitted, labelled signal candles of the backtest period that a walk-forward "
        "window's model predicted out of sample (do_predict == 1); label take = net "
        "return after costs > 0, recomputed from the bundled data with the run's settings"
    ),
    "auc_interval": (
        "percentile interval over a bootstrap of whole UTC days (every signal of a "
        "drawn day together), seeded"
    ),
    "base_rate": (
        "base_rate_brier forecasts each signal with the take rate of its pair's events "
        "in its window's training range (label horizon purged): what the model could "
        "have known; oos_base_rate_brier uses the out-of-sample rate (hindsight)"
    ),
    "chance_test": (
        "chance_test: the signals the model takes (probability > threshold) against "
        "random subsets of the same size of all predicted signals, by their label net "
        "returns (no slots, no sizing: the model's choice alone); chance_test_trades: "
        "the meta run's trades against random subsets of the primary_regime trades, by "
        "profit_ratio. One-sided p = (1 + #random >= observed) / (1 + resamples)"
    ),
    "verdict": (
        f"beats chance when the AUC interval lies above 0.5 and the chance test's "
        f"p-value for mean net return is below {SKILL_ALPHA}"
    ),
}


def _chance_json(
    nulls: NullReasons, path: str, test: ChanceTest, population: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "population": population,
        "selected": test.selected,
        "pool": test.pool,
        "take_rate": nulls.value(
            f"{path}.take_rate",
            Metric.of(test.selected / test.pool) if test.pool else Metric.undefined("empty pool"),
        ),
        "resamples": test.resamples,
    }
    for name in (
        "mean_net_return", "win_rate", "random_mean_net_return", "random_win_rate",
        "p_mean_net_return", "p_win_rate",
    ):  # fmt: skip
        out[name] = nulls.value(f"{path}.{name}", getattr(test, name))
    return out


def skill_json(nulls: NullReasons, analysis: SkillAnalysis) -> dict[str, Any]:
    """The ``skill`` section: the meta-model's out-of-sample skill (stable keys)."""
    a = analysis
    if a.beats_chance is None:
        nulls.reasons["skill.beats_chance"] = a.verdict
    if a.reason is None:
        nulls.reasons["skill.reason"] = "nothing is missing: the section is available"
    return {
        "available": a.reason is None,
        "reason": a.reason,
        "variant": "meta",
        "confidence_threshold": a.threshold,
        "method": dict(SKILL_METHOD),
        "signals": a.signals,
        "positives": a.positives,
        "positive_rate": nulls.value(
            "skill.positive_rate",
            Metric.of(a.positives / a.signals) if a.signals else Metric.undefined("no signals"),
        ),
        "excluded_do_predict": a.excluded_do_predict,
        "unpredicted": a.unpredicted,
        "auc": nulls.value("skill.auc", a.auc),
        "auc_ci95": nulls.interval("skill.auc_ci95", a.auc_ci),
        "folds": [
            {
                "index": i,
                "start": iso(fold.start),
                "signals": fold.signals,
                "positives": fold.positives,
                "auc": nulls.value(f"skill.folds[{i}].auc", fold.auc),
            }
            for i, fold in enumerate(a.folds)
        ],
        "brier_score": nulls.value("skill.brier_score", a.brier),
        "base_rate_brier": nulls.value("skill.base_rate_brier", a.base_rate_brier),
        "oos_base_rate_brier": nulls.value("skill.oos_base_rate_brier", a.oos_base_rate_brier),
        "calibration_slope": nulls.value("skill.calibration_slope", a.calibration.slope),
        "calibration_intercept": nulls.value(
            "skill.calibration_intercept", a.calibration.intercept
        ),
        "reliability_bins": [
            {
                "lo": b.lo,
                "hi": b.hi,
                "signals": b.signals,
                "mean_probability": nulls.value(
                    f"skill.reliability_bins[{i}].mean_probability", b.mean_probability
                ),
                "observed_rate": nulls.value(
                    f"skill.reliability_bins[{i}].observed_rate", b.observed_rate
                ),
            }
            for i, b in enumerate(a.bins)
        ],
        "chance_test": _chance_json(
            nulls, "skill.chance_test", a.chance_events, "predicted signals, label net return"
        ),
        "chance_test_trades": _chance_json(
            nulls,
            "skill.chance_test_trades",
            a.chance_trades,
            "meta trades vs primary_regime trades, profit_ratio",
        ),
        "beats_chance": a.beats_chance,
        "verdict": a.verdict,
        "targets": [
            {"name": t.name, "wanted": t.wanted, "value": t.value, "met": t.met}
            for t in skill_targets(
                a.auc,
                a.auc_ci,
                a.chance_events.p_mean_net_return,
                a.brier,
                a.base_rate_brier,
                a.bins,
            )
        ],
    }
