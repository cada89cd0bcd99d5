"""Typed, frozen settings for this project, read from the ``metalabel`` block of a freqtrade config.

Every threshold the strategy, the labeller and the risk code use lives here, once.
A config without the block gets the defaults; a wrong type, an unknown key or an
out-of-range value raises :class:`ConfigError` naming the key and the allowed range,
so a bad setting stops the bot at startup instead of trading on it.

Ratios are fractions (0.02 = 2 %), durations are in candles of the strategy timeframe.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, get_type_hints

from metalabel.config_fields import ConfigError, build, coerce, reference_rows
from metalabel.config_fields import number_in as _num
from metalabel.config_fields import one_of as _choice

CONFIG_BLOCK = "metalabel"

# The hard leverage cap of the design; a config asking for more is rejected, never clipped.
LEVERAGE_HARD_CAP = 3.0
# Bybit's maintenance margin rate for the smallest USDT-perpetual risk tier (BTC, ETH).
# An isolated position is liquidated after a price move of about 1/leverage - this, so a
# stop at or beyond that distance would never fire before the liquidation.
MAINTENANCE_MARGIN_RATIO = 0.005
# Most notional, as a share of equity, that all open positions may reach together at
# their cap (max_position_ratio x max_open_positions): the account as a whole is never
# levered beyond 1x, whatever the per-trade leverage (which only sets the margin).
MAX_TOTAL_EXPOSURE_RATIO = 1.0


def liquidation_move_ratio(leverage: float) -> float:
    """The adverse price move that liquidates an isolated position (Bybit, lowest tier).

    >>> round(liquidation_move_ratio(3.0), 6)
    0.328333
    """
    return 1.0 / leverage - MAINTENANCE_MARGIN_RATIO


class StrategyMode(StrEnum):
    """Which gates decide an entry; the non-model modes are the evaluation's baselines."""

    PRIMARY = "primary"  # v1: primary signal and risk rules only
    PRIMARY_REGIME = "primary_regime"  # primary signal admitted by the regime filter
    META = "meta"  # primary + regime + the meta-model's confidence gate


class Calibration(StrEnum):
    """Probability calibration of the meta-model on its purged out-of-fold predictions."""

    NONE = "none"
    ISOTONIC = "isotonic"
    SIGMOID = "sigmoid"


@dataclass(frozen=True)
class SignalSettings:
    """Primary trend signal: votes of EMA fast/slow, RSI extremes and the MACD cross."""

    ema_fast_period: int = field(default=9, metadata=_num(2, 500))
    ema_slow_period: int = field(default=21, metadata=_num(3, 500))
    ema_trend_period: int = field(default=50, metadata=_num(5, 1000))
    rsi_period: int = field(default=14, metadata=_num(2, 200))
    rsi_oversold: float = field(default=30.0, metadata=_num(0, 100, lo_open=True, hi_open=True))
    rsi_overbought: float = field(default=70.0, metadata=_num(0, 100, lo_open=True, hi_open=True))
    macd_fast_period: int = field(default=12, metadata=_num(2, 200))
    macd_slow_period: int = field(default=26, metadata=_num(3, 400))
    macd_signal_period: int = field(default=9, metadata=_num(2, 200))
    ema_vote_weight: float = field(default=1.0, metadata=_num(0, 10))
    rsi_vote_weight: float = field(default=1.0, metadata=_num(0, 10))
    macd_vote_weight: float = field(default=1.0, metadata=_num(0, 10))
    # A direction needs a weighted vote of at least this share of the total weight.
    min_vote_ratio: float = field(default=0.6, metadata=_num(0, 1, lo_open=True))
    # Require the 4h trend (EMA fast vs slow on 4h candles) to agree with the direction.
    use_4h_confirmation: bool = True

    def validate(self) -> None:
        if not self.ema_fast_period < self.ema_slow_period < self.ema_trend_period:
            raise ConfigError(
                "metalabel.signal: ema_fast_period < ema_slow_period < ema_trend_period is "
                f"required, got {self.ema_fast_period}, {self.ema_slow_period}, "
                f"{self.ema_trend_period}"
            )
        if not self.rsi_oversold < self.rsi_overbought:
            raise ConfigError(
                "metalabel.signal: rsi_oversold must be below rsi_overbought, got "
                f"{self.rsi_oversold} >= {self.rsi_overbought}"
            )
        if not self.macd_fast_period < self.macd_slow_period:
            raise ConfigError(
                "metalabel.signal: macd_fast_period must be below macd_slow_period, got "
                f"{self.macd_fast_period} >= {self.macd_slow_period}"
            )
        if self.ema_vote_weight + self.rsi_vote_weight + self.macd_vote_weight <= 0:
            raise ConfigError("metalabel.signal: at least one *_vote_weight must be above 0")


