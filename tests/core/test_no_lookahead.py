"""No lookahead: every column computed on ``df[:n]`` equals the full-frame value before ``n``.

Runs the whole feature -> signal -> regime chain on 1500 real BTC hours (with funding,
and the 4h confirmation aligned through freqtrade's ``merge_informative_pair``) once on
the full slice and again on many prefixes. A column that read a later row would change
when the later rows are cut off. Funding is cut at the prefix's last candle too, so a
forward as-of join would also show up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from freqtrade.strategy import merge_informative_pair
from hypothesis import example, given, settings
from hypothesis import strategies as st

from metalabel.config import RegimeSettings, SignalSettings
from metalabel.core.features import add_features, add_funding_features
from metalabel.core.regime import classify_regime
from metalabel.core.signals import primary_signal, trend_direction

DATA = Path(__file__).resolve().parents[2] / "user_data" / "data" / "bybit" / "futures"
START, ROWS = 4000, 1500  # a stretch with all four regimes, incl. two volatility bursts
SIGNAL, REGIME = SignalSettings(), RegimeSettings()
OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


@cache
def candles(with_bad_rows: bool) -> pd.DataFrame:
    """1500 hours of BTC (2024-05 to 2024-07), optionally damaged."""
    df = pd.read_feather(DATA / "BTC_USDT_USDT-1h-futures.feather").iloc[START : START + ROWS]
    df = df.reset_index(drop=True)
    if with_bad_rows:
        df.loc[[100, 900], "volume"] = 0.0  # freqtrade's filler candles
        df.loc[500, "close"] = np.nan  # a corrupt candle
        df.loc[300, "high"] = 1e308  # an absurd range, refused against past candles only
        df.loc[700, "low"] = df.loc[700, ["open", "close"]].max() + 1.0  # low above the body
        df.loc[1100, ["open", "high", "low", "close"]] *= 10.0  # printed at a wrong level
    return df


@cache
def funding() -> pd.DataFrame:
    return pd.read_feather(DATA / "BTC_USDT_USDT-1h-funding_rate.feather")


def trend_4h(df: pd.DataFrame) -> pd.Series:
    """The 4h confirmation as the strategy builds it: 4h candles, EMA trend, merged back."""
    four_hour = df.set_index("date").resample("4h", label="left", closed="left").agg(OHLCV)
    four_hour = add_features(four_hour.dropna().reset_index(), SIGNAL, REGIME)
    four_hour["trend"] = trend_direction(four_hour)
    merged = merge_informative_pair(df[["date"]], four_hour[["date", "trend"]], "1h", "4h")
    return merged["trend_4h"]


def pipeline(df: pd.DataFrame) -> pd.DataFrame:
    """Every column the strategy reads, computed only from ``df`` and funding up to it."""
    known_funding = funding()[funding()["date"] <= df["date"].iloc[-1]]
    out = add_funding_features(add_features(df, SIGNAL, REGIME), known_funding)
    signal = primary_signal(out, SIGNAL, trend_4h=trend_4h(df))
    return pd.concat([out, signal, classify_regime(out, REGIME)], axis=1)


@cache
def full(with_bad_rows: bool) -> pd.DataFrame:
    return pipeline(candles(with_bad_rows))


def assert_same_prefix(prefix: pd.DataFrame, whole: pd.DataFrame) -> None:
    assert list(prefix.columns) == list(whole.columns)
    for column in prefix.columns:
        got, want = prefix[column], whole[column].iloc[: len(prefix)]
        if pd.api.types.is_float_dtype(want):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15, err_msg=column)
        else:
            assert got.tolist() == want.tolist(), column


def test_the_slice_is_long_enough_to_exercise_every_column() -> None:
    whole = full(False)
    assert whole["volatility_regime"].notna().sum() > 500
    assert whole["funding_rate_trend"].notna().sum() > 500
    assert whole["primary_long"].any() and whole["primary_short"].any()
    assert whole["regime"].nunique() == 4


@pytest.mark.parametrize(
    "with_bad_rows",
    [
        False,  # the data as bundled
        True,  # with zero-volume, NaN and malformed candles that the features skip
    ],
)
@settings(max_examples=30, deadline=None, derandomize=True)
@given(n=st.integers(min_value=1, max_value=ROWS - 1))
@example(n=34)  # first MACD value
@example(n=64)  # first ATR ratio
@example(n=734)  # first volatility level (ATR 14 + 720-candle window)
@example(n=901)  # just after a damaged candle
@example(n=301)  # the 1e308 high is the last candle
@example(n=1101)  # the wrong-level candle is the last candle
@example(n=1102)  # and the one after it is judged against the last good close
def test_prefix_equals_full_frame(with_bad_rows: bool, n: int) -> None:
    prefix = pipeline(candles(with_bad_rows).iloc[:n].copy())
    assert_same_prefix(prefix, full(with_bad_rows))


def test_the_damaged_slice_refuses_exactly_the_damaged_candles() -> None:
    damaged = [100, 300, 500, 700, 900, 1100]
    ok = full(True)["candle_ok"]
    assert not ok.iloc[damaged].any()
    assert ok.drop(index=damaged).all()
