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

:func:`extract_many` is the fold step's entry point and is vectorised: consecutive inputs of one
form are read as one block (dicts, a run per key set; flat lists and tuples of one length; plain
arrays of one dtype and shape; Series with one index and dtype; DataFrames with the same columns
and dtypes; pydantic models or dataclasses of one class; scalars), converted column by column,
by one numpy call per column where the values' types allow. Anything else, and a run whose
batch fails, is read one input at a time; either way the rows are the same.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pydantic
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


_NUMBER_OR_NONE = _NUMERIC_TYPES | {_NONE_TYPE}
_SCALAR_TYPES = _NUMBER_OR_NONE | {str}
# What payload_size counts for a value of a fixed-size type: 8 a number, 5 ``false``, 4 ``null``,
# a numpy scalar its bytes.
_FIXED_SIZES: dict[type, float] = {float: 8.0, int: 8.0, bool: 5.0, _NONE_TYPE: 4.0} | {
    kind: float(np.dtype(kind).itemsize) for kind in _NUMERIC_TYPES if issubclass(kind, np.generic)
}

Sizes = float | FloatArray  # one per row, or one for every row


class _Block:
    """Rows being assembled: columns of equal length ``n``, and with sizes each input's payload
    size (one per input: a 2-D array or a DataFrame is one input of many rows)."""

    __slots__ = ("columns", "invalid", "n", "sizes")

    def __init__(self, n: int, sizes: FloatArray | None = None) -> None:
        self.n = n
        self.columns: dict[str, FeatureColumn] = {}
        self.invalid = 0
        self.sizes = sizes


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


def _runs(
    rows: Sequence[Mapping[Any, Any]],
) -> Iterator[tuple[int, int, list[Any], list[Sequence[Any]]]]:
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


def _key_columns(rows: Sequence[Mapping[Any, Any]], keys: list[Any]) -> list[Sequence[Any]]:
    return [[row[key] for row in rows] for key in keys]


def _attribute_columns(objs: Sequence[Any], names: list[str]) -> list[Sequence[Any]]:
    if len(names) > 1:
        return list(zip(*map(attrgetter(*names), objs), strict=True))
    return [list(map(attrgetter(names[0]), objs))] if names else []


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
    """The rows of one input, read alone (what a run falls back to)."""
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


# -- runs: inputs of one form read as one block ---------------------------------------------

_Reader = Callable[[list[Any], int, bool], Iterator[_Block]]


def _spans(keys: Sequence[Any]) -> Iterator[tuple[int, int, Any]]:
    """(start, end, key) of each span of equal consecutive keys; a ``None`` key spans one."""
    start, n = 0, len(keys)
    while start < n:
        key = keys[start]
        end = start + 1
        if key is not None:
            while end < n and keys[end] == key:
                end += 1
        yield start, end, key
        start = end


