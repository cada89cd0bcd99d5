"""The model inputs are stationary, read only the past, and survive missing funding."""

import numpy as np
import pandas as pd

from metalabel.config import MetalabelConfig
from metalabel.core.pipeline import load_bundle, model_frame
from metalabel.model.inputs import signal_context
from metalabel.ops.runner import BUNDLED_DATA

PAIR = "BTC/USDT:USDT"


def _features(bundle, end: str | None = None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    candles = bundle.candles_1h
    if end is not None:
        candles = candles[candles["date"] < end].reset_index(drop=True)
    frame = model_frame(candles, bundle.candles_4h, bundle.funding, MetalabelConfig())
    return frame.set_index("date")[[c for c in frame.columns if c.startswith("%")]]


def test_the_features_of_a_candle_do_not_change_when_later_candles_arrive() -> None:
    bundle = load_bundle(BUNDLED_DATA, PAIR)
    full = _features(bundle)
    cut = _features(bundle, "2025-03-01")
    common = cut.index[-500:]
    pd.testing.assert_frame_equal(cut.loc[common], full.loc[common], check_exact=False, rtol=1e-9)


def test_scale_free_features_keep_their_scale_across_years() -> None:
    # the MACD histogram in price units grew six-fold from 2023 to 2025; in ATRs it may not
    full = _features(load_bundle(BUNDLED_DATA, PAIR))
    early, late = full.loc["2024-01":"2024-06"], full.loc["2026-01":"2026-06"]
    for column in ("%-macd_hist_atr", "%-ema_slow_atr", "%-bb_width_z", "%-atr_to_close_pct"):
        ratio = late[column].abs().median() / early[column].abs().median()
        assert 0.5 < ratio < 2.0, (column, ratio)


def test_signal_context_counts_runs_and_gaps() -> None:
    context = signal_context(pd.Series([0, 1, 1, 0, 0, -1, 1, 1]))
    assert context["signal_age"].tolist() == [0, 1, 2, 0, 0, 1, 1, 2]
    # gap before each run: none seen yet (cap), 2 flat candles, 0 (a reversal)
    assert context["candles_since_last_run"].tolist() == [168, 168, 168, 0, 1, 2, 0, 0]


def test_without_funding_the_funding_features_are_zero_not_missing() -> None:
    bundle = load_bundle(BUNDLED_DATA, PAIR)
    candles = bundle.candles_1h.iloc[:2000].reset_index(drop=True)
    frame = model_frame(candles, bundle.candles_4h, bundle.funding.iloc[:0], MetalabelConfig())
    funding = frame[["%-funding_rate_z", "%-funding_rate_trend_z"]].iloc[1000:]
    assert (funding == 0.0).all().all()
    assert np.isfinite(frame.filter(like="%-").iloc[1000:].to_numpy()).all()
