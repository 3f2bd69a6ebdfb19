"""How drift bins and labels values, the same for the reference and for live values.

Numeric bins are half-open ``[e_i, e_i+1)`` like ``numpy.histogram``, with the outer bins open
to -inf and +inf so that every live value lands in a bin: ``k`` inner edges make ``k + 1``
bins, and a value's bin is ``searchsorted(edges, value, side="right")``. A number read as a
category is written by :func:`number_label`, so ``3`` and ``3.0`` are one category.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from aimon.features import FeatureColumn

__all__ = ["bin_index", "interval_labels", "labels_of", "number_label", "quantile_edges"]


def quantile_edges(
    values: NDArray[np.float64], bins: int, *, is_sorted: bool = False
) -> NDArray[np.float64]:
    """Inner bin edges at the reference's quantiles ``1/bins .. (bins-1)/bins``; ties merge
    edges, so a feature with few distinct values gets fewer bins. ``is_sorted``: the values
    are finite and ascending (saves a sort).

    >>> quantile_edges(np.arange(100.0), 4).tolist()
    [24.75, 49.5, 74.25]
    >>> quantile_edges(np.array([0.0, 0.0, 1.0, 1.0]), 10).tolist()
    [0.0, 1.0]
    """
    finite = values if is_sorted else np.sort(values[np.isfinite(values)])
    if finite.size == 0 or bins < 2:
        return np.zeros(0)
    probabilities = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    edges = np.unique(np.quantile(finite, probabilities))
    # A discrete feature: make each distinct value start its own bin, up to ``bins`` of them.
    starts = np.flatnonzero(finite[1:] != finite[:-1])
    if starts.size < bins:
        edges = np.concatenate([finite[:1], finite[starts + 1]])
    return edges.astype(np.float64)


def bin_index(edges: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.int64]:
    """The bin of each (finite) value: 0 below the first edge, ``len(edges)`` at or above the
    last, ``i`` for ``edges[i-1] <= value < edges[i]``."""
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def number_label(value: float) -> str:
    """How a number is written as a category: integral values without a decimal point.

    >>> number_label(3.0), number_label(2.5), number_label(-0.0)
    ('3', '2.5', '0')
    """
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def interval_labels(edges: Sequence[float], *, open_ends: bool = True) -> list[str]:
    """A label per bin of half-open numeric bins ``[lo,hi)``: with ``open_ends``, ``edges``
    are inner edges and the outer bins reach -inf and +inf; else ``edges`` bound every bin.
    Six significant digits unless two edges would read the same; then in full.

    >>> interval_labels([1.5, 2.0])
    ['[-inf,1.5)', '[1.5,2)', '[2,+inf)']
    >>> interval_labels([0.0, 0.5, 1.0], open_ends=False)
    ['[0,0.5)', '[0.5,1)']
    """
    digits = 6 if len({_bound(e) for e in edges}) == len(edges) else None
    bounds = [-math.inf, *edges, math.inf] if open_ends else list(edges)
    return [f"[{_bound(lo, digits)},{_bound(hi, digits)})" for lo, hi in itertools.pairwise(bounds)]


def _bound(value: float, digits: int | None = 6) -> str:
    if math.isinf(value):
        return "-inf" if value < 0 else "+inf"
    return repr(value) if digits is None else f"{value:.{digits}g}"


def labels_of(column: FeatureColumn) -> NDArray[np.object_]:
    """Every present value of a column as a category label (numbers via :func:`number_label`);
    missing values are ``None``."""
    labels = np.full(column.values.size, None, dtype=object)
    numbers = np.isfinite(column.values)
    if numbers.any():
        labels[numbers] = [number_label(v) for v in column.values[numbers].tolist()]
    if column.labels is not None:
        has_label = column.label_mask()
        labels[has_label] = column.labels[has_label]
    return labels
