import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.features import extract_many
from aimon.ring import SliceRing
from aimon.window import Slice, Window


def fill(window: Window, ts: np.ndarray, latency: np.ndarray, errors: list, now: float):
    """Place events the way the Monitor does; returns (late, future) counts."""
    sids, live, late, future = window.place(ts, now)
    for sid in np.unique(sids[live]):
        mask = live & (sids == sid)
        idx = np.flatnonzero(mask)
        window.slice_for(int(sid)).add(
            latency[mask],
            [errors[i] for i in idx if errors[i]],
            latency[mask] * 0 + 100,
            np.full(idx.size, np.nan),
        )
    return int(late.sum()), int(future.sum())


def test_defaults_are_five_minutes_of_ten_second_slices():
    w = Window()
    assert (w.n_slices, w.slice_s, w.length_s) == (30, 10.0, 300.0)


def test_rejects_bad_lengths():
    with pytest.raises(ValueError, match="slice"):
        Window(length_s=10, slice_s=20)
    with pytest.raises(ValueError):
        Window(length_s=0)


events = st.lists(
    st.tuples(st.floats(0, 200), st.floats(1e-4, 10), st.sampled_from([None, "E1", "E2"])),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(events=events, now=st.floats(100, 250))
def test_counts_are_exact_and_late_events_are_counted(events, now):
    w = Window(length_s=60, slice_s=10)
    ts = np.array([e[0] for e in events], dtype=float)
    lat = np.array([e[1] for e in events], dtype=float)
    errs = [e[2] for e in events]
    late, future = fill(w, ts, lat, errs, now)
    view = w.view(now)
    oldest = (np.floor(now / 10) - 5) * 10  # start of the oldest of the 6 live slices
    in_window = (ts >= oldest) & (ts <= now + 10)  # up to a slice ahead counts as now
    assert view.total.count == int(in_window.sum())
    assert late == int((ts < oldest).sum())
    assert future == int((ts > now + 10).sum())
    assert view.total.count + late + future == len(events)
    expected_errors = {k: sum(1 for i, e in enumerate(errs) if e == k and in_window[i])
                       for k in ("E1", "E2")}  # fmt: skip
    assert {k: view.total.errors.get(k, 0) for k in ("E1", "E2")} == expected_errors
    if in_window.any():
        assert view.total.latency.max == lat[in_window].max()
        assert view.total.latency.count == int(in_window.sum())


@settings(max_examples=60, deadline=None)
@given(events=events)
def test_merge_of_slices_equals_one_slice_of_everything(events):
    """The window's merged sketch equals a sketch of the union of the live events."""
    w = Window(length_s=300, slice_s=10)
    ts = np.array([e[0] for e in events], dtype=float)
    lat = np.array([e[1] for e in events], dtype=float)
    fill(w, ts, lat, [None] * len(events), now=200.0)
    single = Window(length_s=300, slice_s=300)
    fill(single, np.zeros(len(events)), lat, [None] * len(events), now=200.0)
    assert w.view(200.0).total.latency == single.view(200.0).total.latency


def test_memory_is_bounded_whatever_the_traffic():
    w = Window(length_s=60, slice_s=10)
    rng = np.random.default_rng(1)
    for second in range(0, 3600, 5):
        ts = np.full(1000, float(second))
        fill(w, ts, rng.lognormal(-4, 1, 1000), [None] * 1000, now=float(second))
    assert len([s for s in w._ring if s is not None]) <= w.n_slices
    view = w.view(3595.0)
    assert view.total.count == 6 * 2 * 1000  # the last 60 s, two batches per slice


def test_recycled_slot_forgets_old_data():
    w = Window(length_s=20, slice_s=10)
    fill(w, np.array([5.0]), np.array([1.0]), [None], now=5.0)
    fill(w, np.array([25.0]), np.array([2.0]), [None], now=25.0)  # same ring slot as sid 0
    view = w.view(25.0)
    assert view.total.count == 1
    assert view.total.latency.max == 2.0


def test_span_grows_while_the_window_fills():
    w = Window(length_s=60, slice_s=10)
    fill(w, np.array([100.0]), np.array([0.1]), [None], now=100.0)
    assert w.view(120.0, started=100.0).span_s == pytest.approx(20.0)
    # later the span is what the live slices cover: 5 whole slices and the current one's start
    assert w.view(500.0, started=100.0).span_s == pytest.approx(50.0)
    assert w.view(505.0, started=100.0).span_s == pytest.approx(55.0)


def test_feature_stats_numeric_categorical_missing_and_invalid():
    w = Window(length_s=60, slice_s=10)
    rows = [
        {"age": 30, "country": "DE"},
        {"age": 50, "country": "FR"},
        {"age": "old", "country": "DE"},  # a string in a numeric feature
        {"age": None},  # country absent, age missing
    ]
    w.add_features(1, extract_many(rows))
    total = w.view(15.0).total.features
    age, country = total["age"], total["country"]
    assert age.kind == "numeric"
    assert (age.count, age.missing, age.invalid, age.n) == (4, 2, 1, 2)
    assert (age.sum, age.min, age.max) == (80.0, 30.0, 50.0)
    assert country.kind == "categorical"
    assert (country.count, country.missing) == (4, 1)
    assert dict(country.labels) == {"DE": 2, "FR": 1}


def test_category_labels_are_capped():
    w = Window(length_s=60, slice_s=10, max_categories=5)
    w.add_features(1, extract_many([{"c": f"v{i % 20}"} for i in range(200)]))
    labels = w.view(15.0).total.features["c"].labels
    assert len(labels) <= 5
    assert sum(labels.values()) == 200
    assert labels["__other__"] > 0


def test_values_near_the_float_range_are_summarised_without_warnings():
    # Issue 14 item 7: the sum of squares overflowed with a RuntimeWarning on every fold.
    w = Window(length_s=60, slice_s=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w.add_features(1, extract_many([{"x": v} for v in (1.7e308, -1.7e308, 1.7e308)]))
    x = w.view(15.0).total.features["x"]
    assert (x.n, x.min, x.max) == (3, -1.7e308, 1.7e308)
    assert math.isinf(x.sum_sq)


def test_feature_count_is_capped():
    w = Window(length_s=60, slice_s=10, max_features=3)
    w.add_features(1, extract_many([{f"f{i}": i for i in range(10)}]))
    assert len(w.view(15.0).total.features) == 3


def test_a_pickle_of_the_list_ring_layout_restores():
    """A checkpoint taken before the SliceRing (the ring a list of slots, ``sid % n``, where
    slices out of the window lingered until their slot was reused) goes on as the window it
    was."""

    def old_layout(window: Window) -> Window:
        copy = pickle.loads(pickle.dumps(window))
        state = dict(copy.__dict__)
        slots = [None] * copy.n_slices
        for sid, piece in copy._ring.items():
            slots[sid % copy.n_slices] = piece
        state["_ring"] = slots
        old = Window.__new__(Window)
        old.__setstate__(state)
        return old

    rng = np.random.default_rng(3)
    ts = np.sort(rng.uniform(0, 200, 400))
    lat = rng.lognormal(-4, 1, 400)
    errs = [None if i % 7 else "E" for i in range(400)]
    straight, w = Window(length_s=60, slice_s=10), Window(length_s=60, slice_s=10)
    for part in (slice(0, 200), slice(200, 400)):
        now = float(ts[part][-1])
        fill(straight, ts[part], lat[part], errs[part], now)
        fill(w, ts[part], lat[part], errs[part], now)
        w = old_layout(w)
        assert isinstance(w._ring, SliceRing)
        want, got = straight.view(now, started=0.0), w.view(now, started=0.0)
        assert (got.start, got.span_s, got.total.count) == (
            want.start,
            want.span_s,
            want.total.count,
        )
        assert got.total.errors == want.total.errors
        assert got.total.latency == want.total.latency
    # A slice of long ago still in its slot leaves: the ring holds the newest n sids only.
    slots = [None] * 6
    slots[0], slots[20 % 6] = Slice(0, 0.01), Slice(20, 0.01)
    old = Window.__new__(Window)
    old.__setstate__({**Window(length_s=60, slice_s=10).__dict__, "_ring": slots})
    assert [sid for sid, _ in old._ring.items()] == [20]
    assert old.slice_for(20) is slots[2]
    with pytest.raises(ValueError, match="older than the window"):
        old.slice_for(0)
