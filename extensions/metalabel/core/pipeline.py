"""The one place that assembles a pair's frame, step by step, for every consumer.

1h features -> funding features -> 4h confirmation trend -> primary signal -> regime ->
model inputs -> labels. The strategy's hooks, the FreqAI plugin (through the strategy's
FreqAI hooks), the tuner and the report all call these functions, so a change to a step
lands once. Each step is idempotent on its own columns and returns a new frame.

The 4h trend reaches the strategy through freqtrade's ``@informative`` decorator
(:func:`trend_4h` is the decorated body); frames the decorator does not see (FreqAI's
training frames, the tuner) get it from :func:`with_trend_4h`, merged the same
lookahead-free way by freqtrade's ``merge_informative_pair``: a 4h candle is known from
the first 1h candle after it closes.

Only :func:`with_labels` reads the future (through :mod:`metalabel.core.labels`); its
columns are for training and evaluation, never for a trading decision.

Unlike the rest of ``core`` this module imports freqtrade, for two helpers whose exact
behaviour the frames must share with the bot: ``merge_informative_pair`` and the candle
loader (which fills gaps with zero-volume candles as the dataprovider does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.data.btanalysis.historic_precision import get_tick_size_over_time
from freqtrade.data.history import load_pair_history
from freqtrade.enums import CandleType
from freqtrade.strategy import merge_informative_pair

from metalabel.config import MetalabelConfig
from metalabel.core.candles import detail_coverage
from metalabel.core.features import add_features, add_funding_features
from metalabel.core.labels import detail_path, triple_barrier_labels
from metalabel.core.regime import classify_regime
from metalabel.core.signals import primary_signal, trend_direction
from metalabel.model.inputs import model_feature_columns
from metalabel.model.window import BARRIER_COLUMN, EXIT_TIME_COLUMN, NET_RETURN_COLUMN

logger = logging.getLogger(__name__)

TIMEFRAME = "1h"
CONFIRMATION_TIMEFRAME = "4h"
DETAIL_TIMEFRAME = "15m"  # freqtrade's timeframe_detail: the labels walk the same candles
DATA_FORMAT = "feather"

# FreqAI's target column; the outcome columns beside it are the model plugin's names.
TARGET_COLUMN = "&-label"
# Column names of the tuner's event rows.
LABEL_COLUMN = "label"
RETURN_COLUMN = "net_return"
EXIT_COLUMN = "exit_time"


@dataclass(frozen=True)
class CandleBundle:
    """One pair's candles as the dataprovider serves them in a backtest."""

    pair: str
    candles_1h: pd.DataFrame
    candles_4h: pd.DataFrame
    funding: pd.DataFrame
    detail: pd.DataFrame  # 15m candles
    mark: pd.DataFrame  # 1h mark-price candles


def load_bundle(data_dir: Path, pair: str) -> CandleBundle:
    """Load 1h and 4h futures candles and funding rates of ``pair`` from ``data_dir``.

    ``data_dir`` is the folder holding the ``*-futures.feather`` files (the CLI's
    ``--data-dir``, e.g. ``user_data/data/bybit/futures``); freqtrade's loader is given
    its parent because it appends ``futures/`` for futures candle types itself.
    """
    datadir = data_dir.parent

    def load(timeframe: str, candle_type: CandleType) -> pd.DataFrame:
        return load_pair_history(
            pair=pair,
            timeframe=timeframe,
            datadir=datadir,
            data_format=DATA_FORMAT,
            candle_type=candle_type,
        )

    bundle = CandleBundle(
        pair=pair,
        candles_1h=load(TIMEFRAME, CandleType.FUTURES),
        candles_4h=load(CONFIRMATION_TIMEFRAME, CandleType.FUTURES),
        funding=load(TIMEFRAME, CandleType.FUNDING_RATE),
        detail=load(DETAIL_TIMEFRAME, CandleType.FUTURES),
        mark=load(TIMEFRAME, CandleType.MARK),
    )
    if bundle.candles_1h.empty:
        raise FileNotFoundError(f"no {TIMEFRAME} futures candles for {pair} in {data_dir}")
    return bundle


