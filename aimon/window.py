"""A rolling time window made of fixed-length slices of mergeable aggregates.

The window is a ring of ``ceil(length / slice)`` slices (a :class:`~aimon.ring.SliceRing`). An
event lands in the slice of its own timestamp; a slice is recycled when its time has passed out
of the window, so memory is bounded whatever the traffic: per slice three quantile sketches of
bounded size, a few counters, and per-feature summaries for at most ``max_features`` features.
Any span of the window is the merge of its slices, and two replicas' slices can be merged the
same way.

Only the :class:`~aimon.monitor.Monitor` touches a Window; everybody else reads Snapshots.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from aimon.features import FeatureBatch, FeatureColumn
from aimon.quality.stats import QualityStats, add_fitting
from aimon.ring import SliceRing
from aimon.sketch import QuantileSketch

__all__ = ["FeatureStats", "Slice", "Window", "WindowView", "slice_groups"]

FeatureKind = Literal["numeric", "categorical"]
OTHER_LABEL = "__other__"


@dataclass(slots=True)
class FeatureStats:
    """Mergeable summary of one feature's values: counts, moments, extremes, top labels."""

    kind: FeatureKind | None = None
    count: int = 0  # rows in which the feature was expected
    missing: int = 0  # rows where it was absent, None, NaN or of the wrong kind
    invalid: int = 0  # of those, values of the wrong kind (a string in a numeric feature)
    n: int = 0  # valid values
    sum: float = 0.0
    sum_sq: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    labels: Counter[str] = field(default_factory=Counter)

    def merge(self, other: FeatureStats, max_categories: int) -> None:
        """Add another summary of the same feature into this one."""
        self.kind = self.kind or other.kind
        self.count += other.count
        self.missing += other.missing
        self.invalid += other.invalid
        self.n += other.n
        self.sum += other.sum
        self.sum_sq += other.sum_sq
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.labels:
            self.labels.update(other.labels)
            _cap_labels(self.labels, max_categories)


def _cap_labels(labels: Counter[str], max_categories: int) -> None:
    if len(labels) <= max_categories:
        return
    keep = {label for label, _ in labels.most_common(max_categories - 1) if label != OTHER_LABEL}
    spill = sum(c for label, c in labels.items() if label not in keep)
    for label in [label for label in labels if label not in keep]:
        del labels[label]
    labels[OTHER_LABEL] += spill


class Slice:
    """The aggregates of one time slice: counts, errors by type, latency and size sketches,
    and the quality statistics of the predictions matched with their outcome in the slice
    (``quality``: None until a pair is counted; bounded, see
    :class:`~aimon.quality.QualityStats`)."""

    __slots__ = (
        "count", "errors", "features", "input_size", "latency", "output_size", "quality", "sid",
    )  # fmt: skip

    def __init__(self, sid: int, relative_accuracy: float) -> None:
        self.sid = sid
        self.count = 0
        self.errors: Counter[str] = Counter()
        self.latency = QuantileSketch(relative_accuracy)
        self.input_size = QuantileSketch(relative_accuracy)
        self.output_size = QuantileSketch(relative_accuracy)
        self.features: dict[str, FeatureStats] = {}
        self.quality: QualityStats | None = None

    def add(
        self,
        latency: NDArray[np.float64],
        errors: Iterable[str],
        input_size: NDArray[np.float64],
        output_size: NDArray[np.float64],
    ) -> None:
        """Count ``len(latency)`` calls; NaN in an array means "not known" and is skipped."""
        self.count += int(latency.size)
        self.errors.update(errors)
        self.latency.add_many(latency)
        self.input_size.add_many(input_size)
        self.output_size.add_many(output_size)

    def merge(self, other: Slice, max_categories: int) -> None:
        """Add another slice's aggregates into this one."""
        self.count += other.count
        self.errors.update(other.errors)
        self.latency.merge(other.latency)
        self.input_size.merge(other.input_size)
        self.output_size.merge(other.output_size)
        for name, stats in other.features.items():
            mine = self.features.get(name)
            if mine is None:
                mine = self.features[name] = FeatureStats(kind=stats.kind)
            mine.merge(stats, max_categories)
        if other.quality is not None:
            if self.quality is None:
                self.quality = other.quality.copy()
            else:
                self.quality.merge(other.quality)


@dataclass(frozen=True, slots=True)
class WindowView:
    """The merge of the live slices at one moment, with the time span they cover."""

    start: float
    end: float
    span_s: float  # seconds of the window that have actually elapsed (for rates)
    total: Slice


