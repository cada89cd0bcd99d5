"""The benchmarks' machinery: figure lines, process-tree memory, live decisions.

No timing is asserted here: the benchmarks print figures, the tests check that what
they measure is what they claim to measure.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from metalabel.model.classifier import MetaLabelModel
from metalabel.ops import bench, bench_labels, bench_research, cli
from metalabel.ops.bench import (
    Decision,
    LiveDecisions,
    TreeRun,
    TreeSample,
    bench_decision_latency,
    format_figures,
    latency_figures,
    live_decisions,
    run_process_tree,
    walkforward_figures,
)

FIGURE_LINE = re.compile(r"^[a-z][a-z0-9_]*=-?(\d+(\.\d*)?(e[-+]\d+)?|inf|nan)$")
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
TRAINED_UNTIL = pd.Timestamp(bench.LATENCY_TRAINED_UNTIL, tz="UTC")
HOUR = pd.Timedelta(hours=1)
MB = 2**20


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        ({"a_seconds": 1.23456789}, "a_seconds=1.23457"),  # six significant digits
        ({"n_samples": 500.0}, "n_samples=500"),  # counts print without a decimal point
        ({"tiny_seconds": 1.0537e-07}, "tiny_seconds=1.0537e-07"),  # exponent when small
        ({"b": 2.0, "a": 1.0}, "b=2\na=1"),  # insertion order, one line per figure
        ({}, ""),  # nothing to print
    ],
)
def test_format_figures(figures: dict[str, float], expected: str) -> None:
    assert format_figures(figures) == expected
    assert all(FIGURE_LINE.match(line) for line in expected.splitlines())


@pytest.mark.parametrize(
    ("argv", "called"),
    [
        (["bench"], ["labels", "latency", "walkforward", "research"]),  # "all" is the default
        (["bench", "all", "--quick"], ["labels", "latency", "walkforward", "research"]),
        (["bench", "labels", "--candles", "1000"], ["labels"]),
        (["bench", "latency", "--latency-candles", "3"], ["latency"]),
        (["bench", "walkforward", "--quick"], ["walkforward"]),
        (["bench", "research"], ["research"]),
    ],
)
def test_bench_command_runs_the_chosen_benchmarks(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], called: list[str]
) -> None:
    calls: dict[str, dict[str, Any]] = {}
    targets = {
        "labels": (bench_labels, "bench_labels"),
        "latency": (bench, "bench_decision_latency"),
        "walkforward": (bench, "bench_walkforward"),
        "research": (bench_research, "bench_research"),
    }
    for name, (module, function) in targets.items():

        def record(name: str = name, **kwargs: Any) -> dict[str, float]:
            calls[name] = kwargs
            return {}

        monkeypatch.setattr(module, function, record)
    assert cli.main(argv) == 0
    assert list(calls) == called
    if "labels" in calls:
        assert calls["labels"] == {"n_events": 1000 if "--candles" in argv else 1_000_000}
    if "latency" in calls:
        assert calls["latency"] == {"candles_per_pair": 3 if "--latency-candles" in argv else 250}
    if "walkforward" in calls:
        assert calls["walkforward"] == {"quick": "--quick" in argv}


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_process_tree_memory_sums_live_processes_and_keeps_stdout_clean(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A parent holding 200 MB while its child holds 100 MB: the tree peaks near 300 MB,
    # the largest single process near 200 MB.
    run = run_process_tree(
        _python(
            """
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c",
                "import time; held = b'x' * (100 * 2**20); time.sleep(2)", "grandchild"])
            held = b"x" * (200 * 2**20)
            print("progress line")
            time.sleep(2)
            child.wait()
            """
        ),
        sample_seconds=0.05,
    )
    assert run.returncode == 0
    assert run.peak_rss_bytes >= 290 * MB
    assert 200 * MB <= run.max_process_rss_bytes < 290 * MB  # the largest process alone
    (grandchild,) = run.lifetimes("grandchild")
    _pid, first, last = grandchild
    assert 0 < first < last < run.seconds
    assert run.peak_between(first, last) == run.peak_rss_bytes
    output = capfd.readouterr()
    assert "progress line" not in output.out  # the command's stdout goes to stderr
    assert "progress line" in output.err


def test_process_tree_reports_a_failing_command() -> None:
    run = run_process_tree(_python("raise SystemExit(3)"))
    assert run.returncode == 3


def test_walkforward_figures_per_variant_from_the_backtesting_processes() -> None:
    # pid 1 is `metalabel backtest`; 2, 3, 4 its freqtrade runs, one after the other
    backtesting = ("freqtrade", "backtesting", "--timerange", "20250101-20250301")
    run = TreeRun(
        returncode=0,
        seconds=10.0,
        samples=[
            TreeSample(0.0, {1: 100 * MB}),
            TreeSample(1.0, {1: 100 * MB, 2: 300 * MB}),
            TreeSample(3.0, {1: 100 * MB, 2: 400 * MB}),
            TreeSample(4.0, {1: 100 * MB, 3: 200 * MB}),
            TreeSample(6.0, {1: 100 * MB, 3: 250 * MB}),
            TreeSample(7.0, {1: 100 * MB, 4: 500 * MB}),
            TreeSample(8.0, {1: 150 * MB}),  # the report
        ],
        commands={1: ("metalabel", "backtest"), 2: backtesting, 3: backtesting, 4: backtesting},
    )
    variants = ["meta", "primary", "primary_regime"]
    assert walkforward_figures(run, "20250101-20250301", variants) == {
        "walkforward_backtest_seconds": 10.0,
        "walkforward_peak_rss_mb": 600.0,  # pids 1 and 4 together
        "walkforward_max_process_rss_mb": 500.0,  # pid 4 alone
        "walkforward_timerange_days": 59.0,
        "walkforward_meta_seconds": 2.0,  # seen from 1.0 to 3.0
        "walkforward_meta_peak_rss_mb": 500.0,
        "walkforward_primary_seconds": 2.0,
        "walkforward_primary_peak_rss_mb": 350.0,
        "walkforward_primary_regime_seconds": 0.0,  # one sample: shorter than the interval
        "walkforward_primary_regime_peak_rss_mb": 600.0,
        "walkforward_report_seconds": 3.0,  # after pid 4 was last seen
    }
    # a failed or extra run: the totals only
    assert set(walkforward_figures(run, "20250101-20250301", variants[:2])) == {
        "walkforward_backtest_seconds",
        "walkforward_peak_rss_mb",
        "walkforward_max_process_rss_mb",
        "walkforward_timerange_days",
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDecisions]:
    with live_decisions(tmp_path_factory.mktemp("latency"), TRAINED_UNTIL) as loop:
        yield loop


def test_live_decisions_load_the_trained_model_and_predict_each_new_candle(
    live: LiveDecisions, caplog: pytest.LogCaptureFixture
) -> None:
    steps = [live.step(TRAINED_UNTIL + k * HOUR) for k in (1, 2, 3)]
    # one decision per pair and new candle, on the candle that just closed
    assert [[(d.pair, d.candle) for d in step] for step in steps] == [
        [(pair, TRAINED_UNTIL + k * HOUR) for pair in PAIRS] for k in (0, 1, 2)
    ]
    # FreqAI's live path loaded the models the training backtest saved, not fresh ones
    drawer = live.strategy.freqai.dd
    for pair in PAIRS:
        assert isinstance(drawer.model_dictionary[pair], MetaLabelModel)
        model_dir = Path(drawer.pair_dict[pair]["data_path"])
        assert model_dir.parent.name == "metalabel-backtest"
        assert model_dir.name.startswith("sub-train-")
        assert drawer.pair_dict[pair]["trained_timestamp"] == TRAINED_UNTIL.timestamp()
    # ... and predicted: confidences from the model, varying by pair and candle
    decisions = [d for step in steps for d in step]
    confidences = {round(d.meta_confidence, 12) for d in decisions}
    assert all(0.0 < c < 1.0 for c in confidences)
    assert len(confidences) > 1
    assert {d.do_predict for d in decisions} <= {0, 1}
    assert "prediction failed" not in caplog.text
    assert all(d.seconds > 0 for d in decisions)
    # the bot's frame: ohlcv_candle_limit (1000 on Bybit) + startup_candle_count (800)
    analysed, _ = live.strategy.dp.get_analyzed_dataframe(PAIRS[0], "1h")
    assert len(analysed) == 1000 + live.strategy.startup_candle_count
    assert analysed["date"].iloc[-1] == TRAINED_UNTIL + 2 * HOUR


def test_live_decisions_refuse_a_frame_the_strategy_did_not_analyse(
    live: LiveDecisions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # analyze_pair logs and swallows strategy errors; the benchmark must not time those
    monkeypatch.setattr(live.strategy, "analyze", lambda pairs: None)
    with pytest.raises(RuntimeError, match="no analysis"):
        live.step(TRAINED_UNTIL + 10 * HOUR)


def _decision(millis: float, *, long: bool = False) -> Decision:
    return Decision(
        pair=PAIRS[0],
        candle=TRAINED_UNTIL,
        enter_long=long,
        enter_short=False,
        enter_tag="meta_long" if long else None,
        meta_confidence=0.5,
        do_predict=1,
        seconds=millis / 1000,
    )


def test_latency_figures_pool_the_later_decisions() -> None:
    first = [_decision(300.0), _decision(500.0)]
    later = [_decision(40.0), _decision(10.0, long=True), _decision(30.0), _decision(20.0)]
    assert latency_figures(first, later) == pytest.approx(
        {
            "decision_latency_ms_median": 25.0,  # between 20 and 30
            "decision_latency_ms_p99": 39.7,  # 30 + 0.97 * (40 - 30), numpy's linear rule
            "decision_latency_ms_max": 40.0,
            "decision_latency_samples": 4.0,
            "decision_latency_ms_first": 400.0,  # the start-up, apart: mean over pairs
            "decision_latency_entries": 1.0,
        }
    )
    with pytest.raises(ValueError, match="need"):
        latency_figures(first, [])


def test_live_decisions_stop_where_the_bundled_data_ends(live: LiveDecisions) -> None:
    with pytest.raises(ValueError, match="end before"):
        live.step(pd.Timestamp("2030-01-01", tz="UTC"))


@pytest.mark.slow
def test_decision_latency_prints_only_figures(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    figures = bench_decision_latency(candles_per_pair=2, workdir=tmp_path)
    assert figures["decision_latency_samples"] == 4  # 2 candles x 2 pairs, start-up apart
    assert 0 < figures["decision_latency_ms_median"] <= figures["decision_latency_ms_p99"]
    assert figures["decision_latency_ms_p99"] <= figures["decision_latency_ms_max"]
    lines = capfd.readouterr().out.splitlines()  # stdout, also of any subprocess
    assert lines == format_figures(figures).splitlines()
    assert all(FIGURE_LINE.match(line) for line in lines)
