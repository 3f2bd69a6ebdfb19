"""Which values of a segment column are kept apart: the top K by recent traffic.

Each column keeps at most ``max_values`` values of its own; calls with any other value are
counted together in ``__other__``. A value is admitted while there is room. Once full, a
waiting value (one counted in ``__other__``) takes the place of the held value with the least
recent traffic when it has more than twice as much (the margin keeps two values of like
traffic from taking turns); the value that leaves loses its history. Recent traffic is
decayed with a half-life of the rolling window, so a value idle for a few windows gives its
place to any newcomer with traffic.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aimon.drift.segment_labels import OTHER

__all__ = ["ValueCap"]

#: A waiting value takes a held value's place when its traffic is this many times larger.
MARGIN = 2.0
#: Waiting values remembered, per held value (the rest forgotten, least traffic first).
WAITING_PER_PLACE = 4


class ValueCap:
    """The values of one segment column that have a place of their own.

    Args:
        max_values: values kept apart at most.
        half_life_s: the half-life of recent traffic, in seconds.

    >>> cap = ValueCap(2, half_life_s=60.0)
    >>> cap.admit(Counter({"DE": 5, "FR": 3, "IT": 1}), now=0.0)
    []
    >>> [cap.label(v) for v in ("DE", "FR", "IT")]
    ['DE', 'FR', '__other__']
    >>> cap.admit(Counter({"IT": 20}), now=1.0)  # IT outgrows FR by more than twice
    ['FR']
    >>> [cap.label(v) for v in ("DE", "FR", "IT")]
    ['DE', '__other__', 'IT']
    """

    def __init__(self, max_values: int, half_life_s: float) -> None:
        self.max_values = max_values
        self.half_life_s = half_life_s
        self.held: dict[str, float] = {}
        self.waiting: dict[str, float] = {}
        self.updated: float | None = None
        #: Values that lost their place since start.
        self.evicted = 0

    def label(self, value: str) -> str:
        """The segment ``value``'s calls are counted in: its own, or ``__other__``."""
        return value if value in self.held else OTHER

    def admit(self, counts: Counter[str], now: float) -> list[str]:
        """Count new traffic per value (at ``now``); returns the values that lost their place
        to busier ones."""
        self._decay(now)
        held, waiting = self.held, self.waiting
        for value, n in counts.items():
            if value in held:
                held[value] += n
            elif len(held) < self.max_values and value != OTHER:
                held[value] = float(n)
                waiting.pop(value, None)
            else:
                waiting[value] = waiting.get(value, 0.0) + n
        evicted: list[str] = []
        while waiting and held:
            busiest = max(waiting, key=waiting.__getitem__)
            weakest = min(held, key=held.__getitem__)
            if waiting[busiest] <= MARGIN * held[weakest]:
                break
            waiting[weakest] = held.pop(weakest)
            held[busiest] = waiting.pop(busiest)
            evicted.append(weakest)
        self.evicted += len(evicted)
        limit = WAITING_PER_PLACE * self.max_values
        if len(waiting) > limit:
            for value in sorted(waiting, key=waiting.__getitem__)[: len(waiting) - limit]:
                del waiting[value]
        return evicted

    def export_state(self) -> dict[str, Any]:
        """The held and waiting values with their recent traffic, for a checkpoint."""
        return {
            "held": dict(self.held),
            "waiting": dict(self.waiting),
            "updated": self.updated,
            "evicted": self.evicted,
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`export_state`'s values. When fewer values are kept apart
        now, the busiest keep their places and the rest wait.

        >>> cap = ValueCap(3, half_life_s=60.0)
        >>> _ = cap.admit(Counter({"DE": 5, "FR": 3, "IT": 1}), now=0.0)
        >>> smaller = ValueCap(2, half_life_s=60.0)
        >>> smaller.restore_state(cap.export_state())
        >>> [smaller.label(v) for v in ("DE", "FR", "IT")]
        ['DE', 'FR', '__other__']
        """
        held = {str(v): float(n) for v, n in state["held"].items()}
        waiting = {str(v): float(n) for v, n in state["waiting"].items()}
        if len(held) > self.max_values:
            busiest = set(sorted(held, key=held.__getitem__, reverse=True)[: self.max_values])
            for value in [v for v in held if v not in busiest]:
                waiting[value] = held.pop(value)
        limit = WAITING_PER_PLACE * self.max_values
        if len(waiting) > limit:
            kept = sorted(waiting, key=waiting.__getitem__, reverse=True)[:limit]
            waiting = {value: waiting[value] for value in kept}
        self.held, self.waiting = held, waiting
        updated = state["updated"]
        self.updated = None if updated is None else float(updated)
        self.evicted = int(state["evicted"])

    def _decay(self, now: float) -> None:
        if self.updated is not None and now > self.updated and self.half_life_s > 0:
            factor = 0.5 ** ((now - self.updated) / self.half_life_s)
            for table in (self.held, self.waiting):
                for value in table:
                    table[value] *= factor
        self.updated = now if self.updated is None else max(self.updated, now)