@dataclass(frozen=True)
class RegimeSettings:
    """Market regime gate: ADX trend strength and ATR volatility ratio."""

    enabled: bool = True
    adx_period: int = field(default=14, metadata=_num(2, 200))
    adx_threshold: float = field(default=25.0, metadata=_num(0, 100, lo_open=True, hi_open=True))
    atr_period: int = field(default=14, metadata=_num(2, 200))
    atr_mean_candles: int = field(default=50, metadata=_num(5, 5000))
    # ATR above this multiple of its rolling mean is HIGH_VOLATILITY.
    high_volatility_atr_ratio: float = field(default=2.0, metadata=_num(1, 20, lo_open=True))
    high_volatility_size_multiplier: float = field(default=0.5, metadata=_num(0, 1, lo_open=True))
    momentum_candles: int = field(default=10, metadata=_num(1, 500))
    allow_ranging: bool = False


@dataclass(frozen=True)
class ExitSettings:
    """Exit policy as price moves; the strategy trades it and the labeller simulates it."""

    stop_loss_ratio: float = field(default=0.02, metadata=_num(0, 0.5, lo_open=True))
    take_profit_ratio: float = field(default=0.03, metadata=_num(0, 2, lo_open=True))
    trailing_enabled: bool = True
    trailing_activation_ratio: float = field(default=0.01, metadata=_num(0, 1, lo_open=True))
    trailing_distance_ratio: float = field(default=0.01, metadata=_num(0, 0.5, lo_open=True))
    exit_on_reversal: bool = True
    time_exit_enabled: bool = True
    max_holding_candles: int = field(default=24, metadata=_num(1, 24 * 60))

    def validate(self) -> None:
        if self.stop_loss_ratio >= self.take_profit_ratio:
            raise ConfigError(
                "metalabel.exits.stop_loss_ratio: must be below take_profit_ratio, got "
                f"{self.stop_loss_ratio} >= {self.take_profit_ratio}"
            )
        if self.trailing_enabled and self.trailing_distance_ratio >= self.stop_loss_ratio * 10:
            raise ConfigError(
                "metalabel.exits.trailing_distance_ratio: must be below 10x stop_loss_ratio, got "
                f"{self.trailing_distance_ratio} with stop_loss_ratio {self.stop_loss_ratio}"
            )


@dataclass(frozen=True)
class CostSettings:
    """Trading costs used by the labeller (freqtrade's backtest uses the exchange fee)."""

    # The taker fee of the bundled Bybit market spec (what freqtrade's backtest charges),
    # paid on entry and on exit.
    fee_ratio: float = field(default=0.0006, metadata=_num(0, 0.01))
    base_slippage_ratio: float = field(default=0.0001, metadata=_num(0, 0.01))
    slippage_volatility_scaled: bool = True
    include_funding: bool = True


@dataclass(frozen=True)
class ModelSettings:
    """Meta-model gate and training settings that are ours rather than FreqAI's."""

    # Below 0.5 the model would trade signals it expects to lose more often than win.
    confidence_threshold: float = field(default=0.6, metadata=_num(0.5, 1, hi_open=True))
    # Fitted on purged out-of-fold predictions: the confidence is a probability.
    calibration: Calibration = field(default=Calibration.SIGMOID, metadata=_choice(Calibration))
    # Purged time-series folds inside each training window: they choose the number of
    # trees and give the out-of-fold predictions calibration and promotion are judged on.
    cv_splits: int = field(default=5, metadata=_num(2, 20))
    # After a test block, this many 1h candles of entries are left out of training.
    embargo_candles: int = field(default=24, metadata=_num(0, 1000))
    min_training_events: int = field(default=50, metadata=_num(2, 1_000_000))
    seed: int = field(default=42, metadata=_num(0, 2**31 - 1))


