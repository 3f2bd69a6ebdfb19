"""Performance estimated before labels arrive: a binary classifier's accuracy, precision,
recall, F1 and ROC AUC per window from its scores alone (NannyML's CBPE), after calibrating
the scores on the reference's labelled rows.

:meth:`PerformanceEstimator.fit` calibrates on the reference (:mod:`aimon.quality.calibration`)
and keeps the reference's own estimate as the baseline; per window slice the Monitor keeps an
:class:`~aimon.quality.estimation.EstimationStats` (:meth:`~PerformanceEstimator.new_stats`),
counts each fold batch's scores into it (:meth:`~PerformanceEstimator.add`), merges slices and
reads :meth:`~PerformanceEstimator.estimate` at snapshot time. The assumptions are CBPE's: the
calibrated probabilities stay calibrated on live data (covariate shift within the reference's
range, no concept drift), so an estimate says what quality the scores imply, not what the
labels will say if ``P(y | x)`` changed.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from aimon.quality.calibration import Calibration, CalibrationMethod, fit_calibration
from aimon.quality.estimation import DEFAULT_ESTIMATION_BINS, ESTIMATED_METRICS, EstimationStats
from aimon.quality.metrics import QualityError

__all__ = ["DEFAULT_INTERVAL_Z", "EstimatedQuality", "PerformanceEstimator"]

#: Standard errors either side of an estimate in its interval: NannyML's "sampling error"
#: (about 99.7 % of windows when the calibration holds).
DEFAULT_INTERVAL_Z = 3.0


class EstimatedQuality(BaseModel):
    """A binary classifier's quality estimated from its scores over a set of rows.

    A metric is ``None`` when undefined (no rows; ROC AUC with one class expected). Each
    defined metric has its standard error in ``std_error`` and ``lower``/``upper``, the
    estimate plus and minus ``interval_z`` standard errors clipped to [0, 1], between which
    the realised metric falls in about the share of windows ``interval_z`` promises when the
    calibration holds. ``roc_auc_error_bound`` bounds the binned curve's distance from the
    curve through every row's probability.

    >>> est = PerformanceEstimator.fit([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 1], calibration="identity")
    >>> q = est.estimate_scores([0.9, 0.6, 0.3, 0.05])
    >>> q.count, q.accuracy, [round(x, 3) for x in q.interval("accuracy")]
    (4, 0.7875, [0.213, 1.0])
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int
    threshold: float
    calibration: CalibrationMethod
    interval_z: float
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    roc_auc: float | None = None
    roc_auc_error_bound: float | None = None
    std_error: dict[str, float] = {}

    def values(self) -> dict[str, float]:
        """The defined estimates by name (what an ``aimon_estimated_quality{metric}`` gauge
        would export)."""
        return {m: v for m in ESTIMATED_METRICS if (v := getattr(self, m)) is not None}

    def interval(self, metric: str) -> tuple[float, float] | None:
        """The sampling interval of ``metric`` (None when it is not estimated)."""
        value = self.values().get(metric)
        if value is None:
            return None
        half = self.interval_z * self.std_error[metric]
        return max(value - half, 0.0), min(value + half, 1.0)

    def change(self, reference: EstimatedQuality) -> dict[str, float]:
        """These estimates minus ``reference``'s, per metric estimated in both (negative:
        worse than the reference)."""
        theirs = reference.values()
        return {name: v - theirs[name] for name, v in self.values().items() if name in theirs}


