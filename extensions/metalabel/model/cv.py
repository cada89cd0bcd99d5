"""Training statistics that respect overlapping labels: purged, embargoed time-series
folds and sample weights from label uniqueness (López de Prado, *Advances in Financial
Machine Learning*, ch. 4 and 7).

An event's label is decided by the trade it stands for, which runs from the entry (the
candle after the signal) to its exit. Two events whose trades overlap in time share
information, so

* a cross-validation fold must not train on an event whose trade overlaps the test
  events' span (**purge**), nor on events that start just after it (**embargo**: the
  test period's features still echo in them), and
* an event counts in proportion to how much of its trade it has to itself
  (**uniqueness**): runs of signals that ride one move weigh as about one event.

Times are int64 nanoseconds; pure numpy, no freqtrade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

HOUR_NS = 3_600_000_000_000


@dataclass(frozen=True)
class EventSpans:
    """When each event's trade is open: entry and exit times (ns), in event order."""

    entry: IntArray
    exit: IntArray

    def __post_init__(self) -> None:
        if self.entry.shape != self.exit.shape:
            raise ValueError(f"{len(self.entry)} entries for {len(self.exit)} exits")
        if len(self.entry) and np.any(np.diff(self.entry) < 0):
            raise ValueError("events must be in time order")
        if np.any(self.exit < self.entry):
            raise ValueError("an event exits before it enters")

    def __len__(self) -> int:
        return len(self.entry)


@dataclass(frozen=True)
class Fold:
    train: IntArray  # event positions the fold fits on (purged and embargoed)
    test: IntArray  # a contiguous block of events it is scored on


def purged_folds(spans: EventSpans, n_splits: int, embargo_ns: int) -> list[Fold]:
    """K contiguous test blocks in time order; each trains on every other event except
    those whose trade overlaps the block's span and those entering within ``embargo_ns``
    after the block's last exit.

    Worked example: six one-hour trades entering at hours 0..5, two splits, no embargo:
    block 1 = events 0-2 (span hours 0-3), event 3 enters at hour 3 <= 3 and is purged,
    so fold 1 trains on events 4 and 5; block 2 = events 3-5 (span 3-6), event 2 exits
    at hour 3 >= 3 and is purged, so fold 2 trains on events 0 and 1.
    """
    n = len(spans)
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    if n < n_splits:
        raise ValueError(f"{n} events cannot make {n_splits} folds")
    positions = np.arange(n, dtype=np.int64)
    folds = []
    for block in np.array_split(positions, n_splits):
        first, last = spans.entry[block[0]], spans.exit[block].max()
        overlaps = (spans.entry <= last) & (spans.exit >= first)
        embargoed = (spans.entry > last) & (spans.entry <= last + embargo_ns)
        keep = ~(overlaps | embargoed)
        keep[block] = False
        folds.append(Fold(train=positions[keep], test=block))
    return folds


def uniqueness_weights(spans: EventSpans, step_ns: int = HOUR_NS) -> FloatArray:
    """Each event's average uniqueness: the mean over its trade's candles of 1 / (how
    many trades are open on that candle).

    A trade is open on the candles from its entry up to (not including) its exit
    candle's end; a trade that exits on its entry candle holds that one candle.
    Worked example: trades A over candles 0-1 and B over candles 1-2 -> candle 1 is
    shared: A = (1 + 1/2) / 2 = 0.75, B likewise.
    """
    n = len(spans)
    if n == 0:
        return np.zeros(0)
    origin = spans.entry.min()
    start = (spans.entry - origin) // step_ns
    stop = (spans.exit - origin) // step_ns + 1  # exclusive
    concurrency = np.zeros(int(stop.max()) + 1, dtype=np.int64)
    np.add.at(concurrency, start, 1)
    np.add.at(concurrency, stop, -1)
    open_trades = np.cumsum(concurrency)[:-1]
    inverse_cumsum = np.concatenate([[0.0], np.cumsum(1.0 / np.maximum(open_trades, 1))])
    weights: FloatArray = (inverse_cumsum[stop] - inverse_cumsum[start]) / (stop - start)
    return weights