def _one_by_one(objs: Sequence[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    for obj in objs:
        block = _safe_block(_block_of, obj, max_features)
        block.sizes = np.array([payload_size(obj)], dtype=np.float64) if sized else None
        yield block


def _read_run(read: _Reader, run: list[Any], max_features: int, sized: bool) -> list[_Block]:
    try:
        return list(read(run, max_features, sized))
    except Exception:
        # A hostile input (a __len__ that lies, an attribute that raises...) fails the batch:
        # its run is read again one input at a time, so only that input is lost.
        return list(_one_by_one(run, max_features, sized))


def _read_dicts(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    yield _dict_rows(run, max_features, sized=sized)


def _read_sequences(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Flat lists and tuples of scalars (one row each, ``f0``...): a run of one length is one
    block, read column by column. Nested or empty ones are read alone."""
    widths = [len(items) if items and type(items[0]) in _SCALAR_TYPES else None for items in run]
    for start, end, width in _spans(widths):
        rows = run[start:end]
        if width is None:
            yield from _one_by_one(rows, max_features, sized)
            continue
        n = end - start
        block = _Block(n, np.zeros(n) if sized else None)
        names = [f"f{j}" for j in range(width)]
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        size, visited = _record_columns(block, 0, names, columns, max_features, sized=sized)
        if block.sizes is not None:
            block.sizes += 2 + width + size  # brackets, separators
            _settle_sizes(block.sizes, 1 + visited, rows)
        yield block


def _read_arrays(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Plain numpy arrays: a run of one dtype and shape (for 2-D: one width) is stacked into
    one 2-D block. Structured arrays and arrays of more dimensions are read alone."""
    keys = [
        None if a.dtype.names is not None or a.ndim > 2 else (a.dtype, a.ndim, a.shape[-1:])
        for a in run
    ]
    for start, end, key in _spans(keys):
        arrays = run[start:end]
        if key is None:
            yield from _one_by_one(arrays, max_features, sized)
            continue
        _, ndim, last_axis = key
        if ndim == 2:
            matrix = np.concatenate(arrays)
        elif ndim == 1:  # np.concatenate, as np.stack costs a view per array
            matrix = np.concatenate(arrays).reshape(len(arrays), *last_axis)
        else:
            matrix = np.concatenate([a.reshape(1) for a in arrays]).reshape(-1, 1)
        block = _array_block(matrix, max_features)
        if sized:
            nbytes = map(attrgetter("nbytes"), arrays)
            block.sizes = np.fromiter(nbytes, dtype=np.float64, count=len(arrays))
        yield block


def _read_scalars(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Numbers, strings and ``None``: one row each, in the column ``f0``."""
    column, invalid, size, _ = _value_column(run, 0, sized=sized)
    block = _Block(len(run))
    block.invalid += invalid
    _place(block, "f0", column, 0, max_features)
    if sized:
        sizes = np.zeros(len(run)) + size
        sizes[column.label_mask()] -= 2.0  # a string alone is measured without quotes
        block.sizes = sizes
    yield block


def _read_models(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Pydantic models: a run of one class is read field by field from the instances, when
    ``model_dump()`` gives those fields as they are stored; otherwise from the dumps."""
    for start, end, kind in _spans(list(map(type, run))):
        models = run[start:end]
        names = _plain_fields(kind, models[0])
        if names is None:  # computed fields, serializers, extras...: what model_dump() gives
            dumps = [model.model_dump() for model in models]
            if not all(type(dump) is dict for dump in dumps):
                yield from _one_by_one(models, max_features, sized)
                continue
            yield _dict_rows(dumps, max_features, sized=sized, depth=2, originals=models)
            continue
        n = end - start
        block = _Block(n, np.zeros(n) if sized else None)
        columns = _key_columns(list(map(vars, models)), names)
        size, visited = _record_columns(
            block, 0, names, columns, max_features, sized=sized, depth=2, dumped=False
        )
        if block.sizes is not None:  # as payload_size measures model_dump(): a dict, 2 deep
            keys_size = sum(_size(name, [_SIZE_BUDGET], 2) + 2 for name in names)
            block.sizes += 2 + keys_size + size
            _settle_sizes(block.sizes, 2 + len(names) + visited, models)
        yield block


def _plain_fields(kind: type[pydantic.BaseModel], first: pydantic.BaseModel) -> list[str] | None:
    """The field names of a model class whose ``model_dump()`` is its fields as stored in each
    instance's ``__dict__`` (no serializers, computed or excluded fields, extras), else None.
    The class is inspected once; each run also checks its first model's dump."""
    try:
        names = _PLAIN_FIELDS[kind]
    except KeyError:
        names = _PLAIN_FIELDS[kind] = _plain_class_fields(kind)
    if names is None:
        return None
    dumped, stored = first.model_dump(), vars(first)
    if list(dumped) != names or any(
        dumped[name] is not stored[name] and not _reshaped_by_dump(stored[name]) for name in names
    ):
        return None
    return names


_PLAIN_FIELDS: weakref.WeakKeyDictionary[type, list[str] | None] = weakref.WeakKeyDictionary()


def _plain_class_fields(kind: type[pydantic.BaseModel]) -> list[str] | None:
    config = kind.model_config
    decorators = kind.__pydantic_decorators__
    fields = kind.model_fields
    if (
        issubclass(kind, pydantic.RootModel)
        or kind.model_dump is not pydantic.BaseModel.model_dump
        or kind.model_computed_fields
        or config.get("extra") == "allow"
        or config.get("serialize_by_alias")
        or decorators.field_serializers
        or decorators.model_serializers
        or any(f.exclude or getattr(f, "exclude_if", None) for f in fields.values())
        or _has_serializer(kind.__pydantic_core_schema__)
    ):
        return None
    return list(fields)


def _has_serializer(schema: Any) -> bool:
    """Whether a pydantic core schema serializes anything its own way in Python mode."""
    if isinstance(schema, dict):
        found = schema.get("serialization")
        if isinstance(found, dict) and found.get("when_used") not in ("json", "json-unless-none"):
            return True
        return any(_has_serializer(value) for value in schema.values())
    if isinstance(schema, list | tuple):
        return any(_has_serializer(value) for value in schema)
    return False


def _read_dataclasses(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Dataclasses: a run of one class is read field by field (payload_size says 0 for them)."""
    for start, end, kind in _spans(list(map(type, run))):
        objs = run[start:end]
        names = [field.name for field in dataclasses.fields(kind)]
        block = _Block(end - start, np.zeros(end - start) if sized else None)
        columns = _attribute_columns(objs, names)
        _record_columns(block, 0, names, columns, max_features, sized=False)
        yield block


def _plain_dataclass(kind: type) -> bool:
    """Whether instances of ``kind`` are read as a dataclass by :func:`_block_of`, whatever the
    instance, with a payload size of 0."""
    return (
        dataclasses.is_dataclass(kind)
        and getattr(kind, "model_dump", None) is None
        and getattr(kind, "__getattr__", None) is None
        and kind.__getattribute__ is object.__getattribute__
        and not issubclass(kind, str | bytes | bytearray | memoryview | int | float | np.generic)
        and all(field.name != "model_dump" for field in dataclasses.fields(kind))
    )


def _read_series(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Series, one row each named by the index: a run with one index (of distinct labels) and
    one numpy dtype is stacked into one 2-D block; others are read alone."""
    arrays = [series.values for series in run]
    label_ids, labels_of = _label_ids([series.index for series in run])
    distinct = [len(set(labels)) == len(labels) for labels in labels_of]  # as a dict keeps them
    keys = [
        (at, array.dtype)
        if type(array) is np.ndarray and array.dtype.kind in "biufO" and distinct[at]
        else None
        for at, array in zip(label_ids, arrays, strict=True)
    ]
    for start, end, key in _spans(keys):
        if key is None:
            yield from _one_by_one(run[start:end], max_features, sized)
            continue
        n = end - start
        matrix = np.concatenate(arrays[start:end]).reshape(n, len(labels_of[key[0]]))
        block = _Block(n)
        names = [label if type(label) is str else _safe_str(label) for label in labels_of[key[0]]]
        if matrix.dtype.kind in "biuf":
            numbers = matrix.astype(np.float64)
            numbers[~np.isfinite(numbers)] = np.nan
            for j, name in enumerate(names):
                _place(block, name, FeatureColumn(numbers[:, j].copy()), 0, max_features)
        else:
            columns = matrix.T.tolist()
            _record_columns(block, 0, names, columns, max_features, sized=False)
        if sized:  # payload_size of a numpy-backed Series: its values' bytes
            block.sizes = np.full(n, float(matrix.itemsize * matrix.shape[1]))
        yield block


def _label_ids(indexes: list[pd.Index]) -> tuple[list[int], list[list[Any]]]:
    """For each index, which of the distinct label lists it holds (labels and their types
    equal: 1 and "1" name different columns), comparing each index with the one before."""
    ids: list[int] = []
    distinct: list[list[Any]] = []
    last_index: pd.Index | None = None
    last: tuple[list[Any], list[type]] | None = None
    for index in indexes:
        if index is not last_index:
            labels = index.tolist()
            types = list(map(type, labels))
            if last is None or labels != last[0] or types != last[1]:
                distinct.append(labels)
                last = labels, types
            last_index = index
        ids.append(len(distinct) - 1)
    return ids, distinct


def _read_frames(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """DataFrames: a run with the same columns and the same blocks (dtypes and positions) is
    stacked block by block, then converted column by column as :func:`_frame_block` converts
    one frame: numpy blocks by numpy, an extension array concatenated and read as a Series.

    Written for speed on purpose: this reads pandas' block manager (``_mgr.blocks``), because
    ``pd.concat``, ``DataFrame.dtypes`` and ``memory_usage`` each cost tens of microseconds per
    frame, more than all the rest. A run whose frames look otherwise than expected fails its
    batch and is read one frame at a time (see :func:`_read_run`).
    """
    parts = [_frame_blocks(frame) for frame in run]
    label_ids, labels_of = _label_ids([frame.columns for frame in run])
    keys = [
        None if part is None else (at, part[0]) for at, part in zip(label_ids, parts, strict=True)
    ]
    for start, end, key in _spans(keys):
        frames = run[start:end]
        if key is None:
            yield from _one_by_one(frames, max_features, sized)
            continue
        labels, layout = labels_of[key[0]], key[1]
        group = [part for part in parts[start:end] if part is not None]
        n = sum(part[3] for part in group)
        stacked = [
            _stack_blocks(dtype, [part[1][b] for part in group])
            for b, (dtype, _) in enumerate(layout)
        ]
        where: dict[int, tuple[int, int]] = {}
        for b, (_, locs) in enumerate(layout):
            positions = range(len(labels))[locs] if isinstance(locs, slice) else locs
            for i, position in enumerate(positions):
                where[position] = (b, i)
        if sorted(where) != list(range(len(labels))):
            raise ValueError("unexpected block layout")
        block = _Block(n)
        for j, label in enumerate(labels):
            if len(block.columns) >= max_features:
                block.invalid += n
                continue
            b, i = where[j]
            column, invalid = _stacked_column(stacked[b], i, n)
            block.columns[_safe_str(label)] = column
            block.invalid += invalid
        if sized:  # memory_usage(index=False, deep=False), summed over the blocks
            block.sizes = np.array([part[2] for part in group])
        yield block


def _frame_blocks(frame: pd.DataFrame) -> tuple[Any, list[Any], float, int] | None:
    """A frame's block layout (each block's dtype and column positions), its blocks' values,
    their bytes as ``memory_usage`` counts them and the frame's rows; None for numpy blocks of
    a kind :func:`_series_column` reads otherwise (complex numbers)."""
    layout = []
    arrays = []
    nbytes = 0
    for blk in frame._mgr.blocks:
        values = blk.values
        dtype = values.dtype
        if type(values) is np.ndarray:
            if dtype.kind not in "biufO":
                return None
            nbytes += values.nbytes
        else:  # an extension array, read as Series.memory_usage reads it
            usage = getattr(values, "memory_usage", None)
            nbytes += usage(deep=False) if usage is not None else values.nbytes
        locs = blk.mgr_locs.indexer
        layout.append((dtype, locs if isinstance(locs, slice) else tuple(locs.tolist())))
        arrays.append(values)
    rows = arrays[0].shape[-1] if arrays else len(frame)
    return tuple(layout), arrays, float(nbytes), rows


def _stack_blocks(dtype: Any, blocks: list[Any]) -> Any:
    """One block position over a run of frames, rows side by side: a 2-D numpy array, one
    extension array, or None for dates (not tracked yet)."""
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return None
    if isinstance(dtype, np.dtype):
        return np.concatenate(blocks, axis=1)
    if blocks[0].ndim != 1:
        raise ValueError("an extension block of more than one column")
    return type(blocks[0])._concat_same_type(blocks)


def _stacked_column(stacked: Any, i: int, n: int) -> tuple[FeatureColumn, int]:
    if stacked is None:
        return FeatureColumn(np.full(n, np.nan)), 0
    if type(stacked) is not np.ndarray:
        return _series_column(pd.Series(stacked))
    values = stacked[i]
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        return FeatureColumn(numbers), 0
    return _column_from_values(values.tolist())


_READERS: dict[type, _Reader] = {
    dict: _read_dicts,
    list: _read_sequences,
    tuple: _read_sequences,
    np.ndarray: _read_arrays,
    pd.DataFrame: _read_frames,
    pd.Series: _read_series,
}


def _reader_for(kind: type) -> _Reader | None:
    """How a run of inputs of type ``kind`` is read; None: one input at a time."""
    found = _READERS.get(kind)
    if found is not None:
        return found
    if kind in _SCALAR_TYPES:
        return _read_scalars
    try:
        if issubclass(kind, type | Mapping | list | tuple | np.ndarray | pd.DataFrame | pd.Series):
            return None  # classes, and subclasses of the containers: alone, as before
        if issubclass(kind, pydantic.BaseModel):
            return _read_models
        if _plain_dataclass(kind):
            return _read_dataclasses
    except Exception:  # a hostile metaclass
        return None
    return None


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
    ``sizes=True`` the batch also carries each input's :func:`payload_size`.

    Consecutive inputs of one form are read as one block (see the module docstring); the
    result is the same as reading each input alone.

    >>> batch = extract_many([{"a": 1.0}, {"a": 2.0, "b": "x"}, [[5.0], [6.0]]])
    >>> batch.n_rows, batch.columns["a"].values.tolist()[:2], list(batch.columns)
    (4, [1.0, 2.0], ['a', 'b', 'f0'])
    """
    items = objs if type(objs) is list else list(objs)
    readers = {kind: _reader_for(kind) for kind in set(map(type, items))}
    if len(readers) == 1:  # the usual fold: one form throughout
        (only,) = readers.values()
        spans: Iterator[tuple[int, int, Any]] = iter([(0, len(items), only)])
    else:
        spans = _spans(list(map(readers.__getitem__, map(type, items))))
    blocks: list[_Block] = []
    for start, end, read in spans:
        run = items[start:end]
        if read is None:
            blocks.extend(_one_by_one(run, max_features, sizes))
        else:
            blocks.extend(_read_run(read, run, max_features, sizes))
    batch = _concat(blocks, max_features)
    if not sizes:
        return batch
    found = [block.sizes for block in blocks if block.sizes is not None]
    all_sizes = np.concatenate(found) if found else np.zeros(0)
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
