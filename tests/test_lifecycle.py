"""Model lifecycle decisions: promotion against the incumbent, rollback against hold-out."""

from pathlib import Path
from typing import Any

import pytest

from metalabel.config import LifecycleSettings
from metalabel.lifecycle import (
    Decision,
    LifecycleLog,
    promotion_verdict,
    rollback_verdict,
)

S = LifecycleSettings()


def stats(
    trades: int = 60, sharpe: float | None = 0.3, pf: float | None = 1.5, dd: float | None = 0.10
) -> dict[str, Any]:
    return {"trades": trades, "sharpe": sharpe, "profit_factor": pf, "max_drawdown": dd}


@pytest.mark.parametrize(
    ("candidate", "incumbent", "events", "decision", "why"),
    [
        (stats(), None, 10, Decision.PROMOTE, "first model"),
        (stats(), stats(), 120, Decision.PROMOTE, "all promotion criteria met"),
        # exactly at the bounds: Sharpe 0.9x, PF 0.9x, drawdown 1.1x still pass
        (stats(sharpe=0.27, pf=1.35, dd=0.11), stats(), 120, Decision.PROMOTE, "criteria met"),
        (stats(), stats(), 49, Decision.REFUSE, "49 hold-out trades < 50"),
        (stats(sharpe=0.26), stats(), 120, Decision.REFUSE, "Sharpe 0.260 < 0.9x"),
        (stats(pf=1.3), stats(), 120, Decision.REFUSE, "profit factor 1.300 < 0.9x"),
        (stats(dd=0.12), stats(), 120, Decision.REFUSE, "max drawdown 0.1200 > 1.1x"),
        (stats(sharpe=None), stats(), 120, Decision.REFUSE, "too few trades"),
        (stats(trades=0), stats(), 120, Decision.REFUSE, "too few trades"),
        # negative incumbent Sharpe: "10 % worse" is -1.1, not -0.9
        (stats(sharpe=-1.05), stats(sharpe=-1.0), 120, Decision.PROMOTE, "criteria met"),
        (stats(sharpe=-1.2), stats(sharpe=-1.0), 120, Decision.REFUSE, "Sharpe -1.200"),
        # a candidate without losing trades has no profit factor: as good as it gets
        (stats(pf=None), stats(), 120, Decision.PROMOTE, "criteria met"),
        (stats(), stats(pf=None), 120, Decision.REFUSE, "no losing trade"),
        # an incumbent that no longer trades is no reference
        (
            stats(),
            stats(trades=0, sharpe=None, pf=None, dd=0.0),
            120,
            Decision.PROMOTE,
            "took no trade",
        ),
    ],
)
def test_promotion(
    candidate: dict, incumbent: dict | None, events: int, decision: Decision, why: str
) -> None:
    verdict = promotion_verdict(candidate, incumbent, S, holdout_events=events)
    assert verdict.decision is decision
    assert any(why in reason for reason in verdict.reasons)


@pytest.mark.parametrize(
    ("live", "decision", "why"),
    [
        (stats(trades=19, sharpe=-5), Decision.KEEP, "19 live trades < 20"),
        (stats(trades=30, sharpe=0.25), Decision.KEEP, "within bounds"),
        (stats(trades=30, sharpe=0.2), Decision.ROLLBACK, "live Sharpe 0.200 < 0.7x"),
        (stats(trades=30, dd=0.16), Decision.ROLLBACK, "live drawdown 0.1600 > 1.5x"),
    ],
)
def test_rollback(live: dict, decision: Decision, why: str) -> None:
    verdict = rollback_verdict(live, stats(), S)
    assert verdict.decision is decision
    assert any(why in reason for reason in verdict.reasons)


def test_log_round_trip_and_a_corrupt_line(tmp_path: Path) -> None:
    log = LifecycleLog(tmp_path / "lifecycle.jsonl")
    assert log.read() == []
    log.append({"decision": "promote", "version": 1})
    with log.path.open("a") as handle:
        handle.write("{not json\n")
    log.append({"decision": "refuse", "version": 2})
    assert [e["version"] for e in log.read()] == [1, 2]
