"""The tuning data set is the frame the strategy's FreqAI hooks build, row for row."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from metalabel.config import MetalabelConfig
from metalabel.core.pipeline import (
    EXIT_COLUMN,
    LABEL_COLUMN,
    RETURN_COLUMN,
    TARGET_COLUMN,
    labelled_events,
    load_bundle,
)
from metalabel.model.inputs import AS_IS, IN_ATR_UNITS
from metalabel.model.window import NET_RETURN_COLUMN
from metalabel.ops.runner import BUNDLED_DATA
from tests.conftest import load_strategy


def _slice(candles: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    inside = (candles["date"] >= start) & (candles["date"] < end)
    return candles[inside].reset_index(drop=True)


def _hooks_frame(strategy: Any, candles: pd.DataFrame, pair: str) -> pd.DataFrame:
    """What FreqAI trains on: the strategy's two hooks, then FreqAI's training-row filter
    (rows with a label and no missing feature)."""
    metadata = {"pair": pair}
    frame = strategy.feature_engineering_standard(candles.copy(), metadata)
    frame = strategy.set_freqai_targets(frame, metadata)
    features = [c for c in frame.columns if c.startswith("%")]
    finite = np.isfinite(frame[features].to_numpy(dtype=np.float64)).all(axis=1)
    return frame.loc[frame[TARGET_COLUMN].notna() & finite].reset_index(drop=True)


@pytest.mark.parametrize(
    ("pair", "start", "end"),
    [
        ("BTC/USDT:USDT", "2024-03-01", "2024-07-01"),  # cold start: warm-up rows drop out
        ("ETH/USDT:USDT", "2025-01-15", "2025-05-01"),
    ],
)
def test_labelled_events_equal_the_strategy_hooks(
    tmp_path: Path, replay_url: str, pair: str, start: str, end: str
) -> None:
    bundle = load_bundle(BUNDLED_DATA, pair)
    candles = _slice(bundle.candles_1h, start, end)
    # the hooks do not depend on the mode; "meta" would need FreqAI itself
    strategy = load_strategy(replay_url, "primary_regime", tmp_path)

    expected = _hooks_frame(strategy, candles, pair)
    events = labelled_events(replace(bundle, candles_1h=candles), strategy.settings)

    assert len(events) > 50
    assert events["date"].tolist() == expected["date"].tolist()
    features = [c for c in expected.columns if c.startswith("%")]
    assert [c for c in events.columns if c.startswith("%")] == features
    pd.testing.assert_frame_equal(events[features], expected[features], check_exact=True)
    assert events[LABEL_COLUMN].tolist() == expected[TARGET_COLUMN].tolist()
    # the outcome behind each label travels in the frame, for the model's hold-out figures
    np.testing.assert_array_equal(
        events[RETURN_COLUMN].to_numpy(), expected[NET_RETURN_COLUMN].to_numpy()
    )


def test_rows_are_admitted_labelled_events_with_finite_features() -> None:
    bundle = load_bundle(BUNDLED_DATA, "BTC/USDT:USDT")
    candles = _slice(bundle.candles_1h, "2024-01-01", "2024-05-01")
    events = labelled_events(replace(bundle, candles_1h=candles), MetalabelConfig())

    features = [c for c in events.columns if c.startswith("%")]
    assert features[: len(AS_IS)] == [f"%-{c}" for c in AS_IS]
    assert {f"%-{c}_atr" for c in IN_ATR_UNITS} <= set(features)
    # no constant input on the events, none an affine copy of another
    assert (events[features].std() > 0).all()
    corr = events[features].corr().abs().to_numpy()
    assert (corr[np.triu_indices(len(features), 1)] < 0.999).all()
    assert list(events.columns) == ["date", *features, LABEL_COLUMN, RETURN_COLUMN, EXIT_COLUMN]
    assert (events[EXIT_COLUMN] > events["date"]).all()  # exits after the signal candle
    assert set(events[LABEL_COLUMN]) == {"take", "skip"}
    assert events["%-primary_direction"].isin([-1.0, 1.0]).all()
    assert np.isfinite(events[[*features, RETURN_COLUMN]].to_numpy()).all()
    # "take" is a trade that paid after costs
    assert (events[LABEL_COLUMN].eq("take") == events[RETURN_COLUMN].gt(0)).all()
    assert events["date"].is_monotonic_increasing


def test_without_funding_or_4h_candles_the_rows_still_come() -> None:
    bundle = load_bundle(BUNDLED_DATA, "ETH/USDT:USDT")
    candles = _slice(bundle.candles_1h, "2024-06-01", "2024-09-01")
    settings = MetalabelConfig()
    no_funding = replace(bundle, candles_1h=candles, funding=bundle.funding.iloc[:0])
    confirmed = labelled_events(no_funding, settings)
    unconfirmed = labelled_events(
        replace(no_funding, candles_4h=bundle.candles_4h.iloc[:0]), settings
    )
    assert (confirmed["%-funding_rate_z"] == 0.0).all()
    # the 4h trend only ever vetoes signals
    assert 0 < len(confirmed) < len(unconfirmed)
    assert set(confirmed["date"]) <= set(unconfirmed["date"])


def test_hours_without_detail_give_no_labels_and_are_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hole in the 15m candles: the signals whose trade would cross it get no label
    (never a label computed from 1h bars), and the log names the pair and the hours."""
    bundle = load_bundle(BUNDLED_DATA, "BTC/USDT:USDT")
    candles = _slice(bundle.candles_1h, "2024-03-01", "2024-05-01")
    full = labelled_events(replace(bundle, candles_1h=candles), MetalabelConfig())
    hole = (bundle.detail["date"] >= "2024-04-10") & (bundle.detail["date"] < "2024-04-11")
    with caplog.at_level("WARNING"):
        holed = labelled_events(
            replace(bundle, candles_1h=candles, detail=bundle.detail[~hole]), MetalabelConfig()
        )
    assert (
        "BTC/USDT:USDT: 24 of" in caplog.text
        and "2024-04-10 00:00..2024-04-10 23:00" in caplog.text
    )
    lost = set(full["date"]) - set(holed["date"])
    assert lost and all(
        pd.Timestamp("2024-04-08", tz="UTC") <= d < pd.Timestamp("2024-04-11", tz="UTC")
        for d in lost
    )
    kept = full[~full["date"].isin(lost)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, holed)
