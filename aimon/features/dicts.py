"""Rows of dicts, read key by key into columns."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from aimon.features.columns import _Block, _flat_block, _flat_columns, _flat_values, _record_columns
from aimon.features.sizes import _SIZE_BUDGET, _settle_sizes, _size
from aimon.features.values import _safe_str


def _dict_rows(
    rows: Sequence[Mapping[Any, Any]],
    max_features: int,
    *,
    sized: bool = False,
    depth: int = 1,
    originals: Sequence[Any] | None = None,
) -> _Block:
    """Rows of dicts. Dicts that all have the keys of the first row are read in one step
    (:func:`_uniform_rows`): that is the common case of a fold over many single-row calls.
    Others are read in runs with one key set, key by key.

    With ``sized``, each row's :func:`payload_size` comes from its keys and its values' sizes;
    ``depth`` is that of the dict in the payload (2 for a pydantic model's ``model_dump()``;
    ``originals`` then are the models)."""
    uniform = _uniform_rows(rows, max_features, sized=sized, depth=depth, originals=originals)
    if uniform is not None:
        return uniform
    n = len(rows)
    block = _Block(n, np.zeros(n) if sized else None)
    visited = np.zeros(n)
    for start, end, keys, columns in _runs(rows):
        names = [k if type(k) is str else _safe_str(k) for k in keys]
        size, seen = _record_columns(
            block, start, names, columns, max_features, sized=sized, depth=depth
        )
        if block.sizes is not None:
            block.sizes[start:end] = 2 + _keys_size(names, depth) + size  # braces
            visited[start:end] = depth + len(names) + seen  # the dict (and model), its keys
    if block.sizes is not None:
        _settle_sizes(block.sizes, visited, rows if originals is None else originals)
    return block


def _uniform_rows(
    rows: Sequence[Mapping[Any, Any]],
    max_features: int,
    *,
    sized: bool,
    depth: int,
    originals: Sequence[Any] | None,
    keys: Sequence[str] | None = None,
    dumped: bool = True,
) -> _Block | None:
    """The common case in one step: every row has ``keys`` (a model's fields, read from its
    stored ``__dict__``), or by default exactly the first row's keys, which must be text.
    One pass reads the values in the keys' order (a row of the first's length in which each
    of its keys is found has exactly them), then :func:`_flat_block` places them, rows of
    floats at C speed. The block is what the general path gives (None: not this case).
    ``dumped`` as for :func:`_record_columns`."""
    names = list(keys if keys is not None else rows[0] if rows else ())
    width = len(names)
    if not width or set(map(type, names)) != {str}:
        return None
    if keys is None and any(map(width.__ne__, map(len, rows))):
        return None
    try:
        values = _flat_values(rows, operator.itemgetter(*names), width)
    except KeyError:
        return None
    n = len(rows)
    block = _Block(n, np.zeros(n) if sized else None)
    size, visited = _flat_block(
        block, names, values, max_features, sized=sized, depth=depth, dumped=dumped
    )
    if block.sizes is not None:
        block.sizes[:] = 2 + _keys_size(names, depth) + size  # braces
        visited = depth + width + visited  # the dict (and model), its keys, its values
        _settle_sizes(block.sizes, visited, rows if originals is None else originals)
    return block


def _keys_size(names: list[str], depth: int) -> int:
    """What a dict's keys add to its payload size: each quoted, with ":" and ","."""
    return sum(_size(name, [_SIZE_BUDGET], depth) + 2 for name in names)


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
