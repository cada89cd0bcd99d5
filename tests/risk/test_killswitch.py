"""Kill switch: every trigger on a scripted sequence, the state file, the API-error feed."""

import asyncio
import json
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from freqtrade.exceptions import TemporaryError
from freqtrade.exchange.common import API_RETRY_COUNT, retrier, retrier_async

from metalabel.config import KillSwitchSettings
from metalabel.risk.killswitch import (
    ApiErrorCounter,
    ExchangeApiErrorHandler,
    KillDecision,
    KillState,
    KillSwitchState,
    KillSwitchStore,
    KillTrigger,
    evaluate_kill_switch,
    install_api_error_handler,
    is_failed_exchange_request,
    track_equity,
)

DEFAULTS = KillSwitchSettings()
NOW = datetime(2026, 7, 21, 12, tzinfo=UTC)


class FakeClock:
    """Seconds, advanced by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _evaluate(
    equity: float = 10_000.0,
    peak: float | None = 10_000.0,
    day_start: float | None = 10_000.0,
    errors: int = 0,
    confidence: list[float] | None = None,
    settings: KillSwitchSettings = DEFAULTS,
) -> KillDecision:
    return evaluate_kill_switch(equity, peak, day_start, errors, confidence, NOW, settings)


# ------------------------------------------------------------------ the triggers


@pytest.mark.parametrize(
    ("kwargs", "trigger"),
    [
        ({}, None),  # a healthy account
        ({"equity": 8_501.0, "day_start": 8_600.0}, None),  # 14.99 % below the peak
        ({"equity": 8_500.0, "day_start": 8_600.0}, KillTrigger.DRAWDOWN),  # exactly 15 %
        ({"equity": 9_500.0}, None),  # today's loss exactly 5 %: not above it
        ({"equity": 9_499.0}, KillTrigger.DAILY_LOSS),  # 5.01 % lost today
        ({"equity": 12_000.0}, None),  # above the stale peak: no drawdown
        ({"errors": 9}, None),  # one short of the limit
        ({"errors": 10}, KillTrigger.API_ERRORS),  # 10 failed requests within 60 s
        ({"peak": None, "day_start": None, "equity": 1.0}, None),  # marks not known yet
        ({"equity": math.nan}, KillTrigger.BAD_INPUT),  # the wallet returned NaN
        ({"equity": 0.0}, KillTrigger.BAD_INPUT),  # a blown account
        ({"equity": None}, KillTrigger.BAD_INPUT),  # no equity at all
        ({"peak": math.inf}, KillTrigger.BAD_INPUT),  # corrupt bookkeeping
        ({"day_start": -5.0}, KillTrigger.BAD_INPUT),  # corrupt bookkeeping
        ({"errors": "many"}, KillTrigger.BAD_INPUT),  # not a count
    ],
)
def test_trigger_table(kwargs: dict[str, object], trigger: KillTrigger | None) -> None:
    decision = _evaluate(**kwargs)  # type: ignore[arg-type]
    assert decision.trip is (trigger is not None)
    assert decision.trigger is trigger


def test_triggers_in_order_drawdown_first() -> None:
    # 20 % drawdown, 20 % lost today and 50 API errors at once: the drawdown is named
    decision = _evaluate(equity=8_000.0, errors=50)
    assert decision.trigger is KillTrigger.DRAWDOWN
    assert decision.reason == "equity 8000 is 20.00% below its peak 10000 (limit 15.00%)"


def test_disabled_switch_never_trips() -> None:
    decision = _evaluate(equity=math.nan, errors=99, settings=KillSwitchSettings(enabled=False))
    assert decision == KillDecision(False, None, "kill switch disabled")


@pytest.mark.parametrize(
    ("confidence", "trips"),
    [
        ([0.49] * 168, True),  # a full window, every value below 0.5
        ([0.49] * 167, False),  # one candle short of the window: not evaluated
        ([0.9] * 500 + [0.3] * 168, True),  # only the last 168 candles matter
        ([0.3] * 167 + [0.5], False),  # the newest candle reaches 0.5: not all below
        ([0.3] * 100 + [0.5] + [0.3] * 67, False),  # one confident candle in the window
        ([math.nan] * 168, True),  # a model that stopped predicting counts as low
        (None, False),  # no model in use (baseline modes)
        ([], False),  # a model without predictions yet
    ],
)
def test_low_confidence_trigger(confidence: list[float] | None, trips: bool) -> None:
    decision = _evaluate(confidence=confidence)
    assert decision.trip is trips
    if trips:
        assert decision.trigger is KillTrigger.LOW_CONFIDENCE
        assert decision.reason == "model confidence below 0.5 on each of the last 168 candles"


def test_low_confidence_trigger_can_be_switched_off() -> None:
    settings = KillSwitchSettings(low_confidence_enabled=False)
    assert not _evaluate(confidence=[0.1] * 168, settings=settings).trip


def _run(
    script: list[tuple[datetime, float, int]], settings: KillSwitchSettings = DEFAULTS
) -> list[KillDecision]:
    """The bot loop: update the equity marks, then evaluate, at each scripted moment."""
    state = KillSwitchState()
    decisions = []
    for now, equity, errors in script:
        state = track_equity(state, equity, now)
        decisions.append(
            evaluate_kill_switch(
                equity, state.peak_equity, state.day_start_equity, errors, None, now, settings
            )
        )
    return decisions


def test_scripted_drawdown_across_days() -> None:
    day1, day2, day3 = (datetime(2026, 7, d, 9, tzinfo=UTC) for d in (20, 21, 22))
    decisions = _run(
        [
            (day1, 10_000.0, 0),
            (day1 + timedelta(hours=5), 12_000.0, 0),  # the peak
            (day2, 11_000.0, 0),  # day 2 starts 8.3 % below the peak
            (day2 + timedelta(hours=3), 10_600.0, 0),  # -3.6 % today, -11.7 % from peak
            (day3, 10_300.0, 0),  # day 3 starts at 10 300
            (day3 + timedelta(hours=1), 10_200.0, 0),  # -1 % today but 15 % below the peak
        ]
    )
    assert [d.trip for d in decisions] == [False] * 5 + [True]
    assert decisions[-1].trigger is KillTrigger.DRAWDOWN


def test_scripted_daily_loss_resets_at_utc_midnight() -> None:
    evening = datetime(2026, 7, 21, 20, tzinfo=UTC)
    decisions = _run(
        [
            (evening, 10_000.0, 0),
            (evening + timedelta(hours=3), 9_600.0, 0),  # -4 % today
            (evening + timedelta(hours=4, minutes=1), 9_600.0, 0),  # 00:01: a new day at 9 600
            (evening + timedelta(hours=6), 9_150.0, 0),  # -4.7 % today, -8.5 % from peak
            (evening + timedelta(hours=7), 9_110.0, 0),  # -5.1 % today
        ]
    )
    assert [d.trip for d in decisions] == [False, False, False, False, True]
    assert decisions[-1].trigger is KillTrigger.DAILY_LOSS
    assert "(2026-07-22 UTC)" in decisions[-1].reason


def test_scripted_api_error_burst_with_a_fake_clock() -> None:
    clock = FakeClock()
    counter = ApiErrorCounter(DEFAULTS.api_error_window_seconds, clock=clock)
    trips = []
    for _ in range(12):  # one failed request every 7 seconds
        counter.record()
        trips.append(_evaluate(errors=counter.count()).trip)
        clock.now += 7.0
    # 9 errors in the first 60 s; the window slides, so at most 9 are ever inside it
    assert counter.count() == 8
    assert not any(trips)
    for _ in range(10):  # a burst: 10 errors within one second
        counter.record()
        clock.now += 0.1
    assert _evaluate(errors=counter.count()).trigger is KillTrigger.API_ERRORS


def test_api_error_counter_window_edges() -> None:
    clock = FakeClock()
    counter = ApiErrorCounter(60, clock=clock)
    counter.record()
    clock.now += 59.999
    assert counter.count() == 1  # still inside the window
    clock.now += 0.001
    assert counter.count() == 0  # exactly 60 s old: out
    counter.record()
    counter.clear()
    assert counter.count() == 0


def test_track_equity_bookkeeping() -> None:
    state = track_equity(KillSwitchState(), 1_000.0, NOW)
    assert (state.peak_equity, state.day_start_equity, state.day) == (1_000.0, 1_000.0, NOW.date())
    assert track_equity(state, 990.0, NOW + timedelta(hours=1)) is state  # nothing changed
    higher = track_equity(state, 1_100.0, NOW + timedelta(hours=2))
    assert (higher.peak_equity, higher.day_start_equity) == (1_100.0, 1_000.0)
    assert track_equity(higher, math.nan, NOW) is higher  # unusable equity changes nothing


# ------------------------------------------------------------------ the state file


@pytest.fixture
def store(tmp_path: Path) -> KillSwitchStore:
    return KillSwitchStore(tmp_path / "state" / "killswitch.json")


def test_missing_file_is_active(store: KillSwitchStore) -> None:
    assert store.read() == KillSwitchState()
    assert not store.read().tripped


def test_round_trip(store: KillSwitchStore) -> None:
    state = KillSwitchState(
        state=KillState.TRIPPED,
        reason="equity 8400 is 16.00% below its peak 10000 (limit 15.00%)",
        trigger=KillTrigger.DRAWDOWN,
        tripped_at=NOW,
        reset_at=NOW - timedelta(days=3),
        peak_equity=10_000.0,
        day_start_equity=9_000.5,
        day=date(2026, 7, 21),
    )
    store.write(state)
    assert store.read() == state
    raw = json.loads(store.path.read_text())
    assert raw["state"] == "tripped"
    assert raw["trigger"] == "drawdown"
    assert raw["tripped_at"] == "2026-07-21T12:00:00+00:00"
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["killswitch.json"]


def test_trip_persists_for_a_restarted_bot(store: KillSwitchStore) -> None:
    tripped = store.trip(KillTrigger.DAILY_LOSS, "loss today 6.00%", NOW)
    restarted = KillSwitchStore(store.path)  # a new process, same file
    state = restarted.read()
    assert state == tripped
    assert (state.state, state.trigger, state.tripped_at) == (
        KillState.TRIPPED,
        KillTrigger.DAILY_LOSS,
        NOW,
    )


def test_the_first_trip_wins(store: KillSwitchStore) -> None:
    store.trip(KillTrigger.DRAWDOWN, "first", NOW)
    again = store.trip(KillTrigger.MANUAL, "second", NOW + timedelta(minutes=1))
    assert (again.trigger, again.reason, again.tripped_at) == (KillTrigger.DRAWDOWN, "first", NOW)


def test_manual_trip_and_reset(store: KillSwitchStore) -> None:
    store.record_equity(10_000.0, NOW)
    store.trip(KillTrigger.MANUAL, "metalabel kill by operator", NOW)
    assert store.read().trigger is KillTrigger.MANUAL
    assert store.read().peak_equity == 10_000.0  # bookkeeping survives the trip
    reset = store.reset(NOW + timedelta(hours=1))
    assert reset == store.read()
    assert (reset.state, reset.reset_at, reset.peak_equity) == (
        KillState.ACTIVE,
        NOW + timedelta(hours=1),
        None,  # the current equity becomes the new baseline
    )


@pytest.mark.parametrize(
    "content",
    [
        b"",  # truncated to nothing
        b"{not json",  # garbage
        b"[1, 2]",  # JSON, but not an object
        b'{"version": 1}',  # no state
        b'{"version": 1, "state": "paused"}',  # unknown state
        b'{"version": 2, "state": "active"}',  # a format this code does not know
        b'{"version": 1, "state": "active", "peak_equity": "lots"}',  # not a number
        b'{"version": 1, "state": "tripped", "tripped_at": "yesterday"}',  # bad time
        b'{"version": 1, "state": "tripped", "tripped_at": "2026-07-21T12:00:00"}',  # naive
        b"\xff\xfe\x00",  # not UTF-8
    ],
)
def test_corrupt_file_reads_as_tripped(store: KillSwitchStore, content: bytes) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    state = store.read()
    assert state.tripped
    assert state.trigger is KillTrigger.UNREADABLE_STATE
    assert "metalabel resume" in state.reason
    assert str(store.path) in state.reason


def test_unreadable_file_reads_as_tripped(store: KillSwitchStore) -> None:
    store.path.mkdir(parents=True)  # a directory where the file should be
    state = store.read()
    assert state.tripped
    assert "can not be read" in state.reason


def test_corrupt_file_is_kept_for_inspection_and_reset_repairs_it(
    store: KillSwitchStore,
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"{oops")
    assert store.trip(KillTrigger.DRAWDOWN, "x", NOW).trigger is KillTrigger.UNREADABLE_STATE
    assert store.record_equity(10_000.0, NOW).trigger is KillTrigger.UNREADABLE_STATE
    assert store.path.read_bytes() == b"{oops"
    store.reset(NOW)
    assert store.read() == KillSwitchState(reason="manual resume", reset_at=NOW)


def test_record_equity_writes_only_on_change(store: KillSwitchStore) -> None:
    store.record_equity(10_000.0, NOW)
    inode = store.path.stat().st_ino
    store.record_equity(9_990.0, NOW + timedelta(minutes=5))  # below peak, same day
    assert store.path.stat().st_ino == inode
    store.record_equity(10_010.0, NOW + timedelta(minutes=10))  # a new peak: rewritten
    assert store.read().peak_equity == 10_010.0


# -------------------------------------------------- two processes on one state file


def test_cli_reset_is_seen_by_the_running_bot(store: KillSwitchStore) -> None:
    bot, cli = store, KillSwitchStore(store.path)
    bot.trip(KillTrigger.API_ERRORS, "10 failed exchange requests", NOW)
    assert cli.read().tripped
    cli.reset(NOW + timedelta(minutes=30))
    assert not bot.read().tripped  # the next loop reads ACTIVE


def test_cli_kill_is_not_undone_by_the_bots_bookkeeping(store: KillSwitchStore) -> None:
    bot, cli = store, KillSwitchStore(store.path)
    bot.record_equity(10_000.0, NOW)
    assert not bot.read().tripped  # the bot read ACTIVE at the start of its loop ...
    cli.trip(KillTrigger.MANUAL, "metalabel kill", NOW)  # ... the operator kills ...
    after = bot.record_equity(11_000.0, NOW + timedelta(seconds=5))  # ... a new peak
    assert after.tripped
    assert after.peak_equity == 11_000.0
    assert bot.read().trigger is KillTrigger.MANUAL


def test_concurrent_writers_and_readers(store: KillSwitchStore) -> None:
    """A bot thread writing peaks, a CLI thread killing, a reader never seeing a torn file."""
    bot, cli, reader = store, KillSwitchStore(store.path), KillSwitchStore(store.path)
    bot.record_equity(1.0, NOW)
    torn: list[KillSwitchState] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            state = reader.read()
            if state.trigger is KillTrigger.UNREADABLE_STATE:
                torn.append(state)

    def bot_loop() -> None:
        for i in range(150):
            bot.record_equity(2.0 + i, NOW + timedelta(seconds=i))

    threads = [threading.Thread(target=read_loop), threading.Thread(target=bot_loop)]
    for thread in threads:
        thread.start()
    cli.trip(KillTrigger.MANUAL, "metalabel kill", NOW)
    threads[1].join()
    stop.set()
    threads[0].join()
    assert torn == []
    final = reader.read()
    assert final.trigger is KillTrigger.MANUAL
    assert final.peak_equity == 151.0


# ------------------------------------------------------- freqtrade's exchange logs


@pytest.fixture
def counted() -> Iterator[tuple[ApiErrorCounter, FakeClock]]:
    clock = FakeClock()
    counter = ApiErrorCounter(60, clock=clock)
    handler = install_api_error_handler(counter)
    try:
        yield counter, clock
    finally:
        logging.getLogger("freqtrade.exchange").removeHandler(handler)


def test_handler_counts_freqtrade_retrier_records(
    counted: tuple[ApiErrorCounter, FakeClock],
) -> None:
    """freqtrade's own retrier, failing every attempt: one record per failed request."""
    counter, _ = counted

    @retrier(retries=3)  # type: ignore[untyped-decorator]
    def fetch_ticker(pair: str) -> None:
        raise TemporaryError(f'bybit GET https://api.bybit.com/v5/market/tickers 503 "{pair}"')

    with pytest.raises(TemporaryError):
        fetch_ticker("BTC/USDT:USDT")
    assert counter.count() == 4  # 3 x "Retrying still for n times." + 1 x "Giving up."