def with_features(
    candles: pd.DataFrame,
    funding: pd.DataFrame | None,
    settings: MetalabelConfig,
    *,
    pair: str | None = None,
) -> pd.DataFrame:
    """1h indicators and funding features (a frame that has them is returned as is).

    ``funding`` is freqtrade's funding-rate candle frame; None or empty gives 0.0 funding
    features with one warning (see :func:`metalabel.core.features.add_funding_features`).
    """
    if "atr_ratio" in candles.columns:
        return candles
    frame = add_features(candles, settings.signal, settings.regime, pair=pair)
    return add_funding_features(frame, None if funding is None or funding.empty else funding)


def trend_4h(
    candles_4h: pd.DataFrame, settings: MetalabelConfig, *, pair: str | None = None
) -> pd.DataFrame:
    """The 4h candles with their EMA ``trend`` column (the body of the ``@informative``
    hook; merged into the 1h frame as ``trend_4h``)."""
    features = add_features(candles_4h, settings.signal, settings.regime, pair=pair)
    return candles_4h.assign(trend=trend_direction(features))


def with_trend_4h(
    frame: pd.DataFrame, candles_4h: pd.DataFrame | None, settings: MetalabelConfig
) -> pd.DataFrame:
    """Add ``trend_4h`` (unless present) from 4h candles, as the decorator merges it.

    Without 4h candles the frame is returned unchanged and the signal goes unconfirmed,
    as in the strategy.
    """
    if "trend_4h" in frame.columns or candles_4h is None or candles_4h.empty:
        return frame
    trend = trend_4h(candles_4h.copy(), settings)[["date", "trend"]]
    return merge_informative_pair(frame, trend, TIMEFRAME, CONFIRMATION_TIMEFRAME, ffill=True)


def with_signals(frame: pd.DataFrame, settings: MetalabelConfig) -> pd.DataFrame:
    """Primary signal and regime columns for ``settings`` (replacing earlier ones, so a
    hyperopt epoch's values take effect)."""
    trend = frame["trend_4h"] if "trend_4h" in frame.columns else None
    signal = primary_signal(frame, settings.signal, trend_4h=trend)
    regime = classify_regime(frame, settings.regime)
    computed = pd.concat([signal, regime], axis=1)
    kept = frame.drop(columns=[c for c in computed.columns if c in frame.columns])
    return pd.concat([kept, computed], axis=1)


def admitted(frame: pd.DataFrame) -> pd.Series:
    """Rows whose primary direction the regime filter admits (the labelled events)."""
    direction = frame["primary_direction"]
    return ((direction > 0) & frame["regime_ok_long"]) | (
        (direction < 0) & frame["regime_ok_short"]
    )


def with_model_inputs(frame: pd.DataFrame, settings: MetalabelConfig) -> pd.DataFrame:
    """Add (or replace) the ``%``-prefixed columns the meta-model reads."""
    features = model_feature_columns(frame, settings.exits)
    return pd.concat([frame.drop(columns=features.columns, errors="ignore"), features], axis=1)


def signal_frame(
    candles: pd.DataFrame,
    candles_4h: pd.DataFrame | None,
    funding: pd.DataFrame | None,
    settings: MetalabelConfig,
) -> pd.DataFrame:
    """Every step up to the primary signal and the regime: what the strategy gates on."""
    frame = with_trend_4h(with_features(candles, funding, settings), candles_4h, settings)
    return with_signals(frame, settings)


def model_frame(
    candles: pd.DataFrame,
    candles_4h: pd.DataFrame | None,
    funding: pd.DataFrame | None,
    settings: MetalabelConfig,
) -> pd.DataFrame:
    """Every step up to the model inputs: what the meta-model sees on each candle."""
    return with_model_inputs(signal_frame(candles, candles_4h, funding, settings), settings)


