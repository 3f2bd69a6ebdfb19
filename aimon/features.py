"""Turn what a ``predict`` function receives into columnar feature batches.

Accepted inputs: ``dict`` (one row), ``list``/``tuple`` (of scalars: one row named ``f0..``;
of dicts or sequences: one row each), numpy arrays (1-D: one row; 2-D: one row per row;
structured: named fields), pandas ``Series`` (one row) and ``DataFrame`` (one row per row),
pydantic models and dataclasses (one row), and scalars. Anything else yields no rows and counts
as invalid; nothing here raises.

Values: ints and floats are numeric; strings (and bools, as ``"True"``/``"False"``) are
categorical labels; ``None``, NaN, infinities, ``pd.NA`` and dates are missing; containers and
other objects are missing and counted as invalid. A string is never parsed as a number: the
consumer decides what a label in a numeric feature means.

:func:`extract_many` is the fold step's entry point and is vectorised: consecutive dicts with
the same keys become one block whose columns are converted by numpy in one call each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "EMPTY",
    "FeatureBatch",
    "FeatureColumn",
    "FeatureExtractor",
    "extract",
    "extract_many",
    "payload_size",
]

FeatureExtractor = Callable[[Any], Any]

FloatArray = NDArray[np.float64]
ObjectArray = NDArray[np.object_]


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    """One feature over the rows of a batch.

    ``values`` holds the number (NaN where missing or not numeric); ``labels`` holds the
    categorical label (``None`` where numeric or missing), or is ``None`` altogether when no
    row of the batch has a label.
    """

    values: FloatArray
    labels: ObjectArray | None = None


@dataclass(frozen=True, slots=True)
class FeatureBatch:
    """Feature rows in columns: every column has ``n_rows`` entries.

    ``invalid`` counts values that could not be read as a number or a label (containers,
    arbitrary objects) and were taken as missing.
    """

    n_rows: int
    columns: dict[str, FeatureColumn]
    invalid: int = 0


EMPTY = FeatureBatch(0, {})

_NUMERIC_TYPES: frozenset[type] = frozenset(
    {int, float, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
     np.uint64, np.uint32, np.uint16, np.uint8}
)  # fmt: skip
_NONE_TYPE = type(None)
_MISSING_MARKERS = (pd.NaT, pd.NA)


class _Block:
    """Rows being assembled: columns of equal length ``n``."""

    __slots__ = ("columns", "invalid", "n")

    def __init__(self, n: int) -> None:
        self.n = n
        self.columns: dict[str, FeatureColumn] = {}
        self.invalid = 0


def _classify(value: Any) -> tuple[float, str | None, bool]:
    """(number, label, invalid) for one value, by the module's rules; never raises."""
    kind = type(value)
    if kind in _NUMERIC_TYPES:
        number = float(value)
        return (number if math.isfinite(number) else math.nan), None, False
    if kind is str:
        return math.nan, value, False
    if value is None:
        return math.nan, None, False
    if kind is bool or kind is np.bool_:
        return math.nan, ("True" if value else "False"), False
    if isinstance(value, int | float | np.integer | np.floating):  # subclasses, huge ints
        try:
            number = float(value)
        except (OverflowError, ValueError, TypeError):
            return math.nan, None, False
        return (number if math.isfinite(number) else math.nan), None, False
    if isinstance(value, bytes | bytearray):
        return math.nan, bytes(value).decode("utf-8", errors="replace"), False
    if isinstance(value, str):  # str subclasses (enums)
        return math.nan, str.__str__(value), False
    try:
        if any(value is marker for marker in _MISSING_MARKERS):
            return math.nan, None, False
    except Exception:  # a hostile __eq__ or __bool__
        return math.nan, None, True
    if isinstance(value, np.datetime64 | np.timedelta64) or hasattr(value, "isoformat"):
        return math.nan, None, False  # dates and times: not tracked yet
    return math.nan, None, True


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
    types = set(map(type, values))
    if types <= _NUMERIC_TYPES or (types - {_NONE_TYPE}) <= _NUMERIC_TYPES:
        try:
            numbers = np.array(values, dtype=np.float64)
        except (OverflowError, ValueError, TypeError):
            return _column_from_objects(values)
        numbers[~np.isfinite(numbers)] = np.nan
        return FeatureColumn(numbers), 0
    if types <= {str, _NONE_TYPE}:
        labels = np.array(values, dtype=object)
        return FeatureColumn(np.full(len(values), np.nan), labels), 0
    return _column_from_objects(values)


