"""Feature profiles: what one feature of the reference looked like (its kind, bins and their
shares or its categories, summary statistics, a sorted sample), how a profiled column becomes
one, and the checks a loaded profile passes."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from aimon.drift.bins import bin_index, interval_labels, labels_of, quantile_edges
from aimon.drift.methods import Kind
from aimon.errors import ReferenceError
from aimon.features import FeatureColumn

__all__ = ["OTHER", "FeatureProfile", "bounded_profiles", "check_profile", "profile_column"]

#: The category that collects every label beyond the reference's top K.
OTHER = "__other__"


class FeatureProfile(BaseModel):
    """One feature of the reference.

    Numeric features have ``edges`` (inner bin edges) and ``shares`` (``len(edges) + 1``
    bin shares summing to 1), summary statistics and a sorted ``sample``. Categorical features
    have ``categories`` (label -> share, top K by count, plus :data:`OTHER` for the rest) and
    ``counts`` (label -> count, for the chi-square test). ``lower`` and ``upper`` are a
    numeric feature's explicit valid range (data quality), when one was given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["numeric", "categorical"]
    count: int = Field(ge=0, description="rows with a value")
    missing: int = Field(ge=0, description="rows without one")
    edges: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    sample: tuple[float, ...] = ()
    categories: dict[str, float] = {}
    counts: dict[str, int] = {}
    lower: float | None = None
    upper: float | None = None

    @property
    def missing_share(self) -> float:
        """Share of reference rows without a value."""
        total = self.count + self.missing
        return self.missing / total if total else 0.0

    @property
    def n_bins(self) -> int:
        """Bins (numeric) or categories including ``other`` (categorical)."""
        return len(self.shares) if self.kind == "numeric" else len(self.categories)

    def bin_labels(self) -> list[str]:
        """A stable label per bin, for metrics: ``"[-inf,1.5)"``, ... or the category."""
        if self.kind == "categorical":
            return list(self.categories)
        return list(_interval_labels(self.edges))

    def sample_array(self) -> NDArray[np.float64]:
        """The sorted sample as a numpy array."""
        return np.asarray(self.sample, dtype=np.float64)


def check_profile(source: str, name: str, feature: FeatureProfile) -> None:
    where = f"{source}: feature {name!r}"
    if feature.kind == "numeric":
        if list(feature.edges) != sorted(set(feature.edges)):
            raise ReferenceError(f"{where}: edges must be strictly increasing")
        if len(feature.shares) != len(feature.edges) + 1:
            raise ReferenceError(f"{where}: needs one share per bin (len(edges) + 1)")
        if list(feature.sample) != sorted(feature.sample):
            raise ReferenceError(f"{where}: the sample must be sorted")
    elif not feature.categories and feature.count:
        raise ReferenceError(f"{where}: a categorical feature needs its categories")


def bounded_profiles(
    features: dict[str, FeatureProfile], bounds: Mapping[str, tuple[float | None, float | None]]
) -> dict[str, FeatureProfile]:
    """The profiles of the ``bounds`` columns with their explicit valid range."""
    out = {}
    for name, (lower, upper) in bounds.items():
        profile = features.get(name)
        if profile is None:
            raise ReferenceError(f"bounds: no column named {name!r}")
        if profile.kind != "numeric":
            raise ReferenceError(f"bounds: {name!r} is categorical; bounds are for numbers")
        if lower is not None and upper is not None and not lower <= upper:
            raise ReferenceError(f"bounds: {name!r} has lower {lower} above upper {upper}")
        out[name] = profile.model_copy(update={"lower": lower, "upper": upper})
    return out


def profile_column(
    column: FeatureColumn,
    kind: Kind | None,
    as_category: bool,
    bins: int,
    sample_size: int,
    top_k: int,
    rng: np.random.Generator,
) -> FeatureProfile:
    present = column.present_mask()
    n_labels = int(column.label_mask().sum())
    n_present = int(present.sum())
    missing = column.values.size - n_present
    # The kind compare gives the column (one rule, methods.column_kind); where it has none,
    # a column of numbers is numeric and one that holds mostly labels categorical (its
    # numbers then count as labels too).
    if kind is None:
        kind = "categorical" if n_labels * 2 > n_present else "numeric"
    if as_category or kind == "categorical":
        return _categorical_profile(column, missing, top_k)
    values = column.values[np.isfinite(column.values)]
    edges = quantile_edges(values, bins)
    counts = np.bincount(bin_index(edges, values), minlength=edges.size + 1)
    shares = counts / values.size if values.size else np.zeros(edges.size + 1)
    sample = values if values.size <= sample_size else rng.choice(values, sample_size, False)
    return FeatureProfile(
        kind="numeric",
        count=int(values.size),
        missing=int(column.values.size - values.size),
        edges=tuple(edges.tolist()),
        shares=tuple(shares.tolist()),
        mean=float(values.mean()) if values.size else None,
        std=float(values.std(ddof=1)) if values.size > 1 else None,
        min=float(values.min()) if values.size else None,
        max=float(values.max()) if values.size else None,
        sample=tuple(np.sort(sample).tolist()),
    )


def _categorical_profile(column: FeatureColumn, missing: int, top_k: int) -> FeatureProfile:
    labels = labels_of(column)
    present = labels[labels != None]  # noqa: E711 - element-wise
    counts = pd.Series(present, dtype=object).value_counts(sort=True)
    kept = counts.iloc[:top_k]
    rest = int(counts.iloc[top_k:].sum())
    total = int(counts.sum())
    categories = {str(k): int(v) / total for k, v in kept.items()}
    category_counts = {str(k): int(v) for k, v in kept.items()}
    if rest:
        categories[OTHER] = rest / total
        category_counts[OTHER] = rest
    return FeatureProfile(
        kind="categorical",
        count=total,
        missing=missing,
        categories=categories,
        counts=category_counts,
    )


@functools.lru_cache(maxsize=4096)
def _interval_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    # Read at every snapshot for every feature (of every segment): formatted once per profile.
    return tuple(interval_labels(edges))
