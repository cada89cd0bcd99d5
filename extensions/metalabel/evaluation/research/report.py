"""The research report: ``reports/research.json`` (stable keys) and ``research.html``.

Built from the outer folds of :mod:`metalabel.evaluation.research.nested`:

* ``oos``: the concatenated outer folds' simulated trades (equal stakes, net of fees,
  funding and slippage): Sharpe of daily returns with its circular block-bootstrap 95 %
  interval (:mod:`metalabel.evaluation.bootstrap`), profit factor, max drawdown, trades;
* ``deflated_sharpe``: Bailey & López de Prado's probability that the out-of-sample
  Sharpe beats the best of ``trials`` null trials (:mod:`.stats`); N is the trials per
  fold (what each choice was made among), V the variance of the trials' objective (a
  mean inner-fold Sharpe, made daily), averaged over the folds' studies;
* ``chance_test``: the chosen settings' trades against random equal-sized draws from
  the trades that random settings of the space make in the same outer folds
  (:func:`metalabel.evaluation.skill.chance_test`): does the search pick better trades
  than the space does blindly?
* ``stability``: each knob's chosen value per fold, and a flag where it jumps;
* ``folds``: per outer fold, the study, its choice, its simulated result and, when run,
  the agreement of a real freqtrade backtest of the fold with the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metalabel.evaluation.bootstrap import block_bootstrap_ci, sharpe_rows
from metalabel.evaluation.metrics import PeriodMetrics
from metalabel.evaluation.report.html import fmt
from metalabel.evaluation.report.json_output import NullReasons, iso
from metalabel.evaluation.research import nested
from metalabel.evaluation.research.meta_gate import THRESHOLDS, MetaFold
from metalabel.evaluation.research.space import Knob
from metalabel.evaluation.research.stats import deflated_sharpe_of_returns, parameter_stability
from metalabel.evaluation.simulator import Agreement, simulated_metrics
from metalabel.evaluation.skill import chance_test

SCHEMA_VERSION = 1
SEED_TARGET_SHARPE = 1.85  # the seed's long-run goal (issue 13)
DSR_TARGET = 0.95
TEMPLATE = "research.html.j2"


def _metric(nulls: NullReasons, path: str, period: PeriodMetrics, name: str) -> float | None:
    return nulls.value(path, period.metric(name))


def _period(nulls: NullReasons, path: str, period: PeriodMetrics) -> dict[str, Any]:
    return {
        "start": iso(period.start),
        "end": iso(period.end),
        "trades": period.trades,
        "sharpe": _metric(nulls, f"{path}.sharpe", period, "sharpe"),
        "profit_factor": _metric(nulls, f"{path}.profit_factor", period, "profit_factor"),
        "max_drawdown": _metric(nulls, f"{path}.max_drawdown", period, "max_drawdown"),
        "total_return": _metric(nulls, f"{path}.total_return", period, "total_return"),
        "win_rate": _metric(nulls, f"{path}.win_rate", period, "win_rate"),
    }


def _metrics(
    trades: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, leverage: float
) -> PeriodMetrics:
    """Metrics of ``[start, end]``: the period runs one hour past ``end`` so the trades
    force-exited at ``end`` count."""
    period, _ = simulated_metrics(
        trades,
        start=start,
        end=end + pd.Timedelta(hours=1),
        start_equity=nested.START_EQUITY,
        stake=nested.STAKE,
        leverage=leverage,
    )
    return period


def agreement_json(agreement: Agreement | None) -> dict[str, Any] | None:
    if agreement is None:
        return None
    return {
        "freqtrade_trades": agreement.freqtrade_trades,
        "simulated_trades": agreement.simulated_trades,
        "identical": agreement.identical,
        "identical_ratio": None
        if agreement.freqtrade_trades == 0
        else round(agreement.identical_ratio, 6),
        "freqtrade_net_return": agreement.freqtrade_net_return,
        "simulated_net_return": agreement.simulated_net_return,
    }


def _oos(
    nulls: NullReasons,
    path: str,
    trades: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    leverage: float,
    rng: np.random.Generator,
) -> tuple[dict[str, Any], NDArray[np.float64]]:
    """The out-of-sample block of one variant and its daily returns."""
    period = _metrics(trades, start, end, leverage)
    daily = period.returns.to_numpy(np.float64)
    oos = _period(nulls, path, period)
    oos["sharpe_ci95"] = nulls.interval(
        f"{path}.sharpe_ci95", block_bootstrap_ci(daily, sharpe_rows, rng=rng)
    )
    oos["days"] = int(daily.size)
    oos["net_return_sum"] = float(trades["net_return"].sum()) if len(trades) else 0.0
    return oos, daily


def _dsr(
    nulls: NullReasons, path: str, daily: NDArray[np.float64], trials: int, variance: float
) -> dict[str, Any]:
    dsr: dict[str, Any] = {
        "probability": None,
        "sharpe_daily": None,
        "expected_max_sharpe_daily": None,
        "trials": trials,
        "trial_sharpe_variance_daily": variance,
        "observations": int(daily.size),
        "skewness": None,
        "kurtosis": None,
    }
    try:
        d = deflated_sharpe_of_returns(daily, trials=max(trials, 1), trial_sharpe_variance=variance)
    except ValueError as err:
        nulls.reasons[f"{path}.probability"] = str(err)
        return dsr
    dsr.update(
        probability=d.probability,
        sharpe_daily=d.sharpe,
        expected_max_sharpe_daily=d.expected_max_sharpe,
        skewness=d.skewness,
        kurtosis=d.kurtosis,
    )
    return dsr


def _chance(
    nulls: NullReasons,
    path: str,
    selected: NDArray[np.float64],
    pool: NDArray[np.float64],
    rng: np.random.Generator,
    pool_description: str,
) -> dict[str, Any]:
    chance = chance_test(selected, pool, rng=rng)
    return {
        "selected": chance.selected,
        "pool": chance.pool,
        "pool_description": pool_description,
        "mean_net_return": nulls.value(f"{path}.mean_net_return", chance.mean_net_return),
        "random_mean_net_return": nulls.value(
            f"{path}.random_mean_net_return", chance.random_mean_net_return
        ),
        "p_mean_net_return": nulls.value(f"{path}.p_mean_net_return", chance.p_mean_net_return),
        "win_rate": nulls.value(f"{path}.win_rate", chance.win_rate),
        "random_win_rate": nulls.value(f"{path}.random_win_rate", chance.random_win_rate),
        "p_win_rate": nulls.value(f"{path}.p_win_rate", chance.p_win_rate),
    }


def _targets(oos: Mapping[str, Any], dsr: Mapping[str, Any]) -> dict[str, Any]:
    lo = oos["sharpe_ci95"][0] if oos["sharpe_ci95"] else None
    targets: dict[str, Any] = {
        "sharpe_above_zero": oos["sharpe"] is not None and oos["sharpe"] > 0,
        "sharpe_ci95_lower_above_zero": lo is not None and lo > 0,
        "deflated_sharpe_met": dsr["probability"] is not None and dsr["probability"] > DSR_TARGET,
        "seed_sharpe_goal_met": oos["sharpe"] is not None and oos["sharpe"] >= SEED_TARGET_SHARPE,
    }
    targets["all_met"] = bool(
        targets["sharpe_above_zero"]
        and targets["sharpe_ci95_lower_above_zero"]
        and targets["deflated_sharpe_met"]
    )
    return targets


def build_research_report(
    results: Sequence[nested.FoldResult],
    *,
    space: Mapping[str, Knob],
    leverage: float,
    source: Mapping[str, Any],
    confirmations: Mapping[int, Agreement] | None = None,
    meta: Mapping[int, MetaFold] | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """The report dict (JSON-ready) of a finished run; ``source`` describes the run.

    ``meta``: the meta gate of each fold (:mod:`.meta_gate`), all folds or none; its
    deflated Sharpe counts every (trial, threshold) pair as a configuration tried.
    """
    if not results:
        raise ValueError("no outer fold to report")
    meta = meta or {}
    if meta and set(meta) != {r.fold.index for r in results}:
        raise ValueError("the meta gate must cover every fold or none")
    nulls = NullReasons()
    rng = np.random.default_rng(seed)
    start, end = results[0].fold.test_start, results[-1].fold.test_end
    trades = pd.concat([r.trades for r in results], ignore_index=True)
    oos, daily = _oos(nulls, "oos", trades, start, end, leverage, rng)
    trials = min(int(r.trial_scores.size) for r in results)
    variance = (
        float(np.mean([np.var(r.trial_scores / np.sqrt(365.0), ddof=1) for r in results]))
        if trials >= 2
        else 0.0
    )
    dsr = _dsr(nulls, "deflated_sharpe", daily, trials, variance)
    chance_json = _chance(
        nulls,
        "chance_test",
        trades["net_return"].to_numpy(np.float64),
        np.concatenate([r.random_net_returns for r in results]),
        rng,
        f"trades of {source.get('random_settings', nested.RANDOM_SETTINGS)} random settings "
        "of the space per fold, in the same folds",
    )
    meta_json: dict[str, Any] | None = None
    if meta:
        meta_trades = pd.concat([meta[r.fold.index].trades for r in results], ignore_index=True)
        meta_oos, meta_daily = _oos(nulls, "meta.oos", meta_trades, start, end, leverage, rng)
        meta_dsr = _dsr(
            nulls, "meta.deflated_sharpe", meta_daily, trials * len(THRESHOLDS), variance
        )
        meta_json = {
            "oos": meta_oos,
            "deflated_sharpe": meta_dsr,
            "chance_test": _chance(
                nulls,
                "meta.chance_test",
                meta_trades["net_return"].to_numpy(np.float64),
                trades["net_return"].to_numpy(np.float64),
                rng,
                "the primary_regime trades of the same settings in the same folds",
            ),
            "targets": _targets(meta_oos, meta_dsr),
            "thresholds": list(THRESHOLDS),
        }

    fold_rows = []
    confirmations = confirmations or {}
    for result in results:
        f = result.fold
        metrics = _metrics(result.trades, f.test_start, f.test_end, leverage)
        row = _period(nulls, f"folds.{f.index}", metrics)
        row.update(
            index=f.index,
            train_start=iso(f.train_start),
            train_end=iso(f.train_end),
            study=result.study_name,
            trials_finished=result.outcome.finished,
            best_trial=result.outcome.best_number,
            best_inner_score=result.outcome.best_value,
            params=result.params,
            confirmation=agreement_json(confirmations.get(f.index)),
            meta=None,
        )
        if f.index in meta:
            m = meta[f.index]
            gated = _metrics(m.trades, f.test_start, f.test_end, leverage)
            row["meta"] = {
                **_period(nulls, f"folds.{f.index}.meta", gated),
                "threshold": m.threshold,
                "threshold_scores": {str(k): v for k, v in m.threshold_scores.items()},
                "train_events": m.train_events,
            }
        fold_rows.append(row)

    stability = [
        {
            "knob": k.name,
            "values": k.values,
            "counts": k.counts,
            "range_share": k.range_share,
            "coefficient_of_variation": k.coefficient_of_variation,
            "flagged": k.flagged,
        }
        for k in parameter_stability(space, [r.params for r in results])
    ]
    targets = _targets(oos, dsr)
    met = targets["all_met"] or bool(meta_json and meta_json["targets"]["all_met"])
    targets["statement"] = (
        "A nested out-of-sample result meets the targets (Sharpe > 0, lower 95 % bound > 0, "
        "deflated Sharpe probability > 0.95)."
        if met
        else "No configuration chosen by this search reached the targets out of sample "
        "(Sharpe > 0 with the lower 95 % bound > 0 and deflated Sharpe probability > 0.95)"
        + (", with or without the meta gate" if meta_json else "")
        + ": on this period the search over the seed's settings shows no demonstrated edge."
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_from": dict(source),
        "oos": oos,
        "targets": {
            **targets,
            "deflated_sharpe_above": DSR_TARGET,
            "seed_sharpe_goal": SEED_TARGET_SHARPE,
        },
        "deflated_sharpe": dsr,
        "chance_test": chance_json,
        "meta": meta_json,
        "folds": fold_rows,
        "stability": stability,
        "stability_flagged": [s["knob"] for s in stability if s["flagged"]],
        "latest_overlay": nested.overlay_of(results[-1].params, space, results[-1].settings),
        "null_reasons": dict(sorted(nulls.reasons.items())),
    }


@cache
def environment() -> jinja2.Environment:
    """The research templates beside the walk-forward report's (its style is shared)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("metalabel.evaluation.research", "templates"),
                jinja2.PackageLoader("metalabel.evaluation.report", "templates"),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt)
    return env