class Window:
    """A ring of time slices holding mergeable aggregates.

    Args:
        length_s: window length in seconds (default 5 minutes).
        slice_s: slice length in seconds (default 10 s); the window keeps
            ``ceil(length_s / slice_s)`` slices.
        relative_accuracy: of the quantile sketches.
        max_features: features tracked at most; values of further features are ignored.
        max_categories: distinct labels kept per categorical feature (the rest as ``__other__``).

    >>> w = Window(length_s=60, slice_s=10)
    >>> sids, live, late, future = w.place(np.array([100.0, 5.0, 200.0, 110.0]), now=105.0)
    >>> sids.tolist(), live.tolist()
    ([10, 0, 10, 10], [True, False, False, True])
    >>> late.tolist(), future.tolist()
    ([False, True, False, False], [False, False, True, False])
    """

    def __init__(
        self,
        length_s: float = 300.0,
        slice_s: float = 10.0,
        relative_accuracy: float = 0.01,
        max_features: int = 512,
        max_categories: int = 64,
    ) -> None:
        if not (length_s > 0 and slice_s > 0):
            raise ValueError("window and slice lengths must be positive")
        if slice_s > length_s:
            raise ValueError(f"slice ({slice_s}s) must not be longer than the window ({length_s}s)")
        self.slice_s = float(slice_s)
        self.n_slices = math.ceil(length_s / slice_s - 1e-9)
        self.length_s = self.n_slices * self.slice_s
        self.relative_accuracy = relative_accuracy
        self.max_features = max_features
        self.max_categories = max_categories
        self._ring = _slice_ring(self.n_slices, relative_accuracy)
        self._kinds: dict[str, FeatureKind] = {}
        self.first_ts: float | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        ring = state["_ring"]
        if isinstance(ring, list):  # pickled before the SliceRing: a list of slots by sid
            state = {**state, "_ring": _slice_ring(state["n_slices"], state["relative_accuracy"])}
            for piece in sorted((p for p in ring if p is not None), key=lambda p: p.sid):
                state["_ring"].put(piece.sid, piece)  # slices already out of the ring leave
        self.__dict__.update(state)

    def slice_ids(self, ts: NDArray[np.float64]) -> NDArray[np.int64]:
        """The slice id of each timestamp."""
        return np.floor(ts / self.slice_s).astype(np.int64)

    def place(
        self, ts: NDArray[np.float64], now: float
    ) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
        """Slice ids and (live, late, future) masks of timestamps as of ``now``.

        Late: older than the window's oldest slice. Future: more than one slice ahead of
        ``now`` (a skewed clock; placing it would evict valid slices). An event ahead of
        ``now`` by less than a slice (a small clock skew between processes) is counted in
        the current slice.
        """
        now_sid = math.floor(now / self.slice_s)
        future = ts > now + self.slice_s
        sids = np.minimum(self.slice_ids(ts), now_sid)
        late = sids <= now_sid - self.n_slices
        return sids, ~(late | future), late, future

    def add_pairs(
        self,
        when: NDArray[np.float64],
        actuals: list[Any],
        predicted: list[Any],
        make_stats: Callable[[], QualityStats],
        now: float,
    ) -> int:
        """Count matched (actual, predicted) pairs into the quality of the slices of their
        times ``when`` (those outside the window are not counted); returns the pairs that do
        not fit the task."""
        sids, live, _, _ = self.place(when, now)
        invalid = 0
        for sid, mask in slice_groups(sids, live):
            rows = range(len(actuals)) if mask is None else np.flatnonzero(mask).tolist()
            target = self.slice_for(sid)
            if target.quality is None:
                target.quality = make_stats()
            picked_actuals = [actuals[i] for i in rows]
            picked = [predicted[i] for i in rows]
            invalid += add_fitting(target.quality, picked_actuals, picked)
        return invalid

    def holds(self, sid: int, now: float) -> bool:
        """Slice ``sid`` is inside the window as of ``now`` (as :meth:`place` judges)."""
        return sid > math.floor(now / self.slice_s) - self.n_slices

    def slice_for(self, sid: int) -> Slice:
        """The slice for ``sid``, recycling the ring slot of a slice that leaves the window.

        Raises:
            ValueError: ``sid`` is older than the window's newest slice allows (callers
                :meth:`place` timestamps first).
        """
        current = self._ring.get(sid)
        if current is None:
            raise ValueError(f"slice {sid} is older than the window")
        if self.first_ts is None or sid * self.slice_s < self.first_ts:
            self.first_ts = sid * self.slice_s
        return current

    def drop_quality(self, keep: Callable[[QualityStats], bool]) -> int:
        """Forget the slices' quality statistics that ``keep`` refuses; returns their pairs."""
        dropped = 0
        for piece in self._ring:
            if piece.quality is not None and not keep(piece.quality):
                dropped += piece.quality.count
                piece.quality = None
        return dropped

    def add_features(self, sid: int, batch: FeatureBatch) -> None:
        """Fold a batch of feature rows into slice ``sid``'s per-feature summaries."""
        target = self.slice_for(sid).features
        for name, column in batch.columns.items():
            stats = target.get(name)
            if stats is None:
                if len(target) >= self.max_features and name not in self._kinds:
                    continue
                stats = target[name] = FeatureStats(kind=self._kinds.get(name))
            self._fold_column(name, stats, column, batch.n_rows)
        for name, stats in target.items():
            if name not in batch.columns and batch.n_rows:
                # A known feature absent from these rows (a changing dict shape) is missing there.
                stats.count += batch.n_rows
                stats.missing += batch.n_rows

    def _fold_column(
        self, name: str, stats: FeatureStats, column: FeatureColumn, n_rows: int
    ) -> None:
        values = column.values
        finite = np.isfinite(values)
        n_numeric = int(np.count_nonzero(finite))
        labels = column.labels
        has_label = None if labels is None else column.label_mask()
        n_labels = 0 if has_label is None else int(np.count_nonzero(has_label))
        kind = stats.kind or self._kinds.get(name)
        if kind is None and (n_numeric or n_labels):
            kind = "numeric" if n_numeric >= n_labels else "categorical"
        if kind is not None:
            self._kinds.setdefault(name, kind)
            stats.kind = kind
        stats.count += n_rows
        if kind == "numeric":
            stats.invalid += n_labels
            stats.missing += n_rows - n_numeric
            if n_numeric:
                good = values if n_numeric == values.size else values[finite]
                stats.n += n_numeric
                # Values near the float range overflow the sums to inf (mean, std reported
                # as inf), silently: a warning per fold would flood the server's stderr.
                with np.errstate(over="ignore", invalid="ignore"):
                    stats.sum += float(good.sum())
                    stats.sum_sq += float(np.dot(good, good))
                stats.min = min(stats.min, float(good.min()))
                stats.max = max(stats.max, float(good.max()))
        elif kind == "categorical":
            stats.missing += n_rows - n_numeric - n_labels
            stats.n += n_numeric + n_labels
            if n_labels and labels is not None and has_label is not None:
                uniq, counts = np.unique(labels[has_label].astype(str), return_counts=True)
                stats.labels.update(dict(zip(uniq.tolist(), counts.tolist(), strict=True)))
            if n_numeric:
                # Numbers in a categorical feature (codes) are labels too: 3.0 -> "3".
                uniq_num, counts = np.unique(values[finite], return_counts=True)
                stats.labels.update(
                    {_number_label(v): int(c) for v, c in zip(uniq_num, counts, strict=True)}
                )
            _cap_labels(stats.labels, self.max_categories)
        else:
            stats.missing += n_rows

    def view(self, now: float, started: float | None = None) -> WindowView:
        """Merge the live slices as of ``now``.

        ``started`` (when the monitor began) shortens the span used for rates while the
        window is still filling, so throughput is not diluted by time nobody was watching.
        """
        now_sid = math.floor(now / self.slice_s)
        oldest = now_sid - self.n_slices + 1
        total = Slice(now_sid, self.relative_accuracy)
        for current in self._ring.live(now_sid):
            total.merge(current, self.max_categories)
        start = oldest * self.slice_s
        begun = max(start, started if started is not None else start)
        if self.first_ts is not None:
            begun = min(begun, max(start, self.first_ts))
        return WindowView(start=start, end=now, span_s=max(now - begun, 1e-9), total=total)


def slice_groups(
    sids: NDArray[np.int64], live: NDArray[np.bool_]
) -> list[tuple[int, NDArray[np.bool_] | None]]:
    """The slices that the live rows of :meth:`Window.place` fall in, each with its rows as
    a mask (None: every row, the usual case of a fold within one slice).

    >>> slice_groups(np.array([3, 3]), np.array([True, True]))
    [(3, None)]
    >>> [(sid, mask.tolist()) for sid, mask in slice_groups(np.array([3, 4, 3]),
    ...                                                    np.array([True, True, False]))]
    [(3, [True, False, False]), (4, [False, True, False])]
    """
    if live.all() and sids.size and sids[0] == sids[-1] and (sids == sids[0]).all():
        return [(int(sids[0]), None)]
    return [(sid, live & (sids == sid)) for sid in np.unique(sids[live]).tolist()]


def _slice_ring(n_slices: int, relative_accuracy: float) -> SliceRing[Slice]:
    return SliceRing(n_slices, partial(Slice, relative_accuracy=relative_accuracy))


def _number_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
