"""A bounded uniform sample of whole rows: the live side of multivariate drift.

The drift tracker keeps one reservoir per feature, each sampled on its own, which keeps
every marginal and loses how the features move together. A :class:`RowSample` keeps rows
whole (``capacity x width`` numbers, NaN for a missing value), so a correlation survives
the sampling. Each slice of a window holds one; the window is their union, each kept row
standing for ``seen / kept`` rows of its slice (:func:`stack`).

>>> rng = np.random.default_rng(0)
>>> sample = RowSample(capacity=3, width=2)
>>> sample.add(np.arange(20.0).reshape(10, 2), rng)
>>> sample.kept, sample.seen
(3, 10)
>>> rows, weights = stack([sample])
>>> rows.shape, weights.tolist()
((3, 2), [3.3333333333333335, 3.3333333333333335, 3.3333333333333335])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

__all__ = ["RowSample", "stack"]


class RowSample:
    """A reservoir (Vitter's algorithm R) of at most ``capacity`` rows of ``width`` numbers:
    every row seen has the same chance of being kept. Memory: ``8 * capacity * width``
    bytes, whatever the traffic.

    Raises:
        ValueError: ``capacity`` or ``width`` below 1.
    """

    __slots__ = ("capacity", "kept", "rows", "seen")

    def __init__(self, capacity: int, width: int) -> None:
        if capacity < 1 or width < 1:
            raise ValueError(f"a row sample needs capacity and width >= 1, got {capacity}, {width}")
        self.capacity = capacity
        self.rows = np.empty((capacity, width), dtype=np.float64)
        self.kept = 0
        self.seen = 0

    def __getstate__(self) -> tuple[int, NDArray[np.float64], int]:
        return self.capacity, self.rows[: self.kept].copy(), self.seen  # the kept rows only

    def __setstate__(self, state: tuple[int, NDArray[np.float64], int]) -> None:
        self.capacity, kept_rows, self.seen = state
        self.kept = len(kept_rows)
        self.rows = np.empty((self.capacity, kept_rows.shape[1]), dtype=np.float64)
        self.rows[: self.kept] = kept_rows

    def add(self, rows: NDArray[np.float64], rng: np.random.Generator) -> None:
        """Offer ``rows`` (``n x width``) to the sample."""
        room = min(self.capacity - self.kept, len(rows))
        self.rows[self.kept : self.kept + room] = rows[:room]
        self.kept += room
        rest = rows[room:]
        if len(rest):
            # Row number i (1-based, over every row seen) takes a random slot of i; it is kept
            # when that slot is one of the sample's.
            numbers = self.seen + room + 1 + np.arange(len(rest))
            slots = np.floor(rng.random(len(rest)) * numbers).astype(np.intp)
            chosen = np.flatnonzero(slots < self.capacity)
            # Of rows that take the same slot, the last one stays (as one by one).
            _, last = np.unique(slots[chosen][::-1], return_index=True)
            chosen = chosen[len(chosen) - 1 - last]
            self.rows[slots[chosen]] = rest[chosen]
        self.seen += len(rows)


def stack(samples: Iterable[RowSample]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The union of samples: their kept rows and each row's weight, the rows it stands for
    (``seen / kept`` of its sample), so a weighted statistic estimates the window's."""
    parts = [s for s in samples if s.kept]
    if not parts:
        return np.empty((0, 0)), np.empty(0)
    rows = np.vstack([s.rows[: s.kept] for s in parts])
    weights = np.concatenate([np.full(s.kept, s.seen / s.kept) for s in parts])
    return rows, weights
