"""Follow a prediction log the way ``tail -F`` should: through rotation by rename, copy-truncate,
partial writes and restarts, handing out each complete line once.

A file is known by its device, inode and a fingerprint of its first bytes, so that an inode
reused by a new file and a file truncated and rewritten while the reader was stopped are both
caught. The position handed to checkpoints is the byte after the last complete line read;
a partial last line is held until its newline arrives and, after a restart, read again.

Rotation is noticed when the path names another file than the one open: the old file is
finished to its end, then the new one is read from its start. The reader must look at the
path at least once between two rotations (it polls every few hundred milliseconds; logs
rotate every minutes or hours); a file rotated away twice before it was ever opened is not
seen. After a restart from a checkpoint whose file was rotated while the reader was down, the
file is found by inode under its new name in the same directory and finished first.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileId", "LogTailer", "TailPosition"]

#: Bytes of the file's start that identify it together with device and inode.
FINGERPRINT_BYTES = 256
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileId:
    """Which file: device, inode, and the hex of its first bytes (up to 256)."""

    dev: int
    ino: int
    head: str

    def same_file(self, other: FileId) -> bool:
        """The same device and inode, and one file's head is a prefix of the other's (a file
        that has grown since its head was taken is still the same file)."""
        if (self.dev, self.ino) != (other.dev, other.ino):
            return False
        short, long = sorted((self.head, other.head), key=len)
        return long.startswith(short)


@dataclass(frozen=True)
class TailPosition:
    """What a checkpoint keeps of a tailer: the file and the offset after its last complete
    line."""

    file: FileId
    offset: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "dev": self.file.dev,
            "ino": self.file.ino,
            "head": self.file.head,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TailPosition:
        """From :meth:`to_dict`'s output."""
        file = FileId(int(data["dev"]), int(data["ino"]), str(data["head"]))  # type: ignore[call-overload]
        return cls(file, int(data["offset"]))  # type: ignore[call-overload]


def _file_id(fd: int) -> FileId:
    stat = os.fstat(fd)
    head = os.pread(fd, FINGERPRINT_BYTES, 0)
    return FileId(stat.st_dev, stat.st_ino, head.hex())


def _same_inode(a: FileId, b: FileId) -> bool:
    return (a.dev, a.ino) == (b.dev, b.ino)


