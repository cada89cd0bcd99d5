"""Pre-trade checks: each refusal with its named gate, and the order of the gates."""

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from metalabel.config import KillSwitchSettings, RiskSettings
from metalabel.risk.guard import GuardDecision, GuardTier
from metalabel.risk.killswitch import KillState, KillSwitchState, KillTrigger
from metalabel.risk.pretrade import EntryCheck, PreTradeDecision, check_entry

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
NORMAL = GuardDecision(GuardTier.NORMAL, "no guard trigger has held", 1.0)
REDUCED = GuardDecision(GuardTier.REDUCED, "5 losing trades in a row (limit 5)", 0.5, 0.1)
PAUSED = GuardDecision(GuardTier.PAUSED, "10 losing trades in a row (limit 10)", 0.0)
TRIPPED = KillSwitchState(
    state=KillState.TRIPPED,
    reason="metalabel kill by operator",
    trigger=KillTrigger.MANUAL,
    tripped_at=datetime(2026, 7, 21, tzinfo=UTC),
)


def _check(**overrides: Any) -> PreTradeDecision:
    """A healthy account entering a BTC long with a confident model, unless overridden."""
    inputs: dict[str, Any] = {
        "pair": BTC,
        "side": "long",
        "open_positions": [(ETH, "short")],
        "uses_model": True,
        "confidence": 0.65,
        "base_confidence_threshold": 0.6,
        "guard": NORMAL,
        "kill_switch": KillSwitchState(),
        "equity": 10_000.0,
        "peak_equity": 10_500.0,
        "day_start_equity": 10_100.0,
        "risk": RiskSettings(),
        "kill_settings": KillSwitchSettings(),
    }
    inputs.update(overrides)
    return check_entry(**inputs)


def test_a_healthy_entry_passes() -> None:
    assert _check() == PreTradeDecision(True, "all pre-trade checks passed", None)


@pytest.mark.parametrize(
    ("overrides", "check", "text"),
    [
        # the kill switch is tripped: its own reason is passed on
        ({"kill_switch": TRIPPED}, EntryCheck.KILL_SWITCH, "metalabel kill by operator"),
        # the performance guard is PAUSED
        ({"guard": PAUSED}, EntryCheck.GUARD_PAUSED, "10 losing trades"),
        # 5.1 % lost today (10 100 -> 9 585)
        ({"equity": 9_585.0}, EntryCheck.DAILY_LOSS, "loss today 5.10% > 5.00%"),
        # exactly 15 % below the peak, a small loss today
        (
            {"equity": 8_925.0, "day_start_equity": 9_000.0},
            EntryCheck.DRAWDOWN,
            "drawdown 15.00% >= 15.00%",
        ),
        # three positions already open
        (
            {"open_positions": [(ETH, "short"), (SOL, "long"), ("XRP/USDT:USDT", "long")]},
            EntryCheck.MAX_OPEN_POSITIONS,
            "3 positions open (limit 3)",
        ),
        # a BTC long is already open
        (
            {"open_positions": [(BTC, "long")]},
            EntryCheck.DUPLICATE_DIRECTION,
            "a long on BTC/USDT:USDT is already open",
        ),
        # same check for shorts, sides compared case-insensitively
        (
            {"side": "short", "open_positions": [(BTC, "SHORT")]},
            EntryCheck.DUPLICATE_DIRECTION,
            "a short on",
        ),
        # confidence exactly at the threshold is not above it
        ({"confidence": 0.6}, EntryCheck.CONFIDENCE, "not above 0.6"),
        # REDUCED raises the threshold to 0.7: 0.65 passes NORMAL but not REDUCED
        ({"guard": REDUCED}, EntryCheck.CONFIDENCE, "not above 0.7 (guard reduced)"),
        # the model made no prediction
        ({"confidence": math.nan}, EntryCheck.CONFIDENCE, "nan"),
        ({"confidence": None}, EntryCheck.CONFIDENCE, "no model confidence"),
        # unusable inputs
        ({"side": "buy"}, EntryCheck.INPUT, "side 'buy'"),
        ({"equity": math.nan}, EntryCheck.INPUT, "equity nan"),
        ({"equity": 0.0}, EntryCheck.INPUT, "equity 0.0"),
        ({"peak_equity": math.inf}, EntryCheck.INPUT, "peak equity inf"),
        ({"day_start_equity": -1.0}, EntryCheck.INPUT, "start-of-day equity -1.0"),
    ],
)
def test_each_refusal(overrides: dict[str, Any], check: EntryCheck, text: str) -> None:
    decision = _check(**overrides)
    assert not decision.allowed
    assert decision.check is check
    assert decision.reason.startswith(f"{check.value}: ")
    assert text in decision.reason


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        # an opposite-direction position on the same pair is not a duplicate
        ({"open_positions": [(BTC, "short")]}, "opposite side"),
        # a long on another pair is not a duplicate
        ({"open_positions": [(ETH, "long"), (SOL, "long")]}, "other pairs"),
        # two open positions: room for a third
        ({"open_positions": [(ETH, "long"), (SOL, "short")]}, "below the limit"),
        # REDUCED with a confidence above 0.7
        ({"guard": REDUCED, "confidence": 0.71}, "reduced, confident"),
        # no model in use: the confidence gate is skipped, whatever the value
        ({"uses_model": False, "confidence": None}, "baseline mode"),
        ({"uses_model": False, "confidence": math.nan}, "baseline mode, NaN ignored"),
        # equity marks not known yet (right after a reset): those limits are not checked
        ({"peak_equity": None, "day_start_equity": None}, "no marks"),
        # exactly 5 % lost today is not above the limit
        ({"equity": 9_595.0}, "daily loss at the limit"),
        # a higher limit from the config
        (
            {
                "equity": 8_925.0,
                "day_start_equity": 9_000.0,
                "kill_settings": KillSwitchSettings(max_drawdown_ratio=0.2),
            },
            "custom drawdown limit",
        ),
        # more positions allowed by the config
        (
            {
                "open_positions": [(ETH, "short"), (SOL, "long"), ("XRP/USDT:USDT", "long")],
                "risk": RiskSettings(max_open_positions=4),
            },
            "custom position limit",
        ),
    ],
)
def test_allowed_entries(overrides: dict[str, Any], why: str) -> None:
    assert _check(**overrides).allowed, why


def test_the_first_failing_gate_is_named() -> None:
    # everything wrong at once: the kill switch is reported first, then the guard, ...
    everything = {
        "kill_switch": TRIPPED,
        "guard": PAUSED,
        "equity": 8_000.0,
        "open_positions": [(BTC, "long"), (ETH, "long"), (SOL, "long")],
        "confidence": 0.1,
    }
    order = []
    for fixed in ("kill_switch", "guard", "equity", "open_positions", "confidence"):
        decision = _check(**everything)
        order.append(decision.check)
        everything.pop(fixed)
    assert order == [
        EntryCheck.KILL_SWITCH,
        EntryCheck.GUARD_PAUSED,
        EntryCheck.DAILY_LOSS,
        EntryCheck.MAX_OPEN_POSITIONS,
        EntryCheck.CONFIDENCE,
    ]


@pytest.mark.parametrize(
    "open_positions",
    [
        None,  # not a list at all
        [(BTC, "long", "extra")],  # not (pair, side) pairs
    ],
)
def test_malformed_inputs_refuse_instead_of_raising(open_positions: Any) -> None:
    decision = _check(open_positions=open_positions)
    assert (decision.allowed, decision.check) == (False, EntryCheck.INPUT)
    assert decision.reason.startswith("input: pre-trade check failed")
