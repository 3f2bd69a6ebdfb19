"""The library side of sidecar mode: Events appended to a JSON-line log that many worker
processes can share and one sidecar reads.

Each process opens the file with ``O_APPEND`` and writes whole lines only, in writes of at
most 64 KiB, so lines of different processes never interleave (appends to a local file are
atomic per write). With ``max_bytes`` the file is rotated by size (``path`` -> ``path.1``
-> ``path.2``..., ``backups`` kept) under an advisory lock, so two processes never rotate at
once; every writer notices the rotation and reopens the path; the sidecar's tailer finishes
the old file before it reads the new one.
"""

from __future__ import annotations

import fcntl
import math
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aimon import lifecycle
from aimon.columns import Columns
from aimon.events import Event, EventCodec

__all__ = ["EventLogWriter", "events_of"]

_MAX_WRITE = 64 * 1024


class EventLogWriter:
    """Append Events to ``path`` as JSON lines (see :class:`~aimon.events.EventCodec`).

    Args:
        path: the log file (created, with its directory, if missing).
        max_bytes: rotate once the file reaches this size (None: never).
        backups: rotated files kept (``path.1`` newest).
        codec: the line format (field names).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        backups: int = 5,
        codec: EventCodec | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes: must be positive, got {max_bytes}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.backups = max(backups, 1)
        self.codec = codec or EventCodec()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self.lines_written = 0
        _WRITERS.add(self)

    def write(self, events: Sequence[Event]) -> None:
        """Append the events, whole lines per write."""
        if not events:
            return
        lines = [(self.codec.encode(e) + "\n").encode() for e in events]
        with self._lock:
            for chunk in _chunks(lines):
                fd = self._open()
                os.write(fd, chunk)
            self.lines_written += len(lines)
            if self.max_bytes is not None:
                self._rotate_if_full()

    def _open(self) -> int:
        """The descriptor of the file now at the path (reopened after another process
        rotated it)."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = None
        if self._fd is None or current != self._ino:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._ino = os.fstat(self._fd).st_ino
        return self._fd

    def _rotate_if_full(self) -> None:
        assert self._fd is not None and self.max_bytes is not None
        if os.fstat(self._fd).st_size < self.max_bytes:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock_fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                return
            if stat.st_ino != self._ino or stat.st_size < self.max_bytes:
                return  # another process rotated it first
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __repr__(self) -> str:
        return f"EventLogWriter({str(self.path)!r})"


_WRITERS: weakref.WeakSet[EventLogWriter] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    # Another thread may have been writing at the fork: its lock came over held, and the
    # child's first write would wait for it forever. The descriptor stays (O_APPEND).
    for writer in list(_WRITERS):
        writer._lock = threading.Lock()


lifecycle.at_fork_in_child(_reset_locks_after_fork)


def _chunks(lines: list[bytes]) -> list[bytes]:
    """Lines joined into writes of at most 64 KiB (a longer line is a write of its own)."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and size + len(line) > _MAX_WRITE:
            out.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        out.append(b"".join(current))
    return out


def events_of(columns: Columns, model: str, version: str | None) -> list[Event]:
    """The Events of drained calls, as the event log holds them (features when the input is
    a dict; scalar predictions and short lists of scalars)."""
    sources = columns.inputs or []
    ids = columns.request_ids
    outputs = columns.results
    return [
        Event(
            ts=float(columns.ts[i]),
            model=model,
            version=version,
            latency_s=_finite_or_none(columns.latency[i]),
            error=columns.errors[i],
            input_size=_size_or_none(columns.in_size[i]),
            output_size=_size_or_none(columns.out_size[i]),
            features=_loggable_features(sources[i] if i < len(sources) else None),
            prediction=_loggable_prediction(outputs[i] if i < len(outputs) else None),
            request_id=None if ids is None else ids[i],
        )
        for i in range(len(columns))
    ]


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _size_or_none(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


def _loggable_features(source: Any) -> dict[str, Any] | None:
    return dict(source) if isinstance(source, dict) else None


def _loggable_prediction(output: Any) -> Any:
    """Scalars, and short lists of scalars, are logged; anything else is not."""
    if output is None or isinstance(output, bool | int | float | str):
        return output
    item = getattr(output, "item", None)
    if callable(item) and getattr(output, "size", 1) == 1:
        return item()
    if isinstance(output, list | tuple) and len(output) <= 16:
        return [v for v in output if isinstance(v, bool | int | float | str)]
    return None
