"""Feature extraction: every input shape, hostile values, and the never-raise promise."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pydantic
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from aimon import features
from aimon.features import FeatureBatch, extract, extract_many, payload_size


def numbers(batch: FeatureBatch, name: str) -> list[float | None]:
    """The numeric values of a column with NaN as None (so lists compare)."""
    return [None if math.isnan(v) else v for v in batch.columns[name].values.tolist()]


def labels(batch: FeatureBatch, name: str) -> list[str | None] | None:
    column = batch.columns[name]
    return None if column.labels is None else column.labels.tolist()


# -- input shapes -------------------------------------------------------------------------


def test_a_dict_is_one_row_with_numbers_and_labels() -> None:
    batch = extract({"age": 41, "amount": 120.5, "country": "DE"})
    assert batch.n_rows == 1
    assert numbers(batch, "age") == [41.0]
    assert numbers(batch, "amount") == [120.5]
    assert numbers(batch, "country") == [None]
    assert labels(batch, "country") == ["DE"]
    assert labels(batch, "age") is None
    assert batch.invalid == 0


def test_a_flat_list_or_tuple_is_one_row_named_by_position() -> None:
    for obj in ([1.0, 2.0, "x"], (1.0, 2.0, "x")):
        batch = extract(obj)
        assert batch.n_rows == 1
        assert list(batch.columns) == ["f0", "f1", "f2"]
        assert labels(batch, "f2") == ["x"]


def test_a_list_of_rows_is_many_rows_padding_short_ones() -> None:
    batch = extract([[1.0, 2.0], [3.0], (4.0, 5.0)])
    assert batch.n_rows == 3
    assert numbers(batch, "f0") == [1.0, 3.0, 4.0]
    assert numbers(batch, "f1") == [2.0, None, 5.0]


def test_a_list_of_dicts_is_many_rows() -> None:
    batch = extract([{"a": 1}, {"a": 2, "b": "y"}])
    assert batch.n_rows == 2
    assert numbers(batch, "a") == [1.0, 2.0]
    assert labels(batch, "b") == [None, "y"]


def test_numpy_arrays_of_every_rank() -> None:
    assert numbers(extract(np.float64(3.5)), "f0") == [3.5]
    assert numbers(extract(np.array(7)), "f0") == [7.0]
    one = extract(np.array([1, 2, 3], dtype=np.int32))
    assert one.n_rows == 1 and numbers(one, "f2") == [3.0]
    two = extract(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert two.n_rows == 3 and numbers(two, "f1") == [1.0, 3.0, 5.0]
    three = extract(np.zeros((2, 2, 2)))
    assert three.n_rows == 2 and len(three.columns) == 4  # trailing axes flattened


def test_numpy_arrays_of_strings_bools_objects_and_records() -> None:
    strings = extract(np.array([["a", "b"], ["c", "d"]]))
    assert labels(strings, "f1") == ["b", "d"]
    bools = extract(np.array([[True], [False]]))
    assert numbers(bools, "f0") == [1.0, 0.0]
    objects = extract(np.array([[1.0, "x"], [None, 2]], dtype=object))
    assert numbers(objects, "f0") == [1.0, None]
    assert labels(objects, "f1") == ["x", None]
    assert numbers(objects, "f1") == [None, 2.0]
    records = np.array([(1.0, b"k"), (2.0, b"m")], dtype=[("score", "f8"), ("tag", "S1")])
    structured = extract(records)
    assert structured.n_rows == 2
    assert numbers(structured, "score") == [1.0, 2.0]
    assert labels(structured, "tag") == ["k", "m"]


def test_pandas_series_is_one_row_named_by_index() -> None:
    batch = extract(pd.Series({"age": 30, "city": "Oslo"}))
    assert batch.n_rows == 1
    assert numbers(batch, "age") == [30.0]
    assert labels(batch, "city") == ["Oslo"]


def test_a_dataframe_of_mixed_dtypes_is_one_row_per_row() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, None, 3.0],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": ["a", None, "b"],
            "cat": pd.Categorical(["u", "v", "u"]),
            "flag": [True, False, True],
            "when": pd.to_datetime(["2024-01-01"] * 3),
            "mixed": [1, "two", 3.0],
            7: [0.5, 0.5, math.inf],
        }
    )
    batch = extract(frame)
    assert batch.n_rows == 3
    assert numbers(batch, "x") == [1.0, None, 3.0]
    assert numbers(batch, "n") == [1.0, None, 3.0]
    assert labels(batch, "s") == ["a", None, "b"]
    assert labels(batch, "cat") == ["u", "v", "u"]
    assert numbers(batch, "flag") == [1.0, 0.0, 1.0]
    assert numbers(batch, "when") == [None, None, None]
    assert numbers(batch, "mixed") == [1.0, None, 3.0]
    assert labels(batch, "mixed") == [None, "two", None]
    assert numbers(batch, "7") == [0.5, 0.5, None]
    assert batch.invalid == 0


def test_an_empty_dataframe_and_empty_containers_give_no_values() -> None:
    assert extract(pd.DataFrame({"a": []})).n_rows == 0
    assert extract([]).n_rows == 0
    assert extract(np.zeros((0, 3))).n_rows == 0
    empty = extract({})
    assert empty.columns == {} and empty.invalid == 0


class Applicant(pydantic.BaseModel):
    age: int
    income: float | None
    region: str


@dataclasses.dataclass
class Point:
    x: float
    label: str


class Colour(str, enum.Enum):
    RED = "red"


def test_pydantic_models_dataclasses_and_scalars() -> None:
    model = extract(Applicant(age=30, income=None, region="north"))
    assert numbers(model, "age") == [30.0]
    assert numbers(model, "income") == [None]
    assert labels(model, "region") == ["north"]
    point = extract(Point(1.5, "p"))
    assert numbers(point, "x") == [1.5] and labels(point, "label") == ["p"]
    assert numbers(extract(2.5), "f0") == [2.5]
    assert labels(extract("text"), "f0") == ["text"]
    assert labels(extract({"c": Colour.RED}), "c") == ["red"]


# -- hostile values -----------------------------------------------------------------------


class Hostile:
    """Every dunder a careless library might call raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        raise RuntimeError("no bool")


