"""The walk-forward report from REAL short backtests of the bundled data, and bad input.

One module-scoped run of ``freqtrade backtesting`` per variant (meta, primary,
primary_regime) over 2025-01-01..2025-04-01 -- three 30-day folds -- takes ~30 s in
all; the bad-input cases rewrite copies of those results.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import pytest
from markupsafe import Markup

from metalabel.evaluation.report import (
    HTML_NAME,
    JSON_NAME,
    VARIANTS,
    ReportInputError,
    ReportSettings,
    build_report,
    normalised_trades,
    report_key_paths,
)
from metalabel.evaluation.report.html import render_page
from metalabel.ops.runner import BUNDLED_DATA, run_backtest

TIMERANGE = "20250101-20250401"
OVERLAYS: dict[str, tuple[dict[str, Any], ...]] = {
    # The calibrated model hardly ever reaches the shipped 0.6 in three months; the
    # report's meta sections need some trades to show their shape.
    "meta": ({"metalabel": {"model": {"confidence_threshold": 0.52}}},),
    "primary": ({"freqai": {"enabled": False}}, {"metalabel": {"mode": "primary"}}),
    "primary_regime": (
        {"freqai": {"enabled": False}},
        {"metalabel": {"mode": "primary_regime"}},
    ),
}
# Fewer resamples for the bad-input cases: they test the plumbing, not the statistics.
QUICK = ReportSettings(bootstrap_resamples=200, mc_resamples=200)

PLOTS = ("equity", "drawdown", "folds", "histogram", "calibration")
REQUIRED_VARIANT_KEYS = {
    "trades", "sharpe", "sharpe_ci95", "sortino", "profit_factor", "max_drawdown",
    "max_drawdown_p95_mc", "win_rate", "total_return", "total_return_ci95", "folds",
}  # fmt: skip
REQUIRED_FOLD_KEYS = {
    "start", "end", "trades", "sharpe", "profit_factor", "max_drawdown", "win_rate",
    "total_return",
}  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Exported backtest results of the three variants (``--export signals``)."""
    root = tmp_path_factory.mktemp("walkforward")
    dirs = {}
    for variant, overlays in OVERLAYS.items():
        dirs[variant] = root / "results" / variant
        run = run_backtest(
            TIMERANGE,
            overlays=overlays,
            userdir=root / "user_data",
            results_dir=dirs[variant],
            capture=True,
        )
        assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    return dirs


@pytest.fixture(scope="module")
def built(
    results: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], Path]]:
    out = tmp_path_factory.mktemp("reports")
    report = build_report(
        results, timerange=TIMERANGE, candles_dir=BUNDLED_DATA, out_dir=out, commit="abc123"
    )
    yield report, out


def quick_report(dirs: Mapping[str, Path], out: Path, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "timerange": TIMERANGE,
        "candles_dir": BUNDLED_DATA,
        "out_dir": out,
        "commit": "test",
        "settings": QUICK,
        **kwargs,
    }
    return build_report(dirs, **options)


def rewrite_result(
    source: Path,
    target: Path,
    *,
    edit: Callable[[dict[str, Any]], None] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """A copy of a results directory with its result JSON edited / zip members dropped."""
    shutil.copytree(source, target)
    latest = json.loads((target / ".last_result.json").read_text())["latest_backtest"]
    archive = target / latest
    stem = archive.stem
    with zipfile.ZipFile(archive) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    stats = json.loads(members[f"{stem}.json"])
    if edit:
        edit(stats)
    members[f"{stem}.json"] = json.dumps(stats).encode()
    for suffix in drop:
        del members[f"{stem}{suffix}"]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return target


def keep_trades(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], None]:
    def edit(stats: dict[str, Any]) -> None:
        result = stats["strategy"]["MetaLabelStrategy"]
        result["trades"] = [t for t in result["trades"] if predicate(t)]

    return edit


