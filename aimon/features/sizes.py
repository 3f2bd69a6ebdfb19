"""Payload sizes: :func:`payload_size`, and the per-value sizes the column readers add up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from aimon.features.batch import FloatArray
from aimon.features.values import _NONE_TYPE, _NUMERIC_TYPES, _safe_str

_SIZE_BUDGET = 10_000  # elements visited at most per payload; the rest is extrapolated


def payload_size(obj: Any) -> int:
    """Approximate serialized size of a payload in bytes; 0 when unknown. Never raises.

    Exact for bytes-like objects, strings (UTF-8), numpy arrays and pandas objects (their
    in-memory size); for dicts, lists and tuples an estimate of the JSON-encoded size
    (8 bytes a number).

    >>> payload_size(b"abcd"), payload_size("héllo"), payload_size(np.zeros(10))
    (4, 6, 80)
    >>> payload_size({"age": 41, "country": "DE"})
    32
    """
    try:
        if type(obj) is str:
            return len(obj.encode("utf-8", "replace"))
        return _size(obj, [_SIZE_BUDGET], 0)
    except Exception:
        return 0


def _size(obj: Any, budget: list[int], depth: int) -> int:
    budget[0] -= 1
    kind = type(obj)
    if kind is float or kind is int:
        return 8
    if kind is str:
        return len(obj) + 2 if obj.isascii() else len(obj.encode("utf-8", "replace")) + 2
    if obj is None:
        return 4
    if kind is bool:
        return 5
    if isinstance(obj, bytes | bytearray | memoryview):
        return len(obj)
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, pd.DataFrame):
        return _frame_bytes(obj)
    if isinstance(obj, pd.Series):
        return int(obj.memory_usage(index=False, deep=False))
    if isinstance(obj, np.generic):
        return int(obj.nbytes)
    if depth > 16:
        return 0
    if isinstance(obj, Mapping):
        return _container_size(obj.items(), len(obj), budget, depth, pair=True)
    if isinstance(obj, list | tuple):
        return _container_size(obj, len(obj), budget, depth, pair=False)
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, type):
        return _size(dump(), budget, depth + 1)
    return 0


def _frame_bytes(frame: pd.DataFrame) -> int:
    """``frame.memory_usage(index=False, deep=False).sum()``, read from its blocks: that call
    builds a Series and costs a hundred times more (a quarter of a millisecond a frame)."""
    try:
        blocks = frame._mgr.blocks
    except AttributeError:  # a pandas without a block manager
        return int(frame.memory_usage(index=False, deep=False).sum())
    seen: dict[Any, Any] = {}
    return int(sum(_block_bytes(blk.values, seen) for blk in blocks))


def _block_bytes(values: Any, seen: dict[Any, Any]) -> float:
    """A DataFrame block's bytes as ``memory_usage(index=False, deep=False)`` counts them.
    ``seen`` keeps what is read once per run of frames: each categories index's usage (by id,
    the index kept alive beside it) and whether an extension array type has memory_usage."""
    if type(values) is np.ndarray:
        return float(values.nbytes)
    if isinstance(values.dtype, pd.CategoricalDtype):  # the codes, and the categories' usage
        categories = values.dtype.categories
        usage = seen.get(id(categories))
        if usage is None:
            usage = seen[id(categories)] = (categories, categories.memory_usage())
        return float(values._codes.nbytes + usage[1])
    kind = type(values)  # another extension array, read as Series.memory_usage reads it
    has_usage = seen.get(kind)
    if has_usage is None:
        has_usage = seen[kind] = hasattr(values, "memory_usage")
    return float(values.memory_usage(deep=False) if has_usage else values.nbytes)


def _container_size(items: Any, length: int, budget: list[int], depth: int, pair: bool) -> int:
    total = 2  # brackets
    seen = 0
    for item in items:
        if budget[0] <= 0:
            break
        if pair:
            key, value = item
            total += _size(key if type(key) is str else _safe_str(key), budget, depth + 1)
            total += 1 + _size(value, budget, depth + 1)
        else:
            total += _size(item, budget, depth + 1)
        total += 1  # separator
        seen += 1
    if seen < length and seen:
        total = 2 + (total - 2) * length // seen  # extrapolate past the budget
    return total


# What payload_size counts for a value of a fixed-size type: 8 a number, 5 ``false``, 4 ``null``,
# a numpy scalar its bytes.
_FIXED_SIZES: dict[type, float] = {float: 8.0, int: 8.0, bool: 5.0, _NONE_TYPE: 4.0} | {
    kind: float(np.dtype(kind).itemsize) for kind in _NUMERIC_TYPES if issubclass(kind, np.generic)
}

Sizes = float | FloatArray  # one per row, or one for every row


def _fixed_sizes(values: Sequence[Any], types: set[type]) -> Sizes:
    sizes = {_FIXED_SIZES[kind] for kind in types}
    if len(sizes) == 1:
        return sizes.pop()
    found = map(_FIXED_SIZES.__getitem__, map(type, values))
    return np.fromiter(found, dtype=np.float64, count=len(values))


def _quoted_sizes(strings: Sequence[str]) -> FloatArray:
    """payload_size of strings inside a payload: UTF-8 length and two quotes."""
    if all(map(str.isascii, strings)):
        lengths: Iterator[int] = map(len, strings)
    else:
        lengths = (len(s.encode("utf-8", "replace")) for s in strings)
    return np.fromiter(lengths, dtype=np.float64, count=len(strings)) + 2.0


def _object_sizes(values: Sequence[Any], depth: int, dumped: bool) -> tuple[FloatArray, FloatArray]:
    """payload_size of arbitrary values, one by one, and the elements each visits."""
    n = len(values)
    sizes = np.full(n, np.nan)
    visited = np.zeros(n)
    for i, value in enumerate(values):
        if not dumped and _reshaped_by_dump(value):
            continue
        budget = [_SIZE_BUDGET]
        try:
            sizes[i] = _size(value, budget, depth)
        except Exception:
            continue
        visited[i] = _SIZE_BUDGET - budget[0]
    return sizes, visited


def _reshaped_by_dump(value: Any) -> bool:
    """Whether pydantic's ``model_dump`` gives something other than ``value`` itself."""
    return isinstance(value, Mapping | list | tuple | set | frozenset | pydantic.BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


def _settle_sizes(sizes: FloatArray, visited: Sizes, objs: Sequence[Any]) -> None:
    """Measure the inputs whose size the columns could not give: an unknown value, or a payload
    so big that :func:`payload_size` extrapolates past its budget."""
    redo = np.isnan(sizes) | (np.asarray(visited) >= _SIZE_BUDGET)
    for i in np.flatnonzero(redo).tolist():
        sizes[i] = payload_size(objs[i])
