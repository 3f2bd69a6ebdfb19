"""Sidecar mode: follow a model server's JSON prediction log and keep one Monitor per model
(and version) from it, serving the same ``/metrics`` and alerts as the embedded library.

The log is read by :class:`~aimon.collectors.logtail.LogTailer` (rotation, truncation,
partial lines); each line is decoded by :class:`~aimon.events.EventCodec` with the
configured field names. A malformed line is counted (``dropped["malformed"]`` of the
default model's monitor, and by reason in :attr:`Sidecar.malformed`) and skipped.

With a ``state_dir`` the sidecar checkpoints, in one atomic file, the log position together
with every monitor's aggregates: on an interval, before each ``/metrics`` or ``/status``
response, and at exit. A restart resumes both from the same moment, so no line is lost or
counted twice and no counter Prometheus has seen goes backwards.

Outcomes (ground truth, see :mod:`aimon.quality.outcomes`) come from a second log,
``outcomes_file``, followed the same way, and from :meth:`Sidecar.post_outcomes` (``POST
/outcomes``). Each goes to the monitor that holds (or remembers) its prediction, or the one
its ``model``/``version`` names; otherwise to the only model's monitor, or the default one.
The checkpoint holds the outcomes log's position and every monitor's join buffer; a post is
written to a journal (:mod:`aimon.quality.journal`, fsynced) before it is acknowledged, and
the posts after the checkpoint's are replayed at start. So a restart neither loses an
outcome nor matches one twice (an outcome read or posted again is counted ``duplicate``).
An outcome naming a model the prediction log never named creates no monitor (anyone who can
post could otherwise fill ``max_models``): it goes to the monitor that holds its request
id, or is counted in :attr:`Sidecar.outcomes_rejected` (``unknown_model``).

A monitor exists once its model had traffic (a prediction, a malformed line for the default
model, an outcome); one restored idle from a checkpoint is not kept, so no idle monitor is
exported.

A checkpoint that exists but cannot be read stops the sidecar at start
(:class:`~aimon.errors.CheckpointError`). One that cannot be written (a full disk, a
read-only directory) does not stop it: the failure is counted
(:attr:`Sidecar.checkpoint_failures`), ``/ready`` answers 503 until a checkpoint is written
again, and each later checkpoint tries again.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aimon.checkpoint import CheckpointStore
from aimon.collectors.logtail import LogTailer, TailPosition
from aimon.collectors.stream import StreamReader
from aimon.errors import CheckpointError, ConfigError, MalformedEventError
from aimon.events import EventCodec, FieldMap
from aimon.monitor_settings import MonitorSettings
from aimon.monitors import Monitor
from aimon.outcome_routing import by_monitor, route_outcomes, stamped
from aimon.quality.journal import OutcomeJournal
from aimon.quality.outcomes import Outcome, decode_outcomes, outcome_from_record
from aimon.snapshot import Snapshot

__all__ = ["OTHER_MODEL", "STDIN", "MonitorSettings", "Sidecar"]

log = logging.getLogger("aimon")

#: Models past ``max_models`` are counted under this name.
OTHER_MODEL = "other"
#: A journal of posts past this size is folded into a checkpoint at once.
_JOURNAL_BYTES = 64 << 20
#: The ``log_file`` that means standard input (no position is checkpointed: only aggregates).
STDIN = "-"


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding a batch makes a hundred thousand dicts that all live until it is folded; the
    cyclic collector would walk them over and over (it more than doubled the cost of a line).
    They hold no cycles, so reference counting frees them; the collector runs again after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _idle(snap: Snapshot) -> bool:
    """Nothing came to the monitor: no call, no drop, no outcome, no internal error."""
    return not (
        snap.totals.calls
        or any(snap.dropped.values())
        or any(snap.outcomes.values())
        or snap.internal_errors
    )


class Sidecar:
    """Tail ``log_file`` and feed one :class:`~aimon.Monitor` per (model, version).

    Args:
        log_file: the prediction log to follow, or ``"-"`` for standard input.
        fields: where each Event field is in a line (``FieldMap``).
        max_models: monitors at most; events of further models go to ``other``.
        monitor_settings: what every Monitor is made with (window, reference, rules,
            router...); default: ``MonitorSettings()``.
        max_line_bytes: longer lines are skipped and counted.
        poll_interval: seconds between reads when the log is idle.
        state_dir: where checkpoints live (None: no checkpoints; a restart starts over).
        checkpoint_interval: seconds between checkpoints while running.
        outcomes_file: a log of outcome lines to follow (None: outcomes only by
            :meth:`post_outcomes`).
    """

    def __init__(
        self,
        log_file: str,
        *,
        fields: FieldMap | None = None,
        max_models: int = 16,
        monitor_settings: MonitorSettings | None = None,
        max_line_bytes: int = 1 << 20,
        poll_interval: float = 0.25,
        state_dir: str | None = None,
        checkpoint_interval: float = 5.0,
        outcomes_file: str | None = None,
    ) -> None:
        self.codec = EventCodec(fields)
        self.max_models = max_models
        self.settings = monitor_settings or MonitorSettings()
        self.poll_interval = poll_interval
        self.checkpoint_interval = checkpoint_interval
        self.monitors: dict[tuple[str, str | None], Monitor] = {}
        self.malformed: Counter[str] = Counter()
        self.models_folded = 0
        self.lines = 0
        self.outcome_lines = 0
        self.outcomes_posted = 0
        self.outcomes_malformed: Counter[str] = Counter()
        self.outcomes_rejected: Counter[str] = Counter()
        self.checkpoint_failures = 0
        self.checkpoint_error: str | None = None  # why the last checkpoint failed, if it did
        self.last_checkpoint_at: float | None = None  # epoch seconds of the last one written
        self._caught_up = False
        self._lock = threading.RLock()
        self._last_checkpoint = time.monotonic()
        self.store = CheckpointStore(state_dir) if state_dir is not None else None
        saved = self.store.load() if self.store is not None else None
        position = outcomes_position = None
        if saved is not None:
            position = self._restore(saved)
            raw = saved.get("outcomes_position")
            outcomes_position = TailPosition.from_dict(raw) if raw else None
        self.tailer: LogTailer | StreamReader
        if log_file == STDIN:
            self.tailer = StreamReader(0, max_line_bytes=max_line_bytes)
        else:
            self.tailer = LogTailer(log_file, position=position, max_line_bytes=max_line_bytes)
        if saved is not None:
            self.tailer.counts.update(saved.get("tail_counts", {}))
        self.journal: OutcomeJournal | None = None
        if self.store is not None:
            done = int(saved.get("journal_post", 0)) if saved is not None else 0
            self.journal = OutcomeJournal(self.store.dir / "outcomes.journal", after=done)
            for posted in self.journal.replay(after=done):
                # To the monitor each went to when posted: its predictions may be in the
                # part of the log read after the checkpoint, so it may not exist yet.
                for (model, version), items in by_monitor(posted).items():
                    self._monitor(model, version).record_outcomes(items)
                self.outcomes_posted += len(posted)
        self.outcomes_tailer: LogTailer | None = None
        if outcomes_file is not None:
            self.outcomes_tailer = LogTailer(
                outcomes_file, position=outcomes_position, max_line_bytes=max_line_bytes
            )

    def default_monitor(self) -> Monitor:
        """The monitor of the default model: malformed lines are counted there."""
        return self._monitor(self.codec.fields.default_model, None)

    def _monitor(self, model: str, version: str | None) -> Monitor:
        key = (model, version)
        found = self.monitors.get(key)
        if found is not None:
            return found
        if len(self.monitors) >= self.max_models:
            self.models_folded += 1
            key = (OTHER_MODEL, None)
            found = self.monitors.get(key)
            if found is not None:
                return found
        monitor = self.settings.monitor(*key)
        self.monitors[key] = monitor
        return monitor

    def step(self, max_lines: int = 20_000) -> int:
        """Read and count what the log holds now (up to ``max_lines``); returns lines read.

        Batches of 20,000 lines keep resident memory flat: with 100,000 the allocator's
        heap crept by about 5 MiB per million lines (big short-lived buffers between small
        long-lived ones), at no gain in speed."""
        with self._lock:
            long_before = self.tailer.counts["long_lines"]
            lines = self.tailer.read(max_lines)
            with _gc_paused():
                self._ingest(lines)
            self.lines += len(lines)
            self._caught_up = len(lines) < max_lines
            too_long = self.tailer.counts["long_lines"] - long_before
            if too_long:
                self._count_malformed(Counter(too_long=too_long))
            read_outcomes = self._step_outcomes(max_lines)
        return len(lines) + read_outcomes

    def _step_outcomes(self, max_lines: int) -> int:
        tailer = self.outcomes_tailer
        if tailer is None:
            return 0
        lines = tailer.read(max_lines)
        if not lines:
            return 0
        outcomes, malformed = decode_outcomes(lines)
        self.outcome_lines += len(lines)
        if malformed:
            self.outcomes_malformed.update(malformed)
            self.default_monitor().count_dropped("malformed_outcome", malformed.total())
        self._route_outcomes(outcomes)
        return len(lines)

    def post_outcomes(self, records: Any) -> int:
        """Record outcomes given as a JSON array of outcome objects (``POST /outcomes``);
        all or none: raises ``ValueError`` naming the first bad item. They are journaled
        before this returns (with a ``state_dir``); raises ``CheckpointError`` when that
        failed (they are not recorded). Returns how many were recorded."""
        if not isinstance(records, list):
            raise ValueError("expected a JSON array of outcome objects")
        outcomes = []
        for i, record in enumerate(records):
            try:
                outcomes.append(outcome_from_record(record))
            except MalformedEventError as exc:
                raise ValueError(f"item {i}: {exc}") from None
        with self._lock:
            routed = self._route_outcomes(outcomes)
            self.outcomes_posted += len(outcomes)
            if self.journal is not None:  # not the whole join, as a checkpoint would
                self.journal.append(stamped(routed, self.monitors))
            if self.journal is not None and self.journal.size > _JOURNAL_BYTES:
                self.checkpoint()
        return len(outcomes)

    def _route_outcomes(self, outcomes: list[Outcome]) -> list[tuple[Monitor, list[Outcome]]]:
        """Each outcome to the monitor of its prediction (:mod:`aimon.outcome_routing`);
        returns where each went."""
        return route_outcomes(
            outcomes, self.monitors, self.codec.fields.default_model, self.default_monitor,
            self.outcomes_rejected,
        )  # fmt: skip

    def _ingest(self, lines: list[bytes]) -> None:
        groups, malformed = self.codec.decode_many(lines)
        for events in groups:
            self._monitor(events.model, events.version).observe_many(
                events.ts,
                latency_s=events.latency_s,
                errors=events.errors,
                features=events.features,
                predictions=events.predictions,
                input_size=events.input_size,
                output_size=events.output_size,
                request_ids=events.request_ids,
            )
        if malformed:
            self._count_malformed(malformed)

    def _count_malformed(self, reasons: Counter[str]) -> None:
        self.malformed.update(reasons)
        self.default_monitor().count_dropped("malformed", reasons.total())

    # -- checkpoints -----------------------------------------------------------------

    def checkpoint(self) -> None:
        """Write the log position and every monitor's aggregates, as of now, atomically.

        A failure to write is not raised: it is counted (:attr:`checkpoint_failures`), kept
        in :attr:`checkpoint_error` (``ready()`` is false meanwhile) and logged once until a
        checkpoint is written again."""
        if self.store is None:
            return
        with self._lock:
            try:
                self._save(self.store)
            except CheckpointError as exc:
                self.checkpoint_failures += 1
                if self.checkpoint_error is None:
                    log.error("%s; retrying at each checkpoint, not ready meanwhile", exc)
                self.checkpoint_error = str(exc)
            else:
                if self.checkpoint_error is not None:
                    log.warning("checkpoints written again (%s)", self.store.path)
                self.checkpoint_error = None
                self.last_checkpoint_at = time.time()
            self._last_checkpoint = time.monotonic()

    def _save(self, store: CheckpointStore) -> None:
        journaled = self.journal.seq if self.journal is not None else 0
        position = self.tailer.position()
        outcomes_position = (
            self.outcomes_tailer.position() if self.outcomes_tailer is not None else None
        )
        store.save(
            {
                "position": position.to_dict() if position is not None else None,
                "monitors": [m.export_state() for m in self.monitors.values()],
                "malformed": dict(self.malformed),
                "models_folded": self.models_folded,
                "lines": self.lines,
                "tail_counts": dict(self.tailer.counts),
                "outcomes_position": outcomes_position.to_dict()
                if outcomes_position is not None
                else None,
                "outcome_lines": self.outcome_lines,
                "outcomes_posted": self.outcomes_posted,
                "outcomes_malformed": dict(self.outcomes_malformed),
                "outcomes_rejected": dict(self.outcomes_rejected),
                "journal_post": journaled,
            }
        )
        if self.journal is not None:
            self.journal.checkpointed(journaled)

    @contextlib.contextmanager
    def scrape(self) -> Iterator[None]:
        """Around each ``/metrics`` response: no line is read meanwhile, and what it shows
        is checkpointed first (so a restart never shows a smaller counter)."""
        with self._lock:
            self.checkpoint()
            yield

    def _restore(self, saved: dict[str, Any]) -> TailPosition | None:
        for state in saved.get("monitors", []):
            key = (state["model"], state["version"])
            monitor = self._monitor(*key)
            try:
                monitor.restore_state(state)
            except ConfigError as exc:
                log.warning("checkpoint of %s not restored: %s", state["model"], exc)
            if _idle(monitor.snapshot()):  # (checkpoints of older versions kept the default)
                monitor.close()
                del self.monitors[key]
        self.malformed.update(saved.get("malformed", {}))
        self.models_folded = int(saved.get("models_folded", 0))
        self.lines = int(saved.get("lines", 0))
        self.outcome_lines = int(saved.get("outcome_lines", 0))
        self.outcomes_posted = int(saved.get("outcomes_posted", 0))
        self.outcomes_malformed.update(saved.get("outcomes_malformed", {}))
        self.outcomes_rejected.update(saved.get("outcomes_rejected", {}))
        raw = saved.get("position")
        return TailPosition.from_dict(raw) if raw else None

    @property
    def checkpoints_discarded(self) -> int:
        """Checkpoints found unusable at start (corrupt, half-written, of another version)."""
        return len(self.store.problems) if self.store is not None else 0

    def ready(self) -> bool:
        """The log is readable and was read to its end at the last step, and the last
        checkpoint (with a ``state_dir``) was written."""
        return self._caught_up and self.tailer.error is None and self.checkpoint_error is None

    def run(self, stop: threading.Event) -> None:
        """Read until ``stop`` is set, polling while the log is idle."""
        while not stop.is_set():
            read = self.step()
            if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
                self.checkpoint()
            if read == 0:
                stop.wait(self.poll_interval)

    def all_monitors(self) -> list[Monitor]:
        """Every monitor (for the HTTP endpoints)."""
        return list(self.monitors.values())

    def close(self) -> None:
        """Checkpoint, then stop every monitor."""
        self.checkpoint()
        for monitor in self.monitors.values():
            monitor.close()
        self.tailer.close()
        if self.outcomes_tailer is not None:
            self.outcomes_tailer.close()
        if self.journal is not None:
            self.journal.close()
