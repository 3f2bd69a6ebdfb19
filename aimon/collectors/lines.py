"""Cutting a byte stream into lines, as the log tailer and the stream reader both need."""

from __future__ import annotations

from collections import Counter

__all__ = ["LineSplitter", "after_newlines"]


class LineSplitter:
    """Cuts a byte stream into complete lines, fed a chunk at a time.

    ``counts`` holds ``long_lines`` (skipped, longer than ``max_line_bytes``) and
    ``bytes_skipped``. An over-long line is counted when its newline comes (or when the
    stream ends or is abandoned inside it), not when it grows past the limit: a reader that
    checkpoints the offset after its last complete line and restarts there reads that line
    again, and must count it once.

    >>> s = LineSplitter(max_line_bytes=8)
    >>> s.feed(b"ab\\ncd"), s.feed(b"e\\n0123456789\\nf"), s.finish()
    ([b'ab'], [b'cde'], [b'f'])
    >>> s.counts["long_lines"]
    1
    """

    def __init__(self, max_line_bytes: int, counts: Counter[str] | None = None) -> None:
        self.max_line_bytes = max_line_bytes
        self.partial = bytearray()
        self.skipping = False  # inside an over-long line: dropping up to its newline
        self.skipped = 0  # bytes of that line dropped so far (counted at its end)
        self.counts: Counter[str] = Counter() if counts is None else counts

    def fresh(self) -> LineSplitter:
        """A splitter with these settings and counters, and no line begun."""
        return LineSplitter(self.max_line_bytes, self.counts)

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines that ``chunk`` completes."""
        pieces = chunk.split(b"\n")
        rest = pieces.pop()  # after the last newline: the start of a line to come
        if pieces:
            if self.skipping:  # the newline that ends an over-long line
                self.skipped += len(pieces[0]) + 1
                self._end_skip()
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
        if self.skipping:
            self._end_skip()
        return [last] if last else []

    def abandon(self) -> None:
        """The line begun will never complete (its file was rotated away or truncated):
        count its bytes as skipped (an over-long one as a long line too)."""
        self.counts["bytes_skipped"] += len(self.partial)
        self.partial.clear()
        if self.skipping:
            self._end_skip()

    def _end_skip(self) -> None:
        self.counts["long_lines"] += 1
        self.counts["bytes_skipped"] += self.skipped
        self.skipped = 0
        self.skipping = False

    def _hold(self, rest: bytes) -> None:
        if self.skipping:
            self.skipped += len(rest)
        elif len(self.partial) + len(rest) > self.max_line_bytes:
            self.skipped = len(self.partial) + len(rest)
            self.partial.clear()
            self.skipping = True
        else:
            self.partial += rest


def after_newlines(chunk: bytes, count: int) -> int:
    """The index just after the ``count``-th newline of ``chunk`` (which holds that many)."""
    at = -1
    for _ in range(count):
        at = chunk.index(b"\n", at + 1)
    return at + 1
