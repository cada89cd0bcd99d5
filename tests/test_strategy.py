"""The strategy loaded through freqtrade's resolver, on the bundled data, in every mode.

A real freqtrade Exchange object talks to the replay exchange (markets, leverage
tiers); candles come from the bundled files through freqtrade's DataProvider.
"""

import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from freqtrade.data.history import load_pair_history
from freqtrade.exceptions import OperationalException
from freqtrade.persistence import Trade
from freqtrade.resolvers import StrategyResolver

from metalabel.ops.runner import BUNDLED_DATA
from tests.conftest import load_strategy, strategy_config

PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


def _strategy(replay_url: str, mode: str, tmp_dir: Path) -> Any:
    return load_strategy(replay_url, mode, tmp_dir)


def _signals(strategy: Any, pair: str) -> pd.DataFrame:
    candles = load_pair_history(
        pair=pair, timeframe="1h", datadir=BUNDLED_DATA.parent, candle_type="futures"
    )
    candles = candles[candles["date"] < "2025-07-01"]
    analysed = strategy.advise_all_indicators({pair: candles})[pair]
    return strategy.ft_advise_signals(analysed, {"pair": pair})


@pytest.mark.parametrize("mode", ["primary", "primary_regime"])
@pytest.mark.parametrize("pair", PAIRS)
def test_entries_in_both_directions_with_named_gates(
    tmp_path: Path, replay_url: str, mode: str, pair: str
) -> None:
    signals = _signals(_strategy(replay_url, mode, tmp_path), pair)
    assert signals["enter_long"].sum() > 0
    assert signals["enter_short"].sum() > 0
    tags = set(signals.loc[signals["enter_long"].eq(1) | signals["enter_short"].eq(1), "enter_tag"])
    assert tags == {f"{mode}_long", f"{mode}_short"}
    longs = signals["enter_long"] == 1
    assert signals.loc[longs, "primary_long"].all()
    if mode == "primary_regime":
        assert signals.loc[longs, "regime_ok_long"].all()
        assert signals.loc[signals["enter_short"] == 1, "regime_ok_short"].all()
    # the 4h confirmation and the funding features come through the dataprovider
    assert signals["trend_4h"].notna().sum() > 0
    assert signals["funding_rate"].abs().sum() > 0


def test_regime_filter_only_removes_entries(tmp_path: Path, replay_url: str) -> None:
    primary = _signals(_strategy(replay_url, "primary", tmp_path), "BTC/USDT:USDT")
    gated = _signals(_strategy(replay_url, "primary_regime", tmp_path), "BTC/USDT:USDT")
    assert 0 < gated["enter_long"].sum() < primary["enter_long"].sum()
    assert not (gated["enter_long"].eq(1) & primary["enter_long"].ne(1)).any()


def test_exit_settings_are_converted_for_freqtrade(tmp_path: Path, replay_url: str) -> None:
    strategy = _strategy(replay_url, "primary", tmp_path)
    assert strategy.stoploss == pytest.approx(-0.04)  # 2% price move at leverage 2
    assert strategy.use_custom_stoploss is True
    assert strategy.trailing_stop is False


def test_invalid_metalabel_block_stops_the_strategy_naming_the_key(
    tmp_path: Path, replay_url: str
) -> None:
    config = strategy_config(replay_url, {"metalabel": {"risk": {"leverage": 10}}}, tmp_path)
    with pytest.raises(OperationalException, match=r"metalabel\.risk\.leverage"):
        StrategyResolver.load_strategy(config)


def _trade(is_short: bool, open_rate: float = 100.0, *, hours_ago: float = 1.0) -> Trade:
    now = datetime.now(UTC)
    trade = Trade(
        pair="BTC/USDT:USDT",
        open_rate=open_rate,
        open_date=now - timedelta(hours=hours_ago),
        amount=1.0,
        stake_amount=50.0,
        fee_open=0.0006,
        fee_close=0.0006,
        exchange="bybit",
        is_short=is_short,
        leverage=2.0,
        trading_mode="futures",
    )
    trade.max_rate = open_rate
    trade.min_rate = open_rate
    return trade


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (23, None),  # still inside the 24-candle holding limit
        (24, "time_exit"),  # held exactly 24 candles
    ],
)
def test_time_exit(tmp_path: Path, replay_url: str, hours: float, expected: str | None) -> None:
    strategy = _strategy(replay_url, "primary", tmp_path)
    trade = _trade(False, hours_ago=hours)
    now = trade.open_date_utc + timedelta(hours=hours)
    assert (
        strategy.custom_exit(
            pair="BTC/USDT:USDT",
            trade=trade,
            current_time=now,
            current_rate=100.0,
            current_profit=0.0,
        )
        == expected
    )


