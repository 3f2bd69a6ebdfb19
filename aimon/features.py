"""Turn what a ``predict`` function receives into columnar feature batches.

Accepted inputs: ``dict`` (one row), ``list``/``tuple`` (of scalars: one row named ``f0..``;
of dicts or sequences: one row each), numpy arrays (1-D: one row; 2-D: one row per row;
structured: named fields), pandas ``Series`` (one row) and ``DataFrame`` (one row per row),
pydantic models and dataclasses (one row), and scalars. Anything else yields no rows and counts
as invalid; nothing here raises.

Values: ints, floats and bools (as 1/0, the way numpy and pandas count them) are numeric;
strings are categorical labels; ``None``, NaN, infinities, ``pd.NA`` and dates are missing;
containers and other objects are missing and counted as invalid. A string is never parsed as
a number: the consumer decides what a label in a numeric feature means.

:func:`extract_many` is the fold step's entry point and is vectorised: consecutive dicts with
the same keys become one block whose columns are converted by numpy in one call each.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api.types import infer_dtype

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

    def label_mask(self) -> NDArray[np.bool_]:
        """Rows that hold a categorical label."""
        if self.labels is None:
            return np.zeros(self.values.size, dtype=bool)
        return np.asarray(self.labels != None, dtype=bool)  # noqa: E711 - element-wise

    def present_mask(self) -> NDArray[np.bool_]:
        """Rows where the feature has a value (a number or a label)."""
        return np.isfinite(self.values) | self.label_mask()


@dataclass(frozen=True, slots=True)
class FeatureBatch:
    """Feature rows in columns: every column has ``n_rows`` entries.

    ``invalid`` counts values that could not be read as a number or a label (containers,
    arbitrary objects) and were taken as missing.
    """

    n_rows: int
    columns: dict[str, FeatureColumn]
    invalid: int = 0
    input_sizes: FloatArray | None = None  # per input, from extract_many(sizes=True)


EMPTY = FeatureBatch(0, {})

_NUMERIC_TYPES: frozenset[type] = frozenset(
    {int, float, bool, np.bool_, np.float64, np.float32, np.float16, np.int64, np.int32,
     np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8}
)  # fmt: skip
_NONE_TYPE = type(None)
_MISSING_MARKERS = (pd.NaT, pd.NA)


class _Block:
    """Rows being assembled: columns of equal length ``n``, and each row's payload size
    when the rows are dicts (estimated from the columns, for free)."""

    __slots__ = ("columns", "invalid", "n", "sizes")

    def __init__(self, n: int) -> None:
        self.n = n
        self.columns: dict[str, FeatureColumn] = {}
        self.invalid = 0
        self.sizes: FloatArray | None = None


def _classify(value: Any) -> tuple[float, str | None, bool]:
    """(number, label, invalid) for one value, by the module's rules; never raises."""
    kind = type(value)
    if kind is float:
        return (value if math.isfinite(value) else math.nan), None, False
    if kind is str:
        return math.nan, value, False
    if value is None:
        return math.nan, None, False
    if kind is bool or kind is np.bool_:
        return (1.0 if value else 0.0), None, False
    if isinstance(value, int | float | np.integer | np.floating):  # also subclasses, huge ints
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
    """Rows of dicts. A run of dicts with the keys of its first row is converted in one step:
    its values are read with one ``itemgetter`` pass and its numeric columns by one numpy
    call; that is the common case of a fold over many single-row calls."""
    block = _Block(len(rows))
    sizes = np.zeros(len(rows))
    for start, end, keys, values in _runs(rows):
        names = [k if type(k) is str else _safe_str(k) for k in keys]
        columns = _run_columns(values, end - start, len(keys))
        sizes[start:end] += 2 + sum(len(name) + 4 for name in names)  # braces, quotes, colon
        for name, (column, invalid) in zip(names, columns, strict=True):
            block.invalid += invalid
            _place(block, name, column, start, max_features)
            sizes[start:end] += _value_bytes(column)
    block.sizes = sizes
    return block


def _runs(
    rows: Sequence[Mapping[Any, Any]],
) -> Iterator[tuple[int, int, list[Any], list[tuple[Any, ...]]]]:
    """Split rows into runs with one key set: (start, end, keys, value tuples in key order).

    Rows of the same length from which ``itemgetter(*keys)`` reads every key have exactly
    those keys, so a run costs one ``len`` and one ``itemgetter`` call per row; key order may
    differ between rows.
    """
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    cuts = [0, *(np.flatnonzero(np.diff(lengths)) + 1).tolist(), len(rows)]
    for lo, hi in itertools.pairwise(cuts):
        start = lo
        while start < hi:
            keys = list(rows[start])
            getter = itemgetter(*keys) if len(keys) > 1 else None
            run = rows[start:hi]
            try:
                if getter is not None:
                    values = list(map(getter, run))
                else:
                    values = [(r[keys[0]],) for r in run] if keys else [()] * len(run)
                end = hi
            except KeyError:  # the key set changes inside this run of equal lengths
                end = start + 1
                while end < hi and all(k in rows[end] for k in keys):
                    end += 1
                run = rows[start:end]
                values = list(map(getter, run)) if getter else [(r[keys[0]],) for r in run]
            yield start, end, keys, values
            start = end


