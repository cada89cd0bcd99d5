"""Model lifecycle decisions: promotion against the incumbent, rollback against hold-out."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metalabel.config import LifecycleSettings
from metalabel.model.lifecycle import (
    Decision,
    LifecycleLog,
    live_rollback_check,
    promotion_verdict,
    rollback_target,
    rollback_verdict,
)

S = LifecycleSettings()


def stats(
    trades: int = 60, sharpe: float | None = 0.3, pf: float | None = 1.5, dd: float | None = 0.10
) -> dict[str, Any]:
    return {"trades": trades, "sharpe": sharpe, "profit_factor": pf, "max_drawdown": dd}


@pytest.mark.parametrize(
    ("candidate", "incumbent", "decision", "why"),
    [
        (stats(trades=10), None, Decision.PROMOTE, "first model"),
        (stats(), stats(), Decision.PROMOTE, "all promotion criteria met"),
        # exactly at the bounds: Sharpe 0.9x, PF 0.9x, drawdown 1.1x still pass
        (stats(sharpe=0.27, pf=1.35, dd=0.11), stats(), Decision.PROMOTE, "criteria met"),
        (stats(trades=49), stats(), Decision.REFUSE, "49 hold-out trades < 50: too few"),
        (stats(sharpe=0.26), stats(), Decision.REFUSE, "Sharpe 0.260 < 0.9x"),
        (stats(pf=1.3), stats(), Decision.REFUSE, "profit factor 1.300 < 0.9x"),
        (stats(dd=0.12), stats(), Decision.REFUSE, "max drawdown 0.1200 > 1.1x"),
        (stats(sharpe=None), stats(), Decision.REFUSE, "too few trades"),
        (stats(trades=0), stats(), Decision.REFUSE, "0 hold-out trades < 50"),
        # negative incumbent Sharpe: "10 % worse" is -1.1, not -0.9
        (stats(sharpe=-1.05), stats(sharpe=-1.0), Decision.PROMOTE, "criteria met"),
        (stats(sharpe=-1.2), stats(sharpe=-1.0), Decision.REFUSE, "Sharpe -1.200"),
        # a candidate without losing trades has no profit factor: as good as it gets
        (stats(pf=None), stats(), Decision.PROMOTE, "criteria met"),
        (stats(), stats(pf=None), Decision.REFUSE, "no losing trade"),
        # an incumbent that no longer trades is no reference
        (
            stats(),
            stats(trades=0, sharpe=None, pf=None, dd=0.0),
            Decision.PROMOTE,
            "took no trade",
        ),
    ],
)
def test_promotion(candidate: dict, incumbent: dict | None, decision: Decision, why: str) -> None:
    verdict = promotion_verdict(candidate, incumbent, S)
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


T0 = "2026-01-01T00:00:00+00:00"


def _promote(version: int, holdout: dict | None = None, time: str = T0) -> dict:
    return {
        "pair": "P",
        "decision": "promote",
        "candidate_version": version,
        "active_version": version,
        "time": time,
        "active_holdout": holdout or stats(),
    }


def test_rollback_target_goes_back_one_promotion_at_a_time() -> None:
    events = [
        _promote(1),
        {"pair": "P", "decision": "refuse", "active_version": 1},
        _promote(3),
        _promote(4),
    ]
    assert rollback_target(events, "P")["candidate_version"] == 3
    # after rolling back to v3, the next rollback goes to v1
    events.append({"pair": "P", "decision": "rollback", "active_version": 3, "time": T0})
    assert rollback_target(events, "P")["candidate_version"] == 1
    events.append({"pair": "P", "decision": "rollback", "active_version": 1, "time": T0})
    assert rollback_target(events, "P") is None  # nothing older than the first model
    assert rollback_target(events, "Q") is None


def test_live_rollback_check_uses_trades_since_the_model_took_over() -> None:
    events = [_promote(1, stats(sharpe=0.3, dd=0.10), time="2026-01-02T00:00:00+00:00")]
    before = datetime(2026, 1, 1, tzinfo=UTC)
    after = datetime(2026, 1, 3, tzinfo=UTC)
    losing = [(after, r) for r in [-0.01, 0.005] * 12]  # 24 trades, Sharpe about -0.3
    verdict = live_rollback_check(events, "P", losing, S)
    assert verdict is not None and verdict.decision is Decision.ROLLBACK
    # the same trades before the model took over do not count
    old = [(before, r) for _, r in losing]
    assert live_rollback_check(events, "P", old, S).decision is Decision.KEEP
    assert live_rollback_check([], "P", losing, S) is None
