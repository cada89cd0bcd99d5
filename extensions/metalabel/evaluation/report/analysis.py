"""The numbers of the report: per-variant metrics, intervals, stress and calibration.

For each variant the metrics of :mod:`metalabel.evaluation.metrics` over the whole range
and per walk-forward fold, block bootstrap intervals and a Monte Carlo drawdown
(:mod:`metalabel.evaluation.bootstrap`), and a stress view (trades entered in the high
volatility regime, doubled fees and slippage); the buy-and-hold baseline marked to
market; the Sharpe difference meta - primary with a paired interval; the model's
confidence against realised wins. Every random draw comes from a generator seeded per
(variant, purpose), so the figures are reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metalabel.core.regime import Regime
from metalabel.evaluation import bootstrap, metrics, skill
from metalabel.evaluation.bootstrap import Interval
from metalabel.evaluation.folds import FOLD_DAYS, Fold
from metalabel.evaluation.metrics import Metric, PeriodMetrics
from metalabel.evaluation.report.joins import signal_candle_values
from metalabel.evaluation.report.loading import BUY_HOLD, BacktestRun, SkillInputs

CALIBRATION_BINS = 4
STRESS_FEE_MULTIPLIER = 2.0
STRESS_SLIPPAGE_MULTIPLIER = 2.0  # x costs.base_slippage_ratio, on each side
HIGH_VOLATILITY = Regime.HIGH_VOLATILITY.value


@dataclass(frozen=True)
class RegimeView:
    """Trades entered in one regime: how they did on their own."""

    trades: int
    share_of_trades: Metric
    win_rate: Metric
    profit_factor: Metric
    mean_trade_return: Metric
    profit_abs: Metric
    return_contribution: Metric
    unknown_regime_trades: int


@dataclass(frozen=True)
class VariantAnalysis:
    """Everything the JSON and the plots need about one variant."""

    name: str
    overall: PeriodMetrics
    folds: list[PeriodMetrics]
    sharpe_ci: Interval
    total_return_ci: Interval
    drawdown_p95: Metric
    trade_returns: np.ndarray
    high_volatility: RegimeView
    doubled_costs: PeriodMetrics
    legs: pd.DataFrame | None = None  # buy and hold: one round trip per pair


@dataclass(frozen=True)
class Calibration:
    """Meta-model confidence of each meta trade against whether the trade won."""

    confidence: np.ndarray
    won: np.ndarray
    threshold: float
    reason: str | None  # why it is not available, else None
    unmatched: int = 0  # meta trades without a signal candle in the export


@dataclass(frozen=True)
class ReportSettings:
    """Resampling and stress settings; the defaults are what ``metalabel report`` uses."""

    seed: int = 0
    fold_days: int = FOLD_DAYS
    bootstrap_resamples: int = bootstrap.DEFAULT_RESAMPLES
    bootstrap_block_days: int = bootstrap.DEFAULT_BLOCK_DAYS
    confidence: float = bootstrap.DEFAULT_CONFIDENCE
    mc_resamples: int = bootstrap.DEFAULT_RESAMPLES
    mc_percentile: float = bootstrap.DRAWDOWN_PERCENTILE
    calibration_bins: int = CALIBRATION_BINS
    chance_resamples: int = skill.CHANCE_RESAMPLES
    reliability_bins: int = skill.RELIABILITY_BINS


def _rng(seed: int, *purpose: str) -> np.random.Generator:
    """A generator per (variant, purpose): adding a variant does not move another's draws."""
    return np.random.default_rng([seed, zlib.crc32(":".join(purpose).encode())])


def regime_view(
    trades: pd.DataFrame, regimes: pd.Series, regime: str, start_equity: float
) -> RegimeView:
    """Trades whose signal candle had ``regime``; contribution relative to the start equity."""
    chosen = trades.loc[(regimes == regime).to_numpy()]
    profits = chosen["profit_abs"].to_numpy(dtype=np.float64)
    total = len(trades)
    return RegimeView(
        trades=len(chosen),
        share_of_trades=Metric.of(len(chosen) / total) if total else _no_trades(),
        win_rate=metrics.win_rate(profits),
        profit_factor=metrics.profit_factor(profits),
        mean_trade_return=(
            Metric.of(float(chosen["profit_ratio"].mean())) if len(chosen) else _no_trades()
        ),
        profit_abs=Metric.of(float(profits.sum())),
        return_contribution=Metric.of(float(profits.sum()) / start_equity),
        unknown_regime_trades=int(regimes.isna().sum()),
    )


def _no_trades() -> Metric:
    return Metric.undefined(metrics.REASON_NO_TRADES)