def _dict_rows(rows: Sequence[Mapping[Any, Any]], max_features: int) -> _Block:
    """Rows of dicts. Runs of dicts with the same keys in the same order are converted
    column-wise in one step; that is the common case of a fold over many single calls."""
    block = _Block(len(rows))
    start = 0
    while start < len(rows):
        keys = tuple(rows[start])
        end = start + 1
        while end < len(rows) and tuple(rows[end]) == keys:
            end += 1
        run = rows[start:end]
        names = [k if type(k) is str else _safe_str(k) for k in keys]
        value_columns = list(zip(*(tuple(r.values()) for r in run), strict=True)) if keys else []
        for name, column_values in zip(names, value_columns, strict=True):
            column, invalid = _column_from_values(column_values)
            block.invalid += invalid
            _place(block, name, column, start, max_features)
        start = end
    return block


def _place(block: _Block, name: str, column: FeatureColumn, at: int, max_features: int) -> None:
    """Write ``column`` into ``block``'s feature ``name`` from row ``at`` on."""
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


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _frame_block(frame: pd.DataFrame, max_features: int) -> _Block:
    block = _Block(len(frame))
    for name, series in frame.items():
        if len(block.columns) >= max_features:
            block.invalid += block.n
            continue
        column, invalid = _series_column(series)
        block.columns[_safe_str(name)] = column
        block.invalid += invalid
    return block


