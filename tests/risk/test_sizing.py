"""Position sizing: hand-checked stakes, every cap, every zero guard; daily volatility."""

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metalabel.risk.sizing
from metalabel.config import RiskSettings
from metalabel.risk.sizing import daily_volatility, position_stake, volatility_multiplier


@dataclass(frozen=True)
class Case:
    """Inputs of position_stake; the defaults are a plain 10 000 USDT account at 2x."""

    equity: Any = 10_000.0
    confidence: Any = 1.0
    vol: Any = 0.01  # current daily volatility = the 1 % target -> multiplier 1
    guard: Any = 1.0
    regime: Any = 1.0
    leverage: Any = 2.0
    min_stake: Any = 5.0
    max_stake: Any = 5_000.0
    risk: RiskSettings = field(default_factory=RiskSettings)


def _stake(case: Case) -> metalabel.risk.sizing.StakeDecision:
    return position_stake(
        equity=case.equity,
        confidence=case.confidence,
        current_daily_volatility=case.vol,
        guard_multiplier=case.guard,
        regime_multiplier=case.regime,
        leverage=case.leverage,
        min_stake=case.min_stake,
        max_stake=case.max_stake,
        settings=case.risk,
    )


@pytest.mark.parametrize(
    ("case", "notional", "stake"),
    [
        # the module's worked example: 10 000 x 0.02 x 0.8 x (0.01/0.02) = 80; / 2 = 40
        (Case(confidence=0.8, vol=0.02), 80.0, 40.0),
        # no model: confidence sizes as 1.0 -> 10 000 x 0.02 x 1 x 0.5 = 100; / 2 = 50
        (Case(confidence=None, vol=0.02), 100.0, 50.0),
        # volatility exactly at target: multiplier 1 -> 200 notional, 100 margin at 2x
        (Case(), 200.0, 100.0),
        # very calm market: 0.01 / 0.001 = 10x, capped at 2x -> 400 notional, 1x leverage
        (Case(vol=0.001, leverage=1.0), 400.0, 400.0),
        # REDUCED guard and HIGH_VOLATILITY regime: 200 x 0.5 x 0.5 = 50 notional
        (Case(guard=0.5, regime=0.5, leverage=1.0), 50.0, 50.0),
        # leverage 3 (the hard cap) is allowed: 200 / 3 margin
        (Case(leverage=3.0), 200.0, 200.0 / 3),
        # 10 % cap: base 8 % x 2 (calm) = 16 % of equity -> capped at 1 000; / 2 = 500
        (Case(vol=0.005, risk=RiskSettings(base_position_ratio=0.08)), 1_000.0, 500.0),
        # clamp down: 200 margin at 1x above freqtrade's max stake 150 -> 150
        (Case(leverage=1.0, max_stake=150.0), 150.0, 150.0),
        # clamp up: 40 margin below a 60 min stake; 60 x 2 = 120 notional is within the cap
        (Case(confidence=0.8, vol=0.02, min_stake=60.0), 120.0, 60.0),
        # clamp up to a min stake exactly at the cap: 500 x 2 = 1 000 = 10 % of equity
        (Case(confidence=0.8, vol=0.02, min_stake=500.0), 1_000.0, 500.0),
        # no minimum known (freqtrade passes None): the risk size stands
        (Case(confidence=0.8, vol=0.02, min_stake=None), 80.0, 40.0),
        # min stake 0 is a usable minimum
        (Case(min_stake=0.0), 200.0, 100.0),
        # min stake equal to max stake is allowed: the one possible stake
        (Case(min_stake=150.0, max_stake=150.0), 300.0, 150.0),
    ],
)
def test_hand_checked_stakes(case: Case, notional: float, stake: float) -> None:
    decision = _stake(case)
    assert decision.allowed
    assert decision.notional == pytest.approx(notional)
    assert decision.stake_amount == pytest.approx(stake)


