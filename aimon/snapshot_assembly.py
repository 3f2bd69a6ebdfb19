"""A Monitor's :class:`~aimon.snapshot.Snapshot`, assembled from its rooms: the window and
totals (:mod:`aimon.aggregates`), the drop counts, live drift, quality and estimated quality,
the segments, the alerting's state and the calls still in flight.
"""

from __future__ import annotations

import time
from typing import Any

from aimon.aggregates import utc
from aimon.collectors.decorator import running_starts
from aimon.drift.tracker import bin_total_counts, drift_snapshot
from aimon.fold import Fold
from aimon.live_quality import LiveQuality
from aimon.recording import Recorder
from aimon.rule_engine import Alerting
from aimon.snapshot import Snapshot

__all__ = ["assemble_snapshot"]


def assemble_snapshot(
    name: str,
    version: str | None,
    fold: Fold,
    quality: LiveQuality,
    recorder: Recorder,
    alerting: Alerting | None,
    now: float,
) -> Snapshot:
    """The state over the rolling window as of ``now`` (epoch seconds), of what ``fold`` has
    folded; the caller holds the fold's lock."""
    aggregates = fold.aggregates
    if quality.unplaced:
        quality.count_matches([], aggregates.window, aggregates.dropped, now, True)
    view = aggregates.view(now)
    dropped = dict(aggregates.dropped)
    if recorder.overflow:
        dropped["buffer_full"] = recorder.overflow
    parts: dict[str, Any] = {}
    feature_bins: dict[str, dict[str, int]] = {}
    if fold.drift is not None:
        drift, drift_window, reference_bins = drift_snapshot(fold.drift, now)
        parts = {
            "drift": drift,
            "drift_window": drift_window,
            "reference_bins": reference_bins,
        }
        feature_bins = bin_total_counts(fold.drift)
    if alerting is not None:
        parts["alerts"] = alerting.active()
        parts["rule_states"] = alerting.rule_states()
    parts.update(quality.snapshot_fields(view.total.quality))
    if fold.estimation is not None:
        parts.update(fold.estimation.snapshot_fields(now))
    if fold.segments is not None:
        parts["segments"] = fold.segments.snapshot(name, version, now)
        parts["segment_evictions"] = fold.segments.evicted()
    return Snapshot(
        model=name,
        version=version,
        taken_at=utc(now),
        **aggregates.window_fields(view, _running_ages(recorder)),
        dropped=dropped,
        late=dropped.get("late", 0),
        internal_errors=recorder.internal_errors,
        totals=aggregates.totals_snapshot(
            feature_bins=feature_bins,
            notifications=alerting.notifications() if alerting is not None else {},
        ),
        **parts,
    )


def _running_ages(recorder: Recorder) -> list[float]:
    """How long each watched call in flight has been running, in seconds."""
    starts = running_starts(recorder.channels)
    if not starts:
        return []
    now = time.perf_counter()
    return [max(0.0, now - start) for start in starts]
