"""The walk-forward report: ``walkforward.json`` (stable keys) and a self-contained HTML page.

Reads freqtrade's exported backtest results of the three variants run over one
timerange -- ``meta`` (the product: primary signal + regime filter + meta-model gate),
``primary`` (v1, signal only) and ``primary_regime`` (signal + regime filter) -- and adds
``buy_hold``, an equal-weight buy and hold of the same pairs from the bundled candles.
Same data, same period, same fee (the trades' own ``fee_open``) for every variant.

For each variant: the metrics of :mod:`metalabel.evaluation.metrics` over the whole range and per
30-day fold (FreqAI's backtest windows), block bootstrap intervals and a Monte Carlo
drawdown (:mod:`metalabel.evaluation.bootstrap`), and a stress view (trades entered in the high
volatility regime, the worst fold, doubled fees and slippage). The report states the
Sharpe difference meta - primary with a paired bootstrap interval, and, when the meta run
was exported with ``--export signals``, how the model's confidence matched realised wins.

Every number that cannot be computed is ``null`` in the JSON with its reason under
``null_reasons`` (keyed by the value's path); the JSON never holds NaN or inf. Input that
cannot be reported on at all raises :class:`ReportInputError` naming the problem.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import logging
import math
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from freqtrade.configuration import TimeRange
from freqtrade.data.btanalysis import (
    get_latest_backtest_filename,
    load_backtest_analysis_data,
    load_backtest_data,
    load_backtest_stats,
    load_file_from_zip,
)
from freqtrade.exceptions import FreqtradeException
from freqtrade.exchange import timeframe_to_seconds
from freqtrade.misc import pair_to_filename

from metalabel.config import ConfigError, MetalabelConfig, load_config
from metalabel.core.features import add_features
from metalabel.core.regime import Regime, classify_regime
from metalabel.evaluation import bootstrap, metrics
from metalabel.evaluation.bootstrap import Interval
from metalabel.evaluation.metrics import Metric, PeriodMetrics

logger = logging.getLogger(__name__)

STRATEGY_NAME = "MetaLabelStrategy"
TRADE_VARIANTS: tuple[str, ...] = ("meta", "primary", "primary_regime")
BUY_HOLD = "buy_hold"
VARIANTS: tuple[str, ...] = (*TRADE_VARIANTS, BUY_HOLD)
JSON_NAME = "walkforward.json"
HTML_NAME = "walkforward.html"
SCHEMA_VERSION = 1

CALIBRATION_BINS = 4
STRESS_FEE_MULTIPLIER = 2.0
STRESS_SLIPPAGE_MULTIPLIER = 2.0  # x costs.base_slippage_ratio, on each side
HIGH_VOLATILITY = Regime.HIGH_VOLATILITY.value

_TRADE_COLUMNS = {
    "pair": "str",
    "open_date": "datetime64[us, UTC]",
    "close_date": "datetime64[us, UTC]",
    "profit_abs": "float64",
    "profit_ratio": "float64",
    "stake_amount": "float64",
    "amount": "float64",
    "open_rate": "float64",
    "close_rate": "float64",
    "fee_open": "float64",
    "fee_close": "float64",
    "is_short": "bool",
    "enter_tag": "str",
}


class ReportInputError(ValueError):
    """The backtest results cannot be reported on; the message says which and why."""


# ----------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class BacktestRun:
    """One variant's exported freqtrade backtest, as the report needs it."""

    variant: str
    source: Path
    trades: pd.DataFrame
    starting_balance: float
    stake_currency: str
    start: pd.Timestamp
    end: pd.Timestamp
    timeframe: str
    trading_mode: str
    pairs: tuple[str, ...]
    settings: MetalabelConfig
    signals: pd.DataFrame | None  # pair, date, meta_confidence of each trade's signal candle
    signals_reason: str | None