@pytest.mark.parametrize(
    ("case", "why"),
    [
        (Case(equity=0.0), "equity"),  # an empty account
        (Case(equity=-100.0), "equity"),  # a negative balance
        (Case(equity=math.nan), "equity"),  # the wallet returned NaN
        (Case(equity=math.inf), "equity"),  # an overflow upstream
        (Case(equity=None), "equity"),  # no equity known
        (Case(equity=True), "equity"),  # a bool is not a number
        (Case(confidence=0.0), "confidence"),  # a model that says "never"
        (Case(confidence=-0.1), "confidence"),  # not a probability
        (Case(confidence=1.01), "confidence"),  # not a probability
        (Case(confidence=math.nan), "confidence"),  # the model produced no prediction
        (Case(confidence=math.inf), "confidence"),  # garbage
        (Case(vol=0.0), "volatility"),  # flat prices: target / 0
        (Case(vol=-0.01), "volatility"),  # impossible
        (Case(vol=math.nan), "volatility"),  # lookback not filled yet
        (Case(vol=math.inf), "volatility"),  # garbage
        (Case(vol=None), "volatility"),  # column missing
        (Case(guard=0.0), "guard"),  # PAUSED
        (Case(guard=math.nan), "guard"),  # garbage
        (Case(guard=1.5), "guard"),  # multipliers only shrink
        (Case(regime=0.0), "regime"),  # a regime that blocks entries
        (Case(regime=math.nan), "regime"),  # garbage
        (Case(regime=2.0), "regime"),  # multipliers only shrink
        (Case(leverage=0.5), "leverage"),  # below 1x
        (Case(leverage=0.0), "leverage"),  # would divide by zero
        (Case(leverage=3.5), "leverage"),  # above the hard cap: refused, never clipped
        (Case(leverage=math.nan), "leverage"),  # garbage
        (Case(max_stake=0.0), "max stake"),  # no balance available
        (Case(max_stake=math.nan), "max stake"),  # garbage
        (Case(min_stake=math.nan), "min stake"),  # garbage minimum
        (Case(min_stake=-1.0), "min stake"),  # negative minimum
        (Case(min_stake=100.0, max_stake=50.0), "above max stake"),  # no stake is possible
        # the exchange minimum (600 x 2 = 1 200 notional) exceeds the 10 % cap (1 000)
        (Case(confidence=0.8, vol=0.02, min_stake=600.0), "cap"),
    ],
)
def test_unusable_inputs_give_no_trade(case: Case, why: str) -> None:
    decision = _stake(case)
    assert decision.stake_amount == 0.0
    assert decision.notional == 0.0
    assert not decision.allowed
    assert why in decision.reason


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        # equity the wallet reported as NaN
        (Case(equity=math.nan), "equity nan is not a positive number"),
        # equity overflowed upstream
        (Case(equity=math.inf), "equity inf is not a positive number"),
        # equity negative (a liquidated account)
        (Case(equity=-1.0), "equity -1.0 is not a positive number"),
        # equity exactly zero
        (Case(equity=0.0), "equity 0.0 is not a positive number"),
        # volatility just beyond the bound
        (Case(vol=0.5000001), "daily volatility 0.5000001 is above the 50% a day sanity bound"),
        # 100 % a day: a unit error (percent read as ratio) or a corrupt close
        (Case(vol=1.0), "daily volatility 1.0 is above the 50% a day sanity bound"),
        # a 1e308 close in the window: the minimum stake must not lift this to a trade
        (Case(vol=1e300, min_stake=5.0), "daily volatility 1e+300 is above the 50% a day"),
        # percent instead of ratio (2 meaning 2 %), with no exchange minimum either
        (Case(vol=2.0, min_stake=None), "daily volatility 2.0 is above the 50% a day"),
        # non-finite volatility
        (Case(vol=math.inf), "daily volatility inf is not a positive number"),
        (Case(vol=math.nan), "daily volatility nan is not a positive number"),  # no lookback yet
    ],
)
def test_absurd_inputs_are_refused_with_the_reason(case: Case, reason: str) -> None:
    decision = _stake(case)
    assert (decision.stake_amount, decision.notional) == (0.0, 0.0)
    assert decision.reason.startswith(reason), decision.reason


@pytest.mark.parametrize(
    ("vol", "stake", "reason"),
    [
        # at the bound: sized (10 000 x 2 % x 0.02 = 4 notional, 2 margin), then raised to
        # the 5 minimum because 5 x 2 = 10 is within the 1 000 cap
        (0.5, 5.0, "raised to min stake"),
        # ETH's bundled peak, 7.3 % a day: ordinary volatility-targeted sizing
        (0.073, 10_000 * 0.02 * (0.01 / 0.073) / 2, "notional"),
    ],
)
def test_real_volatilities_up_to_the_bound_are_sized(vol: float, stake: float, reason: str) -> None:
    decision = _stake(Case(vol=vol))
    assert decision.stake_amount == pytest.approx(stake)
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("vol", "expected"),
    [
        (0.02, 0.5),  # twice the target volatility: half size
        (0.01, 1.0),  # at target
        (0.008, 1.25),  # calmer: 1.25x
        (0.005, 2.0),  # exactly at the cap
        (0.0001, 2.0),  # 100x, capped
        (0.0, 0.0),  # unusable: no trade
        (math.nan, 0.0),  # unusable: no trade
        (0.5, 0.02),  # at the sanity bound: still sized
        (0.51, 0.0),  # beyond it: broken data, no trade
    ],
)
def test_volatility_multiplier(vol: float, expected: float) -> None:
    assert volatility_multiplier(vol, RiskSettings()) == pytest.approx(expected)


