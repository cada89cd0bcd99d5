"""A cheap, real objective for exercising study storage and workers: a quadratic bowl.

Not a trading score: it only measures how close a candidate's settings are to a fixed
point, so a study's storage, resumption and workers can be run and checked (its best
is known) before the trade simulator's objective exists. ``metalabel study-bench``
runs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from metalabel.evaluation.research.space import Candidate
from metalabel.evaluation.research.workers import Objective

# setting -> (centre, scale): the bowl's minimum and how far counts as one unit.
BOWL: dict[str, tuple[float, float]] = {
    "exits.stop_loss_ratio": (0.02, 0.01),
    "exits.take_profit_ratio": (0.05, 0.02),
    "regime.adx_threshold": (25.0, 5.0),
    "signal.min_vote_ratio": (0.6, 0.1),
    "model.confidence_threshold": (0.65, 0.05),
    "xgboost.max_depth": (4.0, 2.0),
}


def bowl_value(candidate: Candidate) -> float:
    """Minus the squared scaled distance to :data:`BOWL`'s centre (0 at the centre).

    >>> from metalabel.config import load_config
    >>> from metalabel.evaluation.research.space import SPACE, settings_at
    >>> c = settings_at(load_config({}), SPACE, {"stop_loss_ratio": 0.02, "max_depth": 6})
    >>> round(bowl_value(c), 6)  # tp 0.03, adx 25, vote 0.6, threshold 0.6, depth 6
    -3.0
    """
    total = 0.0
    for path, (centre, scale) in BOWL.items():
        section, key = path.split(".")
        if section == "xgboost":
            value = float(candidate.model_params.get(key, centre))
        else:
            value = float(getattr(getattr(candidate.settings, section), key))
        total += ((value - centre) / scale) ** 2
    return -total


@dataclass(frozen=True)
class QuadraticBench:
    """Picklable objective factory; ``delay_seconds`` stands in for a real trial's cost."""

    delay_seconds: float = 0.0

    def __call__(self) -> Objective:
        return self.score

    def score(self, candidate: Candidate) -> float:
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)
        return bowl_value(candidate)
