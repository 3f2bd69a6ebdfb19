"""What model quality is measured as: the kinds of task, labels, the metrics' names and the
:class:`QualityMetrics` they are reported in, how quality is set to be measured
(:func:`quality_settings`) and the change of one result against another
(:func:`quality_change`).

The metrics are computed in :mod:`aimon.quality.stats` (whose notes define each edge case),
from the parts in :mod:`~aimon.quality.classification`, :mod:`~aimon.quality.binary_scores` and
:mod:`~aimon.quality.regression`.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict

from aimon.errors import AimonError

__all__ = [
    "EPS",
    "METRIC_NAMES",
    "Label",
    "QualityError",
    "QualityMetrics",
    "TaskKind",
    "label_from_text",
    "quality_change",
    "quality_settings",
]

TaskKind = Literal["classification", "binary_score", "regression"]
Label = bool | int | float | str

#: scikit-learn's epsilon in MAPE and log-loss clipping (float64 machine epsilon).
EPS = float(np.finfo(np.float64).eps)

#: The metrics of :class:`QualityMetrics`, in the order :meth:`QualityMetrics.values` gives.
METRIC_NAMES = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "log_loss",
    "roc_auc",
    "mae",
    "rmse",
    "mape",
    "r2",
)


class QualityError(AimonError, ValueError):
    """The pairs cannot be evaluated as asked; the message says what to pass instead."""


class QualityMetrics(BaseModel):
    """Quality of one model over a set of matched pairs; immutable and JSON-ready.

    A metric is ``None`` when the task does not have it or it is undefined on these pairs
    (see :mod:`aimon.quality.stats`). ``count`` is the number of pairs the metrics are computed on,
    ``missing`` the pairs left out for a missing actual or prediction, ``excluded`` the pairs
    a :class:`QualityStats` did not count because their label exceeded ``max_classes``.
    ``mape_excluded`` (regression) the pairs left out of MAPE because their actual is 0.
    ``roc_auc_error_bound`` is 0.0 for the exact AUC of :func:`quality_metrics` and the
    largest possible distance from it for the binned AUC of :class:`QualityStats`.

    >>> from aimon.quality import quality_metrics
    >>> m = quality_metrics([0, 1, 1, 0], [0, 1, 0, 0])
    >>> m.task, m.count, m.accuracy, m.recall
    ('classification', 4, 0.75, 0.5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: TaskKind | None
    count: int
    missing: int = 0
    excluded: int = 0
    classes: int | None = None
    positive_label: Label | None = None
    threshold: float | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    precision_macro: float | None = None
    recall_macro: float | None = None
    f1_macro: float | None = None
    log_loss: float | None = None
    roc_auc: float | None = None
    roc_auc_error_bound: float | None = None
    mae: float | None = None
    rmse: float | None = None
    mape: float | None = None
    mape_excluded: int | None = None
    r2: float | None = None

    def values(self) -> dict[str, float]:
        """The defined metrics by name (what ``aimon_model_quality{metric}`` exports).

        >>> from aimon.quality import quality_metrics
        >>> quality_metrics([1.0, 2.0], [1.5, 2.0]).values()
        {'mae': 0.25, 'rmse': 0.3535533905932738, 'mape': 0.25, 'r2': 0.5}
        """
        out: dict[str, float] = {}
        for name in METRIC_NAMES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def label_from_text(value: Any) -> Any:
    """A label as written in a flag, a variable or a file: text that is a whole number is
    the number (labels 0/1 are numbers), other values stay as they are.

    >>> label_from_text("1"), label_from_text("-2"), label_from_text("fraud"), label_from_text(1)
    (1, -2, 'fraud', 1)
    """
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def quality_settings(
    task: TaskKind | None = None,
    positive_label: Label | None = None,
    threshold: float | None = None,
    reference: QualityMetrics | None = None,
) -> tuple[TaskKind | None, Label | None, float]:
    """How to measure quality: ``(task, positive_label, threshold)``, the given ones, else
    ``reference``'s (the quality it was measured with), else the defaults (task inferred
    later, label ``1``, threshold 0.5). Quality is compared with a reference's only when
    measured the same way, so a given setting that differs from the reference's raises
    :class:`QualityError` naming it (``quality_task``, ``positive_label``,
    ``quality_threshold``), as does a threshold outside [0, 1] or an unknown task.

    >>> from aimon.quality import quality_metrics
    >>> ref = quality_metrics([0, 1, 1], [0.2, 0.7, 0.4], threshold=0.3)
    >>> quality_settings(reference=ref)
    ('binary_score', 1, 0.3)
    """
    if reference is not None:
        measured = {
            "quality_task": (task, reference.task),
            "positive_label": (positive_label, reference.positive_label),
            "quality_threshold": (threshold, reference.threshold),
        }
        for field, (given, theirs) in measured.items():
            if given is not None and theirs is not None and given != theirs:
                raise QualityError(
                    f"{field}: {given!r} differs from the reference's {theirs!r}, and live "
                    "quality is compared with the reference's only when measured the same "
                    "way; leave it unset or rebuild the reference with it"
                )
        task = task or reference.task
        positive_label = positive_label if positive_label is not None else reference.positive_label
        threshold = threshold if threshold is not None else reference.threshold
    threshold = 0.5 if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise QualityError(f"quality_threshold: must be in [0, 1], got {threshold}")
    if task is not None and task not in get_args(TaskKind):
        raise QualityError(
            f"quality_task: unknown task {task!r}: expected one of {', '.join(get_args(TaskKind))}"
        )
    return task, positive_label, threshold


def quality_change(live: QualityMetrics | None, reference: QualityMetrics) -> dict[str, float]:
    """Live minus reference, per metric defined in both (empty before live quality exists):
    a negative accuracy, F1 or ROC AUC change and a positive log loss, MAE or RMSE change
    mean the model got worse than on the reference.

    >>> from aimon.quality import quality_metrics
    >>> ref = quality_metrics([0, 1, 1, 0], [0, 1, 1, 0])
    >>> quality_change(quality_metrics([0, 1, 1, 0], [0, 1, 0, 0]), ref)["accuracy"]
    -0.25
    """
    if live is None:
        return {}
    theirs = reference.values()
    return {name: value - theirs[name] for name, value in live.values().items() if name in theirs}
