"""Nested walk-forward research: each outer fold is traded with settings chosen on its past.

The research period is cut into outer folds of ``fold_days`` (30). For each outer fold
an optuna study (one per fold, named ``<study>-fold-<YYYYMMDD>``, run by
:func:`metalabel.evaluation.research.workers.run_study`) searches the space on the
``train_days`` (180) before it, and the best trial's settings trade the fold in the
portfolio simulator. The outer folds' trades, concatenated, are the out-of-sample
result: no outer fold's candle takes part in choosing its own settings.

Objective of a trial (maximised): the mean, over the inner folds, of the annualised
daily Sharpe ratio of the simulated trades (equal stakes, net of fees, funding and the
labels' slippage). The inner folds are consecutive ``inner_days`` (30) windows of the
training window, each simulated on its own (what is open at its end is force-exited
there, as freqtrade does at the end of a backtest); a window shorter than half of
``inner_days`` at the end is dropped. An inner fold with fewer than
:data:`MIN_INNER_TRADES` trades, or a flat equity curve, scores
:data:`FEW_TRADES_SHARPE`: a Sharpe of a handful of trades is noise, and a month sat
out must not be free, or the search drifts to settings that hardly ever trade.

What the search may see: the training window ends ``purge`` candles before the outer
fold (the longest label horizon the space allows, ``max_holding_candles`` + 1, the
purge of :mod:`metalabel.evaluation.tuning`), and the study's data are cut there: the
frames, the 15m paths, funding and mark prices of a fold's study stop at the end of its
training window (plus the first sub-candle of that last hour, where the simulator
force-exits), so nothing from the outer fold can reach a choice, whatever the code
downstream does. Features are rolling (causal), computed once on the whole bundle and
then cut; a test corrupts an outer fold's candles and checks the choice is unchanged.

The meta-model is not searched. Retraining XGBoost per trial costs seconds, a
thousand times the simulator's milliseconds, and a threshold on probabilities of a
model trained on the base exits' labels would not describe a trial with other exits.
The research therefore scores the ``primary_regime`` variant (primary signal and regime
filter, no model gate); the space's ``model`` and ``xgboost`` knobs are left out of it
(:func:`research_space`) and the report says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import optuna
import pandas as pd
from numpy.typing import NDArray
from optuna.trial import TrialState

from metalabel.config import MetalabelConfig, StrategyMode
from metalabel.core import pipeline
from metalabel.core.labels import detail_path, simulator_params, slippage_ratio
from metalabel.evaluation import simulator
from metalabel.evaluation.folds import ONE_HOUR, Fold, walk_forward_folds
from metalabel.evaluation.metrics_ratios import ANNUALISATION_DAYS, sharpe_ratio
from metalabel.evaluation.research.space import (
    SPACE,
    XGBOOST,
    Candidate,
    Knob,
    settings_at,
    space_digest,
    suggest,
)
from metalabel.evaluation.research.storage import StudyKey, open_storage, open_study
from metalabel.evaluation.research.workers import Objective, StudyOutcome, StudyPlan, run_study

logger = logging.getLogger(__name__)

RESEARCH_KIND = "research"
RESEARCH_MODE = StrategyMode.PRIMARY_REGIME
MODEL_SECTIONS = ("model", XGBOOST)
OUTER_DAYS = 30
TRAIN_DAYS = 180
INNER_DAYS = 30
MIN_INNER_TRADES = 5
FEW_TRADES_SHARPE = -1.0
# Candles before a window's start that its signals need (shifts, crossings): the
# features themselves are computed on the whole bundle, so this is only a margin.
WARMUP = pd.Timedelta(days=10)
STAKE = 100.0  # config.json's stake_amount: equal stakes in the simulator
START_EQUITY = 10_000.0  # config.json's dry_run_wallet
RANDOM_SETTINGS = 100  # settings drawn at random per outer fold for the chance test
DAY_NS = 86_400_000_000_000


def research_space(space: Mapping[str, Knob] = SPACE) -> dict[str, Knob]:
    """The knobs the simulator can score: the table without the meta-model's."""
    return {name: knob for name, knob in space.items() if knob.section not in MODEL_SECTIONS}


def purge_candles(space: Mapping[str, Knob], base: MetalabelConfig) -> int:
    """The longest label horizon of any sample, plus the exit candle: the outer purge."""
    knob = space.get("max_holding_candles")
    longest = int(knob.high) if knob is not None else base.exits.max_holding_candles
    return longest + 1


