"""Model quality over matched (prediction, actual) pairs, in one batch (:func:`quality_metrics`)
or as mergeable statistics (:class:`QualityStats`): pure numpy, equal to scikit-learn.

Three kinds of task (:data:`~aimon.quality.metrics.TaskKind`), inferred from the data by
:func:`~aimon.quality.inference.infer_task` or set:

* ``"classification"``: the predictions are labels. Accuracy; precision, recall and F1 for
  the positive label (``positive_label``, default ``1``, which is also ``True``) when at most
  two labels occur; the same three macro-averaged over every label that occurs in the
  actuals or the predictions (scikit-learn's ``labels=None``).
* ``"binary_score"``: the prediction is the probability (a score in [0, 1]) of the positive
  class. The label metrics above on ``score >= threshold`` (0.5, as scikit-learn's
  ``FixedThresholdClassifier``), plus log loss and ROC AUC on the scores.
* ``"regression"``: MAE, RMSE, MAPE and R².

Every metric equals ``sklearn.metrics`` on the same pairs (to float rounding). Where
scikit-learn warns or raises, the behaviour here is defined as follows:

* **No pairs**: ``count`` is 0 and every metric is ``None`` (scikit-learn raises).
* **Missing values**: a pair whose actual or prediction is missing (None, NaN, ``pd.NA``,
  an infinity, or a value that is neither a number, a bool nor a string) is left out and
  counted in ``missing``.
* **Zero division** in precision, recall and F1 (no predicted positives, no actual
  positives) gives 0.0, scikit-learn's value under its default ``zero_division="warn"``.
* **Binary metrics** are ``None`` where scikit-learn's ``average="binary"`` raises: more
  than two labels, or two labels neither of which is the positive one. With one label only
  (it is not the positive one) they are 0.0, as scikit-learn's.
* **ROC AUC** with one class only among the actuals is ``None`` (scikit-learn: NaN and an
  ``UndefinedMetricWarning``). Tied scores count one half, as ``roc_auc_score``.
* **Log loss** clips probabilities to ``[eps, 1 - eps]``, ``eps`` being float64's machine
  epsilon (scikit-learn >= 1.5 clips with the epsilon of the input's dtype; scores are read
  as float64 here). It is defined with one class only among the actuals, as scikit-learn's
  with ``labels=[0, 1]``.
* **R²** with fewer than two pairs is ``None`` (scikit-learn: NaN). With constant actuals it
  is 1.0 for perfect predictions, else 0.0 (scikit-learn's ``force_finite=True``); constant
  means equal values, detected exactly, where scikit-learn's two-pass variance can leave a
  rounding residue (for ``[0.1, 0.1, 0.1]`` it divides by 5e-35 and returns -1.7e31).
* **MAPE** is the mean of ``|prediction - actual| / |actual|`` over the pairs whose actual
  is not 0; pairs with an actual of 0, where a percentage error is undefined, are left out
  and counted in ``mape_excluded`` (MAE, RMSE and R² still count them), and with no other
  pair MAPE is ``None``. scikit-learn divides by ``max(|actual|, eps)`` instead, so one
  actual of 0 with a wrong prediction adds ``error / 2.2e-16`` to its sum (a MAPE of 1e15
  and more, issue 14); on the pairs whose actual is not 0 the two are equal.

:class:`QualityStats` is the streaming form: sufficient statistics that merge by addition
(confusion counts, sums of errors, the actuals' mean and squared deviations merged by Chan's
formula, log-loss sums, score histograms), so a window of any length is the merge of its
slices. Its metrics equal :func:`quality_metrics` on the same pairs, except ROC AUC, which
it computes from score histograms with a stated bound (``roc_auc_error_bound``).
"""

from __future__ import annotations

from typing import Any, get_args

import numpy as np