def test_missing_values_become_missing_never_an_exception() -> None:
    batch = extract(
        {"none": None, "nan": math.nan, "inf": math.inf, "ninf": -math.inf, "na": pd.NA,
         "nat": pd.NaT, "f32nan": np.float32("nan"), "huge": 10**400}
    )  # fmt: skip
    assert batch.n_rows == 1
    for name in batch.columns:
        assert numbers(batch, name) == [None], name
        assert labels(batch, name) is None, name
    assert batch.invalid == 0


def test_unreadable_values_are_missing_and_counted_as_invalid() -> None:
    batch = extract({"list": [1, 2], "dict": {"x": 1}, "set": {1}, "obj": object(),
                     "hostile": Hostile(), "ok": 1.0})  # fmt: skip
    assert batch.invalid == 5
    assert numbers(batch, "ok") == [1.0]
    assert numbers(batch, "hostile") == [None]


def test_hostile_keys_and_whole_inputs_never_raise() -> None:
    batch = extract({Hostile(): 3.0, ("tuple", "key"): 1.0})
    assert batch.n_rows == 1
    assert numbers(batch, "<unprintable Hostile>") == [3.0]
    assert numbers(batch, "('tuple', 'key')") == [1.0]

    class LyingLength(dict[str, float]):
        def __len__(self) -> int:
            raise RuntimeError("no len")

    lying = extract_many([{"a": 1.0}, LyingLength(a=2.0), {"a": 3.0}])
    assert numbers(lying, "a") == [1.0, 3.0]
    assert lying.invalid == 1
    assert extract(Hostile()).invalid == 1
    assert extract(object()).n_rows == 0


def test_strings_in_a_numeric_field_stay_labels_even_deep_in_a_run() -> None:
    rows: list[dict[str, Any]] = [{"a": float(i), "b": i} for i in range(100)]
    rows[37] = {"a": "3", "b": 37}  # a numeric-looking string between the sampled rows
    rows[50] = {"a": "n/a", "b": 50}
    batch = extract_many(rows)
    assert numbers(batch, "a")[37] is None and numbers(batch, "a")[50] is None
    column_labels = labels(batch, "a")
    assert column_labels is not None
    assert column_labels[37] == "3" and column_labels[50] == "n/a"
    assert numbers(batch, "a")[36] == 36.0
    assert numbers(batch, "b") == [float(i) for i in range(100)]