def _absent_regime_view(reason: str) -> RegimeView:
    none = Metric.undefined(reason)
    return RegimeView(0, none, none, none, none, none, none, 0)


def analyse_trades(
    run: BacktestRun,
    folds: Sequence[Fold],
    regimes: pd.DataFrame,
    settings: ReportSettings,
) -> VariantAnalysis:
    """Metrics, intervals and stress view of a strategy variant from its trades table."""
    trades, start_equity = run.trades, run.starting_balance
    overall = metrics.trade_metrics(trades, start=run.start, end=run.end, start_equity=start_equity)
    entry_regime = signal_candle_values(trades, regimes, ["regime"], timeframe=run.timeframe)
    slippage = STRESS_SLIPPAGE_MULTIPLIER * run.settings.costs.base_slippage_ratio
    stressed = metrics.stressed_trades(
        trades, fee_multiplier=STRESS_FEE_MULTIPLIER, slippage_ratio=slippage
    )
    sharpe_ci, total_return_ci = _intervals(run.variant, overall, settings)
    return VariantAnalysis(
        name=run.variant,
        overall=overall,
        folds=metrics.trade_fold_metrics(trades, folds, start_equity),
        sharpe_ci=sharpe_ci,
        total_return_ci=total_return_ci,
        drawdown_p95=bootstrap.drawdown_percentile(
            trades["profit_abs"],
            start_equity=start_equity,
            rng=_rng(settings.seed, run.variant, "trade-order"),
            resamples=settings.mc_resamples,
            percentile=settings.mc_percentile,
        ),
        trade_returns=trades["profit_ratio"].to_numpy(dtype=np.float64),
        high_volatility=regime_view(trades, entry_regime["regime"], HIGH_VOLATILITY, start_equity),
        doubled_costs=metrics.trade_metrics(
            stressed, start=run.start, end=run.end, start_equity=start_equity
        ),
    )


def _intervals(
    name: str, overall: PeriodMetrics, settings: ReportSettings
) -> tuple[Interval, Interval]:
    """Block bootstrap intervals of the Sharpe ratio and of the total return."""
    returns = overall.returns.to_numpy(dtype=np.float64)

    def interval(statistic: bootstrap.RowStatistic, purpose: str) -> Interval:
        return bootstrap.block_bootstrap_ci(
            returns,
            statistic,
            rng=_rng(settings.seed, name, purpose),
            resamples=settings.bootstrap_resamples,
            block_length=settings.bootstrap_block_days,
            confidence=settings.confidence,
        )

    sharpe_ci = (
        Interval.undefined(overall.sharpe.reason or "")
        if overall.sharpe.value is None
        else interval(bootstrap.sharpe_rows, "sharpe")
    )
    total_ci = interval(bootstrap.total_return_rows, "return")
    return sharpe_ci, total_ci


def analyse_buy_hold(
    candles: Mapping[str, pd.DataFrame],
    folds: Sequence[Fold],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    start_equity: float,
    fee_ratio: float,
    slippage_ratio: float,
    settings: ReportSettings,
) -> VariantAnalysis:
    """The buy-and-hold baseline, marked to market at every candle close."""
    period = {"start": start, "end": end, "start_equity": start_equity}
    path, legs = metrics.buy_and_hold(dict(candles), fee_ratio=fee_ratio, **period)
    overall = metrics.mark_to_market_metrics(path, legs, **period)
    fold_metrics = [
        metrics.mark_to_market_metrics(
            path,
            legs,
            start=fold.test_start,
            end=fold.test_end,
            start_equity=metrics.equity_at(path, fold.test_start, start_equity),
        )
        for fold in folds
    ]
    stressed_fee = STRESS_FEE_MULTIPLIER * fee_ratio + STRESS_SLIPPAGE_MULTIPLIER * slippage_ratio
    stressed_path, stressed_legs = metrics.buy_and_hold(
        dict(candles), fee_ratio=stressed_fee, **period
    )
    sharpe_ci, total_return_ci = _intervals(BUY_HOLD, overall, settings)
    return VariantAnalysis(
        name=BUY_HOLD,
        overall=overall,
        folds=fold_metrics,
        sharpe_ci=sharpe_ci,
        total_return_ci=total_return_ci,
        drawdown_p95=Metric.undefined(
            "buy and hold is one position per pair: there is no trade order to shuffle"
        ),
        trade_returns=legs["profit_ratio"].to_numpy(dtype=np.float64),
        high_volatility=_absent_regime_view(
            "buy and hold enters once, at the start: no entries by regime"
        ),
        doubled_costs=metrics.mark_to_market_metrics(stressed_path, stressed_legs, **period),
        legs=legs,
    )


