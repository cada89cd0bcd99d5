"""The primary signal's votes, score and direction on hand-set indicator values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metalabel.config import RegimeSettings, SignalSettings
from metalabel.core.features import add_features
from metalabel.core.signals import Direction, primary_signal, trend_direction

DEFAULTS = SignalSettings()  # weights 1/1/1, RSI 30/70, min_vote_ratio 0.6
NO_4H = SignalSettings(use_4h_confirmation=False)
LONG, SHORT, NEUTRAL = Direction.LONG, Direction.SHORT, Direction.NEUTRAL
NAN = float("nan")


def indicator_row(
    ema: tuple[float, float] = (100.0, 100.0),
    rsi: float = 50.0,
    macd: tuple[float, float] = (0.0, 0.0),
    volume: float = 10.0,
    atr: float = 1.0,
) -> dict[str, float]:
    """One row of the columns the signal reads; the defaults vote 0 everywhere."""
    return {
        "atr": atr,
        "ema_fast": ema[0],
        "ema_slow": ema[1],
        "rsi": rsi,
        "macd": macd[0],
        "macd_signal": macd[1],
        "volume": volume,
    }


# EMA fast vs slow, and MACD vs its signal line: a gap of 1 ATR (magnitude 1/(1+1) = 0.5)
UP, DOWN = (101.0, 100.0), (99.0, 100.0)

VOTE_CASES = [
    # (row, (vote_ema, vote_rsi, vote_macd), vote_score, direction, strength)
    # all three bullish -> unanimous long; RSI 20 is 10/30 past its band:
    # strength (0.5 + 1/3 + 0.5) / 3 = 4/9
    (indicator_row(UP, 20.0, UP), (1, 1, 1), 1.0, LONG, 4 / 9),
    # EMA and MACD up, RSI silent -> 2/3 >= 0.6: long with strength (0.5 + 0.5) / 3
    (indicator_row(UP, 50.0, UP), (1, 0, 1), 2 / 3, LONG, 1 / 3),
    # mirror: EMA and MACD down -> short
    (indicator_row(DOWN, 50.0, DOWN), (-1, 0, -1), -2 / 3, SHORT, 1 / 3),
    # all three bearish; RSI 80 is 10/30 past 70
    (indicator_row(DOWN, 80.0, DOWN), (-1, -1, -1), -1.0, SHORT, 4 / 9),
    # EMA alone -> 1/3 < 0.6: no signal, strength 0
    (indicator_row(UP, 50.0, (0.0, 0.0)), (1, 0, 0), 1 / 3, NEUTRAL, 0.0),
    # RSI oversold alone -> 1/3: no signal
    (indicator_row(rsi=29.9), (0, 1, 0), 1 / 3, NEUTRAL, 0.0),
    # EMA up + MACD down cancel, RSI oversold adds 1 -> 1/3: no signal
    (indicator_row(UP, 20.0, DOWN), (1, 1, -1), 1 / 3, NEUTRAL, 0.0),
    # tie: equal EMAs vote 0, so MACD alone -> 1/3
    (indicator_row((100.0, 100.0), 50.0, UP), (0, 0, 1), 1 / 3, NEUTRAL, 0.0),
    # tie: RSI exactly 30 is not oversold, so EMA + MACD only
    (indicator_row(UP, 30.0, UP), (1, 0, 1), 2 / 3, LONG, 1 / 3),
    # tie: RSI exactly 70 is not overbought
    (indicator_row(DOWN, 70.0, DOWN), (-1, 0, -1), -2 / 3, SHORT, 1 / 3),
    # RSI overbought against an up trend: (1 - 1 + 1)/3 = 1/3 -> no signal
    (indicator_row(UP, 70.1, UP), (1, -1, 1), 1 / 3, NEUTRAL, 0.0),
    # a NaN input: no votes at all
    (indicator_row(UP, NAN, UP), (0, 0, 0), 0.0, NEUTRAL, 0.0),
    (indicator_row((NAN, 100.0), 20.0, UP), (0, 0, 0), 0.0, NEUTRAL, 0.0),
    # a zero-volume (filled) candle: no votes
    (indicator_row(UP, 20.0, UP, volume=0.0), (0, 0, 0), 0.0, NEUTRAL, 0.0),
]


@pytest.mark.parametrize(("row", "vote", "score", "direction", "strength"), VOTE_CASES)
def test_votes_score_and_direction(
    row: dict[str, float],
    vote: tuple[int, int, int],
    score: float,
    direction: Direction,
    strength: float,
) -> None:
    out = primary_signal(pd.DataFrame([row]), NO_4H).iloc[0]
    assert (out["vote_ema"], out["vote_rsi"], out["vote_macd"]) == vote
    assert out["vote_score"] == pytest.approx(score)
    assert out["primary_direction"] == direction
    assert out["primary_strength"] == pytest.approx(strength)
    assert out["primary_long"] == (direction == LONG)
    assert out["primary_short"] == (direction == SHORT)


@pytest.mark.parametrize(
    ("settings", "row", "direction"),
    [
        # RSI weight 2: oversold alone is 2/4 = 0.5 < 0.6 -> nothing
        (SignalSettings(rsi_vote_weight=2.0), indicator_row(rsi=20.0), NEUTRAL),
        # RSI weight 2 with EMA: 3/4 -> long
        (SignalSettings(rsi_vote_weight=2.0), indicator_row(UP, 20.0), LONG),
        # threshold exactly 2/3: a 2/3 score counts despite float rounding
        (SignalSettings(min_vote_ratio=2 / 3), indicator_row(UP, 50.0, UP), LONG),
        # threshold just above 2/3: two votes are no longer enough
        (SignalSettings(min_vote_ratio=0.67), indicator_row(UP, 50.0, UP), NEUTRAL),
        # EMA weight 0: MACD alone (1/2) is not enough
        (SignalSettings(ema_vote_weight=0.0), indicator_row(UP, 50.0, UP), NEUTRAL),
    ],
)
def test_weights_and_threshold(
    settings: SignalSettings, row: dict[str, float], direction: Direction
) -> None:
    out = primary_signal(pd.DataFrame([row]), settings)
    assert out["primary_direction"].iloc[0] == direction


BULL, BEAR = indicator_row(UP, 50.0, UP), indicator_row(DOWN, 50.0, DOWN)


@pytest.mark.parametrize(
    ("row", "trend", "use_4h", "direction"),
    [
        (BULL, 1.0, True, LONG),  # 4h trend agrees
        (BULL, -1.0, True, NEUTRAL),  # 4h trend disagrees: vetoed
        (BULL, 0.0, True, NEUTRAL),  # flat 4h trend confirms nothing
        (BULL, NAN, True, NEUTRAL),  # unknown 4h trend confirms nothing
        (BEAR, -1.0, True, SHORT),  # agreement on the short side
        (BEAR, 1.0, True, NEUTRAL),
        (BULL, -1.0, False, LONG),  # confirmation switched off: the trend is ignored
    ],
)
def test_4h_confirmation(
    row: dict[str, float], trend: float, use_4h: bool, direction: Direction
) -> None:
    settings = SignalSettings(use_4h_confirmation=use_4h)
    out = primary_signal(pd.DataFrame([row]), settings, trend_4h=pd.Series([trend]))
    assert out["primary_direction"].iloc[0] == direction
    assert out["primary_strength"].iloc[0] == (pytest.approx(1 / 3) if direction else 0.0)


def test_no_trend_given_means_no_confirmation() -> None:
    out = primary_signal(pd.DataFrame([BULL]), DEFAULTS)
    assert out["primary_direction"].iloc[0] == LONG


def test_misaligned_trend_is_refused() -> None:
    with pytest.raises(ValueError, match="rows"):
        primary_signal(pd.DataFrame([BULL, BULL]), DEFAULTS, trend_4h=pd.Series([1.0]))


def test_output_keeps_the_index_and_has_numeric_direction() -> None:
    df = pd.DataFrame([BULL, BEAR, indicator_row()], index=[10, 11, 12])
    out = primary_signal(df, NO_4H)
    assert out.index.equals(df.index)
    assert out["primary_direction"].tolist() == [1, -1, 0]
    assert out["primary_direction"].dtype == np.int64
    assert out["primary_long"].dtype == bool


@pytest.mark.parametrize(
    ("fast", "slow", "expected"),
    [
        (101.0, 100.0, 1),  # fast above slow
        (99.0, 100.0, -1),  # fast below slow
        (100.0, 100.0, 0),  # equal EMAs: no trend
        (NAN, 100.0, 0),  # unknown: no trend
    ],
)
def test_trend_direction(fast: float, slow: float, expected: int) -> None:
    df = pd.DataFrame({"ema_fast_4h": [fast], "ema_slow_4h": [slow]})
    trend = trend_direction(df, fast_column="ema_fast_4h", slow_column="ema_slow_4h")
    assert trend.iloc[0] == expected


@pytest.mark.parametrize(
    "rows",
    [
        0,  # empty frame
        5,  # shorter than MACD's warm-up
        40,  # MACD ready, but all bad candles below
    ],
)
def test_short_or_bad_history_gives_no_signal_and_no_exception(rows: int) -> None:
    df = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=rows, freq="1h", tz="UTC"),
            "open": np.linspace(100, 140, rows),
            "high": np.linspace(101, 141, rows),
            "low": np.linspace(99, 139, rows),
            "close": np.linspace(100, 140, rows),
            "volume": np.full(rows, 0.0 if rows == 40 else 10.0),
        }
    )
    featured = add_features(df, DEFAULTS, RegimeSettings())
    out = primary_signal(featured, DEFAULTS, trend_4h=trend_direction(featured))
    assert len(out) == rows
    assert (out["primary_direction"] == NEUTRAL).all()
    assert not out["primary_long"].any() and not out["primary_short"].any()


def rising_path(step_ratios: np.ndarray) -> pd.DataFrame:
    close = 100.0 * np.cumprod(step_ratios)
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=len(close), freq="1h", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,  # a high below the open is refused
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": 10.0,
        }
    )


def test_warm_up_rows_are_neutral_then_a_choppy_rise_goes_long() -> None:
    # +2% / -1% alternately: EMA and MACD point up, RSI stays near 64-68 (no vote).
    featured = add_features(rising_path(np.where(np.arange(60) % 2 == 0, 1.02, 0.99)),
                            DEFAULTS, RegimeSettings())  # fmt: skip
    out = primary_signal(featured, NO_4H)
    assert (out["primary_direction"].iloc[:33] == NEUTRAL).all()  # MACD 26 + 9 warm-up
    assert out["primary_long"].iloc[33:].all()
    strength = out["primary_strength"].iloc[33:]
    assert ((strength > 0) & (strength < 1)).all()
    assert strength.nunique() > 10  # graded, not one value on every signal candle


def test_a_smooth_rise_is_overbought_and_gets_no_signal() -> None:
    # +1% every hour: RSI is 100, so the contrarian RSI vote cancels one trend vote.
    out = primary_signal(add_features(rising_path(np.full(60, 1.01)), DEFAULTS,
                                      RegimeSettings()), NO_4H)  # fmt: skip
    last = out.iloc[-1]
    assert (last["vote_ema"], last["vote_rsi"], last["vote_macd"]) == (1, -1, 1)
    assert last["primary_direction"] == NEUTRAL


@pytest.mark.parametrize(
    ("row", "strength"),
    [
        # a gap of 3 ATR on both lines: (0.75 + 0.75) / 3
        (indicator_row((103.0, 100.0), 50.0, (3.0, 0.0)), 0.5),
        # the same gaps on a quieter market (ATR 0.5 -> 6 ATR): (6/7 + 6/7) / 3
        (indicator_row((103.0, 100.0), 50.0, (3.0, 0.0), atr=0.5), 4 / 7),
        # an overbought RSI (85, half-way to 100) against the long: (0.5 - 0.5 + 0.5) / 3
        (indicator_row(UP, 85.0, UP), 0.0),
        # no usable ATR: the line gaps count 0, the direction stays long
        (indicator_row(UP, 50.0, UP, atr=0.0), 0.0),
        (indicator_row(UP, 50.0, UP, atr=NAN), 0.0),
    ],
)
def test_strength_grades_signals_by_how_far_each_vote_is_past_its_tipping_point(
    row: dict[str, float], strength: float
) -> None:
    out = primary_signal(pd.DataFrame([row]), NO_4H).iloc[0]
    assert out["primary_strength"] == pytest.approx(strength)


def test_strength_never_changes_which_candles_signal() -> None:
    """Direction comes from the +-1 votes alone; strength only grades it."""
    rng = np.random.default_rng(7)
    rows = 400
    df = pd.DataFrame(
        {
            "ema_fast": 100 + rng.normal(0, 2, rows),
            "ema_slow": 100 + rng.normal(0, 2, rows),
            "rsi": rng.uniform(0, 100, rows),
            "macd": rng.normal(0, 1, rows),
            "macd_signal": rng.normal(0, 1, rows),
            "volume": 10.0,
            "atr": rng.uniform(0.1, 3, rows),
        }
    )
    out = primary_signal(df, NO_4H)
    without_atr = primary_signal(df.drop(columns="atr"), NO_4H)
    expected = np.sign(out["vote_score"]).where(out["vote_score"].abs() >= 0.6 - 1e-9, 0)
    assert (out["primary_direction"] == expected).all()
    assert (out["primary_direction"] == without_atr["primary_direction"]).all()
    signalled = out["primary_direction"] != 0
    assert (out.loc[~signalled, "primary_strength"] == 0).all()
    assert out["primary_strength"].between(0, 1).all()
    assert out.loc[signalled, "primary_strength"].nunique() > 20
