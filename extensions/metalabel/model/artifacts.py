"""What each trained meta-model leaves beside itself: metadata JSON and an HTML report.

Hold-out metrics are computed on the time-ordered validation split (the last rows of
the training window, after the rows the model was fitted on). Early stopping also
watches that split, so these figures are mildly optimistic; the walk-forward backtest
is the honest test. Trade-level figures treat each taken event as one trade with its
labelled net return (fees, slippage and funding included): Sharpe per trade is
``mean / std`` (not annualised), profit factor is gains / losses, max drawdown is the
largest fall of the cumulative sum of returns, in return units.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, roc_auc_score

from metalabel.evaluation.metrics import profit_factor, win_rate
from metalabel.model.classifier import CLASS_NAMES, TAKE, MetaLabelModel
from metalabel.model.window import TrainingWindow

FloatArray = npt.NDArray[np.float64]
METADATA_FILE = "metalabel_metadata.json"
REPORT_FILE = "metalabel_training_report.html"
SWEEP_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def per_trade_stats(returns: Sequence[float]) -> dict[str, float | int | None]:
    """Per-trade Sharpe, profit factor, max drawdown and win rate of net returns.

    Each return is one trade (a taken event's labelled net return, or a live trade's
    price-move return): the figures the model lifecycle compares, and the tuner scores.
    Profit factor and win rate are :mod:`metalabel.evaluation.metrics`' own; Sharpe is
    per trade (``mean / std``, not annualised) and the drawdown is in return units.

    >>> per_trade_stats([0.02, -0.01, 0.03])["profit_factor"]
    5.0
    """
    r = np.asarray([x for x in returns if math.isfinite(x)], dtype=np.float64)
    if len(r) == 0:
        return {
            "trades": 0,
            "sharpe": None,
            "profit_factor": None,
            "max_drawdown": None,
            "win_rate": None,
            "mean_return": None,
        }
    std = float(r.std(ddof=1)) if len(r) > 1 else 0.0
    equity = np.concatenate([[0.0], np.cumsum(r)])
    drawdown = float((np.maximum.accumulate(equity) - equity).max())
    return {
        "trades": len(r),
        "sharpe": _clean(float(r.mean()) / std) if std > 0 else None,
        "profit_factor": profit_factor(r).value,
        "max_drawdown": drawdown,
        "win_rate": win_rate(r).value,
        "mean_return": float(r.mean()),
    }


def holdout_metrics(
    take: npt.ArrayLike, confidence: npt.ArrayLike, net_return: npt.ArrayLike, threshold: float
) -> dict[str, Any]:
    """AUC, Brier score, precision/recall at the threshold and the filtered trades."""
    y = np.asarray(take, dtype=bool)
    p = np.asarray(confidence, dtype=np.float64)
    r = np.asarray(net_return, dtype=np.float64)
    chosen = p > threshold
    both_classes = 0 < y.sum() < len(y)
    true_pos = int((chosen & y).sum())
    return {
        "rows": len(y),
        "auc": _clean(float(roc_auc_score(y, p))) if both_classes else None,
        "brier": _clean(float(brier_score_loss(y, p))) if len(y) else None,
        "precision_at_threshold": true_pos / int(chosen.sum()) if chosen.any() else None,
        "recall_at_threshold": true_pos / int(y.sum()) if y.any() else None,
        "threshold": threshold,
        "filtered_trades": per_trade_stats(r[chosen].tolist()),
        "all_signals": per_trade_stats(r.tolist()),
    }


def calibration_table(
    take: npt.ArrayLike, confidence: npt.ArrayLike, bins: int = 5
) -> list[dict[str, float | int]]:
    """Mean predicted confidence vs realised 'take' rate in equal-width bins."""
    y = np.asarray(take, dtype=np.float64)
    p = np.asarray(confidence, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        inside = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if inside.any():
            rows.append(
                {
                    "low": float(lo),
                    "high": float(hi),
                    "rows": int(inside.sum()),
                    "mean_confidence": float(p[inside].mean()),
                    "take_rate": float(y[inside].mean()),
                }
            )
    return rows


def threshold_sweep(
    confidence: npt.ArrayLike,
    net_return: npt.ArrayLike,
    thresholds: Sequence[float] = SWEEP_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Trade metrics of the signals the model would take at each threshold."""
    p = np.asarray(confidence, dtype=np.float64)
    r = np.asarray(net_return, dtype=np.float64)
    return [{"threshold": t, **per_trade_stats(r[p > t].tolist())} for t in thresholds]