def test_bools_are_numbers_wherever_they_appear() -> None:
    rows: list[dict[str, Any]] = [{"flag": True}, {"flag": False}, {"flag": np.bool_(True)}]
    rows += [{"flag": 2}] * 100 + [{"flag": False}]
    batch = extract_many(rows)
    assert numbers(batch, "flag")[:3] == [1.0, 0.0, 1.0]
    assert numbers(batch, "flag")[-1] == 0.0
    assert labels(batch, "flag") is None


def test_changing_dict_shapes_align_columns_by_name() -> None:
    rows: list[Any] = [
        {"a": 1.0, "b": 2.0},
        {"b": 3.0, "a": 4.0},  # same keys, other order
        {"a": 5.0, "c": "x"},  # same length, other keys
        {"a": 6.0},
        {},
        {"a": None, "b": "late label"},
    ]
    batch = extract_many(rows)
    assert batch.n_rows == 6
    assert numbers(batch, "a") == [1.0, 4.0, 5.0, 6.0, None, None]
    assert numbers(batch, "b") == [2.0, 3.0, None, None, None, None]
    assert labels(batch, "b") == [None, None, None, None, None, "late label"]
    assert labels(batch, "c") == [None, None, "x", None, None, None]


def test_extract_many_concatenates_mixed_inputs_in_order() -> None:
    inputs = [
        {"f0": 1.0},
        np.array([[2.0, 20.0], [3.0, 30.0]]),
        pd.DataFrame({"f0": [4.0], "other": ["o"]}),
        object(),  # unreadable: no rows, counted
        [5.0, 50.0],
    ]
    batch = extract_many(inputs, sizes=True)
    assert batch.n_rows == 5
    assert numbers(batch, "f0") == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert numbers(batch, "f1") == [None, 20.0, 30.0, None, 50.0]
    assert labels(batch, "other") == [None, None, None, "o", None]
    assert batch.invalid == 1
    assert batch.input_sizes is not None and batch.input_sizes.size == len(inputs)


def test_features_beyond_the_limit_are_dropped_and_counted() -> None:
    batch = extract({f"k{i}": i for i in range(600)}, max_features=512)
    assert len(batch.columns) == 512
    assert batch.invalid == 88
    wide = extract(np.zeros((3, 10)), max_features=4)
    assert list(wide.columns) == ["f0", "f1", "f2", "f3"] and wide.invalid == 18


# -- payload sizes ------------------------------------------------------------------------


def test_payload_sizes() -> None:
    assert payload_size(b"12345") == 5
    assert payload_size("héllo") == 6
    assert payload_size(np.zeros((4, 5))) == 160
    assert payload_size(pd.Series([1.0, 2.0])) == 16
    assert payload_size(pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2]})) == 32
    assert payload_size(Hostile()) == 0
    assert payload_size(None) == 4
    row = {"age": 41, "country": "DE", "ok": True, "note": None}
    assert abs(payload_size(row) - len(json.dumps(row))) <= 6


def test_payload_size_of_a_huge_list_is_extrapolated_and_fast() -> None:
    big = [1.0] * 1_000_000
    estimate = payload_size(big)
    assert 8_000_000 <= estimate <= 9_200_000


def test_dict_sizes_from_columns_match_payload_size() -> None:
    rows = [{"age": i, "country": "DE" * (i % 3), "note": None} for i in range(10)]
    batch = extract_many(rows, sizes=True)
    assert batch.input_sizes is not None
    assert batch.input_sizes.tolist() == [float(payload_size(r)) for r in rows]


# -- the never-raise property -------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.sampled_from([pd.NA, pd.NaT, np.float32(1.5), np.int64(-3), np.nan]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
keys = st.one_of(st.text(max_size=4), st.integers(), st.tuples(st.integers()))
rows = st.dictionaries(keys, values, max_size=6)
inputs = st.one_of(
    rows,
    st.lists(values, max_size=5),
    st.lists(rows, max_size=5),
    values,
    st.lists(st.lists(scalars, max_size=4), max_size=4).map(
        lambda rs: np.array(rs, dtype=object) if rs else np.zeros(0)
    ),
)


@given(st.lists(inputs, max_size=8))
def test_extract_many_never_raises_and_keeps_columns_aligned(objs: list[Any]) -> None:
    batch = extract_many(objs, sizes=True)
    assert batch.n_rows >= 0 and batch.invalid >= 0
    for column in batch.columns.values():
        assert column.values.shape == (batch.n_rows,)
        assert not np.isinf(column.values).any()
        if column.labels is not None:
            assert column.labels.shape == (batch.n_rows,)
            present = column.label_mask()
            assert np.isnan(column.values[present]).all()  # a row is a number or a label
    assert batch.input_sizes is not None and batch.input_sizes.size == len(objs)
    assert (batch.input_sizes >= 0).all()


