"""Fault injection for the replay exchange: what drills and risk tests switch on.

All faults are off by default; a ``ReplayExchange`` applies them to what it serves.
Kept apart from the request logic so the happy path stays easy to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from metalabel.replay.data import Candles


@dataclass
class Faults:
    """Switchable faults. ``price_factor`` scales every price served from
    ``price_shock_from_ms`` (served time) on: 0.7 is a 30 % crash, as seen in candles,
    mark candles, tickers and the order book alike."""

    price_factor: float = 1.0
    price_shock_from_ms: int | None = None

    def crash(self, factor: float, from_ms: int) -> None:
        if not factor > 0:
            raise ValueError(f"price factor must be positive, got {factor}")
        self.price_factor, self.price_shock_from_ms = factor, from_ms

    def clear(self) -> None:
        self.price_factor, self.price_shock_from_ms = 1.0, None

    def prices(self, candles: Candles) -> Candles:
        """The candles with the price shock applied (volume untouched)."""
        if self.price_shock_from_ms is None or self.price_factor == 1.0:
            return candles
        hit = candles.ts >= self.price_shock_from_ms
        if not hit.any():
            return candles
        ohlcv = candles.ohlcv.copy()
        ohlcv[hit, :4] *= self.price_factor
        return Candles(candles.ts, ohlcv)
