"""Live-versus-backtest parity on small hand-built journals: a match, each kind of
difference with its cause, and bad input (``metalabel.ops.parity``, ``metalabel parity``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from metalabel.config import StrategyMode
from metalabel.ops import cli
from metalabel.ops.parity import (
    CandleRecord,
    ParityError,
    TradeEvent,
    backtest_decisions,
    backtest_events,
    compare,
    live_side,
)

OFFSET_HOURS = 100  # served time = bundle time + 100 h
BTC = "BTC/USDT:USDT"
T0 = pd.Timestamp("2026-07-01 10:00", tz="UTC")  # bundle time of the first candle


def hour(n: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=n)


def served(n: int) -> str:
    return (hour(n) + pd.Timedelta(hours=OFFSET_HOURS)).isoformat()


GATES_PASS = {
    "primary_long": True, "primary_short": False, "candle_ok": True,
    "regime_ok_long": True, "regime_ok_short": False, "volume": True,
}  # fmt: skip


def candle(n: int, **fields: Any) -> dict[str, Any]:
    """A journal ``candle`` line of the n-th hour: a long signal every gate passed."""
    record: dict[str, Any] = {
        "kind": "candle", "time": served(n + 1), "pair": BTC, "model_version": None,
        "candle": served(n), "close": 100.0 + n, "primary_direction": 1,
        "primary_strength": 0.5, "regime": "trending_up", "adx": 30.0, "atr_ratio": 1.0,
        "meta_confidence": None, "do_predict": None, "decision": "signal", "side": "long",
        "gate": None, "enter_tag": "primary_regime_long", "gates": dict(GATES_PASS),
    }  # fmt: skip
    record.update(fields)
    return record


def neutral(n: int, **fields: Any) -> dict[str, Any]:
    gates = dict(GATES_PASS, primary_long=False)
    base = {"primary_direction": 0, "decision": "no_signal", "side": None, "gate": "primary"}
    return candle(n, gates=gates, enter_tag=None, **{**base, **fields})


def as_backtest(raw: dict[str, Any]) -> CandleRecord:
    """The same candle as the backtest's side would hold it (bundle time)."""
    (record,) = live_side([raw], OFFSET_HOURS).candles
    return record


def test_equal_journals_match_on_every_candle() -> None:
    lines = [neutral(0), candle(1), neutral(2)]
    report = compare(live_side(lines, OFFSET_HOURS), [as_backtest(r) for r in lines])
    assert (report.candles, report.decisions_equal, report.primary_regime_equal) == (3, 3, 3)
    assert report.differences == ()
    assert report.first_hour == T0 and report.last_hour == hour(2)  # moved back by 100 h
    assert report.targets_met
    assert "parity_decisions_match=1.0000" in report.lines()
    assert "parity_model_gated_match=n/a" in report.lines()  # mode primary_regime


@pytest.mark.parametrize(
    ("live_fields", "back_fields", "cause"),
    [
        # the bot saw another price: the data differs
        ({}, {**neutral(1), "close": 99.0}, "data: the candle's close differs"),
        # same close, other ADX: the bot's shorter history moved the indicators
        ({}, {**neutral(1), "adx": 31.5}, "indicator history: same close"),
        # same close, ADX and ATR: only the unjournalled vote inputs are left
        ({}, neutral(1), "signal inputs: same close"),
        # the regime refused on one side, with a different ATR ratio behind it
        (
            {},
            {
                "regime": "high_volatility",
                "atr_ratio": 2.3,
                "decision": "blocked",
                "gate": "regime_ok_long",
                "gates": dict(GATES_PASS, regime_ok_long=False),
            },
            "indicator history: same close, different indicator values (atr_ratio",
        ),
        # everything journalled is equal but the candle check refused on one side
        (
            {},
            {
                "decision": "blocked",
                "gate": "candle_ok",
                "gates": dict(GATES_PASS, candle_ok=False),
            },
            "candle check: candle_ok live True vs backtest False",
        ),
    ],
)
def test_primary_and_regime_differences_name_their_cause(
    live_fields: dict[str, Any], back_fields: dict[str, Any], cause: str
) -> None:
    live = [neutral(0), candle(1, **live_fields)]
    back_raw = dict(candle(1))
    back_raw.update({k: v for k, v in back_fields.items() if k not in ("kind", "candle")})
    back = [as_backtest(neutral(0)), as_backtest(back_raw)]
    report = compare(live_side(live, OFFSET_HOURS), back)
    assert report.primary_regime_equal == 1
    (difference,) = report.differences
    assert (difference.what, difference.hour) == ("primary_regime", hour(1))
    assert difference.cause.startswith(cause), difference.cause
    assert report.primary_regime_ratio == 0.5 and not report.targets_met


