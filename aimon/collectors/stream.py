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
from collections import Counter
from typing import Any

__all__ = ["LineSplitter", "StreamReader"]

_CHUNK = 1 << 16


class LineSplitter:
    """Cuts a byte stream into complete lines, fed a chunk at a time.

    ``counts`` holds ``long_lines`` (skipped, longer than ``max_line_bytes``) and
    ``bytes_skipped``.

    >>> s = LineSplitter(max_line_bytes=8)
    >>> s.feed(b"ab\\ncd"), s.feed(b"e\\n0123456789\\nf"), s.finish()
    ([b'ab'], [b'cde'], [b'f'])
    >>> s.counts["long_lines"]
    1
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.partial = bytearray()
        self.skipping = False  # inside an over-long line: dropping up to its newline
        self.counts: Counter[str] = Counter()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines that ``chunk`` completes."""
        pieces = chunk.split(b"\n")
        rest = pieces.pop()  # after the last newline: the start of a line to come
        if pieces:
            if self.skipping:  # the newline that ends an over-long line
                self.counts["bytes_skipped"] += len(pieces[0]) + 1
                self.skipping = False
                del pieces[0]
            elif self.partial:
                pieces[0] = bytes(self.partial) + pieces[0]
                self.partial.clear()
            if pieces and max(map(len, pieces)) > self.max_line_bytes:
                for piece in pieces:
                    if len(piece) > self.max_line_bytes:
                        self.counts["long_lines"] += 1
                        self.counts["bytes_skipped"] += len(piece) + 1
                pieces = [piece for piece in pieces if len(piece) <= self.max_line_bytes]
        self._hold(rest)
        return pieces

    def finish(self) -> list[bytes]:
        """At the end of the stream: the last line, if it had no newline."""
        last = bytes(self.partial)
        self.partial.clear()
        self.skipping = False
        return [last] if last else []

    def _hold(self, rest: bytes) -> None:
        if self.skipping:
            self.counts["bytes_skipped"] += len(rest)
        elif len(self.partial) + len(rest) > self.max_line_bytes:
            self.counts["long_lines"] += 1
            self.counts["bytes_skipped"] += len(self.partial) + len(rest)
            self.partial.clear()
            self.skipping = True
        else:
            self.partial += rest


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
