"""``metalabel model-cv``: compare model variants inside the training windows only."""

from __future__ import annotations

import argparse
from pathlib import Path

from metalabel.config import load_config
from metalabel.ops.cli_common import Subparsers, check_config_file


def _cmd_model_cv(args: argparse.Namespace) -> int:
    from freqtrade.configuration.load_config import load_config_file

    from metalabel.core.pipeline import labelled_events, load_bundle
    from metalabel.evaluation.model_selection import VARIANTS, compare, score_windows
    from metalabel.evaluation.tuning import DEFAULT_PAIRS, training_folds

    path = Path(args.config)
    check_config_file(path)
    raw = load_config_file(str(path))
    settings = load_config(raw)
    freqai = raw.get("freqai", {})
    pairs = raw.get("exchange", {}).get("pair_whitelist") or DEFAULT_PAIRS
    events = {p: labelled_events(load_bundle(Path(args.data_dir), p), settings) for p in pairs}
    folds = training_folds(
        events,
        settings,
        args.folds_limit,
        freqai.get("train_period_days", 180),
        freqai.get("backtest_period_days", 30),
    )
    xgb = freqai.get("model_training_parameters", {})
    test_size = freqai.get("data_split_parameters", {}).get("test_size", 0.2)
    scores = {
        v: score_windows(events, folds, settings.model, xgb, variant=v, test_size=test_size)
        for v in VARIANTS
    }
    print(
        f"{len(folds)} training windows ({folds[0].train_start:%Y-%m-%d} to "
        f"{folds[-1].train_end:%Y-%m-%d}); out-of-fold figures of purged cross-validation "
        "inside each window, no test window read"
    )
    for v, rows in scores.items():
        for row in rows:
            print(
                f"{v:9s} {row.train_start:%Y-%m-%d} events={row.events} auc={_f(row.auc)} "
                f"brier={_f(row.brier)} base_rate_brier={_f(row.base_rate_brier)}"
            )
    result = compare(scores["per_pair"], scores["pooled"], ("per_pair", "pooled"))
    lo, hi = result.difference_ci95
    print(
        f"mean out-of-fold AUC per_pair={result.mean_auc[0]:.4f} "
        f"pooled={result.mean_auc[1]:.4f} over {result.windows} windows; "
        f"pooled - per_pair = {result.difference:+.4f} [{lo:+.4f}, {hi:+.4f}] "
        "(bootstrap over windows)"
    )
    return 0


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def register(sub: Subparsers) -> None:
    """model-cv."""
    from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG

    parser = sub.add_parser(
        "model-cv",
        help="per-pair vs pooled meta-model, scored inside the training windows only",
    )
    parser.add_argument("--config", default=str(MAIN_CONFIG))
    parser.add_argument("--data-dir", default=str(BUNDLED_DATA))
    parser.add_argument("--folds-limit", type=int, default=None, help="only the latest N windows")
    parser.set_defaults(func=_cmd_model_cv)
