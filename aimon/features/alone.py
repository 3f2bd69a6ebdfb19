"""One input read alone, whatever its form: what a run falls back to."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.features.batch import FeatureColumn
from aimon.features.columns import _Block, _column_from_values
from aimon.features.dicts import _dict_rows
from aimon.features.sizes import payload_size
from aimon.features.values import _classify, _safe_str


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


def _one_by_one(objs: Sequence[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    for obj in objs:
        block = _safe_block(_block_of, obj, max_features)
        block.sizes = np.array([payload_size(obj)], dtype=np.float64) if sized else None
        yield block


def _safe_block(make: Callable[[Any, int], _Block], obj: Any, max_features: int) -> _Block:
    try:
        return make(obj, max_features)
    except Exception:
        # Hostile input (a __len__ that lies, a mapping whose iteration raises...): no rows,
        # counted. Feature extraction must never make a prediction fail or be lost.
        block = _Block(0)
        block.invalid = 1
        return block
