"""`freqtrade hyperopt` runs offline against the replay exchange and tunes our parameters."""

from pathlib import Path

import pytest

from metalabel.ops.runner import run_freqtrade


@pytest.mark.slow
def test_hyperopt_runs_offline_over_the_tunable_spaces(tmp_path: Path) -> None:
    result = run_freqtrade(
        "hyperopt",
        [
            "--timerange",
            "20250101-20250301",
            "--spaces",
            "buy",
            "sell",
            "--hyperopt-loss",
            "SharpeHyperOptLossDaily",
            "--epochs",
            "3",
            "--random-state",
            "1",
            "-j",
            "1",
            "--disable-param-export",  # never write MetaLabelStrategy.json into the repo
        ],
        overlays=[{"freqai": {"enabled": False}, "metalabel": {"mode": "primary_regime"}}],
        userdir=tmp_path / "user_data",
        capture=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    flat = " ".join(output.split())  # freqtrade's console wraps long lines
    assert "epochs saved" in flat
    assert "Best result" in flat
    for name in ("adx_threshold", "rsi_oversold", "stop_loss_ratio", "take_profit_ratio"):
        assert f'"{name}"' in flat
