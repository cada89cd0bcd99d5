"""The strategy's risk hooks with in-memory trades: each refusal, and failing closed."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from freqtrade.data.history import load_pair_history
from freqtrade.enums import CandleType, RunMode
from freqtrade.persistence import LocalTrade, PairLocks, Trade
from freqtrade.plugins.pairlistmanager import PairListManager
from freqtrade.wallets import Wallets

from metalabel.config import StrategyMode
from metalabel.ops.runner import BUNDLED_DATA
from metalabel.risk.guard import GuardDecision, GuardTier
from metalabel.risk.killswitch import KillTrigger
from tests.conftest import load_strategy

NOW = datetime(2025, 6, 30, 23, tzinfo=UTC)


@pytest.fixture
def bt_trades() -> Iterator[None]:
    """freqtrade's backtest trade lists and locks (no database), emptied around each test."""
    Trade.use_db = False
    PairLocks.use_db = False
    PairLocks.timeframe = "1h"
    LocalTrade.reset_trades()
    PairLocks.reset_locks()
    yield
    LocalTrade.reset_trades()
    PairLocks.reset_locks()
    Trade.use_db = True
    PairLocks.use_db = True


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, replay_url: str) -> dict[str, Any]:
    """The two pairs analysed once, up to NOW, by a strategy in primary mode."""
    strategy = load_strategy(replay_url, "primary", tmp_path_factory.mktemp("analysed"))
    frames = {}
    for pair in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
        candles = load_pair_history(
            pair=pair, timeframe="1h", datadir=BUNDLED_DATA.parent, candle_type="futures"
        )
        candles = candles[(candles["date"] <= NOW) & (candles["date"] > NOW - timedelta(days=90))]
        frame = strategy.advise_all_indicators({pair: candles})[pair]
        frames[pair] = strategy.ft_advise_signals(frame, {"pair": pair})
    return frames


@pytest.fixture
def strategy(
    tmp_path: Path,
    replay_url: str,
    bt_trades: None,
    analysed: dict[str, Any],
) -> Any:
    strategy = load_strategy(replay_url, "primary", tmp_path)
    strategy.wallets = Wallets(strategy.config, strategy.dp._exchange)
    pairlists = PairListManager(strategy.dp._exchange, strategy.config, strategy.dp)
    pairlists.refresh_pairlist()
    strategy.dp.add_pairlisthandler(pairlists)
    for pair, analysed_frame in analysed.items():
        strategy.dp._set_cached_df(pair, "1h", analysed_frame, CandleType.FUTURES)
        # "now" is NOW, as in a backtest
        strategy.dp._set_dataframe_max_index(pair, len(analysed_frame))
    return strategy


def _open(pair: str, *, is_short: bool = False, rate: float = 100.0) -> Trade:
    trade = Trade(
        pair=pair,
        open_rate=rate,
        open_date=NOW - timedelta(hours=2),
        amount=0.001,
        stake_amount=rate * 0.001 / 2,
        fee_open=0.0006,
        fee_close=0.0006,
        exchange="bybit",
        is_short=is_short,
        leverage=2.0,
        trading_mode="futures",
        is_open=True,
    )
    LocalTrade.add_bt_trade(trade)
    return trade


def _confirm(
    strategy: Any, pair: str = "BTC/USDT:USDT", side: str = "long", now: datetime = NOW
) -> bool:
    return bool(
        strategy.confirm_trade_entry(
            pair=pair, order_type="market", amount=0.001, rate=60000.0, time_in_force="GTC",
            current_time=now, entry_tag=None, side=side,
        )
    )  # fmt: skip


def _refused_by(strategy: Any, pair: str = "BTC/USDT:USDT", side: str = "long") -> str | None:
    """The gate that refused the entry (None when it was confirmed)."""
    return None if _confirm(strategy, pair, side) else strategy.refusals[pair]


def test_an_ordinary_entry_is_confirmed(strategy: Any) -> None:
    assert _confirm(strategy) is True


