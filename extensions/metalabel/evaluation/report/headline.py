"""The headline table printed at the end of ``metalabel backtest`` (Markdown)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _num2(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _interval(pair: Any, fmt: Any) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "n/a"
    return f"[{fmt(pair[0])}, {fmt(pair[1])}]"


def headline(report: Mapping[str, Any]) -> str:
    """The headline table (meta vs baselines, with 95% intervals) as Markdown."""
    rows = [
        "| variant | trades | Sharpe [95% CI] | total return [95% CI] | max DD (MC p95) "
        "| profit factor | win rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("meta", "primary", "primary_regime", "buy_hold"):
        v = report["variants"][name]
        rows.append(
            f"| {name} | {v['trades']} | {_num2(v['sharpe'])} "
            f"{_interval(v['sharpe_ci95'], _num2)} | {_pct(v['total_return'])} "
            f"{_interval(v['total_return_ci95'], _pct)} | {_pct(v['max_drawdown'])} "
            f"({_pct(v['max_drawdown_p95_mc'])}) | {_num2(v['profit_factor'])} "
            f"| {_pct(v['win_rate'])} |"
        )
    diff = report["meta_minus_primary_sharpe"]
    source = report["generated_from"]
    lifecycle = report.get("lifecycle", {})
    rows.append("")
    if lifecycle.get("available"):
        rows.append(
            f"model lifecycle: {lifecycle['promotions']} promotions, "
            f"{lifecycle['refusals']} refusals (the incumbent kept predicting)"
        )
    folds, fold_days = len(report["variants"]["meta"]["folds"]), report["settings"]["fold_days"]
    rows.append(
        f"meta − primary Sharpe: {_num2(diff['value'])} {_interval(diff['ci95'], _num2)} "
        f"(paired block bootstrap); {folds} folds of {fold_days} days, "
        f"{source['timerange']}, commit {source['commit']}"
    )
    fidelity = report.get("fidelity")
    if fidelity:
        rows.append(
            f"labels vs trades ({fidelity['variant']}, {fidelity['compared']} of "
            f"{fidelity['trades']} trades compared): exit match {fidelity['exit_match']:.2%}, "
            f"sign match {fidelity['sign_match']:.2%}, net error p50 "
            f"{fidelity['net_err_bp_p50']:.2g} bp, p99 {fidelity['net_err_bp_p99']:.2g} bp"
            f"; not compared: {_classes(fidelity['excluded'])}; disagreements: "
            f"{_classes(fidelity['disagreements'])}"
        )
    if "skill" in report:
        rows.append(skill_line(report["skill"]))
    return "\n".join(rows)


def _num(value: Any, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def skill_line(section: Mapping[str, Any]) -> str:
    """The skill section in one sentence whose verdict follows its figures."""
    if not section["available"]:
        return f"meta-model skill: {section['verdict']}"
    chance = section["chance_test"]
    trades = section["chance_test_trades"]
    return (
        f"meta-model skill: AUC {_num(section['auc'], 3)} "
        f"{_interval(section['auc_ci95'], lambda v: _num(v, 3))} over {section['signals']} "
        f"out-of-sample signals; Brier {_num(section['brier_score'], 4)} vs base rate "
        f"{_num(section['base_rate_brier'], 4)} (training window); calibration slope "
        f"{_num(section['calibration_slope'], 2)}; chance test ({chance['selected']} of "
        f"{chance['pool']} signals taken) p = {_num(chance['p_mean_net_return'], 4)} (mean net "
        f"return), {_num(chance['p_win_rate'], 4)} (win rate); meta trades vs random "
        f"primary_regime trades p = {_num(trades['p_mean_net_return'], 4)} (mean), "
        f"{_num(trades['p_win_rate'], 4)} (win rate): {section['verdict']}"
        f"; targets met {sum(bool(t['met']) for t in section['targets'])} of "
        f"{len(section['targets'])}: "
        + ", ".join(
            f"{t['name']} {t['wanted']} {'yes' if t['met'] else 'no'} ({_num(t['value'], 4)})"
            for t in section["targets"]
        )
    )


def _classes(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items() if n) or "none"