@given(st.lists(st.dictionaries(st.sampled_from("abc"), scalars, max_size=3), max_size=30))
def test_a_fold_of_dicts_equals_extracting_each_dict_alone(dicts: list[dict[str, Any]]) -> None:
    together = extract_many(dicts)
    assert together.n_rows == len(dicts)
    for i, row in enumerate(dicts):
        alone = extract(row)
        for name, column in together.columns.items():
            single = alone.columns.get(name)
            expected_number = single.values[0] if single is not None else math.nan
            got = column.values[i]
            assert (math.isnan(got) and math.isnan(expected_number)) or got == expected_number
            expected_label = None
            if single is not None and single.labels is not None:
                expected_label = single.labels[0]
            got_label = None if column.labels is None else column.labels[i]
            assert got_label == expected_label, (name, i, row)


# -- batches of one form: the same rows as dicts and as one input at a time ----------------

scalar_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=4),
    st.sampled_from([math.nan, math.inf, -math.inf, "é", "", pd.NA]),
)
cells = st.one_of(scalar_cells, st.just({1, 2}))  # a container: missing and invalid
numeric_cells = st.one_of(st.booleans(), st.integers(-(2**53), 2**53), st.floats())


def table(batch: FeatureBatch) -> dict[str, tuple[list[float | None], list[str | None]]]:
    """Every column's numbers (NaN as None) and labels (None where none), by name."""
    return {
        name: (numbers(batch, name), labels(batch, name) or [None] * batch.n_rows)
        for name in batch.columns
    }


def one_at_a_time(objs: list[Any]) -> FeatureBatch:
    """What extract_many gave before runs were read as blocks: each input alone (the path a
    run still falls back to), concatenated."""
    blocks = list(features._one_by_one(objs, 512, True))
    batch = features._concat(blocks, 512)
    sizes = np.array([size for b in blocks if b.sizes is not None for size in b.sizes.tolist()])
    return FeatureBatch(batch.n_rows, batch.columns, batch.invalid, sizes)


def assert_reads_as(objs: list[Any], rows: list[Any]) -> None:
    """``objs`` read as one batch give the rows of ``rows`` (dicts or models), the rows of
    each object read alone, and each object's payload size."""
    batch = extract_many(objs, sizes=True)
    assert_same_rows(batch, extract_many(rows))
    assert_same_rows(batch, one_at_a_time(objs))
    assert batch.input_sizes is not None
    assert batch.input_sizes.tolist() == [float(payload_size(x)) for x in objs]


_models: dict[int, type[pydantic.BaseModel]] = {}
_dataclasses: dict[int, type] = {}


def as_model(values: list[Any]) -> pydantic.BaseModel:
    width = len(values)
    if width not in _models:
        fields: dict[str, Any] = {f"f{j}": (Any, None) for j in range(width)}
        _models[width] = pydantic.create_model(f"Row{width}", **fields)
    return _models[width](**{f"f{j}": v for j, v in enumerate(values)})


def as_dataclass(values: list[Any]) -> Any:
    width = len(values)
    if width not in _dataclasses:
        _dataclasses[width] = dataclasses.make_dataclass(
            f"Row{width}", [(f"f{j}", Any) for j in range(width)]
        )
    return _dataclasses[width](*values)


def as_dict(values: list[Any]) -> dict[str, Any]:
    return {f"f{j}": v for j, v in enumerate(values)}


def as_array(values: list[Any]) -> NDArray[Any]:
    if all(type(v) in (bool, int, float) and abs(v) < 2**53 for v in values):
        return np.array(values, dtype=np.float64)  # a numeric array
    return np.array([*values, None], dtype=object)[:-1]  # never nested, whatever the values


FORMS: dict[str, Any] = {
    "list": list,
    "tuple": tuple,
    "ndarray": as_array,
    "model": as_model,
    "dataclass": as_dataclass,
    "frame": lambda values: pd.DataFrame([as_dict(values)]),
    "series": lambda values: pd.Series(as_dict(values), dtype=object),
    "numeric series": lambda values: pd.Series(as_dict(values)),
}


def assert_same_rows(got: FeatureBatch, expected: FeatureBatch) -> None:
    assert got.n_rows == expected.n_rows
    assert table(got) == table(expected)
    assert got.invalid == expected.invalid