def test_refused_when_the_kill_switch_is_tripped(strategy: Any) -> None:
    strategy.risk.store.trip(KillTrigger.MANUAL, "test", NOW)
    assert _refused_by(strategy) == "kill_switch"
    assert strategy.risk.flatten is True
    trade = _open("BTC/USDT:USDT")
    exit_reason = strategy.custom_exit(
        pair="BTC/USDT:USDT", trade=trade, current_time=NOW, current_rate=100.0,
        current_profit=0.0,
    )  # fmt: skip
    assert exit_reason == "kill_switch"


def test_refused_when_the_guard_is_paused(strategy: Any) -> None:
    strategy.risk.guard = GuardDecision(GuardTier.PAUSED, "test", size_multiplier=0.0)
    assert _refused_by(strategy) == "guard_paused"


def test_refused_at_max_open_positions(strategy: Any) -> None:
    for pair, short in (("ETH/USDT:USDT", False), ("ETH/USDT:USDT", True), ("SOL", False)):
        _open(pair, is_short=short)
    assert _refused_by(strategy) == "max_open_positions"


def test_refused_for_a_second_position_in_the_same_direction(strategy: Any) -> None:
    _open("BTC/USDT:USDT", is_short=False)
    assert _refused_by(strategy, side="long") == "duplicate_direction"


def test_refused_when_the_daily_loss_limit_is_hit(strategy: Any) -> None:
    strategy.risk.store.record_equity(20_000.0, NOW)  # today started at twice the equity
    assert _refused_by(strategy) == "daily_loss"  # checked before the drawdown


def test_refused_when_the_drawdown_limit_is_hit(strategy: Any) -> None:
    state = replace(strategy.risk.store.read(), peak_equity=20_000.0, day_start_equity=None)
    strategy.risk.store.write(state)  # a peak from an earlier day
    assert _refused_by(strategy) == "drawdown"


def test_a_refusal_is_logged_once(strategy: Any, caplog: pytest.LogCaptureFixture) -> None:
    strategy.risk.guard = GuardDecision(GuardTier.PAUSED, "test", size_multiplier=0.0)
    for _ in range(3):
        _confirm(strategy)
    assert sum("refused" in r.message for r in caplog.records) == 1


def test_confirm_fails_closed_on_an_exception(strategy: Any, monkeypatch: Any) -> None:
    def boom(**_: Any) -> None:
        raise RuntimeError("broken risk desk")

    monkeypatch.setattr(strategy.risk, "entry", boom)
    assert _confirm(strategy) is False


def _stake(strategy: Any, **overrides: Any) -> float:
    args: dict[str, Any] = dict(
        pair="ETH/USDT:USDT",
        current_time=NOW,
        current_rate=2500.0,
        proposed_stake=100.0,
        min_stake=12.5,
        max_stake=9000.0,
        leverage=2.0,
        entry_tag=None,
        side="long",
    )
    args.update(overrides)
    return float(strategy.custom_stake_amount(**args))


def test_stake_is_volatility_scaled_and_capped(strategy: Any) -> None:
    stake = _stake(strategy)
    # at most 10% of the 10,000 USDT account as notional, at 2x leverage
    assert 0 < stake <= 10_000 * 0.10 / 2


def test_stake_is_zero_when_the_guard_pauses(strategy: Any) -> None:
    strategy.risk.guard = GuardDecision(GuardTier.PAUSED, "test", size_multiplier=0.0)
    assert _stake(strategy) == 0.0


