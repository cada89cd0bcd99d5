"""Performance guard: scripted trade sequences through every transition and recovery path.

A sequence is written as a string, one letter per closed trade (W = win, L = loss,
0 = zero profit), closing one hour apart. ``path()`` evaluates the guard after each
trade, the way the bot does, and spells the tiers: N(ORMAL), R(EDUCED), P(AUSED).
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalabel.config import GuardSettings
from metalabel.risk.guard import (
    GuardDecision,
    GuardTier,
    TradeOutcome,
    evaluate_guard,
    outcomes_from_profits,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DEFAULTS = GuardSettings()
PROFIT = {"W": 1.0, "L": -1.0, "0": 0.0}


def trades(
    results: str, drawdown: float | Sequence[float] = 0.01, *, start: datetime = T0
) -> list[TradeOutcome]:
    """One outcome per letter, an hour apart; one drawdown for all or one per trade."""
    drawdowns = [drawdown] * len(results) if isinstance(drawdown, float) else list(drawdown)
    assert len(drawdowns) == len(results)
    return [
        TradeOutcome(PROFIT[r], dd, start + i * HOUR)
        for i, (r, dd) in enumerate(zip(results, drawdowns, strict=True))
    ]


def path(outcomes: Sequence[TradeOutcome], **kwargs: object) -> str:
    """The tier after each trade, as evaluated right after that trade closed."""
    return "".join(
        evaluate_guard(outcomes[:k], DEFAULTS, **kwargs).tier.value[0].upper()  # type: ignore[arg-type]
        for k in range(1, len(outcomes) + 1)
    )


def test_empty_history_is_normal() -> None:
    decision = evaluate_guard([], DEFAULTS)
    assert decision == GuardDecision(GuardTier.NORMAL, "no closed trades yet", 1.0)
    assert decision.confidence_threshold(0.6) == 0.6
    assert decision.entries_allowed


# ------------------------------------------------------------------ escalation


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        # the 5th loss in a row enters REDUCED
        ("LLLLL", "NNNNR"),
        # a zero-profit trade is not a win: five of them are a losing streak
        ("00000", "NNNNR"),
        # four losses then a win: the streak is broken before it reaches 5
        ("LLLLWLLLL", "NNNNNNNNN"),
        # 7 wins of 20 = 35 % < 40 %: REDUCED, but only once the 20-trade window is full
        ("WLLWLLWLLWLLWLLWLLWL", "N" * 19 + "R"),
        # 8 of 20 = exactly 40 %: not below 40 %, stays NORMAL
        ("WLLWL" * 4, "N" * 20),
        # 6 of 20 = exactly 30 %: not PAUSED, but below 40 %: REDUCED
        ("WLLWLLLWLLWLLLWLLWLL", "N" * 19 + "R"),
        # 4 of 20 = 20 % < 30 % with no streak of 5: NORMAL jumps straight to PAUSED
        ("WLLLL" * 4, "N" * 19 + "P"),
        # 10 losses in a row: REDUCED at 5, PAUSED at 10
        ("L" * 10, "NNNNRRRRRP"),
    ],
)
def test_escalation_by_results(results: str, expected: str) -> None:
    assert path(trades(results)) == expected


@pytest.mark.parametrize(
    ("drawdown", "tier"),
    [
        (0.05, GuardTier.NORMAL),  # exactly 5 %: not above the REDUCED limit
        (0.0501, GuardTier.REDUCED),  # above 5 %
        (0.10, GuardTier.REDUCED),  # exactly 10 %: not above the PAUSED limit
        (0.1001, GuardTier.PAUSED),  # above 10 %: straight from NORMAL to PAUSED
    ],
)
def test_escalation_by_drawdown(drawdown: float, tier: GuardTier) -> None:
    decision = evaluate_guard(trades("L", drawdown), DEFAULTS)
    assert decision.tier is tier
    if tier is not GuardTier.NORMAL:
        assert "drawdown" in decision.reason
        assert decision.since == T0


def test_tier_effects() -> None:
    reduced = evaluate_guard(trades("LLLLL"), DEFAULTS)
    assert (reduced.size_multiplier, reduced.confidence_threshold(0.6)) == (0.5, 0.7)
    assert reduced.entries_allowed
    assert reduced.reason == "5 losing trades in a row (limit 5)"
    paused = evaluate_guard(trades("L" * 10), DEFAULTS)
    assert (paused.size_multiplier, paused.confidence_threshold(0.6)) == (0.0, math.inf)
    assert not paused.entries_allowed
    assert paused.since == T0 + 9 * HOUR
    assert paused.until == T0 + 9 * HOUR + timedelta(hours=24)


def test_metrics_win_rate_is_not_evaluated_before_the_window_is_full() -> None:
    assert evaluate_guard(trades("L" * 4 + "W" * 5), DEFAULTS).metrics.win_rate is None
    metrics = evaluate_guard(trades("WLLWL" * 4), DEFAULTS).metrics
    assert (metrics.win_rate, metrics.recovery_win_rate) == (0.4, 0.4)
    assert (metrics.closed_trades, metrics.losing_streak, metrics.winning_streak) == (20, 1, 0)


# ------------------------------------------------------- recovery and hysteresis


def test_reduced_to_normal_by_three_winners() -> None:
    # one or two winners are not enough evidence; the third restores full size
    outcomes = trades("LLLLLWWW")
    assert path(outcomes) == "NNNNRRRN"
    decision = evaluate_guard(outcomes, DEFAULTS)
    assert decision.reason == "recovered: 3 winners in a row, drawdown 1.00% < 5.00%"
    assert decision.since == T0 + 7 * HOUR


def test_reduced_to_normal_by_win_rate_of_the_last_ten() -> None:
    # after LLLLL, alternating W/L: the last 10 reach 5 wins (50 % > 45 %) at trade 14
    outcomes = trades("LLLLL" + "WL" * 5)
    assert path(outcomes) == "NNNNR" + "R" * 8 + "NN"
    reason = evaluate_guard(outcomes[:14], DEFAULTS).reason
    assert reason.startswith("recovered: win rate 50% of the last 10 trades > 45%")


def test_recovery_evidence_does_not_end_reduced_while_its_trigger_holds() -> None:
    # at trade 20 the last 10 are 50 % winners, but the last 20 are 35 %: REDUCED stays
    # until the 20-trade win rate is back to 40 % (trade 21)
    outcomes = trades("LLWLLLLWLL" + "WLWLWLWLWL" + "W")
    assert path(outcomes) == "N" * 19 + "RN"


def test_drawdown_hysteresis() -> None:
    # REDUCED at 6 %; winners at 5.5 % and at exactly 5 % do not recover (needs < 5 %)
    outcomes = trades("LWWWWW", [0.06, 0.055, 0.055, 0.055, 0.05, 0.049])
    assert path(outcomes) == "RRRRRN"


def test_drawdown_alone_does_not_end_a_losing_streak_reduction() -> None:
    # drawdown back at 0 but only one winner since the streak: still REDUCED
    assert path(trades("LLLLLW", [0.01] * 5 + [0.0])) == "NNNNRR"


def test_paused_recovers_through_reduced_never_straight_to_normal() -> None:
    # positions still open when the pause began close as winners: at the 3rd winner the
    # recovery rule holds and nothing would keep REDUCED, yet PAUSED steps to REDUCED;
    # the next winner restores NORMAL
    outcomes = trades("L" * 10 + "WWWW")
    assert path(outcomes) == "NNNNRRRRRP" + "PPRN"
    release = evaluate_guard(outcomes[:13], DEFAULTS)
    assert release.tier is GuardTier.REDUCED
    assert release.reason.startswith("recovering from pause: 3 winners in a row")


# --------------------------------------------------------- pause timeout, probation


def test_pause_times_out_to_reduced_after_the_cooldown() -> None:
    outcomes = trades("L" * 10)
    last = outcomes[-1].closed_at
    still = evaluate_guard(outcomes, DEFAULTS, now=last + timedelta(hours=23, minutes=59))
    assert still.tier is GuardTier.PAUSED
    assert still.until == last + timedelta(hours=24)
    released = evaluate_guard(outcomes, DEFAULTS, now=last + timedelta(hours=24))
    assert released.tier is GuardTier.REDUCED
    assert released.since == last + timedelta(hours=24)
    assert "timed out" in released.reason
    assert released.size_multiplier == 0.5


def test_custom_cooldown_and_no_cooldown() -> None:
    outcomes = trades("L" * 10)
    last = outcomes[-1].closed_at
    short = evaluate_guard(outcomes, DEFAULTS, now=last + 2 * HOUR, paused_cooldown=2 * HOUR)
    assert short.tier is GuardTier.REDUCED
    never = evaluate_guard(outcomes, DEFAULTS, now=last + 1000 * HOUR, paused_cooldown=None)
    assert (never.tier, never.until) == (GuardTier.PAUSED, None)


def test_a_loss_while_paused_restarts_the_cooldown() -> None:
    outcomes = trades("L" * 10)
    last = outcomes[-1].closed_at
    outcomes.append(TradeOutcome(-1.0, 0.01, last + 20 * HOUR))  # an open position closes
    decision = evaluate_guard(outcomes, DEFAULTS, now=last + 25 * HOUR)
    assert decision.tier is GuardTier.PAUSED
    assert decision.until == last + 44 * HOUR


def test_timeout_between_two_trades_is_replayed_at_its_time() -> None:
    outcomes = trades("L" * 10)
    last = outcomes[-1].closed_at
    outcomes.append(TradeOutcome(1.0, 0.01, last + 30 * HOUR))
    decision = evaluate_guard(outcomes, DEFAULTS)
    assert decision.tier is GuardTier.REDUCED
    assert decision.since == last + 24 * HOUR  # released at the timeout, not at the trade


def test_probation_judges_pause_triggers_on_fresh_losses_only() -> None:
    # 10 losses pause; after the timeout the old streak is not counted again: it takes
    # 10 *new* losers in a row to pause a second time
    outcomes = trades("L" * 10)
    resume = outcomes[-1].closed_at + 30 * HOUR
    outcomes += trades("L" * 10, start=resume)
    assert path(outcomes) == "NNNNRRRRRP" + "R" * 9 + "P"


def test_probation_judges_drawdown_from_the_equity_at_release() -> None:
    # paused at 12 % drawdown; after the timeout a loss to 13 % is a 1.1 % fresh loss
    # (REDUCED), a move to 21 % is 10.2 % below the release equity (PAUSED again)
    first = TradeOutcome(-1.0, 0.12, T0)
    later = T0 + 30 * HOUR
    outcomes = [first, TradeOutcome(-1.0, 0.13, later), TradeOutcome(-1.0, 0.21, later + HOUR)]
    assert path(outcomes) == "PRP"
    again = evaluate_guard(outcomes, DEFAULTS)
    assert again.reason == "drawdown since the pause ended 10.23% > 10.00%"


def test_probation_drawdown_is_measured_from_the_best_equity_since_release() -> None:
    # released at 12 % (quota 0.88); a winner lifts equity to 5 % below the all-time
    # peak (quota 0.95); a loss to 15 % is 10.5 % below that: PAUSED
    later = T0 + 30 * HOUR
    outcomes = [
        TradeOutcome(-1.0, 0.12, T0),
        TradeOutcome(1.0, 0.05, later),
        TradeOutcome(-1.0, 0.15, later + HOUR),
    ]
    assert path(outcomes) == "PRP"


def test_probation_returns_to_normal_only_below_five_percent_drawdown() -> None:
    later = T0 + 30 * HOUR
    winners = trades("WWWW", [0.08, 0.08, 0.08, 0.04], start=later)
    outcomes = [TradeOutcome(-1.0, 0.12, T0), *winners]
    assert path(outcomes) == "PRRRN"


# ----------------------------------------------------------- restart and identity


def test_restart_replays_to_the_same_tier() -> None:
    """The bot evaluates after every close; a restart rebuilds the history from the
    database (profits and the starting balance) and must land on the same decision."""
    profits = [5.0, -8, -9, 3, -7, -6, -5, -4, -3, 12, 15, 9, -2, 8, 7, 6, -30, -40, 10]
    closed = [T0 + i * 7 * HOUR for i in range(len(profits))]
    live: list[GuardDecision] = []
    history: list[TradeOutcome] = []
    for i in range(len(profits)):  # the running bot, one close at a time
        history = list(
            outcomes_from_profits(profits[: i + 1], closed[: i + 1], starting_equity=300)
        )
        live.append(evaluate_guard(history, DEFAULTS, now=closed[i] + HOUR))
    for i in range(len(profits)):  # a restart after trade i
        rebuilt = outcomes_from_profits(profits[: i + 1], closed[: i + 1], starting_equity=300.0)
        assert evaluate_guard(tuple(rebuilt), DEFAULTS, now=closed[i] + HOUR) == live[i]
    assert {d.tier for d in live} == set(GuardTier)  # the script visits every tier


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(0.0, 0.2, allow_nan=False)), min_size=1, max_size=45
    )
)
def test_paused_is_never_followed_directly_by_normal(steps: list[tuple[bool, float]]) -> None:
    outcomes = [
        TradeOutcome(1.0 if win else -1.0, dd, T0 + i * HOUR) for i, (win, dd) in enumerate(steps)
    ]
    tiers = path(outcomes, paused_cooldown=None)
    assert "PN" not in tiers
    again = evaluate_guard(outcomes, DEFAULTS, paused_cooldown=None)
    assert again.tier.value[0].upper() == tiers[-1]
    expected_size = {GuardTier.NORMAL: 1.0, GuardTier.REDUCED: 0.5, GuardTier.PAUSED: 0.0}
    assert again.size_multiplier == expected_size[again.tier]


# --------------------------------------------------------------- fail closed, misc


@pytest.mark.parametrize(
    ("outcomes", "why"),
    [
        ([TradeOutcome(math.nan, 0.01, T0)], "profit"),  # NaN profit
        ([TradeOutcome(math.inf, 0.01, T0)], "profit"),  # infinite profit
        ([TradeOutcome(None, 0.01, T0)], "unusable"),  # type: ignore[arg-type]  # no profit
        ([TradeOutcome(1.0, math.nan, T0)], "drawdown"),  # NaN drawdown
        ([TradeOutcome(1.0, -0.01, T0)], "drawdown"),  # negative drawdown
        ([TradeOutcome(1.0, 1.5, T0)], "drawdown"),  # drawdown above 100 %
        ([TradeOutcome(1.0, 0.0, datetime(2026, 1, 1))], "naive"),  # no timezone
        (trades("WW")[::-1], "order"),  # newest first
        (["not a trade"], "unusable"),  # garbage
    ],
)
def test_unusable_history_fails_closed(outcomes: list[TradeOutcome], why: str) -> None:
    decision = evaluate_guard(outcomes, DEFAULTS)
    assert decision.tier is GuardTier.PAUSED
    assert decision.size_multiplier == 0.0
    assert why in decision.reason


def test_naive_now_fails_closed() -> None:
    decision = evaluate_guard(trades("W"), DEFAULTS, now=datetime(2026, 1, 2))
    assert decision.tier is GuardTier.PAUSED


def test_disabled_guard_is_always_normal() -> None:
    decision = evaluate_guard(trades("L" * 12, 0.3), GuardSettings(enabled=False))
    assert (decision.tier, decision.reason) == (GuardTier.NORMAL, "performance guard disabled")


def test_custom_settings_are_honoured() -> None:
    strict = GuardSettings(reduced_losing_streak=2, paused_losing_streak=3)
    outcomes = trades("LLL")
    tiers = [evaluate_guard(outcomes[:k], strict).tier for k in (1, 2, 3)]
    assert tiers == [GuardTier.NORMAL, GuardTier.REDUCED, GuardTier.PAUSED]


def test_outcomes_from_profits_by_hand() -> None:
    closed = [T0 + i * HOUR for i in range(4)]
    outcomes = outcomes_from_profits([100.0, -220.0, 50.0, 200.0], closed, starting_equity=1000.0)
    # equity 1100 (new peak), 880, 930, 1130 (new peak)
    assert [round(o.drawdown_ratio, 6) for o in outcomes] == [0.0, 0.2, 0.154545, 0.0]
    assert [o.closed_at for o in outcomes] == closed


def test_outcomes_from_a_blown_account_fail_closed() -> None:
    outcomes = outcomes_from_profits([-100.0, -50.0], [T0, T0 + HOUR], starting_equity=100.0)
    assert evaluate_guard(outcomes, DEFAULTS).tier is GuardTier.PAUSED