def load_run(variant: str, results_dir: Path, *, strategy: str = STRATEGY_NAME) -> BacktestRun:
    """The latest backtest result in ``results_dir`` (freqtrade's ``.last_result.json``).

    Raises :class:`ReportInputError` when there is none, when it holds another strategy,
    or when its exported config ran another ``metalabel.mode`` than ``variant``.
    """
    if not results_dir.is_dir():
        raise ReportInputError(
            f"{variant}: no backtest results: directory {results_dir} does not exist"
        )
    try:
        source = results_dir / get_latest_backtest_filename(results_dir)
        stats = load_backtest_stats(source)
    except (ValueError, OSError, FreqtradeException) as err:
        raise ReportInputError(
            f"{variant}: no readable backtest result in {results_dir}: {err}"
        ) from err
    strategies = stats.get("strategy") if isinstance(stats, dict) else None
    if not isinstance(strategies, dict):
        raise ReportInputError(f"{variant}: {source} is not a freqtrade backtest result")
    if strategy not in strategies:
        found = ", ".join(sorted(strategies)) or "no strategy"
        raise ReportInputError(f"{variant}: {source} holds results of {found}, not of {strategy}")
    result = strategies[strategy]
    settings, from_file = _exported_settings(source)
    if from_file and settings.mode.value != variant:
        raise ReportInputError(
            f"{variant}: {source} was run with metalabel.mode={settings.mode.value!r}, "
            f"expected {variant!r} (are the results directories swapped?)"
        )
    try:
        start = pd.Timestamp(int(result["backtest_start_ts"]), unit="ms", tz="UTC")
        end = pd.Timestamp(int(result["backtest_end_ts"]), unit="ms", tz="UTC")
        starting_balance = float(result["starting_balance"])
        timeframe = str(result["timeframe"])
    except (KeyError, TypeError, ValueError) as err:
        raise ReportInputError(f"{variant}: {source} lacks or garbles {err}") from err
    if starting_balance <= 0:
        raise ReportInputError(f"{variant}: {source} starts with a balance of {starting_balance}")
    trades = normalised_trades(load_backtest_data(source, strategy=strategy), start, end)
    signals, signals_reason = _signal_confidence(source, strategy)
    return BacktestRun(
        variant=variant,
        source=source,
        trades=trades,
        starting_balance=starting_balance,
        stake_currency=str(result.get("stake_currency", "")),
        start=start,
        end=end,
        timeframe=timeframe,
        trading_mode=str(result.get("trading_mode", "futures")),
        pairs=tuple(result.get("pairlist") or sorted(set(trades["pair"]))),
        settings=settings,
        signals=signals,
        signals_reason=signals_reason,
    )


def _exported_settings(source: Path) -> tuple[MetalabelConfig, bool]:
    """The ``metalabel`` block the run used (from the exported config), else the defaults."""
    if source.suffix != ".zip":
        return MetalabelConfig(), False
    try:
        raw = json.loads(load_file_from_zip(source, f"{source.stem}_config.json"))
    except ValueError:
        logger.warning("%s has no exported config; using the default metalabel settings", source)
        return MetalabelConfig(), False
    try:
        return load_config(raw), True
    except ConfigError as err:
        raise ReportInputError(f"{source}: exported config is invalid: {err}") from err