from aimon.quality.binary_scores import DEFAULT_SCORE_BINS, ScoreHistograms, exact_roc_auc
from aimon.quality.classification import Confusion
from aimon.quality.inference import infer_columns
from aimon.quality.metrics import Label, QualityError, QualityMetrics, TaskKind
from aimon.quality.pairs import (
    Column,
    factorize,
    normal_label,
    numbers,
    positives,
    probabilities,
    read_pairs,
)
from aimon.quality.regression import RegressionSums

__all__ = ["DEFAULT_MAX_CLASSES", "QualityStats", "quality_metrics"]

#: Distinct labels a :class:`QualityStats` tracks; pairs with further labels are counted in
#: ``excluded``, not in the metrics.
DEFAULT_MAX_CLASSES = 64


class QualityStats:
    """Mergeable sufficient statistics of one model's quality over a set of pairs.

    One per window slice: :meth:`add` counts pairs in, :meth:`merge` adds another slice's
    statistics (exactly, in any order), :meth:`metrics` computes the metrics. Memory is
    bounded whatever arrives: at most ``max_classes`` labels (a ``max_classes``-square
    confusion matrix; pairs with further labels are counted in ``excluded``) and two
    histograms of ``score_bins`` int64 counts. Picklable.

    Metrics equal :func:`quality_metrics` on the same pairs (up to float rounding in
    the merged sums), except ROC AUC: scores are counted in ``score_bins`` bins evenly spaced
    in logit(score) over [-14, 14] (with 1024 bins, 0.027 wide in logit: 2.7 % of the score
    near 0, of ``1 - score`` near 1, 0.007 near 0.5; scores within 8.3e-7 of 0 or of 1
    share the outer bins), and pairs within one bin are taken as tied. Only pairs of a positive
    and a negative in the same bin can be misordered, each by one half, so the AUC is within
    ``roc_auc_error_bound = 0.5 * sum_b(pos_b * neg_b) / (P * N)`` of the exact one, a bound
    computed from the counts and reported with the metric. On 20,000 imbalanced scores
    (5 % positives, logit-normal) the bound is 1.3e-3 and the actual error below 1e-4.

    Parameters:
        task: the kind of task (:data:`TaskKind`), fixed for the statistics' life.
        positive_label: the positive class (default ``1``, also ``True``). A
            ``"binary_score"`` task with string actuals needs it.
        threshold: a score at or above it predicts the positive class (``"binary_score"``).
        max_classes: labels tracked (``None``: unbounded, for batch use).
        score_bins: histogram bins for ROC AUC (``"binary_score"``).

    >>> s1 = QualityStats.from_pairs([0, 1, 1], [0.1, 0.8, 0.3])
    >>> s2 = QualityStats.from_pairs([0, 1], [0.6, 0.9])
    >>> s1.merge(s2)
    >>> m = s1.metrics()
    >>> m.task, m.count, m.accuracy, m.roc_auc, m.roc_auc_error_bound
    ('binary_score', 5, 0.6, 0.8333333333333334, 0.0)
    """

    __slots__ = (
        "_confusion",
        "_errors",
        "_scores",
        "missing",
        "positive_label",
        "task",
        "threshold",
    )

    def __init__(
        self,
        task: TaskKind,
        *,
        positive_label: Label | None = None,
        threshold: float = 0.5,
        max_classes: int | None = DEFAULT_MAX_CLASSES,
        score_bins: int = DEFAULT_SCORE_BINS,
    ) -> None:
        if task not in get_args(TaskKind):
            raise QualityError(
                f"unknown task {task!r}: expected one of {', '.join(get_args(TaskKind))}"
            )
        if max_classes is not None and max_classes < 2:
            raise QualityError(f"max_classes must be at least 2, got {max_classes}")
        if score_bins < 2:
            raise QualityError(f"score_bins must be at least 2, got {score_bins}")
        if not 0.0 <= threshold <= 1.0:
            raise QualityError(f"threshold must be in [0, 1], got {threshold}")
        self.task: TaskKind = task
        self.positive_label: Label | None = (
            None if positive_label is None else normal_label(positive_label)
        )
        self.threshold = float(threshold)
        self.missing = 0
        self._confusion = Confusion(max_classes) if task != "regression" else None
        self._scores = ScoreHistograms(score_bins) if task == "binary_score" else None
        self._errors = RegressionSums() if task == "regression" else None

    @classmethod
    def from_pairs(
        cls,
        actual: Any,
        predicted: Any,
        *,
        task: TaskKind | None = None,
        positive_label: Label | None = None,
        threshold: float = 0.5,
        max_classes: int | None = DEFAULT_MAX_CLASSES,
        score_bins: int = DEFAULT_SCORE_BINS,
    ) -> QualityStats:
        """Statistics of the given pairs; the task is inferred (:func:`infer_task`) unless
        set. Raises :class:`QualityError` if it is not set and there is no complete pair."""
        a, p, missing = read_pairs(actual, predicted)
        kind = task or infer_columns(a, p)
        if kind is None:
            raise QualityError("no complete pair to infer the task from: pass task=")
        stats = cls(
            kind,
            positive_label=positive_label,
            threshold=threshold,
            max_classes=max_classes,
            score_bins=score_bins,
        )
        stats.missing = missing
        stats._add_columns(a, p)
        return stats

    def measured_as(
        self, task: TaskKind | None, positive_label: Label | None, threshold: float
    ) -> bool:
        """These statistics were made with these settings (``task`` None: any task)."""
        positive = None if positive_label is None else normal_label(positive_label)
        return (
            (task is None or task == self.task)
            and positive == self.positive_label
            and float(threshold) == self.threshold
        )

    @property
    def count(self) -> int:
        """Pairs counted in the metrics."""
        if self._errors is not None:
            return self._errors.n
        assert self._confusion is not None
        return int(self._confusion.counts.sum())

    @property
    def excluded(self) -> int:
        """Pairs left out because their label exceeded ``max_classes``."""
        return 0 if self._confusion is None else self._confusion.excluded

    def add(self, actual: Any, predicted: Any) -> None:
        """Count pairs (two sequences of equal length; missing values counted apart).

        Raises :class:`QualityError` when the values do not fit the task (labels for a
        regression, scores outside [0, 1], string actuals for a score without
        ``positive_label``); nothing is counted then."""
        a, p, missing = read_pairs(actual, predicted)
        self._add_columns(a, p)
        self.missing += missing

    def _add_columns(self, a: Column, p: Column) -> None:
        n = a.values.shape[0]
        if self.task == "regression":
            assert self._errors is not None
            self._errors.add(numbers(a, "actuals"), numbers(p, "predictions"))
            return
        assert self._confusion is not None
        if self.task == "classification":
            if n:
                codes, uniques = factorize(a, p)
                self._confusion.add(codes, uniques, n)
            return
        assert self._scores is not None
        scores = probabilities(p)
        is_positive = positives(a, self.positive_label)
        predicted = scores >= self.threshold
        self._confusion.add(
            np.concatenate([is_positive, predicted]).astype(np.intp), [False, True], n
        )
        self._scores.add(is_positive, scores)

    def merge(self, other: QualityStats) -> None:
        """Add ``other``'s pairs to these statistics. Raises :class:`QualityError` when the
        two were made with different settings (task, positive label, threshold, bins)."""
        mine = (self.task, self.positive_label, self.threshold)
        theirs = (other.task, other.positive_label, other.threshold)
        same_bins = (self._scores is None) or (
            other._scores is not None and self._scores.bins == other._scores.bins
        )
        if mine != theirs or not same_bins:
            raise QualityError(
                f"cannot merge quality statistics of {theirs} into statistics of {mine}"
            )
        self.missing += other.missing
        if self._confusion is not None and other._confusion is not None:
            self._confusion.merge(other._confusion)
        if self._scores is not None and other._scores is not None:
            self._scores.merge(other._scores)
        if self._errors is not None and other._errors is not None:
            self._errors.merge(other._errors)

    def copy(self) -> QualityStats:
        """An independent copy (merge into it without touching this one)."""
        out = QualityStats.__new__(QualityStats)
        out.task = self.task
        out.positive_label = self.positive_label
        out.threshold = self.threshold
        out.missing = self.missing
        out._confusion = None if self._confusion is None else self._confusion.copy()
        out._scores = None if self._scores is None else self._scores.copy()
        out._errors = None if self._errors is None else self._errors.copy()
        return out

    def metrics(self) -> QualityMetrics:
        """The metrics of the pairs counted so far (ROC AUC from the score histograms)."""
        values: dict[str, Any] = {
            "task": self.task,
            "count": self.count,
            "missing": self.missing,
            "excluded": self.excluded,
        }
        if self._errors is not None:
            values.update(self._errors.metrics())
            return QualityMetrics(**values)
        assert self._confusion is not None
        if self.task == "classification":
            positive = 1 if self.positive_label is None else self.positive_label
            values.update(self._confusion.metrics(positive))
            return QualityMetrics(**values)
        assert self._scores is not None
        values["threshold"] = self.threshold
        values["positive_label"] = 1 if self.positive_label is None else self.positive_label
        label_metrics = self._confusion.metrics(True)
        label_metrics.pop("positive_label", None)
        values.update(label_metrics)
        if self.count:
            values["log_loss"] = self._scores.log_loss_sum / self.count
            auc = self._scores.roc_auc()
            if auc is not None:
                values["roc_auc"], values["roc_auc_error_bound"] = auc
        return QualityMetrics(**values)


