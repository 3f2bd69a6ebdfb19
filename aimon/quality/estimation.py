"""Confidence-based performance estimation (CBPE) of a binary classifier from calibrated
probabilities, without labels: the expected confusion matrix and the expected ROC curve, kept
as mergeable sums per window slice (:class:`EstimationStats`).

With ``p`` a row's calibrated probability of the positive class and its predicted label known,
the expected true positives are the sum of ``p`` over the predicted positives, the false
positives the sum of ``1 - p`` over them, the false negatives the sum of ``p`` over the
predicted negatives and the true negatives the sum of ``1 - p``; accuracy, precision, recall
and F1 are computed from these expected counts. ROC AUC is the area under the expected ROC
curve: at each threshold the expected true positive rate ``sum(p >= t) p / sum p`` against
the false positive rate ``sum(p >= t) (1 - p) / sum(1 - p)`` (NannyML's CBPE, "Estimation of
Performance of the Monitored Model",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html).

**The sampling interval** is analytic, from the same sums: if the probabilities are calibrated
each row's label is an independent Bernoulli(``p``), so the realised true positives have
variance ``sum p (1 - p)`` over the predicted positives, the realised false negatives the same
sum over the predicted negatives, and the realised metric's standard error follows exactly
(accuracy, precision) or by the delta method (recall, F1). ROC AUC's is Hanley and McNeil's
(1982) at the expected class counts. It is the spread of the realised metric around the
estimate given this window's scores; it does not include the calibration map's own error,
which no sampling interval can see. (NannyML instead divides the reference's per-row standard
deviation by the square root of the chunk's size, which does not follow the window's scores.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.quality.metrics import QualityError

__all__ = ["DEFAULT_ESTIMATION_BINS", "ESTIMATED_METRICS", "EstimationStats"]

#: Bins of the calibrated probability (equal width over [0, 1]) for the expected ROC curve.
DEFAULT_ESTIMATION_BINS = 1024
#: The metrics CBPE estimates, in the order :meth:`EstimationStats.estimates` gives them.
ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


class EstimationStats:
    """Mergeable sums of calibrated probabilities: what CBPE needs of one window slice.

    Per predicted label (negative, positive) and per probability bin, the rows, the sum of
    their probabilities and the sum of their squares: ``2 * bins`` counts and ``4 * bins``
    floats whatever arrives. :meth:`add` counts rows in, :meth:`merge` adds another slice's
    sums (counts exactly, sums to float rounding), :meth:`estimates` computes the metrics.

    The confusion-matrix metrics use the exact sums. ROC AUC takes the rows of one bin as tied
    (a chord across the bin). The curve through every row's probability, sorted, is concave,
    so it lies above each chord by exactly ``sum |p_i - p_j| / (2 P N)`` over the bin's pairs
    (``P = sum p``, ``N = sum (1 - p)``): the binned AUC is never above it, and at most
    ``roc_auc_error_bound`` below, the sum over bins of the least of three bounds on that
    area: the pairs times the bin width, by Cauchy-Schwarz from the bin's squared deviations
    (0 when its rows are tied, as an isotonic map's are), and half the bin's box
    ``dFPR * dTPR``.

    >>> stats = EstimationStats()
    >>> stats.add(np.array([0.9, 0.8, 0.3, 0.1]), np.array([True, True, False, False]))
    >>> est = stats.estimates()
    >>> [round(est[m], 4) for m in ("accuracy", "precision", "recall", "roc_auc")]
    [0.825, 0.85, 0.8095, 0.8634]
    """

    __slots__ = ("counts", "squares", "sums")

    def __init__(self, bins: int = DEFAULT_ESTIMATION_BINS) -> None:
        if bins < 2:
            raise QualityError(f"estimation bins must be at least 2, got {bins}")
        self.counts = np.zeros((2, bins), dtype=np.int64)
        self.sums = np.zeros((2, bins), dtype=np.float64)
        self.squares = np.zeros((2, bins), dtype=np.float64)

    @property
    def bins(self) -> int:
        """Bins of the probability histogram."""
        return int(self.counts.shape[1])

    @property
    def count(self) -> int:
        """Rows counted."""
        return int(self.counts.sum())

    def add(self, probabilities: NDArray[np.float64], predicted: NDArray[np.bool_]) -> None:
        """Count rows: calibrated probabilities in [0, 1] and whether each was predicted
        positive (arrays of one length; values outside [0, 1] are the caller's error)."""
        # The fold's hot step: one bincount over (label, bin) codes, weighted and not.
        bins = self.bins
        label = predicted.astype(np.intp)
        code = label * bins + np.minimum((probabilities * bins).astype(np.intp), bins - 1)
        self.counts += np.bincount(code, minlength=2 * bins).reshape(2, bins)
        self.sums += np.bincount(code, weights=probabilities, minlength=2 * bins).reshape(2, bins)
        squares = np.bincount(code, weights=probabilities * probabilities, minlength=2 * bins)
        self.squares += squares.reshape(2, bins)

    def merge(self, other: EstimationStats) -> None:
        """Add ``other``'s rows (made with as many bins, else :class:`QualityError`)."""
        if other.bins != self.bins:
            raise QualityError(
                f"cannot merge estimation sums of {other.bins} bins into {self.bins}"
            )
        self.counts += other.counts
        self.sums += other.sums
        self.squares += other.squares

    def copy(self) -> EstimationStats:
        """An independent copy (merge into it without touching this one)."""
        out = EstimationStats(self.bins)
        out.merge(self)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
            "squares": self.squares.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EstimationStats:
        """The sums written by :meth:`to_dict`."""
        counts = np.asarray(data["counts"], dtype=np.int64)
        out = cls(counts.shape[1])
        out.counts += counts
        out.sums += np.asarray(data["sums"], dtype=np.float64)
        out.squares += np.asarray(data["squares"], dtype=np.float64)
        return out

    def estimates(self) -> dict[str, float]:
        """The estimated metrics (:data:`ESTIMATED_METRICS`, those defined), each metric's
        standard error as ``"<metric>_std_error"`` and ``"roc_auc_error_bound"``; empty with
        no rows. Precision with no predicted positive, recall and F1 with no expected positive
        are 0.0 (scikit-learn's zero division); ROC AUC needs both classes expected."""
        n1, n0 = (float(c) for c in self.counts.sum(axis=1)[::-1])
        n = n0 + n1
        if n == 0:
            return {}
        s1, s0 = (float(s) for s in self.sums.sum(axis=1)[::-1])
        # sum p (1 - p) per predicted label: each label's variance of its true positives
        v1, v0 = (max(float(v), 0.0) for v in (self.sums - self.squares).sum(axis=1)[::-1])
        out = {"accuracy": (s1 + n0 - s0) / n, "accuracy_std_error": math.sqrt(v0 + v1) / n}
        out["precision"] = s1 / n1 if n1 else 0.0
        out["precision_std_error"] = math.sqrt(v1) / n1 if n1 else 0.0
        positives = s1 + s0
        out["recall"] = s1 / positives if positives else 0.0
        out["recall_std_error"] = _ratio_error(s1, s0, v1, v0, positives) if positives else 0.0
        d = n1 + positives
        out["f1"] = 2.0 * s1 / d if d else 0.0
        out["f1_std_error"] = 2.0 * _ratio_error(s1, n1 + s0, v1, v0, d) if d else 0.0
        auc = self._roc_auc(positives, n - positives)
        if auc is not None:
            out["roc_auc"], out["roc_auc_error_bound"] = auc
            out["roc_auc_std_error"] = _hanley_mcneil(auc[0], positives, n - positives)
        return out

    def _roc_auc(self, positives: float, negatives: float) -> tuple[float, float] | None:
        if positives <= 0.0 or negatives <= 0.0:
            return None
        count = self.counts.sum(axis=0)[::-1].astype(np.float64)  # highest bin first
        tp = self.sums.sum(axis=0)[::-1]
        fp = count - tp
        d_tpr, d_fpr = tp / positives, fp / negatives
        tpr_before = np.cumsum(d_tpr) - d_tpr
        area = float(np.dot(d_fpr, tpr_before + 0.5 * d_tpr))
        pairs = 0.5 * count * np.maximum(count - 1.0, 0.0)
        deviations = self.squares.sum(axis=0)[::-1] - tp * tp / np.maximum(count, 1.0)
        gaps = np.minimum.reduce(
            [pairs / self.bins, np.sqrt(pairs * count * np.maximum(deviations, 0.0)), fp * tp]
        )
        return area, float(gaps.sum()) / (2.0 * positives * negatives)


def _ratio_error(a: float, b: float, var_a: float, var_b: float, d: float) -> float:
    """Delta-method standard error of ``A / d`` where ``d`` moves with ``A`` and the false
    negatives: ``sqrt(b^2 var_a + a^2 var_b) / d^2``, the shares taken first so that tiny
    sums do not underflow."""
    return math.sqrt((b / d) ** 2 * var_a + (a / d) ** 2 * var_b) / d


def _hanley_mcneil(auc: float, positives: float, negatives: float) -> float:
    """The AUC's standard error for these class counts (Hanley and McNeil 1982, eq. 2)."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (
        auc * (1.0 - auc)
        + max(positives - 1.0, 0.0) * (q1 - auc * auc)
        + max(negatives - 1.0, 0.0) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(var, 0.0))
