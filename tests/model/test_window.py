"""One training window: FreqAI's own rows, with the outcome behind each label."""

from typing import Any

import numpy as np
import pandas as pd
import pytest

from metalabel.model.window import (
    BARRIER_COLUMN,
    EXIT_TIME_COLUMN,
    NET_RETURN_COLUMN,
    TrainingWindow,
    WindowOutcomes,
    purge_label_horizon,
)
from tests.model.conftest import FreqaiSplit


def test_purge_removes_labels_whose_horizon_leaves_the_window() -> None:
    frame = pd.DataFrame({"&-label": ["take"] * 10, "%-x": range(10)})
    purged = purge_label_horizon(frame, 2)
    # rows 7, 8, 9 may exit at or after row 10, outside the window
    assert purged["&-label"].isna().tolist() == [False] * 7 + [True] * 3
    assert purged["%-x"].tolist() == list(range(10))  # features untouched
    assert frame["&-label"].notna().all()  # the input is not modified


def _frame() -> pd.DataFrame:
    """12 hourly rows as FreqAI slices them (index not from 0). Row 101 has an inf
    feature, rows 103 and 108 no label (no signal); the outcome is 0.01 x the row."""
    rows = range(100, 112)
    net = [0.01 * i for i in range(12)]
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2025-01-01", periods=12, freq="1h", tz="UTC"),
            "%-x": [1.0, np.inf, *np.arange(10.0)],
            "&-label": ["take", "skip", "take", None, "skip", "take"] * 2,
            NET_RETURN_COLUMN: net,
            BARRIER_COLUMN: ["profit", "stop", "time", None, "stop", "profit"] * 2,
            # each trade exits 2 h 15 min after its signal candle
            EXIT_TIME_COLUMN: pd.date_range("2025-01-01 02:15", periods=12, freq="1h", tz="UTC"),
        },
        index=rows,
    )
    frame.loc[[103, 109], NET_RETURN_COLUMN] = np.nan  # off-event: no outcome
    frame.loc[[103, 109], EXIT_TIME_COLUMN] = pd.NaT
    return frame


def test_outcomes_follow_freqais_own_training_rows(freqai_split: FreqaiSplit) -> None:
    frame = _frame()
    dd, freqai_info = freqai_split(frame)
    window = TrainingWindow.from_freqai(dd, WindowOutcomes.from_frame(frame), freqai_info)
    # kept: every row but 101 (inf) and 103, 109 (no label): 9 rows, 6 fit + 3 hold-out
    assert window.fit_dates.index.tolist() == [100, 102, 104, 105, 106, 107]
    assert window.holdout_dates.index.tolist() == [108, 110, 111]
    np.testing.assert_allclose(window.holdout_net_return, [0.08, 0.10, 0.11])
    assert window.holdout_labels.tolist() == ["take", "skip", "take"]
    fit_labels = ["take", "take", "skip", "take", "take", "skip"]
    assert window.labels.tolist() == [*fit_labels, "take", "skip", "take"]
    assert window.barriers.value_counts().to_dict() == {"profit": 4, "stop": 3, "time": 2}
    assert (window.start, window.end) == (frame["date"].iloc[0], frame["date"].iloc[-1])
    # the fit events' trades: entry at the next candle, exit as labelled
    hour = 3_600_000_000_000
    entries = frame.loc[[100, 102, 104, 105, 106, 107], "date"] + pd.Timedelta(hours=1)
    expected = entries.to_numpy("datetime64[ns]").astype(np.int64)
    np.testing.assert_array_equal(window.fit_spans.entry, expected)
    np.testing.assert_array_equal(window.fit_spans.exit - window.fit_spans.entry, [hour * 1.25] * 6)
    np.testing.assert_allclose(window.fit_net_return, [0.0, 0.02, 0.04, 0.05, 0.06, 0.07])
    assert len(window.dates_ns) == 9


def test_without_a_test_split_the_holdout_is_empty(freqai_split: FreqaiSplit) -> None:
    frame = _frame()
    dd, freqai_info = freqai_split(frame, test_size=0)
    window = TrainingWindow.from_freqai(dd, WindowOutcomes.from_frame(frame), freqai_info)
    assert len(window.fit_labels) == 9
    assert len(window.holdout_features) == 0 and len(window.holdout_net_return) == 0


@pytest.mark.parametrize(
    ("config", "why"),
    [
        # shuffled rows: the n-th training date is no longer the n-th row
        (
            {"data_split_parameters": {"shuffle": True}},
            "data_split_parameters.shuffle must be false",
        ),
        (
            {"feature_parameters": {"reverse_train_test_order": True}},
            "feature_parameters.reverse_train_test_order must be false",
        ),
    ],
)
def test_a_split_out_of_time_order_is_refused(
    freqai_split: FreqaiSplit, config: dict[str, Any], why: str
) -> None:
    frame = _frame()
    dd, _ = freqai_split(frame)
    with pytest.raises(ValueError, match=why):
        TrainingWindow.from_freqai(dd, WindowOutcomes.from_frame(frame), config)


def test_a_frame_without_outcome_columns_names_them() -> None:
    with pytest.raises(ValueError, match="label_net_return"):
        WindowOutcomes.from_frame(_frame().drop(columns=[NET_RETURN_COLUMN]))
