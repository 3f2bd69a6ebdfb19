"""A mergeable quantile sketch with a relative-accuracy guarantee (DDSketch-style).

Masson, Rim and Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
Relative-Error Guarantees", VLDB 2019. A value ``x > 0`` goes to bucket
``i = ceil(log_gamma(x))`` with ``gamma = (1 + a) / (1 - a)``; the bucket's representative
``2 gamma^i / (gamma + 1)`` is within relative error ``a`` of every value in
``(gamma^(i-1), gamma^i]``. Negative values use a mirrored store, values with
``|x| < MIN_INDEXABLE`` count as zero. Buckets are dense numpy arrays, so batches are inserted
with one ``bincount`` and two sketches merge by adding arrays: merge(a, b) has exactly the
buckets of the sketch of the union.

Memory is bounded by ``max_bins`` buckets per store: past that, the lowest buckets are
collapsed into one (as DDSketch's ``CollapsingLowestDenseStore``); the guarantee then holds
for quantiles above the collapsed range, which for latencies are the ones that matter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MIN_INDEXABLE", "QuantileSketch"]

#: Values with a magnitude below this are counted in the zero bucket.
MIN_INDEXABLE = 1e-12

_FORMAT = 1


class _Store:
    """Dense bucket counts for indices ``offset .. offset + len(counts) - 1``."""

    __slots__ = ("counts", "max_bins", "offset")

    def __init__(self, max_bins: int) -> None:
        self.max_bins = max_bins
        self.counts: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.offset = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def _cover(self, low: int, high: int) -> None:
        """Grow (and, past max_bins, collapse) so that indices low..high fit."""
        if self.counts.size:
            low = min(low, self.offset)
            high = max(high, self.offset + self.counts.size - 1)
        if high - low + 1 > self.max_bins:
            low = high - self.max_bins + 1
        if self.counts.size and low == self.offset and high == self.offset + self.counts.size - 1:
            return
        grown = np.zeros(high - low + 1, dtype=np.int64)
        if self.counts.size:
            old = np.arange(self.offset, self.offset + self.counts.size)
            np.add.at(grown, np.maximum(old, low) - low, self.counts)
        self.counts, self.offset = grown, low

    def add_indices(self, indices: NDArray[np.int64]) -> None:
        if indices.size == 0:
            return
        low, high = int(indices.min()), int(indices.max())
        self._cover(low, high)
        clipped = np.maximum(indices, self.offset) - self.offset
        self.counts += np.bincount(clipped, minlength=self.counts.size)

    def merge(self, other: _Store) -> None:
        if other.counts.size == 0:
            return
        nonzero = np.flatnonzero(other.counts)
        if nonzero.size == 0:
            return
        low, high = other.offset + int(nonzero[0]), other.offset + int(nonzero[-1])
        self._cover(low, high)
        source = np.arange(other.offset, other.offset + other.counts.size)
        keep = other.counts > 0
        np.add.at(self.counts, np.maximum(source[keep], self.offset) - self.offset,
                  other.counts[keep])  # fmt: skip

    def trimmed(self) -> tuple[int, list[int]]:
        """(offset, counts) without leading and trailing zero buckets."""
        nonzero = np.flatnonzero(self.counts)
        if nonzero.size == 0:
            return 0, []
        first, last = int(nonzero[0]), int(nonzero[-1])
        return self.offset + first, self.counts[first : last + 1].tolist()

    def load(self, offset: int, counts: Sequence[int]) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        self.offset = offset


class QuantileSketch:
    """Quantiles within a relative error, exact count/sum/min/max, mergeable, bounded memory.

    Args:
        relative_accuracy: ``a`` in (0, 1): every quantile estimate is within ``a * |x|`` of
            the true value ``x`` of that rank.
        max_bins: buckets per store at most (positive and negative values each have one).

    Raises:
        ValueError: on an accuracy outside (0, 1) or ``max_bins < 16``.

    >>> s = QuantileSketch(0.01)
    >>> s.add_many([0.010, 0.012, 0.020, 0.500])
    4
    >>> abs(s.quantile(0.5) - 0.012) <= 0.01 * 0.012, s.max, s.count
    (True, 0.5, 4)
    """

    def __init__(self, relative_accuracy: float = 0.01, max_bins: int = 4096) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy}")
        if max_bins < 16:
            raise ValueError(f"max_bins must be at least 16, got {max_bins}")
        self._accuracy = float(relative_accuracy)
        self._gamma = (1 + self._accuracy) / (1 - self._accuracy)
        self._log_gamma = math.log(self._gamma)
        self._max_bins = max_bins
        self._positive = _Store(max_bins)
        self._negative = _Store(max_bins)
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.min: float | None = None
        self.max: float | None = None

    @property
    def relative_accuracy(self) -> float:
        """The relative accuracy ``a`` the sketch was made with."""
        return self._accuracy

    @property
    def mean(self) -> float | None:
        """Exact mean of the values added (``None`` when empty)."""
        return self.sum / self.count if self.count else None

    @property
    def is_empty(self) -> bool:
        """No value has been added."""
        return self.count == 0

    def _index(self, magnitudes: NDArray[np.float64]) -> NDArray[np.int64]:
        return np.ceil(np.log(magnitudes) / self._log_gamma).astype(np.int64)

    def _value(self, index: int) -> float:
        return 2.0 * math.exp(index * self._log_gamma) / (self._gamma + 1.0)

    def add(self, value: float) -> None:
        """Add one value; NaN and infinities are ignored."""
        self.add_many(np.array([value], dtype=np.float64))

    def add_many(self, values: ArrayLike) -> int:
        """Add a batch of values (vectorised); returns how many were finite and added."""
        data = np.asarray(values, dtype=np.float64).ravel()
        data = data[np.isfinite(data)]
        if data.size == 0:
            return 0
        positive = data[data >= MIN_INDEXABLE]
        negative = -data[data <= -MIN_INDEXABLE]
        self._positive.add_indices(self._index(positive))
        self._negative.add_indices(self._index(negative))
        self.zero_count += int(data.size - positive.size - negative.size)
        self.count += int(data.size)
        self.sum += float(data.sum())
        low, high = float(data.min()), float(data.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        return int(data.size)

    def merge(self, other: QuantileSketch) -> None:
        """Add another sketch's values into this one.

        Raises:
            ValueError: the sketches were made with different accuracies.
        """
        if other._accuracy != self._accuracy:
            raise ValueError(
                f"cannot merge sketches of accuracy {self._accuracy} and {other._accuracy}"
            )
        if other.count == 0:
            return
        self._positive.merge(other._positive)
        self._negative.merge(other._negative)
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum
        assert other.min is not None and other.max is not None
        self.min = other.min if self.min is None else min(self.min, other.min)
        self.max = other.max if self.max is None else max(self.max, other.max)

    def copy(self) -> QuantileSketch:
        """An independent copy."""
        twin = QuantileSketch(self._accuracy, self._max_bins)
        twin.merge(self)
        return twin

    @staticmethod
    def merged(
        sketches: Iterable[QuantileSketch], relative_accuracy: float = 0.01
    ) -> QuantileSketch:
        """A new sketch holding the values of all ``sketches``."""
        total = QuantileSketch(relative_accuracy)
        for sketch in sketches:
            total.merge(sketch)
        return total

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (``None`` when empty).

        The estimate targets ``sorted(values)[floor(q * (count - 1))]`` (numpy's
        ``method="lower"``) and is within the relative accuracy of it.

        Raises:
            ValueError: ``q`` is not in [0, 1].
        """
        return self.quantiles([q])[0]

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Several quantiles in one pass over the buckets (see :meth:`quantile`)."""
        for q in qs:
            if not 0.0 <= q <= 1.0:  # also rejects NaN
                raise ValueError(f"quantile must be in [0, 1], got {q}")
        if self.count == 0:
            return [None for _ in qs]
        assert self.min is not None and self.max is not None
        # Buckets from the most negative value up: negative store reversed, zero, positive.
        neg = self._negative.counts[::-1]
        neg_index = self._negative.offset + self._negative.counts.size - 1 - np.arange(neg.size)
        counts = np.concatenate([neg, [self.zero_count], self._positive.counts])
        cumulative = np.cumsum(counts)
        out: list[float | None] = []
        for q in qs:
            if q == 0.0:
                out.append(self.min)
                continue
            if q == 1.0:
                out.append(self.max)
                continue
            rank = q * (self.count - 1)
            k = int(np.searchsorted(cumulative, rank, side="right"))
            if k < neg.size:
                estimate = -self._value(int(neg_index[k]))
            elif k == neg.size:
                estimate = 0.0
            else:
                estimate = self._value(self._positive.offset + k - neg.size - 1)
            out.append(min(max(estimate, self.min), self.max))
        return out

    def bucket_count(self) -> int:
        """Buckets held in memory (both stores)."""
        return int(self._positive.counts.size + self._negative.counts.size)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form that :meth:`from_dict` restores exactly."""
        pos_offset, pos = self._positive.trimmed()
        neg_offset, neg = self._negative.trimmed()
        return {
            "format": _FORMAT,
            "relative_accuracy": self._accuracy,
            "max_bins": self._max_bins,
            "positive": {"offset": pos_offset, "counts": pos},
            "negative": {"offset": neg_offset, "counts": neg},
            "zero_count": self.zero_count,
            "count": self.count,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileSketch:
        """Restore a sketch written by :meth:`to_dict`.

        Raises:
            ValueError: the data is not a sketch of a known format or is inconsistent.
        """
        try:
            if data["format"] != _FORMAT:
                raise ValueError(f"unknown sketch format {data['format']!r}")
            sketch = cls(float(data["relative_accuracy"]), int(data["max_bins"]))
            for store, key in ((sketch._positive, "positive"), (sketch._negative, "negative")):
                counts = [int(c) for c in data[key]["counts"]]
                if any(c < 0 for c in counts) or len(counts) > sketch._max_bins:
                    raise ValueError(f"bad {key} bucket counts")
                store.load(int(data[key]["offset"]), counts)
            sketch.zero_count = int(data["zero_count"])
            sketch.count = int(data["count"])
            sketch.sum = float(data["sum"])
            sketch.min = None if data["min"] is None else float(data["min"])
            sketch.max = None if data["max"] is None else float(data["max"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a serialised QuantileSketch: {exc!r}") from None
        held = sketch._positive.total + sketch._negative.total + sketch.zero_count
        if held != sketch.count or sketch.zero_count < 0:
            raise ValueError("sketch counts are inconsistent")
        return sketch

    def _buckets(self) -> tuple[tuple[int, list[int]], tuple[int, list[int]], int]:
        return self._positive.trimmed(), self._negative.trimmed(), self.zero_count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return (
            self._accuracy == other._accuracy
            and self._buckets() == other._buckets()
            and (self.count, self.min, self.max) == (other.count, other.min, other.max)
            and math.isclose(self.sum, other.sum, rel_tol=1e-9, abs_tol=1e-9)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"QuantileSketch(relative_accuracy={self._accuracy}, count={self.count}, "
            f"min={self.min}, max={self.max})"
        )
