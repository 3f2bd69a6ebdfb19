"""Drift: reference profiles and the statistics that compare live features with them."""

from aimon.drift.reference import FeatureProfile, Reference, ReferenceError

__all__ = ["FeatureProfile", "Reference", "ReferenceError"]