def test_handler_counts_freqtrade_async_retrier_records(
    counted: tuple[ApiErrorCounter, FakeClock],
) -> None:
    counter, _ = counted

    class Exchange:
        name = "Bybit"

    @retrier_async  # type: ignore[untyped-decorator]
    async def _async_get_candle_history(self: Exchange, pair: str) -> None:
        raise TemporaryError("Could not fetch historical candle (OHLCV) data for BTC. Msg: x")

    with pytest.raises(TemporaryError):
        asyncio.run(_async_get_candle_history(Exchange(), "BTC/USDT:USDT"))
    assert counter.count() == API_RETRY_COUNT + 1


def _record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("record", "counts"),
    [
        # the two retrier messages, verbatim formats from freqtrade/exchange/common.py
        (
            _record(
                "freqtrade.exchange.common",
                logging.WARNING,
                'fetch_order() returned exception: "bybit {"retCode":10006}". '
                "Retrying still for 5 times.",
            ),
            True,
        ),
        (
            _record(
                "freqtrade.exchange.common",
                logging.WARNING,
                'get_balances() returned exception: "Timeout\nsecond line". Giving up.',
            ),
            True,
        ),
        # the same text at ERROR (a custom log config) still counts
        (
            _record(
                "freqtrade.exchange.common",
                logging.ERROR,
                'fetch_positions() returned exception: "x". Giving up.',
            ),
            True,
        ),
        # follow-ups of an already counted failure: not counted twice
        (_record("freqtrade.exchange.exchange", logging.ERROR, "Could not load markets."), False),
        (
            _record(
                "freqtrade.exchange.exchange",
                logging.WARNING,
                "Async code raised an exception: %s",
                "TemporaryError('x')",
            ),
            False,
        ),
        (
            _record(
                "freqtrade.exchange.bybit",
                logging.WARNING,
                "Could not update funding fees for BTC/USDT:USDT.",
            ),
            False,
        ),
        # the backoff note is INFO
        (
            _record(
                "freqtrade.exchange.common",
                logging.INFO,
                "Applying DDosProtection backoff delay: 1",
            ),
            False,
        ),
        # the retrier text below WARNING (a debug copy) does not count
        (
            _record(
                "freqtrade.exchange.common",
                logging.INFO,
                'fetch_ticker() returned exception: "x". Giving up.',
            ),
            False,
        ),
        # right text, wrong logger
        (
            _record(
                "freqtrade.freqtradebot",
                logging.WARNING,
                'fetch_ticker() returned exception: "x". Giving up.',
            ),
            False,
        ),
        (
            _record(
                "freqtrade.exchangeextra",
                logging.WARNING,
                'fetch_ticker() returned exception: "x". Giving up.',
            ),
            False,
        ),
        # the worker's retry note is not an exchange request
        (
            _record("freqtrade.worker", logging.WARNING, "Error: x, retrying in 30 seconds..."),
            False,
        ),
    ],
)
def test_which_records_count(record: logging.LogRecord, counts: bool) -> None:
    assert is_failed_exchange_request(record) is counts


