"""Rows of dicts, read key by key into columns."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from aimon.features.batch import FeatureColumn
from aimon.features.columns import (
    _Block,
    _flat_columns,
    _flat_values,
    _float_matrix,
    _place,
    _record_columns,
)
from aimon.features.sizes import _FIXED_SIZES, _SIZE_BUDGET, _settle_sizes, _size
from aimon.features.values import _safe_str


def _dict_rows(
    rows: Sequence[Mapping[Any, Any]],
    max_features: int,
    *,
    sized: bool = False,
    depth: int = 1,
    originals: Sequence[Any] | None = None,
) -> _Block:
    """Rows of dicts. A run of dicts with the keys of its first row is converted in one step:
    its values are read key by key and each column converted by one numpy call; that is the
    common case of a fold over many single-row calls.

    With ``sized``, each row's :func:`payload_size` comes from its keys and its values' sizes;
    ``depth`` is that of the dict in the payload (2 for a pydantic model's ``model_dump()``;
    ``originals`` then are the models)."""
    fast = _float_rows(rows, max_features, sized, depth, originals)
    if fast is not None:
        return fast
    n = len(rows)
    block = _Block(n, np.zeros(n) if sized else None)
    visited = np.zeros(n)
    for start, end, keys, columns in _runs(rows):
        names = [k if type(k) is str else _safe_str(k) for k in keys]
        size, seen = _record_columns(
            block, start, names, columns, max_features, sized=sized, depth=depth
        )
        if block.sizes is not None:
            keys_size = sum(_size(name, [_SIZE_BUDGET], depth) + 2 for name in names)  # ":" ","
            block.sizes[start:end] = 2 + keys_size + size  # braces
            visited[start:end] = depth + len(names) + seen  # the dict (and model), its keys
    if block.sizes is not None:
        _settle_sizes(block.sizes, visited, rows if originals is None else originals)
    return block


def _float_rows(
    rows: Sequence[Mapping[Any, Any]],
    max_features: int,
    sized: bool,
    depth: int,
    originals: Sequence[Any] | None,
    keys: Sequence[str] | None = None,
) -> _Block | None:
    """The common case at C speed: every row has exactly ``keys`` (by default the first row's,
    which must be text), and every value is a float. One pass reads the values in the keys'
    order (a row of their number in which each is found has exactly them), one their types,
    one numpy call makes the matrix; the block is what the general path gives (None: not this
    case)."""
    names = tuple(keys if keys is not None else rows[0] if rows else ())
    width = len(names)
    if not width or set(map(type, names)) != {str} or any(map(width.__ne__, map(len, rows))):
        return None
    try:
        values = _flat_values(rows, operator.itemgetter(*names), width)
    except KeyError:
        return None
    matrix = _float_matrix(values, width)
    if matrix is None:
        return None
    n = len(rows)
    block = _Block(n, np.zeros(n) if sized else None)
    for name, column in zip(names, matrix, strict=True):
        _place(block, name, FeatureColumn(column), 0, max_features)
    if block.sizes is not None:
        keys_size = sum(_size(name, [_SIZE_BUDGET], depth) + 2 for name in names)  # ":" ","
        block.sizes[:] = 2 + keys_size + _FIXED_SIZES[float] * width  # braces
        visited = np.full(n, float(depth + 2 * width))  # the dict, its keys, its values
        _settle_sizes(block.sizes, visited, rows if originals is None else originals)
    return block


def _runs(
    rows: Sequence[Mapping[Any, Any]],
) -> Iterator[tuple[int, int, list[Any], list[list[Any]]]]:
    """Split rows into runs with one key set: (start, end, keys, the values column by column).

    Rows of the same length from which every key of the first can be read have exactly those
    keys, so a run costs one ``len`` per row and one lookup per value; key order may differ
    between rows.
    """
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    cuts = [0, *(np.flatnonzero(np.diff(lengths)) + 1).tolist(), len(rows)]
    for lo, hi in itertools.pairwise(cuts):
        start = lo
        while start < hi:
            keys = list(rows[start])
            try:
                columns = _key_columns(rows[start:hi], keys)
                end = hi
            except KeyError:  # the key set changes inside this run of equal lengths
                end = start + 1
                while end < hi and all(k in rows[end] for k in keys):
                    end += 1
                columns = _key_columns(rows[start:end], keys)
            yield start, end, keys, columns
            start = end


def _key_columns(rows: Sequence[Mapping[Any, Any]], keys: list[Any]) -> list[list[Any]]:
    """The values of each of ``keys`` in ``rows`` (KeyError: a row without one)."""
    if not keys:
        return []
    return _flat_columns(_flat_values(rows, operator.itemgetter(*keys), len(keys)), len(keys))
