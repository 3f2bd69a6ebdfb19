"""Read prediction-log lines from a pipe or standard input (``aimon sidecar --log-file -``).

A stream has no position to resume from and cannot be read again: there is nothing to
follow through rotation and nothing to checkpoint but the aggregates. A thread reads the
stream in chunks and cuts them into lines (a partial line waits for its newline; a line
longer than ``max_line_bytes`` is counted and skipped), handing them over in batches through
a bounded queue: when the consumer falls behind, the thread stops reading and the writer
blocks on the full pipe, so nothing is dropped. At the end of the stream a last line without
a newline is still a line.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any

from aimon.collectors.lines import LineSplitter

__all__ = ["StreamReader"]

_CHUNK = 1 << 16


class StreamReader:
    """Lines of a stream (a file descriptor: a pipe, standard input), with the interface the
    sidecar reads a :class:`~aimon.collectors.logtail.LogTailer` through.

    Args:
        fd: the descriptor to read (``0`` for standard input); it is not closed.
        max_line_bytes: longer lines are skipped and counted.
        max_batches: chunks' worth of lines held while the consumer is busy.
    """

    def __init__(self, fd: int = 0, *, max_line_bytes: int = 1 << 20, max_batches: int = 64):
        self.fd = fd
        self.splitter = LineSplitter(max_line_bytes)
        self.counts = self.splitter.counts
        self.error: str | None = None
        self.eof = False
        self._batches: queue.Queue[list[bytes] | None] = queue.Queue(max_batches)
        self._held: list[bytes] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="aimon-stream", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._closed.is_set():
                chunk = os.read(self.fd, _CHUNK)
                if not chunk:
                    break
                lines = self.splitter.feed(chunk)
                if lines:
                    self._batches.put(lines)
            last = self.splitter.finish()
            if last:
                self._batches.put(last)
        except OSError as exc:
            self.error = f"cannot read the stream: {exc}"
        self._batches.put(None)

    def read(self, max_lines: int | None = None) -> list[bytes]:
        """The complete lines that arrived since the last call (``max_lines`` at most)."""
        lines, self._held = self._held, []
        while max_lines is None or len(lines) < max_lines:
            try:
                batch = self._batches.get_nowait()
            except queue.Empty:
                break
            if batch is None:
                self.eof = True
                break
            lines.extend(batch)
        if max_lines is not None and len(lines) > max_lines:
            lines, self._held = lines[:max_lines], lines[max_lines:]
        self.counts["lines"] += len(lines)
        return lines

    def position(self) -> None:
        """A stream has no position to resume from."""
        return None

    def lag_bytes(self) -> None:
        """Unknown: what waits in the pipe cannot be measured."""
        return None

    def close(self) -> None:
        """Stop reading (a read already waiting on the stream ends with the process)."""
        self._closed.set()

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
