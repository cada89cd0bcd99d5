"""Position risk rules that do not depend on account history: leverage for now."""

from __future__ import annotations

import math

from metalabel.config import LEVERAGE_HARD_CAP, RiskSettings


def leverage_for_trade(risk: RiskSettings, exchange_max_leverage: float | None) -> float:
    """min(configured leverage, hard cap 3, the exchange's maximum for the pair).

    An unusable exchange maximum (None, NaN, below 1) gives 1x: the safe answer.

    >>> leverage_for_trade(RiskSettings(leverage=2.0), 100.0)
    2.0
    >>> leverage_for_trade(RiskSettings(leverage=3.0), 1.5)
    1.5
    """
    if exchange_max_leverage is None or not math.isfinite(exchange_max_leverage):
        return 1.0
    if exchange_max_leverage < 1:
        return 1.0
    return float(min(risk.leverage, LEVERAGE_HARD_CAP, exchange_max_leverage))
