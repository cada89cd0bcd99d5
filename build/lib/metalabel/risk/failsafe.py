"""Small guards shared by the risk code, which must refuse unusable inputs."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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


def fails_closed(
    fallback: Callable[[Exception], R], what: str
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a risk decision so an exception answers ``fallback(err)`` instead.

    freqtrade's callback wrapper would turn an exception into its permissive default
    (enter, proposed stake); a risk rule that cannot decide must say "no" itself. The
    failure is logged on the decorated function's module logger as "<what> failed".
    """

    def decorate(decide: Callable[P, R]) -> Callable[P, R]:
        log = logging.getLogger(decide.__module__)

        @functools.wraps(decide)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return decide(*args, **kwargs)
            except Exception as err:
                log.exception("%s failed", what)
                return fallback(err)

        return guarded

    return decorate
