"""Indicators and features on tiny frames whose values can be checked by hand."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from metalabel.config import RegimeSettings, SignalSettings
from metalabel.core import features
from metalabel.core.features import (
    FEATURE_COLUMNS,
    FUNDING_COLUMNS,
    add_features,
    add_funding_features,
    funding_rate_asof,
    volatility_regime,
)

# Short periods so that a 10-row frame is past every warm-up except the 720-candle window.
SMALL_SIGNAL = SignalSettings(
    ema_fast_period=2,
    ema_slow_period=3,
    ema_trend_period=5,
    rsi_period=2,
    macd_fast_period=2,
    macd_slow_period=3,
    macd_signal_period=2,
)
SMALL_REGIME = RegimeSettings(atr_period=2, atr_mean_candles=5, adx_period=2, momentum_candles=2)
# Every column whose value comes from prices or volume (time features are defined anyway).
PRICE_FEATURES = [c for c in FEATURE_COLUMNS if c not in ("hour", "weekday")]


def make_candles(
    close: list[float],
    *,
    spread: float = 1.0,
    volume: list[float] | None = None,
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Hourly candles opening at the previous close, high/low ``spread`` beyond the body."""
    c = np.asarray(close, dtype=float)
    open_ = np.concatenate([c[:1], c[:-1]])
    return pd.DataFrame(
        {
            "date": pd.date_range(start, periods=len(c), freq="1h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, c) + spread,
            "low": np.minimum(open_, c) - spread,
            "close": c,
            "volume": np.full(len(c), 10.0) if volume is None else np.asarray(volume, float),
        }
    )


def small_features(df: pd.DataFrame) -> pd.DataFrame:
    return add_features(df, SMALL_SIGNAL, SMALL_REGIME)


def values(series: pd.Series) -> list[float]:
    """Rounded list with NaN kept, for readable equality checks."""
    return [round(float(v), 10) for v in series]


def test_adds_every_feature_column_and_leaves_the_input_alone() -> None:
    df = make_candles(list(range(1, 11)))
    before = df.copy()
    out = small_features(df)
    assert set(FEATURE_COLUMNS) <= set(out.columns)
    pd.testing.assert_frame_equal(df, before)
    assert out.index.equals(df.index)


def test_simple_moving_averages() -> None:
    out = small_features(make_candles([1, 2, 3, 4, 5, 6], spread=0.5))  # low > 0
    # SMA 2 of 1..6: mean of each close and the one before it.
    np.testing.assert_allclose(out["sma_fast"], [np.nan, 1.5, 2.5, 3.5, 4.5, 5.5])
    # SMA 5: first full window at row 4 -> (1+2+3+4+5)/5 = 3.
    np.testing.assert_allclose(out["sma_trend"], [np.nan] * 4 + [3.0, 4.0])


def test_ema_is_seeded_with_the_sma() -> None:
    # EMA 3 (alpha 0.5): seed SMA(1,2,3) = 2, then 0.5*4 + 0.5*2 = 3, then 0.5*5 + 0.5*3 = 4.
    out = small_features(make_candles([1, 2, 3, 4, 5], spread=0.5))
    np.testing.assert_allclose(out["ema_slow"], [np.nan, np.nan, 2.0, 3.0, 4.0])


def test_volume_ratio_divides_by_the_trailing_mean_including_the_current_candle() -> None:
    volume = [10.0] * 23 + [20.0, 10.0]
    out = small_features(make_candles([100.0] * 25, volume=volume))
    # Row 23: mean of rows 0..23 = (23*10 + 20) / 24 -> 20 / (250/24) = 1.92.
    assert out["volume_ratio"].iloc[:23].isna().all()
    assert out["volume_ratio"].iloc[23] == pytest.approx(1.92)
    # Row 24: window rows 1..24 still holds the 20 -> 10 / (250/24) = 0.96.
    assert out["volume_ratio"].iloc[24] == pytest.approx(0.96)


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        ([100.0, 100.0, 110.0], 0.10),  # +10% over momentum_candles = 2
        ([100.0, 120.0, 90.0], -0.10),  # only the close 2 candles back counts
        ([50.0, 1.0, 50.0], 0.0),  # a round trip is zero
    ],
)
def test_momentum(close: list[float], expected: float) -> None:
    out = small_features(make_candles(close, spread=0.5))
    assert out["momentum"].iloc[:2].isna().all()
    assert out["momentum"].iloc[2] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("date", "hour", "weekday"),
    [
        ("2024-01-01 00:00", 0, 0),  # a Monday at midnight
        ("2024-01-06 23:00", 23, 5),  # Saturday, last hour of the day
        ("2024-01-07 13:00", 13, 6),  # Sunday
    ],
)
def test_time_features_in_utc(date: str, hour: int, weekday: int) -> None:
    out = small_features(make_candles([100.0], start=date))
    assert (out["hour"].iloc[0], out["weekday"].iloc[0]) == (hour, weekday)


