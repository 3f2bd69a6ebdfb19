"""Drift: reference profiles, the statistics that compare live features with them, and the
batch comparison of two data sets."""

from aimon.drift.compare import ColumnDrift, DriftReport, compare
from aimon.drift.reference import FeatureProfile, Reference, ReferenceError
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
    "chi_square",
    "compare",
    "hellinger",
    "jensen_shannon",
    "ks",
    "psi",
    "wasserstein",
    "z_test",
]
