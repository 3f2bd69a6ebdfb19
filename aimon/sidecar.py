"""Sidecar mode: follow a model server's JSON prediction log and keep one Monitor per model
(and version) from it, serving the same ``/metrics`` and alerts as the embedded library.

The log is read by :class:`~aimon.collectors.logtail.LogTailer` (rotation, truncation,
partial lines); each line is decoded by :class:`~aimon.events.EventCodec` with the
configured field names. A malformed line is counted (``dropped["malformed"]`` of the
default model's monitor, and by reason in :attr:`Sidecar.malformed`) and skipped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aimon.collectors.logtail import LogTailer
from aimon.errors import MalformedEventError
from aimon.events import EventCodec, FieldMap
from aimon.monitors import Monitor

__all__ = ["OTHER_MODEL", "Sidecar"]

#: Models past ``max_models`` are counted under this name.
OTHER_MODEL = "other"


class Sidecar:
    """Tail ``log_file`` and feed one :class:`~aimon.Monitor` per (model, version).

    Args:
        log_file: the prediction log to follow.
        fields: where each Event field is in a line (``FieldMap``).
        max_models: monitors at most; events of further models go to ``other``.
        monitor_settings: keyword arguments of every Monitor (window, reference,
            thresholds, sinks...).
        max_line_bytes: longer lines are skipped and counted.
        poll_interval: seconds between reads when the log is idle.
    """

    def __init__(
        self,
        log_file: str,
        *,
        fields: FieldMap | None = None,
        max_models: int = 16,
        monitor_settings: dict[str, Any] | None = None,
        max_line_bytes: int = 1 << 20,
        poll_interval: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = EventCodec(fields)
        self.tailer = LogTailer(log_file, max_line_bytes=max_line_bytes)
        self.max_models = max_models
        self.settings = dict(monitor_settings or {})
        self.poll_interval = poll_interval
        self.monitors: dict[tuple[str, str | None], Monitor] = {}
        self.malformed: Counter[str] = Counter()
        self.models_folded = 0
        self.lines = 0
        self._clock = clock
        self._caught_up = False
        self._lock = threading.Lock()
        self.default_monitor()

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
        monitor = Monitor(key[0], version=key[1], **self.settings)
        self.monitors[key] = monitor
        return monitor

    def step(self, max_lines: int = 50_000) -> int:
        """Read and count what the log holds now (up to ``max_lines``); returns lines read."""
        with self._lock:
            lines = self.tailer.read(max_lines)
            for line in lines:
                self._ingest(line)
            self.lines += len(lines)
            self._caught_up = len(lines) < max_lines
            skipped = self.tailer.counts["long_lines"]
            if skipped > self.malformed["too_long"]:
                self.default_monitor().count_dropped(
                    "malformed", skipped - self.malformed["too_long"]
                )
                self.malformed["too_long"] = skipped
        return len(lines)

    def _ingest(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = self.codec.decode(line)
        except MalformedEventError as exc:
            self.malformed[exc.reason] += 1
            self.default_monitor().count_dropped("malformed")
            return
        self._monitor(event.model, event.version).observe(
            latency_s=event.latency_s,
            error=event.error,
            features=event.features,
            prediction=event.prediction,
            input_size=event.input_size,
            output_size=event.output_size,
            ts=event.ts,
        )

    def ready(self) -> bool:
        """The log is readable and was read to its end at the last step."""
        return self._caught_up and self.tailer.error is None

    def run(self, stop: threading.Event) -> None:
        """Read until ``stop`` is set, polling while the log is idle."""
        while not stop.is_set():
            if self.step() == 0:
                stop.wait(self.poll_interval)

    def all_monitors(self) -> list[Monitor]:
        """Every monitor (for the HTTP endpoints)."""
        return list(self.monitors.values())

    def close(self) -> None:
        """Fold what is left and stop every monitor."""
        for monitor in self.monitors.values():
            monitor.close()
        self.tailer.close()
