"""Cumulative aggregates since start: what Prometheus counters and histograms are made of.

Windows forget; these never do (until the process ends, or, in the sidecar, ever: they are
checkpointed). Histograms use fixed, log-spaced bucket bounds so that Prometheus can sum the
buckets of many replicas and take a fleet-wide quantile with ``histogram_quantile``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["LATENCY_BUCKETS", "SIZE_BUCKETS", "BucketCounts", "LabelCap", "RunningTotals"]

_DEFAULT_MAX_FEATURES = 512  # of a checkpoint from before the feature cap

#: Latency bucket upper bounds in seconds: 0.5 s x 1.02^k, from 98 us to 60.3 s (674
#: bounds). histogram_quantile interpolates inside one bucket, so a fleet quantile from the
#: summed buckets is within 2 % of the true one (the 1-2.5-5 steps were 35 % off); 0.5 s is
#: a bound so that the default p95 threshold is checked exactly.
LATENCY_BUCKETS: tuple[float, ...] = tuple(0.5 * 1.02**k for k in range(-431, 243))

#: Payload size bucket upper bounds in bytes: powers of four from 64 B to 64 MiB.
SIZE_BUCKETS: tuple[float, ...] = tuple(float(64 * 4**k) for k in range(11))


class BucketCounts:
    """Counts per fixed bucket (Prometheus ``le`` semantics: a value equal to a bound is in it),
    and their sum: a Prometheus histogram being counted (its frozen picture in a Snapshot is
    :class:`aimon.snapshot.Histogram`).

    >>> h = BucketCounts((1.0, 2.0))
    >>> h.add_many(np.array([0.5, 1.0, 1.5, 9.0]))
    >>> h.cumulative()
    [2, 3, 4]
    """

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("bucket bounds must be strictly increasing")
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.counts: NDArray[np.int64] = np.zeros(len(bounds) + 1, dtype=np.int64)
        self.sum = 0.0

    @property
    def count(self) -> int:
        """Number of values observed."""
        return int(self.counts.sum())

    def add_many(self, values: NDArray[np.float64]) -> None:
        """Count finite values into their buckets (NaN is ignored)."""
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return
        index = np.searchsorted(self.bounds, finite, side="left")
        self.counts += np.bincount(index, minlength=self.counts.size)
        self.sum += float(finite.sum())

    def cumulative(self) -> list[int]:
        """Cumulative counts per bound, the last one for ``+Inf``."""
        return [int(c) for c in np.cumsum(self.counts)]


class LabelCap:
    """The distinct values a label takes over a process's life, at most ``limit`` (state that
    outlives windows must not grow with what a caller sends). The first ``limit`` names are
    admitted for good; a later new name is refused, and counted.

    >>> cap = LabelCap(2)
    >>> [cap.admits(n) for n in ("a", "b", "c", "a")], cap.refused
    ([True, True, False, True], 1)
    """

    __slots__ = ("limit", "names", "refused")

    def __init__(self, limit: int, names: Iterable[str] = ()) -> None:
        self.limit = limit
        self.names: set[str] = set(names)
        self.refused = 0

    def admits(self, name: str) -> bool:
        """Whether ``name`` is (now) one of the admitted names."""
        names = self.names
        if name in names:
            return True
        if len(names) < self.limit:
            names.add(name)
            return True
        self.refused += 1
        return False


class RunningTotals:
    """Everything counted since start: calls by outcome, errors by type, bucket counts (its
    frozen picture in a Snapshot is :class:`aimon.snapshot.Totals`).

    Error types beyond ``max_error_types`` distinct names are counted as ``"other"`` so a
    model raising ever-new exception classes cannot blow up label cardinality; features
    beyond ``max_features`` distinct names are not counted at all (see
    :meth:`aimon.aggregates.Aggregates.add_features`). Both caps hold for the process's life.
    """

    def __init__(self, max_error_types: int = 32, max_features: int = 512) -> None:
        self.max_error_types = max_error_types
        self.error_types = LabelCap(max_error_types)
        self.feature_names = LabelCap(max_features)
        self.calls = 0
        self.errors: Counter[str] = Counter()
        self.latency = BucketCounts(LATENCY_BUCKETS)
        self.input_size = BucketCounts(SIZE_BUCKETS)
        self.output_size = BucketCounts(SIZE_BUCKETS)
        self.feature_missing: Counter[str] = Counter()
        self.feature_values: Counter[str] = Counter()
        self.features_skipped = 0  # calls whose input was not profiled (load shedding)

    @property
    def error_count(self) -> int:
        """Calls that raised."""
        return sum(self.errors.values())

    def error_label(self, error_type: str) -> str:
        """The label an error type is counted under (capped cardinality)."""
        return error_type if self.error_types.admits(error_type) else "other"

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "error_types" not in state:
            # A checkpoint from before the caps: they start from the names it counted.
            known = [name for name in self.errors if name != "other"]
            self.error_types = LabelCap(self.max_error_types, known)
            self.feature_names = LabelCap(_DEFAULT_MAX_FEATURES, self.feature_values)
        if not np.array_equal(self.latency.bounds, LATENCY_BUCKETS):
            # Counted in other buckets (an older aimon): the histogram starts again, which
            # Prometheus reads as a counter reset; a replica's buckets must match its fleet's.
            self.latency = BucketCounts(LATENCY_BUCKETS)