def test_records_from_freqtrade_loggers_reach_the_installed_handler(
    counted: tuple[ApiErrorCounter, FakeClock],
) -> None:
    counter, clock = counted
    log = logging.getLogger("freqtrade.exchange.common")
    for i in range(10):
        log.warning(f'fetch_ticker() returned exception: "503". Retrying still for {i} times.')
        clock.now += 1.0
    logging.getLogger("freqtrade.exchange.exchange").error("Could not load markets.")
    assert counter.count() == 10
    decision = evaluate_kill_switch(
        10_000.0, 10_000.0, 10_000.0, counter.count(), None, NOW, DEFAULTS
    )
    assert decision.trigger is KillTrigger.API_ERRORS
    clock.now += 60.0
    assert counter.count() == 0


def test_installing_twice_does_not_double_count(
    counted: tuple[ApiErrorCounter, FakeClock],
) -> None:
    counter, _ = counted
    target = logging.getLogger("freqtrade.exchange")
    handler = install_api_error_handler(counter)
    try:
        assert sum(isinstance(h, ExchangeApiErrorHandler) for h in target.handlers) == 1
        logging.getLogger("freqtrade.exchange.common").warning(
            'fetch_ticker() returned exception: "x". Giving up.'
        )
        assert counter.count() == 1
    finally:
        target.removeHandler(handler)


