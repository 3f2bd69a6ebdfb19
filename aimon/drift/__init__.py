"""Drift: reference profiles, the statistics that compare live features with them, and the
batch comparison of two data sets, whole or per segment."""

from aimon.drift.compare import ColumnDrift, DriftReport, compare
from aimon.drift.reference import FeatureProfile, Reference, ReferenceError
from aimon.drift.segmented import SegmentDrift, SegmentedReport, compare_segments
from aimon.drift.stats import (
    DriftResult,
    chi_square,
    hellinger,
    jensen_shannon,
    ks,
    psi,
    wasserstein,
    z_test,
)

__all__ = [
    "ColumnDrift",
    "DriftReport",
    "DriftResult",
    "FeatureProfile",
    "Reference",
    "ReferenceError",
    "SegmentDrift",
    "SegmentedReport",
    "chi_square",
    "compare",
    "compare_segments",
    "hellinger",
    "jensen_shannon",
    "ks",
    "psi",
    "wasserstein",
    "z_test",
]
