"""Data quality of features against a reference: values missing, out of the reference's
range, of the wrong type, categories the reference never saw, a feature absent from the
input, a column grown constant.

The counts (:class:`QualityCounts`) are mergeable by addition, so the live Monitor keeps one
per feature and time slice and a window is the merge of its slices; the batch comparison
(:func:`aimon.drift.compare`) counts a whole data set once. Both read values with
:mod:`aimon.features` and judge them with :func:`assess` and :class:`QualityLimits`, whose
defaults are the default rules of :mod:`aimon.thresholds`:

============================  ==================================================
check                         fails when (default)
============================  ==================================================
``missing_increase``          missing share more than 0.05 above the reference's
``out_of_range_share``        over 5 % of the values outside [min, max]
``type_violation_share``      over 1 % of the rows hold a label in a numeric feature
``unseen_share``              over 5 % of the labels are not the reference's
``absent``                    no input had the feature at all
``constant``                  one distinct value, unlikely under the reference
============================  ==================================================

The range is the reference's ``lower``/``upper`` when given (explicit bounds), else its
observed ``min``/``max``. Unseen labels are judged only when the reference named every
category it saw (no ``__other__``: a label beyond its top K cannot be told from a new one).
"Constant" needs more than one value in the reference and a chance below
:data:`CONSTANT_CHANCE` of drawing one value that many times from it (bounded by its largest
bin or category share), so a skewed binary feature is not called constant after a few rows.
Values out of the reference's observed ``min``/``max`` also need a chance below
:data:`OUT_OF_RANGE_CHANCE` (``out_of_range_pvalue``): with n reference values and m current
ones from one distribution, k of the current beyond the reference's extremes has a chance of
at most ``2 prod_{i<k/2} (m-i)/(n+m-i)`` (exchangeability; one side holds at least half of
them), so on a reference of 89 rows (scikit-learn's wine, halved) 5 % beyond its range is
chance, not a failure, while on 10,000 rows it is not.

>>> import pandas as pd
>>> from aimon.drift.reference import Reference
>>> from aimon.features import extract
>>> ref = Reference.from_frame(pd.DataFrame({"age": [20.5, 30.0, 41.5, 50.0]}),
...                            bounds={"age": (0.0, 90.0)})
>>> batch = extract(pd.DataFrame({"age": [25.0, 99.0, None, 33.0]}))
>>> q = assess(ref.features["age"], count_batch(ref, batch)["age"])
>>> q.missing_share, q.out_of_range_share, q.absent
(0.25, 0.3333333333333333, False)
>>> QualityLimits().failures(q)
['missing_increase', 'out_of_range_share']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aimon.drift.bins import labels_of
from aimon.drift.reference import OTHER, FeatureProfile, Reference
from aimon.features import FeatureBatch, FeatureColumn
from aimon.snapshot import FeatureQuality

__all__ = [
    "CHECKS",
    "CONSTANT_CHANCE",
    "MISSING_INCREASE",
    "OUT_OF_RANGE",
    "OUT_OF_RANGE_CHANCE",
    "TYPE_VIOLATIONS",
    "UNSEEN",
    "QualityCounts",
    "QualityLimits",
    "assess",
    "count_batch",
    "count_column",
    "describe_failure",
    "parse_numbers",
    "value_range",
]

#: Default limits (shares of rows or values); the default rules use the same numbers.
MISSING_INCREASE = 0.05
OUT_OF_RANGE = 0.05
TYPE_VIOLATIONS = 0.01
UNSEEN = 0.05
#: A column is called constant when one value repeated that often has a lower chance.
CONSTANT_CHANCE = 1e-6
#: Values out of the reference's observed range fail only when so many have a lower chance
#: under no change: a small reference's extremes are themselves a sample.
OUT_OF_RANGE_CHANCE = 1e-3
#: The checks, as named in :class:`~aimon.snapshot.FeatureQuality` and in rules.
CHECKS = (
    "missing_increase",
    "out_of_range_share",
    "type_violation_share",
    "unseen_share",
    "absent",
    "constant",
)
_DISTINCT_KEPT = 2  # labels remembered per feature: enough to tell one from several


@dataclass(slots=True)
class QualityCounts:
    """One feature's counts over some rows; ``merge`` adds another slice's."""

    rows: int = 0  # rows in which the feature was expected
    absent: int = 0  # of those, rows of inputs without the feature at all
    missing: int = 0  # rows without a value (absent, None, NaN, infinite)
    invalid: int = 0  # rows whose value is of the wrong type (a label in a numeric feature)
    values: int = 0  # valid values
    outside: int = 0  # numbers outside the range
    unseen: int = 0  # labels the reference does not name
    low: float = math.inf
    high: float = -math.inf
    labels: set[str] = field(default_factory=set)  # up to two distinct labels

    def merge(self, other: QualityCounts) -> None:
        """Add ``other``'s counts (same feature) into these."""
        self.rows += other.rows
        self.absent += other.absent
        self.missing += other.missing
        self.invalid += other.invalid
        self.values += other.values
        self.outside += other.outside
        self.unseen += other.unseen
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        if len(self.labels) < _DISTINCT_KEPT:
            self.labels.update(sorted(other.labels)[:_DISTINCT_KEPT])

    @property
    def distinct(self) -> int:
        """Distinct values seen, counted up to two."""
        if self.labels:
            return min(len(self.labels), _DISTINCT_KEPT)
        if not self.values:
            return 0
        return 1 if self.low == self.high else _DISTINCT_KEPT


