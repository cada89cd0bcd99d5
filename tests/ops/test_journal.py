"""The decision journal: schema and written keys in step, the candle decision, dedupe,
model records, retention, reading back, an unwritable directory, and the daily report."""

import json
import logging
import pickle
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from freqtrade.persistence import Order, Trade

from metalabel.config import ConfigError, MetalabelConfig, StrategyMode, load_config
from metalabel.model.lifecycle import LIFECYCLE_LOG, LifecycleLog
from metalabel.ops.journal import (
    SCHEMA,
    Journal,
    JournalError,
    JournalWriter,
    RecordKind,
    candle_decision,
    journal_file,
    read_journal,
    report_file,
    schema_markdown,
)
from metalabel.ops.journal.daily import (
    DailyReportError,
    build_daily_report,
    render_html,
    summary_text,
    trades_from_objects,
)
from metalabel.ops.journal.query import confidence_by_hour, gate_counts, last_signals
from metalabel.ops.journal.recorder import ModelVersions
from metalabel.risk.desk import RiskDesk

PAIR = "ETH/USDT:USDT"
DAY = date(2026, 7, 21)
NOON = datetime(2026, 7, 21, 12, 5, tzinfo=UTC)
HOLDOUT = {"trades": 60, "sharpe": 1.2, "profit_factor": 1.4, "max_drawdown": 0.05}


