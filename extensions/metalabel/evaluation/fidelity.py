"""Labels against freqtrade's own trades, trade by trade.

The labeller (:mod:`metalabel.core.labels`) claims to settle a trade exactly as
freqtrade's backtester does. This module checks the claim on a real backtest: it takes
each trade freqtrade made (pair, entry time, side), simulates the same entry with the
labeller, and compares the exit time and reason and the net return.

The net returns compared are both freqtrade's: the trade's ``profit_ratio / leverage``
and the label's ``trade_net_return`` (fees and funding as the backtest charges them;
the backtester has no slippage model, so the label's extra slippage is left out here).

Disagreements are classified. ``end_of_backtest`` (freqtrade closes what is still open
when the timerange ends; a label looks past it) and ``kill_switch`` (a risk exit, not
the exit policy) are not the labeller's to match and are left out of the agreement
ratios but counted; every other class counts against them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metalabel.config import MetalabelConfig
from metalabel.core import pipeline
from metalabel.core.exits import ExitReason
from metalabel.core.labels import ExitCode, detail_path, simulate_exits, simulator_params

# The targets: share of trades with the same exit, same sign; error in bp.
TARGET_EXIT_MATCH = 0.99
TARGET_SIGN_MATCH = 0.995
TARGET_NET_ERR_BP_P99 = 2.0
FORCE_EXIT = "force_exit"
NOT_POLICY_EXITS = {FORCE_EXIT: "end_of_backtest", str(ExitReason.KILL_SWITCH): "kill_switch"}
DISAGREEMENT_CLASSES = ("no_detail", "unlabelled", "exit_time", "exit_reason", "sign")
BP = 1e4


@dataclass(frozen=True)
class Fidelity:
    """Agreement figures of one backtest's trades with their labels."""

    trades: int
    compared: int
    exit_match: float
    sign_match: float
    net_err_bp_p50: float
    net_err_bp_p99: float
    excluded: dict[str, int]
    disagreements: dict[str, int]
    rows: pd.DataFrame = field(repr=False)

    @property
    def targets_met(self) -> bool:
        return (
            self.exit_match >= TARGET_EXIT_MATCH
            and self.sign_match >= TARGET_SIGN_MATCH
            and self.net_err_bp_p99 <= TARGET_NET_ERR_BP_P99
        )

    def lines(self) -> list[str]:
        """``key=value`` lines, as ``metalabel fidelity`` and the report print them."""
        out = [
            f"fidelity_trades={self.trades}",
            f"fidelity_compared={self.compared}",
            f"fidelity_exit_match={self.exit_match:.4f}",
            f"fidelity_sign_match={self.sign_match:.4f}",
            f"fidelity_net_err_bp_p50={self.net_err_bp_p50:.4g}",
            f"fidelity_net_err_bp_p99={self.net_err_bp_p99:.4g}",
        ]
        out += [f"fidelity_excluded_{k}={v}" for k, v in sorted(self.excluded.items())]
        out += [f"fidelity_disagree_{k}={v}" for k, v in sorted(self.disagreements.items())]
        out.append(f"fidelity_targets_met={str(self.targets_met).lower()}")
        return out


