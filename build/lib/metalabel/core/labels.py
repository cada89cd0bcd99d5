"""Triple-barrier labels with costs. THIS IS THE ONLY MODULE OF THE PROJECT THAT READS THE FUTURE.

Every function here looks at candles after the one it labels; nothing here may be called
from signal, feature or strategy code that runs on live candles. The meta-model learns
"would the primary trade have paid after costs?", so the labeller simulates the same exit
policy the strategy trades (:class:`~metalabel.config.ExitSettings`) with the same costs
(:class:`~metalabel.config.CostSettings`), one independent trade per event.

Rules (all implementations below share them; the tests pin each one):

* Event: ``direction[i]`` is +1 (long) or -1 (short), 0 means no event. Whether the regime
  admits the signal is decided upstream: pass 0 where it does not.
* Entry at the OPEN of bar ``e = i + 1`` (the signal is only known at bar i's close). That
  open, ``p0``, is the reference price: barriers sit at ``p0 * (1 -/+ ratio)`` as in
  freqtrade's backtest, where ``open_rate`` is the candle open. Slippage only moves fills.
* Barriers are touched on high/low, first touch wins, starting with the entry bar itself.
  Long: stop ``p0*(1-sl)``, take-profit ``p0*(1+tp)``; short mirrored.
* Trailing stop: once the peak (long: highest high since entry, short: lowest low) reached
  ``p0*(1+activation)`` the trailing level is ``peak*(1-distance)`` (short:
  ``trough*(1+distance)``); the effective stop is the tighter of fixed and trailing, and
  the hit is reported as ``trailing`` only when the trailing level is strictly tighter.
* Each bar k is processed in time order: first its OPEN, then its range.

  - At the open of k (k > e), with the stop from the peak through bar k-1: a gap at or
    beyond the stop exits at the open (``loss``/``trailing``); else a gap at or beyond the
    take-profit exits at the open (``profit``, better than the barrier); else, if
    ``direction[k-1] == -d`` and reversal exits are on, exit at the open (``reversal``,
    the reversal was known at bar k-1's close); else, at ``k == e + horizon``, exit at the
    open (``time``) if time exits are on, otherwise the trade is unresolved (NaN).
    Resting barrier orders fill on the opening print before the bot acts on the close.
  - In the range of k (k < e + horizon): low <= stop exits at the stop price, else
    high >= take-profit exits at the take-profit price. A bar touching BOTH counts as the
    STOP (conservative: the order of the touches inside the bar is unknown).
  - Only then is the peak updated with bar k's extreme, so the trailing level that tests
    bar k is set by bars up to k-1: a bar cannot both raise the trailing stop and hit it.
* Time exit: at the open of bar ``i + 1 + max_holding_candles``, i.e. held exactly
  ``max_holding_candles`` candles; a reversal due at the same open is named ``reversal``.
  With time exits off, the search ends at the open of bar ``i + 1 + horizon_candles``
  (default ``max_holding_candles``) and a trade still open there is NaN.
* Past the data: if the exit bar would be ``>= n`` the event gets no label (NaN, barrier
  0, holding -1, exit_index -1). A trade that resolves before the end is labelled even if
  its full horizon would run past the data. Rows without an event are NaN too.
* ``holding_candles`` = candles held, rounded up: ``k - e`` for an exit at the open of k,
  ``k - e + 1`` for an exit inside bar k. So 1 .. horizon.
* Costs, with ``s`` the slippage ratio of the event (``base * clip(vol_scale[i], 0.5, 5)``,
  NaN scale -> 1.0, or just ``base``), fills ``entry = p0*(1 + d*s)`` and
  ``exit = x*(1 - d*s)`` for a raw exit price x::

      gross_return = d * (x - p0) / p0                  # frictionless, barrier = exactly +tp/-sl
      r            = exit / entry
      net_return   = d * (r - 1) - fee * (1 + r) - d * sum(funding_rate[e+1 .. k])

  The fee is charged on the entry and the exit notional. Funding is a ratio of the entry
  notional: a positive rate is paid by longs and received by shorts.
* Funding window: ``funding_rate[k]`` is the rate settled at bar k's OPEN time t_k. The
  position counts as open at t if ``t_e < t <= t_k`` where k is ``exit_index``: the entry
  fills just after t_e (the bot reacts to bar i's close), so the settlement at t_e is
  missed; an exit at the open of bar k also fills just after t_k, so that one is paid.

Worked example (long, tp 3 %, sl 2 %, trailing from +1 % at 1 % distance, horizon 3)::

    bar  open   high   low    direction
     0   100.0  101.0  99.0   +1        signal, known at bar 0's close
     1   100.0  101.5  99.5    0        entry at 100.0 (e=1); stop 98, tp 103: no touch;
                                        then peak 101.5 >= 101 activates the trail 100.485
     2   101.0  102.0  100.4   0        stop max(98, 100.485): low 100.4 touches it ->
                                        exit at 100.485, barrier "trailing"; high 102
                                        would have raised the trail but comes too late
    gross 0.485 %, holding_candles 2, exit_index 2, funding of bar 2 only (t_1 < t <= t_2).

Had bars 1 and 2 touched nothing, the time exit is the open of bar 4 = 0 + 1 + 3 (held 3
candles, funding of bars 2, 3 and 4). With the trail off, a bar 2 with low 97.5 and high
103.5 is a ``loss`` at 98 (both touched), and a bar 2 opening at 97.0 is a ``loss`` at
97.0 (gap through the stop).

Three implementations compute the same thing: :func:`label_events_arrays` (a numba kernel,
used in production), :func:`label_events_loop` (a plain per-event loop, the oracle of the
property test) and :func:`label_events_pandas_loop` (an mlfinlab-shaped per-event loop
over pandas slices, kept only as the benchmark's baseline).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import IntEnum
from typing import Any, NamedTuple, TypedDict, TypeVar, cast

import numba
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from metalabel.config import CostSettings, ExitSettings

logger = logging.getLogger(__name__)

LABEL_TAKE = "take"
LABEL_SKIP = "skip"
LABEL_CLASSES = (LABEL_SKIP, LABEL_TAKE)

# Per-event slippage multiplier bounds (vol_scale is e.g. ATR / its rolling mean).
VOL_SCALE_MIN = 0.5
VOL_SCALE_MAX = 5.0


class Barrier(IntEnum):
    """Which exit closed the simulated trade; ``NONE`` where there is no label."""

    NONE = 0
    PROFIT = 1
    LOSS = 2
    TRAILING = 3
    TIME = 4
    REVERSAL = 5

    @property
    def label(self) -> str:
        """Lower-case name, as written to the ``barrier`` column."""
        return self.name.lower()


# Plain ints so that the compiled kernel sees compile-time constants.
_PROFIT = int(Barrier.PROFIT)
_LOSS = int(Barrier.LOSS)
_TRAILING = int(Barrier.TRAILING)
_TIME = int(Barrier.TIME)
_REVERSAL = int(Barrier.REVERSAL)


class LabelParams(TypedDict):
    """Keyword arguments of the ``label_events_*`` functions, built by :func:`label_params`."""

    take_profit_ratio: float
    stop_loss_ratio: float
    trailing_enabled: bool
    trailing_activation_ratio: float
    trailing_distance_ratio: float
    exit_on_reversal: bool
    time_exit_enabled: bool
    max_holding_candles: int
    horizon_candles: int | None
    fee_ratio: float
    base_slippage_ratio: float
    slippage_volatility_scaled: bool
    include_funding: bool


class LabelArrays(NamedTuple):
    """Per-candle results; rows without a resolved event hold the "no label" values."""

    label: NDArray[np.object_]  # "take" / "skip" / NaN
    net_return: NDArray[np.float64]  # NaN where no label
    gross_return: NDArray[np.float64]  # NaN where no label
    barrier: NDArray[np.int8]  # Barrier code, 0 where no label
    holding_candles: NDArray[np.int64]  # -1 where no label
    exit_index: NDArray[np.int64]  # bar of the exit (its open or its range), -1 where none


def label_params(
    exits: ExitSettings, costs: CostSettings, *, horizon_candles: int | None = None
) -> LabelParams:
    """The labeller's keyword arguments from the settings the strategy trades with."""
    return LabelParams(
        take_profit_ratio=exits.take_profit_ratio,
        stop_loss_ratio=exits.stop_loss_ratio,
        trailing_enabled=exits.trailing_enabled,
        trailing_activation_ratio=exits.trailing_activation_ratio,
        trailing_distance_ratio=exits.trailing_distance_ratio,
        exit_on_reversal=exits.exit_on_reversal,
        time_exit_enabled=exits.time_exit_enabled,
        max_holding_candles=exits.max_holding_candles,
        horizon_candles=horizon_candles,
        fee_ratio=costs.fee_ratio,
        base_slippage_ratio=costs.base_slippage_ratio,
        slippage_volatility_scaled=costs.slippage_volatility_scaled,
        include_funding=costs.include_funding,
    )


