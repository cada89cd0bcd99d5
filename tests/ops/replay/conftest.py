"""Fixtures: the replay exchange over the bundled data, and tiny hand-made bundles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from metalabel.ops.replay import ReplayServer

BUNDLE_DIR = Path(__file__).resolve().parents[3] / "user_data" / "data" / "bybit" / "futures"
HOUR_MS = 3_600_000


def read_bundle(pair: str, kind: str, timeframe: str = "1h") -> pd.DataFrame:
    """A bundled feather file with an extra `ts` column of ms open times."""
    frame = pd.read_feather(BUNDLE_DIR / f"{pair}-{timeframe}-{kind}.feather")
    frame["ts"] = frame["date"].astype("datetime64[ms, UTC]").astype("int64")
    return frame


@pytest.fixture(scope="session")
def replay() -> Iterator[ReplayServer]:
    """The replay exchange over the bundled data, historical clock, on a free port."""
    with ReplayServer(BUNDLE_DIR) as server:
        yield server


Get = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def get(replay: ReplayServer) -> Iterator[Get]:
    """GET a path with query params from the replay exchange; returns the JSON envelope."""
    with requests.Session() as session:

        def _get(path: str, **params: Any) -> dict[str, Any]:
            response = session.get(replay.url + path, params=params, timeout=10)
            body: dict[str, Any] = response.json()
            body["http_status"] = response.status_code
            return body

        yield _get


def write_bundle(
    directory: Path,
    start: str,
    hours: int,
    *,
    mark: bool = True,
    funding: bool = True,
    detail: bool = False,
) -> Path:
    """A tiny BTC bundle: `hours` 1h candles from `start`, candle i has close 100 + i.

    With `detail`, also the 15m candles that resample to them: relative to close 100 + i,
    the quarters open at -0.5, -0.25, +0.25, -0.25 and close at -0.25, +0.25, -0.25, 0;
    the :15 one holds the high (+1), the :30 one the low (-1); volume 0.5 each.
    """
    directory.mkdir(parents=True, exist_ok=True)
    dates = pd.date_range(start, periods=hours, freq="1h", tz="UTC")
    close = 100.0 + np.arange(hours)
    candles = pd.DataFrame(
        {
            "date": dates,
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(hours, 2.0),
        }
    )
    candles.to_feather(directory / "BTC_USDT_USDT-1h-futures.feather")
    if mark:
        marked = candles.assign(close=close + 0.25, volume=0.0)
        marked.to_feather(directory / "BTC_USDT_USDT-1h-mark.feather")
    if funding:
        settle = candles[candles["date"].dt.hour % 8 == 0]
        rates = pd.DataFrame(
            {"date": settle["date"], "open": 0.0001 * (1 + np.arange(len(settle)))}
        ).assign(high=0.0, low=0.0, close=0.0, volume=0.0)
        rates.reset_index(drop=True).to_feather(directory / "BTC_USDT_USDT-1h-funding_rate.feather")
    if detail:
        quarters = pd.date_range(start, periods=4 * hours, freq="15min", tz="UTC")
        hour, q = np.divmod(np.arange(4 * hours), 4)
        level = 100.0 + hour
        opens = level + np.array([-0.5, -0.25, 0.25, -0.25])[q]
        closes = level + np.array([-0.25, 0.25, -0.25, 0.0])[q]
        sub = pd.DataFrame(
            {
                "date": quarters,
                "open": opens,
                "high": np.where(q == 1, level + 1.0, np.maximum(opens, closes)),
                "low": np.where(q == 2, level - 1.0, np.minimum(opens, closes)),
                "close": closes,
                "volume": np.full(4 * hours, 0.5),
            }
        )
        sub.to_feather(directory / "BTC_USDT_USDT-15m-futures.feather")
    return directory
