"""Walk-forward folds: the one fold type and the one generator of the evaluation layer.

Two callers cut time the same way -- test windows of fixed length sliding by their own
length -- and differ only in what comes before each window:

* the report (:mod:`metalabel.evaluation.report`) scores FreqAI's backtest windows
  (``backtest_period_days``): consecutive test windows from the period start, the last
  one possibly shorter, and no training window (FreqAI trained its own models);
* the tuner (:mod:`metalabel.evaluation.tuning`) trains a model per fold: a training
  window of ``train_days`` before each test window, ending ``purge_candles`` candles
  before it, and only complete test windows.

Every bound is a candle date; starts are inclusive, ends exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

FOLD_DAYS = 30  # FreqAI's backtest_period_days: one model per 30-day window
ONE_DAY = pd.Timedelta(days=1)
ONE_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: ``[train_start, train_end)`` then ``[test_start, test_end)``.

    A fold without training (the report's) has ``train_start == train_end == test_start``.
    """

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def test_days(self) -> float:
        """Length of the test window in days (the last report fold may be shorter)."""
        return float((self.test_end - self.test_start) / ONE_DAY)

    @property
    def has_training(self) -> bool:
        return bool(self.train_end > self.train_start)


def walk_forward_folds(
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    test_days: int = FOLD_DAYS,
    train_days: int = 0,
    purge_candles: int = 0,
    candle: pd.Timedelta = ONE_HOUR,
    partial_last: bool = False,
) -> list[Fold]:
    """Folds of ``train_days`` then ``test_days``, sliding by ``test_days``, inside [start, end).

    The first training window starts at ``start`` (with ``train_days=0`` the first test
    window does). Training stops ``purge_candles`` candles before its test window. A last
    test window cut short by ``end`` is kept only with ``partial_last``.

    Worked example (the tuner's), start 2024-01-01, end 2024-01-11, 4 days train,
    2 days test, purge 24 1h candles::

        train [01-01, 01-04)  test [01-05, 01-07)
        train [01-03, 01-06)  test [01-07, 01-09)
        train [01-05, 01-08)  test [01-09, 01-11)

    The report's: 2025-01-01..2025-03-07 (65 days), ``test_days=30, partial_last=True``
    gives test windows of 30, 30 and 5 days.

    >>> t0 = pd.Timestamp("2025-01-01", tz="UTC")
    >>> folds = walk_forward_folds(t0, t0 + 65 * ONE_DAY, test_days=30, partial_last=True)
    >>> [(f.index, f.test_days, f.has_training) for f in folds]
    [(0, 30.0, False), (1, 30.0, False), (2, 5.0, False)]
    """
    if end <= start:
        raise ValueError(f"empty period: start {start} is not before end {end}")
    if train_days < 0 or test_days < 1 or purge_candles < 0:
        raise ValueError(
            "need train_days >= 0, test_days >= 1 and purge_candles >= 0, got "
            f"{train_days}, {test_days}, {purge_candles}"
        )
    train, test = pd.Timedelta(days=train_days), pd.Timedelta(days=test_days)
    purge = candle * purge_candles
    if purge_candles and purge >= train:
        raise ValueError(f"purge of {purge} leaves no training window of {train}")
    folds: list[Fold] = []
    test_start = start + train
    while test_start < end and (partial_last or test_start + test <= end):
        train_end = test_start - purge if train_days else test_start
        folds.append(
            Fold(len(folds), test_start - train, train_end, test_start, min(test_start + test, end))
        )
        test_start += test
    return folds