# --------------------------------------------------------------------------- validation


class _Inputs(NamedTuple):
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    direction: NDArray[np.int8]
    vol_scale: NDArray[np.float64]  # raw (NaN and out-of-range allowed)
    funding_rate: NDArray[np.float64]  # raw (NaN = no funding)
    horizon: int


def _float_array(name: str, values: ArrayLike, n: int) -> NDArray[np.float64]:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {arr.shape}")
    return arr


def _check_range(key: str, value: float, lo: float, hi: float, *, lo_closed: bool = False) -> None:
    ok = (lo <= value if lo_closed else lo < value) and value < hi
    if not ok:
        bracket = "[" if lo_closed else "("
        raise ValueError(f"{key}: must be in {bracket}{lo:g}, {hi:g}), got {value}")


def _prepare(
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    direction: ArrayLike,
    vol_scale: ArrayLike | None,
    funding_rate: ArrayLike | None,
    params: LabelParams,
) -> _Inputs:
    """Check shapes, values and settings once, so every implementation sees the same inputs."""
    o = np.ascontiguousarray(open_, dtype=np.float64)
    if o.ndim != 1:
        raise ValueError(f"open: expected a 1-d array, got shape {o.shape}")
    n = o.shape[0]
    h = _float_array("high", high, n)
    lo = _float_array("low", low, n)
    _float_array("close", close, n)
    for name, arr in (("open", o), ("high", h), ("low", lo)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: prices must be finite (no NaN/inf candles)")
    d_raw = _float_array("direction", direction, n)
    d_raw = np.where(np.isnan(d_raw), 0.0, d_raw)
    if not np.isin(d_raw, (-1.0, 0.0, 1.0)).all():
        raise ValueError("direction: values must be -1 (short), 0 (none) or +1 (long)")
    d = d_raw.astype(np.int8)
    vol = np.ones(n) if vol_scale is None else _float_array("vol_scale", vol_scale, n)
    fund = np.zeros(n) if funding_rate is None else _float_array("funding_rate", funding_rate, n)
    if np.isinf(fund).any():
        raise ValueError("funding_rate: must be finite or NaN (NaN = no funding)")

    _check_range("take_profit_ratio", params["take_profit_ratio"], 0.0, math.inf)
    _check_range("stop_loss_ratio", params["stop_loss_ratio"], 0.0, 1.0)
    if params["trailing_enabled"]:
        activation = params["trailing_activation_ratio"]
        _check_range("trailing_activation_ratio", activation, 0.0, math.inf)
        _check_range("trailing_distance_ratio", params["trailing_distance_ratio"], 0.0, 1.0)
    _check_range("fee_ratio", params["fee_ratio"], 0.0, 0.5, lo_closed=True)
    _check_range("base_slippage_ratio", params["base_slippage_ratio"], 0.0, 0.5, lo_closed=True)
    if params["max_holding_candles"] < 1:
        raise ValueError("max_holding_candles: must be >= 1")
    horizon = params["horizon_candles"]
    if horizon is None:
        horizon = params["max_holding_candles"]
    elif params["time_exit_enabled"] and horizon != params["max_holding_candles"]:
        raise ValueError(
            "horizon_candles: with time exits on the horizon is max_holding_candles; "
            f"got horizon_candles={horizon}, max_holding_candles={params['max_holding_candles']}"
        )
    if horizon < 1:
        raise ValueError(f"horizon_candles: must be >= 1, got {horizon}")
    return _Inputs(o, h, lo, d, vol, fund, int(horizon))


def _label_strings(label_code: NDArray[np.int8]) -> NDArray[np.object_]:
    labels = np.full(label_code.shape[0], np.nan, dtype=object)
    labels[label_code == 1] = LABEL_TAKE
    labels[label_code == 0] = LABEL_SKIP
    return labels


# --------------------------------------------------------------------------- compiled kernel

F = TypeVar("F", bound=Callable[..., Any])


def _jit(fn: F) -> F:
    """numba.njit with an on-disk cache, so only the first process of a checkout compiles.

    numba writes the cache to ``__pycache__`` beside this file, or to its user-wide cache
    directory when that is read-only (installed package), or to ``NUMBA_CACHE_DIR``. If no
    place is writable, numba refuses ``cache=True`` at import; then compile in memory.
    """
    try:
        return cast(F, numba.njit(cache=True, nogil=True)(fn))
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        logger.warning("numba cannot cache %s (%s); compiling per process", fn.__name__, exc)
        return cast(F, numba.njit(cache=False, nogil=True)(fn))


def _kernel_impl(
    open_: NDArray[np.float64],
    high: NDArray[np.float64],
    low: NDArray[np.float64],
    direction: NDArray[np.int8],
    slippage: NDArray[np.float64],
    funding: NDArray[np.float64],
    take_profit_ratio: float,
    stop_loss_ratio: float,
    trailing_enabled: bool,
    activation_ratio: float,
    distance_ratio: float,
    exit_on_reversal: bool,
    time_exit_enabled: bool,
    horizon: int,
    fee_ratio: float,
    out_label: NDArray[np.int8],
    out_net: NDArray[np.float64],
    out_gross: NDArray[np.float64],
    out_barrier: NDArray[np.int8],
    out_holding: NDArray[np.int64],
    out_exit: NDArray[np.int64],
) -> None:
    """One pass over the events; the outputs arrive pre-filled with the "no label" values."""
    n = open_.shape[0]
    for i in range(n - 1):
        if direction[i] == 0:
            continue
        d = 1.0 if direction[i] > 0 else -1.0
        e = i + 1
        last = e + horizon
        p0 = open_[e]
        fixed = p0 * (1.0 - d * stop_loss_ratio)
        tp = p0 * (1.0 + d * take_profit_ratio)
        activation = p0 * (1.0 + d * activation_ratio)
        peak = p0
        exit_bar = -1
        exit_px = 0.0
        code = 0
        held = -1
        for k in range(e, last + 1):
            if k >= n:
                break
            stop = fixed
            stop_code = _LOSS
            if trailing_enabled and d * (peak - activation) >= 0.0:
                trail = peak * (1.0 - d * distance_ratio)
                if d * (trail - fixed) > 0.0:
                    stop = trail
                    stop_code = _TRAILING
            if k > e:
                o = open_[k]
                if d * (o - stop) <= 0.0:
                    code = stop_code
                elif d * (o - tp) >= 0.0:
                    code = _PROFIT
                elif exit_on_reversal and direction[k - 1] == -direction[i]:
                    code = _REVERSAL
                elif k == last:
                    if time_exit_enabled:
                        code = _TIME
                    else:
                        break
                if code != 0:
                    exit_bar = k
                    exit_px = o
                    held = k - e
                    break
            if d > 0.0:
                adverse = low[k]
                favourable = high[k]
            else:
                adverse = high[k]
                favourable = low[k]
            if d * (adverse - stop) <= 0.0:
                code = stop_code
                exit_px = stop
            elif d * (favourable - tp) >= 0.0:
                code = _PROFIT
                exit_px = tp
            if code != 0:
                exit_bar = k
                held = k - e + 1
                break
            if d * (favourable - peak) > 0.0:
                peak = favourable
        if exit_bar < 0:
            continue
        s = slippage[i]
        ratio = (exit_px * (1.0 - d * s)) / (p0 * (1.0 + d * s))
        net = d * (ratio - 1.0) - fee_ratio * (1.0 + ratio)
        paid = 0.0
        for k in range(e + 1, exit_bar + 1):
            paid += funding[k]
        net -= d * paid
        out_net[i] = net
        out_gross[i] = d * (exit_px - p0) / p0
        out_label[i] = 1 if net > 0.0 else 0
        out_barrier[i] = code
        out_holding[i] = held
        out_exit[i] = exit_bar


_kernel = _jit(_kernel_impl)


def _slippage(inputs: _Inputs, params: LabelParams) -> NDArray[np.float64]:
    base = params["base_slippage_ratio"]
    if not params["slippage_volatility_scaled"]:
        return np.full(inputs.open.shape[0], base)
    scale = np.where(np.isnan(inputs.vol_scale), 1.0, inputs.vol_scale)
    return base * np.clip(scale, VOL_SCALE_MIN, VOL_SCALE_MAX)


def label_events_arrays(
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    direction: ArrayLike,
    vol_scale: ArrayLike | None = None,
    funding_rate: ArrayLike | None = None,
    *,
    take_profit_ratio: float,
    stop_loss_ratio: float,
    trailing_enabled: bool,
    trailing_activation_ratio: float,
    trailing_distance_ratio: float,
    exit_on_reversal: bool,
    time_exit_enabled: bool,
    max_holding_candles: int,
    horizon_candles: int | None = None,
    fee_ratio: float,
    base_slippage_ratio: float,
    slippage_volatility_scaled: bool,
    include_funding: bool,
) -> LabelArrays:
    """Label every event with the compiled kernel (see the module docstring for the rules).

    ``close`` is checked but never used: every simulated fill happens at an open or at a
    barrier level. The first call in a fresh checkout compiles the kernel (about a second)
    and caches it on disk; later processes load it from the cache.
    """
    params = LabelParams(
        take_profit_ratio=take_profit_ratio,
        stop_loss_ratio=stop_loss_ratio,
        trailing_enabled=trailing_enabled,
        trailing_activation_ratio=trailing_activation_ratio,
        trailing_distance_ratio=trailing_distance_ratio,
        exit_on_reversal=exit_on_reversal,
        time_exit_enabled=time_exit_enabled,
        max_holding_candles=max_holding_candles,
        horizon_candles=horizon_candles,
        fee_ratio=fee_ratio,
        base_slippage_ratio=base_slippage_ratio,
        slippage_volatility_scaled=slippage_volatility_scaled,
        include_funding=include_funding,
    )
    inputs = _prepare(open_, high, low, close, direction, vol_scale, funding_rate, params)
    n = inputs.open.shape[0]
    funding = (
        np.where(np.isnan(inputs.funding_rate), 0.0, inputs.funding_rate)
        if include_funding
        else np.zeros(n)
    )
    label_code = np.full(n, -1, dtype=np.int8)
    net = np.full(n, np.nan)
    gross = np.full(n, np.nan)
    barrier = np.zeros(n, dtype=np.int8)
    holding = np.full(n, -1, dtype=np.int64)
    exit_index = np.full(n, -1, dtype=np.int64)
    _kernel(
        inputs.open,
        inputs.high,
        inputs.low,
        inputs.direction,
        _slippage(inputs, params),
        funding,
        float(take_profit_ratio),
        float(stop_loss_ratio),
        bool(trailing_enabled),
        float(trailing_activation_ratio),
        float(trailing_distance_ratio),
        bool(exit_on_reversal),
        bool(time_exit_enabled),
        inputs.horizon,
        float(fee_ratio),
        label_code,
        net,
        gross,
        barrier,
        holding,
        exit_index,
    )
    return LabelArrays(_label_strings(label_code), net, gross, barrier, holding, exit_index)


# --------------------------------------------------------------------------- oracle loop


def label_events_loop(
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    direction: ArrayLike,
    vol_scale: ArrayLike | None = None,
    funding_rate: ArrayLike | None = None,
    *,
    take_profit_ratio: float,
    stop_loss_ratio: float,
    trailing_enabled: bool,
    trailing_activation_ratio: float,
    trailing_distance_ratio: float,
    exit_on_reversal: bool,
    time_exit_enabled: bool,
    max_holding_candles: int,
    horizon_candles: int | None = None,
    fee_ratio: float,
    base_slippage_ratio: float,
    slippage_volatility_scaled: bool,
    include_funding: bool,
) -> LabelArrays:
    """Same rules as :func:`label_events_arrays`, written plainly: the property test's oracle."""
    params = LabelParams(
        take_profit_ratio=take_profit_ratio,
        stop_loss_ratio=stop_loss_ratio,
        trailing_enabled=trailing_enabled,
        trailing_activation_ratio=trailing_activation_ratio,
        trailing_distance_ratio=trailing_distance_ratio,
        exit_on_reversal=exit_on_reversal,
        time_exit_enabled=time_exit_enabled,
        max_holding_candles=max_holding_candles,
        horizon_candles=horizon_candles,
        fee_ratio=fee_ratio,
        base_slippage_ratio=base_slippage_ratio,
        slippage_volatility_scaled=slippage_volatility_scaled,
        include_funding=include_funding,
    )
    inputs = _prepare(open_, high, low, close, direction, vol_scale, funding_rate, params)
    n = inputs.open.shape[0]
    opens = inputs.open.tolist()
    highs = inputs.high.tolist()
    lows = inputs.low.tolist()
    dirs = inputs.direction.tolist()
    label_code = np.full(n, -1, dtype=np.int8)
    net_out = np.full(n, np.nan)
    gross_out = np.full(n, np.nan)
    barrier_out = np.zeros(n, dtype=np.int8)
    holding_out = np.full(n, -1, dtype=np.int64)
    exit_out = np.full(n, -1, dtype=np.int64)

    for i in range(n):
        side = dirs[i]
        if side == 0 or i + 1 >= n:
            continue
        is_long = side > 0
        entry_bar = i + 1
        last_bar = entry_bar + inputs.horizon  # time exit at this bar's open
        p0 = opens[entry_bar]
        if is_long:
            fixed_stop = p0 * (1.0 - stop_loss_ratio)
            take = p0 * (1.0 + take_profit_ratio)
            activation = p0 * (1.0 + trailing_activation_ratio)
        else:
            fixed_stop = p0 * (1.0 + stop_loss_ratio)
            take = p0 * (1.0 - take_profit_ratio)
            activation = p0 * (1.0 - trailing_activation_ratio)
        peak = p0  # best price since entry, through the previous bar
        result: tuple[int, float, Barrier, int] | None = None  # exit bar, price, barrier, held

        for k in range(entry_bar, min(last_bar, n - 1) + 1):
            # The stop that is live during bar k, set by the peak through bar k-1.
            stop, stop_kind = fixed_stop, Barrier.LOSS
            if trailing_enabled:
                activated = peak >= activation if is_long else peak <= activation
                if activated:
                    trail = (
                        peak * (1.0 - trailing_distance_ratio)
                        if is_long
                        else (peak * (1.0 + trailing_distance_ratio))
                    )
                    if (trail > fixed_stop) if is_long else (trail < fixed_stop):
                        stop, stop_kind = trail, Barrier.TRAILING

            if k > entry_bar:  # the open of bar k, before its range
                o = opens[k]
                if (o <= stop) if is_long else (o >= stop):
                    result = (k, o, stop_kind, k - entry_bar)
                elif (o >= take) if is_long else (o <= take):
                    result = (k, o, Barrier.PROFIT, k - entry_bar)
                elif exit_on_reversal and dirs[k - 1] == -side:
                    result = (k, o, Barrier.REVERSAL, k - entry_bar)
                elif k == last_bar and time_exit_enabled:
                    result = (k, o, Barrier.TIME, k - entry_bar)
                if result is not None or k == last_bar:
                    break

            # The range of bar k: a stop touch wins over a take-profit touch.
            stop_touched = lows[k] <= stop if is_long else highs[k] >= stop
            take_touched = highs[k] >= take if is_long else lows[k] <= take
            if stop_touched:
                result = (k, stop, stop_kind, k - entry_bar + 1)
                break
            if take_touched:
                result = (k, take, Barrier.PROFIT, k - entry_bar + 1)
                break
            peak = max(peak, highs[k]) if is_long else min(peak, lows[k])

        if result is None:
            continue  # unresolved within the horizon, or ran past the data
        exit_bar, exit_price, barrier, held = result

        scale = float(inputs.vol_scale[i])
        if math.isnan(scale):
            scale = 1.0
        scale = min(max(scale, VOL_SCALE_MIN), VOL_SCALE_MAX)
        slip = base_slippage_ratio * scale if slippage_volatility_scaled else base_slippage_ratio
        sign = 1.0 if is_long else -1.0
        entry_fill = p0 * (1.0 + sign * slip)
        exit_fill = exit_price * (1.0 - sign * slip)
        ratio = exit_fill / entry_fill
        net = sign * (ratio - 1.0) - fee_ratio * (1.0 + ratio)
        if include_funding:
            paid = 0.0
            for k in range(entry_bar + 1, exit_bar + 1):  # settlements t_e < t <= t_exit
                rate = float(inputs.funding_rate[k])
                paid += 0.0 if math.isnan(rate) else rate
            net -= sign * paid
        net_out[i] = net
        gross_out[i] = sign * (exit_price - p0) / p0
        label_code[i] = 1 if net > 0.0 else 0
        barrier_out[i] = barrier
        holding_out[i] = held
        exit_out[i] = exit_bar

    return LabelArrays(
        _label_strings(label_code), net_out, gross_out, barrier_out, holding_out, exit_out
    )


# --------------------------------------------------------------------------- pandas baseline


def label_events_pandas_loop(
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    direction: ArrayLike,
    vol_scale: ArrayLike | None = None,
    funding_rate: ArrayLike | None = None,
    *,
    take_profit_ratio: float,
    stop_loss_ratio: float,
    trailing_enabled: bool,
    trailing_activation_ratio: float,
    trailing_distance_ratio: float,
    exit_on_reversal: bool,
    time_exit_enabled: bool,
    max_holding_candles: int,
    horizon_candles: int | None = None,
    fee_ratio: float,
    base_slippage_ratio: float,
    slippage_volatility_scaled: bool,
    include_funding: bool,
) -> LabelArrays:
    """The mlfinlab way (one pandas slice per event, first touch by earliest index).

    Benchmark baseline only; it follows the same rules (high/low touches, gaps, trailing,
    reversal, costs) so that its speed is compared on equal work.
    """
    params = LabelParams(
        take_profit_ratio=take_profit_ratio,
        stop_loss_ratio=stop_loss_ratio,
        trailing_enabled=trailing_enabled,
        trailing_activation_ratio=trailing_activation_ratio,
        trailing_distance_ratio=trailing_distance_ratio,
        exit_on_reversal=exit_on_reversal,
        time_exit_enabled=time_exit_enabled,
        max_holding_candles=max_holding_candles,
        horizon_candles=horizon_candles,
        fee_ratio=fee_ratio,
        base_slippage_ratio=base_slippage_ratio,
        slippage_volatility_scaled=slippage_volatility_scaled,
        include_funding=include_funding,
    )
    inputs = _prepare(open_, high, low, close, direction, vol_scale, funding_rate, params)
    horizon = inputs.horizon
    frame = pd.DataFrame(
        {
            "open": inputs.open,
            "high": inputs.high,
            "low": inputs.low,
            "direction": inputs.direction.astype(np.int64),
            "funding": pd.Series(inputs.funding_rate).fillna(0.0).to_numpy(),
            "slippage": _slippage(inputs, params),
        }
    )
    n = len(frame)
    out = pd.DataFrame(
        {
            "label_code": np.full(n, -1, dtype=np.int8),
            "net": np.nan,
            "gross": np.nan,
            "barrier": np.zeros(n, dtype=np.int8),
            "holding": np.full(n, -1, dtype=np.int64),
            "exit": np.full(n, -1, dtype=np.int64),
        }
    )
    events = frame.index[frame["direction"] != 0]
    for i in events:
        d = float(frame.at[i, "direction"])
        path = frame.iloc[i + 1 : i + 2 + horizon]  # bars e .. e + horizon
        if path.empty:
            continue
        e = i + 1
        p0 = float(path["open"].iloc[0])
        fixed = p0 * (1.0 - d * stop_loss_ratio)
        tp = p0 * (1.0 + d * take_profit_ratio)
        activation = p0 * (1.0 + d * trailing_activation_ratio)
        favourable = path["high"] if d > 0 else path["low"]
        adverse = path["low"] if d > 0 else path["high"]
        # Signed running best through the previous bar, starting from the entry price.
        best = (d * favourable).cummax().shift(1, fill_value=d * p0).clip(lower=d * p0)
        peak = d * best
        trail = peak * (1.0 - d * trailing_distance_ratio)
        activated = d * (peak - activation) >= 0.0
        use_trail = activated & (d * (trail - fixed) > 0.0) & trailing_enabled
        stop = trail.where(use_trail, fixed)
        stop_kind = pd.Series(np.where(use_trail, _TRAILING, _LOSS), index=path.index)
        offset = pd.Series(np.arange(len(path)), index=path.index)
        prev_dir = frame["direction"].shift(1).reindex(path.index)

        at_open = offset >= 1
        gap_stop = at_open & (d * (path["open"] - stop) <= 0.0)
        gap_tp = at_open & (d * (path["open"] - tp) >= 0.0)
        reversal = at_open & exit_on_reversal & (prev_dir == -d)
        timed = (offset == horizon) & time_exit_enabled
        in_range = offset < horizon
        hit_stop = in_range & (d * (adverse - stop) <= 0.0)
        hit_tp = in_range & (d * (favourable - tp) >= 0.0)

        open_exit = gap_stop | gap_tp | reversal | timed
        range_exit = hit_stop | hit_tp
        never = n  # past every bar: no touch of that kind
        first_open = int(open_exit.index[open_exit].min()) if open_exit.any() else never
        first_range = int(range_exit.index[range_exit].min()) if range_exit.any() else never
        if first_open == never and first_range == never:
            continue
        if first_open <= first_range:  # a bar's open comes before its range
            k = first_open
            exit_px = float(path.at[k, "open"])
            if gap_stop[k]:
                code = int(stop_kind[k])
            elif gap_tp[k]:
                code = _PROFIT
            elif reversal[k]:
                code = _REVERSAL
            else:
                code = _TIME
            held = k - e
        else:
            k = first_range
            if hit_stop[k]:
                exit_px, code = float(stop[k]), int(stop_kind[k])
            else:
                exit_px, code = tp, _PROFIT
            held = k - e + 1

        s = float(frame.at[i, "slippage"])
        ratio = (exit_px * (1.0 - d * s)) / (p0 * (1.0 + d * s))
        net = d * (ratio - 1.0) - fee_ratio * (1.0 + ratio)
        if include_funding:
            paid = 0.0
            for rate in frame["funding"].iloc[e + 1 : k + 1]:
                paid += rate
            net -= d * paid
        out.loc[i, ["net", "gross"]] = [net, d * (exit_px - p0) / p0]
        out.loc[i, ["label_code", "barrier", "holding", "exit"]] = [
            1 if net > 0.0 else 0,
            code,
            held,
            k,
        ]

    return LabelArrays(
        _label_strings(out["label_code"].to_numpy(np.int8)),
        out["net"].to_numpy(np.float64),
        out["gross"].to_numpy(np.float64),
        out["barrier"].to_numpy(np.int8),
        out["holding"].to_numpy(np.int64),
        out["exit"].to_numpy(np.int64),
    )


# --------------------------------------------------------------------------- pandas wrapper


def triple_barrier_labels(
    df: pd.DataFrame,
    direction: pd.Series,
    exits: ExitSettings,
    costs: CostSettings,
    *,
    vol_scale: pd.Series | None = None,
    funding_rate: pd.Series | None = None,
    horizon_candles: int | None = None,
) -> pd.DataFrame:
    """Labels for a freqtrade candle frame (``open``/``high``/``low``/``close``, one row a candle).

    ``direction`` (+1/-1/0, NaN = 0), ``vol_scale`` and ``funding_rate`` are aligned on
    ``df.index``; a missing row means no event / scale 1.0 / no funding. ``funding_rate``
    at a row is the rate settled at that candle's open time (freqtrade's ``date``).
    Returns ``label`` ("take"/"skip"/NaN), ``net_return``, ``gross_return``, ``barrier``
    (``Barrier`` name or NaN) and ``holding_candles`` (-1 where no label), on ``df.index``.
    """
    index = df.index
    result = label_events_arrays(
        df["open"].to_numpy(np.float64),
        df["high"].to_numpy(np.float64),
        df["low"].to_numpy(np.float64),
        df["close"].to_numpy(np.float64),
        direction.reindex(index).fillna(0).to_numpy(np.float64),
        None if vol_scale is None else vol_scale.reindex(index).to_numpy(np.float64),
        None if funding_rate is None else funding_rate.reindex(index).to_numpy(np.float64),
        **label_params(exits, costs, horizon_candles=horizon_candles),
    )
    names = np.full(max(Barrier) + 1, np.nan, dtype=object)
    for member in Barrier:
        if member != Barrier.NONE:
            names[member] = member.label
    out = pd.DataFrame(
        {
            "label": pd.Series(result.label, index=index, dtype=object),
            "net_return": result.net_return,
            "gross_return": result.gross_return,
            "barrier": pd.Series(names[result.barrier], index=index, dtype=object),
            "holding_candles": result.holding_candles,
        },
        index=index,
    )
    logger.debug(
        "labelled %d of %d candles (%d events)",
        int((result.barrier != Barrier.NONE).sum()),
        len(index),
        int((direction.reindex(index).fillna(0) != 0).sum()),
    )
    return out
