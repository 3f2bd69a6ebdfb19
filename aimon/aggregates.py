"""A Monitor's aggregates: the rolling window, the totals since start, and what was dropped.

:class:`Aggregates` counts drained calls (:class:`~aimon.recording.Columns`) into the window's
slices and into the cumulative totals, and turns them into the parts of a Snapshot. Only the
Monitor holds one; everybody else reads Snapshots.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.drift.multivariate_window import MultivariateWindow
from aimon.drift.quality_window import QualityWindow
from aimon.drift.reference import Reference
from aimon.features import FeatureBatch
from aimon.recording import Columns
from aimon.sketch import QuantileSketch
from aimon.snapshot import FeatureSummary, Histogram, Summary, Totals, WindowInfo
from aimon.totals import BucketCounts, RunningTotals
from aimon.window import FeatureStats, Window, WindowView, slice_groups

__all__ = ["Aggregates"]


class Aggregates:
    """The window, the totals and the drop counts of one monitor.

    Args:
        window_s, slice_s: the rolling window and its slices, in seconds.
        relative_accuracy: of the quantile sketches.
        max_features: features tracked at most.
        max_error_types: distinct error type labels at most (the rest count as ``other``).
        clock: wall clock in epoch seconds.
        reference: the input features' data quality is judged against it (None: not judged),
            and, when it carries a reconstruction fit, their multivariate drift.
        multivariate: keep whole rows for multivariate drift when the reference can judge
            them (a segment's aggregates do not: their memory is per segment value).
    """

    def __init__(
        self,
        window_s: float,
        slice_s: float,
        relative_accuracy: float,
        max_features: int,
        max_error_types: int,
        clock: Callable[[], float] = time.time,
        reference: Reference | None = None,
        multivariate: bool = True,
    ) -> None:
        self.window = Window(window_s, slice_s, relative_accuracy, max_features)
        self.data_quality: QualityWindow | None = None
        if reference is not None:
            self.data_quality = QualityWindow(reference, self.window.n_slices, self.window.slice_s)
        self.multivariate: MultivariateWindow | None = None
        if multivariate and reference is not None and reference.multivariate is not None:
            fit = reference.multivariate.reconstruction_fit()
            self.multivariate = MultivariateWindow(fit, self.window.n_slices, self.window.slice_s)
        self.totals = RunningTotals(max_error_types, max_features)
        self.dropped: Counter[str] = Counter()
        self.started = clock()
        self._clock = clock

    # -- counting ------------------------------------------------------------------------

    def label_errors(self, columns: Columns) -> None:
        """Cap the error type names of ``columns`` to the labels they are counted under."""
        errors = columns.errors
        if errors.count(None) == len(errors):
            return
        label = self.totals.error_label
        columns.errors = [None if e is None else label(e) for e in errors]

    def count(self, columns: Columns) -> None:
        """Count calls into the totals and their live ones into the window."""
        sids, live, late, future = self.window.place(columns.end_ts(), self._clock())
        if late.any():
            self.dropped["late"] += int(late.sum())
        if future.any():
            self.dropped["future"] += int(future.sum())
        counted = live | late  # late calls still count in the totals, just not the window
        every = bool(counted.all())
        totals = self.totals
        totals.calls += len(columns) if every else int(counted.sum())
        errors = columns.errors
        any_errors = errors.count(None) != len(errors)
        if any_errors:
            totals.errors.update(e for e, c in zip(errors, counted, strict=True) if e and c)
        latency, in_size, out_size = columns.latency, columns.in_size, columns.out_size
        if not every:
            latency, in_size, out_size = latency[counted], in_size[counted], out_size[counted]
        totals.latency.add_many(latency)
        totals.input_size.add_many(in_size)
        totals.output_size.add_many(out_size)
        for sid, mask in slice_groups(sids, live):
            self.window.slice_for(sid).add(
                columns.latency if mask is None else columns.latency[mask],
                _pick(errors, mask) if any_errors else [],
                columns.in_size if mask is None else columns.in_size[mask],
                columns.out_size if mask is None else columns.out_size[mask],
            )

    def add_input_sizes(self, sid: int | None, sizes: NDArray[np.float64]) -> None:
        """Count input sizes measured from the inputs (``sid`` None: late, totals only)."""
        self.totals.input_size.add_many(sizes)
        if sid is not None:
            self.window.slice_for(sid).input_size.add_many(sizes)

    def add_features(self, sid: int | None, batch: FeatureBatch) -> None:
        """Count a batch of feature rows: missing values since start, and the slice's
        per-feature summaries (``sid`` None: late, totals only). Features past the cap of
        distinct names (over the process's life) are not counted: their values are counted
        in ``dropped["feature_over_cap"]``. With a reference, also the features' data
        quality in the slice, and a sample of its whole rows for multivariate drift."""
        if sid is not None and self.data_quality is not None:
            self.data_quality.add(sid, batch)
        if sid is not None and self.multivariate is not None:
            self.multivariate.add(sid, batch)
        totals = self.totals
        admits = totals.feature_names.admits
        if not all(map(admits, batch.columns)):
            names = totals.feature_names.names
            kept = {name: c for name, c in batch.columns.items() if name in names}
            self.dropped["feature_over_cap"] += sum(
                int(c.present_mask().sum()) for name, c in batch.columns.items() if name not in kept
            )
            batch = FeatureBatch(batch.n_rows, kept, batch.invalid, batch.input_sizes)
        for name, column in batch.columns.items():
            missing = batch.n_rows - int(np.count_nonzero(column.present_mask()))
            totals.feature_values[name] += batch.n_rows - missing
            if missing:
                totals.feature_missing[name] += missing
        for name in totals.feature_values.keys() - batch.columns.keys():
            # A known feature absent from these rows is missing there (as in the window).
            totals.feature_missing[name] += batch.n_rows
        if sid is not None:
            self.window.add_features(sid, batch)

    def count_skipped(self, inputs: int) -> None:
        """Inputs not profiled (load shedding)."""
        self.totals.features_skipped += inputs

    # -- reading -------------------------------------------------------------------------

    def view(self, now: float) -> WindowView:
        """The merge of the live slices as of ``now``."""
        return self.window.view(now, self.started)

    def window_info(self, view: WindowView) -> WindowInfo:
        """The window's extent, as a Snapshot shows it."""
        return WindowInfo(
            start=utc(view.start),
            end=utc(view.end),
            length_s=self.window.length_s,
            slice_s=self.window.slice_s,
            span_s=view.span_s,
        )

    def window_fields(self, view: WindowView, running: Sequence[float] = ()) -> dict[str, Any]:
        """The Snapshot's fields about the rolling window (``running``: the ages of the calls
        in flight, counted in the latency as lower bounds)."""
        total = view.total
        latency = total.latency
        if running:
            latency = latency.copy()
            latency.add_many(np.asarray(running, dtype=np.float64))
        error_count = sum(total.errors.values())
        return {
            "window": self.window_info(view),
            "count": total.count,
            "ok": total.count - error_count,
            "error_count": error_count,
            "error_rate": error_count / total.count if total.count else 0.0,
            "errors": dict(total.errors),
            "throughput": total.count / max(view.span_s, min(1.0, self.window.slice_s)),
            "latency": summary(latency),
            "in_flight": len(running),
            "oldest_in_flight_s": max(running) if running else None,
            "input_size": summary(total.input_size),
            "output_size": summary(total.output_size),
            "features": {name: feature_summary(s) for name, s in total.features.items()},
            "data_quality": {}
            if self.data_quality is None
            else self.data_quality.snapshot(view.end),
            "multivariate_drift": None
            if self.multivariate is None
            else self.multivariate.snapshot(view.end),
        }

    def totals_snapshot(self, **extra: Any) -> Totals:
        """The totals since start, as a Snapshot shows them (``extra``: fields kept by
        others: feature bins, notifications)."""
        totals = self.totals
        return Totals(
            calls=totals.calls,
            ok=totals.calls - totals.error_count,
            errors=dict(totals.errors),
            latency=histogram(totals.latency),
            input_size=histogram(totals.input_size),
            output_size=histogram(totals.output_size),
            feature_missing=dict(totals.feature_missing),
            features_skipped=totals.features_skipped,
            **extra,
        )


def _pick(errors: list[str | None], mask: NDArray[np.bool_] | None) -> list[str]:
    if mask is None:
        return [e for e in errors if e]
    return [e for e, m in zip(errors, mask.tolist(), strict=True) if e and m]


def utc(ts: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def summary(sketch: QuantileSketch) -> Summary:
    """A sketch's count, quantiles, mean and extremes."""
    if sketch.is_empty:
        return Summary()
    p50, p95, p99 = sketch.quantiles([0.5, 0.95, 0.99])
    return Summary(
        count=sketch.count, p50=p50, p95=p95, p99=p99,
        mean=sketch.mean, min=sketch.min, max=sketch.max,
    )  # fmt: skip


def feature_summary(stats: FeatureStats) -> FeatureSummary:
    """One feature's summary over the window."""
    mean = std = low = high = None
    if stats.kind == "numeric" and stats.n:
        mean = stats.sum / stats.n
        std = float(np.sqrt(max(stats.sum_sq / stats.n - mean * mean, 0.0)))
        low, high = stats.min, stats.max
    return FeatureSummary(
        kind=stats.kind,
        count=stats.count,
        missing=stats.missing,
        missing_share=stats.missing / stats.count if stats.count else 0.0,
        invalid=stats.invalid,
        mean=mean, std=std, min=low, max=high,
        top=dict(stats.labels.most_common(10)),
    )  # fmt: skip


def histogram(hist: BucketCounts) -> Histogram:
    """A fixed histogram's cumulative buckets."""
    cumulative = hist.cumulative()
    return Histogram(
        bounds=tuple(float(b) for b in hist.bounds),
        cumulative=tuple(cumulative),
        sum=hist.sum,
        count=cumulative[-1],
    )
