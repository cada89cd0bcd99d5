"""The bot under drill: a dry-run session's REST API, process, kill-switch file and the
replay exchange's faults, with bounded waits; the drill session's config overlay.

The drills themselves are in :mod:`metalabel.ops.drills`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests

from metalabel.config import KillSwitchSettings
from metalabel.ops.dryrun import DryRunSession, restart_bot, stop_process
from metalabel.ops.health import BotClient
from metalabel.risk.killswitch import KillSwitchState, KillSwitchStore

T = TypeVar("T")

ENTRY_PAIR = "BTC/USDT:USDT"  # the pair drills hold a position in
PROBE_PAIR = "ETH/USDT:USDT"  # the pair refused entries are tried on
TIMEFRAME = "1h"
STAKE_AMOUNT = 100.0
# A 1.5 % drop stays inside the 2 % stop-loss, so only the kill switch closes the trade.
# One small position barely moves a 10 000 USDT account: the strategy sizes a forced entry
# at about 30 USDT (2x), so the drop costs about 0.0001 of equity and the fees about
# 0.00001; the limit sits between the two (as in tests/ops/test_dryrun_killswitch.py).
CRASH_FACTOR = 0.985
KILL_SWITCH_LIMITS = {"max_drawdown_ratio": 0.00005, "low_confidence_enabled": False}
CCXT_TIMEOUT_MS = 3000  # so that a hung request is a timeout in seconds, not in 10 s
HANG_SECONDS = 4.0
WAIT_SECONDS = 45.0
RETRY_LOG_MARK = "returned exception"  # freqtrade's retrier, see metalabel.killswitch


def drill_overlay() -> dict[str, Any]:
    """Config overlay of the drill session: a fast loop, short exchange timeouts and a
    kill switch tight enough for one small position (see :data:`KILL_SWITCH_LIMITS`)."""
    ccxt = {"timeout": CCXT_TIMEOUT_MS}
    return {
        "internals": {"process_throttle_secs": 1},
        "exchange": {"ccxt_config": ccxt, "ccxt_async_config": ccxt},
        # the guard's drawdown tiers must sit below the kill switch's: off here
        "metalabel": {"kill_switch": KILL_SWITCH_LIMITS, "guard": {"enabled": False}},
    }


class DrillError(Exception):
    """A drill's assertion failed; the message is what was observed."""


def expect(condition: bool, observed: str) -> None:
    if not condition:
        raise DrillError(observed)


@dataclass(frozen=True)
class DrillResult:
    """One drill's verdict and what it saw."""

    name: str
    passed: bool
    observed: str
    seconds: float

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict} {self.name} ({self.seconds:.0f} s): {self.observed}"


def summary(results: list[DrillResult]) -> str:
    """``drills_passed=N/M``."""
    return f"drills_passed={sum(r.passed for r in results)}/{len(results)}"