def outer_folds(
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    purge: int,
    fold_days: int = OUTER_DAYS,
    train_days: int = TRAIN_DAYS,
) -> list[Fold]:
    """Outer folds of ``fold_days`` tiling ``[start, end)``, each with the ``train_days``
    before it as training window, ending ``purge`` 1h candles before the fold.

    >>> t0 = pd.Timestamp("2025-07-01", tz="UTC")
    >>> f = outer_folds(t0, t0 + pd.Timedelta(days=60), purge=97)
    >>> [(x.train_start.date(), x.train_end, x.test_start.date()) for x in f][0]
    (datetime.date(2025, 1, 2), Timestamp('2025-06-26 23:00:00+0000', tz='UTC'), \
datetime.date(2025, 7, 1))
    >>> len(f), f[1].test_end.date()
    (2, datetime.date(2025, 8, 30))
    """
    train = pd.Timedelta(days=train_days)
    return walk_forward_folds(
        start - train,
        end,
        test_days=fold_days,
        train_days=train_days,
        purge_candles=purge,
        candle=ONE_HOUR,
    )


def inner_folds(outer: Fold, *, inner_days: int = INNER_DAYS) -> list[Fold]:
    """Consecutive ``inner_days`` windows of ``outer``'s training window; a last window
    shorter than half of ``inner_days`` is dropped."""
    folds = walk_forward_folds(
        outer.train_start, outer.train_end, test_days=inner_days, partial_last=True
    )
    kept = [f for f in folds if f.test_days >= inner_days / 2]
    if not kept:
        raise ValueError(f"training window {outer.train_start}..{outer.train_end} too short")
    return kept


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ResearchData:
    """What every study of a run reads: the pairs' candles (freqtrade's processing
    order), the base settings and freqtrade's slot limit. Picklable, so spawned
    workers receive it whole."""

    bundles: tuple[pipeline.CandleBundle, ...]
    base: MetalabelConfig
    max_open_trades: int

    @property
    def pairs(self) -> tuple[str, ...]:
        return tuple(b.pair for b in self.bundles)


class Window(NamedTuple):
    """The data of ``[start, end]`` cut from the bundles, ready for trials."""

    start: pd.Timestamp
    end: pd.Timestamp
    market: simulator.Market
    frames: tuple[pd.DataFrame, ...]  # features up to ``end``, signals not yet applied
    slippage: tuple[NDArray[np.float64], ...]


def feature_frames(data: ResearchData) -> tuple[pd.DataFrame, ...]:
    """Each pair's rolling features and 4h trend over its whole bundle (signal knobs do
    not change them: periods are not searched)."""
    s = data.base
    return tuple(
        pipeline.with_trend_4h(
            pipeline.with_features(b.candles_1h, b.funding, s, pair=b.pair), b.candles_4h, s
        )
        for b in data.bundles
    )


