"""Segments: the rolling window, drift and data quality kept per value of a feature
(``Monitor(segments=["country"])``), with a cap on the values kept apart per column."""

from aimon.drift.segment_labels import MISSING, MIXED, OTHER
from aimon.segments.live import LiveSegments

__all__ = ["MISSING", "MIXED", "OTHER", "LiveSegments"]
