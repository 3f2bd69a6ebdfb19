"""Columns from values, and blocks of rows they are placed into."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aimon.features.batch import FeatureColumn, FloatArray
from aimon.features.sizes import _FIXED_SIZES, Sizes, _fixed_sizes, _object_sizes, _quoted_sizes
from aimon.features.values import _NUMBER_OR_NONE, _SCALAR_TYPES, _classify
from aimon.text import valid_text


class _Block:
    """Rows being assembled: columns of equal length ``n``, and with sizes each input's payload
    size (one per input: a 2-D array or a DataFrame is one input of many rows)."""

    __slots__ = ("columns", "invalid", "n", "sizes")

    def __init__(self, n: int, sizes: FloatArray | None = None) -> None:
        self.n = n
        self.columns: dict[str, FeatureColumn] = {}
        self.invalid = 0
        self.sizes = sizes


def _column_from_objects(values: Sequence[Any]) -> tuple[FeatureColumn, int]:
    """A column from arbitrary Python values, element by element (the slow path)."""
    n = len(values)
    numbers = np.empty(n, dtype=np.float64)
    labels: list[str | None] = [None] * n
    invalid = 0
    has_label = False
    for i, value in enumerate(values):
        number, label, bad = _classify(value)
        numbers[i] = number
        if label is not None:
            labels[i] = label
            has_label = True
        invalid += bad
    label_array = np.array(labels, dtype=object) if has_label else None
    return FeatureColumn(numbers, label_array), invalid


def _column_from_values(values: Sequence[Any]) -> tuple[FeatureColumn, int]:
    """A column from Python values: one numpy conversion when the types allow it."""
    column, invalid, _, _ = _value_column(values)
    return column, invalid


def _value_column(
    values: Sequence[Any], depth: int = 1, *, sized: bool = False, dumped: bool = True
) -> tuple[FeatureColumn, int, Sizes, Sizes]:
    """A column from Python values: (column, invalid, sizes, visited).

    Numbers (with ``None``) are converted by one numpy call, labels become one object array, a
    mix of the two is split by one mask; only columns holding other objects go value by value.
    With ``sized``, also each value's :func:`payload_size` inside a payload, ``depth`` levels
    down, and how many elements that visits (its share of the payload's budget); NaN where
    unknown (a value whose size raised, or with ``dumped=False``, values read from a pydantic
    model that ``model_dump`` would turn into dicts or lists).
    """
    n = len(values)
    types = set(map(type, values))
    if types <= _NUMBER_OR_NONE:
        column, invalid = _number_column(values, types)
        return column, invalid, (_fixed_sizes(values, types) if sized else 0.0), 1.0
    if types == {str}:
        column = FeatureColumn(np.full(n, np.nan), np.array(values, dtype=object))
        return column, 0, (_quoted_sizes(values) if sized else 0.0), 1.0
    if types <= _SCALAR_TYPES:  # labels, with numbers or None
        objects = np.array(values, dtype=object)
        is_label = np.fromiter(map(isinstance, values, itertools.repeat(str)), dtype=bool, count=n)
        numbers = np.full(n, np.nan)
        try:
            numbers[~is_label] = objects[~is_label].astype(np.float64)  # None -> NaN
        except (OverflowError, ValueError, TypeError):  # huge ints
            column, invalid = _column_from_objects(values)
        else:
            numbers[~np.isfinite(numbers)] = np.nan
            labels = np.full(n, None, dtype=object)
            labels[is_label] = objects[is_label]
            column, invalid = FeatureColumn(numbers, labels), 0
        if not sized:
            return column, invalid, 0.0, 1.0
        sizes = np.fromiter(
            map(_FIXED_SIZES.get, map(type, values), itertools.repeat(0.0)), np.float64, count=n
        )
        sizes[is_label] = _quoted_sizes(objects[is_label].tolist())
        return column, invalid, sizes, 1.0
    column, invalid = _column_from_objects(values)
    if not sized:
        return column, invalid, 0.0, 1.0
    sizes, visited = _object_sizes(values, depth, dumped)
    return column, invalid, sizes, visited


def _number_column(values: Sequence[Any], types: set[type]) -> tuple[FeatureColumn, int]:
    try:
        if types <= {float, int}:
            numbers = np.fromiter(values, dtype=np.float64, count=len(values))
        else:
            numbers = np.array(values, dtype=np.float64)  # None -> NaN, bools 1/0
    except (OverflowError, ValueError, TypeError):  # huge ints
        return _column_from_objects(values)
    numbers[~np.isfinite(numbers)] = np.nan
    return FeatureColumn(numbers), 0


def _record_columns(
    block: _Block,
    start: int,
    names: list[str],
    columns: Sequence[Sequence[Any]],
    max_features: int,
    *,
    sized: bool,
    depth: int = 1,
    dumped: bool = True,
) -> tuple[Sizes, Sizes]:
    """Place a run of records (rows with the same fields, given column by column) into
    ``block`` from row ``start``; returns each row's values' payload size and visited count."""
    size: Sizes = 0.0
    visited: Sizes = 0.0
    for name, values in zip(names, columns, strict=True):
        column, invalid, value_size, value_visited = _value_column(
            values, depth, sized=sized, dumped=dumped
        )
        block.invalid += invalid
        _place(block, name, column, start, max_features)
        size = size + value_size
        visited = visited + value_visited
    return size, visited


def _place(block: _Block, name: str, column: FeatureColumn, at: int, max_features: int) -> None:
    """Write ``column`` into ``block``'s feature ``name`` from row ``at`` on."""
    if not name.isascii():  # a name is a label: it must encode (one a block, not a row)
        name = valid_text(name)
    existing = block.columns.get(name)
    n = column.values.size
    if existing is None and at == 0 and n == block.n:
        if len(block.columns) >= max_features:
            block.invalid += int(n)
            return
        block.columns[name] = column
        return
    if existing is None:
        if len(block.columns) >= max_features:
            block.invalid += int(n)
            return
        existing = FeatureColumn(np.full(block.n, np.nan), None)
        block.columns[name] = existing
    existing.values[at : at + n] = column.values
    if column.labels is not None:
        labels = existing.labels
        if labels is None:
            labels = np.full(block.n, None, dtype=object)
            block.columns[name] = existing = FeatureColumn(existing.values, labels)
        labels[at : at + n] = column.labels


def _flat_values(rows: Sequence[Any], fields: Callable[[Any], Any] | None, width: int) -> list[Any]:
    """The values of ``rows`` of ``width`` fields each, in one list row after row; ``fields``
    reads a row's (an ``itemgetter`` or ``attrgetter`` of them; None: a row is its values).

    One list on purpose: a tuple per row would live until every row is read, and the garbage
    collector would walk all of them, more than once a fold."""
    if fields is None:
        return list(itertools.chain.from_iterable(rows))
    if width == 1:  # a getter of one field gives the value itself
        return list(map(fields, rows))
    return list(itertools.chain.from_iterable(map(fields, rows)))


def _flat_columns(values: list[Any], width: int) -> list[list[Any]]:
    """The columns of rows of ``width`` values held flat (see :func:`_flat_values`)."""
    return [values[j::width] for j in range(width)]


def _float_matrix(values: list[Any], width: int) -> FloatArray | None:
    """Rows of ``width`` values held flat, as a feature a row (a non-finite value as NaN), when
    every value is a float: what :func:`_value_column` makes of each column; else None."""
    # Counted, not put in a set: a list of the types and one count of float is twice as fast.
    if list(map(type, values)).count(float) != len(values):
        return None
    matrix = np.fromiter(values, dtype=np.float64, count=len(values))
    matrix = matrix.reshape(-1, width).T.copy()
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


def _flat_block(
    block: _Block,
    names: list[str],
    values: list[Any],
    max_features: int,
    *,
    sized: bool,
    depth: int = 1,
    dumped: bool = True,
) -> tuple[Sizes, Sizes]:
    """Place rows of ``len(names)`` values held flat (see :func:`_flat_values`) into
    ``block`` from row 0, as :func:`_record_columns` does: rows of floats only by one numpy
    call, others column by column. Returns each row's values' payload size and visited
    count."""
    width = len(names)
    matrix = _float_matrix(values, width) if width else None
    if matrix is None:
        columns = _flat_columns(values, width)
        return _record_columns(
            block, 0, names, columns, max_features, sized=sized, depth=depth, dumped=dumped
        )
    for name, column in zip(names, matrix, strict=True):
        _place(block, name, FeatureColumn(column), 0, max_features)
    return _FIXED_SIZES[float] * width, float(width)  # what _value_column gives a float
