"""Matched pairs read once: each side a typed :class:`Column` (bools, int64, float64 or
labels), a pair with a missing value on either side left out and counted.

A value is missing when it is None, NaN, ``pd.NA``, an infinity, or neither a number, a bool
nor a string. The helpers below turn columns into what the metrics need: label codes
(:func:`factorize`), numbers (:func:`numbers`), probabilities (:func:`probabilities`) and which
actuals are the positive class (:func:`positives`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.quality.metrics import Label, QualityError

__all__ = [
    "Column",
    "ColumnKind",
    "factorize",
    "normal_label",
    "numbers",
    "positives",
    "prediction_value",
    "probabilities",
    "read_pairs",
]

ColumnKind = Literal["bool", "int", "float", "label"]
_NUMBER_TYPES = (int, float, np.number, np.bool_)
_LABEL_TYPES = (str, int, float, np.number, np.bool_, np.str_)


@dataclass(frozen=True, slots=True)
class Column:
    """One side of the pairs, read once: bools, int64, float64 or labels (str or object)."""

    kind: ColumnKind
    values: NDArray[Any]
    missing: NDArray[np.bool_]

    def take(self, keep: NDArray[np.bool_]) -> Column:
        """The values where ``keep`` is True."""
        return Column(self.kind, self.values[keep], self.missing[keep])

    def whole(self) -> bool:
        """Every value is a whole number (ints, bools, or floats such as 1.0)."""
        if self.kind in ("bool", "int"):
            return True
        if self.kind == "float":
            v = self.values
            return bool(np.all(np.floor(v) == v))
        return False


def _array(values: Any) -> NDArray[Any]:
    if isinstance(values, pd.Series | pd.Index):
        arr = np.asarray(values.to_numpy())
    elif isinstance(values, np.ndarray):
        arr = values
    else:
        items = list(values) if isinstance(values, Iterable) else [values]
        arr = np.fromiter(items, dtype=object, count=len(items))
    if arr.ndim != 1:
        raise QualityError(f"expected a one-dimensional sequence of values, got shape {arr.shape}")
    return arr


def _column(values: Any) -> Column:
    arr = _array(values)
    n = arr.shape[0]
    kind = arr.dtype.kind
    none = np.zeros(n, dtype=bool)
    if kind == "b":
        return Column("bool", arr, none)
    if kind in "iu":
        return Column("int", arr, none)
    if kind == "f":
        floats = arr.astype(np.float64, copy=False)
        return Column("float", floats, ~np.isfinite(floats))
    if kind in "US":
        return Column("label", arr.astype(str), none)
    if kind == "O":
        return _object_column(arr)
    raise QualityError(f"cannot read values of dtype {arr.dtype} as labels or numbers")


def _object_column(arr: NDArray[Any]) -> Column:
    n = arr.shape[0]
    missing = np.asarray(pd.isna(arr), dtype=bool)
    present = arr[~missing]
    types = set(map(type, present))
    if not types:
        return Column("float", np.full(n, np.nan), np.ones(n, dtype=bool))
    if all(issubclass(t, bool | np.bool_) for t in types):
        out = np.zeros(n, dtype=bool)
        out[~missing] = present.astype(bool)
        return Column("bool", out, missing)
    if all(issubclass(t, int | np.integer | np.bool_) for t in types):
        ints = np.zeros(n, dtype=np.int64)
        try:
            ints[~missing] = present.astype(np.int64)
        except OverflowError:
            pass  # integers beyond int64 stay labels
        else:
            return Column("int", ints, missing)
    elif all(issubclass(t, _NUMBER_TYPES) for t in types):
        floats = np.full(n, np.nan)
        floats[~missing] = present.astype(np.float64)
        return Column("float", floats, ~np.isfinite(floats))
    if not all(issubclass(t, _LABEL_TYPES) for t in types) or any(
        issubclass(t, float | np.floating) for t in types
    ):
        # Rare: containers or other objects (missing, never labels) or infinite floats.
        bad = np.fromiter((not _valid_label(v) for v in present), dtype=bool, count=present.size)
        missing = missing.copy()
        missing[np.flatnonzero(~missing)[bad]] = True
    return Column("label", arr, missing)


def _valid_label(value: object) -> bool:
    if not isinstance(value, _LABEL_TYPES):
        return False
    return not isinstance(value, float | np.floating) or math.isfinite(value)


def normal_label(value: Any) -> Label:
    """Python scalars for labels: numpy scalars unwrapped, whole floats as ints."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return cast(Label, value)


