"""Hyperparameter search for the meta-model on walk-forward folds (``metalabel tune``).

The folds copy FreqAI's backtest schedule (train ``train_period_days``, then predict the
next ``backtest_period_days``, slide by the latter), one model per pair and fold, trained
the way ``MetaLabelClassifier`` trains: on the training window's rows without FreqAI's
last ``test_size``, with purged cross-validation inside them
(:class:`metalabel.model.classifier.MetaLabelModel`), the seed ``metalabel.model.seed``.
The rows come from :func:`metalabel.core.pipeline.labelled_events`, the same rows FreqAI
trains on.

A trial is scored **inside the training windows only**: on the events each window's
model takes out of fold (its purged cross-validation predictions), never on the test
window that follows, so no choice is made from a walk-forward test fold.

Labels look ahead: an event at candle i may exit at the open of candle
i + 1 + ``max_holding_candles``. The training window therefore stops
``max_holding_candles + 1`` candles before its test window (the purge gap), so no
training label reads a price of the test window; these are exactly the rows
``MetaLabelClassifier`` keeps after ``purge_label_horizon``.

The search (optuna, TPE sampler seeded with ``seed``) covers the XGBoost parameters of
:func:`suggest` and the confidence threshold. Same seed, same data, same trials: same
result. Caveat: the training windows span the whole bundle, so a walk-forward backtest
over the same months is partly in sample for the tuned values (issue 13's nested
research chooses per fold from the past only).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd

from metalabel.config import MetalabelConfig, ModelSettings
from metalabel.core.pipeline import (
    EXIT_COLUMN,
    LABEL_COLUMN,
    RETURN_COLUMN,
    labelled_events,
    load_bundle,
)
from metalabel.evaluation.folds import Fold, walk_forward_folds
from metalabel.model.artifacts import per_trade_stats
from metalabel.model.classifier import InsufficientTrainingDataError, MetaLabelModel
from metalabel.model.cv import EventSpans

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

DEFAULT_PAIRS: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT")
CANDLE = pd.Timedelta(hours=1)
# A fold (both pairs, one 30-day test window, ~100-240 candidate signals) in which the
# model takes fewer events than this scores FEW_TRADES_SCORE (see fold_score).
MIN_FOLD_TRADES = 10
FEW_TRADES_SCORE = -1.0
THRESHOLD_KEY = "confidence_threshold"
TUNED_XGB_KEYS: tuple[str, ...] = (
    "max_depth",
    "learning_rate",
    "n_estimators",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
)


@dataclass(frozen=True)
class TuneResult:
    """The best parameters found and how they compare with the config's own."""

    best_params: dict[str, float | int]  # XGBoost parameters and confidence_threshold
    best_score: float
    trials_run: int
    fold_scores: tuple[float, ...]  # of the best parameters, one per fold
    fold_trades: tuple[int, ...]  # events the best parameters took, per fold
    baseline_params: dict[str, Any]  # the config's training parameters and threshold
    baseline_score: float
    baseline_fold_scores: tuple[float, ...]
    baseline_fold_trades: tuple[int, ...]
    signals_score: float  # every admitted signal taken, no model
    folds: tuple[Fold, ...]

    @property
    def training_params(self) -> dict[str, float | int]:
        """The XGBoost part of :attr:`best_params`."""
        return {k: v for k, v in self.best_params.items() if k != THRESHOLD_KEY}

    @property
    def confidence_threshold(self) -> float:
        return float(self.best_params[THRESHOLD_KEY])


def purge_gap_candles(settings: MetalabelConfig) -> int:
    """Candles between training end and test start: the longest label horizon, plus the
    exit candle whose open the label may read (see :mod:`metalabel.core.labels`)."""
    return settings.exits.max_holding_candles + 1


def fold_score(
    returns: npt.ArrayLike,
    *,
    min_trades: int = MIN_FOLD_TRADES,
    penalty: float = FEW_TRADES_SCORE,
) -> float:
    """The t-statistic of the taken events' mean net return: per-trade Sharpe x sqrt(trades).

    Why this score: it rewards edge and breadth together (the same per-trade Sharpe on
    four times the trades scores twice as high, so a strict threshold must buy its lost
    trades with better ones); it is scale-free, so calm and volatile months weigh alike
    in the mean over folds; and it asks the question that matters, how sure the mean is
    above zero, rather than rewarding a few lucky trades.

    Fewer than ``min_trades`` trades (or identical returns) score ``penalty``: a
    t-statistic of a handful of trades is noise, and a month sat out must not be free,
    or the search drifts to thresholds that hardly ever trade and look good on their few
    lucky months. At -1 a month sat out counts like a clearly losing one, the same order
    as honest scores, so the penalty does not swamp them.

    >>> round(fold_score([0.01, -0.01, 0.02, 0.0], min_trades=4), 4)  # 0.3873 * sqrt(4)
    0.7746
    >>> fold_score([0.05, 0.04], min_trades=4)  # too few trades
    -1.0
    """
    values = np.asarray(returns, dtype=np.float64)
    metrics = per_trade_stats(values.tolist())
    trades, sharpe = metrics["trades"], metrics["sharpe"]
    # identical returns have no spread, whatever float rounding leaves of their std
    flat = len(values) > 0 and float(np.ptp(values)) == 0.0
    if trades is None or trades < min_trades or sharpe is None or flat:
        return penalty
    return float(sharpe) * math.sqrt(trades)


