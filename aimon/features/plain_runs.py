"""Runs of dicts, flat lists and tuples, plain numpy arrays and scalars."""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from typing import Any

import numpy as np

from aimon.features.alone import _array_block, _one_by_one
from aimon.features.columns import _Block, _flat_block, _flat_values, _place, _value_column
from aimon.features.dicts import _dict_rows
from aimon.features.runs import _shared, _spans
from aimon.features.sizes import _settle_sizes
from aimon.features.values import _SCALAR_TYPES


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
        values = _flat_values(rows, None, width)
        size, visited = _flat_block(block, names, values, max_features, sized=sized)
        if block.sizes is not None:
            block.sizes += 2 + width + size  # brackets, separators
            _settle_sizes(block.sizes, 1 + visited, rows)
        yield block


def _read_arrays(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Plain numpy arrays: a run of one dtype and shape (for 2-D: one width) is stacked into
    one 2-D block. Structured arrays and arrays of more dimensions are read alone."""
    keys = _shared(
        None if a.dtype.names is not None or a.ndim > 2 else (a.dtype, a.ndim, a.shape[-1:])
        for a in run
    )
    for start, end, key in _spans(keys):
        arrays = run[start:end]
        if key is None:
            yield from _one_by_one(arrays, max_features, sized)
            continue
        _, ndim, last_axis = key
        read = arrays
        cut = 0  # values past max_features, not copied (an input may be megabytes)
        if ndim and last_axis[0] > max_features:
            read = [a[..., :max_features] for a in arrays]
            rows = len(arrays) if ndim == 1 else sum(a.shape[0] for a in arrays)
            cut = (last_axis[0] - max_features) * rows
            last_axis = (max_features,)
        if ndim == 2:
            matrix = np.concatenate(read)
        elif ndim == 1:  # np.concatenate, as np.stack costs a view per array
            matrix = np.concatenate(read).reshape(len(read), *last_axis)
        else:
            matrix = np.concatenate([a.reshape(1) for a in read]).reshape(-1, 1)
        block = _array_block(matrix, max_features)
        block.invalid += cut
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
