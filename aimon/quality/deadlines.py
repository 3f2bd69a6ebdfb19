"""The store the join holds its entries in: entries by key, each with a deadline, the earliest
found first, within a capacity (the predictions held, the outcomes waiting, the ids
remembered of :class:`aimon.quality.join.JoinBuffer`). Plain data: it pickles with the join.

>>> table = Deadlines(capacity=2)
>>> table.put("a", 10.0, 1), table.put("b", 5.0, 2), table.put("c", 20.0, 3)
([], [], [('b', 2)])
>>> table.due(now=15.0), len(table)
([('a', 1)], 1)
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable
from typing import Any

__all__ = ["Deadlines"]

# A table may hold this many stale records beyond twice its live entries before a rebuild.
_STALE_SLACK = 32


class Deadlines:
    """Entries by id, each with a deadline, the earliest found first. At most ``capacity``
    entries: an insertion beyond it evicts the earliest deadline (ties: the oldest entry).

    Deadlines mostly come in order (``ts + ttl`` as time goes on), so a record goes to the
    end of ``queue`` when it is not earlier than the last one there (the queue stays sorted
    by (deadline, insertion)), else into ``heap``; the earliest entry is the earlier of the
    two fronts. Records of entries that left or were replaced stay until they reach a front
    (lazy deletion), or until stale records outnumber the live ones and both are rebuilt."""

    __slots__ = ("capacity", "entries", "heap", "queue", "seq")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict[Hashable, tuple[float, int, Any]] = {}
        self.queue: deque[tuple[float, int, Hashable]] = deque()
        self.heap: list[tuple[float, int, Hashable]] = []
        self.seq = 0

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        for name, value in state[1].items():
            setattr(self, name, value)
        if "queue" not in state[1]:  # pickled before the queue: every record in the heap
            self.queue = deque()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.entries

    def get(self, key: Hashable) -> Any:
        """The value of ``key`` (None if absent)."""
        entry = self.entries.get(key)
        return None if entry is None else entry[2]

    def put(self, key: Hashable, deadline: float, value: Any) -> list[tuple[Hashable, Any]]:
        """Insert (or replace) ``key``; returns the entries evicted to stay within capacity,
        possibly the new one itself if its deadline is the earliest."""
        # Hot path (every prediction held, every id remembered): written for speed.
        self.seq = seq = self.seq + 1
        entries, queue = self.entries, self.queue
        size = len(entries)
        entries[key] = (deadline, seq, value)
        if queue and deadline < queue[-1][0]:
            heapq.heappush(self.heap, (deadline, seq, key))
        else:
            queue.append((deadline, seq, key))
        if size == len(entries):  # replaced: its former record is stale now
            self.tidy()
            return []
        # A new entry and its record: stale records do not gain on live ones, no tidy.
        if size < self.capacity:
            return []
        evicted = []
        while len(entries) > self.capacity:
            evicted.append(self._pop_earliest())
        return evicted

    def update(self, key: Hashable, value: Any) -> None:
        """Replace ``key``'s value, keeping its deadline and its place."""
        deadline, seq, _ = self.entries[key]
        self.entries[key] = (deadline, seq, value)

    def pop(self, key: Hashable) -> Any:
        """Remove ``key`` and return its value (None if absent)."""
        entry = self.entries.pop(key, None)
        if entry is None:
            return None
        self.tidy()
        return entry[2]

    def tidy(self) -> None:
        """Rebuild the records if stale ones outnumber the live ones (after pops)."""
        if len(self.queue) + len(self.heap) > 2 * len(self.entries) + _STALE_SLACK:
            self._compact()

    def due(self, now: float) -> list[tuple[Hashable, Any]]:
        """Remove and return the entries whose deadline is before ``now``, earliest first."""
        entries, queue, heap = self.entries, self.queue, self.heap
        gone = []
        while queue and queue[0][0] < now:
            deadline, seq, key = queue.popleft()
            entry = entries.get(key)
            if entry is not None and entry[1] == seq:
                del entries[key]
                gone.append((deadline, seq, key, entry[2]))
        if heap and heap[0][0] < now:
            from_heap = []
            while heap and heap[0][0] < now:
                deadline, seq, key = heapq.heappop(heap)
                entry = entries.get(key)
                if entry is not None and entry[1] == seq:
                    del entries[key]
                    from_heap.append((deadline, seq, key, entry[2]))
            gone = list(heapq.merge(gone, from_heap))  # by (deadline, seq): seq is unique
        self.tidy()
        return [(key, value) for _, _, key, value in gone]

    def _pop_earliest(self) -> tuple[Hashable, Any]:
        entries, queue, heap = self.entries, self.queue, self.heap
        while queue:  # drop stale records at the front
            _, seq, key = queue[0]
            entry = entries.get(key)
            if entry is not None and entry[1] == seq:
                break
            queue.popleft()
        while heap:
            _, seq, key = heap[0]
            entry = entries.get(key)
            if entry is not None and entry[1] == seq:
                break
            heapq.heappop(heap)
        # Both fronts are live (or absent): the earlier one by (deadline, seq) goes.
        if queue and (not heap or queue[0] < heap[0]):
            key = queue.popleft()[2]
        else:
            key = heapq.heappop(heap)[2]
        return key, entries.pop(key)[2]

    def _compact(self) -> None:
        records = [(d, s, k) for k, (d, s, _) in self.entries.items()]
        records.sort()  # by (deadline, seq): seq is unique, keys are never compared
        self.queue = deque(records)
        self.heap = []
