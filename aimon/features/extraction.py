"""The entry points: :func:`extract` and :func:`extract_many`, which group inputs into runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from aimon.features.alone import _one_by_one
from aimon.features.batch import FeatureBatch
from aimon.features.columns import _Block, _place
from aimon.features.model_runs import _plain_dataclass, _read_dataclasses, _read_models
from aimon.features.pandas_runs import _read_frames, _read_series
from aimon.features.plain_runs import _read_arrays, _read_dicts, _read_scalars, _read_sequences
from aimon.features.runs import _read_run, _Reader, _spans
from aimon.features.values import _SCALAR_TYPES

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

    Consecutive inputs of one form are read as one block (see :mod:`aimon.features`); the
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
