"""QuantileSketch: accuracy against exact quantiles, exact merges, bounded memory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.sketch import MIN_INDEXABLE, QuantileSketch

ACCURACY = 0.01
QS = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e6)
samples = st.lists(finite, min_size=1, max_size=300)


def sketch_of(
    values: list[float] | np.ndarray, accuracy: float = ACCURACY, max_bins: int = 4096
) -> QuantileSketch:
    sketch = QuantileSketch(accuracy, max_bins)
    sketch.add_many(values)
    return sketch


def same(x: QuantileSketch, y: QuantileSketch) -> bool:
    """Equal buckets, count, min and max; sums equal up to the rounding of float addition
    (the order of additions differs between a merge and a batch)."""
    one, other = x.to_dict(), y.to_dict()
    sums = one.pop("sum"), other.pop("sum")
    magnitude = max(abs(x.min or 0.0), abs(x.max or 0.0)) * max(x.count, 1)
    return one == other and math.isclose(*sums, rel_tol=1e-9, abs_tol=1e-12 * magnitude)


def exact_lower(values: list[float] | np.ndarray, q: float) -> float:
    """numpy's ``method="lower"``: the element of rank floor(q * (n - 1))."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return float(ordered[math.floor(q * (ordered.size - 1))])


def within_bound(estimate: float, exact: float, accuracy: float) -> bool:
    # The bound is relative; values below MIN_INDEXABLE count as zero, and a value sitting on
    # a bucket boundary may land one bucket up through float rounding (still within ``a``).
    slack = accuracy * abs(exact) * (1 + 1e-9) + MIN_INDEXABLE
    return abs(estimate - exact) <= slack


@given(samples, st.sampled_from([0.005, 0.01, 0.02, 0.05]))
def test_every_quantile_is_within_the_relative_accuracy(values: list[float], a: float) -> None:
    # Enough buckets for 1e-12..1e9 at the finest accuracy: nothing collapses, so the bound
    # holds at every rank (test_collapsing_... covers the collapsed case).
    sketch = sketch_of(values, a, max_bins=8192)
    for q, estimate in zip(QS, sketch.quantiles(QS), strict=True):
        assert estimate is not None
        assert within_bound(estimate, exact_lower(values, q), a), (q, estimate)


def test_quantile_matches_numpy_lower_on_a_latency_like_sample() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=-3.0, sigma=1.0, size=100_000)
    sketch = sketch_of(values)
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(values, q, method="lower"))
        estimate = sketch.quantile(q)
        assert estimate is not None
        assert abs(estimate - exact) <= ACCURACY * exact


@given(samples)
def test_count_sum_min_max_are_exact(values: list[float]) -> None:
    sketch = sketch_of(values)
    assert sketch.count == len(values)
    assert sketch.min == min(values)
    assert sketch.max == max(values)
    assert math.isclose(sketch.sum, math.fsum(values), rel_tol=1e-9, abs_tol=1e-3)
    assert sketch.quantile(0.0) == min(values)
    assert sketch.quantile(1.0) == max(values)


@given(samples, samples)
def test_merge_equals_the_sketch_of_the_union(a: list[float], b: list[float]) -> None:
    merged = sketch_of(a)
    merged.merge(sketch_of(b))
    assert same(merged, sketch_of(a + b))
    assert merged.quantiles(QS) == sketch_of(a + b).quantiles(QS)


@given(samples, samples, samples)
def test_merge_is_associative_and_commutative(
    a: list[float], b: list[float], c: list[float]
) -> None:
    left = sketch_of(a)
    left.merge(sketch_of(b))
    left.merge(sketch_of(c))
    bc = sketch_of(b)
    bc.merge(sketch_of(c))
    right = sketch_of(a)
    right.merge(bc)
    swapped = sketch_of(c)
    swapped.merge(sketch_of(a))
    swapped.merge(sketch_of(b))
    assert same(left, right) and same(left, swapped)


@given(samples)
def test_the_empty_sketch_is_the_identity_of_merge(values: list[float]) -> None:
    sketch = sketch_of(values)
    before = sketch.to_dict()
    sketch.merge(QuantileSketch(ACCURACY))
    assert sketch.to_dict() == before
    empty = QuantileSketch(ACCURACY)
    empty.merge(sketch_of(values))
    assert same(empty, sketch)


@given(st.lists(finite, max_size=50))
def test_adding_one_by_one_equals_adding_a_batch(values: list[float]) -> None:
    single = QuantileSketch(ACCURACY)
    for value in values:
        single.add(value)
    assert same(single, sketch_of(values))