class DrillBot:
    """The bot under drill: its REST API, its process, its kill-switch file and the
    replay exchange's faults."""

    def __init__(self, session: DryRunSession, *, output: int | None = None) -> None:
        self.session = session
        self.process = session.process
        self.output = output
        self.faults = session.replay.exchange.faults
        self.clock = session.replay.exchange.clock
        self.client = BotClient(session.credentials, timeout_seconds=10)
        state_file = KillSwitchSettings().state_file
        self.store = KillSwitchStore(session.workdir / "user_data" / state_file)

    def close(self) -> None:
        self.client.close()
        if self.process is not self.session.process:
            stop_process(self.process)  # a restarted bot is ours to stop

    # -- waiting --------------------------------------------------------------------------

    def wait_for(
        self, what: str, probe: Callable[[], T | None], timeout_seconds: float = WAIT_SECONDS
    ) -> T:
        """``probe()``'s first truthy result; an API error counts as "not yet"."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                result = probe()
            except (requests.RequestException, KeyError, TypeError, ValueError):
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                raise DrillError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")
            if self.process.poll() is not None:
                raise DrillError(f"freqtrade exited with code {self.process.returncode}")
            time.sleep(0.5)

    def loop_ts(self) -> int:
        """When the bot last completed a loop (epoch seconds; 0 before the first)."""
        return int(self.client.get("health").get("last_process_ts") or 0)

    def wait_loops(self, count: int = 2) -> None:
        """Until the bot completes ``count`` more loops."""
        for _ in range(count):
            self.wait_for("the next bot loop", self._looped_since(self.loop_ts()))

    def _looped_since(self, before: int) -> Callable[[], bool]:
        return lambda: self.loop_ts() > before

    # -- reading the bot ------------------------------------------------------------------

    def state(self) -> str:
        return str(self.client.get("show_config")["state"])

    def open_trades(self, pair: str | None = None) -> list[dict[str, Any]]:
        trades: list[dict[str, Any]] = self.client.get("status")
        return [t for t in trades if pair is None or t["pair"] == pair]

    def closed_trade(self, trade_id: int) -> dict[str, Any] | None:
        for trade in self.client.get("trades", limit=50)["trades"]:
            if trade["trade_id"] == trade_id and not trade["is_open"]:
                return dict(trade)
        return None

    def last_candle_open_ms(self, pair: str) -> int:
        """Open time of the last analysed (closed) candle of ``pair``."""
        candles = self.client.get("pair_candles", pair=pair, timeframe=TIMEFRAME, limit=1)
        return int(candles.get("data_stop_ts") or 0)

    def candles(self, pair: str, limit: int) -> list[dict[str, Any]]:
        answer = self.client.get("pair_candles", pair=pair, timeframe=TIMEFRAME, limit=limit)
        return [dict(zip(answer["columns"], row, strict=True)) for row in answer["data"]]

    def log_messages(self, since_s: float, contains: str) -> list[str]:
        records = self.client.get("logs", limit=500)["logs"]
        return [
            str(r[4])
            for r in records
            if float(r[1]) / 1000 >= since_s - 1 and contains in str(r[4])
        ]

    def kill_switch(self) -> KillSwitchState:
        return self.store.read()

    def tripped(self) -> KillSwitchState | None:
        """The kill-switch state if it is tripped, else None (a probe for wait_for)."""
        state = self.store.read()
        return state if state.tripped else None

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # -- acting ---------------------------------------------------------------------------

    def force_enter(self, pair: str) -> requests.Response:
        payload: dict[str, Any] = {"pair": pair, "side": "long", "stakeamount": STAKE_AMOUNT}
        return self.client.session.post(f"{self.client.base}/forceenter", json=payload, timeout=30)

    def open_position(self, pair: str) -> dict[str, Any]:
        """A forced long on ``pair``, once it shows as open."""
        response = self.force_enter(pair)
        expect(response.ok, f"forceenter {pair} refused: HTTP {response.status_code}")
        opened = self.wait_for(f"the entry on {pair} to open", lambda: self.open_trades(pair))
        return opened[0]

    def reload(self) -> None:
        """``/reload_config``: the bot re-creates itself and fetches its candles again."""
        asked_s = time.time()
        self.client.post("reload_config")
        self.wait_for("the reloaded bot's first loop", lambda: self.loop_ts() > asked_s + 1)

    def resume(self) -> None:
        """``metalabel resume``; the bot notices on its next loop."""
        self.store.reset(datetime.now(UTC), reason="fault drill")
        self.wait_loops(2)

    def kill_and_restart(self) -> float:
        """SIGKILL freqtrade, start it again on the same files; returns the seconds it took."""
        started = time.monotonic()
        os.kill(self.process.pid, signal.SIGKILL)
        code = self.process.wait(timeout=30)
        expect(code == -signal.SIGKILL, f"freqtrade exit code {code} after SIGKILL")
        # restart_bot reads the command line from the (now dead) process it is given
        self.session = replace(self.session, process=self.process)
        self.process = restart_bot(self.session, output=self.output)
        return time.monotonic() - started


Drill = Callable[[DrillBot], str]
