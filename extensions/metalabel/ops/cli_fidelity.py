"""``metalabel fidelity``: labels against the trades of a real freqtrade backtest."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

DISAGREEMENT_COLUMNS = [
    "pair", "open_date", "is_short", "close_date", "label_exit_time", "exit_reason",
    "label_exit_reason", "trade_net_return", "label_net_return", "disagreement",
]  # fmt: skip


def register(sub: Any) -> None:
    """Add the ``fidelity`` subcommand to the ``metalabel`` parser."""
    from metalabel.ops.runner import BUNDLED_DATA

    fidelity = sub.add_parser(
        "fidelity",
        help="backtest primary_regime with 15m detail, label its entries, compare trade by trade",
    )
    fidelity.add_argument("--timerange", default="20240701-20260721")
    fidelity.add_argument("--config", action="append", default=None)
    fidelity.add_argument("--data-dir", default=str(BUNDLED_DATA))
    fidelity.add_argument(
        "--list", type=int, default=50, help="list at most this many disagreements"
    )
    fidelity.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every target is met, 1 when not, 2 when the backtest fails."""
    from freqtrade.data.btanalysis import load_backtest_data

    from metalabel.config import load_config
    from metalabel.core.pipeline import load_bundle
    from metalabel.evaluation.fidelity import compare, label_trades
    from metalabel.ops.runner import VARIANT_OVERLAYS, run_backtest
    from metalabel.ops.startup_checks import load_config_files

    configs = [Path(c) for c in args.config]
    with tempfile.TemporaryDirectory(prefix="metalabel-fidelity-") as tmp:
        results = Path(tmp) / "results"
        done = run_backtest(
            args.timerange,
            configs=configs,
            overlays=VARIANT_OVERLAYS["primary_regime"],
            userdir=Path(tmp) / "user_data",
            data_dir=Path(args.data_dir),
            results_dir=results,
            capture=True,
        )
        if done.returncode != 0:
            print((done.stdout + done.stderr)[-3000:])
            print(f"freqtrade backtesting failed with exit code {done.returncode}")
            return 2
        trades = load_backtest_data(results)
    merged = load_config_files(configs, runmode="backtest")
    merged.setdefault("metalabel", {})["mode"] = "primary_regime"
    settings = load_config(merged)
    pairs = sorted(trades["pair"].unique())
    bundles = [load_bundle(Path(args.data_dir), pair) for pair in pairs]
    fidelity = compare(label_trades(trades, bundles, settings))
    disagreeing = fidelity.rows[fidelity.rows["disagreement"].notna()]
    if not disagreeing.empty:
        print(f"disagreements ({len(disagreeing)}, first {args.list}):")
        print(disagreeing[DISAGREEMENT_COLUMNS].head(args.list).to_string(index=False))
    for line in fidelity.lines():
        print(line)
    return 0 if fidelity.targets_met else 1