def label_trades(
    trades: pd.DataFrame, bundles: Iterable[pipeline.CandleBundle], settings: MetalabelConfig
) -> pd.DataFrame:
    """Simulate each trade's entry with the labeller.

    ``trades``: freqtrade's backtest trades (``pair, open_date, is_short``, ...). Adds
    ``label_exit_time``, ``label_exit_reason``, ``label_exit_price`` and
    ``label_net_return`` (freqtrade's costs), in the order of ``trades``.
    """
    params = simulator_params(settings.exits, settings.costs, leverage=settings.risk.leverage)
    parts = []
    for bundle in bundles:
        mine = trades[trades["pair"] == bundle.pair]
        if mine.empty:
            continue
        frame = pipeline.signal_frame(
            bundle.candles_1h, bundle.candles_4h, bundle.funding, settings
        )
        funding = bundle.funding if settings.costs.include_funding else None
        path = detail_path(frame, bundle.detail, funding=funding, mark=bundle.mark)
        ticks = pd.Series(pipeline.tick_decimals(frame).to_numpy(), index=frame["date"])
        open_ns = mine["open_date"].dt.as_unit("ns").astype("int64").to_numpy()
        entry = np.searchsorted(path.time_ns, open_ns)
        inside = entry < len(path.time_ns)
        found = inside & (path.time_ns[np.minimum(entry, len(path.time_ns) - 1)] == open_ns)
        hours = mine["open_date"].dt.floor("h")
        decimals = ticks.reindex(hours).ffill().fillna(0).to_numpy().astype(np.int64)
        result = simulate_exits(
            path,
            np.where(found, entry, -1).astype(np.int64),
            mine["is_short"].to_numpy(bool),
            decimals,
            params,
        )
        exited = result.exit_index >= 0
        exit_ns = path.time_ns[np.maximum(result.exit_index, 0)]
        parts.append(
            mine.assign(
                label_exit_time=pd.to_datetime(np.where(exited, exit_ns, 0), utc=True).where(
                    exited
                ),
                label_exit_reason=[ExitCode(c).reason for c in result.code],
                label_no_detail=result.code == int(ExitCode.NO_DETAIL),
                label_exit_price=result.exit_price,
                label_net_return=result.trade_net_return,
            )
        )
    return pd.concat(parts).loc[trades.index] if parts else trades.iloc[:0]


def _classify(row: pd.Series) -> str | None:
    """Why a trade and its label disagree (None when they agree)."""
    if row["exit_reason"] in NOT_POLICY_EXITS:
        return NOT_POLICY_EXITS[row["exit_reason"]]
    if row["label_no_detail"]:
        return "no_detail"
    if pd.isna(row["label_exit_time"]):
        return "unlabelled"
    if row["label_exit_time"] != row["close_date"]:
        return "exit_time"
    if row["label_exit_reason"] != row["exit_reason"]:
        return "exit_reason"
    if (row["label_net_return"] > 0) != (row["trade_net_return"] > 0):
        return "sign"
    return None


def compare(labelled: pd.DataFrame) -> Fidelity:
    """Agreement of trades and labels (``labelled`` from :func:`label_trades`)."""
    rows = labelled.assign(trade_net_return=labelled["profit_ratio"] / labelled["leverage"])
    rows["net_err_bp"] = (rows["label_net_return"] - rows["trade_net_return"]).abs() * BP
    rows["disagreement"] = [_classify(r) for _, r in rows.iterrows()]
    excluded_mask = rows["exit_reason"].isin(list(NOT_POLICY_EXITS))
    compared = rows[~excluded_mask]
    same_exit = (compared["label_exit_time"] == compared["close_date"]) & (
        compared["label_exit_reason"] == compared["exit_reason"]
    )
    same_sign = (compared["label_net_return"] > 0) == (compared["trade_net_return"] > 0)
    errors = compared["net_err_bp"].fillna(np.inf)
    n = len(compared)
    return Fidelity(
        trades=len(rows),
        compared=n,
        exit_match=float(same_exit.mean()) if n else float("nan"),
        sign_match=float(same_sign.mean()) if n else float("nan"),
        net_err_bp_p50=float(errors.quantile(0.5)) if n else float("nan"),
        net_err_bp_p99=float(errors.quantile(0.99)) if n else float("nan"),
        excluded=_counts(rows.loc[excluded_mask, "disagreement"], NOT_POLICY_EXITS.values()),
        disagreements=_counts(compared["disagreement"].dropna(), DISAGREEMENT_CLASSES),
        rows=rows,
    )


def _counts(classes: pd.Series, names: Iterable[str]) -> dict[str, int]:
    """Trades per class, every known class present (stable keys for the report)."""
    found = Counter(classes)
    return {name: int(found.get(name, 0)) for name in names}
