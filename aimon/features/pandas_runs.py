"""Runs of pandas Series and DataFrames, stacked into one block."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from aimon.features.alone import _one_by_one, _series_column
from aimon.features.batch import FeatureColumn
from aimon.features.columns import _Block, _column_from_values, _place, _record_columns
from aimon.features.runs import _spans
from aimon.features.values import _safe_str


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