@dataclass(frozen=True)
class _PairSplit:
    """One pair's training window in one fold: its events, their trades and outcomes."""

    fit_x: FloatArray
    fit_y: npt.NDArray[np.object_]
    fit_spans: EventSpans
    fit_returns: FloatArray


def _split_pair(events: pd.DataFrame, fold: Fold, test_size: float) -> _PairSplit | None:
    """The rows the bot's model of this fold is fitted on (the training window without
    FreqAI's last ``test_size``); None if there are none."""
    dates = events["date"]
    train = events[(dates >= fold.train_start) & (dates < fold.train_end)]
    train = train.iloc[: len(train) - math.ceil(len(train) * test_size)]
    if train.empty:
        return None
    features = [c for c in events.columns if c.startswith("%")]
    entry = pd.to_datetime(train["date"], utc=True) + CANDLE
    exit_time = pd.to_datetime(train[EXIT_COLUMN], utc=True).fillna(entry)
    return _PairSplit(
        train[features].to_numpy(np.float64),
        train[LABEL_COLUMN].to_numpy(object),
        EventSpans(_ns(entry), np.maximum(_ns(exit_time), _ns(entry))),
        train[RETURN_COLUMN].to_numpy(np.float64),
    )


def _ns(times: pd.Series) -> npt.NDArray[np.int64]:
    ns: npt.NDArray[np.int64] = times.to_numpy("datetime64[ns]").astype(np.int64)
    return ns


def prepare_folds(
    events_by_pair: Mapping[str, pd.DataFrame], folds: Sequence[Fold], *, test_size: float
) -> list[list[_PairSplit]]:
    """Every fold's per-pair training windows, computed once for all trials."""
    prepared = []
    for fold in folds:
        splits = [_split_pair(events, fold, test_size) for events in events_by_pair.values()]
        prepared.append([s for s in splits if s is not None])
    return prepared


def _taken_returns(
    split: _PairSplit, settings: ModelSettings, xgb_params: Mapping[str, Any], threshold: float
) -> FloatArray:
    """Net returns of the training events the model takes out of fold (purged
    cross-validation inside the window); none if the window cannot train a model."""
    try:
        model = MetaLabelModel(settings, dict(xgb_params)).fit(
            split.fit_x, split.fit_y, spans=split.fit_spans
        )
    except InsufficientTrainingDataError:
        return np.empty(0)  # the bot's NeutralModel: no trades in this window
    confidence = np.nan_to_num(model.cv_.oof_confidence, nan=0.0)
    taken: FloatArray = split.fit_returns[confidence > threshold]
    return taken


def evaluate(
    prepared: Sequence[Sequence[_PairSplit]],
    settings: ModelSettings,
    xgb_params: Mapping[str, Any],
    threshold: float,
) -> tuple[list[float], list[int]]:
    """Score and number of taken events per fold, the taken events of all pairs pooled."""
    scores, trades = [], []
    for splits in prepared:
        taken = [_taken_returns(split, settings, xgb_params, threshold) for split in splits]
        returns = np.concatenate([np.empty(0), *taken])
        scores.append(fold_score(returns))
        trades.append(len(returns))
    return scores, trades


def _sig(value: float, digits: int = 3) -> float:
    """Round to significant digits, so that the written config reads like a person's."""
    return float(f"{value:.{digits}g}")


def suggest(trial: optuna.Trial) -> dict[str, float | int]:
    """The search space: XGBoost's capacity, learning rate, sampling and L2, and the threshold.

    ``n_estimators`` is a ceiling (early stopping decides); the threshold range is the
    strategy's ``confidence_threshold`` hyperopt range.
    """
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "learning_rate": _sig(trial.suggest_float("learning_rate", 0.01, 0.3, log=True)),
        "n_estimators": trial.suggest_int("n_estimators", 50, 1000, step=50),
        "min_child_weight": _sig(trial.suggest_float("min_child_weight", 0.5, 20.0, log=True)),
        "subsample": round(trial.suggest_float("subsample", 0.5, 1.0, step=0.05), 2),
        "colsample_bytree": round(trial.suggest_float("colsample_bytree", 0.5, 1.0, step=0.05), 2),
        "reg_lambda": _sig(trial.suggest_float("reg_lambda", 0.1, 30.0, log=True)),
        THRESHOLD_KEY: round(trial.suggest_float(THRESHOLD_KEY, 0.5, 0.8, step=0.01), 2),
    }


