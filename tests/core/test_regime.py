"""Regime classification on hand-set rows and on scripted price paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metalabel.config import RegimeSettings, SignalSettings
from metalabel.core.features import add_features
from metalabel.core.regime import Regime, classify_regime

DEFAULTS = RegimeSettings()  # ADX 25, ATR ratio 2.0, size multiplier 0.5, ranging blocked
NAN = float("nan")
UP, DOWN, RANGING, VOLATILE = (
    Regime.TRENDING_UP,
    Regime.TRENDING_DOWN,
    Regime.RANGING,
    Regime.HIGH_VOLATILITY,
)


def regime_row(
    atr_ratio: float = 1.0,
    adx: float = 30.0,
    close: float = 101.0,
    ema_trend: float = 100.0,
    momentum: float = 0.01,
) -> dict[str, float]:
    """One row of the regime's inputs; the defaults are a clean up trend."""
    return {
        "atr_ratio": atr_ratio,
        "adx": adx,
        "close": close,
        "ema_trend": ema_trend,
        "momentum": momentum,
    }


ROW_CASES = [
    # (row, regime, ok_long, ok_short, size multiplier)
    # strong ADX, price above EMA50, positive momentum
    (regime_row(), UP, True, False, 1.0),
    # the mirror image
    (regime_row(close=99.0, momentum=-0.01), DOWN, False, True, 1.0),
    # weak ADX -> ranging, which blocks both sides
    (regime_row(adx=20.0), RANGING, False, False, 1.0),
    # tie: ADX exactly at the threshold is ranging
    (regime_row(adx=25.0), RANGING, False, False, 1.0),
    # strong ADX but momentum disagrees with price -> ranging
    (regime_row(momentum=-0.01), RANGING, False, False, 1.0),
    # strong ADX but price below EMA50 with positive momentum -> ranging
    (regime_row(close=99.0), RANGING, False, False, 1.0),
    # tie: close exactly on EMA50 is neither side -> ranging
    (regime_row(close=100.0), RANGING, False, False, 1.0),
    # tie: zero momentum is neither side -> ranging
    (regime_row(momentum=0.0), RANGING, False, False, 1.0),
    # ATR above 2x its mean wins over a trend: both sides at half size
    (regime_row(atr_ratio=2.5), VOLATILE, True, True, 0.5),
    # and over a weak ADX
    (regime_row(atr_ratio=3.0, adx=10.0), VOLATILE, True, True, 0.5),
    # tie: ATR ratio exactly 2.0 is not high volatility
    (regime_row(atr_ratio=2.0), UP, True, False, 1.0),
    # a NaN input -> ranging and never ok, even with a volatile ATR
    (regime_row(adx=NAN, atr_ratio=2.5), RANGING, False, False, 1.0),
    (regime_row(momentum=NAN), RANGING, False, False, 1.0),
    (regime_row(atr_ratio=NAN), RANGING, False, False, 1.0),
]


@pytest.mark.parametrize(("row", "regime", "ok_long", "ok_short", "multiplier"), ROW_CASES)
def test_regime_per_row(
    row: dict[str, float], regime: Regime, ok_long: bool, ok_short: bool, multiplier: float
) -> None:
    out = classify_regime(pd.DataFrame([row]), DEFAULTS).iloc[0]
    assert out["regime"] == regime
    assert (out["regime_ok_long"], out["regime_ok_short"]) == (ok_long, ok_short)
    assert out["regime_size_multiplier"] == multiplier


@pytest.mark.parametrize(
    ("row", "ok"),
    [
        (regime_row(adx=20.0), (True, True)),  # ranging is admitted when allowed
        (regime_row(adx=NAN), (False, False)),  # unknown inputs still admit nothing
        (regime_row(), (True, False)),  # trending keeps its one side
    ],
)
def test_allow_ranging(row: dict[str, float], ok: tuple[bool, bool]) -> None:
    out = classify_regime(pd.DataFrame([row]), RegimeSettings(allow_ranging=True)).iloc[0]
    assert (out["regime_ok_long"], out["regime_ok_short"]) == ok