@dataclass(frozen=True)
class RiskSettings:
    """Sizing and exposure; leverage above the hard cap of 3 is refused, never clipped."""

    leverage: float = field(default=2.0, metadata=_num(1, LEVERAGE_HARD_CAP))
    base_position_ratio: float = field(default=0.02, metadata=_num(0, 1, lo_open=True))
    max_position_ratio: float = field(default=0.10, metadata=_num(0, 1, lo_open=True))
    target_daily_volatility_ratio: float = field(default=0.01, metadata=_num(0, 1, lo_open=True))
    volatility_lookback_days: int = field(default=20, metadata=_num(2, 365))
    max_volatility_multiplier: float = field(default=2.0, metadata=_num(0, 10, lo_open=True))
    max_open_positions: int = field(default=3, metadata=_num(1, 50))

    def validate(self) -> None:
        if self.base_position_ratio > self.max_position_ratio:
            raise ConfigError(
                "metalabel.risk.base_position_ratio: must not exceed max_position_ratio, got "
                f"{self.base_position_ratio} > {self.max_position_ratio}"
            )


@dataclass(frozen=True)
class GuardSettings:
    """Performance guard tiers NORMAL / REDUCED / PAUSED from recent closed trades."""

    enabled: bool = True
    win_rate_window_trades: int = field(default=20, metadata=_num(2, 1000))
    reduced_win_rate: float = field(default=0.40, metadata=_num(0, 1))
    paused_win_rate: float = field(default=0.30, metadata=_num(0, 1))
    reduced_losing_streak: int = field(default=5, metadata=_num(1, 1000))
    paused_losing_streak: int = field(default=10, metadata=_num(1, 1000))
    reduced_drawdown_ratio: float = field(default=0.05, metadata=_num(0, 1, lo_open=True))
    paused_drawdown_ratio: float = field(default=0.10, metadata=_num(0, 1, lo_open=True))
    reduced_size_multiplier: float = field(default=0.5, metadata=_num(0, 1, lo_open=True))
    reduced_threshold_increase: float = field(default=0.1, metadata=_num(0, 0.5))
    recovery_window_trades: int = field(default=10, metadata=_num(2, 1000))
    recovery_win_rate: float = field(default=0.45, metadata=_num(0, 1))
    recovery_drawdown_ratio: float = field(default=0.05, metadata=_num(0, 1, lo_open=True))
    recovery_winning_streak: int = field(default=3, metadata=_num(1, 1000))
    # A paused bot closes no trades, so nothing could ever lift the pause: after this
    # many candles without a new PAUSED trigger it steps down to REDUCED on probation.
    paused_cooldown_candles: int = field(default=24, metadata=_num(1, 10_000))

    def validate(self) -> None:
        if self.paused_win_rate > self.reduced_win_rate:
            raise ConfigError(
                "metalabel.guard.paused_win_rate: must not exceed reduced_win_rate, got "
                f"{self.paused_win_rate} > {self.reduced_win_rate}"
            )
        if self.paused_losing_streak < self.reduced_losing_streak:
            raise ConfigError(
                "metalabel.guard.paused_losing_streak: must be at least reduced_losing_streak, "
                f"got {self.paused_losing_streak} < {self.reduced_losing_streak}"
            )
        if self.paused_drawdown_ratio < self.reduced_drawdown_ratio:
            raise ConfigError(
                "metalabel.guard.paused_drawdown_ratio: must be at least reduced_drawdown_ratio,"
                f" got {self.paused_drawdown_ratio} < {self.reduced_drawdown_ratio}"
            )