META_GATES = dict(GATES_PASS, meta_ok=True)


def meta_candle(n: int, *, ok: bool, **fields: Any) -> dict[str, Any]:
    gates = dict(META_GATES, meta_ok=ok)
    decision = {} if ok else {"decision": "blocked", "gate": "meta_ok", "enter_tag": None}
    base = {"gates": gates, "meta_confidence": 0.65 if ok else 0.55, "do_predict": 1}
    return candle(n, **{**base, **decision, **fields})


@pytest.mark.parametrize(
    ("back_fields", "cause"),
    [
        ({"model_version": 2}, "model: live version 1 vs backtest version 2"),
        ({"model_version": None}, "model: no active model on the backtest side"),
        ({"model_version": 1, "do_predict": 0}, "outlier check: do_predict live 1 vs backtest 0"),
        ({"model_version": 1}, "model confidence live 0.6500 vs backtest 0.5500"),
        ({"model_version": 1, "meta_confidence": None}, "model: no confidence on the backtest"),
    ],
)
def test_model_gated_differences_are_explained(back_fields: dict[str, Any], cause: str) -> None:
    live = [meta_candle(0, ok=True, model_version=1)]
    back = [as_backtest(meta_candle(0, ok=False, **back_fields))]
    report = compare(live_side(live, OFFSET_HOURS), back)
    # the primary and regime decision is the same; only the model gate differs
    assert (report.primary_regime_equal, report.model_compared, report.model_equal) == (1, 1, 0)
    (difference,) = report.differences
    assert difference.what == "model"
    assert (difference.live, difference.backtest) == ("meta_ok=True", "meta_ok=False")
    assert difference.cause.startswith(cause), difference.cause
    assert report.targets_met  # >= 99 % on primary/regime, and the model difference explained


def test_equal_model_gate_from_different_models_is_counted() -> None:
    # both refuse: the live side has no model yet, the backtest's is below the threshold
    live = [meta_candle(0, ok=False, meta_confidence=0.0, do_predict=0)]
    back = [as_backtest(meta_candle(0, ok=False, model_version=1, meta_confidence=0.48))]
    report = compare(live_side(live, OFFSET_HOURS), back)
    assert (report.model_compared, report.model_equal, report.model_inputs_differ) == (1, 1, 1)
    assert report.differences == ()
    assert "parity_model_inputs_differ=1" in report.lines()


def test_same_model_same_inputs_is_an_unexplained_model_difference() -> None:
    live = [meta_candle(0, ok=True, model_version=1, meta_confidence=0.65)]
    back = [as_backtest(meta_candle(0, ok=False, model_version=1, meta_confidence=0.65))]
    report = compare(live_side(live, OFFSET_HOURS), back)
    assert report.differences[0].cause.startswith("unexplained")
    assert not report.targets_met


def entry_order(n: int, side: str = "long") -> dict[str, Any]:
    return {
        "kind": "order", "time": served(n + 1), "pair": BTC, "model_version": None,
        "candle": served(n), "action": "entry", "side": side, "trade_id": None,
        "order_type": "market", "amount": 1.0, "rate": 100.0,
        "enter_tag": f"primary_regime_{side}", "exit_reason": None,
    }  # fmt: skip


def exit_lines(n: int, trade_id: int, reason: str) -> list[dict[str, Any]]:
    """The exit order sent while the hour after candle n formed, then the closed trade."""
    order = dict(entry_order(n), action="exit", trade_id=trade_id, exit_reason=reason)
    closed = {
        "kind": "exit", "time": served(n + 1), "pair": BTC, "model_version": None,
        "trade_id": trade_id, "side": "long", "exit_reason": reason, "enter_tag": None,
        "open_rate": 100.0, "price": 101.0, "profit_abs": 1.0, "profit_ratio": 0.01,
    }  # fmt: skip
    return [order, closed]


def trade(signal: int, leave: pd.Timestamp, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair": [BTC], "open_date": [hour(signal + 1)], "close_date": [leave],
            "is_short": [False], "enter_tag": ["primary_regime_long"], "exit_reason": [reason],
        }
    )  # fmt: skip


def test_backtest_events_put_entries_on_their_signal_candle() -> None:
    frame = trade(1, hour(4) + pd.Timedelta(minutes=45), "stop_loss")
    entry, exit_ = backtest_events(frame)
    assert entry == TradeEvent(BTC, hour(1), "entry", "long", "primary_regime_long")
    assert exit_ == TradeEvent(BTC, hour(4), "exit", "long", "stop_loss")  # the hour it left in


