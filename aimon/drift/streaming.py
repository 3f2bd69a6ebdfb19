"""Live feature counts in a reference's bins, mergeable across time slices and replicas.

For every feature of a :class:`~aimon.drift.reference.Reference`, a slice keeps the count of
live values in each reference bin (numeric) or category (categorical, with the labels the
reference never saw counted apart), the missing count, and for numeric features a bounded
uniform reservoir sample for the sample-based tests (KS, Wasserstein). Counts merge by
addition, exactly; reservoirs merge as weighted samples (each slice's values stand for
``seen / kept`` values), so a window of any length is the merge of its slices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from aimon.drift.bins import bin_index, labels_of
from aimon.drift.reference import OTHER, FeatureProfile, Reference
from aimon.features import FeatureBatch, FeatureColumn

__all__ = ["FeatureCounts", "Reservoir", "WeightedSample", "count_batch"]

#: Distinct unseen labels remembered per feature and slice; more are counted, not named.
MAX_UNSEEN = 32


class Reservoir:
    """A uniform random sample of at most ``capacity`` values from a stream (Vitter's
    algorithm R, vectorised per batch). ``seen`` counts every value offered."""

    __slots__ = ("capacity", "seen", "values")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"reservoir capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.seen = 0
        self.values: NDArray[np.float64] = np.zeros(0)

    def add_many(self, values: NDArray[np.float64], rng: np.random.Generator) -> None:
        """Offer a batch of values; each ends up kept with probability ``capacity / seen``."""
        if values.size == 0:
            return
        room = self.capacity - self.values.size
        if room > 0:
            self.values = np.concatenate([self.values, values[:room]])
            self.seen += min(room, values.size)
            values = values[room:]
            if values.size == 0:
                return
        # The t-th value overall (1-based) replaces a random slot with probability k / t.
        t = self.seen + np.arange(1, values.size + 1)
        slots = (rng.random(values.size) * t).astype(np.int64)
        accepted = slots < self.capacity
        # Later values must win over earlier ones for the same slot: numpy's fancy
        # assignment applies in order, so the last write to a slot is the latest value.
        self.values[slots[accepted]] = values[accepted]
        self.seen += int(values.size)


@dataclass(slots=True)
class WeightedSample:
    """Values each standing for ``weight`` live values (a merge of slice reservoirs)."""

    values: NDArray[np.float64]
    weights: NDArray[np.float64]

    @property
    def total(self) -> float:
        """How many live values the sample stands for."""
        return float(self.weights.sum())

    @property
    def effective_size(self) -> float:
        """Kish's effective sample size, ``(sum w)^2 / sum w^2``."""
        squares = float(np.square(self.weights).sum())
        return self.total**2 / squares if squares else 0.0


@dataclass(slots=True)
class FeatureCounts:
    """One feature's live counts in one slice (or merged over many)."""

    bins: NDArray[np.int64]
    missing: int = 0
    outside: int = 0  # categorical values in no bin: new labels when the ref has no "other"
    unseen: Counter[str] = field(default_factory=Counter)  # labels not named by the ref
    reservoirs: list[Reservoir] = field(default_factory=list)  # numeric only

    @property
    def present(self) -> int:
        """Live values with a value (in a bin, or outside every bin)."""
        return int(self.bins.sum()) + self.outside

    def merge(self, other: FeatureCounts) -> None:
        """Add another slice's counts of the same feature (same bins) into these."""
        self.bins = self.bins + other.bins
        self.missing += other.missing
        self.outside += other.outside
        if other.unseen:
            self.unseen.update(other.unseen)
        self.reservoirs.extend(other.reservoirs)

    def sample(self) -> WeightedSample:
        """The reservoirs' values with their weights (empty for categorical features)."""
        kept = [r for r in self.reservoirs if r.values.size]
        if not kept:
            return WeightedSample(np.zeros(0), np.zeros(0))
        values = np.concatenate([r.values for r in kept])
        weights = np.concatenate([np.full(r.values.size, r.seen / r.values.size) for r in kept])
        return WeightedSample(values, weights)


def empty_counts(profile: FeatureProfile) -> FeatureCounts:
    """Zero counts in a feature's bins (or categories)."""
    return FeatureCounts(np.zeros(profile.n_bins, dtype=np.int64))


def count_batch(
    reference: Reference,
    batch: FeatureBatch,
    reservoir_size: int,
    rng: np.random.Generator,
    into: dict[str, FeatureCounts] | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, FeatureCounts]:
    """Count a batch's rows into the reference's bins, feature by feature (vectorised).

    A reference feature absent from the batch is missing in all of its rows. A numeric
    feature's labels (strings) are missing; a categorical feature's numbers are read as labels
    the way the reference read them (:func:`~aimon.drift.bins.number_label`).

    With ``into`` (the counts of a slice being filled), the batch is added to those counts and
    its numbers offered to their one reservoir per feature, so a slice's memory stays bounded
    however many batches it takes. ``names`` limits the count to some features.
    """
    out = {} if into is None else into
    for name in reference.features if names is None else names:
        profile = reference.features[name]
        counts = out.get(name)
        if counts is None:
            counts = out[name] = empty_counts(profile)
        column = batch.columns.get(name)
        if column is None:
            counts.missing += batch.n_rows
        elif profile.kind == "numeric":
            _count_numeric(profile, column, counts, reservoir_size, rng)
        else:
            _count_categorical(profile, column, counts)
    return out


def _count_numeric(
    profile: FeatureProfile,
    column: FeatureColumn,
    counts: FeatureCounts,
    reservoir_size: int,
    rng: np.random.Generator,
) -> None:
    finite = np.isfinite(column.values)
    values = column.values[finite]
    counts.missing += int(column.values.size - values.size)
    edges = np.asarray(profile.edges, dtype=np.float64)
    counts.bins = counts.bins + np.bincount(bin_index(edges, values), minlength=profile.n_bins)
    if not counts.reservoirs:
        counts.reservoirs.append(Reservoir(reservoir_size))
    counts.reservoirs[-1].add_many(values, rng)


def _count_categorical(
    profile: FeatureProfile, column: FeatureColumn, counts: FeatureCounts
) -> None:
    labels = labels_of(column)
    present = labels[labels != None]  # noqa: E711 - element-wise
    counts.missing += int(labels.size - present.size)
    if present.size == 0:
        return
    categories = list(profile.categories)
    index = {label: i for i, label in enumerate(categories)}
    other = index.get(OTHER)
    seen, tally = np.unique(present.astype(str), return_counts=True)
    for label, n in zip(seen.tolist(), tally.tolist(), strict=True):
        i = index.get(label)
        if i is not None and label != OTHER:
            counts.bins[i] += n
            continue
        # A label the reference does not name lands in its "other" bin when it has one (the
        # reference may have seen it beyond its top K), else outside every bin; either way it
        # is remembered by name as unseen, for at most MAX_UNSEEN names.
        if other is not None:
            counts.bins[other] += n
        else:
            counts.outside += n
        if len(counts.unseen) < MAX_UNSEEN or label in counts.unseen:
            counts.unseen[label] += n
        else:
            counts.unseen[OTHER] += n
