"""Loading FreqAI's per-window backtest predictions and the training base rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metalabel.evaluation.report.analysis import training_base_rates
from metalabel.evaluation.report.loading import ReportInputError, load_predictions

PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START = pd.Timestamp("2025-01-01", tz="UTC")


def write_window(folder: Path, coin: str, start: pd.Timestamp, take: list[float]) -> None:
    """A prediction file as FreqAI writes it: date, %% columns, classes, do_predict."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "date": pd.date_range(start, periods=len(take), freq="1h"),
            "&-label": ["take" if p > 0.5 else "skip" for p in take],
            "skip": [1 - p for p in take],
            "take": take,
            "do_predict": [1] * len(take),
        }
    )
    frame.to_feather(folder / f"cb_{coin}_{int(start.timestamp())}_prediction.feather")


def test_predictions_of_every_window_and_pair(tmp_path: Path) -> None:
    write_window(tmp_path, "btc", START, [0.2, 0.7])
    write_window(tmp_path, "eth", START, [0.6])
    later = START + pd.Timedelta(days=30)
    write_window(tmp_path, "btc", later, [0.4])
    frame = load_predictions(tmp_path, PAIRS)
    assert len(frame) == 4
    btc = frame[frame["pair"] == "BTC/USDT:USDT"].sort_values("date")
    assert btc["take"].tolist() == [0.2, 0.7, 0.4]
    assert btc["window_start"].tolist() == [START, START, later]
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]"


def test_missing_or_foreign_predictions_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="does not exist"):
        load_predictions(tmp_path / "nothing", PAIRS)
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(ReportInputError, match="holds no feather"):
        load_predictions(tmp_path / "empty", PAIRS)
    write_window(tmp_path / "sol", "sol", START, [0.5])
    with pytest.raises(ReportInputError, match="not a prediction file of the pairs"):
        load_predictions(tmp_path / "sol", PAIRS)


def test_training_base_rate_uses_the_window_before_with_the_horizon_purged() -> None:
    day = pd.Timedelta(days=1)
    events = pd.DataFrame(
        {
            "pair": ["BTC/USDT:USDT"] * 4 + ["ETH/USDT:USDT"],
            "date": [
                START - 9 * day,
                START - 5 * day,
                START - 3 * day,
                START - 1 * day,
                START - day,
            ],
            "label": ["skip", "take", "take", "take", "skip"],
        }
    )
    signals = pd.DataFrame(
        {"pair": ["BTC/USDT:USDT", "ETH/USDT:USDT"], "window_start": [START, START]}
    )
    # training range [START - 6 days, START - 2 days): BTC events at -5 and -3 -> 2/2;
    # -9 is before the window, -1 falls in the purged horizon; ETH has none in range
    rates = training_base_rates(signals, events, train_days=6, purge=2 * day)
    assert rates[0] == 1.0
    assert np.isnan(rates[1])