def test_entries_and_exits_match() -> None:
    lines = [candle(0), neutral(1), neutral(2), candle(3)]
    journal = [*lines, entry_order(0), *exit_lines(2, 7, "reversal"), entry_order(3)]
    trades = pd.concat([trade(0, hour(3), "reversal"), trade(3, hour(6), "force_exit")])
    report = compare(
        live_side(journal, OFFSET_HOURS), [as_backtest(r) for r in lines], backtest_events(trades)
    )
    assert (report.entries_live, report.entries_backtest, report.entries_matched) == (2, 2, 2)
    # the backtest's end-of-data exit is not compared (the dry run was stopped)
    assert (report.exits_live, report.exits_backtest, report.exits_matched) == (1, 1, 1)
    assert report.differences == ()


def test_exit_at_another_hour_and_reason_is_blamed_on_the_exit_path() -> None:
    lines = [candle(0), neutral(1), neutral(2), neutral(3)]
    journal = [*lines, entry_order(0), *exit_lines(2, 7, "trailing_stop_loss")]
    trades = trade(0, hour(1) + pd.Timedelta(minutes=15), "stop_loss")
    report = compare(
        live_side(journal, OFFSET_HOURS), [as_backtest(r) for r in lines], backtest_events(trades)
    )
    assert report.exits_matched == 0
    exits = [d for d in report.differences if d.what == "exit"]
    assert [(d.hour, d.live, d.backtest) for d in exits] == [
        (hour(1), "none", "long stop_loss"),
        (hour(3), "long trailing_stop_loss", "none"),
    ]
    assert all(d.cause.startswith("exit path: the backtest walks") for d in exits)


def test_entry_missing_live_is_explained_by_the_journalled_refusal() -> None:
    lines = [candle(0), neutral(1)]
    refusal = {
        "kind": "refusal", "time": served(1), "pair": BTC, "model_version": None,
        "candle": served(0), "gate": "stale_data", "reason": "last candle 3 h old",
    }  # fmt: skip
    report = compare(
        live_side([*lines, refusal], OFFSET_HOURS),
        [as_backtest(r) for r in lines],
        backtest_events(trade(0, hour(1), "reversal")),
    )
    (difference,) = report.differences
    assert (difference.what, difference.live, difference.backtest) == ("entry", "none", "long")
    assert difference.cause == "live pre-trade refusal: stale_data"


def test_entry_missing_live_without_a_reason_is_unexplained() -> None:
    lines = [candle(0), neutral(1)]
    report = compare(
        live_side(lines, OFFSET_HOURS),
        [as_backtest(r) for r in lines],
        backtest_events(trade(0, hour(1), "reversal")),
    )
    assert report.differences[0].cause.startswith("unexplained")
    assert report.unexplained == 1


def test_entry_missing_in_the_backtest_while_its_trade_was_open() -> None:
    lines = [candle(0), candle(1), neutral(2)]
    journal = [*lines, entry_order(0), *exit_lines(0, 3, "stop_loss"), entry_order(1)]
    trades = trade(0, hour(2) + pd.Timedelta(minutes=30), "trailing_stop_loss")
    report = compare(
        live_side(journal, OFFSET_HOURS), [as_backtest(r) for r in lines], backtest_events(trades)
    )
    entry = next(d for d in report.differences if d.what == "entry")
    assert (entry.hour, entry.live, entry.backtest) == (hour(1), "long", "none")
    assert entry.cause.startswith("backtest: a trade on this pair was still open")


def test_backtest_decisions_use_the_journal_gate_names() -> None:
    frame = pd.DataFrame(
        {
            "date": [hour(0), hour(1), hour(2), hour(3)],
            "close": [1.0, 2.0, 3.0, 4.0],
            "volume": [5.0, 5.0, 0.0, 5.0],
            "primary_long": [False, True, True, True],
            "primary_short": [False, False, False, False],
            "primary_direction": [0, 1, 1, 1],
            "candle_ok": [True, True, True, True],
            "regime_ok_long": [True, False, True, True],
            "regime_ok_short": [True, True, True, True],
            "regime": ["ranging", "ranging", "trending_up", "trending_up"],
        }
    )
    records = backtest_decisions(frame, BTC, StrategyMode.PRIMARY_REGIME)
    assert [(r.decision, r.side, r.gate) for r in records] == [
        ("no_signal", None, "primary"),
        ("blocked", "long", "regime_ok_long"),
        ("blocked", "long", "volume"),  # no volume, checked before the regime
        ("signal", "long", None),
    ]
    # mode primary has no regime gate
    primary = backtest_decisions(frame, BTC, StrategyMode.PRIMARY)
    assert (primary[1].decision, primary[1].gate) == ("signal", None)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({k: v for k, v in candle(0).items() if k != "regime"}, "candle record without regime"),
        (candle(0, decision="maybe"), "unknown decision 'maybe'"),
        (candle(0, candle="yesterday"), "not a time: 'yesterday'"),
        (candle(0, gates=[True]), "gates is not an object"),
    ],
)
def test_malformed_candle_records_are_refused(record: dict[str, Any], message: str) -> None:
    with pytest.raises(ParityError, match=message):
        live_side([record], OFFSET_HOURS)