def test_a_broken_record_does_not_break_logging(
    counted: tuple[ApiErrorCounter, FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter, _ = counted
    monkeypatch.setattr(logging, "raiseExceptions", False)
    bad = _record("freqtrade.exchange.common", logging.WARNING, "%d failures", "not a number")
    ExchangeApiErrorHandler(counter).handle(bad)  # getMessage raises inside emit
    assert counter.count() == 0


def test_state_is_frozen() -> None:
    state = KillSwitchState()
    with pytest.raises(AttributeError):
        state.state = KillState.TRIPPED  # type: ignore[misc]
    assert replace(state, state=KillState.TRIPPED).tripped


def test_an_unreadable_file_is_logged_once_per_problem(
    store: KillSwitchStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"{oops")
    with caplog.at_level(logging.ERROR, logger="metalabel.risk.killswitch"):
        for _ in range(5):  # five bot loops
            assert store.read().tripped
    assert len(caplog.records) == 1
    assert "metalabel resume" in caplog.records[0].getMessage()


def test_a_malformed_confidence_window_trips_instead_of_raising() -> None:
    decision = _evaluate(confidence=42)  # type: ignore[arg-type]  # not a sequence
    assert (decision.trip, decision.trigger) == (True, KillTrigger.BAD_INPUT)
    assert decision.reason.startswith("kill-switch evaluation failed")
