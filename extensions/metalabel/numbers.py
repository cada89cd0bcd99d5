"""Tiny numeric guards shared by the risk code, which must refuse unusable inputs."""

from __future__ import annotations

import math


def finite_positive(value: float | None) -> bool:
    """A finite number above 0; None, bools, NaN, inf and non-numbers are not.

    >>> [finite_positive(v) for v in (1.5, 0.0, float("nan"), None, True)]
    [True, False, False, False, False]
    """
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and value > 0
    except TypeError:
        return False