class Clock:
    """The journal's wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _frame(candle: datetime, **row: Any) -> pd.DataFrame:
    """An analysed frame whose last row is the closed candle at ``candle``."""
    values = {
        "date": pd.Timestamp(candle),
        "close": 3000.0,
        "volume": 10.0,
        "primary_direction": 1,
        "primary_strength": 0.6,
        "primary_long": True,
        "primary_short": False,
        "candle_ok": True,
        "regime": "trending_up",
        "regime_ok_long": True,
        "regime_ok_short": False,
        "adx": 31.0,
        "atr_ratio": 1.1,
        "adx_score": 0.24,
        "atr_ratio_score": -0.45,
        "meta_confidence": 0.72,
        "do_predict": 1,
        "meta_ok": True,
        "enter_long": 1,
        "enter_short": float("nan"),
        "enter_tag": "meta_long",
    }
    values.update(row)
    return pd.DataFrame([values])


def _lifecycle(path: Path, version: int) -> None:
    LifecycleLog(path).append(
        {
            "time": "2026-07-20T00:00:00+00:00",
            "pair": PAIR,
            "decision": "promote",
            "candidate_version": version,
            "active_version": version,
            "active_holdout": HOLDOUT,
        }
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[tuple[Journal, Clock, Path]]:
    clock = Clock(NOON)
    directory = tmp_path / "journal"
    risk = RiskDesk.for_run(MetalabelConfig(), user_data=tmp_path, candle=timedelta(hours=1))
    lifecycle = tmp_path / LIFECYCLE_LOG
    _lifecycle(lifecycle, 3)
    sent: list[str] = []
    j = Journal(
        JournalWriter(directory, retention_days=30),
        mode=StrategyMode.META,
        risk=risk,
        models=ModelVersions(lifecycle),
        equity=lambda: 10_050.0,
        starting_balance=lambda: 10_000.0,
        send=sent.append,
        trades=lambda: trades_from_objects([]),
        clock=clock,
    )
    j.sent = sent  # type: ignore[attr-defined]
    j.listen_for_errors()  # as Journal.for_run does
    yield j, clock, directory
    j.close()


def _trade(*, closed: bool, trade_id: int = 7) -> Trade:
    trade = Trade(
        pair=PAIR,
        open_rate=3000.0,
        open_date=NOON - timedelta(hours=3),
        amount=0.1,
        stake_amount=150.0,
        fee_open=0.0006,
        fee_close=0.0006,
        exchange="bybit",
        is_short=False,
        leverage=2.0,
        trading_mode="futures",
        enter_tag="meta_long",
        is_open=not closed,
    )
    trade.id = trade_id
    if closed:
        trade.close_rate = 3030.0
        trade.close_date = NOON
        trade.close_profit_abs = 2.64
        trade.close_profit = 0.0176
        trade.exit_reason = "roi"
    return trade


def _order(side: str) -> Order:
    return Order(
        ft_order_side=side, ft_pair=PAIR, ft_is_open=False, order_id=f"o-{side}",
        status="closed", side=side, order_type="market", amount=0.1, filled=0.1,
        average=3030.0 if side == "sell" else 3000.0, price=3000.0,
    )  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- schema
def test_every_kind_is_written_with_exactly_the_documented_keys(journal: Any) -> None:
    j, _clock, directory = journal
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 11, tzinfo=UTC)))
    j.refusal(PAIR, "max_open_positions", "3 positions open")
    j.entry_order(PAIR, "long", "market", 0.1, 3000.0, "meta_long")
    j.filled(_trade(closed=False), _order("buy"))
    j.exit_order(_trade(closed=False), "market", 0.1, 3030.0, "roi")
    j.filled(_trade(closed=True), _order("sell"))
    logging.getLogger("freqtrade.exchange").error("exchange timed out")
    lines = _lines(journal_file(directory, DAY))
    assert {line["kind"] for line in lines} == set(SCHEMA) == {k.value for k in RecordKind}
    for line in lines:
        assert tuple(line) == SCHEMA[line["kind"]], line["kind"]
    # every pair record carries the active model version from the lifecycle log
    assert {line["model_version"] for line in lines if line["pair"]} == {3}
    # the README section is rendered from the same schema
    markdown = schema_markdown()
    for kind, keys in SCHEMA.items():
        assert f"| `{kind}` |" in markdown
        assert all(f"`{key}`" in markdown for key in keys)


def test_candle_record_holds_signal_regime_model_risk_and_decision(journal: Any) -> None:
    j, _clock, directory = journal
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 11, tzinfo=UTC)))
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 11, tzinfo=UTC)))  # analysed again: once
    [model, candle] = _lines(journal_file(directory, DAY))
    assert (model["kind"], model["model_version"], model["holdout"]) == ("model", 3, HOLDOUT)
    assert candle["candle"] == "2026-07-21T11:00:00+00:00"
    assert candle["time"] == NOON.isoformat()
    assert (candle["primary_direction"], candle["primary_strength"]) == (1, 0.6)
    assert (candle["regime"], candle["adx"], candle["atr_ratio_score"]) == (
        "trending_up",
        31.0,
        -0.45,
    )
    assert (candle["meta_confidence"], candle["do_predict"]) == (0.72, 1)
    assert (candle["guard_tier"], candle["kill_switch"]) == ("normal", "active")
    assert (candle["decision"], candle["side"], candle["gate"], candle["enter_tag"]) == (
        "signal",
        "long",
        None,
        "meta_long",
    )
    assert (candle["equity"], candle["starting_balance"]) == (10_050.0, 10_000.0)


@pytest.mark.parametrize(
    ("row", "mode", "expected"),
    [
        # neutral primary signal: the primary gate
        ({"primary_long": False, "enter_long": 0}, StrategyMode.META,
         ("no_signal", None, "primary")),
        # regime refuses the long signal
        ({"regime_ok_long": False, "meta_ok": False, "enter_long": 0}, StrategyMode.META,
         ("blocked", "long", "regime_ok_long")),
        # the regime admits it, the model does not
        ({"meta_ok": False, "enter_long": 0}, StrategyMode.META, ("blocked", "long", "meta_ok")),
        # a bad candle comes before the regime in the strategy's order
        ({"candle_ok": False, "regime_ok_long": False, "enter_long": 0}, StrategyMode.META,
         ("blocked", "long", "candle_ok")),
        # mode primary has no regime gate: a refusing regime is not the reason
        ({"regime_ok_long": False, "volume": 0.0, "enter_long": 0}, StrategyMode.PRIMARY,
         ("blocked", "long", "volume")),
        # a short signal entered
        ({"primary_long": False, "primary_short": True, "enter_long": float("nan"),
          "enter_short": 1}, StrategyMode.META, ("signal", "short", None)),
    ],
)  # fmt: skip
def test_candle_decision_names_the_first_refusing_gate(
    row: dict[str, Any], mode: StrategyMode, expected: tuple[str, str | None, str | None]
) -> None:
    last = _frame(NOON, **row).iloc[-1].to_dict()
    decision, side, gate, _gates = candle_decision(last, mode)
    assert (decision.value, side, gate) == expected


def test_a_refusal_is_journalled_once_per_candle_and_gate(journal: Any) -> None:
    j, _clock, directory = journal
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 11, tzinfo=UTC)))
    for _ in range(3):  # freqtrade retries the signal every loop
        j.refusal(PAIR, "daily_loss", "daily loss limit hit")
    j.refusal(PAIR, "stake", "stake 0")
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 12, tzinfo=UTC)))
    j.refusal(PAIR, "daily_loss", "daily loss limit hit")
    refusals = [r for r in _lines(journal_file(directory, DAY)) if r["kind"] == "refusal"]
    assert [(r["candle"][11:16], r["gate"]) for r in refusals] == [
        ("11:00", "daily_loss"),
        ("11:00", "stake"),
        ("12:00", "daily_loss"),
    ]


def test_a_new_model_version_and_a_new_day_write_a_model_record(
    journal: Any, tmp_path: Path
) -> None:
    j, clock, directory = journal
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 11, tzinfo=UTC)))
    _lifecycle(tmp_path / LIFECYCLE_LOG, 4)  # a retrain promoted version 4
    j.candle(PAIR, _frame(datetime(2026, 7, 21, 12, tzinfo=UTC)))
    clock.now = NOON + timedelta(days=1)
    j.candle(PAIR, _frame(datetime(2026, 7, 22, 11, tzinfo=UTC)))
    today = [r for r in _lines(journal_file(directory, DAY)) if r["kind"] == "model"]
    tomorrow = _lines(journal_file(directory, DAY + timedelta(days=1)))
    assert [r["model_version"] for r in today] == [3, 4]
    assert (tomorrow[0]["kind"], tomorrow[0]["model_version"]) == ("model", 4)


def test_no_model_and_disabled_outside_trading(tmp_path: Path) -> None:
    config = {"runmode": "backtest", "user_data_dir": str(tmp_path)}
    disabled = Journal.for_run(config, MetalabelConfig())
    assert not disabled.enabled
    pickle.loads(pickle.dumps(disabled))  # hyperopt pickles the strategy for its workers
    off = load_config({"metalabel": {"journal": {"enabled": False}}})
    assert not Journal.for_run({**config, "runmode": "dry_run"}, off).enabled
    primary = load_config({"metalabel": {"mode": "primary"}})
    j = Journal.for_run({**config, "runmode": "dry_run"}, primary)
    try:
        assert j.enabled and j.models.path is None
        j.candle(PAIR, _frame(datetime(2026, 7, 21, 11, tzinfo=UTC)))
        [line] = _lines(next((tmp_path / "logs" / "journal").glob("journal-*.jsonl")))
        assert (line["model_version"], line["meta_confidence"]) == (None, None)
    finally:
        j.close()
    with pytest.raises(ConfigError, match=r"metalabel\.journal\.directory"):
        load_config({"metalabel": {"journal": {"directory": "../elsewhere"}}})
    with pytest.raises(ConfigError, match=r"metalabel\.journal\.retention_days"):
        load_config({"metalabel": {"journal": {"retention_days": 0}}})


# ----------------------------------------------------------------------------- files
def test_retention_deletes_files_older_than_the_setting(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, retention_days=2)
    for offset in range(4):
        old = DAY - timedelta(days=offset)
        journal_file(tmp_path, old).write_text("{}\n")
        report_file(tmp_path, old).write_text("<html></html>")
    (tmp_path / "notes.txt").write_text("not ours")
    assert writer.write({"kind": "error"}, NOON)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [
        "daily-2026-07-20.html",
        "daily-2026-07-21.html",
        "journal-2026-07-20.jsonl",
        "journal-2026-07-21.jsonl",
        "notes.txt",
    ]


def test_an_unwritable_directory_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root: a directory under a regular file is unwritable for anyone.
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the journal directory should be")
    j = Journal(JournalWriter(blocker / "journal", retention_days=30), clock=lambda: NOON)
    with caplog.at_level(logging.WARNING):
        for hour in range(3):
            j.candle(PAIR, _frame(datetime(2026, 7, 21, hour, tzinfo=UTC)))
        j.refusal(PAIR, "stake", "stake 0")
        assert j.daily_report(DAY) is None
    failures = [r for r in caplog.records if "not written" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert "journal" in failures[0].getMessage()
    # once the directory can be written, lines arrive again (and it says so)
    blocker.unlink()
    with caplog.at_level(logging.WARNING):
        j.candle(PAIR, _frame(datetime(2026, 7, 21, 4, tzinfo=UTC)))
    assert any("work again" in r.getMessage() for r in caplog.records)
    assert len(_lines(journal_file(blocker / "journal", DAY))) == 1


def test_reading_skips_and_counts_corrupt_lines_and_names_the_range(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal directory"):
        read_journal(tmp_path / "missing", DAY, DAY)
    journal_file(tmp_path, DAY).write_text(
        '{"kind": "candle", "pair": "P"}\nnot json\n[1, 2]\n\n{"kind": "error"}\n{"truncat'
    )
    read = read_journal(tmp_path, DAY, DAY)
    assert [r["kind"] for r in read.records] == ["candle", "error"]
    assert read.corrupt == [
        ("journal-2026-07-21.jsonl", 2),
        ("journal-2026-07-21.jsonl", 3),
        ("journal-2026-07-21.jsonl", 6),
    ]
    with pytest.raises(
        JournalError, match=r"no journal for 2026-08-01: .* 2026-07-21 \.\. 2026-07-21"
    ):
        read_journal(tmp_path, date(2026, 8, 1), date(2026, 8, 1))


# ----------------------------------------------------------------------------- queries
def _day_of_candles(j: Journal, clock: Clock) -> None:
    """Four ETH candles: no signal, blocked by the model, refused pre-trade, entered."""
    rows: list[dict[str, Any]] = [
        {"primary_long": False, "enter_long": 0, "meta_confidence": 0.3},
        {"meta_ok": False, "enter_long": 0, "meta_confidence": 0.55},
        {"meta_confidence": 0.7},
        {"meta_confidence": 0.8},
    ]
    for hour, row in enumerate(rows, 8):
        clock.now = datetime(2026, 7, 21, hour + 1, 1, tzinfo=UTC)
        j.candle(PAIR, _frame(datetime(2026, 7, 21, hour, tzinfo=UTC), **row))
        if hour == 10:
            j.refusal(PAIR, "max_open_positions", "3 positions open")
        if hour == 11:
            j.entry_order(PAIR, "long", "market", 0.1, 3000.0, "meta_long")


def test_why_no_trade_and_what_the_model_thought(journal: Any) -> None:
    j, clock, directory = journal
    _day_of_candles(j, clock)
    records = read_journal(directory, DAY, DAY).records
    counts = gate_counts(records, PAIR)
    assert (counts.candles, counts.no_signal, counts.signals, counts.entries) == (4, 1, 2, 1)
    assert dict(counts.blocked) == {"meta_ok": 1}
    assert dict(counts.refused) == {"max_open_positions": 1}
    fates = [(f.candle[11:13], f.fate) for f in last_signals(records, PAIR)]
    assert fates == [
        ("09", "blocked by meta_ok"),
        ("10", "refused by max_open_positions: 3 positions open"),
        ("11", "entered (meta_long)"),
    ]
    assert gate_counts(records, "BTC/USDT:USDT").candles == 0
    hours = confidence_by_hour(records, PAIR)
    assert [(h.hour, h.count, round(h.mean, 3)) for h in hours] == [
        (8, 1, 0.3),
        (9, 1, 0.55),
        (10, 1, 0.7),
        (11, 1, 0.8),
    ]


# ----------------------------------------------------------------------------- daily
def _closed_trade(trade_id: int, close: datetime, profit: float) -> Trade:
    trade = _trade(closed=True, trade_id=trade_id)
    trade.close_date = close
    trade.open_date = close - timedelta(hours=2)
    trade.close_profit_abs = profit
    trade.close_profit = profit / 150.0
    return trade


def test_daily_report_from_journal_and_trades(journal: Any) -> None:
    j, clock, directory = journal
    _day_of_candles(j, clock)
    still_open = _trade(closed=False, trade_id=9)  # opened 09:05, still open: marked at 3000
    still_open.open_rate = 2990.0
    trades = trades_from_objects(
        [
            _closed_trade(1, datetime(2026, 7, 1, 10, tzinfo=UTC), -20.0),  # in the 30 days
            _closed_trade(2, datetime(2026, 7, 21, 10, tzinfo=UTC), 30.0),
            _closed_trade(3, datetime(2026, 7, 21, 11, tzinfo=UTC), -10.0),
            _closed_trade(4, datetime(2026, 7, 22, 1, tzinfo=UTC), 99.0),  # the next day
            still_open,
        ]
    )
    report = build_daily_report(directory, DAY, trades)
    # open at day end: trade 9, and trade 4 (opened 23:00, closed after midnight)
    assert (report.trades_closed, report.open_trades) == (2, 2)
    assert report.daily_pnl == pytest.approx(20.0)
    assert report.realised_pnl == pytest.approx(0.0)  # -20 + 30 - 10
    assert report.unrealised_pnl == pytest.approx(0.1 * (3000.0 - 2990.0) + 0.0)
    assert report.today.win_rate.value == pytest.approx(0.5)
    assert report.rolling.trades == 3
    assert report.rolling.profit_factor.value == pytest.approx(30.0 / 30.0)
    # equity 10000 -> 9980 (Jul 1) -> 10000 (Jul 21): drawdown 20 / 10000
    assert report.rolling.max_drawdown.value == pytest.approx(0.002)
    assert report.rolling.sharpe.value is not None
    assert (report.guard_tier, report.kill_switch) == ("normal", "active")
    assert [(m.pair, m.version, m.holdout) for m in report.models] == [(PAIR, 3, HOLDOUT)]
    text = summary_text(report)
    assert "day +20.00" in text and "v3" in text and "No trades" not in text
    html = render_html(report)
    assert "Daily report 2026-07-21" in html and "meta_ok" not in html


def test_a_day_without_trades_says_so_and_a_missing_day_fails(journal: Any) -> None:
    j, clock, directory = journal
    _day_of_candles(j, clock)
    report = build_daily_report(directory, DAY, None)
    assert report.quiet
    assert "No trades" in summary_text(report)
    assert "No trades on 2026-07-21" in render_html(report)
    with pytest.raises(JournalError, match="no journal for 2026-07-19"):
        build_daily_report(directory, date(2026, 7, 19), None)
    journal_file(directory, date(2026, 7, 19)).write_text('{"kind": "error"}\n')
    with pytest.raises(DailyReportError, match="starting balance"):
        build_daily_report(directory, date(2026, 7, 19), None)


def test_the_report_is_written_and_sent_at_the_utc_day_boundary(journal: Any) -> None:
    j, clock, directory = journal
    _day_of_candles(j, clock)
    j.on_loop(datetime(2026, 7, 21, 23, 59, tzinfo=UTC))  # first loop: no report yet
    j.on_loop(datetime(2026, 7, 21, 23, 59, 30, tzinfo=UTC))
    assert not report_file(directory, DAY).exists() and j.sent == []
    j.on_loop(datetime(2026, 7, 22, 0, 0, 5, tzinfo=UTC))
    j.on_loop(datetime(2026, 7, 22, 0, 0, 10, tzinfo=UTC))  # once, not every loop
    assert report_file(directory, DAY).is_file()
    assert len(j.sent) == 1 and j.sent[0].startswith("metalabel daily report 2026-07-21")


def test_a_restart_after_midnight_writes_the_missed_report(journal: Any) -> None:
    j, clock, directory = journal
    _day_of_candles(j, clock)
    j.on_loop(datetime(2026, 7, 22, 3, tzinfo=UTC))  # the bot's first loop is the next day
    assert report_file(directory, DAY).is_file()