def training_metadata(
    model: MetaLabelModel,
    window: TrainingWindow,
    *,
    pair: str,
    model_version: str,
    threshold: float,
    lifecycle: Mapping[str, Any],
) -> dict[str, Any]:
    """What a trained model's metadata JSON holds: window, labels, hold-out, importance."""
    holdout = window.holdout_features
    take = window.holdout_labels == TAKE
    confidence: FloatArray = (
        model.predict_proba(holdout.to_numpy())[:, 1] if len(holdout) else np.zeros(0)
    )
    labels = window.labels
    importance = dict(
        zip(
            window.fit_features.columns,
            map(float, model.booster_.feature_importances_),
            strict=True,
        )
    )
    return {
        "model_version": model_version,
        "pair": pair,
        "training_window": {
            "start": str(window.start),
            "end": str(window.end),
            "fit_rows": len(window.fit_labels),
            "holdout_rows": len(window.holdout_labels),
            "holdout_start": (
                str(window.holdout_dates.iloc[0]) if len(window.holdout_dates) else None
            ),
        },
        "features": list(window.fit_features.columns),
        "label_counts": {name: int((labels == name).sum()) for name in CLASS_NAMES},
        "barrier_counts": {str(k): int(v) for k, v in window.barriers.value_counts().items()},
        "holdout": holdout_metrics(take, confidence, window.holdout_net_return, threshold),
        "calibration": calibration_table(take, confidence),
        "threshold_sweep": threshold_sweep(confidence, window.holdout_net_return),
        "feature_importance": importance,
        "cross_validation": {
            "folds_used": model.cv_.folds_used,
            "n_estimators": model.cv_.n_estimators,
            "oof_auc": model.cv_.auc,
            "oof_brier": model.cv_.brier,
            "oof_base_rate_brier": model.cv_.base_rate_brier,
        },
        "lifecycle": dict(lifecycle),
    }


def write_artifacts(folder: Path, metadata: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write the metadata JSON and the HTML training report into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / METADATA_FILE
    meta_path.write_text(json.dumps(metadata, indent=2, allow_nan=False, default=str))
    report_path = folder / REPORT_FILE
    report_path.write_text(render_report(metadata))
    return meta_path, report_path


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row.values()) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return html.escape(", ".join(f"{k}={_fmt(v)}" for k, v in value.items()))
    return html.escape(str(value))


def render_report(metadata: Mapping[str, Any]) -> str:
    """A small self-contained HTML page (no scripts, no external files)."""
    importance = metadata.get("feature_importance", {})
    top = max(importance.values(), default=0.0) or 1.0
    bars = "".join(
        f"<tr><td>{html.escape(name)}</td><td><div class='bar' "
        f"style='width:{300 * value / top:.0f}px'></div></td><td>{value:.4f}</td></tr>"
        for name, value in sorted(importance.items(), key=lambda kv: -kv[1])
    )
    holdout = metadata.get("holdout", {})
    summary = {k: v for k, v in holdout.items() if not isinstance(v, dict)}
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>meta-model {html.escape(str(metadata.get("model_version", "")))}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
.bar{{background:#4a7;height:10px}}</style></head><body>
<h1>Meta-model {html.escape(str(metadata.get("model_version", "")))}</h1>
<p>Pair {html.escape(str(metadata.get("pair", "")))}, trained on
{html.escape(str(metadata.get("training_window", {})))}.
Labels: {_fmt(metadata.get("label_counts", {}))};
barriers: {_fmt(metadata.get("barrier_counts", {}))}.</p>
<h2>Hold-out (time-ordered validation split)</h2>{_table([summary])}
<h3>Signals taken at the threshold</h3>{_table([holdout.get("filtered_trades", {})])}
<h3>All signals (no model)</h3>{_table([holdout.get("all_signals", {})])}
<h2>Calibration</h2>{_table(metadata.get("calibration", []))}
<h2>Threshold sweep</h2>{_table(metadata.get("threshold_sweep", []))}
<h2>Feature importance (gain)</h2><table>{bars}</table>
</body></html>
"""
