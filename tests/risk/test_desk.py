"""The risk desk: the order of its loop, notices once per change, and what its entry and
stake answers delegate to (with the settings it holds at the moment of the call)."""

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metalabel.config import MetalabelConfig, load_config
from metalabel.risk.account import ClosedTrade
from metalabel.risk.desk import GUARD_LOCK_REASON, KILL_LOCK_REASON, RiskDesk
from metalabel.risk.guard import GuardTier
from metalabel.risk.killswitch import (
    ApiErrorCounter,
    KillSwitchStore,
    KillTrigger,
    MemoryKillSwitchStore,
)
from metalabel.risk.pretrade import EntryCheck, PreTradeDecision
from metalabel.risk.sizing import StakeDecision, position_stake

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
PAIR = "BTC/USDT:USDT"


def _desk(settings: MetalabelConfig | None = None) -> RiskDesk:
    return RiskDesk(
        settings=settings or load_config({}), store=MemoryKillSwitchStore(), candle=HOUR
    )


def _losses(count: int) -> list[ClosedTrade]:
    """``count`` losing trades of 1 USDT, one an hour from T0 + 1 h."""
    return [ClosedTrade(profit_abs=-1.0, closed_at=T0 + HOUR * i) for i in range(1, count + 1)]


def _entry(desk: RiskDesk, confidence: float | None) -> PreTradeDecision:
    return desk.entry(pair=PAIR, side="long", open_positions=[], confidence=confidence, equity=1e3)


def test_a_quiet_loop_announces_nothing() -> None:
    desk = _desk()
    for hour in range(3):
        assert (
            desk.on_loop(T0 + HOUR * hour, equity=1000.0, closed=[], starting_equity=1000.0) == []
        )
    assert not desk.tripped and desk.guard is not None and desk.guard.tier is GuardTier.NORMAL


def test_guard_tier_changes_are_announced_once_each() -> None:
    desk = _desk()
    # 5 losses in a row: REDUCED (default reduced_losing_streak 5), no lock
    (reduced,) = desk.on_loop(T0 + 6 * HOUR, equity=995.0, closed=_losses(5), starting_equity=1e3)
    assert "normal -> reduced" in reduced.message and reduced.lock_until is None
    # 10 in a row: PAUSED, all pairs locked for paused_cooldown_candles (24) candles
    (paused,) = desk.on_loop(T0 + 11 * HOUR, equity=990.0, closed=_losses(10), starting_equity=1e3)
    assert paused.lock_reason == GUARD_LOCK_REASON
    assert paused.lock_until == T0 + 10 * HOUR + 24 * HOUR  # from the 10th loss
    # the same facts an hour later: nothing new to say
    assert desk.on_loop(T0 + 12 * HOUR, equity=990.0, closed=_losses(10), starting_equity=1e3) == []
    # the pause times out: back to REDUCED, and the lock is lifted
    (probation,) = desk.on_loop(
        T0 + 40 * HOUR, equity=990.0, closed=_losses(10), starting_equity=1e3
    )
    assert "paused -> reduced" in probation.message
    assert probation.unlock_reason == GUARD_LOCK_REASON


def test_kill_switch_trip_is_announced_once_and_before_the_guard() -> None:
    desk = _desk()
    desk.on_loop(T0, equity=1000.0, closed=[], starting_equity=1000.0)
    # one loop: a 20 % drawdown (limit 15 %) and a 10-loss streak (guard PAUSED)
    notices = desk.on_loop(T0 + 11 * HOUR, equity=800.0, closed=_losses(10), starting_equity=1e3)
    assert [n.level for n in notices] == [logging.CRITICAL, logging.WARNING]
    kill, guard = notices
    assert kill.message.startswith("KILL SWITCH TRIPPED (drawdown)")
    assert kill.lock_reason == KILL_LOCK_REASON and kill.lock_until is not None
    assert guard.lock_reason == GUARD_LOCK_REASON
    assert desk.store.read().trigger is KillTrigger.DRAWDOWN
    assert desk.tripped and desk.flatten
    assert desk.on_loop(T0 + 12 * HOUR, equity=800.0, closed=_losses(10), starting_equity=1e3) == []


def test_flatten_follows_close_positions() -> None:
    raw = {"metalabel": {"kill_switch": {"close_positions": False}}}
    desk = _desk(load_config(raw))
    desk.on_loop(T0, equity=1000.0, closed=[], starting_equity=1000.0)
    (kill,) = desk.on_loop(T0 + HOUR, equity=800.0, closed=[], starting_equity=1000.0)
    assert "positions kept open" in kill.message
    assert desk.tripped and not desk.flatten


