"""The ring of time slices: a key lands in its own slice, the newest ``n_slices`` keys stay,
older keys are refused, memory is bounded by the slice count whatever the keys."""

from __future__ import annotations

import pickle
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.ring import SliceRing


def tagged(key: int) -> list[int]:
    """A payload that remembers the key it was made for (module level: picklable)."""
    return [key]


keys = st.integers(-1_000, 1_000)
sizes = st.integers(1, 20)
# Mostly near each other (out of order inside a ring), now and then a jump far ahead or back.
walks = st.lists(st.one_of(st.integers(-5, 5), st.integers(-100, 100)), min_size=1, max_size=200)


def keys_of(walk: list[int], start: int = 0) -> list[int]:
    out, key = [], start
    for step in walk:
        key += step
        out.append(key)
    return out


class Model:
    """What the ring promises, as plainly as it can be said: a dict of the newest keys."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.horizon: int | None = None
        self.slices: dict[int, list[int]] = {}

    def move_to(self, now_key: int) -> None:
        if self.horizon is None or now_key > self.horizon:
            self.horizon = now_key
            self.slices = {k: v for k, v in self.slices.items() if k > now_key - self.n}

    def get(self, key: int) -> list[int] | None:
        if self.horizon is not None and key <= self.horizon - self.n:
            return None
        self.move_to(key)
        return self.slices.setdefault(key, [key])


@settings(max_examples=200, deadline=None)
@given(n=sizes, walk=walks, expire_every=st.integers(2, 10))
def test_the_ring_behaves_as_a_dict_of_the_newest_keys(
    n: int, walk: list[int], expire_every: int
) -> None:
    ring, model = SliceRing(n, tagged), Model(n)
    for i, key in enumerate(keys_of(walk)):
        if i % expire_every == 0:
            ring.expire(key + 1)
            model.move_to(key + 1)
        got, want = ring.get(key), model.get(key)
        assert got == want
        assert ring.horizon == model.horizon
        assert ring.items() == sorted(model.slices.items())


@settings(max_examples=200, deadline=None)
@given(n=sizes, walk=walks)
def test_a_key_lands_in_its_own_slice(n: int, walk: list[int]) -> None:
    ring = SliceRing(n, tagged)
    for key in keys_of(walk):
        piece = ring.get(key)
        if piece is None:
            continue
        assert piece == [key]  # made for this key, not another one sharing the slot
        assert ring.get(key) is piece  # and found again, not made afresh
        assert (key, piece) in ring.items()


@settings(max_examples=200, deadline=None)
@given(n=sizes, walk=walks, now_step=st.integers(0, 50))
def test_expired_slices_are_gone(n: int, walk: list[int], now_step: int) -> None:
    ring = SliceRing(n, tagged)
    for key in keys_of(walk):
        ring.get(key)
        assert ring.horizon is not None
        assert all(ring.horizon - n < k <= ring.horizon for k, _ in ring.items())
    assert ring.horizon is not None
    now = ring.horizon + now_step
    ring.expire(now)
    assert all(k > now - n for k, _ in ring.items())
    assert ring.get(now - n) is None  # what left does not come back
    assert len(ring) == len(ring.items()) <= n


@settings(max_examples=100, deadline=None)
@given(n=sizes, ks=st.lists(keys, max_size=300))
def test_memory_is_bounded_by_the_slice_count_whatever_the_keys(n: int, ks: list[int]) -> None:
    ring = SliceRing(n, tagged)
    for key in ks:
        ring.get(key)
        assert len(ring) <= n
    assert len(ring._slots) == n


@settings(max_examples=200, deadline=None)
@given(n=sizes, newest=keys, data=st.data())
def test_out_of_order_keys_inside_the_ring_are_accepted(
    n: int, newest: int, data: st.DataObject
) -> None:
    ring = SliceRing(n, tagged)
    ring.get(newest)
    inside = data.draw(st.lists(st.integers(newest - n + 1, newest), max_size=3 * n))
    for key in inside:
        assert ring.get(key) == [key]
    assert ring.horizon == newest  # an older key does not move the ring
    assert [k for k, _ in ring.items()] == sorted({newest, *inside})


@settings(max_examples=200, deadline=None)
@given(n=sizes, newest=keys, back=st.integers(0, 500))
def test_keys_older_than_the_ring_are_refused(n: int, newest: int, back: int) -> None:
    ring = SliceRing(n, tagged)
    ring.get(newest)
    before = ring.items()
    key = newest - n - back
    assert ring.get(key) is None
    assert not ring.put(key, [key])
    assert ring.items() == before and ring.horizon == newest


@settings(max_examples=100, deadline=None)
@given(n=sizes, walk=walks, now=keys)
def test_live_is_the_window_as_of_now_and_moves_nothing(n: int, walk: list[int], now: int) -> None:
    ring = SliceRing(n, tagged)
    for key in keys_of(walk):
        ring.get(key)
    before = (ring.horizon, ring.items())
    assert list(ring.live(now)) == [p for k, p in ring.items() if now - n < k <= now]
    assert (ring.horizon, ring.items()) == before


def test_a_newer_key_recycles_the_slot_of_the_one_it_pushes_out() -> None:
    ring = SliceRing(3, tagged)
    old = ring.get(10)
    assert old is not None
    old.append(99)
    assert ring.get(13) == [13]  # the same slot as 10, which left
    assert ring.items() == [(13, [13])]
    assert ring.get(10) is None


def test_put_replaces_a_payload_and_moves_the_ring() -> None:
    ring = SliceRing(2, tagged)
    assert ring.put(5, [50]) and ring.put(5, [51])
    assert ring.items() == [(5, [51])]
    assert ring.put(7, [70]) and ring.items() == [(7, [70])]


@settings(max_examples=50, deadline=None)
@given(n=sizes, walk=walks)
def test_a_pickle_round_trip_changes_nothing(n: int, walk: list[int]) -> None:
    ring = SliceRing(n, partial(tagged))
    ks = keys_of(walk)
    for key in ks[: len(ks) // 2]:
        ring.get(key)
    copy = pickle.loads(pickle.dumps(ring))
    assert (copy.n_slices, copy.horizon, copy.items()) == (n, ring.horizon, ring.items())
    for key in ks[len(ks) // 2 :]:
        assert copy.get(key) == ring.get(key)
    assert copy.items() == ring.items()


def test_at_least_one_slice() -> None:
    with pytest.raises(ValueError, match="at least one slice"):
        SliceRing(0, tagged)
