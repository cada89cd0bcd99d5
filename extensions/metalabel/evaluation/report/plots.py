"""The report's plots: matplotlib figures rendered to inline base64 PNG ``<img>`` tags.

The object-oriented ``Figure`` API (no pyplot): no global state, no GUI backend, and a
PNG without metadata, so the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from metalabel.evaluation.report.analysis import Calibration, VariantAnalysis
from metalabel.evaluation.report.loading import BUY_HOLD

COLOURS = {
    "meta": "#1f77b4",
    "primary": "#ff7f0e",
    "primary_regime": "#2ca02c",
    BUY_HOLD: "#7f7f7f",
}


def _png(figure: Any) -> str:
    """A figure as an inline ``<img>`` (base64 PNG, no metadata, no external reference)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _figure(rows: int = 1, cols: int = 1, height: float = 3.6) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, height * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def equity_plots(analyses: Mapping[str, VariantAnalysis]) -> tuple[str, str]:
    """Equity and drawdown, all variants on top and the strategies alone (zoomed) below."""
    equity_fig, equity_axes = _figure(rows=2, height=3.2)
    dd_fig, dd_axes = _figure(rows=2, height=3.2)
    for name, analysis in analyses.items():
        equity = analysis.overall.equity
        relative = equity / analysis.overall.start_equity
        drawdown = 1.0 - equity / np.maximum(equity.cummax(), analysis.overall.start_equity)
        rows = (0,) if name == BUY_HOLD else (0, 1)
        for row in rows:
            style = {"label": name, "color": COLOURS.get(name)}
            equity_axes[row, 0].plot(equity.index, relative, **style)
            dd_axes[row, 0].plot(equity.index, -drawdown, **style)
    titles = (
        (equity_axes, "Equity at the end of each day, relative to the starting balance"),
        (dd_axes, "Drawdown from the running peak, end of day"),
    )
    for axes, title in titles:
        axes[0, 0].set_title(title)
        axes[1, 0].set_title("strategy variants only")
        for row in (0, 1):
            axes[row, 0].legend()
            axes[row, 0].grid(alpha=0.3)
    return _png(equity_fig), _png(dd_fig)


def fold_plot(analyses: Mapping[str, VariantAnalysis]) -> str:
    figure, axes = _figure(rows=2)
    width = 0.8 / max(len(analyses), 1)
    for offset, (name, analysis) in enumerate(analyses.items()):
        x = np.arange(len(analysis.folds)) + offset * width
        for row, metric in enumerate(("total_return", "sharpe")):
            values = [
                np.nan if (v := fold.metric(metric).value) is None else v for fold in analysis.folds
            ]
            axes[row, 0].bar(x, values, width, label=name, color=COLOURS.get(name))
    labels = [f"{f.start:%Y-%m-%d}" for f in next(iter(analyses.values())).folds]
    for row, title in enumerate(("Total return per fold", "Sharpe per fold (missing = undefined)")):
        axes[row, 0].set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45)
        axes[row, 0].set_title(title)
        axes[row, 0].axhline(0, color="black", linewidth=0.8)
        axes[row, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes[row, 0].grid(alpha=0.3, axis="y")
    return _png(figure)


def histogram_plot(analyses: Mapping[str, VariantAnalysis]) -> str:
    figure, axes = _figure()
    ax = axes[0, 0]
    shown = [a for a in analyses.values() if a.name != BUY_HOLD and a.trade_returns.size]
    if shown:
        every = np.concatenate([a.trade_returns for a in shown])
        bins = np.linspace(every.min(), every.max(), 41) if np.ptp(every) else 10
        for analysis in shown:
            ax.hist(
                analysis.trade_returns,
                bins=bins,
                histtype="step",
                linewidth=1.5,
                density=True,
                label=f"{analysis.name} ({analysis.trade_returns.size} trades)",
                color=COLOURS.get(analysis.name),
            )
        ax.legend()
    ax.set_title("Trade returns on stake (profit_ratio), density")
    ax.grid(alpha=0.3)
    return _png(figure)


def calibration_plot(report: Mapping[str, Any], cal: Calibration) -> str:
    figure, axes = _figure(height=4.0)
    ax = axes[0, 0]
    bins = report["calibration"]["bins"]
    x = [b["mean_confidence"] for b in bins if b["trades"]]
    y = [b["win_rate"] for b in bins if b["trades"]]
    n = [b["trades"] for b in bins if b["trades"]]
    ax.plot([cal.threshold, 1.0], [cal.threshold, 1.0], "--", color="grey", label="perfect")
    ax.scatter(x, y, s=[20 + 10 * k for k in n], color=COLOURS["meta"], label="meta trades")
    for xi, yi, ni in zip(x, y, n, strict=True):
        ax.annotate(f"n={ni}", (xi, yi), textcoords="offset points", xytext=(6, 6))
    ax.set_xlim(cal.threshold - 0.05, 1.0)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("predicted confidence (signal candle)")
    ax.set_ylabel("realised win rate")
    ax.set_title("Meta-model calibration on the trades it took")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(figure)


def reliability_plot(report: Mapping[str, Any]) -> str:
    """Observed take rate against mean predicted probability, every out-of-sample signal."""
    figure, axes = _figure(height=4.0)
    ax = axes[0, 0]
    section = report["skill"]
    shown = [b for b in section["reliability_bins"] if b["signals"]]
    x = [b["mean_probability"] for b in shown]
    y = [b["observed_rate"] for b in shown]
    n = [b["signals"] for b in shown]
    ax.plot([0.0, 1.0], [0.0, 1.0], "--", color="grey", label="calibrated")
    if section["positive_rate"] is not None:
        ax.axhline(section["positive_rate"], color="black", linewidth=0.8, label="base rate")
    ax.axvline(section["confidence_threshold"], color="red", linewidth=0.8, label="threshold")
    largest = max(n, default=1)
    ax.scatter(x, y, s=[20 + 300 * k / largest for k in n], color=COLOURS["meta"], label="bins")
    for xi, yi, ni in zip(x, y, n, strict=True):
        ax.annotate(f"n={ni}", (xi, yi), textcoords="offset points", xytext=(6, 6))
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("predicted take probability (out of sample)")
    ax.set_ylabel("observed take rate (label net return > 0)")
    ax.set_title("Meta-model reliability on every out-of-sample signal")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(figure)