@dataclass(frozen=True)
class KillSwitchSettings:
    """Emergency stop: ACTIVE -> TRIPPED, back to ACTIVE only by ``metalabel resume``."""

    enabled: bool = True
    # A limit of 1 (100 %) could only trip once the account is gone.
    max_drawdown_ratio: float = field(default=0.15, metadata=_num(0, 1, lo_open=True, hi_open=True))
    max_daily_loss_ratio: float = field(
        default=0.05, metadata=_num(0, 1, lo_open=True, hi_open=True)
    )
    api_error_limit: int = field(default=10, metadata=_num(1, 10_000))
    api_error_window_seconds: int = field(default=60, metadata=_num(1, 86_400))
    low_confidence_enabled: bool = True
    low_confidence_window_candles: int = field(default=168, metadata=_num(1, 10_000))
    low_confidence_ratio: float = field(default=0.5, metadata=_num(0, 1, lo_open=True))
    close_positions: bool = True
    # Relative to freqtrade's user_data directory; read every loop, so `metalabel kill`
    # and `metalabel resume` act on a running bot.
    state_file: str = "metalabel_state/kill_switch.json"

    def validate(self) -> None:
        path = PurePosixPath(self.state_file)
        if not self.state_file or path.is_absolute() or ".." in path.parts:
            raise ConfigError(
                "metalabel.kill_switch.state_file: must be a relative path inside user_data, "
                f"got {self.state_file!r}"
            )


@dataclass(frozen=True)
class LifecycleSettings:
    """Model promotion on the hold-out and live rollback (seed v2 "Model Lifecycle")."""

    enabled: bool = True
    min_sharpe_ratio: float = field(default=0.9, metadata=_num(0, 2))
    min_profit_factor_ratio: float = field(default=0.9, metadata=_num(0, 2))
    max_drawdown_ratio: float = field(default=1.1, metadata=_num(1, 10))
    min_holdout_trades: int = field(default=50, metadata=_num(1, 100_000))
    rollback_sharpe_ratio: float = field(default=0.7, metadata=_num(0, 1))
    rollback_drawdown_ratio: float = field(default=1.5, metadata=_num(1, 10))
    rollback_min_trades: int = field(default=20, metadata=_num(1, 100_000))


@dataclass(frozen=True)
class OperationsSettings:
    """Unattended running: heartbeat and the stale-data entry block."""

    heartbeat_minutes: int = field(default=60, metadata=_num(1, 1440))
    # No entry when the last closed candle closed longer ago than one timeframe plus this.
    stale_data_grace_minutes: int = field(default=10, metadata=_num(0, 1440))


@dataclass(frozen=True)
class JournalSettings:
    """The decision journal and daily report of live and dry runs (never backtests)."""

    enabled: bool = True
    # Daily journal files (and daily reports) older than this are deleted.
    retention_days: int = field(default=30, metadata=_num(1, 3650))
    # Relative to freqtrade's user_data directory.
    directory: str = "logs/journal"

    def validate(self) -> None:
        path = PurePosixPath(self.directory)
        if not self.directory or path.is_absolute() or ".." in path.parts:
            raise ConfigError(
                "metalabel.journal.directory: must be a relative path inside user_data, "
                f"got {self.directory!r}"
            )


