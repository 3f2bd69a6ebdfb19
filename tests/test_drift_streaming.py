"""Live counts in a reference's bins: exact, mergeable, bounded; reservoirs uniform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.drift.bins import bin_index
from aimon.drift.reference import OTHER, Reference
from aimon.drift.streaming import MAX_UNSEEN, FeatureCounts, Reservoir, count_batch
from aimon.features import extract_many


@pytest.fixture(scope="module")
def reference() -> Reference:
    rng = np.random.default_rng(5)
    n = 2000
    return Reference.from_frame(
        pd.DataFrame(
            {
                "x": rng.normal(size=n),
                "c": rng.choice(["a", "b", "c"], n),
                "k": rng.integers(0, 4, n),
            }
        ),
        bins=10,
    )


def counts_of(reference: Reference, rows: list[dict[str, object]]) -> dict[str, FeatureCounts]:
    return count_batch(reference, extract_many(rows), 64, np.random.default_rng(0))


def test_numeric_counts_equal_an_offline_bincount(reference: Reference) -> None:
    values = np.random.default_rng(1).normal(0.5, 1.0, 3000)
    rows = [{"x": float(v)} for v in values]
    counts = counts_of(reference, rows)
    edges = np.array(reference.features["x"].edges)
    expected = np.bincount(bin_index(edges, values), minlength=len(edges) + 1)
    assert counts["x"].bins.tolist() == expected.tolist()
    assert counts["x"].missing == 0
    # features of the reference absent from the rows are missing in every row
    assert counts["c"].missing == 3000 and counts["c"].present == 0


def test_missing_and_wrong_kinds(reference: Reference) -> None:
    rows: list[dict[str, object]] = [
        {"x": None, "c": "a", "k": 1},
        {"x": "oops", "c": None, "k": 2},
        {"x": 1.0, "c": 7, "k": None},
    ]
    counts = counts_of(reference, rows)
    assert counts["x"].missing == 2 and counts["x"].present == 1
    assert counts["c"].missing == 1
    assert counts["c"].unseen == {"7": 1}  # a number in a categorical feature is a label
    assert counts["k"].missing == 1


def test_unseen_labels_land_outside_and_are_named_boundedly(reference: Reference) -> None:
    rows: list[dict[str, object]] = [{"c": f"new{i}"} for i in range(100)] + [{"c": "a"}] * 5
    counts = counts_of(reference, rows)["c"]
    assert counts.outside == 100
    assert counts.present == 105
    assert counts.bins[list(reference.features["c"].categories).index("a")] == 5
    assert len(counts.unseen) == MAX_UNSEEN + 1  # 32 names and OTHER for the rest
    assert sum(counts.unseen.values()) == 100


def test_labels_beyond_top_k_count_in_other() -> None:
    ref = Reference.from_frame({"c": ["a"] * 5 + ["b"] * 3 + ["z"]}, top_k=2)
    counts = count_batch(ref, extract_many([{"c": "z"}, {"c": "q"}]), 8, np.random.default_rng(0))
    other = list(ref.features["c"].categories).index(OTHER)
    assert counts["c"].bins[other] == 2 and counts["c"].outside == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=200), st.integers(1, 5))
def test_merging_slices_equals_counting_everything_at_once(values: list[float], parts: int) -> None:
    ref = Reference.from_frame({"x": np.linspace(-3, 3, 101)})
    rng = np.random.default_rng(0)
    rows = [{"x": v} for v in values]
    whole = count_batch(ref, extract_many(rows), 16, rng)["x"]
    chunks = [rows[i::parts] for i in range(parts)]
    merged = FeatureCounts(np.zeros(ref.features["x"].n_bins, dtype=np.int64))
    for chunk in chunks:
        if chunk:
            merged.merge(count_batch(ref, extract_many(chunk), 16, rng)["x"])
    assert merged.bins.tolist() == whole.bins.tolist()
    assert merged.missing == whole.missing
    sample = merged.sample()
    assert sample.total == pytest.approx(len(values))  # weights stand for every value


def test_reservoir_is_bounded_exact_while_small_and_uniform() -> None:
    rng = np.random.default_rng(3)
    small = Reservoir(100)
    small.add_many(np.arange(60.0), rng)
    assert small.values.tolist() == list(np.arange(60.0)) and small.seen == 60
    hits = np.zeros(1000)
    for _ in range(400):
        reservoir = Reservoir(50)
        for chunk in np.array_split(np.arange(1000.0), 7):
            reservoir.add_many(chunk, rng)
        assert reservoir.values.size == 50 and reservoir.seen == 1000
        hits[reservoir.values.astype(int)] += 1
    # each value kept with probability 50/1000: 20 expected hits over 400 runs, in each tenth
    deciles = hits.reshape(10, 100).sum(axis=1)
    assert np.all(np.abs(deciles - 2000) < 250)


def test_reservoir_rejects_a_zero_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Reservoir(0)
