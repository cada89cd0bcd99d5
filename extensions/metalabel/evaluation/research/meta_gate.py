"""The meta variant of a research fold: a model trained inside the fold's training window.

The study chooses the rule settings (primary signal, regime, exits) on the simulator;
retraining XGBoost per trial would cost seconds each, so the meta gate is added after
the choice, per outer fold, from the same training window only:

1. Labelled events under the chosen settings, from candles cut at the training
   window's end (:func:`metalabel.evaluation.research.nested.cut_window`): a label whose
   horizon runs past the cut is no label, and events are kept only when their horizon
   (``max_holding_candles`` + 1 candles) ends before the cut, so no label reads the
   outer fold.
2. The confidence threshold, on out-of-fold probabilities: for each inner fold after
   the first, one model per pair is trained on the events before it (purged by the
   same horizon) and predicts its candles; each threshold of :data:`THRESHOLDS` is
   scored by the study's objective (mean inner-fold daily Sharpe of simulated trades,
   now in ``meta`` mode) over those inner folds, and the best is kept.
3. One model per pair trained on all the window's events predicts the outer fold,
   which is traded in ``meta`` mode at that threshold.

Training follows the FreqAI plugin: one model per pair, the config's
``freqai.model_training_parameters`` (not searched), fitted on the training rows without
their last ``test_size`` (FreqAI's hold-out) by :class:`MetaLabelModel` (purged
cross-validation inside them, uniqueness weights, calibrated), unscaled inputs.
A window the model cannot learn from gives probabilities of 0 (the bot's NeutralModel:
no trade).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metalabel.config import MetalabelConfig, StrategyMode
from metalabel.core import pipeline
from metalabel.evaluation import simulator
from metalabel.evaluation.folds import ONE_HOUR, Fold
from metalabel.evaluation.research import nested
from metalabel.model.classifier import InsufficientTrainingDataError, MetaLabelModel
from metalabel.model.cv import EventSpans
from metalabel.model.window import EXIT_TIME_COLUMN

logger = logging.getLogger(__name__)

# The research space's confidence_threshold bounds, on a 0.05 grid.
THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
META_OK = "meta_ok"
SUB_CANDLE = pd.Timedelta(minutes=15)


@dataclass(frozen=True)
class MetaFold:
    """The meta gate of one outer fold: its threshold, the scores behind it, its trades."""

    threshold: float
    threshold_scores: dict[float, float]  # mean inner-fold score of each threshold
    train_events: int
    trades: pd.DataFrame  # the outer fold traded in meta mode (trades_table layout)


def _horizon(settings: MetalabelConfig) -> pd.Timedelta:
    return ONE_HOUR * (settings.exits.max_holding_candles + 1)


def _model_frames(window: nested.Window, settings: MetalabelConfig) -> list[pd.DataFrame]:
    return [
        pipeline.with_model_inputs(pipeline.with_signals(frame, settings), settings)
        for frame in window.frames
    ]


def _labelled(
    data: nested.ResearchData,
    frames: Sequence[pd.DataFrame],
    end: pd.Timestamp,
    settings: MetalabelConfig,
) -> list[pd.DataFrame]:
    """Each pair's frame with labels from the candles before ``end`` only (the row of
    ``end`` itself, whose hour the window holds one sub-candle of, gets no label)."""
    out = []
    for bundle, frame in zip(data.bundles, frames, strict=True):
        head = frame[frame["date"] < end]
        labelled = pipeline.with_labels(
            head,
            nested.until(bundle.detail, end - SUB_CANDLE),
            nested.until(bundle.funding, end - ONE_HOUR),
            nested.until(bundle.mark, end - ONE_HOUR),
            settings,
            pair=bundle.pair,
        )
        out.append(pd.concat([labelled, frame[frame["date"] >= end]], ignore_index=True))
    return out


def _inputs(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("%")]


def fit_predict(
    train: pd.DataFrame,
    predict: pd.DataFrame,
    settings: MetalabelConfig,
    xgb_params: Mapping[str, Any],
    *,
    test_size: float,
) -> NDArray[np.float64]:
    """P(take) for each row of ``predict`` from a model fitted on ``train``'s labelled
    rows (NaN where a feature is missing; 0 when no model can be trained)."""
    columns = _inputs(train)
    # the bot's model fits the window without FreqAI's last ``test_size`` (its hold-out)
    fitted = train.iloc[: len(train) - math.ceil(len(train) * test_size)]
    x = fitted[columns].to_numpy(np.float64)
    y = fitted[pipeline.TARGET_COLUMN].to_numpy(object)
    x_new = predict[columns].to_numpy(np.float64)
    finite_new = np.isfinite(x_new).all(axis=1)
    out = np.full(len(predict), np.nan)
    try:
        if len(x) < 2:
            raise InsufficientTrainingDataError(f"{len(x)} training rows")
        model = MetaLabelModel(settings.model, dict(xgb_params)).fit(x, y, spans=_spans(fitted))
    except InsufficientTrainingDataError as err:
        logger.info("no model for this window (%s): no meta trades", err)
        out[finite_new] = 0.0
        return out
    if finite_new.any():
        out[finite_new] = model.predict_proba(x_new[finite_new])[:, 1]
    return out


def _spans(events: pd.DataFrame) -> EventSpans:
    """Each event's trade: entry at the next candle's open, exit as labelled."""
    entry = pd.to_datetime(events["date"], utc=True) + ONE_HOUR
    exits = pd.to_datetime(events[EXIT_TIME_COLUMN], utc=True).fillna(entry)
    as_ns = [t.to_numpy("datetime64[ns]").astype(np.int64) for t in (entry, exits)]
    return EventSpans(as_ns[0], np.maximum(as_ns[1], as_ns[0]))


def _events(
    frame: pd.DataFrame, start: pd.Timestamp, before: pd.Timestamp, horizon: pd.Timedelta
) -> pd.DataFrame:
    """Labelled rows with finite inputs from ``start`` whose label horizon ends by ``before``."""
    columns = _inputs(frame)
    finite = np.isfinite(frame[columns].to_numpy(np.float64)).all(axis=1)
    keep = frame[pipeline.TARGET_COLUMN].notna().to_numpy() & finite
    keep &= ((frame["date"] >= start) & (frame["date"] + horizon <= before)).to_numpy()
    return frame.loc[keep]


def _meta_signals(
    window: nested.Window,
    frames: Sequence[pd.DataFrame],
    probabilities: Sequence[NDArray[np.float64]],
    threshold: float,
    settings: MetalabelConfig,
) -> simulator.Signals:
    gated = [
        frame.assign(**{META_OK: np.nan_to_num(p, nan=0.0) > threshold})
        for frame, p in zip(frames, probabilities, strict=True)
    ]
    return simulator.build_signals(
        window.market,
        gated,
        StrategyMode.META,
        exit_on_reversal=settings.exits.exit_on_reversal,
        slippage=list(window.slippage),
    )


def _fold_score(
    window: nested.Window,
    signals: simulator.Signals,
    fold: Fold,
    settings: MetalabelConfig,
    max_open_trades: int,
) -> float:
    run = nested.simulate(
        window, signals, settings, fold.test_start, fold.test_end, max_open_trades
    )
    sharpe = nested.daily_sharpe(
        nested.net_returns(signals, run),
        window.market.time_ns[run.exit],
        fold.test_start,
        fold.test_end,
        leverage=settings.risk.leverage,
    )
    if len(run.pair) < nested.MIN_INNER_TRADES or sharpe is None:
        return nested.FEW_TRADES_SHARPE
    return float(sharpe)


def meta_fold(
    data: nested.ResearchData,
    features: Sequence[pd.DataFrame],
    fold: Fold,
    settings: MetalabelConfig,
    *,
    xgb_params: Mapping[str, Any],
    test_size: float = 0.2,
    inner_days: int = nested.INNER_DAYS,
) -> MetaFold:
    """The meta gate of ``fold`` under the chosen ``settings`` (see the module docstring)."""
    horizon = _horizon(settings)
    window = nested.cut_window(data, features, fold.train_start, fold.train_end)
    frames = _labelled(data, _model_frames(window, settings), fold.train_end, settings)
    inner = nested.inner_folds(fold, inner_days=inner_days)[1:]  # the first has no past
    oof = [np.full(len(f), np.nan) for f in frames]
    for part in inner:
        for k, frame in enumerate(frames):
            rows = ((frame["date"] >= part.test_start) & (frame["date"] < part.test_end)).to_numpy()
            train = _events(frame, fold.train_start, part.test_start, horizon)
            oof[k][rows] = fit_predict(
                train, frame.loc[rows], settings, xgb_params, test_size=test_size
            )
    scores = {}
    for threshold in THRESHOLDS:
        signals = _meta_signals(window, frames, oof, threshold, settings)
        per_fold = [
            _fold_score(window, signals, part, settings, data.max_open_trades) for part in inner
        ]
        scores[threshold] = float(np.mean(per_fold))
    best = max(THRESHOLDS, key=lambda t: scores[t])  # ties: the lowest threshold
    # the outer fold, with models trained on the whole training window
    outer = nested.cut_window(data, features, fold.test_start, fold.test_end)
    outer_frames = _model_frames(outer, settings)
    probabilities = []
    events = 0
    for frame, outer_frame in zip(frames, outer_frames, strict=True):
        train = _events(frame, fold.train_start, fold.train_end, horizon)
        events += len(train)
        probabilities.append(
            fit_predict(train, outer_frame, settings, xgb_params, test_size=test_size)
        )
    signals = _meta_signals(outer, outer_frames, probabilities, best, settings)
    run = nested.simulate(
        outer, signals, settings, fold.test_start, fold.test_end, data.max_open_trades
    )
    trades = simulator.trades_table(
        outer.market, signals, run, leverage=settings.risk.leverage, stake=nested.STAKE
    )
    return MetaFold(best, scores, events, trades)
