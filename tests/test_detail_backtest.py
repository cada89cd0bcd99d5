"""End-to-end: freqtrade backtests with 15m intrabar detail offline, from the bundled 15m data.

The shipped config is not changed here: the overlay switches ``timeframe_detail`` on, as
adding ``"timeframe_detail": "15m"`` to ``user_data/config.json`` would.
"""

from pathlib import Path

import pandas as pd
import pytest
from freqtrade.data.btanalysis import load_backtest_stats

from metalabel.ops.runner import BUNDLED_DATA
from tests.conftest import BacktestRunner

DETAIL = {
    "timeframe_detail": "15m",
    "metalabel": {"mode": "primary_regime"},
    "freqai": {"enabled": False},
}
# Exits freqtrade settles inside a candle from its high/low; with detail, inside a 15m one.
INTRABAR_EXITS = {"stop_loss", "trailing_stop_loss", "roi"}

pytestmark = pytest.mark.slow


def test_backtest_with_detail_exits_inside_the_hour_on_bundled_15m_candles(
    backtest: BacktestRunner, tmp_path: Path
) -> None:
    _output, trades, _ = backtest("20250101-20250301", overlays=(DETAIL,))
    stats = load_backtest_stats(tmp_path / "results")["strategy"]["MetaLabelStrategy"]
    assert (stats["timeframe"], stats["timeframe_detail"]) == ("1h", "15m")
    assert len(trades) > 20

    # every exit lies on the 15m grid, and intrabar exits use the quarters inside the hour
    closes = trades["close_date"]
    assert (closes.dt.floor("15min") == closes).all()
    intrabar = trades[trades["exit_reason"].isin(INTRABAR_EXITS)]
    assert {15, 30, 45} <= set(intrabar["close_date"].dt.minute), "no exit inside an hour"

    # each intrabar exit price lies in the bundled 15m candle it was settled on
    for pair, exits in intrabar.groupby("pair"):
        stem = str(pair).replace("/", "_").replace(":", "_")
        quarters = pd.read_feather(BUNDLED_DATA / f"{stem}-15m-futures.feather").set_index("date")
        # freqtrade stamps an exit with the open time of the 15m candle it happened in
        candle = quarters.loc[exits["close_date"]]
        rate = exits["close_rate"].to_numpy()
        assert (candle["low"].to_numpy() <= rate).all() and (
            rate <= candle["high"].to_numpy()
        ).all()