def test_nan_and_infinities_are_skipped() -> None:
    sketch = QuantileSketch()
    added = sketch.add_many([1.0, math.nan, math.inf, -math.inf, 2.0])
    assert added == 2
    assert (sketch.count, sketch.min, sketch.max, sketch.sum) == (2, 1.0, 2.0, 3.0)


def test_an_empty_sketch_answers_none() -> None:
    sketch = QuantileSketch()
    assert sketch.is_empty
    assert sketch.quantile(0.5) is None
    assert sketch.mean is None
    assert sketch.quantiles([0.5, 0.99]) == [None, None]


def test_zeros_and_negatives() -> None:
    values = [-5.0, -1.0, 0.0, 0.0, 0.0, 1e-15, 3.0]
    sketch = sketch_of(values)
    assert sketch.zero_count == 4  # 1e-15 is below MIN_INDEXABLE
    assert sketch.quantile(0.5) == 0.0
    low = sketch.quantile(0.0)
    assert low == -5.0
    estimate = sketch.quantile(1 / 6)
    assert estimate is not None and abs(estimate + 1.0) <= ACCURACY


@given(st.lists(st.floats(min_value=1e-300, max_value=1e300), min_size=1, max_size=200))
def test_memory_is_bounded_whatever_the_range(values: list[float]) -> None:
    sketch = QuantileSketch(ACCURACY, max_bins=64)
    sketch.add_many(values)
    sketch.merge(sketch_of(values))
    assert sketch.bucket_count() <= 2 * 64
    assert sketch.count == 2 * len(values)


def test_collapsing_keeps_the_upper_quantiles_accurate() -> None:
    rng = np.random.default_rng(3)
    # 5 % of tiny values spread over twelve decades, 95 % of latencies between 1 and 1000.
    tiny = 10 ** rng.uniform(-12, -3, size=500)
    main = rng.uniform(1.0, 1000.0, size=9_500)
    values = np.concatenate([tiny, main])
    sketch = QuantileSketch(ACCURACY, max_bins=400)
    sketch.add_many(values)
    assert sketch.bucket_count() <= 400
    for q in (0.5, 0.9, 0.95, 0.99):
        estimate = sketch.quantile(q)
        assert estimate is not None
        assert within_bound(estimate, exact_lower(values, q), ACCURACY)


@given(samples)
def test_serialisation_round_trips_exactly(values: list[float]) -> None:
    sketch = sketch_of(values)
    restored = QuantileSketch.from_dict(json.loads(json.dumps(sketch.to_dict())))
    assert restored == sketch
    assert restored.quantiles(QS) == sketch.quantiles(QS)


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"format": 99},
        {"format": 1, "relative_accuracy": "x"},
        {
            "format": 1, "relative_accuracy": 0.01, "max_bins": 64,
            "positive": {"offset": 0, "counts": [1, -1]}, "negative": {"offset": 0, "counts": []},
            "zero_count": 0, "count": 0, "sum": 0.0, "min": None, "max": None,
        },
        {
            "format": 1, "relative_accuracy": 0.01, "max_bins": 64,
            "positive": {"offset": 0, "counts": [3]}, "negative": {"offset": 0, "counts": []},
            "zero_count": 0, "count": 5, "sum": 1.0, "min": 1.0, "max": 1.0,
        },
    ],
)  # fmt: skip
def test_garbage_is_rejected_with_a_value_error(garbage: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        QuantileSketch.from_dict(garbage)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(0.0)
    with pytest.raises(ValueError, match="max_bins"):
        QuantileSketch(0.01, max_bins=2)
    with pytest.raises(ValueError, match="quantile"):
        QuantileSketch().quantile(1.5)
    with pytest.raises(ValueError, match="accuracy"):
        QuantileSketch(0.01).merge(QuantileSketch(0.02))


@settings(max_examples=25)
@given(st.lists(positive, min_size=1, max_size=200), st.integers(min_value=1, max_value=5))
def test_merging_many_small_sketches_stays_within_the_bound(
    values: list[float], parts: int
) -> None:
    chunks = np.array_split(np.asarray(values), parts)
    total = QuantileSketch.merged([sketch_of(chunk) for chunk in chunks], ACCURACY)
    for q in QS:
        estimate = total.quantile(q)
        assert estimate is not None
        assert within_bound(estimate, exact_lower(values, q), ACCURACY)
