"""Malformed candles on real BTC hours: refused, NaN features, no volatility, no entry.

A bad candle is taken out of the indicators as if it had never traded, so every other
row equals the frame in which that candle is freqtrade's zero-volume filler; the row
itself gets ``candle_ok = False`` and a regime that admits neither side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from metalabel.config import RegimeSettings, SignalSettings
from metalabel.core import features
from metalabel.core.features import (
    FEATURE_COLUMNS,
    RANGE_OUTLIER_MULTIPLE,
    add_features,
    candle_faults,
)
from metalabel.core.regime import Regime, classify_regime
from metalabel.core.signals import primary_signal

DATA = Path(__file__).resolve().parents[2] / "user_data" / "data" / "bybit" / "futures"
SIGNAL, REGIME = SignalSettings(use_4h_confirmation=False), RegimeSettings()
PRICE_FEATURES = [c for c in FEATURE_COLUMNS if c not in ("hour", "weekday")]
START, ROWS = 4000, 400  # 2024-05-06 .. 2024-05-23, BTC near 62-71k
BAD_ROW = 150  # past every warm-up but the 720-candle volatility level
# Dropping the genuine candle at BAD_ROW happens to flip no later regime label; at some
# other rows one or two near-threshold labels flip (ATR is a recursive average), which
# is the candle missing, not the corrupt value leaking. The "as if absent" test below
# is the exact statement for every row.


@cache
def btc_slice() -> pd.DataFrame:
    df = pd.read_feather(DATA / "BTC_USDT_USDT-1h-futures.feather").iloc[START : START + ROWS]
    return df.reset_index(drop=True)


def with_signals_and_regime(df: pd.DataFrame) -> pd.DataFrame:
    out = add_features(df, SIGNAL, REGIME)
    return pd.concat([out, primary_signal(out, SIGNAL), classify_regime(out, REGIME)], axis=1)


@cache
def clean() -> pd.DataFrame:
    return with_signals_and_regime(btc_slice())


def damaged(changes: dict[str, float], row: int = BAD_ROW) -> pd.DataFrame:
    """The BTC slice with ``changes`` written into one candle."""
    df = btc_slice().copy()
    for column, value in changes.items():
        df.loc[row, column] = value
    return df


Changes = Callable[[], dict[str, float]]  # built lazily: the data loads on first use


def _scaled(factor: float) -> dict[str, float]:
    """The whole candle moved to ``factor`` x its genuine level."""
    return {
        c: factor * float(btc_slice().loc[BAD_ROW, c]) for c in ("open", "high", "low", "close")
    }


def _close() -> float:
    return float(btc_slice().loc[BAD_ROW, "close"])


def _open() -> float:
    return float(btc_slice().loc[BAD_ROW, "open"])


def _low() -> float:
    return float(btc_slice().loc[BAD_ROW, "low"])


def _high() -> float:
    return float(btc_slice().loc[BAD_ROW, "high"])


def _body_top() -> float:
    return max(_open(), _close())


def _body_bottom() -> float:
    return min(_open(), _close())


MALFORMED: list[tuple[Changes, str]] = [
    # (changes to the candle, expected fault)
    # the reproduction: a high of 1e308 with a sane body
    (lambda: {"high": 1e308}, "range_outlier"),
    # a high below the low
    (lambda: {"high": _low() - 10.0}, "high_below_body"),
    # a high a dollar under the close or open
    (lambda: {"high": _body_top() - 1.0}, "high_below_body"),
    # a low a dollar above the close or open
    (lambda: {"low": _body_bottom() + 1.0}, "low_above_body"),
    # a low of exactly zero
    (lambda: {"low": 0.0}, "non_positive_price"),
    # a negative close (low moved with it, so only the sign is wrong)
    (lambda: {"close": -_close(), "low": -_close()}, "non_positive_price"),
    # an infinite high
    (lambda: {"high": np.inf}, "missing"),
    # a minus-infinite low
    (lambda: {"low": -np.inf}, "missing"),
    # a missing open
    (lambda: {"open": np.nan}, "missing"),
    # a fat-finger wick: high at 3x the price, body untouched
    (lambda: {"high": 3 * _close()}, "range_outlier"),
    # a 99 % wick down: low at 1 % of the price
    (lambda: {"low": _close() / 100}, "range_outlier"),
    # a whole candle printed at a wrong level (1e-6 of the price): narrow, but a huge gap
    (lambda: _scaled(1e-6), "range_outlier"),
    # a whole candle at 10x the price, its own range still ordinary
    (lambda: _scaled(10.0), "range_outlier"),
    # negative volume
    (lambda: {"volume": -5.0}, "no_volume"),
]
CASE_IDS = [
    "high_1e308", "high_below_low", "high_below_body", "low_above_body", "low_zero",
    "close_negative", "high_inf", "low_minus_inf", "open_nan", "wick_3x", "wick_99pct_down",
    "candle_at_1e-6", "candle_at_10x", "volume_negative",
]  # fmt: skip


@pytest.mark.parametrize(("changes", "fault"), MALFORMED, ids=CASE_IDS)
def test_a_malformed_candle_is_refused_and_acts_as_if_absent(changes: Changes, fault: str) -> None:
    df = damaged(changes())
    assert candle_faults(df).loc[BAD_ROW] == fault
    assert (candle_faults(df).drop(BAD_ROW) == "").all()  # its neighbours stay good
    out = with_signals_and_regime(df)

    bad = out.loc[BAD_ROW]
    assert not bad["candle_ok"]
    assert out["candle_ok"].drop(BAD_ROW).all()
    assert bad[PRICE_FEATURES].isna().all()
    assert bad["regime"] == Regime.RANGING.value  # unknown inputs, never HIGH_VOLATILITY
    assert not bad["regime_ok_long"] and not bad["regime_ok_short"]

    # Every other row equals the frame where this candle is a zero-volume filler ...
    absent = with_signals_and_regime(damaged({"volume": 0.0}))
    others = out.drop(index=BAD_ROW)
    expected = absent.drop(index=BAD_ROW)
    changed = ["open", "high", "low", "close", "volume"]
    pd.testing.assert_frame_equal(others.drop(columns=changed), expected.drop(columns=changed))
    # ... and later regimes are those of the clean frame.
    later = slice(BAD_ROW + 1, None)
    assert out["regime"].iloc[later].tolist() == clean()["regime"].iloc[later].tolist()
    assert (
        out["regime_ok_long"].iloc[later].tolist() == clean()["regime_ok_long"].iloc[later].tolist()
    )
    assert (
        out["regime_ok_short"].iloc[later].tolist()
        == clean()["regime_ok_short"].iloc[later].tolist()
    )


@pytest.mark.parametrize(("changes", "fault"), MALFORMED, ids=CASE_IDS)
@pytest.mark.parametrize(
    "cut",
    [
        BAD_ROW + 1,  # the bad candle is the last one, as in live trading
        BAD_ROW + 3,  # a few candles later
    ],
)
def test_no_lookahead_with_a_malformed_candle(changes: Changes, fault: str, cut: int) -> None:
    df = damaged(changes())
    whole = with_signals_and_regime(df)
    prefix = with_signals_and_regime(df.iloc[:cut].copy())
    for column in prefix.columns:
        got, want = prefix[column], whole[column].iloc[:cut]
        if pd.api.types.is_float_dtype(want):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15, err_msg=column)
        else:
            assert got.tolist() == want.tolist(), column


def test_a_high_of_1e308_no_longer_admits_both_sides() -> None:
    # The finding: blocked signals plus a 1e308 high became entries on both sides.
    frame = clean()
    long_blocked = frame["primary_long"] & ~frame["regime_ok_long"]
    short_blocked = frame["primary_short"] & ~frame["regime_ok_short"]
    rows = frame.index[(long_blocked | short_blocked) & (frame.index >= 60)]
    assert len(rows) >= 20  # enough blocked signals to make the point
    df = btc_slice().copy()
    df.loc[rows, "high"] = 1e308

    # Under the old rule (finite prices, volume > 0) those candles reached ATR:
    atr = talib.ATR(*(df[c].to_numpy(float) for c in ("high", "low", "close")), timeperiod=14)
    first = rows[0]
    assert atr[first] / np.nanmean(atr[first - 50 : first]) > REGIME.high_volatility_atr_ratio

    out = with_signals_and_regime(df)
    hit = out.loc[rows]
    assert not hit["candle_ok"].any()
    assert (hit["regime"] != Regime.HIGH_VOLATILITY.value).all()
    assert not hit["regime_ok_long"].any() and not hit["regime_ok_short"].any()
    # The strategy's gates, candle and regime, let no side through on those rows:
    admitted_long = hit["candle_ok"] & hit["regime_ok_long"]
    admitted_short = hit["candle_ok"] & hit["regime_ok_short"]
    assert not (admitted_long | admitted_short).any()
    # and the planted highs add no HIGH_VOLATILITY row anywhere in the slice.
    volatile = out["regime"] == Regime.HIGH_VOLATILITY.value
    assert not (volatile & (frame["regime"] != Regime.HIGH_VOLATILITY.value)).any()


@pytest.mark.parametrize(
    "name",
    [
        "BTC_USDT_USDT-1h-futures",  # every bundled candle, 2023-11 to 2026-07
        "ETH_USDT_USDT-1h-futures",
        "BTC_USDT_USDT-4h-futures",  # the informative timeframe
        "ETH_USDT_USDT-4h-futures",
    ],
)
def test_every_real_bundled_candle_is_accepted(name: str) -> None:
    # Including the 2025-10-10 liquidation cascade, a true range 24.4x the 48-candle
    # median on BTC 1h, about half the refusal multiple.
    df = pd.read_feather(DATA / f"{name}.feather")
    faults = candle_faults(df)
    traded = df["volume"] > 0
    assert (faults[traded] == "").all(), df.loc[traded & (faults != ""), "date"].tolist()
    assert add_features(df, SIGNAL, REGIME)["candle_ok"][traded].all()


@pytest.mark.parametrize(
    ("multiple", "refused"),
    [
        (RANGE_OUTLIER_MULTIPLE, False),  # the 2025-10-10 candle, 24.4x: a market move
        (24.0, True),  # a multiple below it would have refused that real candle
    ],
)
def test_the_multiple_sits_above_the_largest_real_move(multiple: float, refused: bool) -> None:
    df = pd.read_feather(DATA / "BTC_USDT_USDT-1h-futures.feather")
    row = df.index[df["date"] == pd.Timestamp("2025-10-10 21:00", tz="UTC")][0]
    faults = candle_faults(df.iloc[row - 200 : row + 1], range_multiple=multiple)
    assert (faults.iloc[-1] == "range_outlier") is refused


def test_a_jump_beyond_the_bound_fails_closed_for_the_rest_of_the_frame() -> None:
    # The price of refusing from past good candles only: after a genuine 100x level
    # change (never seen on BTC or ETH) every later candle is refused, not traded.
    close = np.r_[np.full(60, 100.0), np.full(20, 10_000.0)]
    df = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": 1.0,
        }
    )
    faults = candle_faults(df)
    assert (faults.iloc[:60] == "").all()
    assert (faults.iloc[60:] == "range_outlier").all()


def test_one_warning_per_pair_and_new_bad_candles_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(features, "_reported_bad_candles", {})
    df = btc_slice().copy()
    df.loc[[100, 150, 151], "high"] = 1e308  # three bad candles in one frame

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "metalabel.core.features"]

    with caplog.at_level(logging.WARNING, logger="metalabel.core.features"):
        for _ in range(3):  # the same frame on every candle of a live loop
            add_features(df, SIGNAL, REGIME, pair="BTC/USDT:USDT")
        add_features(df.iloc[:160].copy(), SIGNAL, REGIME, pair="BTC/USDT:USDT")
        assert len(warnings()) == 1
        assert warnings()[0].startswith("BTC/USDT:USDT 1h: 3 invalid candle(s)")
        assert "range_outlier x3" in warnings()[0]

        add_features(df, SIGNAL, REGIME, pair="ETH/USDT:USDT")  # another pair: its own line
        assert len(warnings()) == 2 and warnings()[1].startswith("ETH/USDT:USDT 1h")

        df.loc[300, "low"] = 0.0  # a new bad candle for BTC: one more line
        add_features(df, SIGNAL, REGIME, pair="BTC/USDT:USDT")
        add_features(df, SIGNAL, REGIME, pair="BTC/USDT:USDT")
        assert len(warnings()) == 3
        assert "1 invalid candle(s)" in warnings()[2] and "non_positive_price x1" in warnings()[2]

        add_features(btc_slice(), SIGNAL, REGIME, pair="SOL/USDT:USDT")  # clean: silent
        assert len(warnings()) == 3
