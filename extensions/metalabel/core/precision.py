"""Price rounding to a tick exactly as freqtrade's backtester does it, in compiled code.

freqtrade rounds prices with decimal arithmetic on the float's shortest ``repr``
(``FtPrecise(str(price))``): a stop is rounded UP to the tick for a long, DOWN for a
short, an exit price to the NEAREST tick (half up). Python's ``decimal`` is not
available in numba, so these functions reach the same answer from the float itself:

* the exact value of ``price * 10**p`` is found with an error-free product (Dekker), so
  ``ceil``/``floor`` see the binary value of the price without rounding error;
* the shortest ``repr`` and the exact binary value differ in rounding only where the
  price is the float nearest to a grid point (or to a half-way point): those cases are
  tested explicitly (``price == k / 10**p`` with a correctly rounded division).

Worked example at tick 0.1 (p = 1): ``50999.99999999999`` rounds DOWN to 50999.9 (its
repr is not on the grid: this is freqtrade's one-tick "float bump" of a short's stop);
``49001.274`` rounds UP to 49001.3; ``49001.3`` stays 49001.3 although its binary value
is a hair above 49001.3.

>>> round_up_to_tick(49001.274, 1), round_up_to_tick(49001.3, 1)
(49001.3, 49001.3)
>>> round_down_to_tick(50999.99999999999, 1), round_nearest_to_tick(100.485, 2)
(50999.9, 100.49)
"""

from __future__ import annotations

import math

import numba

_SPLITTER = 134217729.0  # 2**27 + 1: Dekker's split of a double into two halves


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _two_product(a: float, b: float) -> tuple[float, float]:
    """``a * b`` as ``(p, e)`` with ``p + e`` exactly the product (no FMA needed)."""
    p = a * b
    c = _SPLITTER * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = _SPLITTER * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _grid_floor(price: float, scale: float) -> float:
    """floor of the exact value of ``price * scale`` (an integer, as a float)."""
    p, e = _two_product(price, scale)
    k = float(math.floor(p))
    if p == k and e < 0.0:
        k -= 1.0
    return k


@numba.njit(cache=True, nogil=True, error_model="numpy")
def round_up_to_tick(price: float, decimals: int) -> float:
    """The smallest grid price at or above ``price`` (freqtrade's ROUND_UP, long stops)."""
    return round_up_scaled(price, 10.0**decimals)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def round_down_to_tick(price: float, decimals: int) -> float:
    """The largest grid price at or below ``price`` (ROUND_DOWN, short stops)."""
    return round_down_scaled(price, 10.0**decimals)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def round_nearest_to_tick(price: float, decimals: int) -> float:
    """The nearest grid price, half-way rounded up (ccxt's ROUND on a positive price)."""
    return round_nearest_scaled(price, 10.0**decimals)


# The same with ``scale = 10.0**decimals`` computed once by the caller (compiled loops).
@numba.njit(cache=True, nogil=True, error_model="numpy")
def round_up_scaled(price: float, scale: float) -> float:
    k = _grid_floor(price, scale)
    if price == k / scale:
        return price
    if price == (k + 1.0) / scale:
        return price
    return (k + 1.0) / scale


@numba.njit(cache=True, nogil=True, error_model="numpy")
def round_down_scaled(price: float, scale: float) -> float:
    k = _grid_floor(price, scale)
    if price == (k + 1.0) / scale:
        return price
    return k / scale


@numba.njit(cache=True, nogil=True, error_model="numpy")
def round_nearest_scaled(price: float, scale: float) -> float:
    k = _grid_floor(price, scale)
    if price == (k + 1.0) / scale:
        return price
    if price == (2.0 * k + 1.0) / (2.0 * scale):  # the repr is the half-way point
        return (k + 1.0) / scale
    p, e = _two_product(price, scale)
    fraction = (p - k) + e
    return (k + 1.0) / scale if fraction >= 0.5 else k / scale
