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
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

FloatArray = npt.NDArray[np.float64]
METADATA_FILE = "metalabel_metadata.json"
REPORT_FILE = "metalabel_training_report.html"
SWEEP_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def trade_metrics(returns: Sequence[float]) -> dict[str, float | int | None]:
    """Per-trade Sharpe, profit factor, max drawdown and win rate of net returns.

    >>> trade_metrics([0.02, -0.01, 0.03])["profit_factor"]
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
    losses = float(-r[r < 0].sum())
    equity = np.concatenate([[0.0], np.cumsum(r)])
    drawdown = float((np.maximum.accumulate(equity) - equity).max())
    return {
        "trades": len(r),
        "sharpe": _clean(float(r.mean()) / std) if std > 0 else None,
        "profit_factor": _clean(float(r[r > 0].sum()) / losses) if losses > 0 else None,
        "max_drawdown": drawdown,
        "win_rate": float((r > 0).mean()),
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
        "filtered_trades": trade_metrics(r[chosen].tolist()),
        "all_signals": trade_metrics(r.tolist()),
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
    return [{"threshold": t, **trade_metrics(r[p > t].tolist())} for t in thresholds]


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


class LabelLedger:
    """Net return and barrier of every labelled event, by pair and candle date.

    FreqAI hands the model only features and the label, but the model's report needs
    the trade outcome behind each label; the strategy records it here when it labels
    (``set_freqai_targets``) and the model plugin reads it back in the same process.
    """

    _frames: dict[str, pd.DataFrame] = {}  # noqa: RUF012 - process-wide by design

    @classmethod
    def record(cls, pair: str, dates: pd.Series, labels: pd.DataFrame) -> None:
        events = labels.loc[labels["label"].notna(), ["net_return", "barrier"]]
        frame = events.assign(date=dates.loc[events.index].to_numpy()).set_index("date")
        previous = cls._frames.get(pair)
        if previous is not None:
            frame = pd.concat([previous[~previous.index.isin(frame.index)], frame])
        cls._frames[pair] = frame.sort_index()

    @classmethod
    def lookup(cls, pair: str, dates: Sequence[Any]) -> pd.DataFrame:
        frame = cls._frames.get(pair, pd.DataFrame(columns=["net_return", "barrier"]))
        return frame.reindex(pd.DatetimeIndex(dates))


def training_row_dates(frame: pd.DataFrame) -> pd.Series:
    """Dates of the rows FreqAI trains on: every ``%`` feature and ``&`` label finite.

    Mirrors FreqAI's ``filter_features(training_filter=True)``, which keeps the order,
    so the n-th training row (train split first, then the time-ordered test split) is
    the n-th date here.
    """
    columns = [c for c in frame.columns if c.startswith(("%", "&"))]
    values = frame[columns].replace([np.inf, -np.inf], np.nan)
    return frame.loc[values.notna().all(axis=1), "date"].reset_index(drop=True)


def purge_label_horizon(frame: pd.DataFrame, horizon_candles: int) -> pd.DataFrame:
    """A copy whose labels of the last ``horizon_candles + 1`` rows are NaN.

    An event at row i is entered at i+1 and resolved by i+1+horizon at the latest, so
    its label may read candles after the training window's end, i.e. the period the
    model then predicts. Purging them keeps every model's training strictly before its
    window (the walk-forward promise). Worked example: 10 rows, horizon 2 -> rows 7, 8
    and 9 lose their labels (row 7 may exit at the open of row 10).
    """
    purged = frame.copy()
    labels = [c for c in purged.columns if c.startswith("&")]
    cut = max(len(purged) - horizon_candles - 1, 0)
    purged.loc[purged.index[cut:], labels] = np.nan
    return purged