@pytest.mark.parametrize(
    ("is_short", "peak", "current", "stop"),
    [
        (False, 100.5, 100.5, 98.0),  # long, trail not active: the fixed 2% stop
        (False, 102.0, 101.5, 100.98),  # long, +2% seen: 1% behind the peak
        (True, 99.5, 99.5, 102.0),  # short, trail not active: the fixed 2% stop
        (True, 98.0, 98.5, 98.98),  # short, -2% seen: 1% above the trough
    ],
)
def test_custom_stoploss_places_the_fixed_then_the_trailing_stop(
    tmp_path: Path, replay_url: str, is_short: bool, peak: float, current: float, stop: float
) -> None:
    strategy = _strategy(replay_url, "primary", tmp_path)
    trade = _trade(is_short)
    if is_short:
        trade.min_rate = peak
    else:
        trade.max_rate = peak
    now = datetime.now(UTC)
    ratio = strategy.custom_stoploss(
        pair="BTC/USDT:USDT",
        trade=trade,
        current_time=now,
        current_rate=current,
        current_profit=0.0,
        after_fill=False,
    )
    # freqtrade places the stop at current * (1 -/+ ratio / leverage)
    placed = current * (1 + ratio / 2) if is_short else current * (1 - ratio / 2)
    assert placed == pytest.approx(stop, rel=1e-9)


def test_custom_roi_is_the_take_profit_move(tmp_path: Path, replay_url: str) -> None:
    strategy = _strategy(replay_url, "primary", tmp_path)
    roi = strategy.custom_roi(
        pair="BTC/USDT:USDT",
        trade=_trade(False),
        current_time=datetime.now(UTC),
        trade_duration=60,
        entry_tag=None,
        side="long",
    )
    # 3% price move at 2x, net of 0.06% fees each way (see tests/test_exits.py)
    assert roi == pytest.approx(2 * (1.03 * (1 - 0.0006) - 1.0006) / 1.0006)


def test_hyperopt_parameters_default_to_the_config(tmp_path: Path, replay_url: str) -> None:
    overrides = {
        "metalabel": {"mode": "primary", "regime": {"adx_threshold": 30}},
        "freqai": {"enabled": False},
    }
    strategy = StrategyResolver.load_strategy(strategy_config(replay_url, overrides, tmp_path))
    strategy.ft_bot_start()
    assert strategy.adx_threshold.value == 30.0
    assert strategy.stop_loss_ratio.value == 0.02
    assert strategy.settings.regime.adx_threshold == 30.0


def _leverage(strategy: Any, *, proposed: float, max_leverage: float) -> float:
    return float(
        strategy.leverage(
            pair="BTC/USDT:USDT", current_time=datetime.now(UTC), current_rate=100.0,
            proposed_leverage=proposed, max_leverage=max_leverage, entry_tag=None, side="long",
        )
    )  # fmt: skip


def test_leverage_hook_returns_the_configured_leverage_and_fails_closed(
    tmp_path: Path, replay_url: str
) -> None:
    strategy = _strategy(replay_url, "primary", tmp_path)
    assert _leverage(strategy, proposed=1.0, max_leverage=100.0) == 2.0
    assert _leverage(strategy, proposed=1.0, max_leverage=1.5) == 1.5
    # an unusable maximum (the exchange did not say) falls back to 1x, not the proposal
    assert _leverage(strategy, proposed=5.0, max_leverage=float("nan")) == 1.0


def test_plot_config_names_columns_the_strategy_writes(tmp_path: Path, replay_url: str) -> None:
    strategy = _strategy(replay_url, "primary", tmp_path)
    signals = _signals(strategy, "BTC/USDT:USDT")
    plotted = set(strategy.plot_config["main_plot"])
    for panel in strategy.plot_config["subplots"].values():
        plotted |= set(panel)
    meta_only = {"meta_confidence", "do_predict"}
    assert plotted - meta_only <= set(signals.columns)


def test_data_files_used_are_in_place() -> None:
    assert Path(BUNDLED_DATA / "BTC_USDT_USDT-4h-futures.feather").exists()


# The hooks the strategy implements, as freqtrade 2026.9 declares them.
CALLBACKS = (
    "custom_exit", "custom_roi", "custom_stoploss", "bot_start", "bot_loop_start",
    "confirm_trade_entry", "custom_stake_amount", "check_entry_timeout", "order_filled",
    "leverage", "populate_indicators", "populate_entry_trend", "populate_exit_trend",
    "feature_engineering_standard", "set_freqai_targets",
)  # fmt: skip


@pytest.mark.parametrize("name", CALLBACKS)
def test_callback_signatures_match_freqtrade(name: str, tmp_path: Path, replay_url: str) -> None:
    """freqtrade calls the hooks by keyword: a renamed parameter would go unnoticed."""
    from freqtrade.strategy import IStrategy

    strategy = _strategy(replay_url, "primary", tmp_path)
    ours = inspect.signature(getattr(type(strategy), name))
    theirs = inspect.signature(getattr(IStrategy, name))
    assert list(ours.parameters) == list(theirs.parameters)


def test_a_configured_stop_wider_than_the_default_reaches_freqtrades_static_stop(
    tmp_path: Path, replay_url: str
) -> None:
    # freqtrade loads parameter values after __init__ and never loosens a stop: a static
    # stop computed before them would cut a configured 2.5 % stop to the default 2 %
    wide = {"metalabel": {"exits": {"stop_loss_ratio": 0.025, "take_profit_ratio": 0.04}}}
    strategy = load_strategy(replay_url, "primary", tmp_path, wide)
    assert strategy.settings.exits.stop_loss_ratio == 0.025
    assert strategy.stoploss == pytest.approx(-0.05)  # 2.5 % price move at leverage 2
