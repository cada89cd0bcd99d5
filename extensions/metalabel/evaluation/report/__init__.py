"""The walk-forward report: ``walkforward.json`` (stable keys) and a self-contained HTML page.

Reads freqtrade's exported backtest results of the three variants run over one
timerange -- ``meta`` (the product: primary signal + regime filter + meta-model gate),
``primary`` (v1, signal only) and ``primary_regime`` (signal + regime filter) -- and adds
``buy_hold``, an equal-weight buy and hold of the same pairs from the bundled candles.
Same data, same period, same fee (the trades' own ``fee_open``) for every variant.

For each variant: the metrics of :mod:`metalabel.evaluation.metrics` over the whole
range and per 30-day fold (FreqAI's backtest windows), block bootstrap intervals and a
Monte Carlo drawdown (:mod:`metalabel.evaluation.bootstrap`), and a stress view (trades
entered in the high volatility regime, the worst fold, doubled fees and slippage). The
report states the Sharpe difference meta - primary with a paired bootstrap interval, and,
when the meta run was exported with ``--export signals``, how the model's confidence
matched realised wins.

Every number that cannot be computed is ``null`` in the JSON with its reason under
``null_reasons`` (keyed by the value's path); the JSON never holds NaN or inf. Input that
cannot be reported on at all raises :class:`ReportInputError` naming the problem.

One concern per module, in the order the report is built:

* :mod:`.loading` -- backtest exports, candles, file hashes, the lifecycle log;
* :mod:`.joins` -- each trade's signal candle, the regime of every candle;
* :mod:`.analysis` -- per-variant metrics, intervals, buy and hold, calibration, stress;
* :mod:`.json_output` -- the stable-key JSON with null reasons;
* :mod:`.plots` and :mod:`.html` -- the page, from the Jinja2 templates in ``templates/``;
* :mod:`.build` -- :func:`build_report`, which runs the steps and writes both files;
* :mod:`.headline` -- the table ``metalabel backtest`` prints at the end.
"""

from metalabel.evaluation.report.analysis import (
    Calibration,
    RegimeView,
    ReportSettings,
    VariantAnalysis,
    analyse_buy_hold,
    analyse_trades,
    calibration_data,
    report_fee_ratio,
)
from metalabel.evaluation.report.build import HTML_NAME, JSON_NAME, build_report, write_report
from metalabel.evaluation.report.headline import headline
from metalabel.evaluation.report.html import render_html
from metalabel.evaluation.report.joins import candle_regimes, signal_candle_values
from metalabel.evaluation.report.json_output import SCHEMA_VERSION, report_key_paths
from metalabel.evaluation.report.loading import (
    BUY_HOLD,
    STRATEGY_NAME,
    TRADE_VARIANTS,
    VARIANTS,
    BacktestRun,
    ReportInputError,
    lifecycle_summary,
    load_candles,
    load_run,
    normalised_trades,
)

__all__ = [
    "BUY_HOLD",
    "HTML_NAME",
    "JSON_NAME",
    "SCHEMA_VERSION",
    "STRATEGY_NAME",
    "TRADE_VARIANTS",
    "VARIANTS",
    "BacktestRun",
    "Calibration",
    "RegimeView",
    "ReportInputError",
    "ReportSettings",
    "VariantAnalysis",
    "analyse_buy_hold",
    "analyse_trades",
    "build_report",
    "calibration_data",
    "candle_regimes",
    "headline",
    "lifecycle_summary",
    "load_candles",
    "load_run",
    "normalised_trades",
    "render_html",
    "report_fee_ratio",
    "report_key_paths",
    "signal_candle_values",
    "write_report",
]