def value_range(profile: FeatureProfile) -> tuple[float, float]:
    """The valid range of a numeric feature: explicit bounds, else the reference's extremes."""
    low = profile.lower if profile.lower is not None else profile.min
    high = profile.upper if profile.upper is not None else profile.max
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def count_column(
    profile: FeatureProfile, column: FeatureColumn | None, n_rows: int, into: QualityCounts
) -> None:
    """Count ``n_rows`` rows of one feature (``column`` None: the input did not have it)."""
    into.rows += n_rows
    if column is None:
        into.absent += n_rows
        into.missing += n_rows
        return
    if profile.kind == "numeric":
        finite = np.isfinite(column.values)
        n_labels = int(column.label_mask().sum())
        numbers = column.values[finite]
        into.invalid += n_labels
        into.missing += n_rows - numbers.size - n_labels
        into.values += numbers.size
        if numbers.size:
            low, high = value_range(profile)
            into.outside += int(np.count_nonzero((numbers < low) | (numbers > high)))
            into.low = min(into.low, float(numbers.min()))
            into.high = max(into.high, float(numbers.max()))
        return
    labels = labels_of(column)
    present = labels[labels != None].astype(str)  # noqa: E711 - element-wise
    into.missing += n_rows - present.size
    into.values += present.size
    if not present.size:
        return
    if OTHER not in profile.categories:
        into.unseen += int(np.count_nonzero(~np.isin(present, list(profile.categories))))
    if len(into.labels) < _DISTINCT_KEPT:
        into.labels.update(np.unique(present)[:_DISTINCT_KEPT].tolist())


def count_batch(
    reference: Reference,
    batch: FeatureBatch,
    into: dict[str, QualityCounts] | None = None,
    names: Mapping[str, FeatureProfile] | None = None,
) -> dict[str, QualityCounts]:
    """Count a batch's rows for every reference feature (or those of ``names``), into
    ``into`` when given."""
    out = {} if into is None else into
    for name, profile in (reference.features if names is None else names).items():
        counts = out.get(name)
        if counts is None:
            counts = out[name] = QualityCounts()
        count_column(profile, batch.columns.get(name), batch.n_rows, counts)
    return out


