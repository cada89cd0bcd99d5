"""Performance guard: NORMAL / REDUCED / PAUSED, replayed from the closed-trade history.

The guard throttles risk after poor recent results. It keeps no state of its own:
:func:`evaluate_guard` replays the chronological closed trades (profit and the
account's drawdown after each close) and returns the current tier with its reason. A
restarted bot, a backtest and a live run given the same history therefore reach the same
tier, by construction. Drawdown here is the closed-trade (realised) drawdown, so the
tier can only change when a trade closes or a pause times out; losses on open positions
are the kill switch's business (:mod:`metalabel.risk.killswitch`).

Tiers (defaults of :class:`~metalabel.config.GuardSettings`)::

    NORMAL   full size, base confidence threshold
    REDUCED  size x 0.5, threshold + 0.1
             entered when: win rate of the last 20 trades < 40 %, or the last 5 trades
             lost, or drawdown > 5 %
    PAUSED   no entries
             entered when: win rate of the last 20 trades < 30 %, or the last 10 trades
             lost, or drawdown > 10 %

A trade is a win when its profit is > 0; a zero or negative profit is a loss. A win
rate over fewer trades than its window is *not evaluated* (neither trigger nor recovery
evidence): one early loss is not a 0 % win rate; the losing-streak and drawdown
triggers cover a young history.

Transitions, checked after every closed trade in this order:

1. Escalation. A PAUSED trigger moves any tier to PAUSED (NORMAL may jump straight
   there). A REDUCED trigger moves NORMAL to REDUCED.
2. Recovery. *Recovery holds* when the drawdown is < 5 % AND there is positive evidence:
   a win rate > 45 % over the last 10 trades OR 3 winners in a row. REDUCED returns to
   NORMAL only when recovery holds AND no REDUCED trigger holds any more. PAUSED returns
   to REDUCED (never straight to NORMAL) when recovery holds and no PAUSED trigger
   holds.
3. Pause timeout. A paused bot opens no trades, so its history stops moving and the
   rules above alone could pause it for ever. After ``paused_cooldown`` (24 h by
   default) without a closed trade that re-confirms a PAUSED trigger, PAUSED steps down
   to REDUCED on probation.

Worked example, one letter per closed trade (W win, L loss, drawdown 1 %), tier after
each: ``LLLLLWWW`` -> ``N N N N R R R N`` (the 5th loss reduces, the 3rd winner restores);
``L x 10`` then ``WWWW`` -> ``... R P P P R N`` (PAUSED at the 10th loss, REDUCED at the
3rd winner, NORMAL at the 4th).

Why this rule (hysteresis): leaving a tier needs more than the absence of its entry
triggers, it needs positive evidence, so the guard does not flap around a threshold
(a 40 % win rate enters REDUCED, only > 45 % over the recent 10 or three straight
winners leaves it). The drawdown condition is an AND: full size never returns while the
account is 5 % under water. "Drawdown < 5 %" alone is not enough either: it would end a
losing-streak REDUCED without a single winner. A paused strategy re-earns full size at
half size, through REDUCED, so NORMAL never follows PAUSED directly.

Probation (a circuit breaker's half-open state): after a pause is left, the PAUSED
triggers are judged only on the trades closed since then -- their own 20-trade window,
their own losing streak, their own drawdown from the equity at the release -- so the
losses that caused the pause are not counted twice and a fresh 10 % loss, 10 fresh
losers or a full fresh window under 30 % pause again. The REDUCED triggers and the
recovery rule keep using the whole history, so full size returns only when the account
drawdown is back under 5 %.

Bad input fails closed: a profit or drawdown that is not a finite number, a drawdown
outside [0, 1], a naive datetime or trades out of order give PAUSED with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from metalabel.config import GuardSettings

logger = logging.getLogger(__name__)

DEFAULT_PAUSED_COOLDOWN = timedelta(hours=24)


class GuardTier(StrEnum):
    """Performance-guard tier; the value is what logs and alerts show."""

    NORMAL = "normal"
    REDUCED = "reduced"
    PAUSED = "paused"


@dataclass(frozen=True)
class TradeOutcome:
    """One closed trade as the guard sees it.

    ``profit`` is the profit ratio or the absolute profit (only its sign matters);
    ``drawdown_ratio`` is the account's drawdown from its peak right after this trade
    closed (0.07 = 7 % below the peak); ``closed_at`` is a timezone-aware close time.
    """

    profit: float
    drawdown_ratio: float
    closed_at: datetime


@dataclass(frozen=True)
class GuardMetrics:
    """What the last evaluation saw; win rates are None while their window is not full."""

    closed_trades: int = 0
    win_rate: float | None = None  # last win_rate_window_trades trades
    recovery_win_rate: float | None = None  # last recovery_window_trades trades
    losing_streak: int = 0
    winning_streak: int = 0
    drawdown_ratio: float = 0.0


@dataclass(frozen=True)
class GuardDecision:
    """The guard's verdict: tier, why, and what it does to size and threshold.

    ``since`` is when the tier was entered (None = the start of the history); ``until``
    is, for PAUSED, when the pause times out unless another trade re-confirms it.
    """

    tier: GuardTier
    reason: str
    size_multiplier: float
    threshold_increase: float = 0.0
    since: datetime | None = None
    until: datetime | None = None
    metrics: GuardMetrics = field(default_factory=GuardMetrics)

    @property
    def entries_allowed(self) -> bool:
        return self.tier is not GuardTier.PAUSED

    def confidence_threshold(self, base_threshold: float) -> float:
        """The meta-model threshold in this tier; PAUSED admits no confidence (inf).

        >>> GuardDecision(GuardTier.REDUCED, "", 0.5, 0.1).confidence_threshold(0.6)
        0.7
        """
        if self.tier is GuardTier.PAUSED:
            return math.inf
        return round(base_threshold + self.threshold_increase, 12)


def outcomes_from_profits(
    profits_abs: Sequence[float],
    closed_at: Sequence[datetime],
    *,
    starting_equity: float,
) -> tuple[TradeOutcome, ...]:
    """Closed-trade outcomes with the drawdown of the realised equity curve.

    Equity starts at ``starting_equity`` (which is also the first peak) and adds each
    absolute profit in order. Unusable numbers propagate as NaN, which
    :func:`evaluate_guard` turns into PAUSED.

    >>> t = datetime(2026, 1, 1)
    >>> [round(o.drawdown_ratio, 4) for o in outcomes_from_profits(
    ...     [10.0, -22.0, 5.0], [t, t, t], starting_equity=100.0)]
    [0.0, 0.2, 0.1545]
    """
    equity = float(starting_equity)
    peak = equity
    result: list[TradeOutcome] = []
    for profit, at in zip(profits_abs, closed_at, strict=True):
        equity += profit
        peak = max(peak, equity)
        drawdown = 1.0 - equity / peak if peak > 0 else math.nan
        result.append(TradeOutcome(profit=profit, drawdown_ratio=drawdown, closed_at=at))
    return tuple(result)


def _input_problem(outcomes: Sequence[TradeOutcome], now: datetime | None) -> str | None:
    """Why the history can not be trusted, or None."""
    if now is not None and now.tzinfo is None:
        return "now is a naive datetime (timezone-aware UTC required)"
    previous: datetime | None = None
    for number, outcome in enumerate(outcomes, start=1):
        if not math.isfinite(outcome.profit):
            return f"trade {number}: profit {outcome.profit!r} is not a finite number"
        dd = outcome.drawdown_ratio
        if not (math.isfinite(dd) and 0.0 <= dd <= 1.0):
            return f"trade {number}: drawdown {dd!r} is not in [0, 1]"
        if outcome.closed_at.tzinfo is None:
            return f"trade {number}: closed_at is a naive datetime (timezone-aware required)"
        if previous is not None and outcome.closed_at < previous:
            return f"trade {number}: closed before trade {number - 1} (history not in order)"
        previous = outcome.closed_at
    return None


class _Wins:
    """Win/loss sequence with O(1) rolling win rates and streaks (one replay is O(n))."""

    def __init__(self) -> None:
        self.cumulative = [0]  # cumulative[i] = wins among the first i trades
        self.losing_streak = 0
        self.winning_streak = 0

    def __len__(self) -> int:
        return len(self.cumulative) - 1

    def add(self, win: bool) -> None:
        self.cumulative.append(self.cumulative[-1] + int(win))
        self.winning_streak = self.winning_streak + 1 if win else 0
        self.losing_streak = 0 if win else self.losing_streak + 1

    def win_rate(self, window: int, *, first: int = 0) -> float | None:
        """Win rate of the last ``window`` trades at index >= ``first``; None if fewer."""
        n = len(self)
        if n - first < window:
            return None
        return (self.cumulative[n] - self.cumulative[n - window]) / window


@dataclass
class _Replay:
    """Mutable replay state; lives only inside :func:`evaluate_guard`."""

    settings: GuardSettings
    tier: GuardTier = GuardTier.NORMAL
    reason: str = ""
    since: datetime | None = None
    paused_clock: datetime | None = None  # last close that confirmed a PAUSED trigger
    epoch_start: int = 0  # index of the first trade the PAUSED triggers look at
    epoch_peak_quota: float = 1.0  # max of (1 - drawdown) since the epoch started

    def release(self, trades: int, quota: float, at: datetime, why: str) -> None:
        """Leave PAUSED for REDUCED and start a new epoch for the PAUSED triggers."""
        self.tier = GuardTier.REDUCED
        self.reason = why
        self.since = at
        self.paused_clock = None
        self.epoch_start = trades
        self.epoch_peak_quota = quota


def _paused_triggers(s: GuardSettings, wins: _Wins, state: _Replay, quota: float) -> list[str]:
    """PAUSED triggers on the trades of the current epoch (see "Probation" above)."""
    hits: list[str] = []
    rate = wins.win_rate(s.win_rate_window_trades, first=state.epoch_start)
    if rate is not None and rate < s.paused_win_rate:
        hits.append(
            f"win rate {rate:.0%} of the last {s.win_rate_window_trades} trades "
            f"< {s.paused_win_rate:.0%}"
        )
    streak = min(wins.losing_streak, len(wins) - state.epoch_start)
    if streak >= s.paused_losing_streak:
        hits.append(f"{streak} losing trades in a row (limit {s.paused_losing_streak})")
    drawdown = 1.0 - quota / state.epoch_peak_quota
    if drawdown > s.paused_drawdown_ratio:
        what = "drawdown" if state.epoch_start == 0 else "drawdown since the pause ended"
        hits.append(f"{what} {drawdown:.2%} > {s.paused_drawdown_ratio:.2%}")
    return hits


def _reduced_triggers(s: GuardSettings, m: GuardMetrics) -> list[str]:
    hits: list[str] = []
    if m.win_rate is not None and m.win_rate < s.reduced_win_rate:
        hits.append(
            f"win rate {m.win_rate:.0%} of the last {s.win_rate_window_trades} trades "
            f"< {s.reduced_win_rate:.0%}"
        )
    if m.losing_streak >= s.reduced_losing_streak:
        hits.append(f"{m.losing_streak} losing trades in a row (limit {s.reduced_losing_streak})")
    if m.drawdown_ratio > s.reduced_drawdown_ratio:
        hits.append(f"drawdown {m.drawdown_ratio:.2%} > {s.reduced_drawdown_ratio:.2%}")
    return hits


def _recovery(s: GuardSettings, m: GuardMetrics) -> str | None:
    """The recovery evidence as text, or None when recovery does not hold."""
    if m.drawdown_ratio >= s.recovery_drawdown_ratio:
        return None
    evidence: list[str] = []
    if m.recovery_win_rate is not None and m.recovery_win_rate > s.recovery_win_rate:
        evidence.append(
            f"win rate {m.recovery_win_rate:.0%} of the last {s.recovery_window_trades} "
            f"trades > {s.recovery_win_rate:.0%}"
        )
    if m.winning_streak >= s.recovery_winning_streak:
        evidence.append(f"{m.winning_streak} winners in a row")
    if not evidence:
        return None
    return (
        f"{' and '.join(evidence)}, drawdown {m.drawdown_ratio:.2%} "
        f"< {s.recovery_drawdown_ratio:.2%}"
    )


def evaluate_guard(
    outcomes: Sequence[TradeOutcome],
    settings: GuardSettings,
    *,
    now: datetime | None = None,
    paused_cooldown: timedelta | None = DEFAULT_PAUSED_COOLDOWN,
) -> GuardDecision:
    """Replay the closed trades (oldest first) and return the current tier.

    ``now`` (timezone-aware; the strategy passes ``current_time``) lets a pause time out
    after the last trade; None evaluates as of the last close. ``paused_cooldown=None``
    disables the timeout: a pause then lasts until closing trades prove recovery.
    One call is O(number of trades). The result only changes when a trade closes or
    ``now`` reaches ``until``, so a caller may keep it until one of those happens.

    >>> from datetime import timezone
    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> losses = [TradeOutcome(-1.0, 0.01, t + timedelta(hours=i)) for i in range(5)]
    >>> evaluate_guard(losses, GuardSettings()).tier
    <GuardTier.REDUCED: 'reduced'>
    """
    if not settings.enabled:
        return GuardDecision(GuardTier.NORMAL, "performance guard disabled", 1.0)
    try:
        problem = _input_problem(outcomes, now)
    except (TypeError, AttributeError) as err:  # not TradeOutcome-like at all
        problem = f"unusable trade history: {err}"
    if problem is not None:
        logger.debug("performance guard fails closed: %s", problem)
        return GuardDecision(GuardTier.PAUSED, f"unusable input: {problem}", 0.0)

    s = settings
    state = _Replay(settings=s)
    wins = _Wins()
    quota = 1.0  # 1 - drawdown after the last closed trade
    metrics = GuardMetrics()

    def time_out_pause(before: datetime) -> None:
        if (
            state.tier is GuardTier.PAUSED
            and paused_cooldown is not None
            and state.paused_clock is not None
            and state.paused_clock + paused_cooldown <= before
        ):
            at = state.paused_clock + paused_cooldown
            why = f"pause timed out after {paused_cooldown}; on probation"
            state.release(len(wins), quota, at, why)

    for outcome in outcomes:
        time_out_pause(outcome.closed_at)
        wins.add(outcome.profit > 0)
        quota = 1.0 - outcome.drawdown_ratio
        state.epoch_peak_quota = max(state.epoch_peak_quota, quota)
        metrics = GuardMetrics(
            closed_trades=len(wins),
            win_rate=wins.win_rate(s.win_rate_window_trades),
            recovery_win_rate=wins.win_rate(s.recovery_window_trades),
            losing_streak=wins.losing_streak,
            winning_streak=wins.winning_streak,
            drawdown_ratio=outcome.drawdown_ratio,
        )
        at = outcome.closed_at

        paused_hits = _paused_triggers(s, wins, state, quota)
        if paused_hits:
            if state.tier is not GuardTier.PAUSED:
                state.tier, state.since = GuardTier.PAUSED, at
                state.reason = "; ".join(paused_hits)
            state.paused_clock = at
            continue
        reduced_hits = _reduced_triggers(s, metrics)
        if state.tier is GuardTier.NORMAL:
            if reduced_hits:
                state.tier, state.since = GuardTier.REDUCED, at
                state.reason = "; ".join(reduced_hits)
            continue
        recovery = _recovery(s, metrics)
        if recovery is None:
            continue
        if state.tier is GuardTier.PAUSED:
            state.release(len(wins), quota, at, f"recovering from pause: {recovery}")
        elif not reduced_hits:
            state.tier, state.since = GuardTier.NORMAL, at
            state.reason = f"recovered: {recovery}"

    if now is not None:
        time_out_pause(now)
    return _decision(state, metrics, paused_cooldown)


def _decision(
    state: _Replay, metrics: GuardMetrics, paused_cooldown: timedelta | None
) -> GuardDecision:
    s = state.settings
    if state.tier is GuardTier.PAUSED:
        until = (
            state.paused_clock + paused_cooldown
            if paused_cooldown is not None and state.paused_clock is not None
            else None
        )
        return GuardDecision(GuardTier.PAUSED, state.reason, 0.0, 0.0, state.since, until, metrics)
    if state.tier is GuardTier.REDUCED:
        return GuardDecision(
            GuardTier.REDUCED,
            state.reason,
            s.reduced_size_multiplier,
            s.reduced_threshold_increase,
            state.since,
            None,
            metrics,
        )
    reason = state.reason or (
        "no closed trades yet" if metrics.closed_trades == 0 else "no guard trigger has held"
    )
    return GuardDecision(GuardTier.NORMAL, reason, 1.0, 0.0, state.since, None, metrics)