def test_order_without_a_pair_is_refused() -> None:
    order = {k: v for k, v in entry_order(0).items() if k != "pair"}
    with pytest.raises(ParityError, match=r"journal record 2 \(order\): pair is not a string"):
        live_side([candle(0), order], OFFSET_HOURS)


def test_journal_without_candles_is_refused() -> None:
    with pytest.raises(ParityError, match="no candle records"):
        live_side([entry_order(0)], OFFSET_HOURS)


def test_no_common_hours_is_refused_naming_both_spans() -> None:
    live = live_side([candle(0)], OFFSET_HOURS)
    later = as_backtest(candle(48))
    with pytest.raises(ParityError, match=r"no common candle: the journal .* 2026-07-01 10:00"):
        compare(live, [later])
    with pytest.raises(ParityError, match="the backtest nothing"):
        compare(live, [])


def test_backtest_frame_without_gate_columns_is_refused() -> None:
    with pytest.raises(ParityError, match="signal frame without candle_ok"):
        backtest_decisions(pd.DataFrame({"date": [T0]}), BTC, StrategyMode.PRIMARY_REGIME)


# ------------------------------------------------------------------ the command
def _write_journal(directory: Path, lines: list[str]) -> None:
    directory.mkdir(parents=True)
    (directory / "journal-2026-07-05.jsonl").write_text("".join(f"{x}\n" for x in lines))


def _parity(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["parity", *argv])
    return code, capsys.readouterr().out


def test_command_without_a_journal_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _parity(["--journal-dir", str(tmp_path / "nope"), "--offset-hours", "0"], capsys)
    assert code == 2
    assert out.startswith(f"parity: no journal directory at {tmp_path / 'nope'}")


def test_command_refuses_a_corrupt_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_journal(tmp_path / "j", [json.dumps(candle(0)), "{not json"])
    code, out = _parity(["--journal-dir", str(tmp_path / "j"), "--offset-hours", "100"], capsys)
    assert code == 2
    assert "parity: 1 corrupt journal line(s)" in out
    assert "journal-2026-07-05.jsonl:2" in out


def test_command_needs_the_offset_with_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _parity(["--journal-dir", str(tmp_path)], capsys)
    assert code == 2
    assert "--journal-dir needs --offset-hours" in out


def _figure(out: str, key: str) -> float:
    found = re.search(rf"^{key}=(\S+)$", out, re.MULTILINE)
    assert found, f"{key} not printed:\n{out}"
    return float(found.group(1))


@pytest.mark.slow
def test_parity_dry_run_against_backtest_meets_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_freqtrade_env: None
) -> None:
    """The real thing, briefly: 4 replayed hours of freqtrade's dry run at x240 against
    the replay live clock, then the backtest of the same hours (about 2 minutes)."""
    argv = ["--hours", "4", "--speed", "240", "--startup-seconds", "30"]
    code, out = _parity([*argv, "--workdir", str(tmp_path / "run")], capsys)
    assert code == 0, out
    # at least the candle before the stretch and 4 new ones, for both pairs (a start-up
    # slower than --startup-seconds lets warped time run earlier, adding candles)
    candles = _figure(out, "parity_candles")
    assert candles >= 10 and candles % 2 == 0
    assert _figure(out, "parity_primary_regime_match") >= 0.99
    assert _figure(out, "parity_decisions_match") >= 0.99
    assert "parity_targets_met=true" in out


def test_command_refuses_a_journal_outside_the_bundled_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    far = candle(0, candle="2031-01-01T00:00:00+00:00")  # years after the bundle ends
    _write_journal(tmp_path / "j", [json.dumps(far)])
    code, out = _parity(["--journal-dir", str(tmp_path / "j"), "--offset-hours", "0"], capsys)
    assert code == 2
    assert out.startswith("parity: no common candle: the journal (bundle time) covers 2031-01-01")
