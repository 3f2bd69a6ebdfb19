"""A binary classifier's quality estimated from its scores before the labels arrive (CBPE), per
slice of the rolling window.

The Monitor's reference carries a :class:`~aimon.quality.cbpe.PerformanceEstimator` calibrated
on its labelled rows (:meth:`aimon.Reference.performance_estimator`). Each fold counts the
scores of the calls that succeeded into the slice where they ended; a snapshot merges the live
slices and estimates accuracy, precision, recall, F1 and ROC AUC with their sampling
intervals, beside the reference's own estimate (the baseline of the
``EstimatedQualityBelowReference`` rule) and, once outcomes are matched, the realised quality.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from aimon.columns import Columns
from aimon.quality.cbpe import PerformanceEstimator
from aimon.quality.estimation import EstimationStats
from aimon.quality.pairs import prediction_value
from aimon.ring import SliceRing
from aimon.window import Window, slice_groups

__all__ = ["LiveEstimation"]


class LiveEstimation:
    """The estimator's sums in the slices of a rolling window.

    Args:
        estimator: calibrated on the reference.
        n_slices, slice_s: the rolling window's slices.
    """

    def __init__(self, estimator: PerformanceEstimator, n_slices: int, slice_s: float) -> None:
        self.estimator = estimator
        self.n_slices = n_slices
        self.slice_s = slice_s
        self._ring: SliceRing[EstimationStats] = SliceRing(n_slices, _Fresh(estimator.bins))

    def same_settings(self, other: LiveEstimation) -> bool:
        """Whether ``other`` estimates with the same calibration in the same slices (its sums
        can then go on in this one's place)."""
        return (self.n_slices, self.slice_s) == (other.n_slices, other.slice_s) and (
            self.estimator.to_dict() == other.estimator.to_dict()
        )

    def add(self, columns: Columns, window: Window, now: float, dropped: Counter[str]) -> None:
        """Count the scores of the calls in ``columns`` that succeeded. An output that is not
        a score in [0, 1] is left out and counted (``dropped["estimation_invalid"]``)."""
        results = columns.results
        ok = [i for i, error in enumerate(columns.errors) if error is None]
        if not ok:
            return
        scores = np.array([_score(results[i]) for i in ok], dtype=np.float64)
        valid = (scores >= 0.0) & (scores <= 1.0)  # NaN fails both
        if not valid.all():
            dropped["estimation_invalid"] += int(np.count_nonzero(~valid))
        rows = np.asarray(ok, dtype=np.intp)[valid]
        scores = scores[valid]
        if not scores.size:
            return
        sids, live, _, _ = window.place(columns.end_ts()[rows], now)
        for sid, mask in slice_groups(sids, live):
            stats = self._ring.get(sid)
            if stats is not None:
                self.estimator.add(stats, scores if mask is None else scores[mask])

    def snapshot_fields(self, now: float) -> dict[str, Any]:
        """The Snapshot's estimated quality over the live slices, and its change from the
        reference's estimate (live minus reference, per metric)."""
        merged = self.estimator.new_stats()
        for stats in self._ring.live(math.floor(now / self.slice_s)):
            merged.merge(stats)
        if merged.count == 0:
            return {}
        estimated = self.estimator.estimate(merged)
        reference = self.estimator.reference
        return {
            "estimated_quality": estimated,
            "reference_estimated_quality": reference,
            "estimated_quality_change": {} if reference is None else estimated.change(reference),
        }


class _Fresh:
    """The sums of a new slice (a class, so the ring pickles with the Monitor's state)."""

    def __init__(self, bins: int) -> None:
        self.bins = bins

    def __call__(self, key: int) -> EstimationStats:
        return EstimationStats(self.bins)


def _score(output: Any) -> float:
    """A model output as a score (as quality reads it), NaN when it is no number."""
    value = prediction_value(output)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)