class _Open:
    """One open file: its descriptor, identity, committed offset and the partial line."""

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.id = _file_id(fd)
        self.offset = offset  # after the last complete line handed out
        self.read_to = offset  # bytes read so far (offset + the partial line)
        self.partial = bytearray()
        self.skipping = False  # inside an over-long line, dropping until its newline

    def refresh_id(self) -> None:
        """Take more of the head while the file is shorter than the fingerprint; a head that
        no longer starts like the known one is a truncation, for the reader to notice."""
        if len(self.id.head) < 2 * FINGERPRINT_BYTES:
            fresh = _file_id(self.fd)
            if fresh.head.startswith(self.id.head):
                self.id = fresh

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class LogTailer:
    """Read complete lines appended to ``path``, across rotations and restarts.

    Args:
        path: the log file to follow (it may not exist yet).
        position: where a previous tailer stopped (from :meth:`position`), or None to start
            at the beginning of the file.
        max_line_bytes: longer lines are skipped (and counted), the file read on.

    ``counts`` holds ``lines``, ``rotations``, ``truncations``, ``long_lines``,
    ``bytes_skipped`` (over-long lines, and partial lines left at the end of a rotated or
    truncated file), ``reopened`` (a checkpointed file found again) and ``lost_position``
    (a checkpointed file that no longer exists: reading starts over at the path).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        position: TailPosition | None = None,
        max_line_bytes: int = 1 << 20,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes: must be at least 1, got {max_line_bytes}")
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self.counts: Counter[str] = Counter()
        self._current: _Open | None = None
        self._draining: _Open | None = None  # a rotated file being finished first
        self._resume = position
        self.error: str | None = None  # why the path cannot be read, if it cannot
        self._open_first()  # hold the file from now on, so a rotation before the first read

    # -- reading ---------------------------------------------------------------------

    def read(self, max_lines: int | None = None) -> list[bytes]:
        """The complete lines appended since the last call (without their newlines)."""
        lines: list[bytes] = []
        if self._current is None and self._draining is None:
            self._open_first()
        if self._draining is not None:
            lines += self._read_all(self._draining, max_lines)
            if max_lines is not None and len(lines) >= max_lines:
                return lines
            self._finish(self._draining)
            self._draining = None
        current = self._current
        if current is None:
            return lines
        replaced = self._path_replaced(current)
        self._check_truncated(current)
        lines += self._read_all(current, None if max_lines is None else max_lines - len(lines))
        if replaced and (max_lines is None or len(lines) < max_lines):
            self.counts["rotations"] += 1
            self._finish(current)
            self._current = None
            self._open_path(0)
            if self._current is not None:
                lines += self.read(None if max_lines is None else max_lines - len(lines))
        return lines

    def position(self) -> TailPosition | None:
        """Where to resume after a restart: the file being read and the offset after its last
        complete line. While a rotated file is being finished, that file."""
        source = self._draining or self._current
        if source is None:
            return self._resume
        self._check_truncated(source)
        source.refresh_id()
        return TailPosition(source.id, source.offset)

    def close(self) -> None:
        """Close the open files."""
        for handle in (self._draining, self._current):
            if handle is not None:
                handle.close()
        self._draining = self._current = None

    # -- files -------------------------------------------------------------------------

    def _open_first(self) -> None:
        resume, self._resume = self._resume, None
        if resume is None:
            self._open_path(0)
            return
        at_path = self._open_path(None)
        if at_path is not None and _same_inode(at_path.id, resume.file):
            self._resume_at(at_path, resume)
            return
        rotated = self._find_rotated(resume.file)
        if rotated is not None:
            self.counts["reopened"] += 1
            self._resume_at(rotated, resume)
            self._draining = rotated
        else:
            self.counts["lost_position"] += 1
        if at_path is not None:
            self._seek(at_path, 0)

    def _resume_at(self, handle: _Open, resume: TailPosition) -> None:
        """Resume a checkpointed file; if its first bytes changed it was truncated and
        written again while nobody read it: all of it is new."""
        if handle.id.same_file(resume.file):
            self._seek(handle, resume.offset)
        else:
            self.counts["truncations"] += 1
            self._seek(handle, 0)

    def _open_path(self, offset: int | None) -> _Open | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            self.error = f"{self.path}: {os.strerror(exc.errno or errno.EIO)}"
            return None
        self.error = None
        handle = _Open(fd, offset or 0)
        self._current = handle
        return handle

    def _seek(self, handle: _Open, offset: int) -> None:
        size = os.fstat(handle.fd).st_size
        if offset > size:  # truncated while nobody was reading
            self.counts["truncations"] += 1
            offset = 0
        handle.offset = handle.read_to = offset
        handle.partial.clear()

    def _find_rotated(self, file: FileId) -> _Open | None:
        """The checkpointed file (its device and inode) under another name in the same
        directory, if it is there."""
        folder = self.path.parent
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return None
        for name in names:
            candidate = folder / name
            try:
                stat = candidate.stat()
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) != (file.dev, file.ino) or candidate == self.path:
                continue
            try:
                fd = os.open(candidate, os.O_RDONLY)
            except OSError:
                continue
            return _Open(fd, 0)
        return None

    def _path_replaced(self, handle: _Open) -> bool:
        """The path now names another file (rotated by rename), or none (removed)."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False  # gone for now: keep reading what is open
        return (stat.st_dev, stat.st_ino) != (handle.id.dev, handle.id.ino)

    def _check_truncated(self, handle: _Open) -> None:
        """Copy-truncate: the file shrank below what was read, or its first bytes changed
        (truncated and written again past that point). Start over at its start."""
        size = os.fstat(handle.fd).st_size
        known = bytes.fromhex(handle.id.head)
        if size >= handle.read_to and os.pread(handle.fd, len(known), 0) == known:
            return
        self.counts["truncations"] += 1
        self.counts["bytes_skipped"] += len(handle.partial)
        handle.partial.clear()
        handle.offset = handle.read_to = 0
        handle.skipping = False
        handle.id = _file_id(handle.fd)

    def _finish(self, handle: _Open) -> None:
        """Done with a rotated file: a partial line left at its end will never complete."""
        self.counts["bytes_skipped"] += len(handle.partial)
        handle.close()

    def _read_all(self, handle: _Open, max_lines: int | None) -> list[bytes]:
        lines: list[bytes] = []
        while max_lines is None or len(lines) < max_lines:
            chunk = os.pread(handle.fd, _CHUNK, handle.read_to)
            if not chunk:
                break
            handle.read_to += len(chunk)
            self._split(handle, chunk, lines, max_lines)
        self.counts["lines"] += len(lines)
        handle.refresh_id()
        return lines

    def _split(
        self, handle: _Open, chunk: bytes, lines: list[bytes], max_lines: int | None
    ) -> None:
        start = 0
        while True:
            if max_lines is not None and len(lines) >= max_lines:
                # enough: the rest of the chunk is read again next time
                handle.read_to = handle.offset
                return
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            piece = chunk[start:end]
            if handle.skipping:
                self.counts["bytes_skipped"] += len(piece) + 1
                handle.skipping = False
            elif len(handle.partial) + len(piece) > self.max_line_bytes:
                self.counts["long_lines"] += 1
                self.counts["bytes_skipped"] += len(handle.partial) + len(piece) + 1
                handle.partial.clear()
            elif handle.partial:
                handle.partial += piece
                lines.append(bytes(handle.partial))
                handle.partial.clear()
            else:
                lines.append(piece)
            start = end + 1
            handle.offset = handle.read_to - len(chunk) + start
        rest = chunk[start:]
        if handle.skipping:
            self.counts["bytes_skipped"] += len(rest)
        elif len(handle.partial) + len(rest) > self.max_line_bytes:
            self.counts["long_lines"] += 1
            self.counts["bytes_skipped"] += len(handle.partial) + len(rest)
            handle.partial.clear()
            handle.skipping = True
        else:
            handle.partial += rest
