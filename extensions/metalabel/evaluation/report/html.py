"""The report as a self-contained HTML page, rendered from the package's Jinja2 templates.

The page is laid out in ``templates/walkforward.html.j2`` (style and method text beside
it); this module only supplies the report dict, the plots as inline PNG and the number
formats. Autoescaping is on, so a value from the data cannot inject markup; the plots
are the one piece of markup passed in, built by :mod:`metalabel.evaluation.report.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from metalabel.evaluation.report import plots
from metalabel.evaluation.report.analysis import Calibration, VariantAnalysis

TEMPLATE = "walkforward.html.j2"

# (JSON key, column label, format) of the whole-range table and of the per-fold tables.
Column = tuple[str, str, str]
SUMMARY_COLUMNS: tuple[Column, ...] = (
    ("trades", "Trades", "int"), ("sharpe", "Sharpe", "num"),
    ("sharpe_ci95", "Sharpe 95% CI", "num"), ("sortino", "Sortino", "num"),
    ("profit_factor", "Profit factor", "num"),
    ("max_drawdown", "Max DD", "pct"), ("max_drawdown_p95_mc", "Max DD p95 (MC)", "pct"),
    ("win_rate", "Win rate", "pct"), ("win_loss_ratio", "Avg win / avg loss", "num"),
    ("total_return", "Total return", "pct"), ("total_return_ci95", "Return 95% CI", "pct"),
    ("exposure", "Exposure", "pct"),
)  # fmt: skip
FOLD_COLUMNS: tuple[Column, ...] = (
    ("trades", "Trades", "int"), ("sharpe", "Sharpe", "num"), ("sortino", "Sortino", "num"),
    ("profit_factor", "PF", "num"), ("max_drawdown", "Max DD", "pct"),
    ("win_rate", "Win rate", "pct"), ("avg_win", "Avg win", "pct"), ("avg_loss", "Avg loss", "pct"),
    ("total_return", "Return", "pct"), ("exposure", "Exposure", "pct"),
)  # fmt: skip


def fmt(value: Any, kind: str = "num") -> str:
    """A report value for a table cell: ``n/a`` for null, ratios as percent with ``pct``.

    >>> [fmt(None), fmt(3), fmt(True), fmt(0.12345), fmt(0.12345, "pct"), fmt([0.1, None])]
    ['n/a', '3', 'yes', '0.123', '12.35 %', '[0.100, n/a]']
    """
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return f"[{fmt(value[0], kind)}, {fmt(value[1], kind)}]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if kind == "pct":
        return f"{100 * value:.2f} %"
    return f"{value:.3f}"


def _cell(column: Column, row: Mapping[str, Any]) -> str:
    """The formatted value of ``column`` in ``row`` (a variant or a fold)."""
    key, _, kind = column
    return fmt(row[key], kind)


def _stat(statistic: str, summary: Mapping[str, Any], kind: str) -> str:
    """One statistic (mean, std, ...) of a metric's summary across folds."""
    return fmt(summary[statistic], kind)


@cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape, undefined names fail."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("metalabel.evaluation.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, cell=_cell, stat=_stat)
    return env


def render_html(
    report: Mapping[str, Any], analyses: Mapping[str, VariantAnalysis], cal: Calibration
) -> str:
    """The self-contained HTML page: tables, and plots inlined as base64 PNG."""
    equity, drawdown = plots.equity_plots(analyses)
    figures = {
        "equity": Markup(equity),
        "drawdown": Markup(drawdown),
        "folds": Markup(plots.fold_plot(analyses)),
        "histogram": Markup(plots.histogram_plot(analyses)),
    }
    if report["calibration"]["available"]:
        figures["calibration"] = Markup(plots.calibration_plot(report, cal))
    if report["skill"]["available"]:
        figures["reliability"] = Markup(plots.reliability_plot(report))
    return render_page(report, figures)


def render_page(report: Mapping[str, Any], figures: Mapping[str, Markup]) -> str:
    """The page from the report dict and ready ``<img>`` markup per plot name.

    ``figures`` holds ``equity``, ``drawdown``, ``folds``, ``histogram`` and, when the
    calibration is available, ``calibration``; a missing one raises. ``reliability``
    (the skill section's plot) is shown when given.
    """
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            report=report,
            plots=figures,
            summary_columns=SUMMARY_COLUMNS,
            fold_columns=FOLD_COLUMNS,
        )
    )