def normalised_trades(trades: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The trades table with the columns the report uses, every close inside the period."""
    if trades.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _TRADE_COLUMNS.items()})
    missing = sorted(set(_TRADE_COLUMNS) - set(trades.columns))
    if missing:
        raise ReportInputError(f"backtest trades lack the columns {missing}")
    out = trades.copy()
    # freqtrade force-exits what is still open at the close of the last candle, dated
    # ``end`` itself; a microsecond earlier it belongs to the last day and the last fold.
    late = out["close_date"] >= end
    if late.any():
        logger.debug("%d trades close at %s (force exit); counted on the last day", late.sum(), end)
        out.loc[late, "close_date"] = end - pd.Timedelta(microseconds=1)
    return out.sort_values(["close_date", "open_date"], kind="stable").reset_index(drop=True)


def _signal_confidence(source: Path, strategy: str) -> tuple[pd.DataFrame | None, str | None]:
    """Signal candles' ``meta_confidence`` from ``--export signals``, or why there are none."""
    name = f"{source.stem}_signals.pkl"
    if source.suffix != ".zip":
        return None, "results are not a zip archive, so no exported signal candles"
    with zipfile.ZipFile(source) as archive:
        if name not in archive.namelist():
            return None, "the backtest was not run with --export signals"
    data = load_backtest_analysis_data(source, "signals")
    per_pair: Mapping[str, pd.DataFrame] = (data or {}).get(strategy, {})
    parts = [
        frame.loc[:, ["date", "meta_confidence"]].assign(pair=pair)
        for pair, frame in per_pair.items()
        if not frame.empty and "meta_confidence" in frame.columns
    ]
    if not parts:
        return None, "the exported signal candles carry no meta_confidence (no meta-model)"
    return pd.concat(parts, ignore_index=True), None


def candles_path(candles_dir: Path, pair: str, timeframe: str, trading_mode: str) -> Path:
    """freqtrade's feather file name of a pair, e.g. ``BTC_USDT_USDT-1h-futures.feather``."""
    suffix = "-futures" if trading_mode == "futures" else ""
    return candles_dir / f"{pair_to_filename(pair)}-{timeframe}{suffix}.feather"


def load_candles(
    candles_dir: Path,
    pairs: Sequence[str],
    *,
    timeframe: str,
    trading_mode: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict[str, pd.DataFrame]:
    """Each pair's candles up to ``end``; they must cover ``[start, end)``."""
    step = pd.Timedelta(seconds=timeframe_to_seconds(timeframe))
    out = {}
    for pair in pairs:
        path = candles_path(candles_dir, pair, timeframe, trading_mode)
        if not path.is_file():
            raise ReportInputError(f"no candles for {pair}: {path} does not exist")
        frame = pd.read_feather(path)
        frame["date"] = pd.to_datetime(frame["date"], utc=True)
        frame = frame[frame["date"] < end].sort_values("date").reset_index(drop=True)
        if frame.empty or frame["date"].iloc[0] > start or frame["date"].iloc[-1] < end - step:
            span = (
                f"{frame['date'].iloc[0]} .. {frame['date'].iloc[-1]}" if len(frame) else "nothing"
            )
            raise ReportInputError(f"{path} covers {span}, not the report period {start} .. {end}")
        out[pair] = frame
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- joins
def signal_candle_values(
    trades: pd.DataFrame, table: pd.DataFrame, columns: Sequence[str], *, timeframe: str
) -> pd.DataFrame:
    """``columns`` of each trade's signal candle: the pair's last candle dated before entry.

    freqtrade enters at the open of the candle after the signal, so a trade opened at
    10:00 on 1h candles was decided on the 09:00 candle. No candle within one timeframe
    before the entry (a gap) gives NaN. ``table`` holds ``pair``, ``date`` and
    ``columns``; the result is aligned with ``trades``.
    """
    if trades.empty or table.empty:
        return pd.DataFrame(np.nan, index=trades.index, columns=list(columns), dtype=object)
    tolerance = timeframe_to_seconds(timeframe) * 1_000_000_000
    left = pd.DataFrame(
        {
            "pair": trades["pair"].astype(str).to_numpy(dtype=object),
            "_t": metrics.utc_ns(trades["open_date"]),
            "_row": np.arange(len(trades)),
        }
    ).sort_values("_t", kind="stable")
    right = table.loc[:, ["pair", *columns]].assign(_t=metrics.utc_ns(table["date"]))
    right["pair"] = right["pair"].astype(str).to_numpy(dtype=object)
    merged = pd.merge_asof(
        left,
        right.sort_values("_t", kind="stable"),
        on="_t",
        by="pair",
        allow_exact_matches=False,
        direction="backward",
        tolerance=tolerance,
    )
    merged = merged.sort_values("_row")
    return pd.DataFrame(
        {c: merged[c].to_numpy() for c in columns}, index=trades.index, columns=list(columns)
    )


def candle_regimes(candles: Mapping[str, pd.DataFrame], settings: MetalabelConfig) -> pd.DataFrame:
    """The regime of every candle (``pair, date, regime``), recomputed from trailing windows."""
    parts = []
    for pair, frame in candles.items():
        features = add_features(frame, settings.signal, settings.regime)
        regime = classify_regime(features, settings.regime)["regime"]
        parts.append(pd.DataFrame({"pair": pair, "date": frame["date"], "regime": regime}))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- analysis
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
    fold_days: int = metrics.FOLD_DAYS
    bootstrap_resamples: int = bootstrap.DEFAULT_RESAMPLES
    bootstrap_block_days: int = bootstrap.DEFAULT_BLOCK_DAYS
    confidence: float = bootstrap.DEFAULT_CONFIDENCE
    mc_resamples: int = bootstrap.DEFAULT_RESAMPLES
    mc_percentile: float = bootstrap.DRAWDOWN_PERCENTILE
    calibration_bins: int = CALIBRATION_BINS


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
    folds: Sequence[metrics.Fold],
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
    folds: Sequence[metrics.Fold],
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
            start=fold.start,
            end=fold.end,
            start_equity=metrics.equity_at(path, fold.start, start_equity),
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


# ----------------------------------------------------------------------------- JSON
class _Nulls:
    """Turns metrics into JSON values and remembers why each ``null`` is null."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def value(self, path: str, metric: Metric) -> float | None:
        if metric.value is None or not math.isfinite(metric.value):
            self.reasons[path] = metric.reason or "not computable"
            return None
        return float(metric.value)

    def interval(self, path: str, interval: Interval) -> list[float] | None:
        if interval.lo is None or interval.hi is None:
            self.reasons[path] = interval.reason or "not computable"
            return None
        return [float(interval.lo), float(interval.hi)]


def _iso(moment: pd.Timestamp) -> str:
    return str(pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def _period_json(nulls: _Nulls, path: str, period: PeriodMetrics) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": _iso(period.start),
        "end": _iso(period.end),
        "days": (period.end - period.start) / metrics.ONE_DAY,
        "trades": period.trades,
    }
    for name in metrics.METRIC_NAMES:
        out[name] = nulls.value(f"{path}.{name}", period.metric(name))
    return out


def _regime_json(nulls: _Nulls, path: str, view: RegimeView) -> dict[str, Any]:
    out: dict[str, Any] = {"trades": view.trades}
    for name in (
        "share_of_trades", "win_rate", "profit_factor", "mean_trade_return", "profit_abs",
        "return_contribution",
    ):  # fmt: skip
        out[name] = nulls.value(f"{path}.{name}", getattr(view, name))
    out["unknown_regime_trades"] = view.unknown_regime_trades
    return out


def _variant_json(nulls: _Nulls, analysis: VariantAnalysis) -> dict[str, Any]:
    path = f"variants.{analysis.name}"
    o = analysis.overall
    out: dict[str, Any] = {
        "trades": o.trades,
        "days": (o.end - o.start) / metrics.ONE_DAY,
        "start_balance": o.start_equity,
        "end_balance": o.end_equity,
    }
    for name in metrics.METRIC_NAMES:
        out[name] = nulls.value(f"{path}.{name}", o.metric(name))
    out["sharpe_ci95"] = nulls.interval(f"{path}.sharpe_ci95", analysis.sharpe_ci)
    out["total_return_ci95"] = nulls.interval(f"{path}.total_return_ci95", analysis.total_return_ci)
    out["max_drawdown_p95_mc"] = nulls.value(f"{path}.max_drawdown_p95_mc", analysis.drawdown_p95)
    out["folds"] = [
        {"index": i, **_period_json(nulls, f"{path}.folds[{i}]", fold)}
        for i, fold in enumerate(analysis.folds)
    ]
    summary = {}
    for name in ("trades", *metrics.METRIC_NAMES):
        agg = metrics.aggregate_folds(analysis.folds, name)
        base = f"{path}.fold_summary.{name}"
        summary[name] = {
            "mean": nulls.value(f"{base}.mean", agg.mean),
            "std": nulls.value(f"{base}.std", agg.std),
            "min": nulls.value(f"{base}.min", agg.min),
            "max": nulls.value(f"{base}.max", agg.max),
            "folds": agg.folds,
        }
    out["fold_summary"] = summary
    worst = min(range(len(analysis.folds)), key=lambda i: _sort_key(analysis.folds[i]))
    stressed = analysis.doubled_costs
    doubled = {
        "trades": stressed.trades,
        **{
            name: nulls.value(f"{path}.stress.doubled_costs.{name}", stressed.metric(name))
            for name in _STRESS_METRICS
        },
        "total_return_change": nulls.value(
            f"{path}.stress.doubled_costs.total_return_change",
            _difference(stressed.total_return, o.total_return),
        ),
    }
    fold = analysis.folds[worst]
    out["stress"] = {
        "high_volatility": _regime_json(
            nulls, f"{path}.stress.high_volatility", analysis.high_volatility
        ),
        "worst_fold": {
            "index": worst,
            "start": _iso(fold.start),
            "end": _iso(fold.end),
            "trades": fold.trades,
            **{
                name: nulls.value(f"{path}.stress.worst_fold.{name}", fold.metric(name))
                for name in ("total_return", "sharpe", "max_drawdown")
            },
        },
        "doubled_costs": doubled,
    }
    return out


_STRESS_METRICS = ("sharpe", "sortino", "profit_factor", "max_drawdown", "win_rate", "total_return")


def _sort_key(period: PeriodMetrics) -> float:
    value = period.total_return.value
    return math.inf if value is None else value


def _difference(a: Metric, b: Metric) -> Metric:
    if a.value is None or b.value is None:
        return Metric.undefined(a.reason or b.reason or "")
    return Metric.of(a.value - b.value)


def _calibration_json(nulls: _Nulls, cal: Calibration, bins: int) -> dict[str, Any]:
    """Reliability table of the meta trades; the same keys whether or not it is available."""
    brier = (
        Metric.undefined(cal.reason)
        if cal.reason is not None
        else Metric.of(float(np.mean((cal.confidence - cal.won) ** 2)))
    )
    edges = calibration_edges(cal.threshold, bins)
    which = np.clip(np.searchsorted(edges, cal.confidence, side="right") - 1, 0, bins - 1)
    table = []
    for i in range(bins):
        member = which == i
        n = int(member.sum())
        empty = Metric.undefined(cal.reason or "no meta trade in this confidence bin")
        table.append(
            {
                "lo": float(edges[i]),
                "hi": float(edges[i + 1]),
                "trades": n,
                "mean_confidence": nulls.value(
                    f"calibration.bins[{i}].mean_confidence",
                    Metric.of(float(cal.confidence[member].mean())) if n else empty,
                ),
                "win_rate": nulls.value(
                    f"calibration.bins[{i}].win_rate",
                    Metric.of(float(cal.won[member].mean())) if n else empty,
                ),
            }
        )
    return {
        "available": cal.reason is None,
        "reason": cal.reason,
        "variant": "meta",
        "trades": int(cal.confidence.size),
        "unmatched_trades": cal.unmatched,
        "confidence_threshold": cal.threshold,
        "brier_score": nulls.value("calibration.brier_score", brier),
        "bins": table,
    }


def calibration_edges(threshold: float, bins: int) -> np.ndarray:
    """Equal-width bins over ``[threshold, 1]``: a meta trade needs confidence > threshold."""
    edges: np.ndarray = np.linspace(threshold, 1.0, bins + 1)
    return edges


# ----------------------------------------------------------------------------- build
def _check_variants(results_dirs: Mapping[str, Path]) -> None:
    unknown = sorted(set(results_dirs) - set(TRADE_VARIANTS))
    if unknown:
        raise ReportInputError(
            f"unknown variant(s) {unknown}; expected results for {list(TRADE_VARIANTS)}"
        )
    missing = [v for v in TRADE_VARIANTS if v not in results_dirs]
    if missing:
        raise ReportInputError(
            f"missing backtest results for {missing}; the report compares "
            f"{list(TRADE_VARIANTS)} over the same timerange"
        )


def _check_same_run_setup(runs: Mapping[str, BacktestRun], timerange: str) -> None:
    try:
        wanted = TimeRange.parse_timerange(timerange)
    except FreqtradeException as err:
        raise ReportInputError(f"timerange {timerange!r}: {err}") from err
    for run in runs.values():
        if wanted.startts and run.start != pd.Timestamp(wanted.startts, unit="s", tz="UTC"):
            raise ReportInputError(
                f"{run.variant}: {run.source} starts {run.start}, not at the start of "
                f"timerange {timerange}"
            )
        if wanted.stopts and run.end != pd.Timestamp(wanted.stopts, unit="s", tz="UTC"):
            raise ReportInputError(
                f"{run.variant}: {run.source} ends {run.end}, not at the end of "
                f"timerange {timerange}"
            )
    reference = runs[TRADE_VARIANTS[0]]
    for run in runs.values():
        for attribute in ("start", "end", "starting_balance", "pairs", "timeframe"):
            if getattr(run, attribute) != getattr(reference, attribute):
                raise ReportInputError(
                    f"{run.variant} and {reference.variant} differ in {attribute}: "
                    f"{getattr(run, attribute)} vs {getattr(reference, attribute)}; "
                    "the variants must be run on the same data and period"
                )


def report_fee_ratio(run: BacktestRun) -> float:
    """The fee the backtest charged (its trades' ``fee_open``), else the configured one."""
    if run.trades.empty:
        return run.settings.costs.fee_ratio
    return float(run.trades["fee_open"].max())


def build_report(
    results_dirs: Mapping[str, Path],
    *,
    timerange: str,
    candles_dir: Path,
    out_dir: Path,
    commit: str,
    seed: int = 0,
    settings: ReportSettings | None = None,
    lifecycle_log: Path | None = None,
) -> dict[str, Any]:
    """Build the report of ``meta``, ``primary`` and ``primary_regime`` results; write it.

    ``results_dirs`` maps each variant to the ``--backtest-directory`` it was exported
    to; ``candles_dir`` holds the candles (for buy and hold and the regimes). Writes
    ``out_dir/walkforward.json`` and ``out_dir/walkforward.html`` and returns the JSON
    dict. Raises :class:`ReportInputError` for results it cannot report on.
    """
    settings = settings or ReportSettings(seed=seed)
    _check_variants(results_dirs)
    runs = {v: load_run(v, Path(results_dirs[v])) for v in TRADE_VARIANTS}
    _check_same_run_setup(runs, timerange)
    meta = runs["meta"]
    start, end = meta.start, meta.end
    folds = metrics.walk_forward_folds(start, end, fold_days=settings.fold_days)
    candles = load_candles(
        candles_dir,
        meta.pairs,
        timeframe=meta.timeframe,
        trading_mode=meta.trading_mode,
        start=start,
        end=end,
    )
    regimes_by_settings: dict[tuple[Any, Any], pd.DataFrame] = {}
    analyses: dict[str, VariantAnalysis] = {}
    for variant, run in runs.items():
        key = (run.settings.signal, run.settings.regime)
        if key not in regimes_by_settings:
            regimes_by_settings[key] = candle_regimes(candles, run.settings)
        analyses[variant] = analyse_trades(run, folds, regimes_by_settings[key], settings)
        logger.info("%s: %d trades analysed", variant, run.trades.shape[0])
    fee_ratio = report_fee_ratio(meta)
    analyses[BUY_HOLD] = analyse_buy_hold(
        candles,
        folds,
        start=start,
        end=end,
        start_equity=meta.starting_balance,
        fee_ratio=fee_ratio,
        slippage_ratio=meta.settings.costs.base_slippage_ratio,
        settings=settings,
    )
    calibration = calibration_data(meta)
    legs = analyses[BUY_HOLD].legs

    nulls = _Nulls()
    data_files = [
        candles_path(candles_dir, pair, meta.timeframe, meta.trading_mode) for pair in meta.pairs
    ]
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_from": {
            "commit": commit,
            "timerange": timerange,
            "data": candles_dir.as_posix(),
            "data_files": [{"file": p.name, "sha256": file_sha256(p)} for p in data_files],
            "strategy": STRATEGY_NAME,
            "start": _iso(start),
            "end": _iso(end),
            "pairs": list(meta.pairs),
            "timeframe": meta.timeframe,
            "stake_currency": meta.stake_currency,
            "starting_balance": meta.starting_balance,
            "results": {v: run.source.as_posix() for v, run in runs.items()},
        },
        "settings": {
            "seed": settings.seed,
            "fold_days": settings.fold_days,
            "annualisation_days": metrics.ANNUALISATION_DAYS,
            "bootstrap": "circular block bootstrap of daily returns, percentile interval",
            "bootstrap_resamples": settings.bootstrap_resamples,
            "bootstrap_block_days": settings.bootstrap_block_days,
            "confidence": settings.confidence,
            "mc_resamples": settings.mc_resamples,
            "mc_percentile": settings.mc_percentile,
            "fee_ratio": fee_ratio,
            "stress_fee_multiplier": STRESS_FEE_MULTIPLIER,
            "stress_slippage_ratio_per_side": STRESS_SLIPPAGE_MULTIPLIER
            * meta.settings.costs.base_slippage_ratio,
            "calibration_bins": settings.calibration_bins,
        },
        "variants": {name: _variant_json(nulls, analyses[name]) for name in VARIANTS},
        "buy_hold_pairs": [
            {"pair": str(leg.pair), "total_return": float(leg.profit_ratio)}
            for leg in (legs.itertuples() if legs is not None else ())
        ],
        "meta_minus_primary_sharpe": _sharpe_difference(nulls, analyses, settings),
        "calibration": _calibration_json(nulls, calibration, settings.calibration_bins),
        "lifecycle": lifecycle_summary(lifecycle_log),
    }
    report["null_reasons"] = dict(sorted(nulls.reasons.items()))
    write_report(report, analyses, calibration, out_dir)
    return report


def _sharpe_difference(
    nulls: _Nulls, analyses: Mapping[str, VariantAnalysis], settings: ReportSettings
) -> dict[str, Any]:
    meta, primary = analyses["meta"].overall, analyses["primary"].overall
    diff = _difference(meta.sharpe, primary.sharpe)
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
    ci = nulls.interval("meta_minus_primary_sharpe.ci95", interval)
    if ci is None:
        nulls.reasons["meta_minus_primary_sharpe.ci95_excludes_zero"] = (
            interval.reason or "no interval"
        )
    return {
        "value": nulls.value("meta_minus_primary_sharpe.value", diff),
        "ci95": ci,
        "ci95_excludes_zero": None if ci is None else bool(ci[0] > 0 or ci[1] < 0),
        "method": "paired circular block bootstrap: the same resampled days for both variants",
    }


def write_report(
    report: Mapping[str, Any],
    analyses: Mapping[str, VariantAnalysis],
    calibration: Calibration,
    out_dir: Path,
) -> tuple[Path, Path]:
    """Write ``walkforward.json`` (no NaN/inf allowed) and ``walkforward.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / JSON_NAME, out_dir / HTML_NAME
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    html_path.write_text(render_html(report, analyses, calibration))
    logger.info("wrote %s and %s", json_path, html_path)
    return json_path, html_path


def report_key_paths(report: Mapping[str, Any]) -> list[str]:
    """Every key path of a report, as the README documents them.

    Variant names become ``<variant>``, the metric names under ``fold_summary``
    ``<metric>``, list items ``[]``; ``null_reasons`` (keyed by the paths of null values),
    ``generated_from.results`` (keyed by variant) and ``lifecycle.by_pair`` (keyed by
    pair) are listed as single keys.
    """
    paths: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if prefix == "variants":
                    name = "<variant>"
                elif prefix.endswith(".fold_summary"):
                    name = "<metric>"
                else:
                    name = key
                path = f"{prefix}.{name}" if prefix else name
                paths.add(path)
                if path not in ("null_reasons", "generated_from.results", "lifecycle.by_pair"):
                    walk(value, path)
        elif isinstance(node, list):
            for item in node:
                walk(item, f"{prefix}[]")

    walk(report, "")
    return sorted(paths)


# ----------------------------------------------------------------------------- HTML
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


def _equity_plots(analyses: Mapping[str, VariantAnalysis]) -> tuple[str, str]:
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


def _fold_plot(analyses: Mapping[str, VariantAnalysis]) -> str:
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


def _histogram_plot(analyses: Mapping[str, VariantAnalysis]) -> str:
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


def _calibration_plot(report: Mapping[str, Any], cal: Calibration) -> str:
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


def _fmt(value: Any, kind: str = "num") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return f"[{_fmt(value[0], kind)}, {_fmt(value[1], kind)}]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if kind == "pct":
        return f"{100 * value:.2f} %"
    return f"{value:.3f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_SUMMARY = (
    ("trades", "Trades", "int"), ("sharpe", "Sharpe", "num"),
    ("sharpe_ci95", "Sharpe 95% CI", "num"), ("sortino", "Sortino", "num"),
    ("profit_factor", "Profit factor", "num"),
    ("max_drawdown", "Max DD", "pct"), ("max_drawdown_p95_mc", "Max DD p95 (MC)", "pct"),
    ("win_rate", "Win rate", "pct"), ("win_loss_ratio", "Avg win / avg loss", "num"),
    ("total_return", "Total return", "pct"), ("total_return_ci95", "Return 95% CI", "pct"),
    ("exposure", "Exposure", "pct"),
)  # fmt: skip
_FOLD = (
    ("trades", "Trades", "int"), ("sharpe", "Sharpe", "num"), ("sortino", "Sortino", "num"),
    ("profit_factor", "PF", "num"), ("max_drawdown", "Max DD", "pct"),
    ("win_rate", "Win rate", "pct"), ("avg_win", "Avg win", "pct"), ("avg_loss", "Avg loss", "pct"),
    ("total_return", "Return", "pct"), ("exposure", "Exposure", "pct"),
)  # fmt: skip

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } code, pre { background: #f6f6f6; }
.note { color: #555; font-size: 0.9em; }
"""

_METHOD = """\
E_d      = B0 + sum(profit_abs of trades closed on or before UTC day d)  (no trade: return 0)
r_d      = E_d / E_(d-1) - 1,   E_(-1) = B0
Sharpe   = sqrt(365) * mean(r) / std(r, ddof=1)
Sortino  = sqrt(365) * mean(r) / sqrt(sum(min(r_d, 0)^2) / (n - 1))
PF       = gross profit / gross loss of closed trades;  win rate = share with profit_abs > 0
Max DD   = max over t of (peak_t - E_t) / peak_t on the closed-trade equity after every trade
           (buy and hold: marked to market at every candle close)
Exposure = share of the period's hours with at least one position open
Folds    = consecutive 30-day windows from the timerange start (FreqAI's backtest windows);
           a trade belongs to the fold it closes in; each fold starts from the equity left
CIs      = circular block bootstrap of daily returns (blocks of 7 days, 2000 resamples,
           2.5 / 97.5 % percentiles); meta - primary is paired: the same days for both
MC DD    = 95th percentile of the max drawdown over 2000 random orders of the trades
Stress   = 2x fee_open/fee_close of every trade plus 2x costs.base_slippage_ratio of the
           notional on each side, same trades at the same sizes (an approximation: smaller
           later stakes and cost-moved exits are ignored); high volatility = trades whose
           signal candle (the candle before entry) had regime high_volatility, regimes
           recomputed from the candles with the run's metalabel settings
"""


def render_html(
    report: Mapping[str, Any], analyses: Mapping[str, VariantAnalysis], cal: Calibration
) -> str:
    """The self-contained HTML page: tables, and plots inlined as base64 PNG."""
    source = report["generated_from"]
    variants = report["variants"]
    diff = report["meta_minus_primary_sharpe"]
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Walk-forward report {esc(source['timerange'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Walk-forward evaluation of {esc(source['strategy'])}</h1>",
        "<p class='note'>"
        f"commit <code>{esc(str(source['commit']))}</code> &middot; timerange "
        f"{esc(source['timerange'])} ({esc(source['start'])} to {esc(source['end'])}) &middot; "
        f"pairs {esc(', '.join(source['pairs']))} &middot; data <code>{esc(source['data'])}</code>"
        f" &middot; starting balance {source['starting_balance']} {esc(source['stake_currency'])}"
        "</p>",
        "<h2>Meta-model against the primary signal</h2>",
        f"<p>Sharpe of meta minus Sharpe of primary: <b>{esc(_fmt(diff['value']))}</b>, "
        f"95% interval {esc(_fmt(diff['ci95']))} ({esc(diff['method'])}). "
        + (
            "The interval excludes 0."
            if diff["ci95_excludes_zero"]
            else "The interval includes 0: no evidence of a difference."
            if diff["ci95_excludes_zero"] is not None
            else "No interval: "
            + esc(report["null_reasons"].get("meta_minus_primary_sharpe.ci95", "not computable"))
        )
        + "</p>",
        "<h2>Summary (whole timerange)</h2>",
        _table(
            ["Variant", *(label for _, label, _ in _SUMMARY)],
            [
                [name, *(_fmt(variants[name][key], kind) for key, _, kind in _SUMMARY)]
                for name in variants
            ],
        ),
    ]
    equity_png, drawdown_png = _equity_plots(analyses)
    parts += ["<h2>Equity and drawdown</h2>", equity_png, drawdown_png]
    parts += ["<h2>Walk-forward folds</h2>", _fold_plot(analyses)]
    for name, variant in variants.items():
        parts.append(f"<h3>{esc(name)}</h3>")
        parts.append(
            _table(
                ["Fold", "Start", "End", *(label for _, label, _ in _FOLD)],
                [
                    [
                        str(f["index"]),
                        f["start"][:10],
                        f["end"][:10],
                        *(_fmt(f[key], kind) for key, _, kind in _FOLD),
                    ]
                    for f in variant["folds"]
                ],
            )
        )
        summary = variant["fold_summary"]
        parts.append(
            _table(
                ["Across folds", "mean", "std", "min", "max", "folds"],
                [
                    [
                        key,
                        *(_fmt(summary[key][s], kind) for s in ("mean", "std", "min", "max")),
                        str(summary[key]["folds"]),
                    ]
                    for key, _, kind in _FOLD
                ],
            )
        )
    parts += ["<h2>Trade returns</h2>", _histogram_plot(analyses)]
    parts.append("<h2>Model calibration</h2>")
    calibration = report["calibration"]
    if calibration["available"]:
        parts.append(
            "<p class='note'>Confidence of the signal candle of each meta trade against "
            "whether the trade made money (profit_abs &gt; 0). Only signals above the "
            f"threshold {calibration['confidence_threshold']} were traded, so this is the "
            "top of the calibration curve; the model was trained on triple-barrier labels "
            "(which include costs and funding), not on these realised trades. Brier score "
            f"{esc(_fmt(calibration['brier_score']))} over {calibration['trades']} trades.</p>"
        )
        parts.append(_calibration_plot(report, cal))
    else:
        parts.append(
            "<p><b>Calibration not available:</b> " + esc(str(calibration["reason"])) + "</p>"
        )
    parts.append("<h2>Stress</h2>")
    stress_rows = []
    for name, variant in variants.items():
        s = variant["stress"]
        hv, worst, doubled = s["high_volatility"], s["worst_fold"], s["doubled_costs"]
        stress_rows.append(
            [
                name,
                str(hv["trades"]),
                _fmt(hv["win_rate"], "pct"),
                _fmt(hv["profit_factor"]),
                _fmt(hv["return_contribution"], "pct"),
                f"{worst['start'][:10]} ({_fmt(worst['total_return'], 'pct')})",
                _fmt(doubled["total_return"], "pct"),
                _fmt(doubled["sharpe"]),
                _fmt(doubled["max_drawdown"], "pct"),
            ]
        )
    parts.append(
        _table(
            [
                "Variant",
                "High-vol trades",
                "HV win rate",
                "HV PF",
                "HV return contribution",
                "Worst fold (return)",
                "2x costs: return",
                "2x costs: Sharpe",
                "2x costs: max DD",
            ],
            stress_rows,
        )
    )
    parts += ["<h2>Method</h2>", f"<pre>{esc(_METHOD)}</pre>"]
    reasons = report["null_reasons"]
    parts.append("<h2>Values that could not be computed</h2>")
    if reasons:
        parts.append(
            "<ul>"
            + "".join(
                f"<li><code>{esc(path)}</code>: {esc(reason)}</li>"
                for path, reason in reasons.items()
            )
            + "</ul>"
        )
    else:
        parts.append("<p>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


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
    rows.append(
        f"meta − primary Sharpe: {_num2(diff['value'])} {_interval(diff['ci95'], _num2)} "
        f"(paired block bootstrap); {len(report['variants']['meta']['folds'])} folds of "
        f"30 days, {source['timerange']}, commit {source['commit']}"
    )
    return "\n".join(rows)


def lifecycle_summary(log_path: Path | None) -> dict[str, Any]:
    """Promotions and refusals of the meta run's model lifecycle, per pair and window."""
    from metalabel.model.lifecycle import LifecycleLog

    events = LifecycleLog(log_path).read() if log_path is not None else []
    by_pair: dict[str, dict[str, Any]] = {}
    for event in events:
        pair = by_pair.setdefault(
            str(event.get("pair")), {"promotions": 0, "refusals": 0, "windows": []}
        )
        promoted = event.get("decision") == "promote"
        pair["promotions" if promoted else "refusals"] += 1
        pair["windows"].append(
            {
                "window_end": str(event.get("window_end")),
                "decision": str(event.get("decision")),
                "active_version": event.get("active_version"),
            }
        )
    return {
        "available": bool(events),
        "promotions": sum(p["promotions"] for p in by_pair.values()),
        "refusals": sum(p["refusals"] for p in by_pair.values()),
        "by_pair": by_pair,
    }
