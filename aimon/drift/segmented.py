"""Batch drift per segment: the rows of each value of a segment column compared on their own,
the way Evidently's ``GroupBy`` and whylogs' segmented profiles split a data set.

Each segment is one :func:`~aimon.drift.compare.compare` of its rows: against the same
value's reference rows when the reference is data holding the segment column, against the
whole reference when it is a saved :class:`~aimon.drift.reference.Reference` (a profile keeps
no segments). The segment column itself is not compared as a feature.

>>> import pandas as pd
>>> ref = pd.DataFrame({"plan": ["a", "b"] * 50, "age": list(range(50)) * 2})
>>> cur = ref.assign(age=[a + 40 * (p == "b") for p, a in zip(ref.plan, ref.age)])
>>> report = compare_segments(ref, cur, "plan", methods=["ks"])
>>> report.drifted_segments, report["b"].drifted_columns, report["a"].drifted_columns
(['b'], ['age'], [])
>>> report["b"].n_reference, report["b"].n_current
(50, 50)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aimon.drift.compare import DRIFT_SHARE, DriftReport, compare
from aimon.drift.data_quality import QualityLimits
from aimon.drift.reference import OTHER, Reference
from aimon.drift.samples import Bins
from aimon.drift.segment_labels import MISSING, top_values, value_label
from aimon.drift.tables import as_frame

__all__ = [
    "MAX_SEGMENTS",
    "MISSING",
    "OTHER",
    "SegmentDrift",
    "SegmentedReport",
    "compare_segments",
    "segment_labels",
]

#: Segments compared at most by default; values beyond the most frequent are pooled.
MAX_SEGMENTS = 20


#: What each segment is compared against: the same value's reference rows, or the whole
#: reference (a saved profile).
Against = Literal["segment", "reference"]


@dataclass(frozen=True, slots=True)
class SegmentDrift:
    """One segment's comparison: its rows on both sides and what
    :func:`~aimon.drift.compare.compare` found, or ``report`` None and ``reason`` when the
    segment got no verdict. ``n_reference`` counts the reference rows it was compared with
    (every reference row when the reference is a profile)."""

    value: str
    n_reference: int
    n_current: int
    report: DriftReport | None
    reason: str = ""

    @property
    def drifted_columns(self) -> list[str]:
        """Columns in which some method found drift (none without a verdict)."""
        return [] if self.report is None else self.report.drifted_columns

    @property
    def drifted(self) -> bool:
        """Some column of the segment drifted."""
        return bool(self.drifted_columns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the row counts and the segment's report (None without a
        verdict, with the reason)."""
        return {
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "reason": self.reason or None,
            "report": None if self.report is None else self.report.to_dict(),
        }


@dataclass(frozen=True)
class SegmentedReport(Mapping[str, SegmentDrift]):
    """Per value of the segment column, its :class:`SegmentDrift`: ``report[value]``.

    Segments come in order of current rows, most first; values beyond ``max_segments`` are
    pooled in :data:`OTHER` (``pooled`` counts them), rows without a value form
    :data:`MISSING`. ``against`` says what each segment was compared with: ``"segment"``,
    the same value's reference rows; ``"reference"``, the whole reference (a profile).
    ``reference_only`` names the values of reference rows that no current row has.
    """

    column: str
    segments: dict[str, SegmentDrift]
    against: Against
    pooled: int = 0
    reference_only: tuple[str, ...] = ()
    max_segments: int = MAX_SEGMENTS
    min_rows: int = 1

    def __getitem__(self, value: str) -> SegmentDrift:
        return self.segments[value]

    def __iter__(self) -> Iterator[str]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def drifted_segments(self) -> list[str]:
        """Segments in which some column drifted."""
        return [value for value, segment in self.segments.items() if segment.drifted]

    @property
    def dataset_drift_segments(self) -> list[str]:
        """Segments whose report finds dataset drift (``drift_share`` of their columns)."""
        return [
            value
            for value, segment in self.segments.items()
            if segment.report is not None and segment.report.dataset_drift
        ]

    @property
    def quality_failures(self) -> dict[str, dict[str, list[str]]]:
        """Per segment with a failing data-quality check, its failing columns and checks."""
        failures = {
            value: segment.report.quality_failures
            for value, segment in self.segments.items()
            if segment.report is not None
        }
        return {value: failed for value, failed in failures.items() if failed}

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: its rows, verdict (None without one) and drifted columns."""
        rows = [
            {
                "segment": value,
                "n_reference": segment.n_reference,
                "n_current": segment.n_current,
                "drifted": None if segment.report is None else segment.drifted,
                "drifted_columns": segment.drifted_columns,
                "reason": segment.reason or None,
            }
            for value, segment in self.segments.items()
        ]
        columns = ["segment", "n_reference", "n_current", "drifted", "drifted_columns", "reason"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the settings, the verdicts and every segment's report."""
        return {
            "segment_column": self.column,
            "against": self.against,
            "max_segments": self.max_segments,
            "min_rows": self.min_rows,
            "pooled": self.pooled,
            "reference_only": list(self.reference_only),
            "drifted_segments": self.drifted_segments,
            "segments": {value: segment.to_dict() for value, segment in self.segments.items()},
        }