def test_stake_fails_closed_on_an_exception(strategy: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(strategy, "_equity", lambda: 1 / 0)
    assert _stake(strategy) == 0.0


def test_leverage_fails_closed(strategy: Any, monkeypatch: Any) -> None:
    def boom(*_: Any) -> float:
        raise RuntimeError("broken")

    # the strategy module is loaded from a file by freqtrade: patch its globals
    hook_globals = type(strategy).leverage.__wrapped__.__globals__
    monkeypatch.setitem(hook_globals, "leverage_for_trade", boom)
    leverage = strategy.leverage(
        pair="BTC/USDT:USDT", current_time=NOW, current_rate=1.0, proposed_leverage=3.0,
        max_leverage=100.0, entry_tag=None, side="long",
    )  # fmt: skip
    assert leverage == 1.0


def test_bot_loop_trips_on_drawdown_and_locks_entries(strategy: Any) -> None:
    strategy.risk.store.record_equity(20_000.0, NOW - timedelta(hours=1))
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.risk.tripped
    assert strategy.is_pair_locked("BTC/USDT:USDT", candle_date=NOW)


def test_bot_loop_fails_closed_when_risk_evaluation_breaks(strategy: Any, monkeypatch: Any) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(strategy.risk, "on_loop", boom)
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.is_pair_locked("ETH/USDT:USDT", candle_date=NOW)


def test_guard_reduces_after_five_losses(strategy: Any) -> None:
    for hours in range(5):
        trade = _open("ETH/USDT:USDT")
        trade.close_date = NOW - timedelta(hours=10 - hours)
        trade.close_profit_abs = -1.0
        trade.is_open = False
        LocalTrade.close_bt_trade(trade)
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.risk.guard.tier is GuardTier.REDUCED
    assert pd.notna(strategy.risk.guard.reason)


def test_no_entry_on_stale_data_while_trading(strategy: Any) -> None:
    strategy.config["runmode"] = RunMode.DRY_RUN
    strategy.dp._config["runmode"] = RunMode.DRY_RUN
    # the last analysed candle opened at NOW: fresh an hour later, stale three hours later
    assert _confirm(strategy, now=NOW + timedelta(hours=1))
    assert not _confirm(strategy, now=NOW + timedelta(hours=3))
    assert strategy.refusals["BTC/USDT:USDT"] == "stale"


def test_heartbeat_once_per_hour_while_trading(
    strategy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    strategy.config["runmode"] = RunMode.DRY_RUN
    for minutes in (0, 30, 59, 60, 90):
        strategy.bot_loop_start(current_time=NOW + timedelta(minutes=minutes))
    assert sum("heartbeat: alive" in r.message for r in caplog.records) == 2


def test_alert_once_when_a_pair_stops_producing_signals(
    strategy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    strategy.config["runmode"] = RunMode.DRY_RUN
    frame, _ = strategy.dp.get_analyzed_dataframe("ETH/USDT:USDT", "1h")
    broken = frame.assign(primary_direction=np.nan)
    strategy.dp._set_cached_df("ETH/USDT:USDT", "1h", broken, CandleType.FUTURES)
    for hours in (0, 1, 2):
        strategy.bot_loop_start(current_time=NOW + timedelta(hours=hours))
    alerts = [r for r in caplog.records if "No primary signal evaluated" in r.message]
    assert [a.message for a in alerts] == [
        "No primary signal evaluated on ETH/USDT:USDT's latest candle"
    ]


def _meta_confidence(strategy: Any, pair: str, confidence: float) -> None:
    """Pretend the meta-model gave ``confidence`` on the pair's latest candle."""
    strategy.mode = StrategyMode.META
    frame, _ = strategy.dp.get_analyzed_dataframe(pair, "1h")
    frame = frame.assign(meta_confidence=confidence, do_predict=1)
    strategy.dp._set_cached_df(pair, "1h", frame, CandleType.FUTURES)
    strategy.dp._set_dataframe_max_index(pair, len(frame))
    strategy.dp._set_dataframe_max_index(pair, len(frame))


def test_a_tuned_confidence_threshold_reaches_the_risk_desk(strategy: Any) -> None:
    """One source of truth: a hyperopt threshold below the config's (0.6) admits the
    entry in the entry gate and in the pre-trade checks alike (the desk once kept 0.6)."""
    _meta_confidence(strategy, "BTC/USDT:USDT", 0.58)
    assert _refused_by(strategy) == "confidence"  # 0.58 < the configured 0.6
    strategy.confidence_threshold.value = 0.55
    assert strategy.settings.model.confidence_threshold == 0.55
    assert strategy.risk.settings is strategy.settings
    assert _refused_by(strategy) is None
