"""Reference profiles: what they hold, the exact save/load round trip, clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from aimon.drift.bins import bin_index, quantile_edges
from aimon.drift.reference import OTHER, SCHEMA_VERSION, Reference, ReferenceError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 5000
    amount = rng.lognormal(4.0, 1.0, n)
    amount[::50] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "age": rng.integers(18, 90, n),
            "country": rng.choice(["DE", "FR", "US", "GB"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "is_new": rng.random(n) < 0.3,
            "score": rng.random(n),
        }
    )


def test_numeric_profile_bins_shares_and_statistics(frame: pd.DataFrame) -> None:
    ref = Reference.from_frame(frame, bins=10, prediction="score")
    amount = ref.features["amount"]
    values = frame["amount"].dropna().to_numpy()
    assert amount.kind == "numeric"
    assert amount.count == values.size and amount.missing == 100
    assert amount.missing_share == pytest.approx(100 / 5000)
    assert len(amount.edges) == 9 and len(amount.shares) == 10
    assert sum(amount.shares) == pytest.approx(1.0)
    assert all(share == pytest.approx(0.1, abs=0.002) for share in amount.shares)
    counts = np.bincount(bin_index(np.array(amount.edges), values), minlength=10)
    assert np.allclose(np.array(amount.shares), counts / values.size, rtol=0, atol=1e-15)
    assert amount.mean == pytest.approx(values.mean(), rel=1e-12)
    assert amount.std == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert (amount.min, amount.max) == (values.min(), values.max())
    assert amount.sample == tuple(np.sort(values))  # fewer values than sample_size: all
    assert ref.prediction == "score" and ref.rows == 5000


def test_bins_are_half_open_with_open_outer_bins() -> None:
    edges = np.array([1.0, 2.0])
    assert bin_index(edges, np.array([-1e300, 0.99, 1.0, 1.5, 2.0, 1e300])).tolist() == [
        0, 0, 1, 1, 2, 2,
    ]  # fmt: skip
    counts = np.bincount(bin_index(edges, np.array([1.0, 1.5])), minlength=3)
    inner, _ = np.histogram(np.array([1.0, 1.5]), bins=[1.0, 2.0])
    assert counts[1] == inner[0]  # the same [1, 2) as numpy.histogram


def test_discrete_features_get_one_bin_per_value() -> None:
    edges = quantile_edges(np.array([0.0, 1.0, 1.0, 2.0, 2.0, 2.0]), 10)
    assert edges.tolist() == [0.0, 1.0, 2.0]
    ref = Reference.from_frame({"k": [0.0, 1.0, 1.0, 2.0, 2.0, 2.0]})
    assert ref.features["k"].shares == (0.0, 1 / 6, 2 / 6, 3 / 6)


def test_bools_and_strings_are_categorical(frame: pd.DataFrame) -> None:
    ref = Reference.from_frame(frame)
    assert ref.features["is_new"].kind == "categorical"  # as compare reads it (Evidently)
    assert set(ref.features["is_new"].categories) == {"0", "1"}
    country = ref.features["country"]
    assert country.kind == "categorical"
    assert list(country.categories) == ["DE", "FR", "US", "GB"]  # by count
    assert sum(country.categories.values()) == pytest.approx(1.0)
    assert sum(country.counts.values()) == 5000


def test_top_k_keeps_the_most_common_and_counts_the_rest_as_other() -> None:
    values = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5
    ref = Reference.from_frame({"c": values}, top_k=2)
    assert ref.features["c"].categories == {"a": 0.5, "b": 0.3, OTHER: 0.2}
    assert ref.features["c"].counts == {"a": 50, "b": 30, OTHER: 20}


def test_declared_categorical_numbers_become_labels() -> None:
    ref = Reference.from_frame({"zip": [10115, 10115, 80331, None]}, categorical=["zip"])
    zip_code = ref.features["zip"]
    assert zip_code.kind == "categorical"
    assert zip_code.categories == {"10115": 2 / 3, "80331": 1 / 3}
    assert zip_code.missing == 1


def test_arrays_and_dicts_are_accepted() -> None:
    ref = Reference.from_frame(np.arange(12.0).reshape(4, 3))
    assert list(ref.features) == ["f0", "f1", "f2"]
    assert Reference.from_frame({"a": [1.0, 2.0]}).features["a"].count == 2


def test_the_sample_is_bounded_sorted_and_uniform() -> None:
    values = np.random.default_rng(0).normal(size=50_000)
    ref = Reference.from_frame({"x": values}, sample_size=2000)
    sample = ref.features["x"].sample_array()
    assert sample.size == 2000
    assert np.all(np.diff(sample) >= 0)
    assert abs(float(np.median(sample)) - float(np.median(values))) < 0.1


def test_save_and_load_round_trip_exactly(tmp_path: Path, frame: pd.DataFrame) -> None:
    ref = Reference.from_frame(frame, prediction="score")
    path = tmp_path / "ref.json"
    ref.save(path)
    assert Reference.load(path) == ref
    assert not list(tmp_path.glob(".ref.json.*"))  # no temp file left behind


finite_floats = st.one_of(st.floats(-1e12, 1e12), st.sampled_from([math.nan, math.inf, -math.inf]))


@settings(max_examples=40, deadline=None)
@given(
    data_frames(
        [
            column("x", elements=finite_floats),
            column("c", elements=st.one_of(st.none(), st.sampled_from(["a", "b", "ü"]))),
        ],
    ).filter(lambda df: len(df) > 0),
    st.integers(2, 12),
)
def test_round_trip_is_exact_for_any_frame(df: pd.DataFrame, bins: int) -> None:
    ref = Reference.from_frame(df, bins=bins, sample_size=7)
    again = Reference.from_dict(json.loads(ref.model_dump_json()))
    assert again == ref
    for feature in ref.features.values():
        if feature.kind == "numeric" and feature.count:
            assert math.isclose(sum(feature.shares), 1.0)


def test_files_csv_and_parquet(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / "ref.csv", index=False)
    frame.to_parquet(tmp_path / "ref.parquet", index=False)
    from_csv = Reference.from_file(tmp_path / "ref.csv")
    from_parquet = Reference.from_file(tmp_path / "ref.parquet")
    for name in frame.columns:
        assert from_csv.features[name].kind == from_parquet.features[name].kind
        assert from_csv.features[name].count == from_parquet.features[name].count
    assert from_csv.features["amount"].edges == pytest.approx(from_parquet.features["amount"].edges)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON reference profile"),
        ('{"a": 1}', "not an aimon reference profile"),
        ('{"format": "aimon.reference"}', "schema_version is missing"),
        ('{"format": "aimon.reference", "schema_version": 99}', "newer than this aimon reads"),
        ('{"format": "aimon.reference", "schema_version": 1}', "field created_at"),
    ],
)
def test_bad_files_fail_with_a_message_that_says_what_is_wrong(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReferenceError, match=message):
        Reference.load(path)


def test_an_inconsistent_profile_names_the_feature(tmp_path: Path) -> None:
    data = json.loads(Reference.from_frame({"x": [1.0, 2.0, 3.0, 4.0]}).model_dump_json())
    data["features"]["x"]["shares"] = [1.0]
    with pytest.raises(ReferenceError, match=r"feature 'x'.*one share per bin"):
        Reference.from_dict(data)


def test_a_version_1_profile_still_loads() -> None:
    data = json.loads(Reference.from_frame({"x": [1.0, 2.0, 3.0, 4.0]}).model_dump_json())
    for field in ("target", "quality", "estimator", "multivariate", "segments"):
        del data[field]
    data["schema_version"] = 1
    loaded = Reference.from_dict(data)
    assert loaded.quality is None and loaded.features["x"].count == 4
    assert SCHEMA_VERSION == 4


def test_bad_inputs_name_the_setting_or_column(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError, match="no rows"):
        Reference.from_frame(pd.DataFrame({"a": []}))
    with pytest.raises(ReferenceError, match="categorical: no column named 'b'"):
        Reference.from_frame({"a": [1]}, categorical=["b"])
    with pytest.raises(ReferenceError, match="prediction: no column named 'p'"):
        Reference.from_frame({"a": [1]}, prediction="p")
    with pytest.raises(ReferenceError, match="bins"):
        Reference.from_frame({"a": [1]}, bins=1)
    with pytest.raises(ReferenceError, match="no such file"):
        Reference.from_file(tmp_path / "missing.csv")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(ReferenceError, match="unknown file kind"):
        Reference.from_file(tmp_path / "data.xlsx")
    with pytest.raises(ReferenceError, match="2-D"):
        Reference.from_frame(np.zeros(3))
