"""The tuning data set is the frame the strategy's FreqAI hooks build, row for row."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metalabel.dataset import LABEL_COLUMN, RETURN_COLUMN, labelled_events, load_bundle
from metalabel.model_features import model_feature_columns
from metalabel.runner import BUNDLED_DATA
from metalabel.training_report import LabelLedger, training_row_dates
from tests.test_strategy import _strategy
from tests.test_strategy import replay_url as replay_url  # noqa: F401 - pytest fixture


def _hooks_frame(strategy: object, candles: pd.DataFrame, pair: str) -> pd.DataFrame:
    """What FreqAI trains on: the strategy's hooks, then FreqAI's row filter."""
    metadata = {"pair": pair}
    frame = strategy.feature_engineering_standard(candles.copy(), metadata)  # type: ignore[attr-defined]
    frame = strategy.set_freqai_targets(frame, metadata)  # type: ignore[attr-defined]
    kept = frame.loc[frame["date"].isin(training_row_dates(frame))].reset_index(drop=True)
    return kept


@pytest.mark.parametrize(
    ("pair", "start", "end"),
    [
        ("BTC/USDT:USDT", "2024-03-01", "2024-07-01"),  # starts cold: warm-up rows drop out
        ("ETH/USDT:USDT", "2025-01-15", "2025-05-01"),
    ],
)
def test_labelled_events_equal_the_strategy_hooks(
    tmp_path: Path, replay_url: str, pair: str, start: str, end: str
) -> None:
    bundle = load_bundle(BUNDLED_DATA, pair)
    candles = bundle.candles_1h
    candles = candles[(candles["date"] >= start) & (candles["date"] < end)].reset_index(drop=True)
    strategy = _strategy(replay_url, "meta", tmp_path)

    expected = _hooks_frame(strategy, candles, pair)
    events = labelled_events(candles, bundle.candles_4h, bundle.funding, bundle_settings(strategy))

    assert len(events) > 50
    assert events["date"].tolist() == expected["date"].tolist()
    features = [c for c in expected.columns if c.startswith("%")]
    assert [c for c in events.columns if c.startswith("%")] == features
    pd.testing.assert_frame_equal(events[features], expected[features])
    assert events[LABEL_COLUMN].tolist() == expected["&-label"].tolist()
    recorded = LabelLedger.lookup(pair, expected["date"].tolist())["net_return"]
    np.testing.assert_array_equal(events[RETURN_COLUMN].to_numpy(), recorded.to_numpy())


def bundle_settings(strategy: object) -> object:
    return strategy.settings  # type: ignore[attr-defined]


def test_rows_are_admitted_labelled_events_with_finite_features() -> None:
    bundle = load_bundle(BUNDLED_DATA, "BTC/USDT:USDT")
    candles = bundle.candles_1h.iloc[:2500]
    from metalabel.config import MetalabelConfig

    events = labelled_events(candles, bundle.candles_4h, bundle.funding, MetalabelConfig())
    assert set(events[LABEL_COLUMN]) == {"take", "skip"}
    assert events["%-primary_direction"].isin([-1.0, 1.0]).all()
    assert np.isfinite(events[RETURN_COLUMN]).all()
    # a take is a trade that paid after costs
    assert (events.loc[events[LABEL_COLUMN] == "take", RETURN_COLUMN] > 0).all()
    assert events["date"].is_monotonic_increasing
    assert list(events.columns) == [
        "date",
        *model_feature_columns(pd.DataFrame()).columns,
        LABEL_COLUMN,
        RETURN_COLUMN,
    ] or len(events.columns) > 3