@dataclass(frozen=True)
class MetalabelConfig:
    """All of this project's settings; build it with :func:`load_config`."""

    mode: StrategyMode = field(default=StrategyMode.META, metadata=_choice(StrategyMode))
    signal: SignalSettings = field(default_factory=SignalSettings)
    regime: RegimeSettings = field(default_factory=RegimeSettings)
    exits: ExitSettings = field(default_factory=ExitSettings)
    costs: CostSettings = field(default_factory=CostSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    guard: GuardSettings = field(default_factory=GuardSettings)
    kill_switch: KillSwitchSettings = field(default_factory=KillSwitchSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    operations: OperationsSettings = field(default_factory=OperationsSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)

    def validate(self) -> None:
        """Rules across sections; each message names the key to change."""
        for section in dataclasses.fields(self):
            validate = getattr(getattr(self, section.name), "validate", None)
            if validate is not None:
                validate()
        stop, leverage = self.exits.stop_loss_ratio, self.risk.leverage
        liquidation = liquidation_move_ratio(leverage)
        if stop >= liquidation:
            raise ConfigError(
                f"metalabel.exits.stop_loss_ratio: {stop} at metalabel.risk.leverage "
                f"{leverage:g} is at or beyond the liquidation distance {liquidation:.4f} "
                f"(1/leverage - maintenance margin {MAINTENANCE_MARGIN_RATIO}); the position "
                "would be liquidated before its stop"
            )
        exposure = self.risk.max_position_ratio * self.risk.max_open_positions
        if exposure > MAX_TOTAL_EXPOSURE_RATIO + 1e-12:
            raise ConfigError(
                f"metalabel.risk.max_position_ratio: {self.risk.max_position_ratio} x "
                f"max_open_positions {self.risk.max_open_positions} = {exposure:.4g} of equity "
                f"in notional (leverage included) exceeds the cap {MAX_TOTAL_EXPOSURE_RATIO:g}"
            )
        guard, kill = self.guard, self.kill_switch
        if guard.enabled and kill.enabled:
            for name in ("reduced_drawdown_ratio", "paused_drawdown_ratio"):
                value = getattr(guard, name)
                if value >= kill.max_drawdown_ratio:
                    raise ConfigError(
                        f"metalabel.guard.{name}: must be below metalabel.kill_switch."
                        f"max_drawdown_ratio, got {value} >= {kill.max_drawdown_ratio} (the "
                        "guard steps in before the kill switch)"
                    )


def checked_setting(section: str, name: str, value: Any) -> Any:
    """``value`` for ``metalabel.<section>.<name>``, type- and range-checked like the block.

    For values that reach the settings from elsewhere (hyperopt's parameter file), so
    they pass the same gate as the config.

    >>> checked_setting("regime", "adx_threshold", 30)
    30.0
    >>> checked_setting("exits", "stop_loss_ratio", 0.9)
    Traceback (most recent call last):
    ...
    metalabel.config.ConfigError: metalabel.exits.stop_loss_ratio: must be in (0, 0.5], got 0.9
    """
    key = f"{CONFIG_BLOCK}.{section}.{name}"
    fields = _section_fields().get(section)
    if fields is None:
        raise ConfigError(f"{CONFIG_BLOCK}.{section}: unknown section")
    if name not in fields:
        raise ConfigError(f"{key}: unknown setting; allowed keys are {sorted(fields)}")
    if hasattr(value, "item") and not isinstance(value, (bool, int, float, str)):
        value = value.item()  # a numpy scalar from hyperopt
    kind, metadata = fields[name]
    return coerce(key, value, kind, metadata)


@functools.cache
def _section_fields() -> dict[str, dict[str, tuple[Any, Mapping[str, Any]]]]:
    """section -> setting -> (type, metadata); cached: the strategy checks tuned values
    on every stop-loss call."""
    sections: dict[str, dict[str, tuple[Any, Mapping[str, Any]]]] = {}
    for section, cls in get_type_hints(MetalabelConfig).items():
        if dataclasses.is_dataclass(cls):
            hints = get_type_hints(cls)
            sections[section] = {
                f.name: (hints[f.name], f.metadata) for f in dataclasses.fields(cls)
            }
    return sections


def load_config(freqtrade_config: Mapping[str, Any]) -> MetalabelConfig:
    """Parse and validate the ``metalabel`` block of a freqtrade config dict.

    >>> load_config({}).exits.stop_loss_ratio
    0.02
    >>> load_config({"metalabel": {"risk": {"leverage": 5}}})
    Traceback (most recent call last):
    ...
    metalabel.config.ConfigError: metalabel.risk.leverage: must be in [1, 3], got 5.0
    """
    return build(MetalabelConfig, freqtrade_config.get(CONFIG_BLOCK), CONFIG_BLOCK)


def settings_reference() -> list[tuple[str, str, str, str]]:
    """Every setting as (key, type, default, allowed) rows, for the README and the CLI."""
    return reference_rows(MetalabelConfig, CONFIG_BLOCK)


__all__ = [
    "CONFIG_BLOCK",
    "LEVERAGE_HARD_CAP",
    "MAINTENANCE_MARGIN_RATIO",
    "MAX_TOTAL_EXPOSURE_RATIO",
    "Calibration",
    "ConfigError",
    "CostSettings",
    "ExitSettings",
    "GuardSettings",
    "KillSwitchSettings",
    "LifecycleSettings",
    "MetalabelConfig",
    "ModelSettings",
    "OperationsSettings",
    "RegimeSettings",
    "RiskSettings",
    "SignalSettings",
    "StrategyMode",
    "checked_setting",
    "liquidation_move_ratio",
    "load_config",
    "settings_reference",
]