def compare_segments(
    reference: pd.DataFrame | Reference | Mapping[str, Sequence[Any]],
    current: pd.DataFrame | Mapping[str, Sequence[Any]],
    segment: str,
    methods: str | Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    *,
    max_segments: int = MAX_SEGMENTS,
    min_rows: int = 1,
    bins: Bins = 10,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = DRIFT_SHARE,
    limits: QualityLimits | None = None,
) -> SegmentedReport:
    """Compare ``current`` with ``reference`` per value of the column ``segment``.

    Args:
        reference: the reference rows (holding ``segment``: each value's current rows are
            compared with the same value's), or a saved profile: with profiles per value of
            ``segment`` (``Reference.from_frame(..., segments=[segment])``) each value's
            rows are compared with its value's profile (values it has none of, with its
            ``__other__``), else each segment's rows with the whole reference.
        current: the rows to check.
        segment: the column whose values split the rows; not compared as a feature.
        methods, columns, bins, thresholds, drift_share, limits: as
            :func:`~aimon.drift.compare.compare` takes them, for every segment.
        max_segments: the most frequent values in ``current`` compared on their own; the
            rest are pooled in one segment, :data:`OTHER`.
        min_rows: a segment with fewer rows on either side gets no verdict. The default, 1,
            is ``compare``'s own floor: it gives a verdict on any values. Raise it when
            small segments face a large reference: the distance methods chosen above 1,000
            reference rows (normed Wasserstein, Jensen-Shannon) swing by chance on a few
            dozen rows.

    Raises:
        ValueError: ``segment`` missing from the current data or from reference data,
            ``max_segments`` or ``min_rows`` below 1, or what ``compare`` raises.
    """
    if max_segments < 1:
        raise ValueError(f"max_segments: must be at least 1, got {max_segments}")
    if min_rows < 1:
        raise ValueError(f"min_rows: must be at least 1, got {min_rows}")
    frame = as_frame(current)
    frame = frame.set_axis(list(map(str, frame.columns)), axis=1)
    if segment not in frame.columns:
        raise ValueError(f"segment: {segment!r} is not a column of the current data")
    wanted = None if columns is None else [name for name in columns if name != segment]
    options: dict[str, Any] = {
        "methods": methods, "columns": wanted, "bins": bins, "thresholds": thresholds,
        "drift_share": drift_share, "limits": limits,
    }  # fmt: skip
    labels = segment_labels(frame[segment])
    kept, pooled = top_values(labels, max_segments)
    features = frame.drop(columns=[segment])
    if isinstance(reference, Reference) and segment in reference.segments:
        profiles = reference.segments[segment]
        found = {
            value: _against_segment_profile(
                profiles.get(value) or profiles.get(OTHER), features[rows], value, min_rows,
                options,
            )
            for value, rows in _masks(labels, kept, pooled)
        }  # fmt: skip
        only = tuple(sorted(set(profiles) - set(np.unique(labels).tolist()) - {OTHER}))
        return SegmentedReport(segment, found, "segment", len(pooled), only, max_segments, min_rows)
    if isinstance(reference, Reference):
        found = {
            value: _against_profile(reference, features[rows], segment, value, min_rows, options)
            for value, rows in _masks(labels, kept, pooled)
        }
        return SegmentedReport(segment, found, "reference", len(pooled), (), max_segments, min_rows)
    ref_frame = as_frame(reference)
    ref_frame = ref_frame.set_axis(list(map(str, ref_frame.columns)), axis=1)
    if segment not in ref_frame.columns:
        raise ValueError(
            f"segment: {segment!r} is not a column of the reference data; give the reference "
            "rows with their segment column, or a profile to compare every segment with it all"
        )
    ref_labels = segment_labels(ref_frame[segment])
    ref_features = ref_frame.drop(columns=[segment])
    ref_masks = dict(_masks(ref_labels, kept, pooled))
    found = {}
    for value, rows in _masks(labels, kept, pooled):
        ref_rows = ref_masks[value]
        found[value] = _against_rows(
            ref_features[ref_rows], features[rows], value, min_rows, options
        )
    seen = set(np.unique(labels).tolist())
    only = tuple(sorted(set(np.unique(ref_labels).tolist()) - seen))
    return SegmentedReport(segment, found, "segment", len(pooled), only, max_segments, min_rows)


