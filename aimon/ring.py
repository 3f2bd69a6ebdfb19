"""A ring of time slices: the payloads of the newest ``n_slices`` slice keys.

A key is an integer that grows with time, such as a slice id ``floor(ts / slice_s)``. The ring
keeps the slices whose keys lie in ``(horizon - n_slices, horizon]``, where the horizon is the
newest key given to it (or a later "now" given to :meth:`SliceRing.expire`). A newer key moves
the horizon on and recycles the slots of the keys it pushes out; an older key inside the ring
(an event that arrived out of order) lands in its own slice; a key at or before the ring's
start is refused. Each key has one slot, ``key % n_slices``, so memory is bounded by
``n_slices`` payloads whatever the keys.

The :class:`~aimon.window.Window` keeps its latency and feature aggregates in one, the
:class:`~aimon.drift.tracker.DriftTracker` its drift counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["SliceRing"]

T = TypeVar("T")


class SliceRing(Generic[T]):
    """The slices of the newest ``n_slices`` keys, each with a payload made on first use.

    Args:
        n_slices: slices kept (at least 1).
        fresh: makes the payload of a new slice from its key; pickled with the ring, so a
            ring that is checkpointed needs a picklable one (a class, a ``functools.partial``).

    Raises:
        ValueError: ``n_slices`` is below 1.

    >>> ring = SliceRing(3, lambda key: [])
    >>> ring.get(10).append("a")
    >>> ring.get(12).append("b")
    >>> ring.get(11).append("c")  # out of order, inside the ring: its own slice
    >>> ring.get(9) is None  # older than the ring, which holds 10 to 12
    True
    >>> ring.get(13).append("d")  # moves the ring on: slice 10 leaves
    >>> ring.items()
    [(11, ['c']), (12, ['b']), (13, ['d'])]
    >>> ring.expire(now_key=14)
    >>> [key for key, _ in ring.items()], list(ring.live(now_key=13))
    ([12, 13], [['b'], ['d']])
    """

    __slots__ = ("_slots", "fresh", "horizon", "n_slices")

    def __init__(self, n_slices: int, fresh: Callable[[int], T]) -> None:
        if n_slices < 1:
            raise ValueError(f"a ring needs at least one slice, got {n_slices}")
        self.n_slices = n_slices
        self.fresh = fresh
        #: The newest key the ring has moved on to (None: nothing yet).
        self.horizon: int | None = None
        # Invariant: every entry's key lies in (horizon - n_slices, horizon] and sits in slot
        # key % n_slices, so a slot holds at most one key of the ring.
        self._slots: list[tuple[int, T] | None] = [None] * n_slices

    def get(self, key: int) -> T | None:
        """The payload of slice ``key``, made with ``fresh`` if the ring has none yet (a key
        newer than the horizon moves the ring on to it); None if the key is older than the
        ring (at or before ``horizon - n_slices``)."""
        # Called once per slice of every fold batch: the common case (a key of the ring) is
        # one index and one comparison.
        entry = self._slots[key % self.n_slices]
        if entry is not None and entry[0] == key:
            return entry[1]
        if self.horizon is not None and key <= self.horizon - self.n_slices:
            return None
        payload = self.fresh(key)
        self.put(key, payload)
        return payload

    def put(self, key: int, payload: T) -> bool:
        """Make ``payload`` slice ``key``'s, replacing any payload it had (a key newer than
        the horizon moves the ring on to it); False, and nothing changes, if the key is older
        than the ring."""
        if self.horizon is None or key > self.horizon:
            self.expire(key)
        elif key <= self.horizon - self.n_slices:
            return False
        self._slots[key % self.n_slices] = (key, payload)
        return True

    def expire(self, now_key: int) -> None:
        """Move the ring on to ``now_key`` if it is newer than the horizon: the slices at or
        before ``now_key - n_slices`` leave, and their keys are refused from then on."""
        if self.horizon is not None and now_key <= self.horizon:
            return
        self.horizon = now_key
        cut = now_key - self.n_slices
        slots = self._slots
        for slot, entry in enumerate(slots):
            if entry is not None and entry[0] <= cut:
                slots[slot] = None

    def items(self) -> list[tuple[int, T]]:
        """The ring's slices as (key, payload), oldest key first."""
        return sorted((e for e in self._slots if e is not None), key=lambda entry: entry[0])

    def live(self, now_key: int) -> Iterator[T]:
        """The payloads of the slices in ``(now_key - n_slices, now_key]``, oldest first,
        without moving the ring (a read as of ``now_key``)."""
        first = now_key - self.n_slices
        return (payload for key, payload in self.items() if first < key <= now_key)

    def __iter__(self) -> Iterator[T]:
        """The payloads of all the ring's slices, oldest key first."""
        return (payload for _, payload in self.items())

    def __len__(self) -> int:
        return sum(entry is not None for entry in self._slots)

    def __repr__(self) -> str:
        keys = [key for key, _ in self.items()]
        return f"SliceRing(n_slices={self.n_slices}, horizon={self.horizon}, keys={keys})"