def test_time_features_convert_other_zones_to_utc() -> None:
    df = make_candles([100.0])
    df["date"] = pd.Series(pd.to_datetime(["2024-01-01 09:00"])).dt.tz_localize("Asia/Tokyo")
    out = small_features(df)
    # 09:00 in Tokyo is 00:00 UTC on the same Monday.
    assert (out["hour"].iloc[0], out["weekday"].iloc[0]) == (0, 0)


def test_bollinger_width_is_zero_on_a_constant_series() -> None:
    out = add_features(make_candles([100.0] * 25), SignalSettings(), RegimeSettings())
    assert out["bb_width"].iloc[:19].isna().all()
    assert (out["bb_width"].iloc[19:] == 0.0).all()
    for column in ("bb_upper", "bb_middle", "bb_lower"):
        assert (out[column].iloc[19:] == 100.0).all()


def test_atr_of_a_constant_range_and_its_ratio() -> None:
    # High - low = 2 and no gaps: true range 2 everywhere, so ATR 2, mean 2, ratio 1.
    out = small_features(make_candles([100.0] * 10))
    np.testing.assert_allclose(out["atr"].iloc[2:], 2.0)
    assert out["atr_mean"].iloc[:6].isna().all()  # ATR warm-up 2 + mean window 5 - 1
    np.testing.assert_allclose(out["atr_ratio"].iloc[6:], 1.0)


@pytest.mark.parametrize(
    ("step", "rsi"),
    [
        (1.0, 100.0),  # only gains
        (-1.0, 0.0),  # only losses
    ],
)
def test_rsi_of_a_one_way_series(step: float, rsi: float) -> None:
    out = small_features(make_candles([100.0 + step * i for i in range(8)]))
    np.testing.assert_allclose(out["rsi"].iloc[2:], rsi)


def test_adx_and_stochastic_of_a_clean_uptrend() -> None:
    # Every candle makes a higher high and a higher low and closes at its high.
    close = np.arange(100.0, 140.0)
    df = make_candles(list(close))
    df["high"] = close
    out = add_features(df, SignalSettings(), RegimeSettings())
    np.testing.assert_allclose(out["adx"].dropna(), 100.0)  # no -DM at all -> DX = 100
    np.testing.assert_allclose(out["stoch_k"].dropna(), 100.0)  # close at the 14-candle high
    np.testing.assert_allclose(out["stoch_d"].dropna(), 100.0)


def test_macd_is_zero_on_a_constant_series() -> None:
    out = add_features(make_candles([100.0] * 40), SignalSettings(), RegimeSettings())
    for column in ("macd", "macd_signal", "macd_hist"):
        assert out[column].iloc[:33].isna().all()  # 26 + 9 - 2 candles of warm-up
        np.testing.assert_allclose(out[column].iloc[33:], 0.0)


def test_raw_obv_level_is_not_a_feature() -> None:
    # OBV is a running sum from the first loaded candle: its level depends on how much
    # history was loaded, so only its normalised change is exposed.
    out = small_features(make_candles([1, 2, 1, 1, 3], spread=0.5, volume=[10, 20, 30, 40, 50]))
    assert "obv" not in out.columns


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        (+1.0, 1.0),  # every candle up: all the window's volume is buying volume
        (-1.0, -1.0),  # every candle down
        (0.0, 0.0),  # flat closes move OBV not at all
    ],
)
def test_obv_change_is_the_signed_share_of_window_volume(direction: float, expected: float) -> None:
    close = [100.0 + direction * i for i in range(30)]
    out = small_features(make_candles(close))
    assert out["obv_change"].iloc[:24].isna().all()
    np.testing.assert_allclose(out["obv_change"].iloc[24:], expected)