def _run_columns(
    values: list[tuple[Any, ...]], n_rows: int, width: int
) -> list[tuple[FeatureColumn, int]]:
    """Columns of a run of rows given as value tuples in key order.

    numpy infers the dtype of the whole run in C: only numbers (and bools) give a numeric
    matrix, read in one step. Otherwise the run becomes an object matrix and each column's
    kind is inferred by pandas (also in C): a column of numbers and ``None`` is still
    converted by one numpy call, and only columns that hold labels or oddities go value by
    value. A string is never parsed as a number on any of these paths.
    """
    if width == 0:
        return []
    try:
        matrix = np.array(values)
        if matrix.ndim != 2 or matrix.dtype.kind not in "biufO":
            matrix = np.array(values, dtype=object)  # strings made numpy stringify numbers
    except (OverflowError, ValueError, TypeError):  # ragged (sequence values) or hostile
        columns = list(zip(*values, strict=True))
        return [_column_from_values(column) for column in columns]
    if matrix.dtype.kind != "O":
        numbers = matrix.astype(np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        return [(FeatureColumn(np.ascontiguousarray(numbers[:, j])), 0) for j in range(width)]
    return [_object_column(matrix[:, j]) for j in range(width)]


_NUMERIC_KINDS = frozenset({"floating", "integer", "mixed-integer-float"})


def _object_column(values: ObjectArray) -> tuple[FeatureColumn, int]:
    """A column from an object array: numbers and ``None`` in one numpy call, else by value."""
    if infer_dtype(values, skipna=True) in _NUMERIC_KINDS:
        try:
            numbers = np.array(values, dtype=np.float64)  # None -> NaN
        except (OverflowError, ValueError, TypeError):  # huge ints, pd.NA
            return _column_from_objects(values.tolist())
        numbers[~np.isfinite(numbers)] = np.nan
        return FeatureColumn(numbers), 0
    return _column_from_values(values.tolist())


def _value_bytes(column: FeatureColumn) -> NDArray[np.float64]:
    """Estimated JSON size of each row's value: 8 per number, 4 per null, a label's length."""
    sizes = np.where(np.isnan(column.values), 4.0, 8.0)
    if column.labels is not None:
        has_label = column.label_mask()
        if has_label.any():
            lengths = np.fromiter(
                (len(label) + 2 for label in column.labels[has_label]), dtype=np.float64
            )
            sizes[has_label] = lengths
    return sizes


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
    if pd.api.types.is_numeric_dtype(dtype):  # bools included
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
    if array.dtype.kind in "biuf":
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
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        return FeatureColumn(numbers), 0
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
    _, _, bad = _classify(obj)
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


def extract_many(
    objs: Sequence[Any], *, max_features: int = 512, sizes: bool = False
) -> FeatureBatch:
    """The rows of all ``objs`` concatenated in order, with columns aligned by name.

    A feature absent from some input is missing (NaN, no label) in that input's rows. An input
    that cannot be read contributes no rows and counts as invalid. Never raises. With
    ``sizes=True`` the batch also carries each input's :func:`payload_size` (for dicts,
    estimated from the extracted columns at no extra pass).

    >>> batch = extract_many([{"a": 1.0}, {"a": 2.0, "b": "x"}, [[5.0], [6.0]]])
    >>> batch.n_rows, batch.columns["a"].values.tolist()[:2], list(batch.columns)
    (4, [1.0, 2.0], ['a', 'b', 'f0'])
    """
    blocks: list[_Block] = []
    input_sizes: list[FloatArray] = []
    pending: list[Mapping[Any, Any]] = []

    def flush_dicts() -> None:
        block = _safe_block(_dict_rows, pending, max_features)
        blocks.append(block)
        if sizes:
            input_sizes.append(block.sizes if block.sizes is not None else np.zeros(len(pending)))

    if set(map(type, objs)) == {dict}:  # the usual fold: rows of dicts, in one block
        pending, objs = list(objs), ()
    for obj in objs:
        if type(obj) is dict:
            pending.append(obj)
            continue
        if pending:
            flush_dicts()
            pending = []
        blocks.append(_safe_block(_block_of, obj, max_features))
        if sizes:
            input_sizes.append(np.array([payload_size(obj)], dtype=np.float64))
    if pending:
        flush_dicts()
    batch = _concat(blocks, max_features)
    if not sizes:
        return batch
    all_sizes = np.concatenate(input_sizes) if input_sizes else np.zeros(0)
    return FeatureBatch(batch.n_rows, batch.columns, batch.invalid, all_sizes)


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