def training_folds(
    events_by_pair: Mapping[str, pd.DataFrame],
    settings: MetalabelConfig,
    folds_limit: int | None,
    train_days: int,
    test_days: int,
) -> list[Fold]:
    """FreqAI's walk-forward schedule over the events' span (the latest ``folds_limit``)."""
    frames = [e for e in events_by_pair.values() if not e.empty]
    if not frames:
        raise ValueError("no labelled events to tune on")
    start = min(e["date"].iloc[0] for e in frames).floor("D")
    end = max(e["date"].iloc[-1] for e in frames) + CANDLE
    folds = walk_forward_folds(
        start,
        end,
        train_days=train_days,
        test_days=test_days,
        purge_candles=purge_gap_candles(settings),
        candle=CANDLE,
    )
    if folds_limit is not None:
        folds = folds[-folds_limit:] if folds_limit > 0 else []
    if not folds:
        raise ValueError(f"events from {start} to {end} hold no complete walk-forward fold")
    return folds


def tune_events(
    events_by_pair: Mapping[str, pd.DataFrame],
    settings: MetalabelConfig,
    *,
    config_training_params: Mapping[str, Any],
    trials: int,
    timeout_seconds: float,
    seed: int,
    folds_limit: int | None = None,
    train_days: int = 180,
    test_days: int = 30,
    test_size: float = 0.2,
) -> TuneResult:
    """Run the study on prepared event frames (one per pair, from :func:`labelled_events`).

    The time budget is checked after each trial, so at least one trial runs and the
    running one finishes. ``folds_limit`` keeps the latest folds only.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    folds = training_folds(events_by_pair, settings, folds_limit, train_days, test_days)
    prepared = prepare_folds(events_by_pair, folds, test_size=test_size)
    logger.info(
        "tuning on %d folds (%s to %s)", len(folds), folds[0].train_start, folds[-1].test_end
    )

    base_params = dict(config_training_params)
    baseline_threshold = settings.model.confidence_threshold
    baseline, baseline_trades = evaluate(prepared, settings.model, base_params, baseline_threshold)
    signals = [
        fold_score(np.concatenate([np.empty(0), *(s.fit_returns for s in splits)]))
        for splits in prepared
    ]

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        xgb = {**base_params, **{k: v for k, v in params.items() if k != THRESHOLD_KEY}}
        scores, trades = evaluate(prepared, settings.model, xgb, float(params[THRESHOLD_KEY]))
        trial.set_user_attr("params", params)
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("fold_trades", trades)
        return float(np.mean(scores))

    deadline = time.monotonic() + timeout_seconds

    def stop_at_deadline(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        logger.info("trial %d: score %.4f (best %.4f)", trial.number, trial.value, study.best_value)
        if time.monotonic() >= deadline:
            logger.info(
                "time budget of %ss used up after %d trials", timeout_seconds, trial.number + 1
            )
            study.stop()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, callbacks=[stop_at_deadline])
    best = study.best_trial
    return TuneResult(
        best_params=dict(best.user_attrs["params"]),
        best_score=float(best.value) if best.value is not None else math.nan,
        trials_run=len(study.trials),
        fold_scores=tuple(best.user_attrs["fold_scores"]),
        fold_trades=tuple(best.user_attrs["fold_trades"]),
        baseline_params={**base_params, THRESHOLD_KEY: baseline_threshold},
        baseline_score=float(np.mean(baseline)),
        baseline_fold_scores=tuple(baseline),
        baseline_fold_trades=tuple(baseline_trades),
        signals_score=float(np.mean(signals)),
        folds=tuple(folds),
    )


def tune(
    data_dir: Path,
    settings: MetalabelConfig,
    *,
    config_training_params: Mapping[str, Any],
    trials: int,
    timeout_seconds: float,
    seed: int,
    folds_limit: int | None = None,
    pairs: Sequence[str] = DEFAULT_PAIRS,
    train_days: int = 180,
    test_days: int = 30,
    test_size: float = 0.2,
) -> TuneResult:
    """Tune on the candles of ``pairs`` in ``data_dir`` (see :func:`tune_events`)."""
    events = {}
    for pair in pairs:
        events[pair] = labelled_events(load_bundle(data_dir, pair), settings)
    return tune_events(
        events,
        settings,
        config_training_params=config_training_params,
        trials=trials,
        timeout_seconds=timeout_seconds,
        seed=seed,
        folds_limit=folds_limit,
        train_days=train_days,
        test_days=test_days,
        test_size=test_size,
    )


def config_with_result(
    config: Mapping[str, Any], result: TuneResult
) -> tuple[dict[str, Any], list[str]]:
    """A copy of a freqtrade config dict with the tuned values, and the keys that changed.

    ``freqai.model_training_parameters`` keeps its other keys (``n_jobs``...) and order;
    new keys go last. The threshold goes to ``metalabel.model.confidence_threshold``.
    """
    updated: dict[str, Any] = copy.deepcopy(dict(config))
    changed: list[str] = []
    targets = (
        (("freqai", "model_training_parameters"), result.training_params),
        (("metalabel", "model"), {THRESHOLD_KEY: result.confidence_threshold}),
    )
    for path, values in targets:
        block = updated
        for key in path:
            block = block.setdefault(key, {})
        for key, value in values.items():
            if key not in block or block[key] != value:
                changed.append(".".join((*path, key)))
            block[key] = value
    return updated, changed