def _series_column(series: pd.Series) -> tuple[FeatureColumn, int]:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _column_from_objects(series.astype(object).tolist())
    if pd.api.types.is_numeric_dtype(dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        numbers = np.where(np.isfinite(numbers), numbers, np.nan)
        return FeatureColumn(numbers), 0
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return FeatureColumn(np.full(len(series), np.nan)), 0
    return _column_from_values(series.astype(object).tolist())


def _array_block(array: NDArray[Any], max_features: int) -> _Block:
    if array.dtype.names:  # structured: one named column per field
        rows = array.reshape(-1)
        block = _Block(rows.size)
        for name in array.dtype.names[:max_features]:
            column, invalid = _ndarray_column(rows[name])
            block.columns[name] = column
            block.invalid += invalid
        return block
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(1, -1)
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    block = _Block(array.shape[0])
    width = min(array.shape[1], max_features)
    block.invalid += (array.shape[1] - width) * array.shape[0]
    if array.dtype.kind in "iuf":
        numbers = array[:, :width].astype(np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        for j in range(width):
            block.columns[f"f{j}"] = FeatureColumn(np.ascontiguousarray(numbers[:, j]))
        return block
    for j in range(width):
        column, invalid = _ndarray_column(array[:, j])
        block.columns[f"f{j}"] = column
        block.invalid += invalid
    return block


def _ndarray_column(values: NDArray[Any]) -> tuple[FeatureColumn, int]:
    if values.dtype.kind in "iuf":
        numbers = values.astype(np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        return FeatureColumn(numbers), 0
    if values.dtype.kind == "b":
        labels = np.where(values, "True", "False").astype(object)
        return FeatureColumn(np.full(values.size, np.nan), labels), 0
    if values.dtype.kind in "US":
        return _column_from_values(values.astype(str).tolist())
    return _column_from_values(values.tolist())


def _sequence_block(items: Sequence[Any], max_features: int) -> _Block:
    if not items:
        return _Block(0)
    first = items[0]
    if all(isinstance(item, Mapping) for item in items):
        return _dict_rows(items, max_features)
    if isinstance(first, list | tuple | np.ndarray) and all(
        isinstance(item, list | tuple | np.ndarray) for item in items
    ):
        width = max(len(item) for item in items)
        padded = [list(item) + [None] * (width - len(item)) for item in items]
        block = _Block(len(items))
        for j, values in enumerate(zip(*padded, strict=True)):
            if j >= max_features:
                block.invalid += len(items)
                continue
            column, invalid = _column_from_values(values)
            block.columns[f"f{j}"] = column
            block.invalid += invalid
        return block
    # A flat sequence of scalars is one row.
    return _dict_rows([{f"f{j}": v for j, v in enumerate(items)}], max_features)


def _block_of(obj: Any, max_features: int) -> _Block:
    """The rows of one input."""
    if isinstance(obj, Mapping):
        return _dict_rows([obj], max_features)
    if isinstance(obj, pd.DataFrame):
        return _frame_block(obj, max_features)
    if isinstance(obj, pd.Series):
        return _dict_rows([dict(zip(obj.index, obj.tolist(), strict=True))], max_features)
    if isinstance(obj, np.ndarray):
        return _array_block(obj, max_features)
    if isinstance(obj, list | tuple):
        return _sequence_block(obj, max_features)
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, type):  # pydantic v2 model
        return _dict_rows([dump()], max_features)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return _dict_rows([fields], max_features)
    number, label, bad = _classify(obj)
    if bad:
        block = _Block(0)
        block.invalid = 1
        return block
    return _dict_rows([{"f0": obj}], max_features)


def extract(obj: Any, *, max_features: int = 512) -> FeatureBatch:
    """The feature rows of one ``predict`` input. Never raises.

    >>> batch = extract({"age": 41, "amount": 120.5, "country": "DE", "note": None})
    >>> batch.n_rows, batch.columns["age"].values.tolist(), batch.columns["country"].labels.tolist()
    (1, [41.0], ['DE'])
    >>> bool(np.isnan(batch.columns["note"].values[0]))
    True
    """
    return extract_many([obj], max_features=max_features)


def extract_many(objs: Sequence[Any], *, max_features: int = 512) -> FeatureBatch:
    """The rows of all ``objs`` concatenated in order, with columns aligned by name.

    A feature absent from some input is missing (NaN, no label) in that input's rows. An input
    that cannot be read contributes no rows and counts as invalid. Never raises.

    >>> batch = extract_many([{"a": 1.0}, {"a": 2.0, "b": "x"}, [[5.0], [6.0]]])
    >>> batch.n_rows, batch.columns["a"].values.tolist()[:2], list(batch.columns)
    (4, [1.0, 2.0], ['a', 'b', 'f0'])
    """
    blocks: list[_Block] = []
    pending_dicts: list[Mapping[Any, Any]] = []
    for obj in objs:
        if type(obj) is dict:
            pending_dicts.append(obj)
            continue
        if pending_dicts:
            blocks.append(_safe_block(_dict_rows, pending_dicts, max_features))
            pending_dicts = []
        blocks.append(_safe_block(_block_of, obj, max_features))
    if pending_dicts:
        blocks.append(_safe_block(_dict_rows, pending_dicts, max_features))
    return _concat(blocks, max_features)


def _safe_block(make: Callable[[Any, int], _Block], obj: Any, max_features: int) -> _Block:
    try:
        return make(obj, max_features)
    except Exception:
        # Hostile input (a __len__ that lies, a mapping whose iteration raises...): no rows,
        # counted. Feature extraction must never make a prediction fail or be lost.
        block = _Block(0)
        block.invalid = 1
        return block


def _concat(blocks: list[_Block], max_features: int) -> FeatureBatch:
    blocks = [b for b in blocks if b.n or b.invalid]
    invalid = sum(b.invalid for b in blocks)
    if len(blocks) == 1:
        only = blocks[0]
        return FeatureBatch(only.n, only.columns, invalid)
    total = sum(b.n for b in blocks)
    out = _Block(total)
    out.invalid = invalid
    at = 0
    for block in blocks:
        for name, column in block.columns.items():
            _place(out, name, column, at, max_features)
        at += block.n
    return FeatureBatch(total, out.columns, out.invalid)


# -- payload sizes ------------------------------------------------------------------------

_SIZE_BUDGET = 10_000  # elements visited at most per payload; the rest is extrapolated


def payload_size(obj: Any) -> int:
    """Approximate serialized size of a payload in bytes; 0 when unknown. Never raises.

    Exact for bytes-like objects, strings (UTF-8), numpy arrays and pandas objects (their
    in-memory size); for dicts, lists and tuples an estimate of the JSON-encoded size (8 bytes a number).

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
        return int(obj.memory_usage(index=False, deep=False).sum())
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