def test_disabled_regime_admits_everything_at_full_size() -> None:
    rows = [regime_row(adx=20.0), regime_row(atr_ratio=3.0), regime_row(adx=NAN)]
    out = classify_regime(pd.DataFrame(rows), RegimeSettings(enabled=False))
    assert out["regime_ok_long"].all() and out["regime_ok_short"].all()
    assert (out["regime_size_multiplier"] == 1.0).all()
    # The label itself is still computed, for plots and as a model input.
    assert out["regime"].tolist() == [RANGING, VOLATILE, RANGING]


@pytest.mark.parametrize(
    ("row", "adx_score", "atr_ratio_score"),
    [
        (regime_row(adx=30.0, atr_ratio=1.0), 0.2, -0.5),  # (30-25)/25, (1-2)/2
        (regime_row(adx=25.0, atr_ratio=2.0), 0.0, 0.0),  # on both thresholds
        (regime_row(adx=50.0, atr_ratio=5.0), 1.0, 1.5),
        (regime_row(adx=NAN, atr_ratio=NAN), NAN, NAN),  # unknown stays unknown
    ],
)
def test_continuous_scores(row: dict[str, float], adx_score: float, atr_ratio_score: float) -> None:
    out = classify_regime(pd.DataFrame([row]), DEFAULTS).iloc[0]
    np.testing.assert_allclose(
        [out["adx_score"], out["atr_ratio_score"]], [adx_score, atr_ratio_score]
    )


def test_output_keeps_the_index_and_compares_with_the_enum() -> None:
    df = pd.DataFrame([regime_row(), regime_row(adx=20.0)], index=[5, 9])
    out = classify_regime(df, DEFAULTS)
    assert out.index.equals(df.index)
    assert (out["regime"] == Regime.TRENDING_UP).tolist() == [True, False]
    assert Regime("ranging") is RANGING


# --- scripted price paths through the real indicators --------------------------------------


def path(close: np.ndarray, range_ratio: np.ndarray | float = 0.004) -> pd.DataFrame:
    """Hourly candles along ``close`` with a high-low range of ``range_ratio`` x close."""
    half = close * np.asarray(range_ratio) / 2
    open_ = np.concatenate([close[:1], close[:-1]])
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=len(close), freq="1h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + half,
            "low": np.minimum(open_, close) - half,
            "close": close,
            "volume": 10.0,
        }
    )


def regimes_of(df: pd.DataFrame) -> pd.DataFrame:
    featured = add_features(df, SignalSettings(), DEFAULTS)
    return classify_regime(featured, DEFAULTS)


STEPS = np.arange(200)


@pytest.mark.parametrize(
    ("close", "regime"),
    [
        # a steady 0.5% rise per hour
        (100.0 * 1.005**STEPS, UP),
        # a steady 0.5% fall per hour
        (100.0 * 0.995**STEPS, DOWN),
        # a 1% zig-zag around 100: no direction
        (100.0 + np.where(STEPS % 2 == 0, 0.5, -0.5), RANGING),
    ],
)
def test_scripted_paths(close: np.ndarray, regime: Regime) -> None:
    out = regimes_of(path(close))
    assert (out["regime"].iloc[150:] == regime).all()


def test_warm_up_rows_are_ranging_and_blocked() -> None:
    out = regimes_of(path(100.0 * 1.005**STEPS))
    # ATR 14 + a 50-candle mean: the ATR ratio is unknown on the first 63 rows.
    assert (out["regime"].iloc[:63] == RANGING).all()
    assert not out[["regime_ok_long", "regime_ok_short"]].iloc[:63].any().any()


def test_volatility_burst_after_a_trend() -> None:
    # The rise goes on, but the last 10 candles swing 10x wider than before.
    wide = np.where(STEPS >= 190, 0.04, 0.004)
    out = regimes_of(path(100.0 * 1.005**STEPS, wide))
    assert out["regime"].iloc[180] == UP
    assert out["regime"].iloc[195] == VOLATILE
    assert out["regime_size_multiplier"].iloc[195] == 0.5
    assert out["regime_ok_long"].iloc[195] and out["regime_ok_short"].iloc[195]