def render_research_html(report: Mapping[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(report=report)


def write_research_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``research.json`` and ``research.html`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "research.json", out_dir / "research.html"
    json_path.write_text(json.dumps(report, indent=2, default=_plain) + "\n")
    html_path.write_text(render_research_html(report))
    return json_path, html_path


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (the JSON encoder's fallback)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def headline(report: Mapping[str, Any]) -> str:
    """The figures the CLI prints at the end."""
    oos, dsr, chance = report["oos"], report["deflated_sharpe"], report["chance_test"]
    return "\n".join(
        [
            f"nested OOS ({oos['start']} to {oos['end']}, {len(report['folds'])} folds): "
            f"trades {oos['trades']}, Sharpe {fmt(oos['sharpe'])} "
            f"95% CI {fmt(oos['sharpe_ci95'])}, "
            f"profit factor {fmt(oos['profit_factor'])}, max drawdown "
            f"{fmt(oos['max_drawdown'], 'pct')}, return {fmt(oos['total_return'], 'pct')}",
            f"deflated Sharpe probability {fmt(dsr['probability'])} "
            f"({dsr['trials']} trials per fold, SR0 {fmt(dsr['expected_max_sharpe_daily'])}/day)",
            f"chance test: mean net return {fmt(chance['mean_net_return'], 'pct')} vs random "
            f"settings {fmt(chance['random_mean_net_return'], 'pct')}, "
            f"p = {fmt(chance['p_mean_net_return'])}",
            *(_meta_line(report["meta"]) if report["meta"] else []),
            f"unstable knobs: {', '.join(report['stability_flagged']) or 'none'}",
            report["targets"]["statement"],
        ]
    )


class OverlayRefusedError(ValueError):
    """``--write-config`` named a file the research must never write."""


def write_config_overlay(
    path: Path, overlay: Mapping[str, Any], *, protected: Sequence[Path] = ()
) -> Path:
    """Write the chosen settings as a separate freqtrade config overlay.

    Refuses any file named ``config.json`` and any of ``protected`` (the base configs):
    adoption is a deliberate second ``--config``, never a silent rewrite of the main one.
    """
    target = path.resolve()
    if target.name == "config.json" or any(target == p.resolve() for p in protected):
        raise OverlayRefusedError(
            f"{path}: refusing to write a base config; give a separate overlay file, "
            "e.g. user_data/config.research.json, and pass it as a second --config"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(overlay, indent=4) + "\n")
    return target


def _meta_line(meta: Mapping[str, Any]) -> list[str]:
    oos, dsr, chance = meta["oos"], meta["deflated_sharpe"], meta["chance_test"]
    return [
        f"meta gate (model per fold, threshold on inner folds): trades {oos['trades']}, "
        f"Sharpe {fmt(oos['sharpe'])} 95% CI {fmt(oos['sharpe_ci95'])}, profit factor "
        f"{fmt(oos['profit_factor'])}, return {fmt(oos['total_return'], 'pct')}, deflated "
        f"Sharpe probability {fmt(dsr['probability'])} ({dsr['trials']} configurations), "
        f"chance vs its primary trades p = {fmt(chance['p_mean_net_return'])}"
    ]
