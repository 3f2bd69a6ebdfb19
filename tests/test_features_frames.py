"""Runs of DataFrames (aimon/features/pandas_runs.py): read as one block, the same rows, sizes
and invalid counts as each frame read alone, for every dtype a block can hold."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from aimon import features
from aimon.features import FeatureBatch, extract_many, payload_size
from aimon.features.pandas_runs import _label_ids, _read_frames


def table(batch: FeatureBatch) -> dict[str, tuple[list[float | None], list[Any]]]:
    """Every column's numbers (NaN as None) and labels (None where none), by name."""
    out = {}
    for name, column in batch.columns.items():
        values = [None if math.isnan(v) else v for v in column.values.tolist()]
        labels = [None] * batch.n_rows if column.labels is None else column.labels.tolist()
        out[name] = (values, labels)
    return out


def assert_reads_as_alone(make: Callable[[], list[pd.DataFrame]]) -> None:
    """Frames read in a batch, and by the run reader itself (no fallback to one at a time),
    give the rows, invalid counts and sizes of each frame read alone. ``make`` gives fresh
    frames: an index's memory usage grows once it has been looked up."""
    sizes = [float(frame.memory_usage(index=False, deep=False).sum()) for frame in make()]
    assert [float(payload_size(frame)) for frame in make()] == sizes
    alone = features._concat(list(features._one_by_one(make(), 512, True)), 512)
    blocks = list(_read_frames(make(), 512, True))
    direct = features._concat(blocks, 512)
    batch = extract_many(make(), sizes=True)
    for got in (batch, direct):
        assert got.n_rows == alone.n_rows
        assert table(got) == table(alone)
        assert got.invalid == alone.invalid
    assert batch.input_sizes is not None
    assert batch.input_sizes.tolist() == sizes
    assert np.concatenate([b.sizes for b in blocks if b.sizes is not None]).tolist() == sizes


SHARED = pd.CategoricalDtype(["u", "v", "w"])

# One 1-row column of each dtype a block can hold, made from a drawn cell.
COLUMNS: dict[str, Callable[[Any], Any]] = {
    "float": lambda x: [float(x) if x is not None else math.nan],
    "int": lambda x: [int(x or 0)],
    "bool": lambda x: [bool(x)],
    "object": lambda x: [x],
    "str": lambda x: [None if x is None else str(x)],
    "shared category": lambda x: pd.Series([None if x is None else "uvw"[x % 3]], dtype=SHARED),
    "own category": lambda x: pd.Categorical([None if x is None else str(x)]),
    "int category": lambda x: pd.Categorical([None if x is None else x % 4], range(4)),
    "Int64": lambda x: pd.array([None if x is None else int(x)], dtype="Int64"),
    "Float64": lambda x: pd.array([None if x is None else float(x)], dtype="Float64"),
    "boolean": lambda x: pd.array([None if x is None else bool(x)], dtype="boolean"),
    "string": lambda x: pd.array([None if x is None else str(x)], dtype="string"),
    "dates": lambda x: pd.to_datetime(["2024-01-01"]),
    "utc dates": lambda x: pd.to_datetime(["2024-01-01"]).tz_localize("UTC"),
    "durations": lambda x: pd.to_timedelta([1 if x is None else int(x)], unit="s"),
}  # fmt: skip
object_cells = st.one_of(
    st.none(), st.integers(-5, 5), st.floats(), st.text(max_size=2), st.just(math.inf)
)


@given(
    st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6, unique=True),
    st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=1, max_size=12),
    st.lists(object_cells, min_size=12, max_size=12),
)
def test_one_row_frames_of_every_dtype_read_as_each_alone(
    kinds: list[str], cells: list[int | None], objects: list[Any]
) -> None:
    def make() -> list[pd.DataFrame]:
        return [
            pd.DataFrame(
                {kind: COLUMNS[kind](objects[i] if kind == "object" else cell) for kind in kinds}
            )
            for i, cell in enumerate(cells)
        ]

    assert_reads_as_alone(make)


def test_categoricals_shared_or_not_give_their_values_and_missing() -> None:
    frames = [
        pd.DataFrame({"c": pd.Categorical(["u"], dtype=SHARED)}),
        pd.DataFrame({"c": pd.Categorical([None], dtype=SHARED)}),
        pd.DataFrame({"c": pd.Categorical(["x"])}),
        pd.DataFrame({"c": pd.Categorical([2], categories=[1, 2])}),
        pd.DataFrame({"c": pd.Categorical(["y", None, "y"])}),
    ]
    batch = extract_many(frames)
    column = batch.columns["c"]
    assert column.labels is not None
    assert column.labels.tolist() == ["u", None, "x", None, "y", None, "y"]
    assert [None if math.isnan(v) else v for v in column.values.tolist()] == [
        None, None, None, 2.0, None, None, None,
    ]  # fmt: skip
    assert batch.invalid == 0
    assert_reads_as_alone(lambda: [frame.copy() for frame in frames])


class Colour(str, enum.Enum):
    RED = "red"


def test_frames_with_equal_labels_of_other_types_name_their_own_columns() -> None:
    def make() -> list[pd.DataFrame]:
        shared = ["a", "b"]
        return [
            pd.DataFrame([[1.0, 2.0]], columns=shared),  # the same label objects
            pd.DataFrame([[3.0, 4.0]], columns=shared),
            pd.DataFrame([[5.0, 6.0]], columns=["a", "b"]),  # equal labels made afresh
            pd.DataFrame([[7.0, 8.0]], columns=[1, 2]),
            pd.DataFrame([[9.0, 1.0]], columns=[1.0, True]),  # equal to 1 and 1, not alike
            pd.DataFrame([[2.0, 3.0]], columns=["red", "b"]),
            pd.DataFrame([[4.0, 5.0]], columns=[Colour.RED, "b"]),  # equal to "red"
            pd.DataFrame([[6.0, 7.0]]),  # a RangeIndex
            pd.DataFrame([[8.0, 9.0]]),
            pd.DataFrame([[1.5, 2.5]], columns=pd.Index(["a", "b"], dtype="string[pyarrow]")),
            pd.DataFrame([[3.5, 4.5]], columns=pd.Index(["a", "b"], dtype="string[pyarrow]")),
            pd.DataFrame([[5.5, 6.5]], columns=pd.Index(["a", "c"], dtype="string[pyarrow]")),
        ]

    assert_reads_as_alone(make)
    batch = extract_many(make())
    assert {"a", "b", "c", "0", "1", "2", "1.0", "True", "red"} <= set(batch.columns)
    ids, distinct = _label_ids([frame.columns for frame in make()])
    assert ids[:5] == [0, 0, 0, 1, 2] and ids[7] == ids[8] and ids[9] == ids[10] != ids[11]
    assert [type(label) for label in distinct[2]] == [float, bool]


def test_the_same_columns_in_another_block_layout_read_as_each_alone() -> None:
    def make() -> list[pd.DataFrame]:
        one = pd.DataFrame({"a": [1.0], "b": [2], "c": ["x"]})
        moved = pd.DataFrame({"c": ["y"], "a": [3.0], "b": [4]})[["a", "b", "c"]]
        retyped = pd.DataFrame({"a": [5], "b": [6.5], "c": [7]})
        wide = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4], "c": ["z", None]})
        return [one, moved, one.copy(), retyped, wide, one]

    assert_reads_as_alone(make)
