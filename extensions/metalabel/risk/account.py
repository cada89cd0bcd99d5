"""The account as the risk rules see it: closed trades and equity.

The strategy hands in freqtrade's trade objects (anything with ``close_profit_abs`` and
``close_date_utc``); nothing here imports freqtrade, so the bookkeeping is tested with
plain objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ClosedTrade:
    """What the guard needs of a closed trade."""

    profit_abs: float
    closed_at: datetime


class ClosedTradeRecord(Protocol):
    """The two facts read from a closed freqtrade trade."""

    @property
    def close_profit_abs(self) -> float | None: ...

    @property
    def close_date_utc(self) -> datetime | None: ...


@dataclass
class ClosedTradeBook:
    """The closed trades and their summed profit, rebuilt only when a trade closed.

    This runs every candle of a backtest; rebuilding it every time grew with history.
    The count of closed trades is the change marker (trades are only ever added).

    >>> from types import SimpleNamespace as T
    >>> from datetime import UTC
    >>> book = ClosedTradeBook()
    >>> day = datetime(2025, 1, 1, tzinfo=UTC)
    >>> book.profit([T(close_profit_abs=2.0, close_date_utc=day),
    ...              T(close_profit_abs=None, close_date_utc=day)])
    2.0
    """

    _count: int = -1
    _closed: list[ClosedTrade] = field(default_factory=list)
    _profit: float = 0.0

    def _update(self, trades: Sequence[ClosedTradeRecord]) -> None:
        if len(trades) == self._count:
            return
        self._closed = [
            ClosedTrade(t.close_profit_abs or 0.0, t.close_date_utc)
            for t in trades
            if t.close_date_utc is not None
        ]
        self._profit = sum(c.profit_abs for c in self._closed)
        self._count = len(trades)

    def closed(self, trades: Sequence[ClosedTradeRecord]) -> list[ClosedTrade]:
        self._update(trades)
        return self._closed

    def profit(self, trades: Sequence[ClosedTradeRecord]) -> float:
        self._update(trades)
        return self._profit


def account_equity(
    starting_balance: float, closed_profit: float, unrealised: Iterable[float]
) -> float:
    """Starting balance + closed profit + the open positions' unrealised profit.

    A non-finite unrealised value is skipped by the caller's choice of rate; here every
    value counts, so an unusable one makes the equity NaN and the risk rules refuse.

    >>> account_equity(10_000.0, -150.0, [20.0, -5.0])
    9865.0
    >>> import math
    >>> math.isnan(account_equity(10_000.0, 0.0, [math.nan]))
    True
    """
    equity = starting_balance + closed_profit
    for value in unrealised:  # in order, as freqtrade's own sums are taken
        equity += value
    return float(equity)