def test_obv_change_mixed_window() -> None:
    # 24 candles up on volume 10, then 1 down on volume 30, volume otherwise 10.
    close = [100.0 + i for i in range(25)] + [100.0]
    out = small_features(make_candles(close, volume=[10.0] * 25 + [30.0]))
    # Row 25: window rows 2..25 -> OBV change 23*10 - 30 = 200 over 23*10 + 30 = 260.
    assert out["obv_change"].iloc[25] == pytest.approx(200 / 260)


@pytest.mark.parametrize(
    ("natr", "expected"),
    [
        # Window 3 = current and two before. Row 2: 3.0 is above the 67th pct. of {1,2,3}.
        ([1.0, 2.0, 3.0], [np.nan, np.nan, 2.0]),
        # Falling: the current value is the window's minimum -> low.
        ([3.0, 2.0, 1.0], [np.nan, np.nan, 0.0]),
        # The middle of the window's range -> medium.
        ([1.0, 3.0, 2.0], [np.nan, np.nan, 1.0]),
        # A flat window: the value equals both percentiles -> medium, not low or high.
        ([5.0, 5.0, 5.0, 5.0], [np.nan, np.nan, 1.0, 1.0]),
        # A NaN anywhere in the window -> unknown until it has left the window.
        ([1.0, np.nan, 2.0, 3.0, 4.0, 5.0], [np.nan] * 4 + [2.0, 2.0]),
    ],
)
def test_volatility_regime(natr: list[float], expected: list[float]) -> None:
    result = volatility_regime(pd.Series(natr), 3)
    np.testing.assert_array_equal(result.to_numpy(), np.asarray(expected))


def test_volatility_regime_column_uses_the_configured_window() -> None:
    out = add_features(
        make_candles([100.0 + i for i in range(12)]),
        SignalSettings(),
        RegimeSettings(atr_period=2),
        volatility_window_candles=5,
    )
    # ATR from row 2, so the 5-candle window of ATR/close is first full at row 6.
    assert out["volatility_regime"].iloc[:6].isna().all()
    assert out["volatility_regime"].iloc[6:].isin([0.0, 1.0, 2.0]).all()


@pytest.mark.parametrize(
    ("column", "bad_value"),
    [
        ("close", np.nan),  # a missing price
        ("high", np.inf),  # a corrupt price
        ("volume", np.nan),  # a missing volume
        ("volume", 0.0),  # freqtrade's filler for a missing candle
        ("volume", -1.0),  # nonsense volume
    ],
)
def test_a_bad_candle_gets_nan_features_and_later_rows_recover(
    column: str, bad_value: float
) -> None:
    df = make_candles([100.0 + i for i in range(40)])
    df.loc[20, column] = bad_value
    out = small_features(df)
    assert out.loc[20, PRICE_FEATURES].isna().all()
    assert out.loc[20, ["hour", "weekday"]].notna().all()
    # Recursive indicators continue after the bad row instead of staying NaN for ever.
    assert out.loc[21:, ["ema_fast", "rsi", "atr", "adx", "macd"]].notna().all().all()


def test_a_bad_candle_is_skipped_not_treated_as_a_value() -> None:
    df = make_candles([1.0, 2.0, 3.0, 99.0, 4.0], spread=0.5)
    df.loc[3, "volume"] = 0.0
    out = small_features(df)
    # SMA 2 over the good candles 1, 2, 3, 4: row 4 averages 3 and 4.
    np.testing.assert_allclose(out["sma_fast"], [np.nan, 1.5, 2.5, np.nan, 3.5])


@pytest.mark.parametrize(
    "rows",
    [
        0,  # an empty frame
        1,  # a single candle
        20,  # shorter than EMA 50, MACD 26+9, ATR mean, the volatility window
    ],
)
def test_short_history_gives_nan_not_an_exception(rows: int) -> None:
    out = add_features(make_candles([100.0 + i for i in range(rows)]), SignalSettings(),
                       RegimeSettings())  # fmt: skip
    assert len(out) == rows
    for column in ("ema_trend", "macd", "atr_mean", "atr_ratio", "volatility_regime"):
        assert out[column].isna().all()


def test_all_candles_bad_gives_nan_not_an_exception() -> None:
    out = small_features(make_candles([100.0] * 5, volume=[0.0] * 5))
    assert out[PRICE_FEATURES].isna().all().all()


