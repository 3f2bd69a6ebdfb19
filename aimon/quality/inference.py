"""Which kind of task matched pairs look like (:data:`~aimon.quality.metrics.TaskKind`),
when the task is not set."""

from __future__ import annotations

from typing import Any

import numpy as np

from aimon.quality.metrics import QualityError, TaskKind
from aimon.quality.pairs import Column, read_pairs

__all__ = ["MAX_INFERRED_CLASSES", "infer_columns", "infer_task"]

#: Whole-number actuals and predictions with at most this many distinct values are read as
#: classes by :func:`infer_task` (Evidently's rule for integer columns).
MAX_INFERRED_CLASSES = 10


def infer_task(actual: Any, predicted: Any) -> TaskKind | None:
    """The kind of task the pairs look like, or None when there is no complete pair.

    * predictions that are probabilities (floats in [0, 1], not all whole) with 0/1, boolean
      or two-label actuals: ``"binary_score"``;
    * labels (strings, bools) on either side: ``"classification"``;
    * whole numbers on both sides with at most :data:`MAX_INFERRED_CLASSES` distinct values
      (together): ``"classification"``; other numbers: ``"regression"``.

    Raises :class:`QualityError` when labels face fractional numbers (no task fits).

    >>> infer_task([0, 1, 1], [0.2, 0.9, 0.4]), infer_task(["a", "b"], ["a", "a"])
    ('binary_score', 'classification')
    >>> infer_task([1.5, 2.0, 3.25], [1.0, 2.5, 3.0]), infer_task([], [])
    ('regression', None)
    """
    a, p, _ = read_pairs(actual, predicted)
    return infer_columns(a, p)


def infer_columns(a: Column, p: Column) -> TaskKind | None:
    """:func:`infer_task` on pairs already read (:func:`~aimon.quality.pairs.read_pairs`)."""
    if a.values.shape[0] == 0:
        return None
    numeric = ("int", "float")
    p_fraction = p.kind == "float" and not p.whole()
    a_fraction = a.kind == "float" and not a.whole()
    if p_fraction and p.values.min() >= 0.0 and p.values.max() <= 1.0:
        if a.kind == "bool" or (
            a.kind in numeric and bool(np.all((a.values == 0) | (a.values == 1)))
        ):
            return "binary_score"
        if a.kind == "label" and len(set(a.values.tolist())) <= 2:
            return "binary_score"
    if p_fraction or a_fraction:
        if a.kind in numeric and p.kind in numeric:
            return "regression"
        raise QualityError(
            f"cannot infer the task: the actuals are {a.kind} values and the predictions "
            f"{p.kind} values; pass task= ('classification', 'binary_score' or 'regression')"
        )
    if a.kind in ("bool", "label") or p.kind in ("bool", "label"):
        return "classification"
    distinct = np.unique(np.concatenate([a.values, p.values])).size
    return "classification" if distinct <= MAX_INFERRED_CLASSES else "regression"
