"""``freqtrade plot-dataframe`` offline: the README's plot command works and shows our gates.

Runs in ``primary_regime`` mode with FreqAI off, so the ``meta`` subplot's columns
(``meta_confidence``, ``do_predict``), which only the model writes, are absent by
design; every other ``plot_config`` column must be a trace with values.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metalabel.ops.runner import USER_DATA, run_freqtrade

META_ONLY = {"meta_confidence", "do_predict"}
CANDLES = 14 * 24 + 1  # 2025-01-01 00:00 .. 2025-01-15 00:00 inclusive


def plot_config() -> dict[str, Any]:
    """The strategy's own ``plot_config``, read from the class freqtrade would load."""
    path = USER_DATA / "strategies" / "MetaLabelStrategy.py"
    spec = importlib.util.spec_from_file_location("metalabel_strategy_for_plot", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config: dict[str, Any] = module.MetaLabelStrategy.plot_config
    return config


def plotted_columns(config: dict[str, Any]) -> set[str]:
    columns = set(config.get("main_plot", {}))
    for subplot in config.get("subplots", {}).values():
        columns |= set(subplot)
    return columns


def traces(html: str) -> dict[str, np.ndarray]:
    """Trace name -> y values of the figure embedded in plotly's HTML output.

    plotly writes ``Plotly.newPlot("<div id>", [traces...], layout, config)`` with
    numeric arrays base64-encoded as ``{"dtype", "bdata"}`` and booleans as plain lists.
    """
    call = html[html.rindex("Plotly.newPlot(") + len("Plotly.newPlot(") :].lstrip()
    decoder = json.JSONDecoder()
    _div_id, end = decoder.raw_decode(call)
    figure_data, _ = decoder.raw_decode(call[end:].lstrip(", \n"))
    out: dict[str, np.ndarray] = {}
    for trace in figure_data:
        y = trace.get("y")
        if isinstance(y, dict):
            out[trace["name"]] = np.frombuffer(base64.b64decode(y["bdata"]), np.dtype(y["dtype"]))
        elif y is not None:
            out[trace["name"]] = np.asarray(y, dtype=np.float64)
    return out


@pytest.mark.slow
def test_plot_dataframe_offline_shows_the_strategy_plot_columns(tmp_path: Path) -> None:
    userdir = tmp_path / "user_data"
    result = run_freqtrade(
        "plot-dataframe",
        ["--timerange", "20250101-20250115", "--pairs", "BTC/USDT:USDT", "--no-trades"],
        overlays=({"freqai": {"enabled": False}}, {"metalabel": {"mode": "primary_regime"}}),
        userdir=userdir,
        capture=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    html_file = userdir / "plot" / "freqtrade-plot-BTC_USDT_USDT-1h.html"
    assert html_file.is_file(), output[-3000:]

    plotted = traces(html_file.read_text())
    expected = plotted_columns(plot_config()) - META_ONLY
    # the columns this test is about, named so a renamed plot_config shows up here
    assert {"ema_fast", "ema_slow", "ema_trend", "primary_direction", "primary_strength",
            "adx", "atr_ratio", "regime_ok_long", "regime_ok_short"} <= expected  # fmt: skip
    assert expected <= set(plotted), sorted(expected - set(plotted))
    assert not META_ONLY & set(plotted)  # no model in this mode, so nothing to plot
    for column in sorted(expected):
        values = plotted[column].astype(np.float64)
        assert len(values) == CANDLES, column
        assert np.isfinite(values).all(), column  # startup candles cover every warm-up
    # the EMAs sit on the price scale (BTC was 90-100k in early January 2025)
    assert plotted["ema_fast"].min() > 80_000
    assert plotted["ema_fast"].max() < 110_000
