"""Purged, embargoed folds and uniqueness weights on hand-built trade spans."""

import numpy as np
import pytest

from metalabel.model.cv import HOUR_NS, EventSpans, purged_folds, uniqueness_weights


def spans(entries_h: list[float], exits_h: list[float]) -> EventSpans:
    as_ns = lambda hours: (np.asarray(hours) * HOUR_NS).astype(np.int64)  # noqa: E731
    return EventSpans(as_ns(entries_h), as_ns(exits_h))


def test_the_docstring_example_purges_the_overlapping_neighbours() -> None:
    folds = purged_folds(spans([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]), 2, 0)
    assert [f.test.tolist() for f in folds] == [[0, 1, 2], [3, 4, 5]]
    assert [f.train.tolist() for f in folds] == [[4, 5], [0, 1]]


def test_no_training_trade_overlaps_its_test_block_and_the_embargo_holds() -> None:
    rng = np.random.default_rng(3)
    entries = np.sort(rng.uniform(0, 2000, 300))
    events = spans(list(entries), list(entries + rng.uniform(0, 24, 300)))
    for fold in purged_folds(events, 5, 12 * HOUR_NS):
        first = events.entry[fold.test].min()
        last = events.exit[fold.test].max()
        train_entry, train_exit = events.entry[fold.train], events.exit[fold.train]
        assert not np.any((train_entry <= last) & (train_exit >= first))
        assert not np.any((train_entry > last) & (train_entry <= last + 12 * HOUR_NS))
        assert len(fold.train) > 150  # only the neighbours go


def test_folds_refuse_too_few_events_or_splits() -> None:
    with pytest.raises(ValueError, match="3 events cannot make 5 folds"):
        purged_folds(spans([0, 1, 2], [1, 2, 3]), 5, 0)
    with pytest.raises(ValueError, match="n_splits"):
        purged_folds(spans([0, 1, 2], [1, 2, 3]), 1, 0)
    with pytest.raises(ValueError, match="time order"):
        spans([2, 1], [3, 3])
    with pytest.raises(ValueError, match="exits before"):
        spans([2], [1])


def test_uniqueness_of_overlapping_and_lone_trades() -> None:
    # A over candles 0-1, B over 1-2 (share candle 1), C alone on candle 10 (exits in it)
    weights = uniqueness_weights(spans([0, 1, 10], [1.5, 2.5, 10.25]))
    np.testing.assert_allclose(weights, [0.75, 0.75, 1.0])
    # three trades over the same two candles weigh a third each
    np.testing.assert_allclose(uniqueness_weights(spans([0, 0, 0], [1, 1, 1])), [1 / 3] * 3)
    assert uniqueness_weights(spans([], [])).shape == (0,)
