"""One FreqAI training window: which rows the model was fitted on, which it was judged on,
and the trade outcome behind each of their labels.

FreqAI hands the model only features and labels (``data_dictionary``); the trade outcome
behind each label (net return, barrier) travels in the strategy's frame as the columns
:data:`NET_RETURN_COLUMN`, :data:`BARRIER_COLUMN` and :data:`EXIT_TIME_COLUMN` (neither
``%`` nor ``&``, so they are not model inputs). FreqAI's own
``data_dictionary["train_dates"]`` keeps the frame's index of every row it trains on, in
order, train split first, then the time-ordered test split;
:meth:`TrainingWindow.from_freqai` aligns the outcomes to it, so this module does not
repeat FreqAI's row filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metalabel.model.cv import HOUR_NS, EventSpans

NET_RETURN_COLUMN = "label_net_return"
BARRIER_COLUMN = "label_barrier"
EXIT_TIME_COLUMN = "label_exit_time"  # when the labelled trade exits (its span's end)

FloatArray = npt.NDArray[np.float64]


def purge_label_horizon(frame: pd.DataFrame, horizon_candles: int) -> pd.DataFrame:
    """A copy whose labels of the last ``horizon_candles + 1`` rows are NaN.

    An event at row i is entered at i+1 and resolved by i+1+horizon at the latest, so
    its label may read candles after the training window's end, i.e. the period the
    model then predicts. Purging them keeps every model's training strictly before its
    window (the walk-forward promise). Worked example: 10 rows, horizon 2 -> rows 7, 8
    and 9 lose their labels (row 7 may exit at the open of row 10).
    """
    purged = frame.copy()
    labels = [c for c in purged.columns if c.startswith("&")]
    cut = max(len(purged) - horizon_candles - 1, 0)
    purged.loc[purged.index[cut:], labels] = np.nan
    return purged


@dataclass(frozen=True)
class WindowOutcomes:
    """The training frame's span and the labelled outcome of each of its rows."""

    start: pd.Timestamp
    end: pd.Timestamp
    net_return: pd.Series  # by the frame's index; NaN off-event
    barrier: pd.Series
    exit_time: pd.Series  # UTC timestamps; NaT off-event

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> WindowOutcomes:
        """Read the outcome columns the strategy writes beside ``&-label``."""
        needed = ("date", NET_RETURN_COLUMN, BARRIER_COLUMN, EXIT_TIME_COLUMN)
        missing = [c for c in needed if c not in frame]
        if missing:
            raise ValueError(f"training frame lacks {missing}: set_freqai_targets must write them")
        if frame.empty:
            raise ValueError("training frame is empty")
        return cls(
            start=frame["date"].iloc[0],
            end=frame["date"].iloc[-1],
            net_return=frame[NET_RETURN_COLUMN].astype(np.float64),
            barrier=frame[BARRIER_COLUMN],
            exit_time=pd.to_datetime(frame[EXIT_TIME_COLUMN], utc=True),
        )


def _check_time_ordered_split(freqai_info: Mapping[str, Any]) -> bool:
    """Whether there is a hold-out; refuse splits whose rows are not in time order."""
    split = freqai_info.get("data_split_parameters", {})
    features = freqai_info.get("feature_parameters", {})
    if split.get("shuffle", False):
        raise ValueError("freqai.data_split_parameters.shuffle must be false: time order")
    for key in ("shuffle_after_split", "reverse_train_test_order"):
        if features.get(key, False):
            raise ValueError(f"freqai.feature_parameters.{key} must be false: time order")
    return bool(split.get("test_size", 0.1) != 0)


@dataclass(frozen=True)
class TrainingWindow:
    """Fit rows, then hold-out rows (later in time), with their dates and outcomes.

    Worked example: FreqAI keeps 100 labelled rows, ``test_size`` 0.2 -> the fit rows
    are the first 80 of ``train_dates``, the hold-out the last 20, and the n-th hold-out
    row's outcome is the frame's row at ``train_dates.index[80 + n]``.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    fit_features: pd.DataFrame
    fit_labels: pd.Series
    fit_weights: FloatArray
    fit_dates: pd.Series
    fit_spans: EventSpans  # each fit event's trade: entry (the next candle) to exit
    fit_net_return: FloatArray
    holdout_features: pd.DataFrame
    holdout_labels: pd.Series
    holdout_dates: pd.Series
    holdout_net_return: FloatArray
    barriers: pd.Series  # of every training row, fit and hold-out

    @classmethod
    def from_freqai(
        cls,
        data_dictionary: Mapping[str, Any],
        outcomes: WindowOutcomes,
        freqai_info: Mapping[str, Any],
    ) -> TrainingWindow:
        """The window FreqAI built (``make_train_test_datasets``), outcomes aligned."""
        dd = data_dictionary
        has_holdout = _check_time_ordered_split(freqai_info)
        dates: pd.Series = dd["train_dates"]
        fit_rows = len(dd["train_labels"])
        if has_holdout:
            holdout_features, holdout_labels = dd["test_features"], dd["test_labels"].iloc[:, 0]
        else:  # FreqAI fills the test split with placeholders
            holdout_features = dd["train_features"].iloc[:0]
            holdout_labels = dd["train_labels"].iloc[:0, 0]
        if len(dates) != fit_rows + len(holdout_labels):
            raise ValueError(
                f"{len(dates)} training dates for {fit_rows} fit and "
                f"{len(holdout_labels)} hold-out rows"
            )
        missing = dates.index.difference(outcomes.net_return.index)
        if len(missing):
            raise ValueError(f"{len(missing)} training rows have no outcome row in the frame")
        rows = dates.index
        holdout_rows = rows[fit_rows:]
        fit_dates = dates.iloc[:fit_rows]
        return cls(
            start=outcomes.start,
            end=outcomes.end,
            fit_features=dd["train_features"],
            fit_labels=dd["train_labels"].iloc[:, 0],
            fit_weights=np.asarray(dd["train_weights"], dtype=np.float64),
            fit_dates=fit_dates,
            fit_spans=_spans(fit_dates, outcomes.exit_time.loc[rows[:fit_rows]]),
            fit_net_return=outcomes.net_return.loc[rows[:fit_rows]].to_numpy(np.float64),
            holdout_features=holdout_features,
            holdout_labels=holdout_labels,
            holdout_dates=dates.iloc[fit_rows:],
            holdout_net_return=outcomes.net_return.loc[holdout_rows].to_numpy(np.float64),
            barriers=outcomes.barrier.loc[rows],
        )

    @property
    def dates_ns(self) -> npt.NDArray[np.int64]:
        """Every training row's candle time (ns), fit rows first."""
        dates = pd.concat([self.fit_dates, self.holdout_dates], ignore_index=True)
        return _ns(dates)

    @property
    def labels(self) -> pd.Series:
        """Every training label, fit rows first."""
        return pd.concat([self.fit_labels, self.holdout_labels], ignore_index=True)


def _ns(dates: pd.Series) -> npt.NDArray[np.int64]:
    ns: npt.NDArray[np.int64] = (
        pd.to_datetime(dates, utc=True).to_numpy("datetime64[ns]").astype(np.int64)
    )
    return ns


def _spans(dates: pd.Series, exits: pd.Series) -> EventSpans:
    """Entry at the candle after the signal; a missing exit time counts as the entry."""
    entry = _ns(dates) + HOUR_NS
    exit_ns = _ns(exits.fillna(pd.Timestamp(0, tz="UTC")))
    exit_ns = np.where(exits.isna().to_numpy(), entry, np.maximum(exit_ns, entry))
    return EventSpans(entry, exit_ns)
