"""One segment value's state: its own aggregates (window, totals, data quality, the quality
of its matched predictions) and its own drift against the reference's profile of the same
segment; and its Snapshot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from aimon.aggregates import Aggregates, utc
from aimon.checkpoint import continued, continued_drift
from aimon.drift.reference import Reference
from aimon.drift.tracker import DriftTracker, bin_total_counts, drift_snapshot
from aimon.settings import DriftSettings, Limits
from aimon.snapshot import Snapshot

__all__ = ["SEGMENT_METHODS", "SegmentPart"]

#: Drift methods each segment reports unless the monitor's drift settings name some: PSI,
#: cheap on the counts the window keeps anyway. The verdict (``drifted``) is the default test
#: of each feature (as the monitor's), run when a segment has enough values; a snapshot's
#: cost grows with segment values times features.
SEGMENT_METHODS = ("psi",)


class SegmentPart:
    """The aggregates and drift of one segment value.

    Args:
        window_s: the rolling window's length.
        limits: the monitor's limits (slices, sketch accuracy, caps).
        drift_settings: the monitor's drift settings; the drift sample per feature and
            slice is ``drift_sample`` instead (memory is per segment value), and the
            methods reported :data:`SEGMENT_METHODS` unless the settings name some.
        reference: what this segment is compared with (the reference's profile of the same
            segment value); None: no drift and no data quality.
        drift_sample: numbers kept per numeric feature and drift slice.
        clock: wall clock in epoch seconds.
    """

    __slots__ = ("aggregates", "drift")

    def __init__(
        self,
        window_s: float,
        limits: Limits,
        drift_settings: DriftSettings,
        reference: Reference | None,
        drift_sample: int,
        clock: Callable[[], float],
    ) -> None:
        self.aggregates = Aggregates(
            window_s, limits.slice_s, limits.relative_accuracy, limits.max_features,
            limits.max_error_types, clock, reference, multivariate=False,
        )  # fmt: skip
        self.drift: DriftTracker | None = None
        if reference is not None:
            d = drift_settings
            self.drift = DriftTracker(
                reference, window_s=d.window_s, events=d.events, sample_size=drift_sample,
                methods=d.resolved_methods() or SEGMENT_METHODS, min_count=d.min_count,
            )  # fmt: skip

    def export_state(self) -> dict[str, Any]:
        """The aggregates (window, totals, drop counts, data quality) and the drift counts,
        for a checkpoint, as the monitor's own are carried (the objects pickled as they
        are)."""
        aggregates = self.aggregates
        return {
            "window": aggregates.window,
            "totals": aggregates.totals,
            "dropped": Counter(aggregates.dropped),
            "started": aggregates.started,
            "data_quality": aggregates.data_quality,
            "drift": self.drift,
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`export_state`'s aggregates (made with the same window
        settings: the monitor's restore checks them). Drift and data quality go on only when
        measured as now (the same segment reference and settings), else start afresh
        (``dropped["drift_reset"]``)."""
        aggregates = self.aggregates
        aggregates.window = state["window"]
        aggregates.totals = state["totals"]
        aggregates.dropped = Counter(state["dropped"])
        aggregates.started = float(state["started"])
        aggregates.data_quality = continued(state.get("data_quality"), aggregates.data_quality)
        self.drift = continued_drift(state.get("drift"), self.drift, aggregates.dropped)

    def snapshot(self, model: str, version: str | None, now: float) -> Snapshot:
        """The segment's state as of ``now``, a Snapshot like the monitor's own (without
        alerts, estimated quality or segments of its own)."""
        aggregates = self.aggregates
        view = aggregates.view(now)
        dropped = dict(aggregates.dropped)
        parts: dict[str, Any] = {}
        feature_bins: dict[str, dict[str, int]] = {}
        if self.drift is not None:
            drift, drift_window, reference_bins = drift_snapshot(self.drift, now)
            parts = {"drift": drift, "drift_window": drift_window, "reference_bins": reference_bins}
            feature_bins = bin_total_counts(self.drift)
        quality = view.total.quality
        if quality is not None:  # outcomes matched to this segment's predictions
            parts["quality"] = quality.metrics()
        return Snapshot(
            model=model,
            version=version,
            taken_at=utc(now),
            **aggregates.window_fields(view),
            dropped=dropped,
            late=dropped.get("late", 0),
            internal_errors=0,
            totals=aggregates.totals_snapshot(feature_bins=feature_bins),
            **parts,
        )
