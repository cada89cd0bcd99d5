"""Fault drills: a dry-run bot against the replay exchange, with faults switched on.

Each drill sets up one fault on the in-process replay exchange
(:class:`~metalabel.ops.replay.faults.Faults`), drives the bot through freqtrade's REST API
as an operator would, and reports ``(passed, observed)``. All drills share one dry-run
session (a freqtrade start costs far more than a drill); they run in the order of
:data:`DRILLS`, and later drills rely on the state earlier ones leave (an open trade,
a restarted process). Every wait is bounded.

What the drills assert (the "Fault drills" issue):

* no entry on stale or gapped candles (the strategy's freshness guard refuses even a
  forced entry);
* the kill switch trips on an exchange-error burst and on a price crash;
* open trades and the kill-switch state survive a SIGKILL and a restart;
* the bot keeps running through transient errors (HTTP 5xx, Bybit rate limits,
  timeouts) without tripping the kill switch.

Stale and gapped data reach the bot through ``/reload_config``: freqtrade fetches
candles only when a new one is due, so a feed that stops now would look stale only an
hour later; a reload makes the bot fetch its history again, through the fault. For the
same reason a healed feed reaches the bot only with the next candle, so those drills
reload once more after clearing the fault.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from metalabel.ops.drills_bot import (
    CCXT_TIMEOUT_MS,
    CRASH_FACTOR,
    ENTRY_PAIR,
    HANG_SECONDS,
    KILL_SWITCH_LIMITS,
    PROBE_PAIR,
    RETRY_LOG_MARK,
    STAKE_AMOUNT,
    TIMEFRAME,
    WAIT_SECONDS,
    Drill,
    DrillBot,
    DrillError,
    DrillResult,
    drill_overlay,
    expect,
    summary,
)
from metalabel.ops.dryrun import dryrun_session
from metalabel.ops.replay.data import HOUR_MS
from metalabel.ops.replay.faults import RequestFault
from metalabel.risk.killswitch import KillTrigger

logger = logging.getLogger(__name__)


def _hour(now_ms: int) -> int:
    return now_ms // HOUR_MS * HOUR_MS


def _refused_entry(bot: DrillBot, started_s: float, what: str) -> str:
    """Forced entry on the probe pair must be refused by the freshness guard."""
    last_open = bot.last_candle_open_ms(PROBE_PAIR)
    age_h = (bot.now_ms() - last_open - HOUR_MS) / HOUR_MS
    response = bot.force_enter(PROBE_PAIR)
    expect(
        not response.ok,
        f"{what}: last closed candle {age_h:.1f} h old, yet forceenter was accepted",
    )
    expect(not bot.open_trades(PROBE_PAIR), f"{what}: a {PROBE_PAIR} trade opened")
    refusals = bot.wait_for(
        "the strategy's refusal in the log",
        lambda: bot.log_messages(started_s, f"Entry on {PROBE_PAIR} refused"),
        timeout_seconds=10,
    )
    expect("stale" in refusals[-1], f"{what}: refused for another reason: {refusals[-1]}")
    return (
        f"last closed candle {age_h:.1f} h old, forceenter refused "
        f"(HTTP {response.status_code}), log: {refusals[-1][:90]!r}"
    )


def _wait_fresh(bot: DrillBot) -> float:
    """Clear the fault, reload the bot; seconds until the probe pair's candles are current.

    freqtrade fetches candles only when a new one is due (next hour), so without the
    reload a healed feed would reach the bot up to an hour later.
    """
    started = time.monotonic()
    bot.faults.clear()
    bot.reload()
    bot.wait_for(
        "fresh candles after the fault was cleared",
        lambda: bot.last_candle_open_ms(PROBE_PAIR) >= _hour(bot.now_ms()) - HOUR_MS,
    )
    return time.monotonic() - started


def drill_stale_candles(bot: DrillBot) -> str:
    """Candles stop advancing 3 h back while time goes on: no entry; fresh after."""
    started_s = time.time()
    frozen_ms = _hour(bot.now_ms()) - 3 * HOUR_MS
    bot.faults.freeze_candles(frozen_ms)
    bot.reload()
    bot.wait_for(
        "the bot to see the frozen feed",
        lambda: 0 < bot.last_candle_open_ms(PROBE_PAIR) <= frozen_ms,
    )
    seen = _refused_entry(bot, started_s, "stale feed")
    return f"{seen}; feed healed, reloaded, fresh again in {_wait_fresh(bot):.0f} s"


def drill_gap_in_candles(bot: DrillBot) -> str:
    """The last 4 h of candles are missing: no entry; complete hourly candles after."""
    started_s = time.time()
    hour = _hour(bot.now_ms())
    gap_start = hour - 4 * HOUR_MS
    bot.faults.gap(gap_start, hour + 2 * HOUR_MS)
    bot.reload()
    bot.wait_for(
        "the bot to see the gap",
        lambda: 0 < bot.last_candle_open_ms(PROBE_PAIR) < gap_start,
    )
    seen = _refused_entry(bot, started_s, "gapped feed")
    fresh_s = _wait_fresh(bot)
    recent = bot.candles(PROBE_PAIR, limit=6)
    opens = [int(c["__date_ts"]) for c in recent]
    steps = {b - a for a, b in itertools.pairwise(opens)}
    expect(steps == {HOUR_MS}, f"{seen}; after the gap the candles are not hourly: {opens}")
    expect(all(c["volume"] > 0 for c in recent), f"{seen}; filled (zero-volume) candles remain")
    return f"{seen}; gap healed, reloaded, hourly candles complete again in {fresh_s:.0f} s"


def drill_entry_on_fresh_data(bot: DrillBot) -> str:
    """Control: with every fault off a forced entry opens (so the refusals are the faults')."""
    trade = bot.open_position(ENTRY_PAIR)
    expect(not bot.kill_switch().tripped, "the kill switch tripped on a plain entry")
    return (
        f"trade #{trade['trade_id']} {ENTRY_PAIR} long opened at {trade['open_rate']}, "
        f"stake {trade['stake_amount']:.2f}, kill switch active"
    )


def _transient(bot: DrillBot, kind: RequestFault, requests_count: int, hang_s: float = 0.0) -> str:
    """A short request fault: the bot retries, keeps looping, keeps its trade, no trip."""
    started_s = time.time()
    faulted_before = bot.faults.requests_faulted
    bot.faults.fail_next(requests_count, kind, hang_seconds=hang_s)
    bot.wait_for(
        f"the bot to meet {requests_count} faulted request(s)",
        lambda: not bot.faults.burst_active,
    )
    bot.wait_loops(2)
    retries = len(bot.log_messages(started_s, RETRY_LOG_MARK))
    state = bot.state()
    switch = bot.kill_switch()
    trades = bot.open_trades(ENTRY_PAIR)
    observed = (
        f"{bot.faults.requests_faulted - faulted_before} request(s) faulted ({kind.value}), "
        f"{retries} retry warning(s), bot {state}, kill switch {switch.state.value}, "
        f"{len(trades)} open {ENTRY_PAIR} trade(s)"
    )
    expect(state == "running", observed)
    expect(not switch.tripped, observed + f" ({switch.reason})")
    expect(len(trades) == 1, observed)
    return observed + ", loops go on"


def drill_http_5xx_burst(bot: DrillBot) -> str:
    """Three requests answered HTTP 503 (Bybit 10016): retried, bot runs on."""
    return _transient(bot, RequestFault.HTTP_5XX, 3)


def drill_rate_limited(bot: DrillBot) -> str:
    """Two requests answered Bybit retCode 10006: backed off, retried, bot runs on."""
    return _transient(bot, RequestFault.RATE_LIMIT, 2)


def drill_timeout(bot: DrillBot) -> str:
    """One request hangs past ccxt's timeout: retried, bot runs on."""
    return _transient(bot, RequestFault.TIMEOUT, 1, hang_s=HANG_SECONDS)


def drill_sigkill_restart(bot: DrillBot) -> str:
    """SIGKILL freqtrade mid-run and start it again: open trades and kill-switch state
    are what they were."""
    before = {(t["trade_id"], t["pair"], t["amount"], t["open_rate"]) for t in bot.open_trades()}
    switch_before = bot.kill_switch()
    expect(bool(before), "no open trade to carry through the restart")
    took_s = bot.kill_and_restart()
    bot.wait_loops(1)
    after = {(t["trade_id"], t["pair"], t["amount"], t["open_rate"]) for t in bot.open_trades()}
    switch_after = bot.kill_switch()
    observed = (
        f"restarted in {took_s:.0f} s; open trades before {sorted(t[0] for t in before)}, "
        f"after {sorted(t[0] for t in after)}; kill switch {switch_before.state.value} -> "
        f"{switch_after.state.value}, peak equity {switch_before.peak_equity} -> "
        f"{switch_after.peak_equity}"
    )
    expect(after == before, observed)
    expect(switch_after.state == switch_before.state, observed)
    expect(switch_after.trigger == switch_before.trigger, observed)
    expect(
        switch_before.peak_equity is None
        or (switch_after.peak_equity or 0.0) >= switch_before.peak_equity,
        observed + " (peak equity lost)",
    )
    expect(bot.state() == "running", observed + ", bot not running")
    return observed


def drill_crash_trips_drawdown(bot: DrillBot) -> str:
    """A 1.5 % price drop with a position open trips the drawdown trigger and the kill
    switch closes the position (before the 2 % stop-loss could)."""
    [trade] = bot.open_trades(ENTRY_PAIR)
    bot.wait_loops(2)
    expect(not bot.kill_switch().tripped, f"tripped before the crash: {bot.kill_switch().reason}")
    bot.faults.crash(CRASH_FACTOR, from_ms=0)
    switch = bot.wait_for("the kill switch to trip", bot.tripped)
    closed = bot.wait_for("the position to be closed", lambda: bot.closed_trade(trade["trade_id"]))
    bot.faults.clear()
    observed = (
        f"price -{1 - CRASH_FACTOR:.1%}: kill switch tripped "
        f"({switch.trigger.value if switch.trigger else '?'}: {switch.reason[:70]}), trade "
        f"#{trade['trade_id']} closed by {closed['exit_reason']}"
    )
    expect(switch.trigger is KillTrigger.DRAWDOWN, observed)
    expect(closed["exit_reason"] == "kill_switch", observed)
    bot.resume()
    return observed + "; resumed"


def drill_error_burst_trips(bot: DrillBot) -> str:
    """Every request fails (HTTP 503) until the api-error trigger trips the kill switch."""
    trade = bot.open_position(ENTRY_PAIR)
    started = time.monotonic()
    faulted_before = bot.faults.requests_faulted
    bot.faults.fail_for(WAIT_SECONDS, RequestFault.HTTP_5XX)
    try:
        switch = bot.wait_for("the kill switch to trip on api errors", bot.tripped)
    finally:
        bot.faults.clear()
    took_s = time.monotonic() - started
    closed = bot.wait_for("the position to be closed", lambda: bot.closed_trade(trade["trade_id"]))
    observed = (
        f"{bot.faults.requests_faulted - faulted_before} request(s) answered HTTP 503, "
        "kill switch tripped after "
        f"{took_s:.0f} s ({switch.trigger.value if switch.trigger else '?'}: "
        f"{switch.reason[:70]}), trade #{trade['trade_id']} closed by {closed['exit_reason']}, "
        f"bot {bot.state()}"
    )
    expect(switch.trigger is KillTrigger.API_ERRORS, observed)
    expect(bot.state() == "running", observed)
    bot.resume()
    return observed + "; resumed"


# Run in this order: the refusals need no position; the transient and restart drills
# carry the control drill's trade; the crash closes it; the burst opens its own.
DRILLS: tuple[tuple[str, Drill], ...] = (
    ("stale_candles_no_entry", drill_stale_candles),
    ("gap_in_candles_no_entry", drill_gap_in_candles),
    ("entry_on_fresh_data", drill_entry_on_fresh_data),
    ("http_5xx_burst_bot_runs_on", drill_http_5xx_burst),
    ("rate_limit_10006_bot_runs_on", drill_rate_limited),
    ("timeout_bot_runs_on", drill_timeout),
    ("sigkill_restart_keeps_state", drill_sigkill_restart),
    ("crash_trips_kill_switch", drill_crash_trips_drawdown),
    ("error_burst_trips_kill_switch", drill_error_burst_trips),
)


def run_drill(name: str, drill: Drill, bot: DrillBot) -> DrillResult:
    """One drill; an exception is a failure whose message is what was observed."""
    started = time.monotonic()
    try:
        observed, passed = drill(bot), True
    except DrillError as err:
        observed, passed = str(err), False
    except Exception as err:  # a drill must report, not abort the others
        logger.exception("drill %s raised", name)
        observed, passed = f"{type(err).__name__}: {err}", False
    finally:
        bot.faults.clear()
    result = DrillResult(name, passed, observed, time.monotonic() - started)
    logger.debug("%s", result.line())
    return result


@contextmanager
def drill_bot(
    *, log_path: Path | None = None, startup_timeout_seconds: float = 180.0
) -> Iterator[DrillBot]:
    """A dry-run session set up for drills, its first candles analysed."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="metalabel-drill-")))
        log = stack.enter_context((log_path or workdir / "freqtrade.log").open("wb"))
        session = stack.enter_context(
            dryrun_session(
                env_file=None,
                workdir=workdir,
                output=log.fileno(),
                extra_overlay=drill_overlay(),
                startup_timeout_seconds=startup_timeout_seconds,
            )
        )
        bot = DrillBot(session, output=log.fileno())
        stack.callback(bot.close)
        bot.wait_for(
            "the first analysed candles",
            lambda: bot.last_candle_open_ms(PROBE_PAIR) and bot.last_candle_open_ms(ENTRY_PAIR),
            timeout_seconds=startup_timeout_seconds,
        )
        yield bot


def run_drills(
    *,
    names: tuple[str, ...] = (),
    log_path: Path | None = None,
    on_result: Callable[[DrillResult], None] | None = None,
) -> list[DrillResult]:
    """All drills (or those named), in order, against one fresh dry-run session."""
    chosen = [(n, d) for n, d in DRILLS if not names or n in names]
    unknown = set(names) - {n for n, _ in DRILLS}
    if unknown:
        raise ValueError(f"unknown drill(s): {', '.join(sorted(unknown))}")
    results: list[DrillResult] = []
    with drill_bot(log_path=log_path) as bot:
        for name, drill in chosen:
            result = run_drill(name, drill, bot)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


__all__ = [
    "CCXT_TIMEOUT_MS",
    "CRASH_FACTOR",
    "DRILLS",
    "ENTRY_PAIR",
    "HANG_SECONDS",
    "KILL_SWITCH_LIMITS",
    "PROBE_PAIR",
    "RETRY_LOG_MARK",
    "STAKE_AMOUNT",
    "TIMEFRAME",
    "WAIT_SECONDS",
    "Drill",
    "DrillBot",
    "DrillError",
    "DrillResult",
    "drill_bot",
    "drill_overlay",
    "expect",
    "run_drill",
    "run_drills",
    "summary",
]
