"""The real `freqtrade` runs offline against the replay exchange and gets the bundled data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from metalabel.ops.replay import ReplayServer

from .conftest import read_bundle

FREQTRADE = Path(sys.executable).with_name("freqtrade")
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
JUNE = (pd.Timestamp("2026-06-01", tz="UTC"), pd.Timestamp("2026-07-01", tz="UTC"))
OHLC = ["open", "high", "low", "close"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FREQTRADE.exists(), reason="no freqtrade next to the interpreter"),
]


def freqtrade(replay: ReplayServer, tmp_path: Path, *args: str) -> str:
    """Run freqtrade with a futures dry-run config routed to the replay exchange; its stdout."""
    api = dict.fromkeys(("public", "private", "spot", "futures", "v2"), replay.url)
    config = {
        "exchange": {
            "name": "bybit",
            "pair_whitelist": PAIRS,
            "ccxt_config": {"urls": {"api": api}},
            "ccxt_async_config": {"urls": {"api": api}},
            "enable_ws": False,
        },
        "trading_mode": "futures",
        "margin_mode": "isolated",
        "stake_currency": "USDT",
        "stake_amount": "unlimited",
        "dry_run": True,
        "timeframe": "1h",
        "user_data_dir": str(tmp_path / "user_data"),
        "pairlists": [{"method": "StaticPairList"}],
    }
    (tmp_path / "user_data").mkdir(exist_ok=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [str(FREQTRADE), *args, "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "ERROR" not in output and "WARNING" not in output, output
    return done.stdout


def in_june(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["date"] >= JUNE[0]) & (frame["date"] < JUNE[1])].reset_index(drop=True)


def test_list_markets(replay: ReplayServer, tmp_path: Path) -> None:
    output = freqtrade(replay, tmp_path, "list-markets", "--print-json")
    assert json.loads(output) == PAIRS


def test_download_data_writes_the_bundled_rows(replay: ReplayServer, tmp_path: Path) -> None:
    out = tmp_path / "dl"
    freqtrade(
        replay,
        tmp_path,
        "download-data",
        "--timerange",
        "20260601-20260701",
        "--timeframes",
        "15m",
        "1h",
        "4h",
        "--datadir",
        str(out),
        "--trading-mode",
        "futures",
    )
    for pair in ("BTC_USDT_USDT", "ETH_USDT_USDT"):
        hourly = in_june(read_bundle(pair, "futures"))
        got = in_june(pd.read_feather(out / "futures" / f"{pair}-1h-futures.feather"))
        assert len(got) == 30 * 24
        pdt.assert_frame_equal(got, hourly[got.columns], check_dtype=False)

        four = (
            read_bundle(pair, "futures")
            .set_index("date")
            .resample("4h")
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        )
        got4 = in_june(pd.read_feather(out / "futures" / f"{pair}-4h-futures.feather"))
        assert len(got4) == 30 * 6
        expected4 = in_june(four.reset_index())
        pdt.assert_frame_equal(got4[["date", *OHLC]], expected4[["date", *OHLC]], check_dtype=False)
        assert got4["volume"].to_numpy() == pytest.approx(expected4["volume"].to_numpy())

        quarters = in_june(read_bundle(pair, "futures", "15m"))
        got15 = in_june(pd.read_feather(out / "futures" / f"{pair}-15m-futures.feather"))
        assert len(got15) == 30 * 24 * 4
        pdt.assert_frame_equal(got15, quarters[got15.columns], check_dtype=False)

        mark = in_june(pd.read_feather(out / "futures" / f"{pair}-1h-mark.feather"))
        bundled_mark = in_june(read_bundle(pair, "mark"))
        pdt.assert_frame_equal(
            mark[["date", *OHLC]], bundled_mark[["date", *OHLC]], check_dtype=False
        )

        funding = in_june(pd.read_feather(out / "futures" / f"{pair}-1h-funding_rate.feather"))
        bundled_funding = in_june(read_bundle(pair, "funding_rate"))
        assert len(funding) == 30 * 3
        assert funding["date"].tolist() == bundled_funding["date"].tolist()
        assert funding["funding_rate"].tolist() == bundled_funding["open"].tolist()
