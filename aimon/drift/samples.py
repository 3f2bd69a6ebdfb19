"""Samples and bins for the drift statistics: turn user data into clean numbers or labels,
and two samples into aligned counts per bin or category.

A sample is numeric (float64, NaN/None/inf dropped and counted) or categorical (labels as
strings, None/NaN dropped and counted). Bools are numbers (1/0), as everywhere in aimon.
Numeric bins are half-open ``[e_i, e_i+1)`` like ``numpy.histogram`` with the outer bins open
to -inf and +inf, so every value lands in a bin: ``k`` inner edges make ``k + 1`` bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.drift.bins import bin_index, interval_labels, number_label, quantile_edges

__all__ = [
    "Bins",
    "LabelTally",
    "PairedCounts",
    "Sample",
    "as_sample",
    "binned_counts",
    "category_counts",
    "fill_empty",
    "label_tally",
    "paired_counts",
]

#: How numeric values are binned: a number of reference-quantile bins, explicit inner edges,
#: or ``"evidently"`` to reproduce Evidently's binning (see :func:`binned_counts`).
Bins: TypeAlias = int | Sequence[float] | NDArray[np.float64] | Literal["evidently"]

NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "boolean", "decimal"}
# Evidently bins a numeric column by value when the reference has this many distinct values
# or fewer, and with Sturges' histogram above it (evidently.legacy...stattests.utils).
_EVIDENTLY_MAX_DISCRETE = 20


@dataclass(frozen=True, slots=True)
class Sample:
    """One side of a comparison: numeric ``values`` (float64, all finite) or categorical
    ``labels`` (strings), never both; ``missing`` counts what was dropped."""

    values: NDArray[np.float64] | None
    labels: NDArray[np.object_] | None
    missing: int
    is_sorted: bool = False

    @property
    def size(self) -> int:
        """Values or labels kept."""
        kept = self.values if self.values is not None else self.labels
        assert kept is not None
        return int(kept.size)

    @property
    def numeric(self) -> bool:
        """True when the sample holds numbers."""
        return self.values is not None

    def sorted_values(self) -> NDArray[np.float64]:
        """The numbers in ascending order (sorted once, then reused)."""
        assert self.values is not None, "a categorical sample has no numeric values"
        return self.values if self.is_sorted else np.sort(self.values)


def as_sample(data: Any, *, categorical: bool = False, is_sorted: bool = False) -> Sample:
    """Read a numpy array, pandas Series, list or tuple as a :class:`Sample`.

    Numbers (ints, floats, bools, datetimes as nanoseconds) make a numeric sample unless
    ``categorical``; anything else is read as labels. Pass ``is_sorted=True`` for numbers
    already in ascending order with nothing missing (a Reference's sample), to skip a sort.

    >>> s = as_sample([3.0, None, float("nan"), 1.0, float("inf")])
    >>> s.values.tolist(), s.missing
    ([3.0, 1.0], 3)
    >>> as_sample(["a", None, "b"]).labels.tolist()
    ['a', 'b']
    """
    if isinstance(data, Sample):
        return data
    if isinstance(data, pd.DataFrame):
        raise TypeError("a drift statistic compares one column: pass a Series, not a DataFrame")
    array = _as_array(data)
    if array.ndim != 1:
        array = array.reshape(-1)
    numbers = _as_numbers(array)
    if numbers is not None and not categorical:
        finite = np.isfinite(numbers)
        if finite.all():
            return Sample(numbers, None, 0, is_sorted)
        return Sample(numbers[finite], None, int(numbers.size - finite.sum()), is_sorted)
    if numbers is not None:
        finite = numbers[np.isfinite(numbers)]
        labels = np.array([number_label(v) for v in finite.tolist()], dtype=object)
        return Sample(None, labels, int(numbers.size - finite.size))
    present = array[~pd.isna(array)]
    if pd.api.types.infer_dtype(present, skipna=False) == "string":
        labels = present.astype(object, copy=False)
    else:
        labels = pd.Series(present, dtype=object).astype(str).to_numpy(dtype=object)
    return Sample(None, labels, int(array.size - labels.size))


def _as_array(data: Any) -> NDArray[Any]:
    if isinstance(data, pd.Series | pd.Index):
        dtype = data.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return data.astype(object).to_numpy()
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            return data.to_numpy(dtype=np.float64, na_value=np.nan)
        return data.to_numpy()
    if isinstance(data, np.ndarray):
        return data
    return np.asarray(list(data) if not isinstance(data, list | tuple) else data, dtype=object)


def _as_numbers(array: NDArray[Any]) -> NDArray[np.float64] | None:
    kind = array.dtype.kind
    if kind in "biuf":
        return array.astype(np.float64, copy=False)
    if kind in "mM":
        as_int = array.view(np.int64).astype(np.float64)
        as_int[np.isnat(array)] = np.nan
        return as_int
    if kind != "O" or array.size == 0:
        return None
    if pd.api.types.infer_dtype(array, skipna=True) not in NUMERIC_INFERRED:
        return None
    try:
        return pd.to_numeric(pd.Series(array, dtype=object)).to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    except (TypeError, ValueError):
        return None


def fill_empty(shares: NDArray[np.float64]) -> NDArray[np.float64]:
    """Replace empty shares the way Evidently does, so a logarithm never sees zero: by the
    smallest non-zero share / 1e6 when that share is at most 1e-4, else by 1e-4.

    >>> fill_empty(np.array([0.5, 0.5, 0.0])).tolist()
    [0.5, 0.5, 0.0001]
    """
    empty = shares == 0
    if not empty.any() or empty.all():
        return shares
    smallest = float(shares[~empty].min())
    filled = shares.copy()
    filled[empty] = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return filled


@dataclass(frozen=True, slots=True)
class LabelTally:
    """The distinct labels of a categorical column (as strings), how often each occurs, and
    how many values were missing."""

    labels: list[str]
    counts: NDArray[np.int64]
    missing: int

    @property
    def size(self) -> int:
        """Labels counted (missing ones excluded)."""
        return int(self.counts.sum())


def label_tally(data: Sample | pd.Series) -> LabelTally:
    """Count a sample's labels, or a non-numeric column's values read as labels, by one hash
    pass (``pandas.factorize``); only the distinct values are turned into strings.

    >>> t = label_tally(pd.Series(["b", "a", None, "b"]))
    >>> t.labels, t.counts.tolist(), t.missing
    (['b', 'a'], [2, 1], 1)
    """
    if isinstance(data, Sample):
        kept: Any = data.labels if data.labels is not None else data.values
        missing = data.missing
    else:
        kept, missing = data, 0
    codes, uniques = pd.factorize(kept, use_na_sentinel=True)
    present = codes >= 0
    counts = np.bincount(codes[present], minlength=len(uniques)).astype(np.int64)
    if isinstance(data, Sample) and data.values is not None:
        labels = [number_label(v) for v in np.asarray(uniques, dtype=np.float64).tolist()]
    else:
        labels = [str(v) for v in np.asarray(uniques, dtype=object).tolist()]
    if len(set(labels)) < len(labels):  # distinct values with one label, e.g. 1 and "1"
        merged = pd.Series(counts, index=labels).groupby(level=0, sort=False).sum()
        labels, counts = [str(k) for k in merged.index], merged.to_numpy(dtype=np.int64)
    return LabelTally(labels, counts, missing + int(codes.size - present.sum()))


def category_counts(
    reference: Sample | LabelTally, current: Sample | LabelTally
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int64]]:
    """Counts of each label in the union of both sides' labels (sorted)."""
    ref = reference if isinstance(reference, LabelTally) else label_tally(reference)
    cur = current if isinstance(current, LabelTally) else label_tally(current)
    union = sorted(set(ref.labels) | set(cur.labels))
    position = {label: i for i, label in enumerate(union)}
    ref_counts = np.zeros(len(union), dtype=np.int64)
    cur_counts = np.zeros(len(union), dtype=np.int64)
    ref_counts[[position[label] for label in ref.labels]] = ref.counts
    cur_counts[[position[label] for label in cur.labels]] = cur.counts
    return union, ref_counts, cur_counts


def binned_counts(
    reference: Sample, current: Sample, bins: Bins = 10
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Both samples counted in the same bins (numeric) or categories (either is labels).

    ``bins`` may be a number of quantile bins of the reference (fewer when it repeats
    values), explicit inner edges, or ``"evidently"``: Evidently's binning (a reference with
    more than 20 distinct values: Sturges' histogram over both samples, ``numpy.histogram``'s
    closed last bin; fewer: one bin per value), so that PSI and Jensen-Shannon equal its own.
    """
    if reference.values is None or current.values is None:
        return category_counts(reference, current)[1:]
    _, ref_counts, cur_counts = _numeric_bins(reference, current, bins)
    return ref_counts, cur_counts


@dataclass(frozen=True, slots=True)
class PairedCounts:
    """The reference's and the current side's counts in the same bins or categories, with a
    label per bin: what a chart of the two distributions draws (:func:`binned_counts` gives
    the same counts without labels, for the statistics).

    ``edges`` bound the numeric bins (``len(labels) + 1`` of them, the outer ones infinite
    for open outer bins); None when each bin is a category or a single value.
    """

    labels: tuple[str, ...]
    reference: NDArray[np.float64]
    current: NDArray[np.float64]
    edges: NDArray[np.float64] | None = None

    def shares(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each side's counts as shares of its total (zeros for an empty side)."""
        return _shares(self.reference), _shares(self.current)


def _shares(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    total = float(counts.sum())
    return counts / total if total > 0 else np.zeros_like(counts)


def paired_counts(
    reference: Sample | LabelTally, current: Sample | LabelTally, bins: Bins = 10
) -> PairedCounts:
    """Both sides in the bins :func:`binned_counts` uses (the same ``bins``), labelled:
    numeric bins as ``"[lo,hi)"`` (see :func:`~aimon.drift.bins.interval_labels`),
    categories by their label.

    >>> h = paired_counts(as_sample([1.0, 2.0, 3.0, 4.0]), as_sample([3.0, 4.0]), bins=2)
    >>> h.labels, h.reference.tolist(), h.current.tolist()
    (('[-inf,2.5)', '[2.5,+inf)'), [2.0, 2.0], [0.0, 2.0])
    >>> paired_counts(as_sample(["a", "b"]), as_sample(["b", "c"])).labels
    ('a', 'b', 'c')
    """
    if (
        isinstance(reference, LabelTally)
        or isinstance(current, LabelTally)
        or reference.values is None
        or current.values is None
    ):
        labels, ref_counts, cur_counts = category_counts(reference, current)
        return PairedCounts(
            tuple(labels), ref_counts.astype(np.float64), cur_counts.astype(np.float64)
        )
    points, ref_counts, cur_counts = _numeric_bins(reference, current, bins)
    if points.kind == "values":
        labels = [number_label(v) for v in points.at.tolist()]
        edges = None
    elif points.kind == "inner":
        labels = interval_labels(points.at.tolist())
        edges = np.concatenate([[-np.inf], points.at, [np.inf]])
    else:  # numpy.histogram's bins: the last one is closed
        labels = interval_labels(points.at.tolist(), open_ends=False)
        labels[-1] = labels[-1][:-1] + "]"
        edges = points.at
    return PairedCounts(
        tuple(labels), ref_counts.astype(np.float64), cur_counts.astype(np.float64), edges
    )


@dataclass(frozen=True, slots=True)
class _Points:
    """Where numeric bins are: ``inner`` edges (open outer bins), ``outer`` edges (bounding
    every bin, the last closed), or one bin per value ``at``."""

    kind: Literal["inner", "outer", "values"]
    at: NDArray[np.float64]


def _numeric_bins(
    reference: Sample, current: Sample, bins: Bins
) -> tuple[_Points, NDArray[np.int64], NDArray[np.int64]]:
    if isinstance(bins, str):
        if bins != "evidently":
            raise ValueError(f"bins: expected a number, edges or 'evidently', got {bins!r}")
        return _evidently_counts(reference, current)
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError(f"bins: must be at least 1, got {bins}")
        assert reference.values is not None
        edges = quantile_edges(reference.values, int(bins), is_sorted=reference.is_sorted)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
            raise ValueError("bins: explicit edges must be finite and strictly increasing")
    return _Points("inner", edges), _count_in(reference, edges), _count_in(current, edges)


def _count_in(sample: Sample, edges: NDArray[np.float64]) -> NDArray[np.int64]:
    assert sample.values is not None
    if sample.is_sorted:
        # Sorted values: each bin's count is a difference of two binary searches.
        below = np.searchsorted(sample.values, edges, side="left")
        return np.diff(np.concatenate([[0], below, [sample.values.size]])).astype(np.int64)
    return np.bincount(bin_index(edges, sample.values), minlength=edges.size + 1).astype(np.int64)


def _evidently_counts(
    reference: Sample, current: Sample
) -> tuple[_Points, NDArray[np.int64], NDArray[np.int64]]:
    assert reference.values is not None and current.values is not None
    if np.unique(reference.values).size > _EVIDENTLY_MAX_DISCRETE:
        edges = np.histogram_bin_edges(
            np.concatenate([reference.values, current.values]), bins="sturges"
        )
        return (
            _Points("outer", edges),
            np.histogram(reference.values, edges)[0].astype(np.int64),
            np.histogram(current.values, edges)[0].astype(np.int64),
        )
    union = np.union1d(reference.values, current.values)
    ref_counts = np.bincount(np.searchsorted(union, reference.values), minlength=union.size)
    cur_counts = np.bincount(np.searchsorted(union, current.values), minlength=union.size)
    return _Points("values", union), ref_counts.astype(np.int64), cur_counts.astype(np.int64)


def sturges_counts(
    reference: Sample, current: Sample
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Counts in Sturges' histogram bins over the distinct values of both samples, with
    ``numpy.histogram``'s closed last bin: Evidently's binning for the Hellinger distance."""
    assert reference.values is not None and current.values is not None
    edges = np.histogram_bin_edges(np.union1d(reference.values, current.values), bins="sturges")
    return (
        np.histogram(reference.values, edges)[0].astype(np.int64),
        np.histogram(current.values, edges)[0].astype(np.int64),
    )