def parse_numbers(column: FeatureColumn) -> FeatureColumn:
    """A column read from text (a CSV's object column) with its labels that are numbers
    parsed: ``"12.5"`` is 12.5, ``"12,5"`` stays a label (a type violation)."""
    if column.labels is None:
        return column
    has_label = column.label_mask()
    parsed = pd.to_numeric(pd.Series(column.labels[has_label]), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    values = column.values.copy()
    labels = column.labels.copy()
    rows = np.flatnonzero(has_label)[~np.isnan(parsed)]
    values[rows] = parsed[~np.isnan(parsed)]
    labels[rows] = None
    return FeatureColumn(values, labels)


def assess(profile: FeatureProfile, counts: QualityCounts) -> FeatureQuality:
    """The data-quality numbers of one feature from its counts and reference profile."""
    rows = counts.rows
    absent = rows > 0 and counts.absent == rows
    missing_share = counts.missing / rows if rows else 0.0
    out_of_range = unseen = None
    pvalue = None
    if profile.kind == "numeric" and counts.values:
        out_of_range = counts.outside / counts.values
        pvalue = _outside_chance(profile, counts)
    if profile.kind == "categorical" and OTHER not in profile.categories and counts.values:
        unseen = counts.unseen / counts.values
    return FeatureQuality(
        kind=profile.kind,
        rows=rows,
        values=counts.values,
        missing_share=missing_share,
        reference_missing_share=profile.missing_share,
        missing_increase=None if absent else missing_share - profile.missing_share,
        type_violation_share=counts.invalid / rows if rows else 0.0,
        out_of_range_share=out_of_range,
        out_of_range_pvalue=pvalue,
        unseen_share=unseen,
        absent=absent,
        constant=_constant(profile, counts),
    )


def _outside_chance(profile: FeatureProfile, counts: QualityCounts) -> float:
    """An upper bound of the chance of ``counts.outside`` values beyond the reference's
    observed range with no change (0 against explicit bounds: they are not a sample)."""
    if profile.lower is not None or profile.upper is not None:
        return 0.0
    n, m, k = profile.count, counts.values, counts.outside
    half = math.ceil(k / 2)
    if half > m:
        return 0.0
    i = np.arange(half, dtype=np.float64)
    return float(min(1.0, 2.0 * np.exp(np.log((m - i) / (n + m - i)).sum())))


def _constant(profile: FeatureProfile, counts: QualityCounts) -> bool:
    if counts.distinct != 1:
        return False
    shares = profile.shares if profile.kind == "numeric" else tuple(profile.categories.values())
    several = (
        profile.min is not None and profile.max is not None and profile.min < profile.max
        if profile.kind == "numeric"
        else len(profile.categories) > 1
    )
    if not several or not shares:
        return False
    # The likeliest single value has at most the largest bin's (or category's) share.
    return max(shares) ** counts.values < CONSTANT_CHANCE


@dataclass(frozen=True, slots=True)
class QualityLimits:
    """When a data-quality check fails (see the module docstring for the defaults).

    >>> QualityLimits(out_of_range=0.2).out_of_range
    0.2
    """

    missing_increase: float = MISSING_INCREASE
    out_of_range: float = OUT_OF_RANGE
    type_violations: float = TYPE_VIOLATIONS
    unseen: float = UNSEEN

    def failures(self, quality: FeatureQuality) -> list[str]:
        """The checks ``quality`` fails, in the order of :data:`CHECKS`."""
        failed = {
            "missing_increase": _above(quality.missing_increase, self.missing_increase),
            "out_of_range_share": _above(quality.out_of_range_share, self.out_of_range)
            and (quality.out_of_range_pvalue or 0.0) < OUT_OF_RANGE_CHANCE,
            "type_violation_share": quality.type_violation_share > self.type_violations,
            "unseen_share": _above(quality.unseen_share, self.unseen),
            "absent": quality.absent,
            "constant": quality.constant,
        }
        return [check for check in CHECKS if failed[check]]


def _above(value: float | None, limit: float) -> bool:
    return value is not None and value > limit


def describe_failure(check: str, quality: FeatureQuality) -> str:
    """A failed check in words, with its numbers: ``"missing 100% (reference 0%)"``."""
    if check == "missing_increase":
        return (
            f"missing {quality.missing_share:.1%} (reference {quality.reference_missing_share:.1%})"
        )
    if check == "out_of_range_share":
        return f"out of range {quality.out_of_range_share or 0.0:.1%}"
    if check == "type_violation_share":
        return f"not a number {quality.type_violation_share:.1%}"
    if check == "unseen_share":
        return f"unseen categories {quality.unseen_share or 0.0:.1%}"
    if check == "absent":
        return "absent from the input"
    return "constant (one distinct value)"
