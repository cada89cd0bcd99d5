"""Joining trades to candles: each trade's signal candle, and the regime of every candle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from freqtrade.exchange import timeframe_to_seconds

from metalabel.config import MetalabelConfig
from metalabel.core.features import add_features
from metalabel.core.pipeline import with_signals
from metalabel.evaluation import metrics


def signal_candle_values(
    trades: pd.DataFrame, table: pd.DataFrame, columns: Sequence[str], *, timeframe: str
) -> pd.DataFrame:
    """``columns`` of each trade's signal candle: the pair's last candle dated before entry.

    freqtrade enters at the open of the candle after the signal, so a trade opened at
    10:00 on 1h candles was decided on the 09:00 candle. No candle within one timeframe
    before the entry (a gap) gives NaN. ``table`` holds ``pair``, ``date`` and
    ``columns``; the result is aligned with ``trades``.
    """
    if trades.empty or table.empty:
        return pd.DataFrame(np.nan, index=trades.index, columns=list(columns), dtype=object)
    tolerance = timeframe_to_seconds(timeframe) * 1_000_000_000
    left = pd.DataFrame(
        {
            "pair": trades["pair"].astype(str).to_numpy(dtype=object),
            "_t": metrics.utc_ns(trades["open_date"]),
            "_row": np.arange(len(trades)),
        }
    ).sort_values("_t", kind="stable")
    right = table.loc[:, ["pair", *columns]].assign(_t=metrics.utc_ns(table["date"]))
    right["pair"] = right["pair"].astype(str).to_numpy(dtype=object)
    merged = pd.merge_asof(
        left,
        right.sort_values("_t", kind="stable"),
        on="_t",
        by="pair",
        allow_exact_matches=False,
        direction="backward",
        tolerance=tolerance,
    )
    merged = merged.sort_values("_row")
    return pd.DataFrame(
        {c: merged[c].to_numpy() for c in columns}, index=trades.index, columns=list(columns)
    )


def candle_regimes(candles: Mapping[str, pd.DataFrame], settings: MetalabelConfig) -> pd.DataFrame:
    """The regime of every candle (``pair, date, regime``), recomputed from trailing windows.

    The columns come from the pipeline's own steps (:func:`add_features`, then
    :func:`metalabel.core.pipeline.with_signals`), so the report classifies a candle as
    the strategy does. The 4h trend and funding are left out: they move the primary
    signal, not the regime.
    """
    parts = []
    for pair, frame in candles.items():
        columns = with_signals(add_features(frame, settings.signal, settings.regime), settings)
        parts.append(
            pd.DataFrame({"pair": pair, "date": frame["date"], "regime": columns["regime"]})
        )
    return pd.concat(parts, ignore_index=True)