class PerformanceEstimator:
    """CBPE for one binary classifier: the calibration fitted on the reference, the threshold
    its labels are predicted at, and the reference's own estimate as the baseline.

    Build it with :meth:`fit`; serialise with :meth:`to_dict` / :meth:`from_dict` (a
    reference profile can hold it). Picklable.

    >>> rng = np.random.default_rng(0)
    >>> scores = rng.uniform(size=2000)
    >>> labels = rng.uniform(size=2000) < scores
    >>> est = PerformanceEstimator.fit(scores, labels)
    >>> est.calibration.method, round(est.reference.accuracy, 2)
    ('identity', 0.75)
    """

    __slots__ = ("bins", "calibration", "interval_z", "reference", "threshold")

    def __init__(
        self,
        calibration: Calibration,
        *,
        threshold: float = 0.5,
        bins: int = DEFAULT_ESTIMATION_BINS,
        interval_z: float = DEFAULT_INTERVAL_Z,
        reference: EstimatedQuality | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise QualityError(f"threshold must be in [0, 1], got {threshold}")
        if interval_z <= 0.0:
            raise QualityError(f"interval_z must be positive, got {interval_z}")
        self.calibration = calibration
        self.threshold = float(threshold)
        self.bins = bins
        self.interval_z = float(interval_z)
        self.reference = reference

    @classmethod
    def fit(
        cls,
        scores: Any,
        labels: Any,
        *,
        threshold: float = 0.5,
        calibration: CalibrationMethod | Literal["auto"] = "auto",
        bins: int = DEFAULT_ESTIMATION_BINS,
        interval_z: float = DEFAULT_INTERVAL_Z,
        seed: int = 0,
    ) -> PerformanceEstimator:
        """Calibrate on the reference's labelled rows and estimate the reference's quality.

        Parameters:
            scores: the model's scores of the positive class on the reference, in [0, 1].
            labels: whether each reference row is positive (bools or 0/1).
            threshold: a score at or above it is predicted positive (the Monitor's
                ``quality_threshold``).
            calibration: the map (:func:`~aimon.quality.calibration.fit_calibration`).
            bins: bins of the expected ROC curve.
            interval_z: standard errors either side of each estimate.
            seed: the calibration's cross-validation folds.

        Raises :class:`QualityError` as :func:`fit_calibration` does, or on a bad setting.
        """
        cal = fit_calibration(scores, labels, calibration, seed=seed)
        est = cls(cal, threshold=threshold, bins=bins, interval_z=interval_z)
        est.reference = est.estimate_scores(scores)
        return est

    def new_stats(self) -> EstimationStats:
        """Empty sums for one window slice."""
        return EstimationStats(self.bins)

    def add(self, stats: EstimationStats, scores: Any, predicted: Any = None) -> None:
        """Count rows into ``stats``: the model's raw scores (calibrated here) and its
        predicted labels (bools; None: ``score >= threshold``). Raises :class:`QualityError`
        for a score outside [0, 1] or not finite, or labels of another length; nothing is
        counted then."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if not np.all((s >= 0.0) & (s <= 1.0)):
            raise QualityError("scores must be finite and in [0, 1] to estimate quality")
        labels = s >= self.threshold if predicted is None else np.asarray(predicted, dtype=bool)
        if labels.shape != s.shape:
            raise QualityError(f"{labels.size} predicted labels for {s.size} scores")
        stats.add(self.calibration(s), labels)

    def estimate(self, stats: EstimationStats) -> EstimatedQuality:
        """The quality these sums imply, with each metric's sampling interval."""
        values = stats.estimates()
        std_error = {m: values.pop(f"{m}_std_error") for m in ESTIMATED_METRICS if m in values}
        return EstimatedQuality(
            count=stats.count,
            threshold=self.threshold,
            calibration=self.calibration.method,
            interval_z=self.interval_z,
            std_error=std_error,
            **values,
        )

    def estimate_scores(self, scores: Any, predicted: Any = None) -> EstimatedQuality:
        """:meth:`estimate` of one batch of scores (with their predicted labels, or None)."""
        stats = self.new_stats()
        self.add(stats, scores, predicted)
        return self.estimate(stats)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "calibration": self.calibration.to_dict(),
            "threshold": self.threshold,
            "bins": self.bins,
            "interval_z": self.interval_z,
            "reference": None if self.reference is None else self.reference.model_dump(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceEstimator:
        """The estimator written by :meth:`to_dict`."""
        reference = data.get("reference")
        return cls(
            Calibration.from_dict(data["calibration"]),
            threshold=data["threshold"],
            bins=data["bins"],
            interval_z=data["interval_z"],
            reference=None if reference is None else EstimatedQuality.model_validate(reference),
        )
