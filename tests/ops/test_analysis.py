"""Bias checks: the verdict logic on tiny frames, and `make analysis` on the real strategy."""

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metalabel.config import StrategyMode
from metalabel.ops.bias_analysis import analyse_mode, lookahead_bias, recursive_bias


def _frame(values: list[float], predicted: list[int] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"date": pd.date_range("2025-01-01", periods=len(values), freq="1h"), "x": values}
    )
    if predicted is not None:
        frame["do_predict"] = predicted
    return frame


@pytest.mark.parametrize(
    ("full", "cut", "expected"),
    [
        # identical on the common rows: no bias
        (_frame([1, 2, 3, 4]), _frame([1, 2, 3]), {}),
        # NaN on both sides counts as equal
        (_frame([np.nan, 2, 3]), _frame([np.nan, 2]), {}),
        # a value that changes once the future is known: bias in x
        (_frame([1, 2, 3, 4]), _frame([1, 2, 9]), {"x": 1}),
        # FreqAI left the cut-off run's final candle unpredicted: not bias
        (_frame([1, 2, 3], [1, 1, 1]), _frame([1, 0], [1, 0]), {}),
        # an unpredicted row that is not the final one is still compared
        (_frame([1, 2, 3], [1, 1, 1]), _frame([0, 2, 3], [0, 1, 1]), {"x": 1, "do_predict": 1}),
    ],
)
def test_lookahead_bias(full: pd.DataFrame, cut: pd.DataFrame, expected: dict) -> None:
    assert lookahead_bias({"P": full}, [{"P": cut}]) == expected


def test_freqai_targets_are_ignored() -> None:
    full = _frame([1, 2, 3]).assign(**{"&-label": ["take", "skip", "take"]})
    cut = _frame([1, 2]).assign(**{"&-label": ["skip", np.nan]})
    assert lookahead_bias({"P": full}, [{"P": cut}]) == {}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"ema": {199: 0.01, 800: 0.0}}, {}),  # converged at the strategy's startup
        ({"ema": {199: 0.01}}, {}),  # absent at 800: identical there
        ({"obv": {800: 0.25}}, {"obv": 0.25}),  # 25% off at the strategy's startup
        ({"x": {800: 0.0009}}, {}),  # within the 0.1% tolerance
    ],
)
def test_recursive_bias(table: dict, expected: dict) -> None:
    assert recursive_bias(table, 800, 1e-3) == expected


def test_recursive_bias_flags_a_missing_value() -> None:
    biased = recursive_bias({"regime": {800: float("nan")}}, 800, 1e-3)
    assert list(biased) == ["regime"]


BIASED_STRATEGY = textwrap.dedent(
    '''
    import sys
    sys.path.insert(0, {strategies!r})
    from MetaLabelStrategy import MetaLabelStrategy

    class PeekingStrategy(MetaLabelStrategy):
        """Deliberately reads the next candle: the analysis must catch it."""

        def populate_entry_trend(self, dataframe, metadata):
            dataframe = super().populate_entry_trend(dataframe, metadata)
            dataframe["next_close"] = dataframe["close"].shift(-1)
            rising = dataframe["next_close"] > dataframe["close"]
            dataframe.loc[rising, ["enter_long", "enter_tag"]] = (1, "peek")
            return dataframe
    '''
)


@pytest.mark.slow
def test_analysis_catches_a_strategy_that_reads_the_future(tmp_path: Path) -> None:
    strategies = Path(__file__).resolve().parents[2] / "user_data" / "strategies"
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "PeekingStrategy.py").write_text(BIASED_STRATEGY.format(strategies=str(strategies)))
    verdict = analyse_mode(
        StrategyMode.PRIMARY,
        timerange="20250101-20250201",
        userdir=tmp_path / "ud",
        strategy="PeekingStrategy",
        strategy_path=folder,
    )
    assert not verdict.ok
    assert "next_close" in verdict.lookahead_biased


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(StrategyMode))
def test_make_analysis_finds_no_bias_in_any_mode(tmp_path: Path, mode: StrategyMode) -> None:
    verdict = analyse_mode(mode, timerange="20250101-20250601", userdir=tmp_path / "ud")
    assert verdict.ok, verdict.line()
    assert verdict.lookahead_signals >= 10
