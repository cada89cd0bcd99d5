"""Kill switch: ACTIVE -> TRIPPED, and back to ACTIVE only by an explicit reset.

Three parts: :mod:`.rules` (pure: when to trip, the state value), :mod:`.store` (the
JSON state file shared with the ``metalabel`` CLI) and :mod:`.api_errors` (failed
exchange requests counted from freqtrade's log). The names below are the public API.
"""

from metalabel.risk.killswitch.api_errors import (
    EXCHANGE_LOGGER,
    FAILED_REQUEST_PATTERN,
    ApiErrorCounter,
    ExchangeApiErrorHandler,
    install_api_error_handler,
    is_failed_exchange_request,
)
from metalabel.risk.killswitch.rules import (
    RESUME_HINT,
    STATE_FILE_VERSION,
    KillDecision,
    KillState,
    KillSwitchState,
    KillTrigger,
    daily_loss_limit_hit,
    daily_loss_ratio,
    drawdown_limit_hit,
    drawdown_ratio,
    evaluate_kill_switch,
    track_equity,
)
from metalabel.risk.killswitch.store import (
    KillSwitchStore,
    MemoryKillSwitchStore,
    StateWriteError,
)

__all__ = [
    "EXCHANGE_LOGGER",
    "FAILED_REQUEST_PATTERN",
    "RESUME_HINT",
    "STATE_FILE_VERSION",
    "ApiErrorCounter",
    "ExchangeApiErrorHandler",
    "KillDecision",
    "KillState",
    "KillSwitchState",
    "KillSwitchStore",
    "KillTrigger",
    "MemoryKillSwitchStore",
    "StateWriteError",
    "daily_loss_limit_hit",
    "daily_loss_ratio",
    "drawdown_limit_hit",
    "drawdown_ratio",
    "evaluate_kill_switch",
    "install_api_error_handler",
    "is_failed_exchange_request",
    "track_equity",
]