def quality_metrics(
    actual: Any,
    predicted: Any,
    *,
    task: TaskKind | None = None,
    positive_label: Label | None = None,
    threshold: float = 0.5,
) -> QualityMetrics:
    """Quality metrics of matched pairs, in one batch, with the exact ROC AUC.

    Parameters:
        actual: the ground truth (a list, numpy array or pandas Series).
        predicted: the predictions, in the same order (labels, scores or numbers).
        task: ``"classification"``, ``"binary_score"`` or ``"regression"``; inferred from
            the data when None (:func:`infer_task`).
        positive_label: the positive class (default ``1``, also ``True``).
        threshold: a score at or above it predicts the positive class.

    Returns the :class:`QualityMetrics`; with no complete pair, ``count`` 0 and no metrics.
    Raises :class:`QualityError` when the values do not fit the task.

    >>> m = quality_metrics([1, 0, 1, 1], [0.9, 0.2, 0.35, 0.8])
    >>> m.task, m.accuracy, m.roc_auc, round(m.log_loss, 6)
    ('binary_score', 0.75, 1.0, 0.400367)
    >>> quality_metrics(["cat", "dog", "dog"], ["cat", "dog", "cat"]).f1_macro
    0.6666666666666666
    """
    a, p, missing = read_pairs(actual, predicted)
    kind = task or infer_columns(a, p)
    if kind is None:
        return QualityMetrics(task=None, count=0, missing=missing)
    stats = QualityStats(
        kind, positive_label=positive_label, threshold=threshold, max_classes=None, score_bins=2
    )
    stats.missing = missing
    stats._add_columns(a, p)
    result = stats.metrics()
    if kind != "binary_score" or result.count == 0:
        return result
    auc = exact_roc_auc(positives(a, stats.positive_label), probabilities(p))
    return result.model_copy(
        update={"roc_auc": auc, "roc_auc_error_bound": None if auc is None else 0.0}
    )


def add_fitting(stats: QualityStats, actuals: list[Any], predicted: list[Any]) -> int:
    """Add the pairs that fit the task; returns how many did not. Halves a batch that fails
    (``add`` counts nothing then), so k bad pairs in n cost about k log n adds, not n."""
    try:
        stats.add(actuals, predicted)
        return 0
    except QualityError:
        if len(actuals) == 1:
            return 1
    mid = len(actuals) // 2
    return add_fitting(stats, actuals[:mid], predicted[:mid]) + add_fitting(
        stats, actuals[mid:], predicted[mid:]
    )