def segment_labels(column: pd.Series) -> NDArray[np.str_]:
    """Each row's segment as text, by the live segments' rules so that a value has one label
    in batch and live: whole numbers without a fraction (a CSV column with a gap reads its
    integers as floats), other numbers in their shortest form, bools as ``1`` and ``0``,
    missing values and empty text as :data:`MISSING`.

    >>> segment_labels(pd.Series([3, 3.0, 0.5, None, True, "DE", ""], dtype=object)).tolist()
    ['3', '3', '0.5', '__missing__', '1', 'DE', '__missing__']
    """
    codes, values = pd.factorize(column, use_na_sentinel=True)  # missing: code -1
    labels = [_label(value) for value in values.tolist()]
    return np.array([*labels, MISSING], dtype=str)[codes]


def _label(value: Any) -> str:
    """A value's label as the live segments give it (:func:`value_label`); a value of another
    type (a date) by its text, which a live input gives none."""
    label = value_label(value)
    if label == MISSING and value is not None and value is not pd.NA and value is not pd.NaT:
        text = str(value)
        if not (isinstance(value, float | np.floating) and not np.isfinite(value)):
            return value_label(text)
    return label


def _masks(
    labels: NDArray[np.str_], kept: list[str], pooled: list[str]
) -> Iterator[tuple[str, NDArray[np.bool_]]]:
    """Each kept value's rows, then the pooled values' rows together as :data:`OTHER`."""
    for value in kept:
        yield value, labels == value
    if pooled:
        yield OTHER, np.isin(labels, pooled)


def _against_rows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    value: str,
    min_rows: int,
    options: dict[str, Any],
) -> SegmentDrift:
    n_reference, n_current = len(reference), len(current)
    if n_reference == 0:
        return SegmentDrift(value, 0, n_current, None, "no reference rows with this value")
    if min(n_reference, n_current) < min_rows:
        return SegmentDrift(value, n_reference, n_current, None, _too_few(min_rows))
    return SegmentDrift(value, n_reference, n_current, compare(reference, current, **options))


def _against_segment_profile(
    profile: Reference | None,
    current: pd.DataFrame,
    value: str,
    min_rows: int,
    options: dict[str, Any],
) -> SegmentDrift:
    if profile is None:
        return SegmentDrift(value, 0, len(current), None, "no reference profile for this value")
    if len(current) < min_rows:
        return SegmentDrift(value, profile.rows, len(current), None, _too_few(min_rows))
    return SegmentDrift(value, profile.rows, len(current), compare(profile, current, **options))


def _against_profile(
    reference: Reference,
    current: pd.DataFrame,
    segment: str,
    value: str,
    min_rows: int,
    options: dict[str, Any],
) -> SegmentDrift:
    if len(current) < min_rows:
        return SegmentDrift(value, reference.rows, len(current), None, _too_few(min_rows))
    report = compare(reference, current, **options)
    # A profile may hold the segment column as a feature: it is absent from the rows on
    # purpose, neither skipped nor a missing column.
    report = replace(
        report,
        skipped={k: v for k, v in report.skipped.items() if k != segment},
        data_quality={k: v for k, v in report.data_quality.items() if k != segment},
    )
    return SegmentDrift(value, reference.rows, len(current), report)


def _too_few(min_rows: int) -> str:
    return f"fewer than {min_rows} rows on a side (min_rows)"