def calibration_data(run: BacktestRun) -> Calibration:
    """Confidence of each meta trade's signal candle and whether the trade won."""
    threshold = run.settings.model.confidence_threshold
    empty = np.zeros(0)
    if run.signals is None:
        return Calibration(empty, empty, threshold, run.signals_reason)
    if run.trades.empty:
        return Calibration(empty, empty, threshold, "the meta run made no trades")
    matched = signal_candle_values(
        run.trades, run.signals, ["meta_confidence"], timeframe=run.timeframe
    )["meta_confidence"].astype("float64")
    known = matched.notna().to_numpy()
    if not known.any():
        return Calibration(empty, empty, threshold, "no meta trade matched a signal candle")
    won = (run.trades["profit_abs"].to_numpy(dtype=np.float64) > 0)[known]
    return Calibration(
        matched.to_numpy()[known],
        won.astype(np.float64),
        threshold,
        None,
        unmatched=int((~known).sum()),
    )


def report_fee_ratio(run: BacktestRun) -> float:
    """The fee the backtest charged (its trades' ``fee_open``), else the configured one."""
    if run.trades.empty:
        return run.settings.costs.fee_ratio
    return float(run.trades["fee_open"].max())


def difference(a: Metric, b: Metric) -> Metric:
    """``a - b``, undefined (with the first reason) when either is."""
    if a.value is None or b.value is None:
        return Metric.undefined(a.reason or b.reason or "")
    return Metric.of(a.value - b.value)


def sharpe_difference(
    analyses: Mapping[str, VariantAnalysis], settings: ReportSettings
) -> tuple[Metric, Interval]:
    """Sharpe of meta minus Sharpe of primary, and its paired block bootstrap interval."""
    meta, primary = analyses["meta"].overall, analyses["primary"].overall
    diff = difference(meta.sharpe, primary.sharpe)
    interval = (
        Interval.undefined(diff.reason or "")
        if diff.value is None
        else bootstrap.paired_block_bootstrap_ci(
            meta.returns.to_numpy(dtype=np.float64),
            primary.returns.to_numpy(dtype=np.float64),
            bootstrap.sharpe_rows,
            rng=_rng(settings.seed, "meta-minus-primary", "sharpe"),
            resamples=settings.bootstrap_resamples,
            block_length=settings.bootstrap_block_days,
            confidence=settings.confidence,
        )
    )
    return diff, interval


def calibration_edges(threshold: float, bins: int) -> np.ndarray:
    """Equal-width bins over ``[threshold, 1]``: a meta trade needs confidence > threshold."""
    edges: np.ndarray = np.linspace(threshold, 1.0, bins + 1)
    return edges


@dataclass(frozen=True)
class FoldSkill:
    """One walk-forward window's out-of-sample signals and their AUC."""

    start: pd.Timestamp
    signals: int
    positives: int
    auc: Metric


@dataclass(frozen=True)
class SkillAnalysis:
    """The meta-model's out-of-sample skill (see :mod:`metalabel.evaluation.skill`)."""

    reason: str | None  # why the prediction-based figures are missing, else None
    threshold: float
    signals: int
    positives: int
    excluded_do_predict: int
    unpredicted: int
    probability: np.ndarray
    positive: np.ndarray
    auc: Metric
    auc_ci: Interval
    folds: list[FoldSkill]
    brier: Metric
    base_rate_brier: Metric  # each window's training base rate as the forecast
    oos_base_rate_brier: Metric  # hindsight: the out-of-sample base rate
    calibration: skill.CalibrationFit
    bins: list[skill.ReliabilityBin]
    chance_events: skill.ChanceTest
    chance_trades: skill.ChanceTest
    beats_chance: bool | None
    verdict: str


def training_base_rates(
    signals: pd.DataFrame, events: pd.DataFrame, *, train_days: int, purge: pd.Timedelta
) -> np.ndarray:
    """Per signal, the share of "take" among its pair's events in its window's training
    range ``[window_start - train_days, window_start - purge)`` (the label horizon is
    purged from training, as the model plugin does). NaN where that range has no event.
    """
    rates = np.full(len(signals), np.nan)
    wins = events["label"].eq("take")
    for (pair, start), rows in signals.groupby(["pair", "window_start"]).indices.items():
        mask = (
            (events["pair"] == pair)
            & (events["date"] >= start - pd.Timedelta(days=train_days))
            & (events["date"] < start - purge)
        )
        if mask.any():
            rates[rows] = float(wins[mask].mean())
    return rates


