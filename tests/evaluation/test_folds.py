"""Walk-forward folds: the report's 30-day test windows and the tuner's purged train/test steps."""

from __future__ import annotations

import pandas as pd
import pytest

from metalabel.evaluation.folds import Fold, walk_forward_folds


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


T0 = _utc("2025-01-01")


# ----------------------------------------------------------------------------- report folds
def test_report_folds_are_consecutive_30_day_windows() -> None:
    folds = walk_forward_folds(T0, _utc("2025-04-01"), partial_last=True)
    assert [(f.test_start.date().isoformat(), f.test_days) for f in folds] == [
        ("2025-01-01", 30.0),
        ("2025-01-31", 30.0),
        ("2025-03-02", 30.0),
    ]
    assert [f.index for f in folds] == [0, 1, 2]
    assert not any(f.has_training for f in folds)
    assert all(f.train_start == f.train_end == f.test_start for f in folds)


def test_a_range_not_a_multiple_of_the_window_ends_with_a_shorter_report_fold() -> None:
    folds = walk_forward_folds(T0, T0 + pd.Timedelta(days=65), partial_last=True)
    assert [f.test_days for f in folds] == [30.0, 30.0, 5.0]
    # without partial_last (the tuner) the short window is not a fold
    assert [f.test_days for f in walk_forward_folds(T0, T0 + pd.Timedelta(days=65))] == [
        30.0,
        30.0,
    ]


def test_an_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="empty period"):
        walk_forward_folds(T0, T0, partial_last=True)


# ----------------------------------------------------------------------------- tuner folds
def test_folds_slide_by_the_test_window_and_purge_before_it() -> None:
    # 10 days of data, 4 days train, 2 days test, 24 1h candles purged (the docstring case)
    folds = walk_forward_folds(
        _utc("2024-01-01"), _utc("2024-01-11"), train_days=4, test_days=2, purge_candles=24
    )
    assert folds == [
        Fold(0, _utc("2024-01-01"), _utc("2024-01-04"), _utc("2024-01-05"), _utc("2024-01-07")),
        Fold(1, _utc("2024-01-03"), _utc("2024-01-06"), _utc("2024-01-07"), _utc("2024-01-09")),
        Fold(2, _utc("2024-01-05"), _utc("2024-01-08"), _utc("2024-01-09"), _utc("2024-01-11")),
    ]
    for fold in folds:
        assert fold.has_training
        assert fold.test_start - fold.train_end == pd.Timedelta(hours=24)


def test_only_complete_test_windows_are_tuner_folds() -> None:
    # one hour short of the third test window: two folds
    folds = walk_forward_folds(
        _utc("2024-01-01"), _utc("2024-01-10 23:00"), train_days=4, test_days=2, purge_candles=1
    )
    assert [f.test_end for f in folds] == [_utc("2024-01-07"), _utc("2024-01-09")]
    assert folds[0].train_end == _utc("2024-01-04 23:00")
    short = walk_forward_folds(
        _utc("2024-01-01"), _utc("2024-01-06"), train_days=4, test_days=2, purge_candles=1
    )
    assert short == []


def test_the_purge_is_counted_in_candles_of_the_given_length() -> None:
    fold = walk_forward_folds(
        _utc("2024-01-01"),
        _utc("2024-01-11"),
        train_days=4,
        test_days=2,
        purge_candles=3,
        candle=pd.Timedelta(minutes=15),
    )[0]
    assert fold.test_start - fold.train_end == pd.Timedelta(minutes=45)


@pytest.mark.parametrize(
    ("train_days", "test_days", "purge_candles"),
    [
        (0, 30, 25),  # a purge but no training window to purge from
        (180, 0, 25),  # no test window
        (1, 30, 24),  # the purge eats the whole training day
        (-1, 30, 0),  # a negative training window
        (180, 30, -1),  # a negative purge
    ],
)
def test_unusable_fold_shapes_are_refused(
    train_days: int, test_days: int, purge_candles: int
) -> None:
    with pytest.raises(ValueError):
        walk_forward_folds(
            _utc("2024-01-01"),
            _utc("2025-01-01"),
            train_days=train_days,
            test_days=test_days,
            purge_candles=purge_candles,
        )