def test_the_reason_says_when_the_cap_applied() -> None:
    decision = _stake(Case(vol=0.005, risk=RiskSettings(base_position_ratio=0.08)))
    assert "capped at 10% of equity" in decision.reason


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    equity=st.floats(1.0, 1e9),
    confidence=st.one_of(st.none(), st.floats(0.01, 1.0)),
    vol=st.floats(1e-6, 1.0),
    guard=st.sampled_from([0.0, 0.5, 1.0]),
    regime=st.sampled_from([0.5, 1.0]),
    leverage=st.floats(1.0, 3.0),
    min_stake=st.one_of(st.none(), st.floats(0.0, 1e6)),
    max_stake=st.floats(0.01, 1e9),
)
def test_stake_never_breaks_a_limit(
    equity: float,
    confidence: float | None,
    vol: float,
    guard: float,
    regime: float,
    leverage: float,
    min_stake: float | None,
    max_stake: float,
) -> None:
    """Whatever the inputs: stake within [min, max], notional within 10 % of equity."""
    decision = _stake(Case(equity, confidence, vol, guard, regime, leverage, min_stake, max_stake))
    assert decision.stake_amount >= 0
    if not decision.allowed:
        return
    assert decision.stake_amount <= max_stake
    assert min_stake is None or decision.stake_amount >= min_stake
    assert decision.notional <= equity * RiskSettings().max_position_ratio * (1 + 1e-12)
    assert decision.notional == pytest.approx(decision.stake_amount * leverage)


# ---------------------------------------------------------------- daily_volatility


def test_daily_volatility_by_hand() -> None:
    """Two candles per day, two-day lookback: the std of the last two 2-candle returns."""
    close = pd.Series([100.0, 101.0, 102.0, 101.0, 103.0, 104.0])
    vol = daily_volatility(close, 2, candles_per_day=2)
    # row 4: returns ln(103/102) and ln(102/100); row 5: ln(104/101) and ln(101/101) = 0
    expected_4 = np.std([math.log(103 / 102), math.log(102 / 100)], ddof=1)
    expected_5 = np.std([math.log(104 / 101), 0.0], ddof=1)
    assert vol.iloc[:4].isna().all()  # fewer than 2 complete days behind these rows
    assert vol.iloc[4] == pytest.approx(expected_4)
    assert vol.iloc[5] == pytest.approx(expected_5)
    assert vol.index.equals(close.index)


def test_daily_volatility_of_hourly_closes() -> None:
    """24 candles per day: days alternate +1 % / -1 % log moves -> std of [+a, -a, ...]."""
    a = 0.01
    day_moves = [a if d % 2 == 0 else -a for d in range(20)]
    log_close = np.concatenate([[0.0], np.cumsum(np.repeat(day_moves, 24) / 24)])
    close = pd.Series(100.0 * np.exp(log_close))
    vol = daily_volatility(close, 20)
    assert vol.iloc[: 20 * 24].isna().all()
    assert vol.iloc[20 * 24] == pytest.approx(np.std(day_moves, ddof=1))


def test_constant_growth_has_no_volatility() -> None:
    """Every day moves the same: (near) zero volatility, the multiplier sits at its cap."""
    close = pd.Series(100.0 * 1.001 ** np.arange(60))
    vol = float(daily_volatility(close, 2, candles_per_day=24).iloc[-1])
    assert vol == pytest.approx(0.0, abs=1e-12)
    assert volatility_multiplier(vol, RiskSettings()) in (0.0, 2.0)  # exactly 0 -> no trade


def test_bad_closes_give_nan_only_where_they_are_in_the_window() -> None:
    close = pd.Series([100.0, 101.0, math.nan, 103.0, 104.0, 105.0, 106.0, 0.0, 108.0, 109.0])
    vol = daily_volatility(close, 2, candles_per_day=1)
    # row t reads closes t-2..t: rows 2-4 see the NaN, rows 7-9 the zero close
    assert vol.isna().tolist() == [True] * 5 + [False, False] + [True] * 3


def test_daily_volatility_has_no_lookahead() -> None:
    rng = np.random.default_rng(7)
    close = pd.Series(100.0 * np.exp(np.cumsum(rng.normal(0, 0.005, 24 * 30))))
    full = daily_volatility(close, 20)
    for n in (24 * 20, 24 * 20 + 1, 24 * 25 + 7, len(close) - 1):
        pd.testing.assert_series_equal(daily_volatility(close.iloc[:n], 20), full.iloc[:n])


def test_a_malformed_setting_gives_no_trade_instead_of_raising() -> None:
    decision = _stake(Case(risk=None))  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.reason.startswith("sizing failed")