def tick_decimals(frame: pd.DataFrame) -> pd.Series:
    """The price tick of each row as decimals (tick = 10**-d), as freqtrade's backtester
    derives it (``get_tick_size_over_time``, then ``asof`` the trade's time): the most
    digits any price shows in the row's calendar month."""
    ticks = get_tick_size_over_time(frame[["date", "open", "high", "low", "close"]].copy())
    decimals = pd.Series(-np.log10(ticks.to_numpy(np.float64)), index=ticks.index)
    per_row = decimals.dropna().reindex(frame["date"], method="ffill").bfill()
    return pd.Series(np.rint(per_row.to_numpy()).astype(np.int64), index=frame.index)


def with_labels(
    frame: pd.DataFrame,
    detail: pd.DataFrame | None,
    funding: pd.DataFrame | None,
    mark: pd.DataFrame | None,
    settings: MetalabelConfig,
    *,
    pair: str = "",
) -> pd.DataFrame:
    """Label every admitted signal row (reads the future; NaN elsewhere).

    The trade is simulated on the 15m ``detail`` candles as freqtrade's backtester
    settles it (:mod:`metalabel.core.labels`); without 15m candles there is no label.
    Adds FreqAI's string target ``&-label`` ("take"/"skip"/NaN) and the outcome behind
    it, ``label_net_return``, ``label_barrier`` and ``label_exit_time`` (FreqAI trains
    only on ``%`` and ``&`` columns, so these are never model inputs).
    """
    events = frame["primary_direction"].where(admitted(frame), 0)
    if detail is None or detail.empty:
        logger.warning("%s: no %s candles, so no labels", pair or "pair", DETAIL_TIMEFRAME)
        detail = pd.DataFrame(columns=["date", "open", "high", "low"])
    else:
        end = frame["date"].iloc[-1] + pd.Timedelta(hours=1)
        coverage = detail_coverage(pair, detail, frame["date"].iloc[0], end, hours=frame["date"])
        if not coverage.complete:  # their signals get no label (counted by the labeller)
            logger.warning("%s", coverage.describe())
    path = detail_path(
        frame,
        detail,
        funding=funding if settings.costs.include_funding else None,
        mark=mark,
    )
    labels = triple_barrier_labels(
        frame,
        path,
        events,
        settings.exits,
        settings.costs,
        leverage=settings.risk.leverage,
        tick_decimals=tick_decimals(frame),
        vol_scale=frame["atr_ratio"],
    )
    return frame.assign(
        **{
            TARGET_COLUMN: labels["label"],
            NET_RETURN_COLUMN: labels["net_return"],
            BARRIER_COLUMN: labels["barrier"],
            EXIT_TIME_COLUMN: labels["exit_time"].where(labels["label"].notna()),
        }
    )


def labelled_events(bundle: CandleBundle, settings: MetalabelConfig) -> pd.DataFrame:
    """The rows FreqAI trains on: one per admitted, labelled signal with finite features.

    Columns: ``date``, the ``%-`` model inputs, ``label`` ("take"/"skip"),
    ``net_return`` (the labelled trade's return after costs) and ``exit_time`` (when
    that trade exits), in candle order with a
    fresh index. Rows with a missing feature are dropped, as FreqAI's training filter
    drops them. ``funding`` may be empty (no funding data).
    """
    b = bundle
    frame = model_frame(b.candles_1h, b.candles_4h, b.funding, settings)
    frame = with_labels(frame, b.detail, b.funding, b.mark, settings, pair=b.pair)
    inputs = [c for c in frame.columns if c.startswith("%")]
    finite = np.isfinite(frame[inputs].to_numpy(dtype=np.float64)).all(axis=1)
    keep = frame[TARGET_COLUMN].notna().to_numpy() & finite
    columns = ["date", *inputs, TARGET_COLUMN, NET_RETURN_COLUMN, EXIT_TIME_COLUMN]
    rows = frame.loc[keep, columns].rename(
        columns={
            TARGET_COLUMN: LABEL_COLUMN,
            NET_RETURN_COLUMN: RETURN_COLUMN,
            EXIT_TIME_COLUMN: EXIT_COLUMN,
        }
    )
    logger.debug("%d labelled events from %d candles", len(rows), len(frame))
    return rows.reset_index(drop=True)
