"""The fold: drained calls -> the aggregates, live drift and live quality.

One pipeline (:meth:`Fold.flush`): take each channel's buffers into pending folds, then per
chunk of about a millisecond of work, under the fold lock: columns, error labels, request
ids, inputs attached (a sample of them under load), the event log, counts into the window and
totals, prediction drift, the join with outcomes, feature profiling. Then the queued
outcomes. A caller past its buffer's high-water mark runs the same pipeline on a chunk of its
own buffer (:meth:`Fold.assist`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aimon.aggregates import Aggregates
from aimon.checkpoint import continued, continued_drift
from aimon.collectors.eventlog import EventLogWriter, events_of
from aimon.drift.reference import Reference
from aimon.drift.tracker import DriftTracker
from aimon.live_estimation import LiveEstimation
from aimon.live_quality import LiveQuality
from aimon.profiling import FeatureProfiler
from aimon.recording import Channel, Columns, Recorder, ThreadBuffer, columns_of
from aimon.request_ids import call_ids, ids_asked
from aimon.segments import LiveSegments
from aimon.segments.part import SegmentPart
from aimon.settings import DriftSettings, Limits, SegmentSettings

__all__ = ["STATE_FORMAT", "Fold"]

#: The layout of :meth:`Fold.export_state`; a checkpoint of another is not restored.
#: 2: the join buffer of predictions and outcomes, and quality statistics per slice.
STATE_FORMAT = 2


class Fold:
    """A monitor's aggregation step and the state it folds into.

    Args:
        model, version: the monitor's labels (for the event log).
        window_s: the rolling window's length.
        limits, drift_settings: the monitor's settings.
        reference: to measure drift against (None: no drift).
        recorder: whose channels are folded.
        quality: the live quality (kept across resets; reset here).
        event_log: where every folded call is also written (None: nowhere).
        clock: wall clock in epoch seconds.
        segments: the segment columns (None: no segments).
    """

    def __init__(
        self,
        model: str,
        version: str | None,
        window_s: float,
        limits: Limits,
        drift_settings: DriftSettings,
        reference: Reference | None,
        recorder: Recorder,
        quality: LiveQuality,
        event_log: EventLogWriter | None,
        clock: Callable[[], float],
        segments: SegmentSettings | None = None,
    ) -> None:
        self.model = model
        self.version = version
        self.recorder = recorder
        self.quality = quality
        self.event_log = event_log
        self.clock = clock
        self.buffer_size = limits.buffer_size
        self.high_water = limits.high_water
        self.held_bytes = limits.held_bytes
        self.lock = threading.RLock()
        self.pending: deque[_PendingFold] = deque()
        self.aggregates = Aggregates(
            window_s, limits.slice_s, limits.relative_accuracy, limits.max_features,
            limits.max_error_types, clock, reference,
        )  # fmt: skip
        self.profiler = FeatureProfiler(limits.max_features, recorder.internal_error)
        self.drift: DriftTracker | None = None
        self.estimation: LiveEstimation | None = None
        if reference is not None:
            estimator = reference.performance_estimator()
            if estimator is not None:
                window = self.aggregates.window
                self.estimation = LiveEstimation(estimator, window.n_slices, window.slice_s)
            d = drift_settings
            self.drift = DriftTracker(
                reference, window_s=d.window_s, events=d.events, sample_size=d.sample,
                methods=d.resolved_methods(), min_count=d.min_count,
            )  # fmt: skip
        self.segments: LiveSegments | None = None
        if segments is not None:
            self.segments = _live_segments(
                segments, window_s, limits, drift_settings, reference, clock,
                quality.settings.max_pending_predictions,
            )  # fmt: skip
        quality.reset()
        quality.on_targets = self.fold_targets
        quality.on_pairs = None if self.segments is None else self.segments.add_pairs

    def flush(self) -> None:
        """Fold everything buffered so far: each channel, then the queued outcomes.

        Each buffer is folded in chunks of about a millisecond of work, the fold lock held
        for one chunk at a time, so a call that finds its buffer full waits at most that."""
        recorder = self.recorder
        for channel in recorder.channels:
            try:
                self._drain(channel, shed=not recorder.wait_when_full)
            except Exception as exc:
                recorder.internal_error(exc)
        with self.lock:
            try:
                outcomes = self.quality.take_queue()
                if outcomes:
                    now = self.clock()
                    aggregates = self.aggregates
                    self.quality.join_outcomes(outcomes, aggregates.window, aggregates.dropped, now)
            except Exception as exc:
                recorder.internal_error(exc)

    def _drain(self, channel: Channel, shed: bool) -> None:
        """Take what ``channel``'s buffers hold now into the pending folds, then fold those
        chunk by chunk (whoever holds the fold lock next goes on with them, so a snapshot
        never misses records a background fold has taken but not folded yet)."""
        buffers = channel.drainable()
        backlog = sum(len(b) for b in buffers)
        # Under load the background fold profiles a sample of the inputs (a caller folding
        # its own chunk, and on_full="fold", profile every one).
        stride = channel.plan_stride(backlog, time.perf_counter()) if shed and backlog else 1
        for buffer in buffers:  # every one: a hand-over may be moving records right now
            self._pend(channel, buffer, stride)
        self._fold_pending()

    def _pend(self, channel: Channel, buffer: ThreadBuffer, stride: int) -> None:
        """Move ``buffer``'s records to the pending folds, under the buffer's lock: a drain
        (which takes the same lock) finds them in one place or the other, never in neither."""
        with buffer.lock:
            taken = buffer.take()  # at once: one move of the buffer's memory
            if taken is not None:
                self.pending.append(_PendingFold(channel, taken, stride))

    def _fold_pending(self) -> None:
        """Fold the pending records, about a millisecond of work per hold of the lock."""
        pending = self.pending
        while pending:
            if self.recorder.waiting:  # a caller with a full buffer: let it have the lock
                time.sleep(0.0001)
            with self.lock:
                if not pending:
                    return
                job = pending[0]
                end = min(
                    len(job.taken),
                    job.done + job.channel.chunk_rows(self.buffer_size, background=True),
                )
                piece = job.taken.rows(job.done, end)
                job.done = end
                if end >= len(job.taken):
                    pending.popleft()
                self._fold_piece(job.channel, piece, job.stride)

    def assist(self, channel: Channel, buffer: ThreadBuffer, wait: float) -> bool:
        """Fold a chunk of ``buffer`` in the calling thread, waiting at most ``wait`` seconds
        (-1: as long as it takes) for a running fold's chunk; False when it could not
        (called by the recorder when a call finds its buffer past half full)."""
        if not self.lock.acquire(timeout=wait if wait > 0 else -1, blocking=wait != 0):
            return False
        try:
            piece = buffer.take(channel.chunk_rows(self.high_water))
            if piece is not None:
                self._fold_piece(channel, piece, 1)
            return True
        finally:
            self.lock.release()

    def hand_over(self, channel: Channel, buffer: ThreadBuffer) -> bool:
        """Move a full ``buffer``'s records to the pending folds without waiting for the fold
        lock (a running fold goes on with them), unless the pending folds already hold
        twice a buffer's worth; False then."""
        waiting = sum(len(job.taken) - job.done for job in list(self.pending))
        if waiting >= 2 * self.buffer_size or waiting * channel.record_bytes >= self.held_bytes:
            return False
        self._pend(channel, buffer, channel.plan_stride(len(buffer), time.perf_counter()))
        return True

    def _fold_piece(self, channel: Channel, piece: Any, stride: int) -> None:
        """Taken records -> columns -> the fold pipeline, timed to learn what folds cost."""
        try:
            # Costs are learnt in this thread's CPU time: waits for the GIL are not fold work.
            started = time.thread_time()
            columns = columns_of(piece, channel, self.clock() - time.perf_counter())
            self.aggregates.label_errors(columns)
            self._identify(columns)
            self.profiler.attach(columns, channel.capture)
            keys = None
            if self.segments is not None:  # of every call, before a sample of inputs is left
                keys = self.segments.keys(columns.inputs, len(columns), columns.extractor)
            if stride > 1:
                self.aggregates.count_skipped(self.profiler.sample(columns, stride))
            profiled_from, profiled = self.fold_columns(columns, True, keys)
            channel.learn(
                len(columns), profiled_from - started,
                profiled, time.thread_time() - profiled_from,
            )  # fmt: skip
        except Exception as exc:
            self.recorder.internal_error(exc)

    def _identify(self, columns: Columns) -> None:
        """The calls' request ids. Ids nobody asked for are made only when they can be known
        later: written to the event log, or joined once outcomes are recorded (a caller
        asking after the fold gets the same id, but nothing would join it anyway)."""
        starts, thread = columns.starts, columns.thread
        if starts is None or thread is None or not len(columns):
            return
        given = columns.request_ids
        every = self.event_log is not None or self.quality.outcomes_seen
        if not every and given is None and not ids_asked():
            return  # nobody asked for an id and nothing will join one
        tags: list[Any] = [thread] * len(columns)
        if given is not None:
            tags = [thread if g is None else g for g in given]
        columns.request_ids, columns.unasked = call_ids(starts.tolist(), tags, every)

    def fold_columns(
        self, columns: Columns, has_outputs: bool, segment_keys: list[list[str]] | None = None
    ) -> tuple[float, int]:
        """The fold of drained (or given) calls: log, count, drift, join, profile, each also
        per segment. Returns when profiling started and how many inputs it profiled.
        ``segment_keys``: the calls' segment values, when read before the inputs were
        sampled (else read here).

        The stages after the log and the count are independent: one failing (an output
        nothing can read) is counted as an internal error and the others go on."""
        aggregates = self.aggregates
        now = self.clock()
        if self.event_log is not None:
            self.event_log.write(events_of(columns, self.model, self.version))
        aggregates.count(columns)
        segments = self.segments
        if segments is not None:
            if segment_keys is None:
                segment_keys = segments.keys(columns.inputs, len(columns), columns.extractor)
            self._stage(segments.add_calls, columns, segment_keys, now)
        if has_outputs and self.drift is not None:
            self._stage(self.drift.add_outputs, "prediction", columns.results, now)
        if has_outputs and self.estimation is not None:
            self._stage(self.estimation.add, columns, aggregates.window, now, aggregates.dropped)
        if has_outputs:
            logged = self.event_log is not None
            join = self.quality.join_predictions
            self._stage(join, columns, aggregates.window, aggregates.dropped, now, logged)
            if segments is not None and segment_keys is not None:  # (no cost without them)
                held = self.quality.held_ids(columns, logged)
                if held is not None:
                    self._stage(segments.remember, held, columns.errors, segment_keys)
        profiled_from = time.thread_time()
        profiled = self.profiler.profile(columns, aggregates, self.drift, now, segments)
        return profiled_from, profiled

    def _stage(self, stage: Callable[..., None], *args: Any) -> None:
        try:
            stage(*args)
        except Exception as exc:
            self.recorder.internal_error(exc)

    def fold_targets(self, actuals: list[Any]) -> None:
        if self.drift is not None:
            self.drift.add_outputs("target", actuals, self.clock())

    # -- checkpoints ---------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """The aggregates (window, totals, drop counts, drift counts, the join, the
        segments), folded up to now, for a checkpoint. The objects are pickled as they are."""
        self.flush()
        with self.lock:
            aggregates = self.aggregates
            segments = self.segments
            return {
                "format": STATE_FORMAT,
                "model": self.model,
                "version": self.version,
                "window": aggregates.window,
                "totals": aggregates.totals,
                "dropped": Counter(aggregates.dropped),
                "overflow": self.recorder.overflow,
                "drift": self.drift,
                "data_quality": aggregates.data_quality,
                "multivariate": aggregates.multivariate,
                "estimation": self.estimation,
                "started": aggregates.started,
                "segments": None if segments is None else segments.export_state(self.clock()),
                **self.quality.export_state(),
            }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`export_state`'s aggregates (same model and settings). The
        segments go on for the segment columns both the state and this fold have (see
        :meth:`LiveSegments.restore_state`); a state's segments are ignored without them.

        Raises:
            ValueError: the state is of another format, model or window (the message says
                which).
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"format {state.get('format')!r}, expected {STATE_FORMAT}")
        if (state["model"], state["version"]) != (self.model, self.version):
            raise ValueError(f"of model {state['model']!r}, not {self.model!r}")
        window = state["window"]
        current = self.aggregates.window
        if (window.length_s, window.slice_s) != (current.length_s, current.slice_s):
            raise ValueError("the window settings changed; starting afresh")
        with self.lock:
            aggregates = self.aggregates
            aggregates.window = window
            aggregates.totals = state["totals"]
            aggregates.dropped = Counter(state["dropped"])
            aggregates.started = float(state["started"])
            self.recorder.overflow = int(state["overflow"])
            self.drift = continued_drift(state["drift"], self.drift, aggregates.dropped)
            # Parts that came later are absent from older states; each goes on only when
            # measured as now (the same reference and slices), else it starts empty.
            aggregates.data_quality = continued(state.get("data_quality"), aggregates.data_quality)
            aggregates.multivariate = continued(state.get("multivariate"), aggregates.multivariate)
            self.estimation = continued(state.get("estimation"), self.estimation)
            forgotten = self.quality.restore_state(state, window)
            if forgotten:  # measured another way before the restart: not comparable
                aggregates.dropped["quality_settings_changed"] += forgotten
            if self.segments is not None:  # (a state without segments: they start empty)
                self.segments.restore_state(state.get("segments"))


def _live_segments(
    settings: SegmentSettings,
    window_s: float,
    limits: Limits,
    drift_settings: DriftSettings,
    reference: Reference | None,
    clock: Callable[[], float],
    max_ids: int,
) -> LiveSegments:
    def make_part(segment_reference: Reference | None) -> SegmentPart:
        return SegmentPart(
            window_s, limits, drift_settings, segment_reference, settings.drift_sample, clock
        )

    return LiveSegments(
        settings.columns, settings.max_values, window_s,
        {} if reference is None else reference.segments,
        make_part, limits.max_features, max_ids,
    )  # fmt: skip


@dataclass(slots=True)
class _PendingFold:
    """Records taken from a buffer, folded chunk by chunk (``done`` so far)."""

    channel: Channel
    taken: Any
    stride: int
    done: int = 0
