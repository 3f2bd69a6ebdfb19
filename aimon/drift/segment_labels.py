"""Segment values as labels: one text per value, the same whether read from a call's input
or from a profiled feature column (``3``, ``3.0`` and ``True``/``1`` are one segment each
way), and valid as a Prometheus label value. Values past a column's cap are pooled in
:data:`OTHER`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.drift.profiles import OTHER
from aimon.features import FeatureColumn
from aimon.text import valid_text

__all__ = [
    "MISSING",
    "MIXED",
    "OTHER",
    "column_labels",
    "group_rows",
    "number_label",
    "top_values",
    "value_label",
]

#: The segment of calls and rows without a value (absent, None, NaN, not readable).
MISSING = "__missing__"
#: The segment of a call whose input held several rows with different values.
MIXED = "__mixed__"
#: Labels are cut to this many characters (a label is a Prometheus label value).
MAX_LABEL = 64


def value_label(value: Any) -> str:
    """The segment label of one raw value, by the feature extraction's rules: text is a
    label, a number (bools as 1 and 0) its shortest form, anything else missing.

    >>> value_label("DE"), value_label(3), value_label(3.0), value_label(True), value_label(None)
    ('DE', '3', '3', '1', '__missing__')
    """
    if type(value) is str:
        return _text(value)
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            return number_label(float(value))
        except (OverflowError, ValueError):
            return MISSING
    if isinstance(value, str):  # a str subclass (an enum)
        return _text(str.__str__(value))
    return MISSING


def column_labels(column: FeatureColumn | None, n_rows: int) -> list[str]:
    """The segment label of each row of a profiled feature column (None: absent, every row
    missing)."""
    if column is None:
        return [MISSING] * n_rows
    out = [number_label(v) for v in column.values.tolist()]
    if column.labels is not None:
        for i, label in enumerate(column.labels.tolist()):
            if label is not None:
                out[i] = _text(label)
    return out


def number_label(value: float) -> str:
    """A number's label: whole numbers without a fraction, others in their shortest form."""
    if not math.isfinite(value):
        return MISSING
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _text(text: str) -> str:
    return valid_text(text[:MAX_LABEL]) if text else MISSING


def group_rows(labels: Sequence[str]) -> list[tuple[str, NDArray[np.intp]]]:
    """Each distinct label with the rows that hold it, in order of first appearance.

    >>> [(label, rows.tolist()) for label, rows in group_rows(["a", "b", "a"])]
    [('a', [0, 2]), ('b', [1])]
    """
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(label, len(index)) for label in labels), np.intp)
    if len(index) == 1:
        return [(labels[0], np.arange(len(labels)))]
    order = np.argsort(ids, kind="stable")
    ends = np.cumsum(np.bincount(ids, minlength=len(index)))
    pieces = np.split(order, ends[:-1])
    return list(zip(index, pieces, strict=True))


def top_values(labels: Sequence[str] | NDArray[np.str_], most: int) -> tuple[list[str], list[str]]:
    """The ``most`` labels with the most rows (ties by label), and the rest, ranked alike:
    the segments a batch comparison or a reference profile keeps apart.

    >>> top_values(["b", "a", "b", "c", "a"], 2)
    (['a', 'b'], ['c'])
    """
    values, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    order = sorted(zip(values.tolist(), counts.tolist(), strict=True), key=lambda v: (-v[1], v[0]))
    ranked = [value for value, _ in order]
    return ranked[:most], ranked[most:]