@given(
    st.sampled_from(sorted(FORMS)),
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.lists(st.lists(cells, min_size=width, max_size=width), max_size=12)
    ),
)
def test_a_batch_of_one_form_reads_as_its_dicts_and_as_each_input_alone(
    form: str, rows: list[list[Any]]
) -> None:
    if form == "numeric series":
        rows = [[v for v in row if type(v) in (bool, int, float)] or [0.5] for row in rows]
    objs = [FORMS[form](row) for row in rows]
    batch = extract_many(objs, sizes=True)
    assert_same_rows(batch, extract_many([as_dict(row) for row in rows]))
    alone = one_at_a_time(objs)
    assert_same_rows(batch, alone)
    assert batch.input_sizes is not None and alone.input_sizes is not None
    assert batch.input_sizes.tolist() == [float(payload_size(x)) for x in objs]
    assert batch.input_sizes.tolist() == alone.input_sizes.tolist()


@given(st.lists(scalar_cells, max_size=30))
def test_a_batch_of_scalars_is_the_column_f0(values: list[Any]) -> None:
    assert_reads_as(values, [{"f0": v} for v in values])


@given(st.lists(st.lists(numeric_cells, min_size=3, max_size=3), min_size=1, max_size=12))
def test_frames_of_many_rows_read_as_their_rows(rows: list[list[Any]]) -> None:
    frames = [
        pd.DataFrame([as_dict(row) for row in rows[i : i + 2]]) for i in range(0, len(rows), 2)
    ]
    assert_reads_as(frames, [as_dict(row) for row in rows])


@given(
    st.lists(
        st.tuples(
            st.sampled_from([*sorted(FORMS), "dict", "scalar"]),
            st.lists(cells, min_size=2, max_size=2),
        ),
        max_size=16,
    )
)
def test_mixed_forms_interleaved_keep_their_order(rows: list[tuple[str, list[Any]]]) -> None:
    objs, dicts = [], []
    for form, drawn in rows:
        row = drawn
        if form == "scalar":  # one value, not a container (that would be an input of its own)
            row = [None if isinstance(drawn[0], set) else drawn[0]]
        if form == "numeric series":
            row = [v if type(v) in (bool, int, float) else 0.5 for v in row]
        make = {"scalar": lambda r: r[0], "dict": as_dict}.get(form) or FORMS[form]
        objs.append(make(row))
        dicts.append(as_dict(row))
    assert_reads_as(objs, dicts)


def test_dict_sizes_are_payload_size_whatever_the_values() -> None:
    rows: list[dict[str, Any]] = [
        {"nan": math.nan, "flag": True, "f32": np.float32(1.5), "word": "héllo", "é": None},
        {"nan": 1.0, "flag": False, "f32": np.float32(2), "word": "\ud800", "é": Colour.RED},
        {"nested": [1, {"a": None}], "na": pd.NA, "bytes": b"xy", "big": 10**400},
    ]
    wide = [{f"k{i}": float(i) for i in range(6000)}] * 2  # past payload_size's budget
    for batch_rows in (rows, wide):
        batch = extract_many(batch_rows, sizes=True)
        assert batch.input_sizes is not None
        assert batch.input_sizes.tolist() == [float(payload_size(r)) for r in batch_rows]


@dataclasses.dataclass
class Late:
    x: float
    y: float = dataclasses.field(init=False)  # unset until someone sets it


def test_an_input_that_fails_its_run_costs_only_itself() -> None:
    objs = [Late(1.0), Late(2.0), Late(3.0)]
    objs[0].y = 10.0
    objs[2].y = 30.0  # objs[1] has no y: reading it raises
    batch = extract_many(objs, sizes=True)
    assert batch.n_rows == 2 and batch.invalid == 1
    assert numbers(batch, "x") == [1.0, 3.0] and numbers(batch, "y") == [10.0, 30.0]
    assert batch.input_sizes is not None and batch.input_sizes.size == 3


class Scored(pydantic.BaseModel):
    score: float

    @pydantic.field_serializer("score")
    def as_text(self, score: float) -> str:
        return f"{score:.1f}"


class Tagged(pydantic.BaseModel):
    colour: Colour
    point: Applicant | None = None
    extra: list[int] = []

    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return 2 * len(self.extra)