def null_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Paths of every ``null`` value, in the notation of ``null_reasons``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if prefix == "" and key == "null_reasons":
                continue
            yield from null_paths(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from null_paths(value, f"{prefix}[{i}]")
    elif node is None:
        yield prefix


# ----------------------------------------------------------------------------- the report
def test_report_json_has_the_documented_shape(built: tuple[dict[str, Any], Path]) -> None:
    report, out = built
    on_disk = json.loads((out / JSON_NAME).read_text())
    assert on_disk == report
    json.dumps(report, allow_nan=False)  # raises on NaN / inf
    assert report["generated_from"]["commit"] == "abc123"
    assert report["generated_from"]["timerange"] == TIMERANGE
    assert report["generated_from"]["data"] == BUNDLED_DATA.as_posix()
    assert list(report["variants"]) == list(VARIANTS)
    for name, variant in report["variants"].items():
        assert set(variant) >= REQUIRED_VARIANT_KEYS, name
        assert isinstance(variant["trades"], int)
        assert len(variant["folds"]) == 3, name
        assert [f["start"][:10] for f in variant["folds"]] == [
            "2025-01-01",
            "2025-01-31",
            "2025-03-02",
        ]
        for fold in variant["folds"]:
            assert set(fold) >= REQUIRED_FOLD_KEYS
            assert isinstance(fold["trades"], int)
        assert sum(f["trades"] for f in variant["folds"]) == variant["trades"] or name == "buy_hold"
        for key in ("sharpe_ci95", "total_return_ci95"):
            interval = variant[key]
            assert interval is None or (len(interval) == 2 and interval[0] <= interval[1])
    for name in ("meta", "primary", "primary_regime"):
        assert report["variants"][name]["trades"] > 0
    assert report["variants"]["buy_hold"]["trades"] == 2  # one round trip per pair
    difference = report["meta_minus_primary_sharpe"]
    assert set(difference) >= {"value", "ci95"}
    meta, primary = report["variants"]["meta"]["sharpe"], report["variants"]["primary"]["sharpe"]
    if meta is not None and primary is not None:
        assert difference["value"] == pytest.approx(meta - primary)


def test_every_null_has_a_reason(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    missing = set(null_paths(report)) - set(report["null_reasons"]) - {"calibration.reason"}
    assert not missing


def test_key_paths_are_the_same_for_every_variant(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    shapes = {
        name: report_key_paths({"variants": {name: variant}})
        for name, variant in report["variants"].items()
    }
    assert len({tuple(paths) for paths in shapes.values()}) == 1
    paths = report_key_paths(report)
    assert "variants.<variant>.folds[].sharpe" in paths
    assert "meta_minus_primary_sharpe.ci95" in paths


def test_calibration_from_exported_signals(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    calibration = report["calibration"]
    assert calibration["available"] is True
    assert calibration["trades"] == report["variants"]["meta"]["trades"]
    assert sum(b["trades"] for b in calibration["bins"]) == calibration["trades"]
    assert calibration["bins"][0]["lo"] == pytest.approx(calibration["confidence_threshold"])


def test_html_is_self_contained(built: tuple[dict[str, Any], Path]) -> None:
    _, out = built
    page = (out / HTML_NAME).read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page and "<link" not in page
    # equity, drawdown, folds, histogram, calibration, skill reliability
    assert page.count('src="data:image/png;base64,') == 6
    assert "Sharpe of meta minus Sharpe of primary" in page


def test_stress_view(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    for name in ("meta", "primary", "primary_regime"):
        variant = report["variants"][name]
        stress = variant["stress"]
        doubled = stress["doubled_costs"]
        assert doubled["trades"] == variant["trades"]
        assert doubled["total_return"] < variant["total_return"]  # costs only ever cost
        worst = stress["worst_fold"]
        assert worst["total_return"] == min(f["total_return"] for f in variant["folds"])
        assert 0 <= stress["high_volatility"]["trades"] <= variant["trades"]


# ----------------------------------------------------------------------------- bad input
def test_missing_and_empty_results_directories(results: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="does not exist"):
        quick_report({**results, "primary": tmp_path / "nowhere"}, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match="no readable backtest result"):
        quick_report({**results, "primary": tmp_path / "empty"}, tmp_path / "out")


def test_missing_or_unknown_variant(results: dict[str, Path], tmp_path: Path) -> None:
    partial = {k: v for k, v in results.items() if k != "primary_regime"}
    with pytest.raises(ReportInputError, match="missing backtest results for"):
        quick_report(partial, tmp_path)
    with pytest.raises(ReportInputError, match="unknown variant"):
        quick_report({**results, "fancy": results["meta"]}, tmp_path)


def test_results_of_another_strategy(results: dict[str, Path], tmp_path: Path) -> None:
    def rename(stats: dict[str, Any]) -> None:
        stats["strategy"] = {"SampleStrategy": stats["strategy"]["MetaLabelStrategy"]}

    other = rewrite_result(results["primary"], tmp_path / "other", edit=rename)
    with pytest.raises(ReportInputError, match="holds results of SampleStrategy, not of Meta"):
        quick_report({**results, "primary": other}, tmp_path / "out")


def test_swapped_results_directories(results: dict[str, Path], tmp_path: Path) -> None:
    swapped = {**results, "meta": results["primary"], "primary": results["meta"]}
    with pytest.raises(ReportInputError, match=r"metalabel\.mode='primary', expected 'meta'"):
        quick_report(swapped, tmp_path)


def test_timerange_other_than_the_results(results: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="not at the end of timerange 20250101-20250301"):
        quick_report(results, tmp_path, timerange="20250101-20250301")
    with pytest.raises(ReportInputError, match="timerange 'garbage'"):
        quick_report(results, tmp_path, timerange="garbage")


def test_missing_candles(results: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="no candles for BTC/USDT:USDT"):
        quick_report(results, tmp_path, candles_dir=tmp_path)


def test_fold_without_trades_and_no_exported_signals(
    results: dict[str, Path], built: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    fold_1 = (pd.Timestamp("2025-01-31", tz="UTC"), pd.Timestamp("2025-03-02", tz="UTC"))

    def outside_fold_1(trade: dict[str, Any]) -> bool:
        closed = pd.Timestamp(trade["close_date"])
        return not fold_1[0] <= closed < fold_1[1]

    primary = rewrite_result(
        results["primary"], tmp_path / "primary", edit=keep_trades(outside_fold_1)
    )
    meta = rewrite_result(results["meta"], tmp_path / "meta", drop=("_signals.pkl",))
    out = tmp_path / "out"
    report = quick_report({**results, "primary": primary, "meta": meta}, out)
    json.dumps(report, allow_nan=False)
    assert report_key_paths(report) == report_key_paths(built[0])  # stable keys
    empty_fold = report["variants"]["primary"]["folds"][1]
    assert empty_fold["trades"] == 0
    assert empty_fold["total_return"] == 0.0
    assert empty_fold["sharpe"] is None and empty_fold["win_rate"] is None
    reasons = report["null_reasons"]
    assert "constant" in reasons["variants.primary.folds[1].sharpe"]
    assert "no trades" in reasons["variants.primary.folds[1].profit_factor"]
    calibration = report["calibration"]
    assert calibration["available"] is False
    assert "--export signals" in calibration["reason"]
    assert "Calibration not available" in (out / HTML_NAME).read_text()


def test_meta_without_any_trade_is_reported_not_crashed(
    results: dict[str, Path], built: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    meta = rewrite_result(results["meta"], tmp_path / "meta", edit=keep_trades(lambda _: False))
    out = tmp_path / "out"
    report = quick_report({**results, "meta": meta}, out)
    json.dumps(report, allow_nan=False)
    assert report_key_paths(report) == report_key_paths(built[0])  # stable keys
    variant = report["variants"]["meta"]
    assert variant["trades"] == 0
    assert variant["total_return"] == 0.0 and variant["max_drawdown"] == 0.0
    for key in ("sharpe", "sharpe_ci95", "sortino", "profit_factor", "win_rate",
                "max_drawdown_p95_mc"):  # fmt: skip
        assert variant[key] is None
        assert report["null_reasons"][f"variants.meta.{key}"]
    assert variant["total_return_ci95"] == [0.0, 0.0]
    assert report["meta_minus_primary_sharpe"]["value"] is None
    assert "constant" in report["null_reasons"]["meta_minus_primary_sharpe.value"]
    assert report["calibration"]["reason"] == "the meta run made no trades"
    assert (out / HTML_NAME).is_file()


def test_force_exit_at_the_end_of_the_range_counts_in_the_last_day() -> None:
    """freqtrade dates the force exit of a still-open trade at the end of the timerange."""
    start, end = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-01-03", tz="UTC")
    trades = pd.DataFrame(
        {
            "pair": ["BTC/USDT:USDT"],
            "open_date": [pd.Timestamp("2025-01-02 16:00", tz="UTC")],
            "close_date": [end],
            "profit_abs": [5.0],
            "profit_ratio": [0.05],
            "stake_amount": [100.0],
            "amount": [0.001],
            "open_rate": [100_000.0],
            "close_rate": [100_000.0],
            "fee_open": [0.0006],
            "fee_close": [0.0006],
            "is_short": [False],
            "enter_tag": ["meta_long"],
        }
    )
    clipped = normalised_trades(trades, start, end)
    assert start <= clipped["close_date"].iloc[0] < end
    assert trades["close_date"].iloc[0] == end  # input untouched


def test_readme_documents_exactly_the_written_keys(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Walk-forward report", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    documented = {line.strip() for line in block.splitlines() if line.strip()}
    assert documented == set(report_key_paths(report))


def test_html_escapes_values_from_the_data(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    hostile = "<script>alert('x')</script>"
    tampered = {**report, "null_reasons": {"variants.meta.sharpe": hostile}}
    figures = {name: Markup(f"<img alt='{name}'>") for name in PLOTS}
    page = render_page(tampered, figures)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<img alt='equity'>" in page  # the plots are the one markup passed through


def test_html_names_a_missing_plot(built: tuple[dict[str, Any], Path]) -> None:
    report, _ = built
    with pytest.raises(jinja2.UndefinedError, match="histogram"):
        render_page(report, {name: Markup("") for name in PLOTS if name != "histogram"})
