"""Position size of one entry: volatility-targeted, confidence- and risk-scaled, capped.

One pure function, :func:`position_stake`, turns the account's equity and the current
risk inputs into freqtrade's margin stake::

    notional = equity x base_position_ratio          (2 %)
                      x confidence                    (1.0 when no model is in use)
                      x volatility multiplier         min(1 % / daily vol, 2.0)
                      x guard multiplier              (1.0 NORMAL, 0.5 REDUCED, 0 PAUSED)
                      x regime multiplier             (1.0, or 0.5 in HIGH_VOLATILITY)
    notional = min(notional, max_position_ratio x equity)           (10 % cap)
    stake    = notional / leverage, clamped to freqtrade's [min_stake, max_stake]

Worked example (equity 10 000, confidence 0.8, daily volatility 2 %, NORMAL guard,
trending regime, leverage 2): the volatility multiplier is 0.01 / 0.02 = 0.5, so the
notional is 10 000 x 0.02 x 0.8 x 0.5 = 80 and the margin stake 80 / 2 = 40.

It never raises and never guesses: freqtrade's callback wrapper turns an exception into
the *proposed* stake, so every unusable input (None, NaN, inf, a non-positive equity,
volatility, leverage or multiplier, a confidence outside (0, 1], a multiplier above 1,
a leverage above the hard cap, a min stake above the max stake) gives stake 0 -- no
trade -- with the reason.

Clamping rules, decided here once:

* above ``max_stake`` (freqtrade's available balance / exchange maximum): clamp *down*;
  a smaller position is always within the risk limits.
* below ``min_stake`` (the exchange's minimum order): clamp *up* only when the minimum
  order is itself within the 10 % notional cap (``min_stake x leverage <= cap``);
  otherwise no trade. The cap is the hard limit; the exchange's minimum is not a reason
  to exceed it. Raising to ``min_stake`` also pre-empts freqtrade's own "more than 30 %
  bigger" refusal (``Wallets.validate_stake_amount``), deliberately: within the cap a
  minimum-size position is an acceptable risk.

:func:`daily_volatility` computes the current daily volatility from hourly closes
without lookahead, so it can be a dataframe column and read from the last row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metalabel.config import LEVERAGE_HARD_CAP, RiskSettings
from metalabel.risk.failsafe import fails_closed, finite_positive


@dataclass(frozen=True)
class StakeDecision:
    """The margin stake for one entry and why; ``stake_amount == 0`` means no trade."""

    stake_amount: float  # margin in stake currency, what custom_stake_amount returns
    notional: float  # stake_amount x leverage
    reason: str
    volatility_multiplier: float = 0.0

    @property
    def allowed(self) -> bool:
        return self.stake_amount > 0


def _no_trade(reason: str) -> StakeDecision:
    return StakeDecision(stake_amount=0.0, notional=0.0, reason=reason)


def volatility_multiplier(current_daily_volatility: float, settings: RiskSettings) -> float:
    """``min(target / current, cap)``; 0.0 when the volatility is unusable (no trade).

    >>> volatility_multiplier(0.02, RiskSettings())
    0.5
    >>> volatility_multiplier(0.001, RiskSettings())  # 10x, capped at 2x
    2.0
    """
    if not finite_positive(current_daily_volatility):
        return 0.0
    ratio = settings.target_daily_volatility_ratio / current_daily_volatility
    return float(min(ratio, settings.max_volatility_multiplier))


@fails_closed(lambda err: _no_trade(f"sizing failed: {err!r}"), "position sizing")
def position_stake(
    *,
    equity: float,
    confidence: float | None,
    current_daily_volatility: float,
    guard_multiplier: float,
    regime_multiplier: float,
    leverage: float,
    min_stake: float | None,
    max_stake: float,
    settings: RiskSettings,
) -> StakeDecision:
    """The margin stake for one entry, by the formula and clamping rules of this module.

    ``confidence`` is the meta-model's probability, or None when no model is in use
    (the baseline modes), which sizes as 1.0. ``min_stake`` / ``max_stake`` are the
    values freqtrade passes to ``custom_stake_amount`` (margin, leverage already applied).

    >>> d = position_stake(equity=10_000, confidence=0.8, current_daily_volatility=0.02,
    ...     guard_multiplier=1.0, regime_multiplier=1.0, leverage=2.0, min_stake=5.0,
    ...     max_stake=5_000.0, settings=RiskSettings())
    >>> (d.notional, d.stake_amount)
    (80.0, 40.0)
    """
    if not finite_positive(equity):
        return _no_trade(f"equity {equity!r} is not a positive number")
    if confidence is None:
        confidence = 1.0
    elif not finite_positive(confidence) or confidence > 1:
        return _no_trade(f"confidence {confidence!r} is not in (0, 1]")
    vol_multiplier = volatility_multiplier(current_daily_volatility, settings)
    if vol_multiplier <= 0:
        return _no_trade(f"daily volatility {current_daily_volatility!r} is not a positive number")
    for name, value in (("guard", guard_multiplier), ("regime", regime_multiplier)):
        if not finite_positive(value):
            return _no_trade(f"{name} multiplier {value!r} blocks the entry (not above 0)")
        if value > 1:
            return _no_trade(f"{name} multiplier {value!r} is above 1 (multipliers only shrink)")
    if not finite_positive(leverage) or leverage < 1 or leverage > LEVERAGE_HARD_CAP:
        return _no_trade(f"leverage {leverage!r} is not in [1, {LEVERAGE_HARD_CAP}]")
    if not finite_positive(max_stake):
        return _no_trade(f"max stake {max_stake!r} is not a positive number")
    if min_stake is not None and (
        isinstance(min_stake, bool) or not math.isfinite(min_stake) or min_stake < 0
    ):
        return _no_trade(f"min stake {min_stake!r} is not a number >= 0")
    if min_stake is not None and min_stake > max_stake:
        return _no_trade(f"min stake {min_stake} is above max stake {max_stake}")

    cap_notional = equity * settings.max_position_ratio
    raw_notional = (
        equity
        * settings.base_position_ratio
        * confidence
        * vol_multiplier
        * guard_multiplier
        * regime_multiplier
    )
    notional = min(raw_notional, cap_notional)
    reason = f"notional {notional:.8g} = equity x base x conf x vol x guard x regime"
    if raw_notional > cap_notional:
        reason = f"notional capped at {settings.max_position_ratio:.0%} of equity ({notional:.8g})"
    stake = notional / leverage

    if stake > max_stake:
        stake = max_stake
        reason += f"; stake clamped down to max stake {max_stake:.8g}"
    if min_stake is not None and stake < min_stake:
        if min_stake * leverage > cap_notional:
            return _no_trade(
                f"min stake {min_stake:.8g} x leverage {leverage:g} exceeds the "
                f"{settings.max_position_ratio:.0%} cap ({cap_notional:.8g}); no trade"
            )
        stake = min_stake
        reason += f"; stake raised to min stake {min_stake:.8g} (within the cap)"
    return StakeDecision(
        stake_amount=float(stake),
        notional=float(stake * leverage),
        reason=reason,
        volatility_multiplier=vol_multiplier,
    )


def daily_volatility(close: pd.Series, lookback_days: int, candles_per_day: int = 24) -> pd.Series:
    """Std (ddof=1) of the last ``lookback_days`` daily log returns, at every row.

    A "day" is a block of ``candles_per_day`` candles ending at the row, so every day
    in the window is complete and the value at row ``t`` reads ``close[t - n*d .. t]``
    only (``n = lookback_days``, ``d = candles_per_day``): no lookahead, and the last
    row is the current volatility. The first ``n*d`` rows are NaN, as is any row whose
    window holds a NaN or non-positive close. The rows must be consecutive candles
    (freqtrade fills gaps in its candle frames).

    Worked example with ``d = 2``, ``n = 2``: closes 100, 101, 102, 101, 103 give at the
    last row the daily returns ``ln(103/102)`` and ``ln(102/100)``, whose sample std is
    ``|ln(103/102) - ln(102/100)| / sqrt(2)`` = 0.007104.

    >>> s = daily_volatility(pd.Series([100.0, 101, 102, 101, 103]), 2, candles_per_day=2)
    >>> round(float(s.iloc[-1]), 6), bool(s.iloc[:4].isna().all())
    (0.007104, True)
    """
    if lookback_days < 2 or candles_per_day < 1:
        raise ValueError(
            f"need lookback_days >= 2 and candles_per_day >= 1, got {lookback_days}, "
            f"{candles_per_day}"
        )
    values = pd.to_numeric(close, errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.where(values > 0, np.log(values), np.nan)
    daily = pd.Series(log_close, index=close.index).diff(candles_per_day)
    window = pd.concat([daily.shift(candles_per_day * k) for k in range(lookback_days)], axis=1)
    result = window.std(axis=1, ddof=1, skipna=False)
    result.name = "daily_volatility"
    return result