def _as_labels(col: Column) -> NDArray[Any]:
    if col.kind == "float" and col.whole():
        return col.values.astype(np.int64)
    return col.values


def factorize(actual: Column, predicted: Column) -> tuple[NDArray[np.intp], list[Label]]:
    """Codes of the actuals then the predictions in one array, and the distinct labels."""
    a, p = _as_labels(actual), _as_labels(predicted)
    if (a.dtype.kind in "biuf" and p.dtype.kind in "biuf") or (
        a.dtype.kind == "U" and p.dtype.kind == "U"
    ):
        uniques, codes = np.unique(np.concatenate([a, p]), return_inverse=True)
        return codes.reshape(-1).astype(np.intp), [normal_label(u) for u in uniques]
    both = np.concatenate([a.astype(object), p.astype(object)])
    codes, uniques = pd.factorize(both)
    return np.asarray(codes, dtype=np.intp), [normal_label(u) for u in uniques]


def numbers(col: Column, side: str) -> NDArray[np.float64]:
    """The values as float64; labels raise :class:`QualityError` naming ``side``."""
    if col.kind == "label":
        raise QualityError(
            f"the {side} are labels; a regression or score needs numbers "
            "(set task='classification' for labels)"
        )
    return col.values.astype(np.float64)


def probabilities(col: Column) -> NDArray[np.float64]:
    """The predictions as scores in [0, 1]; others raise :class:`QualityError`."""
    scores = numbers(col, "predictions")
    if scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
        raise QualityError(
            "binary_score predictions must be probabilities in [0, 1], got values in "
            f"[{scores.min():g}, {scores.max():g}]"
        )
    return scores


def positives(actual: Column, positive: Label | None) -> NDArray[np.bool_]:
    """Which actuals are the positive class: equal to ``positive`` when given, else true
    bools or ones (other actuals raise :class:`QualityError`: pass ``positive_label=``)."""
    if positive is not None:
        if actual.kind == "label":
            return np.asarray(actual.values == positive, dtype=bool)
        if isinstance(positive, str):
            return np.zeros(actual.values.shape[0], dtype=bool)
        return np.asarray(actual.values == positive, dtype=bool)
    if actual.kind == "bool":
        return np.asarray(actual.values, dtype=bool)
    if actual.kind in ("int", "float"):
        v = actual.values
        if not np.all((v == 0) | (v == 1)):
            raise QualityError(
                "binary_score actuals must be 0/1 or booleans; "
                "for other labels pass positive_label= (the label of the positive class)"
            )
        return np.asarray(v == 1, dtype=bool)
    raise QualityError(
        "binary_score actuals are labels: pass positive_label= (the label of the positive "
        "class the score is the probability of)"
    )


def read_pairs(actual: Any, predicted: Any) -> tuple[Column, Column, int]:
    """Both sides read, pairs with a missing value left out: ``(actual, predicted, missing)``.
    Raises :class:`QualityError` when the two differ in length or are not one-dimensional."""
    a, p = _column(actual), _column(predicted)
    if a.values.shape[0] != p.values.shape[0]:
        raise QualityError(
            f"actuals and predictions differ in length: {a.values.shape[0]} and {p.values.shape[0]}"
        )
    lost = a.missing | p.missing
    n_missing = int(np.count_nonzero(lost))
    if n_missing:
        keep = ~lost
        a, p = a.take(keep), p.take(keep)
    return a, p, n_missing


def prediction_value(output: Any) -> Any:
    """A model output that quality can score (a label, a score, a number; a numpy scalar or
    one-element array unwrapped), else None."""
    if output is None or isinstance(output, bool | int | float | str):
        return output
    item = getattr(output, "item", None)
    if callable(item) and getattr(output, "size", 1) == 1:
        try:
            value = item()
        except (TypeError, ValueError):
            return None
        return value if isinstance(value, bool | int | float | str) else None
    return None
