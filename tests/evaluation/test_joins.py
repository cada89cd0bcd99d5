"""Joins of the report: each trade's signal candle, and the regime of every candle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metalabel.config import MetalabelConfig
from metalabel.core.features import add_features, add_funding_features
from metalabel.core.pipeline import load_bundle, with_signals, with_trend_4h
from metalabel.evaluation.report.joins import candle_regimes, signal_candle_values
from metalabel.ops.runner import BUNDLED_DATA

PAIR = "BTC/USDT:USDT"


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_regimes_are_the_ones_of_the_strategys_full_frame() -> None:
    """The report leaves out the 4h trend and funding: they must not move the regime."""
    settings = MetalabelConfig()
    bundle = load_bundle(BUNDLED_DATA, PAIR)
    candles = bundle.candles_1h.iloc[:3000].reset_index(drop=True)
    frame = add_funding_features(add_features(candles, settings.signal, settings.regime), None)
    full = with_signals(with_trend_4h(frame, bundle.candles_4h, settings), settings)
    regimes = candle_regimes({PAIR: candles}, settings)
    assert list(regimes.columns) == ["pair", "date", "regime"]
    assert (regimes["pair"] == PAIR).all()
    assert regimes["date"].tolist() == candles["date"].tolist()
    assert regimes["regime"].tolist() == full["regime"].tolist()
    assert regimes["regime"].nunique() > 1  # the slice crosses regimes


def test_a_trade_reads_the_candle_before_its_entry_and_a_gap_reads_nothing() -> None:
    table = pd.DataFrame(
        {
            "pair": ["A", "A", "A", "B"],
            "date": [_utc(f"2025-01-01 {hour}:00") for hour in ("08", "09", "10", "09")],
            "regime": ["ranging", "trending_up", "high_volatility", "trending_down"],
        }
    )
    trades = pd.DataFrame(
        {
            "pair": ["A", "B", "A", "B"],
            "open_date": [
                _utc("2025-01-01 10:00"),  # signal candle 09:00, not the 10:00 entry candle
                _utc("2025-01-01 10:00"),  # the other pair's 09:00 candle
                _utc("2025-01-01 08:00"),  # no candle before entry: NaN
                _utc("2025-01-01 12:00"),  # last B candle 09:00 is 3h old (> 1h): NaN
            ],
        },
        index=[7, 3, 5, 1],
    )
    got = signal_candle_values(trades, table, ["regime"], timeframe="1h")
    assert got.index.tolist() == [7, 3, 5, 1]
    assert got["regime"].tolist()[:2] == ["trending_up", "trending_down"]
    assert got["regime"].iloc[2:].isna().all()


def test_no_trades_or_no_candles_give_an_aligned_empty_join() -> None:
    trades = pd.DataFrame({"pair": ["A"], "open_date": [_utc("2025-01-01 10:00")]})
    empty = pd.DataFrame({"pair": [], "date": [], "regime": []})
    got = signal_candle_values(trades, empty, ["regime"], timeframe="1h")
    assert got.shape == (1, 1) and np.isnan(got["regime"].iloc[0])