def analyse_skill(
    inputs: SkillInputs,
    meta: BacktestRun,
    primary_regime: BacktestRun,
    settings: ReportSettings,
) -> SkillAnalysis:
    """Out-of-sample AUC, Brier, calibration and the chance tests of the meta-model.

    The population is every admitted, labelled signal candle a window's model predicted
    with ``do_predict == 1``; the model "takes" a signal when its probability exceeds
    the confidence threshold, as the strategy's gate does.
    """
    threshold = meta.settings.model.confidence_threshold
    chance_trades = skill.chance_test(
        meta.trades["profit_ratio"].to_numpy(dtype=np.float64),
        primary_regime.trades["profit_ratio"].to_numpy(dtype=np.float64),
        rng=_rng(settings.seed, "skill", "chance-trades"),
        resamples=settings.chance_resamples,
    )
    frame = inputs.signals
    if inputs.reason is not None or frame is None or inputs.events is None:
        return _no_skill(inputs.reason or "no predictions", threshold, chance_trades, settings)
    usable = frame["do_predict"].to_numpy() == 1
    excluded = int((~usable).sum())
    frame = frame.loc[usable].reset_index(drop=True)
    if frame.empty:
        return _no_skill(
            "no signal has do_predict == 1", threshold, chance_trades, settings, excluded
        )
    p = frame["take"].to_numpy(dtype=np.float64)
    y = frame["label"].eq("take").to_numpy()
    days = frame["date"].dt.floor("D").to_numpy()
    purge = (meta.settings.exits.max_holding_candles + 1) * pd.Timedelta(meta.timeframe)
    base = training_base_rates(frame, inputs.events, train_days=inputs.train_days, purge=purge)
    known_base = ~np.isnan(base)
    folds = [
        FoldSkill(
            start=pd.Timestamp(start),
            signals=len(rows),
            positives=int(y[rows].sum()),
            auc=skill.auc(p[rows], y[rows]),
        )
        for start, rows in frame.groupby("window_start").indices.items()
    ]
    net = frame["net_return"].to_numpy(dtype=np.float64)
    chance_events = skill.chance_test(
        net[p > threshold],
        net,
        rng=_rng(settings.seed, "skill", "chance-events"),
        resamples=settings.chance_resamples,
    )
    auc_ci = skill.day_block_bootstrap_auc(
        p,
        y,
        days,
        rng=_rng(settings.seed, "skill", "auc"),
        resamples=settings.bootstrap_resamples,
        confidence=settings.confidence,
    )
    beats, verdict = skill.skill_verdict(auc_ci, chance_events.p_mean_net_return)
    return SkillAnalysis(
        reason=None,
        threshold=threshold,
        signals=len(frame),
        positives=int(y.sum()),
        excluded_do_predict=excluded,
        unpredicted=inputs.unpredicted,
        probability=p,
        positive=y.astype(np.float64),
        auc=skill.auc(p, y),
        auc_ci=auc_ci,
        folds=folds,
        brier=skill.brier_score(p, y),
        base_rate_brier=(
            skill.brier_score(base[known_base], y[known_base])
            if known_base.all()
            else Metric.undefined(
                f"{int((~known_base).sum())} signals have no labelled event in their "
                "training window"
            )
        ),
        oos_base_rate_brier=skill.brier_score(np.full(y.size, y.mean()), y),
        calibration=skill.calibration_fit(p, y),
        bins=skill.reliability_bins(p, y, bins=settings.reliability_bins),
        chance_events=chance_events,
        chance_trades=chance_trades,
        beats_chance=beats,
        verdict=verdict,
    )


def _no_skill(
    reason: str,
    threshold: float,
    chance_trades: skill.ChanceTest,
    settings: ReportSettings,
    excluded: int = 0,
) -> SkillAnalysis:
    none = Metric.undefined(reason)
    empty = np.zeros(0)
    return SkillAnalysis(
        reason=reason,
        threshold=threshold,
        signals=0,
        positives=0,
        excluded_do_predict=excluded,
        unpredicted=0,
        probability=empty,
        positive=empty,
        auc=none,
        auc_ci=Interval.undefined(reason),
        folds=[],
        brier=none,
        base_rate_brier=none,
        oos_base_rate_brier=none,
        calibration=skill.CalibrationFit(none, none),
        bins=[
            skill.ReliabilityBin(b.lo, b.hi, 0, none, none)
            for b in skill.reliability_bins([], [], bins=settings.reliability_bins)
        ],
        chance_events=skill.ChanceTest(0, 0, settings.chance_resamples, *[none] * 6),
        chance_trades=chance_trades,
        beats_chance=None,
        verdict=f"skill not measurable ({reason})",
    )