def cut_window(
    data: ResearchData,
    features: Sequence[pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> Window:
    """The window ``[start, end]``: 1h rows from ``start - WARMUP`` to ``end`` and the
    15m, funding and mark candles up to ``end``'s first sub-candle: nothing later is in it."""
    frames, paths, ticks, slips = [], [], [], []
    for bundle, full in zip(data.bundles, features, strict=True):
        dates = full["date"]
        frame = full[(dates >= start - WARMUP) & (dates <= end)].reset_index(drop=True)
        if frame.empty or frame["date"].iloc[-1] != end or frame["date"].iloc[0] > start:
            raise ValueError(f"{bundle.pair}: the candles do not cover {start} to {end}")
        path = detail_path(
            frame.assign(primary_direction=0.0),  # exit signals come from build_signals
            until(bundle.detail, end),
            funding=until(bundle.funding, end) if data.base.costs.include_funding else None,
            mark=until(bundle.mark, end),
        )
        frames.append(frame)
        paths.append(path)
        ticks.append(pipeline.tick_decimals(frame))
        slips.append(np.asarray(slippage_ratio(frame["atr_ratio"], data.base.costs), np.float64))
    market = simulator.build_market(data.pairs, frames, paths, ticks)
    return Window(start, end, market, tuple(frames), tuple(slips))


def until(candles: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Candles starting at or before ``end`` (of the 15m ones: ``end``'s first sub-candle,
    the one the simulator force-exits on)."""
    return candles[candles["date"] <= end] if not candles.empty else candles


# ----------------------------------------------------------------------------- trials
def window_signals(window: Window, settings: MetalabelConfig) -> simulator.Signals:
    """The window's entry and exit signals under ``settings`` (the per-trial part that
    pandas does: signal and regime columns)."""
    frames = [pipeline.with_signals(frame, settings) for frame in window.frames]
    return simulator.build_signals(
        window.market,
        frames,
        RESEARCH_MODE,
        exit_on_reversal=settings.exits.exit_on_reversal,
        slippage=list(window.slippage),
    )


def simulate(
    window: Window,
    signals: simulator.Signals,
    settings: MetalabelConfig,
    start: pd.Timestamp,
    end: pd.Timestamp,
    max_open_trades: int,
) -> simulator.PortfolioRun:
    params = simulator_params(settings.exits, settings.costs, leverage=settings.risk.leverage)
    return simulator.simulate_portfolio(
        window.market, signals, params, start=start, end=end, max_open_trades=max_open_trades
    )


def net_returns(signals: simulator.Signals, run: simulator.PortfolioRun) -> NDArray[np.float64]:
    """Per-trade return on the position after fees, funding and both fills' slippage."""
    slip = signals.slippage[run.pair, run.signal_hour]
    out: NDArray[np.float64] = run.trade_net_return - 2 * slip
    return out


def daily_sharpe(
    net: NDArray[np.float64],
    close_ns: NDArray[np.int64],
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    leverage: float,
) -> float | None:
    """Annualised Sharpe of the daily closed-trade equity of equal-stake trades
    (:mod:`metalabel.evaluation.metrics`' formula); a trade closing at ``end`` (force
    exit) counts on the last day. None when undefined (flat curve)."""
    start_ns = pd.Timestamp(start).value
    days = max(1, math.ceil((pd.Timestamp(end).value - start_ns) / DAY_NS))
    day = np.clip((close_ns - start_ns) // DAY_NS, 0, days - 1)
    profit = np.bincount(day, weights=net * leverage * STAKE, minlength=days)
    equity = START_EQUITY + np.cumsum(profit)
    previous = np.concatenate(([START_EQUITY], equity[:-1]))
    return sharpe_ratio(equity / previous - 1.0).value


def inner_score(
    window: Window,
    folds: Sequence[Fold],
    settings: MetalabelConfig,
    max_open_trades: int,
) -> tuple[float, list[float], list[int]]:
    """The objective (see the module docstring) and each inner fold's score and trades."""
    signals = window_signals(window, settings)
    scores, trades = [], []
    for fold in folds:
        run = simulate(window, signals, settings, fold.test_start, fold.test_end, max_open_trades)
        sharpe = daily_sharpe(
            net_returns(signals, run),
            window.market.time_ns[run.exit],
            fold.test_start,
            fold.test_end,
            leverage=settings.risk.leverage,
        )
        enough = len(run.pair) >= MIN_INNER_TRADES and sharpe is not None
        scores.append(float(sharpe) if enough and sharpe is not None else FEW_TRADES_SHARPE)
        trades.append(len(run.pair))
    return float(np.mean(scores)), scores, trades


@dataclass(frozen=True)
class InnerObjective:
    """Picklable objective factory of one outer fold: cuts the training window once per
    worker, then scores candidates on the inner folds."""

    data: ResearchData
    fold: Fold
    inner_days: int = INNER_DAYS

    def __call__(self) -> Objective:
        folds = inner_folds(self.fold, inner_days=self.inner_days)
        window = cut_window(
            self.data, feature_frames(self.data), self.fold.train_start, self.fold.train_end
        )
        max_open = self.data.max_open_trades

        def score(candidate: Candidate) -> float:
            return inner_score(window, folds, candidate.settings, max_open)[0]

        return score


# ----------------------------------------------------------------------------- outer
@dataclass(frozen=True)
class RunSpec:
    """How the studies of a run are stored and run."""

    storage_url: str
    study: str
    trials: int
    space: Mapping[str, Knob]
    workers: int = 1
    seed: int = 42
    inner_days: int = INNER_DAYS
    log_level: int = logging.INFO


@dataclass(frozen=True)
class FoldResult:
    """One outer fold: its study, the chosen settings and their out-of-sample trades."""

    fold: Fold
    study_name: str
    outcome: StudyOutcome
    params: dict[str, Any]  # the best trial's sampled values, by knob name
    settings: MetalabelConfig
    trades: pd.DataFrame  # simulator trades of the outer fold (trades_table layout)
    trial_scores: NDArray[np.float64]  # objective of every finished trial of the study
    random_net_returns: NDArray[np.float64]  # trades of random settings in the fold


def study_name(prefix: str, fold: Fold) -> str:
    return f"{prefix}-fold-{fold.test_start:%Y%m%d}"


def study_digest(space: Mapping[str, Knob], data: ResearchData, fold: Fold, inner: int) -> str:
    """A study's identity beyond its space: fold, base settings, pairs, objective. A
    resumed study with any of them changed is refused instead of mixed."""
    identity = {
        "space": space_digest(space),
        "fold": [str(fold.train_start), str(fold.train_end), str(fold.test_start)],
        "base": repr(data.base),
        "pairs": data.pairs,
        "max_open_trades": data.max_open_trades,
        "objective": [inner, MIN_INNER_TRADES, FEW_TRADES_SHARPE, RESEARCH_MODE.value],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def trade_fold(
    data: ResearchData,
    features: Sequence[pd.DataFrame],
    fold: Fold,
    settings: MetalabelConfig,
) -> pd.DataFrame:
    """``settings`` traded over the outer fold in the simulator (trades_table layout)."""
    window = cut_window(data, features, fold.test_start, fold.test_end)
    signals = window_signals(window, settings)
    run = simulate(window, signals, settings, fold.test_start, fold.test_end, data.max_open_trades)
    return simulator.trades_table(
        window.market, signals, run, leverage=settings.risk.leverage, stake=STAKE
    )


def random_pool(
    data: ResearchData,
    features: Sequence[pd.DataFrame],
    fold: Fold,
    space: Mapping[str, Knob],
    *,
    count: int,
    seed: int,
) -> NDArray[np.float64]:
    """Net returns of the trades ``count`` random settings of the space make in the fold:
    the pool the chance test draws from (what a search without skill would pick)."""
    window = cut_window(data, features, fold.test_start, fold.test_end)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    pooled = [np.empty(0)]
    for _ in range(count):
        settings = suggest(study.ask(), data.base, space).settings
        signals = window_signals(window, settings)
        run = simulate(
            window, signals, settings, fold.test_start, fold.test_end, data.max_open_trades
        )
        pooled.append(net_returns(signals, run))
    return np.concatenate(pooled)


def finished_scores(storage_url: str, key: StudyKey) -> NDArray[np.float64]:
    study = open_study(key, open_storage(storage_url), create=False)
    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return np.asarray([v for v in values if v is not None], dtype=np.float64)


def research_fold(
    data: ResearchData,
    features: Sequence[pd.DataFrame],
    fold: Fold,
    spec: RunSpec,
    *,
    random_settings: int = RANDOM_SETTINGS,
) -> FoldResult:
    """Search ``fold``'s training window, then trade the fold with the best trial."""
    name = study_name(spec.study, fold)
    key = StudyKey(
        spec.storage_url, name, RESEARCH_KIND, study_digest(spec.space, data, fold, spec.inner_days)
    )
    plan = StudyPlan(
        key=key,
        trials=spec.trials,
        base=data.base,
        space=spec.space,
        workers=spec.workers,
        seed=spec.seed,
        log_level=spec.log_level,
    )
    outcome = run_study(plan, InnerObjective(data, fold, spec.inner_days))
    if outcome.best_number is None:
        raise RuntimeError(f"study {name}: no finished trial to choose from")
    chosen = settings_at(data.base, spec.space, outcome.best_params)
    trades = trade_fold(data, features, fold, chosen.settings)
    pool = random_pool(
        data, features, fold, spec.space, count=random_settings, seed=spec.seed + fold.index
    )
    return FoldResult(
        fold=fold,
        study_name=name,
        outcome=outcome,
        params=dict(outcome.best_params),
        settings=chosen.settings,
        trades=trades,
        trial_scores=finished_scores(spec.storage_url, key),
        random_net_returns=pool,
    )


def run_research(
    data: ResearchData,
    folds: Sequence[Fold],
    spec: RunSpec,
    *,
    on_fold: Callable[[FoldResult], None] | None = None,
    random_settings: int = RANDOM_SETTINGS,
) -> list[FoldResult]:
    """Every outer fold in order; ``on_fold`` is called after each (progress, printing)."""
    features = feature_frames(data)
    results = []
    for fold in folds:
        result = research_fold(data, features, fold, spec, random_settings=random_settings)
        results.append(result)
        if on_fold is not None:
            on_fold(result)
    return results


def overlay_of(
    params: Mapping[str, Any], space: Mapping[str, Knob], base: MetalabelConfig
) -> dict[str, Any]:
    """A freqtrade config overlay with the chosen settings of ``params``: the
    ``metalabel`` block (with the mode the research scored). The strategy derives
    freqtrade's static stop from it once the parameter values are loaded."""
    settings = settings_at(base, space, params).settings
    block: dict[str, Any] = {"mode": RESEARCH_MODE.value}
    for knob in space.values():
        if knob.section in MODEL_SECTIONS:
            continue
        value = getattr(getattr(settings, knob.section), knob.key)
        block.setdefault(knob.section, {})[knob.key] = value
    return {"metalabel": block}


def annual_to_daily(sharpe: float) -> float:
    """An annualised Sharpe ratio (``sqrt(365)`` convention) per day."""
    return sharpe / math.sqrt(ANNUALISATION_DAYS)
