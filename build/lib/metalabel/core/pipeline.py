"""The meta-model's training rows outside freqtrade: features, label and outcome per event.

Tooling, not bot code: ``metalabel tune`` needs the very rows FreqAI trains on, without
running a backtest. The steps mirror ``MetaLabelStrategy``'s FreqAI hooks one for one
(``_features``, ``_with_trend_4h``, ``_signals``, ``feature_engineering_standard``,
``set_freqai_targets``, ``_funding_at_bar``, ``_admitted``); ``tests/test_dataset.py``
checks that both give the same frame.

Unlike the rest of the package this module imports freqtrade: the 4h confirmation must
be aligned by ``merge_informative_pair`` exactly as the strategy aligns it, and the
candles must come through freqtrade's loader (which fills gaps with zero-volume candles)
exactly as the dataprovider serves them. The labels read the future (see
:mod:`metalabel.core.labels`): the rows are for training and evaluation only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.data.history import load_pair_history
from freqtrade.enums import CandleType
from freqtrade.strategy import merge_informative_pair

from metalabel.config import MetalabelConfig
from metalabel.core.features import add_features, add_funding_features
from metalabel.core.labels import triple_barrier_labels
from metalabel.core.regime import classify_regime
from metalabel.core.signals import primary_signal, trend_direction
from metalabel.model.inputs import model_feature_columns

logger = logging.getLogger(__name__)

TIMEFRAME = "1h"
CONFIRMATION_TIMEFRAME = "4h"
LABEL_COLUMN = "label"
RETURN_COLUMN = "net_return"
DATA_FORMAT = "feather"


@dataclass(frozen=True)
class CandleBundle:
    """One pair's candles as the dataprovider serves them in a backtest."""

    pair: str
    candles_1h: pd.DataFrame
    candles_4h: pd.DataFrame
    funding: pd.DataFrame


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
    )
    if bundle.candles_1h.empty:
        raise FileNotFoundError(f"no {TIMEFRAME} futures candles for {pair} in {data_dir}")
    return bundle


def with_trend_4h(
    frame: pd.DataFrame, candles_4h: pd.DataFrame, settings: MetalabelConfig
) -> pd.DataFrame:
    """Add ``trend_4h``: the 4h EMA trend, known from the first 1h candle after the 4h close.

    Without 4h candles the frame is returned unchanged and the signal goes unconfirmed,
    as in the strategy.
    """
    if candles_4h.empty:
        return frame
    features_4h = add_features(candles_4h.copy(), settings.signal, settings.regime)
    trend = candles_4h[["date"]].assign(trend=trend_direction(features_4h))
    return merge_informative_pair(frame, trend, TIMEFRAME, CONFIRMATION_TIMEFRAME, ffill=True)


def with_signals(frame: pd.DataFrame, settings: MetalabelConfig) -> pd.DataFrame:
    """Primary signal and regime columns, as ``MetaLabelStrategy._signals`` adds them."""
    trend_4h = frame["trend_4h"] if "trend_4h" in frame.columns else None
    signal = primary_signal(frame, settings.signal, trend_4h=trend_4h)
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


def funding_at_bar(dates: pd.Series, funding: pd.DataFrame) -> pd.Series | None:
    """The funding rate charged at each bar's open time (0 where none is charged)."""
    if funding.empty:
        return None
    rates = funding.set_index("date")["open"]
    return dates.map(rates).fillna(0.0)


def labelled_events(
    candles_1h: pd.DataFrame,
    candles_4h: pd.DataFrame,
    funding: pd.DataFrame,
    settings: MetalabelConfig,
) -> pd.DataFrame:
    """The rows FreqAI trains on: one per admitted, labelled signal with finite features.

    Columns: ``date``, the ``%-`` features of :func:`model_feature_columns`, ``label``
    ("take"/"skip") and ``net_return`` (the labelled trade's return after costs), in
    candle order with a fresh index. Rows with a missing feature are dropped, as
    FreqAI's training filter drops them. ``funding`` may be empty (no funding data).
    """
    frame = add_features(candles_1h, settings.signal, settings.regime)
    frame = add_funding_features(frame, None if funding.empty else funding)
    frame = with_signals(with_trend_4h(frame, candles_4h, settings), settings)
    features = model_feature_columns(frame)
    events = frame["primary_direction"].where(admitted(frame), 0)
    labels = triple_barrier_labels(
        frame,
        events,
        settings.exits,
        settings.costs,
        vol_scale=frame["atr_ratio"],
        funding_rate=funding_at_bar(frame["date"], funding),
    )
    finite = np.isfinite(features.to_numpy(dtype=np.float64)).all(axis=1)
    keep = labels["label"].notna().to_numpy() & finite
    out = pd.concat(
        [
            frame[["date"]],
            features,
            labels[["label", "net_return"]].rename(
                columns={"label": LABEL_COLUMN, "net_return": RETURN_COLUMN}
            ),
        ],
        axis=1,
    )
    rows = out.loc[keep].reset_index(drop=True)
    logger.debug("%d labelled events from %d candles", len(rows), len(frame))
    return rows
