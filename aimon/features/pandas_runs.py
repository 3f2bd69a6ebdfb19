"""Runs of pandas Series and DataFrames, stacked into one block."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from aimon.features.alone import _one_by_one, _series_column
from aimon.features.batch import FeatureColumn
from aimon.features.columns import _Block, _column_from_values, _place, _record_columns
from aimon.features.runs import _shared, _spans
from aimon.features.sizes import _block_bytes
from aimon.features.values import _safe_str


def _read_series(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Series, one row each named by the index: a run with one index (of distinct labels) and
    one numpy dtype is stacked into one 2-D block; others are read alone."""
    arrays = [series.values for series in run]
    label_ids, labels_of = _label_ids([series.index for series in run])
    distinct = [len(set(labels)) == len(labels) for labels in labels_of]  # as a dict keeps them
    keys = _shared(
        (at, array.dtype)
        if type(array) is np.ndarray and array.dtype.kind in "biufO" and distinct[at]
        else None
        for at, array in zip(label_ids, arrays, strict=True)
    )
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
    equal: 1 and "1" name different columns), comparing each index with the one before.

    Written for speed on purpose: a server's frames each have their own column index, and
    listing it costs a microsecond (a pyarrow-backed one, ten). Labels of object dtype that
    are the very objects of the index before (frames made with one list of columns, or from
    dicts with the same keys) are told by their pointers' bytes, others by
    :func:`_same_labels`, and only the rest are listed."""
    ids: list[int] = []
    distinct: list[list[Any]] = []
    last_index: pd.Index | None = None
    last: tuple[list[Any], list[type]] | None = None
    last_pointers: bytes | None = None
    for index in indexes:
        if index is not last_index:
            data = getattr(index, "_data", None) if type(index) is pd.Index else None
            pointers = (
                data.tobytes() if type(data) is np.ndarray and data.dtype.kind == "O" else None
            )
            if (pointers is None or pointers != last_pointers) and (  # not the same objects
                pointers is not None or not _same_labels(index, last_index)
            ):
                labels = index.tolist()
                types = list(map(type, labels))
                if last is None or labels != last[0] or types != last[1]:
                    distinct.append(labels)
                    last = labels, types
            last_index, last_pointers = index, pointers
        ids.append(len(distinct) - 1)
    return ids, distinct


def _same_labels(index: pd.Index, other: pd.Index | None) -> bool:
    """True when two indexes surely hold the same labels of the same types, told without
    listing them: the same range, the same numbers, or equal pyarrow strings.
    False when unsure: the caller compares the labels."""
    if other is None:
        return False
    if type(index) is pd.RangeIndex:  # its _data would be made now
        return type(other) is pd.RangeIndex and bool(
            index.start == other.start and index.stop == other.stop and index.step == other.step
        )
    data, other_data = getattr(index, "_data", None), getattr(other, "_data", None)
    if type(data) is np.ndarray:
        if (
            type(other_data) is not np.ndarray
            or data.shape != other_data.shape
            or data.dtype != other_data.dtype
        ):
            return False
        if data.dtype.kind == "O":
            return False  # the same objects are told by the caller, equal ones are listed
        return data.tobytes() == other_data.tobytes()
    dtype = index.dtype
    return (
        isinstance(dtype, pd.StringDtype)
        and dtype.storage == "pyarrow"  # only str in it, no subclass
        and type(data) is type(other_data)
        and bool(index.array.equals(other.array))
    )


def _read_frames(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """DataFrames: a run with the same columns and the same blocks (dtypes and positions) is
    stacked block by block, then converted column by column as :func:`_frame_block` converts
    one frame: numpy blocks by numpy, categoricals by their codes, another extension array
    concatenated and read as a Series.

    Written for speed on purpose: this reads pandas' block manager (``_mgr.blocks``), because
    ``pd.concat``, ``DataFrame.dtypes`` and ``memory_usage`` each cost tens of microseconds per
    frame, more than all the rest; per frame only its blocks' values, a cheap key of their
    dtypes and positions, and with ``sized`` their bytes are read, the rest once per run of
    equal keys. A run whose frames look otherwise than expected fails its batch and is read
    one frame at a time (see :func:`_read_run`).
    """
    label_ids, labels_of = _label_ids([frame.columns for frame in run])
    blocks = _RunBlocks(sized)
    for frame in run:
        blocks.add(frame)
    kinds = blocks.kinds(label_ids)
    for start, end, kind in _spans(kinds):
        if kind is None:
            yield from _one_by_one(run[start:end], max_features, sized)
            continue
        labels = labels_of[label_ids[start]]
        layout = blocks.layouts[blocks.layout_of[start]]
        n = sum(blocks.rows[start:end])
        width = len(layout)
        first = blocks.starts[start]
        values = blocks.values[first : first + width * (end - start)]
        stacked = [_stack_blocks(token, values[b::width]) for b, (token, _) in enumerate(layout)]
        where: dict[int, tuple[int, int]] = {}
        for b, (_, locs) in enumerate(layout):
            positions = range(len(labels))[slice(*locs)] if type(locs) is tuple else locs
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
            block.sizes = np.array(blocks.nbytes[start:end])
        yield block


class _Categorical:
    """The key of a categorical block, whatever its categories (they are read per frame)."""


_CATEGORICAL = _Categorical()

# Extension dtypes told apart by their array's type and their name: a key compared by
# identity and a string instead of ``==`` on dtypes, which costs a microsecond a frame.
_NAMED_DTYPES: frozenset[type] = frozenset(
    {pd.StringDtype, pd.BooleanDtype, pd.Float32Dtype, pd.Float64Dtype, pd.Int8Dtype,
     pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype, pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype,
     pd.UInt64Dtype}
)  # fmt: skip


class _RunBlocks:
    """The blocks of a run's frames, read frame by frame into flat lists: each frame's block
    values one after the other, where they start, its layout (each block's key and column
    positions), rows and, with ``sized``, bytes as ``memory_usage`` counts them.

    Flat on purpose: a container per frame, kept until the run is stacked, would have the
    garbage collector walk every one of them several times a fold (it took more than half of
    the fold's time). A frame's layout is the one before it when they are equal, so equal
    layouts are one object."""

    __slots__ = (
        "layout_of", "layouts", "nbytes", "rows", "seen", "single", "sized", "starts", "values"
    )  # fmt: skip

    def __init__(self, sized: bool) -> None:
        self.sized = sized
        self.values: list[Any] = []
        self.starts: list[int] = []
        self.layouts: list[tuple[Any, ...]] = []  # the distinct ones, as frames brought them
        self.layout_of: list[int] = []  # per frame (-1: read it alone)
        self.rows: list[int] = []
        self.nbytes: list[float] = []
        # What is computed once per run: each categories index's memory usage (by id, the
        # index kept alive beside it) and whether an extension array type has memory_usage.
        self.seen: dict[Any, Any] = {}
        # The last frame's one numpy block: its dtype, column positions and layout number.
        self.single: tuple[np.dtype[Any], slice, int] | None = None

    def add(self, frame: pd.DataFrame) -> None:
        """Read one frame's blocks; a frame with numpy blocks of a kind :func:`_series_column`
        reads otherwise (complex numbers) is marked to be read alone."""
        blocks = frame._mgr.blocks
        single = self.single
        if single is not None and len(blocks) == 1:  # the usual frame: as the one before
            blk = blocks[0]
            values = blk.values
            if type(values) is np.ndarray and values.dtype is single[0]:
                locs = blk.mgr_locs.indexer
                if type(locs) is slice and locs == single[1]:  # _frame's appends, inlined
                    self.starts.append(len(self.values))
                    self.values.append(values)
                    self.layout_of.append(single[2])
                    self.rows.append(values.shape[1])
                    self.nbytes.append(float(values.nbytes))
                    return
        self._add(frame, blocks)

    def _add(self, frame: pd.DataFrame, blocks: Any) -> None:
        layout = []
        nbytes = 0.0
        at = len(self.values)
        self.single = None
        for blk in blocks:
            values = blk.values
            token = self._token(values)
            if token is None:
                del self.values[at:]
                self._frame(at, -1, 0, 0.0)
                return
            if self.sized:
                nbytes += _block_bytes(values, self.seen)
            locs = blk.mgr_locs.indexer  # a slice (unhashable before Python 3.12) or an array
            where = (locs.start, locs.stop, locs.step) if type(locs) is slice else locs.tolist()
            layout.append((token, where))
            self.values.append(values)
        known = tuple(layout)
        layouts = self.layouts
        index = len(layouts) - 1
        if index < 0 or known != layouts[index]:  # usually the layout of the frames before
            try:
                index = layouts.index(known)
            except ValueError:
                index = len(layouts)
                layouts.append(known)
        rows = self.values[at].shape[-1] if len(self.values) > at else len(frame)
        self._frame(at, index, rows, nbytes)
        if len(blocks) == 1 and isinstance(known[0][0], np.dtype) and type(known[0][1]) is tuple:
            self.single = (known[0][0], slice(*known[0][1]), index)

    def _frame(self, at: int, layout: int, rows: int, nbytes: float) -> None:
        self.starts.append(at)
        self.layout_of.append(layout)
        self.rows.append(rows)
        self.nbytes.append(nbytes)

    @staticmethod
    def _token(values: Any) -> Any:
        """A block's key: its numpy dtype, :data:`_CATEGORICAL`, or an extension array's type
        and dtype; None for numpy blocks read otherwise."""
        dtype = values.dtype
        if type(values) is np.ndarray:
            return dtype if dtype.kind in "biufO" else None
        if isinstance(dtype, pd.CategoricalDtype):
            return _CATEGORICAL
        return (type(values), dtype.name if type(dtype) in _NAMED_DTYPES else dtype)

    def kinds(self, label_ids: list[int]) -> list[int | None]:
        """Per frame, a number told apart by its labels and layout (None: read it alone)."""
        width = len(self.layouts) or 1
        return [
            None if layout < 0 else label * width + layout
            for label, layout in zip(label_ids, self.layout_of, strict=True)
        ]


def _stack_blocks(token: Any, blocks: list[Any]) -> Any:
    """One block position over a run of frames, rows side by side: a 2-D numpy array, one
    extension array, a 1-D object array of a categorical's values, or None for dates (not
    tracked yet)."""
    if token is _CATEGORICAL:
        return _stack_categoricals(blocks)
    if isinstance(token, np.dtype):
        return np.concatenate(blocks, axis=1)
    dtype = blocks[0].dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return None
    if blocks[0].ndim != 1:
        raise ValueError("an extension block of more than one column")
    return type(blocks[0])._concat_same_type(blocks)


def _stack_categoricals(blocks: list[Any]) -> Any:
    """Categoricals of a run: one Categorical when they share their categories (read as one
    frame's is), else their values as objects, each taken from its own categories by its
    codes, NaN where missing (what ``Series.astype(object)`` gives)."""
    codes = np.concatenate([values._codes for values in blocks])
    dtype = blocks[0].dtype
    categories = dtype.categories
    if all(values.dtype.categories is categories for values in blocks):
        return pd.Categorical.from_codes(codes, dtype=dtype)
    starts: dict[int, int] = {}
    pieces: list[Any] = []  # kept alive, so their ids stay theirs
    offsets = np.empty(len(blocks), dtype=np.int64)
    total = 0
    for b, values in enumerate(blocks):
        categories = values.dtype.categories
        start = starts.get(id(categories))
        if start is None:
            start = starts[id(categories)] = total
            pieces.append(categories)
            total += len(categories)
        offsets[b] = start
    objects = np.concatenate(
        [*(np.asarray(piece, dtype=object) for piece in pieces), np.array([np.nan], object)]
    )
    rows = np.repeat(offsets, [len(values) for values in blocks])
    return objects[np.where(codes >= 0, codes + rows, total)]


def _stacked_column(stacked: Any, i: int, n: int) -> tuple[FeatureColumn, int]:
    if stacked is None:
        return FeatureColumn(np.full(n, np.nan)), 0
    if type(stacked) is not np.ndarray:
        return _series_column(pd.Series(stacked))
    if stacked.ndim == 1:  # a categorical's values
        return _column_from_values(stacked.tolist())
    values = stacked[i]
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64)
        numbers[~np.isfinite(numbers)] = np.nan
        return FeatureColumn(numbers), 0
    return _column_from_values(values.tolist())
