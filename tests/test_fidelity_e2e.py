"""`metalabel fidelity` on a real backtest: labels equal freqtrade's trades."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_labels_equal_the_trades_of_a_real_detail_backtest() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metalabel.ops.cli", "fidelity", "--timerange", "20250101-20250501"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    figures = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("fidelity_")
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert int(figures["fidelity_compared"]) > 200
    assert float(figures["fidelity_exit_match"]) >= 0.99
    assert float(figures["fidelity_sign_match"]) >= 0.995
    assert float(figures["fidelity_net_err_bp_p99"]) <= 2.0
    assert figures["fidelity_targets_met"] == "true"