class WithEnum(pydantic.BaseModel):
    colour: Colour
    applicant: Applicant | None = None
    amount: float | None = None


@given(st.lists(st.sampled_from(range(6)), max_size=12), st.floats())
def test_models_read_as_model_dump_gives_them(picks: list[int], x: float) -> None:
    applicant = Applicant(age=3, income=None, region="é")
    made = [
        Scored(score=x),  # a serializer: read from model_dump()
        Tagged(colour=Colour.RED, extra=[1, 2]),  # a computed field: the same
        Tagged(colour=Colour.RED, point=applicant),
        WithEnum(colour=Colour.RED, amount=x),  # fields as stored
        WithEnum(colour=Colour.RED, applicant=applicant),  # a nested model: dumped to a dict
        applicant,
    ]
    objs = [made[i] for i in picks]
    assert_reads_as(objs, [obj.model_dump() for obj in objs])


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(max_size=3)),
            st.one_of(st.none(), st.integers(-5, 5)),
            st.sampled_from(["u", "v", "w"]),
            st.one_of(st.none(), st.booleans()),
        ),
        max_size=10,
    )
)
def test_frames_of_extension_dtypes_and_dates_read_as_one_at_a_time(
    rows: list[tuple[str | None, int | None, str, bool | None]],
) -> None:
    def frames() -> list[Any]:  # fresh ones: a categorical's memory_usage grows once compared
        return [
            pd.DataFrame(
                {
                    "s": pd.array([s], dtype="string"),
                    "n": pd.array([n], dtype="Int64"),
                    "cat": pd.Categorical([c]),  # categories differ from frame to frame
                    "flag": pd.array([flag], dtype="boolean"),
                    "when": pd.to_datetime(["2024-01-01"]).tz_localize("UTC"),
                    "x": [1.5],
                }
            )
            for s, n, c, flag in rows
        ]

    sizes = [float(payload_size(f)) for f in frames()]
    batch = extract_many(frames(), sizes=True)
    alone = one_at_a_time(frames())
    assert_same_rows(batch, alone)
    assert batch.input_sizes is not None and alone.input_sizes is not None
    assert batch.input_sizes.tolist() == sizes == alone.input_sizes.tolist()


@given(
    st.lists(
        st.lists(
            st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5) | st.booleans(),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=20,
    ),
    st.randoms(use_true_random=False),
)
def test_float_dicts_in_one_key_order_read_as_in_any_order(rows: list[list[Any]], rng: Any) -> None:
    """Dicts of floats in one key order, and the same dicts with their keys shuffled, read
    as each dict alone: the same rows (columns in the first row's key order) and sizes."""
    names = ["a", "b", "c"]
    ordered = [dict(zip(names, row, strict=True)) for row in rows]
    shuffled = []
    for row in ordered:
        keys = list(row)
        rng.shuffle(keys)
        shuffled.append({k: row[k] for k in keys})
    shuffled.append({"c": 1.0, "a": 2.0, "b": 3.0})  # one row that surely is out of order
    ordered.append({"a": 2.0, "b": 3.0, "c": 1.0})
    fast, general = extract_many(ordered, sizes=True), extract_many(shuffled, sizes=True)
    assert_same_rows(fast, general)
    assert_same_rows(general, one_at_a_time(shuffled))
    assert list(general.columns) == list(shuffled[0])
    assert fast.input_sizes is not None and general.input_sizes is not None
    assert fast.input_sizes.tolist() == general.input_sizes.tolist()
    assert fast.input_sizes.tolist() == [float(payload_size(r)) for r in ordered]


@given(
    st.sampled_from(sorted(FORMS)),
    st.integers(min_value=1, max_value=5).flatmap(
        lambda width: st.lists(
            st.lists(st.floats(), min_size=width, max_size=width), min_size=1, max_size=12
        )
    ),
)
def test_rows_of_floats_read_at_c_speed_as_each_input_alone(
    form: str, rows: list[list[float]]
) -> None:
    """Rows of floats only (NaN and infinities among them) take each form's fast path: the
    same rows, invalid counts and sizes as each input read alone, and as its dict."""
    objs = [FORMS[form](row) for row in rows]
    batch = extract_many(objs, sizes=True)
    assert_same_rows(batch, one_at_a_time(objs))
    assert_same_rows(batch, extract_many([as_dict(row) for row in rows]))
    assert batch.input_sizes is not None
    assert batch.input_sizes.tolist() == [float(payload_size(x)) for x in objs]