def test_reset_on_disk_is_announced_once_and_clears_api_errors(tmp_path: Path) -> None:
    desk = RiskDesk.for_run(load_config({}), user_data=tmp_path, candle=HOUR)
    assert isinstance(desk.store, KillSwitchStore) and desk.store.path.is_file()
    assert isinstance(desk.api_errors, ApiErrorCounter)
    desk.store.trip(KillTrigger.MANUAL, "operator", T0)  # what `metalabel kill` does
    (kill,) = desk.on_loop(T0, equity=1000.0, closed=[], starting_equity=1000.0)
    assert kill.lock_reason == KILL_LOCK_REASON
    desk.api_errors.record()
    desk.store.reset(T0 + HOUR)  # what `metalabel resume` does
    (resumed,) = desk.on_loop(T0 + HOUR, equity=1000.0, closed=[], starting_equity=1000.0)
    assert resumed.unlock_reason == KILL_LOCK_REASON
    assert desk.api_errors.count() == 0
    assert desk.on_loop(T0 + 2 * HOUR, equity=1000.0, closed=[], starting_equity=1000.0) == []


def test_backtest_desk_keeps_its_state_in_memory() -> None:
    desk = RiskDesk.for_run(load_config({}), user_data=None, candle=HOUR)
    assert isinstance(desk.store, MemoryKillSwitchStore) and desk.api_errors is None


@pytest.mark.parametrize(
    ("confidence", "allowed", "check"),
    [
        (None, True, None),  # no model in this mode: the confidence gate is not asked
        (0.61, True, None),  # above the default threshold 0.6
        (0.6, False, EntryCheck.CONFIDENCE),  # not above it
    ],
)
def test_entry_delegates_to_the_pre_trade_checks(
    confidence: float | None, allowed: bool, check: EntryCheck | None
) -> None:
    decision = _entry(_desk(), confidence)
    assert (decision.allowed, decision.check) == (allowed, check)


def test_entry_is_refused_by_the_tripped_kill_switch_and_the_paused_guard() -> None:
    desk = _desk()
    desk.on_loop(T0 + 11 * HOUR, equity=1000.0, closed=_losses(10), starting_equity=1e3)
    assert _entry(desk, None).check is EntryCheck.GUARD_PAUSED
    desk.store.trip(KillTrigger.MANUAL, "operator", T0 + 12 * HOUR)
    refused = _entry(desk, None)
    assert refused.check is EntryCheck.KILL_SWITCH and "operator" in refused.reason


def test_entry_uses_settings_replaced_at_run_time() -> None:
    """The strategy swaps in the hyperopt-resolved settings after the desk is built."""
    desk = _desk()
    assert _entry(desk, 0.55).check is EntryCheck.CONFIDENCE  # config threshold 0.6
    tuned = dataclasses.replace(desk.settings.model, confidence_threshold=0.52)
    desk.settings = dataclasses.replace(desk.settings, model=tuned)
    assert _entry(desk, 0.55).allowed


def _sizing(desk: RiskDesk, guard_multiplier: float) -> StakeDecision:
    """What sizing answers for the stake request of ``_stake``."""
    return position_stake(
        equity=1000.0,
        confidence=0.7,
        current_daily_volatility=0.01,
        guard_multiplier=guard_multiplier,
        regime_multiplier=1.0,
        leverage=2.0,
        min_stake=5.0,
        max_stake=500.0,
        settings=desk.settings.risk,
    )


def _stake(desk: RiskDesk) -> StakeDecision:
    return desk.stake(
        equity=1000.0,
        confidence=0.7,
        daily_volatility=0.01,
        regime_multiplier=1.0,
        leverage=2.0,
        min_stake=5.0,
        max_stake=500.0,
    )


def test_stake_delegates_to_sizing_with_the_guard_multiplier() -> None:
    desk = _desk()
    normal = _stake(desk)
    assert normal == _sizing(desk, 1.0) and normal.allowed
    desk.on_loop(T0 + 6 * HOUR, equity=995.0, closed=_losses(5), starting_equity=1e3)
    assert desk.guard is not None and desk.guard.tier is GuardTier.REDUCED
    reduced = _stake(desk)
    assert reduced == _sizing(desk, 0.5)
    assert 0 < reduced.stake_amount < normal.stake_amount
