"""Metrics of a probability score for the positive class: log loss (exact, summed) and ROC
AUC, exact from ranks in a batch or from mergeable per-class score histograms."""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from aimon.quality.metrics import EPS

__all__ = ["DEFAULT_SCORE_BINS", "ScoreHistograms", "exact_roc_auc"]

#: Score histogram bins of a :class:`~aimon.quality.stats.QualityStats` (two int64 arrays of
#: this length).
DEFAULT_SCORE_BINS = 1024
#: The histogram's inner edges are evenly spaced in logit(score) over [-this, this].
_LOGIT_RANGE = 14.0


@functools.lru_cache(maxsize=8)
def _score_edges(bins: int) -> NDArray[np.float64]:
    logits = np.linspace(-_LOGIT_RANGE, _LOGIT_RANGE, bins - 1)
    return 1.0 / (1.0 + np.exp(-logits))


class ScoreHistograms:
    """Binary scores: per-class histograms (for ROC AUC) and the log-loss sum (exact)."""

    __slots__ = ("bins", "log_loss_sum", "negatives", "positives")

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.positives = np.zeros(bins, dtype=np.int64)
        self.negatives = np.zeros(bins, dtype=np.int64)
        self.log_loss_sum = 0.0

    def add(self, is_positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> None:
        """Count scores in, each with whether its actual is the positive class."""
        where = np.searchsorted(_score_edges(self.bins), scores, side="right")
        self.positives += np.bincount(where[is_positive], minlength=self.bins)
        self.negatives += np.bincount(where[~is_positive], minlength=self.bins)
        self.log_loss_sum += float(np.sum(_log_losses(is_positive, scores)))

    def merge(self, other: ScoreHistograms) -> None:
        """Add ``other``'s counts (made with as many bins)."""
        self.positives += other.positives
        self.negatives += other.negatives
        self.log_loss_sum += other.log_loss_sum

    def copy(self) -> ScoreHistograms:
        """An independent copy."""
        out = ScoreHistograms(self.bins)
        out.positives = self.positives.copy()
        out.negatives = self.negatives.copy()
        out.log_loss_sum = self.log_loss_sum
        return out

    def roc_auc(self) -> tuple[float, float] | None:
        """The AUC with scores in one bin taken as tied, and the bound on its error."""
        pos, neg = self.positives, self.negatives
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        if n_pos == 0 or n_neg == 0:
            return None
        below = np.cumsum(neg) - neg
        ties = float(np.dot(pos, neg))
        pairs = float(n_pos) * float(n_neg)
        return (float(np.dot(pos, below)) + 0.5 * ties) / pairs, 0.5 * ties / pairs


def _log_losses(is_positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    # scikit-learn forms [1 - p, p] first and clips both, so 1 - p is clipped after rounding.
    p = np.clip(scores, EPS, 1.0 - EPS)
    q = np.clip(1.0 - scores, EPS, 1.0 - EPS)
    return -np.log(np.where(is_positive, p, q))


def exact_roc_auc(is_positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float | None:
    """ROC AUC from the ranks of the scores (``roc_auc_score``); None with one class only."""
    n_pos = int(np.count_nonzero(is_positive))
    n_neg = scores.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)  # ties share their average rank: a tied pair counts one half
    u = float(np.sum(ranks[is_positive])) - n_pos * (n_pos + 1) / 2.0
    return u / (float(n_pos) * float(n_neg))
