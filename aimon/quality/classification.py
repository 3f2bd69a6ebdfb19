"""Classification metrics from a confusion matrix: accuracy, precision, recall and F1 (for
the positive label and macro-averaged), equal to ``sklearn.metrics`` on the same pairs."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.quality.metrics import Label

__all__ = ["Confusion"]


class Confusion:
    """Counts per (actual label, predicted label), labels in order of first appearance."""

    __slots__ = ("counts", "excluded", "index", "labels", "max_classes")

    def __init__(self, max_classes: int | None) -> None:
        self.max_classes = max_classes
        self.labels: list[Label] = []
        self.index: dict[Label, int] = {}
        self.counts: NDArray[np.int64] = np.zeros((0, 0), dtype=np.int64)
        self.excluded = 0

    def _slot(self, label: Label) -> int:
        slot = self.index.get(label)
        if slot is None:
            if self.max_classes is not None and len(self.labels) >= self.max_classes:
                return -1
            slot = len(self.labels)
            self.labels.append(label)
            self.index[label] = slot
        return slot

    def _grow(self) -> None:
        k, old = len(self.labels), self.counts.shape[0]
        if k > old:
            grown = np.zeros((k, k), dtype=np.int64)
            grown[:old, :old] = self.counts
            self.counts = grown

    def add(self, codes: NDArray[np.intp], uniques: list[Label], n: int) -> None:
        """Count ``n`` pairs given as codes into ``uniques`` (actuals first, then predictions)."""
        slots = np.array([self._slot(u) for u in uniques], dtype=np.intp)
        self._grow()
        a, p = slots[codes[:n]], slots[codes[n:]]
        kept = (a >= 0) & (p >= 0)
        if not np.all(kept):
            self.excluded += int(np.count_nonzero(~kept))
            a, p = a[kept], p[kept]
        k = len(self.labels)
        self.counts += np.bincount(a * k + p, minlength=k * k).reshape(k, k)

    def merge(self, other: Confusion) -> None:
        """Add ``other``'s counts, its labels mapped onto these (beyond ``max_classes``:
        counted in ``excluded``)."""
        self.excluded += other.excluded
        slots = np.array([self._slot(u) for u in other.labels], dtype=np.intp)
        self._grow()
        kept = slots >= 0
        if not np.all(kept):
            lost = other.counts[~kept, :].sum() + other.counts[kept][:, ~kept].sum()
            self.excluded += int(lost)
        self.counts[np.ix_(slots[kept], slots[kept])] += other.counts[np.ix_(kept, kept)]

    def copy(self) -> Confusion:
        """An independent copy."""
        out = Confusion(self.max_classes)
        out.labels = list(self.labels)
        out.index = dict(self.index)
        out.counts = self.counts.copy()
        out.excluded = self.excluded
        return out

    def metrics(self, positive: Label | None) -> dict[str, Any]:
        """Accuracy, the macro-averaged precision, recall and F1, and (at most two labels)
        those of ``positive``, as :class:`~aimon.quality.metrics.QualityMetrics` fields."""
        counts = self.counts
        n = int(counts.sum())
        if n == 0:
            return {}
        tp = np.diag(counts).astype(np.float64)
        true_sum = counts.sum(axis=1).astype(np.float64)
        pred_sum = counts.sum(axis=0).astype(np.float64)
        present = (true_sum + pred_sum) > 0
        tp, true_sum, pred_sum = tp[present], true_sum[present], pred_sum[present]
        precision = _divide(tp, pred_sum)
        recall = _divide(tp, true_sum)
        f1 = _divide(2.0 * tp, true_sum + pred_sum)
        out: dict[str, Any] = {
            "classes": int(present.sum()),
            "accuracy": float(tp.sum() / n),
            "precision_macro": float(np.mean(precision)),
            "recall_macro": float(np.mean(recall)),
            "f1_macro": float(np.mean(f1)),
        }
        labels = [label for label, here in zip(self.labels, present, strict=True) if here]
        slot = _find(labels, positive)
        if positive is not None and len(labels) <= 2 and (slot is not None or len(labels) < 2):
            out["positive_label"] = labels[slot] if slot is not None else positive
            if slot is None:
                out.update(precision=0.0, recall=0.0, f1=0.0)
            else:
                out.update(
                    precision=float(precision[slot]),
                    recall=float(recall[slot]),
                    f1=float(f1[slot]),
                )
        return out


def _find(labels: list[Label], wanted: Label | None) -> int | None:
    if wanted is None:
        return None
    for i, label in enumerate(labels):
        # str and numbers never equal; True == 1 on purpose (bool classes are 0/1 classes).
        if isinstance(label, str) == isinstance(wanted, str) and label == wanted:
            return i
    return None


def _divide(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """num / den, 0.0 where den is 0 (scikit-learn's zero_division default)."""
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, 0.0, num / safe)