def test_non_default_index_is_kept() -> None:
    df = make_candles([100.0 + i for i in range(10)])
    df.index = pd.Index([7] * 10)  # duplicated labels: results must go back by position
    df.iloc[4, df.columns.get_loc("volume")] = 0.0
    out = small_features(df)
    assert out.index.equals(df.index)
    assert np.isnan(out["sma_fast"].iloc[4])
    assert out["sma_fast"].iloc[5] == pytest.approx((103.0 + 105.0) / 2)


# --- funding ------------------------------------------------------------------------------


def make_funding(rows: list[tuple[str, float]]) -> pd.DataFrame:
    """freqtrade's funding-rate candles: the rate is in ``open``, the rest is 0."""
    dates = pd.to_datetime([d for d, _ in rows], utc=True)
    rate = [r for _, r in rows]
    zero = [0.0] * len(rows)
    return pd.DataFrame(
        {"date": dates, "open": rate, "high": zero, "low": zero, "close": zero, "volume": zero}
    )


FUNDING = make_funding([("2024-01-01 00:00", 0.0001), ("2024-01-01 08:00", 0.0003)])


@pytest.mark.parametrize(
    ("candle", "expected"),
    [
        ("2023-12-31 23:00", np.nan),  # before the first known rate
        ("2024-01-01 00:00", 0.0001),  # a rate dated at the candle's open is known
        ("2024-01-01 07:00", 0.0001),  # the 08:00 rate is not known yet
        ("2024-01-01 08:00", 0.0003),
        ("2024-01-02 08:00", 0.0003),  # exactly 24h old: still fresh
        ("2024-01-02 09:00", np.nan),  # older than max_age: the feed stalled
    ],
)
def test_funding_rate_is_the_last_known_rate(candle: str, expected: float) -> None:
    dates = pd.Series(pd.to_datetime([candle], utc=True))
    rate = funding_rate_asof(dates, FUNDING, max_age=pd.Timedelta(hours=24))
    np.testing.assert_array_equal(rate.to_numpy(), [expected])


def test_funding_merge_accepts_unsorted_funding_in_another_time_unit() -> None:
    funding = FUNDING.iloc[::-1].reset_index(drop=True)
    funding["date"] = funding["date"].astype("datetime64[s, UTC]")
    df = make_candles([100.0] * 10)  # 00:00 .. 09:00
    out = add_funding_features(df, funding)
    assert values(out["funding_rate"]) == [0.0001] * 8 + [0.0003] * 2


def test_funding_change_and_trend() -> None:
    funding = make_funding([(f"2024-01-01 {h:02d}:00", r) for h, r in [(0, 1.0), (2, 3.0)]])
    out = add_funding_features(
        make_candles([100.0] * 6), funding, change_candles=2, trend_candles=2, trend_long_candles=4
    )
    # Rate per hour: 1 1 3 3 3 3.
    assert values(out["funding_rate"]) == [1.0, 1.0, 3.0, 3.0, 3.0, 3.0]
    # Change over 2 candles: rate now minus rate 2 candles earlier.
    assert values(out["funding_rate_change_8h"])[2:] == [2.0, 2.0, 0.0, 0.0]
    # Trend: 2-candle mean minus 4-candle mean; row 3 = 3 - 2 = 1, row 5 = 3 - 3 = 0.
    assert values(out["funding_rate_trend"])[3:] == [1.0, 0.5, 0.0]
    assert out["funding_rate_trend"].iloc[:3].isna().all()


def test_funding_keeps_its_value_on_a_bad_candle() -> None:
    df = make_candles([100.0] * 3)
    df.loc[1, "volume"] = 0.0
    out = add_funding_features(df, FUNDING)
    assert values(out["funding_rate"]) == [0.0001] * 3


@pytest.mark.parametrize(
    "funding",
    [
        None,  # no funding data at all
        FUNDING.iloc[:0],  # an empty funding frame
    ],
)
def test_missing_funding_gives_zeros_and_warns_once_per_process(
    funding: pd.DataFrame | None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(features, "_missing_funding_warned", False)
    df = make_candles([100.0] * 4)
    with caplog.at_level(logging.WARNING, logger="metalabel.core.features"):
        first = add_funding_features(df, funding)
        second = add_funding_features(df, funding)
    for out in (first, second):
        assert (out[list(FUNDING_COLUMNS)] == 0.0).all().all()
    warnings = [r for r in caplog.records if r.name == "metalabel.core.features"]
    assert len(warnings) == 1
    assert "funding" in warnings[0].getMessage()
