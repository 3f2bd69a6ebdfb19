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

Copy-truncate (logrotate's ``copytruncate``) is noticed when the file is shorter than what was
read or its first bytes changed (checked before each read, and after each chunk read, so that a
chunk of the rewritten file is never taken for the old one). The lines not read yet are in the
copy, e.g. ``app.log.1``: a file in the same directory whose name starts with the log's name,
not empty, at least as long as the read position, with the same first bytes (as many as it has)
and the same last bytes read before that position (up to 256) is finished from that position
first (``copies_read``; the newest such file if several match), then the truncated file is read
from its start. This works while running and after a restart from a checkpoint taken before the
truncation; while a copy is being finished, the checkpoint names the copy.

Lines written between the copy and the truncation are in neither file: lost for every reader,
and invisible to this one unless it looked at the file in between. What it saw, it counts: each
truncation adds to ``bytes_lost`` the bytes of the old file it had seen (by the file's size) but
neither read nor found in a copy, a lower bound of what was lost; ``truncations`` counts the
truncations (a shortfall without any is a bug). As with rotation, the reader must look at the
file (and find it not empty) between two truncations for a copy to be found, and a restart
finishes one earlier file at most: the copy of a truncation or a file rotated away, not both.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_module
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aimon.collectors.lines import LineSplitter, after_newlines

__all__ = ["FileId", "LogTailer", "TailPosition"]

#: Bytes of the file's start that identify it together with device and inode, and bytes before
#: the read position that a copy of the file must hold too.
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
    """What a checkpoint keeps of a tailer: the file, the offset after its last complete line,
    and the hex of the bytes just before that offset (up to 256; they find a copy of the file
    after a copy-truncate, and they may be empty)."""

    file: FileId
    offset: int
    tail: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "dev": self.file.dev,
            "ino": self.file.ino,
            "head": self.file.head,
            "offset": self.offset,
            "tail": self.tail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TailPosition:
        """From :meth:`to_dict`'s output (``tail`` may be missing)."""
        file = FileId(int(data["dev"]), int(data["ino"]), str(data["head"]))  # type: ignore[call-overload]
        return cls(file, int(data["offset"]), str(data.get("tail", "")))  # type: ignore[call-overload]


def _file_id(fd: int) -> FileId:
    stat = os.fstat(fd)
    head = os.pread(fd, FINGERPRINT_BYTES, 0)
    return FileId(stat.st_dev, stat.st_ino, head.hex())


def _same_inode(a: FileId, b: FileId) -> bool:
    return (a.dev, a.ino) == (b.dev, b.ino)


class _Open:
    """One open file: its descriptor, identity, committed offset and the partial line."""

    def __init__(self, fd: int, offset: int, lines: LineSplitter) -> None:
        self.fd = fd
        self.id = _file_id(fd)
        self.offset = offset  # after the last complete line handed out
        self.read_to = offset  # bytes read so far (offset + the partial line)
        self.lines = lines  # holds the partial line, or skips an over-long one
        self.tail = b""  # the last bytes read, ending at read_to (FINGERPRINT_BYTES at most)
        self.seen = offset  # the largest size this file was seen to have

    def rewind(self, offset: int, tail: bytes = b"") -> None:
        """Read on from ``offset``, after ``tail``, with no partial line."""
        self.offset = self.read_to = self.seen = offset
        self.lines = self.lines.fresh()
        self.tail = tail

    def tail_at_offset(self) -> bytes:
        """The last bytes before the committed offset that are known (maybe none)."""
        held = self.read_to - self.offset
        return self.tail[: len(self.tail) - held] if held <= len(self.tail) else b""

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

    ``counts`` holds ``lines``, ``rotations``, ``truncations``, ``copies_read`` (truncations
    whose unread rest was found in a copy and read), ``bytes_lost`` (bytes of truncated files
    that were seen but neither read nor found in a copy), ``long_lines``, ``bytes_skipped``
    (over-long lines, and partial lines left at the end of a rotated or truncated file),
    ``reopened`` (a checkpointed file found again) and ``lost_position`` (a checkpointed file
    that no longer exists: reading starts over at the path).
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
        # A file to finish before the current one, which is then read from its start: a file
        # rotated away while nobody read it, or the copy of a truncated file.
        self._draining: _Open | None = None
        self._resume = position
        self.error: str | None = None  # why the path cannot be read, if it cannot
        self._open_first()  # hold the file from now on, so a rotation before the first read

    # -- reading ---------------------------------------------------------------------

    def read(self, max_lines: int | None = None) -> list[bytes]:
        """The complete lines appended since the last call (without their newlines)."""
        lines: list[bytes] = []
        if self._current is None and self._draining is None:
            self._open_first()
        while max_lines is None or len(lines) < max_lines:
            room = None if max_lines is None else max_lines - len(lines)
            if self._draining is not None:
                lines += self._read_all(self._draining, room)
                if max_lines is not None and len(lines) >= max_lines:
                    break
                self._finish(self._draining)
                self._draining = None
                continue
            current = self._current
            if current is None:
                break
            replaced = self._path_replaced(current)
            self._check_truncated(current, follow_copy=True)
            if self._draining is not None:
                continue  # the copy of what was truncated: finish it first
            lines += self._read_all(current, room)
            if not replaced or (max_lines is not None and len(lines) >= max_lines):
                break
            self.counts["rotations"] += 1
            self._finish(current)
            self._current = None
            if self._open_path(0) is None:
                break
        return lines

    def position(self) -> TailPosition | None:
        """Where to resume after a restart: the file being read and the offset after its last
        complete line. While a rotated file or a copy is being finished, that file (the
        current one is then read from its start)."""
        if self._draining is None and self._current is not None:
            self._check_truncated(self._current, follow_copy=True)
        source = self._draining or self._current
        if source is None:
            return self._resume
        if source is self._draining:
            self._check_truncated(source, follow_copy=False)
        source.refresh_id()
        return TailPosition(source.id, source.offset, source.tail_at_offset().hex())

    def _splitter(self) -> LineSplitter:
        return LineSplitter(self.max_line_bytes, self.counts)

    def lag_bytes(self) -> int:
        """Bytes written to the open files and not read yet (a partial line counts)."""
        lag = 0
        for handle in (self._draining, self._current):
            if handle is not None:
                with contextlib.suppress(OSError):
                    lag += max(0, os.fstat(handle.fd).st_size - handle.offset)
        return lag

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
            self._resume_at(at_path, resume, follow_copy=True)
            return
        rotated = self._find_rotated(resume.file)
        if rotated is not None:
            self.counts["reopened"] += 1
            self._draining = rotated
            self._resume_at(rotated, resume, follow_copy=False)
        else:
            self.counts["lost_position"] += 1

    def _resume_at(self, handle: _Open, resume: TailPosition, *, follow_copy: bool) -> None:
        """Resume a checkpointed file where the checkpoint left it. If it is shorter now, or
        its first bytes or those before the offset changed, it was truncated while nobody
        read it: its copy is finished first if there is one, then all of it is new."""
        handle.id = FileId(handle.id.dev, handle.id.ino, resume.file.head)
        tail = bytes.fromhex(resume.tail)
        handle.rewind(resume.offset, tail[max(0, len(tail) - resume.offset) :])
        self._check_truncated(handle, follow_copy=follow_copy, check_tail=True)

    def _open_path(self, offset: int | None) -> _Open | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            self.error = f"{self.path}: {os.strerror(exc.errno or errno.EIO)}"
            return None
        self.error = None
        handle = _Open(fd, offset or 0, self._splitter())
        self._current = handle
        return handle

    def _siblings(self, *, log_named: bool) -> list[Path]:
        """The other files in the log's directory, by name (only those whose name starts
        with the log's name if ``log_named``)."""
        folder = self.path.parent
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        return [
            folder / name
            for name in names
            if name != self.path.name and (not log_named or name.startswith(self.path.name))
        ]

    def _find_rotated(self, file: FileId) -> _Open | None:
        """The checkpointed file (its device and inode) under another name in the same
        directory, if it is there."""
        for candidate in self._siblings(log_named=False):
            try:
                stat = candidate.stat()
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) != (file.dev, file.ino):
                continue
            try:
                fd = os.open(candidate, os.O_RDONLY)
            except OSError:
                continue
            return _Open(fd, 0, self._splitter())
        return None

    def _find_copy(self, handle: _Open) -> _Open | None:
        """A copy of ``handle``'s file as it was before a truncation: a regular file named
        like the log (``app.log.1``), another inode, not empty, at least as long as what was
        read, with the same first bytes (as many as it has) and the same bytes before the read
        position. The newest one if several match."""
        head = bytes.fromhex(handle.id.head)
        if not head:
            return None  # nothing to know the file by
        best: tuple[float, _Open] | None = None
        for candidate in self._siblings(log_named=True):
            try:
                stat = candidate.stat()
            except OSError:
                continue
            if (
                not stat_module.S_ISREG(stat.st_mode)
                or stat.st_size < handle.read_to
                or (stat.st_dev, stat.st_ino) == (handle.id.dev, handle.id.ino)
                or (best is not None and stat.st_mtime <= best[0])
            ):
                continue
            try:
                fd = os.open(candidate, os.O_RDONLY)
            except OSError:
                continue
            # the head may have been taken after the copy was made: as much of it as the copy has
            known = head[: stat.st_size]
            tail_at = handle.read_to - len(handle.tail)
            if (
                known
                and os.pread(fd, len(known), 0) == known
                and os.pread(fd, len(handle.tail), tail_at) == handle.tail
            ):
                if best is not None:
                    best[1].close()
                best = (stat.st_mtime, _Open(fd, 0, self._splitter()))
            else:
                os.close(fd)
        return best[1] if best is not None else None

    def _path_replaced(self, handle: _Open) -> bool:
        """The path now names another file (rotated by rename), or none (removed)."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False  # gone for now: keep reading what is open
        return (stat.st_dev, stat.st_ino) != (handle.id.dev, handle.id.ino)

    def _check_truncated(
        self, handle: _Open, *, follow_copy: bool, check_tail: bool = False
    ) -> None:
        """Copy-truncate: the file shrank below what was read, or its first bytes (or, with
        ``check_tail``, the bytes before the read position) changed: truncated, and maybe
        written again past that point. With ``follow_copy``, a copy holding what was not
        read yet is finished first (as :attr:`_draining`, from where the reading stopped);
        the file itself is read again from its start."""
        size = os.fstat(handle.fd).st_size
        head = bytes.fromhex(handle.id.head)
        tail = handle.tail
        if (
            size >= handle.read_to
            and os.pread(handle.fd, len(head), 0) == head
            and (
                not check_tail or os.pread(handle.fd, len(tail), handle.read_to - len(tail)) == tail
            )
        ):
            handle.seen = max(handle.seen, size)
            return
        self.counts["truncations"] += 1
        copy = self._find_copy(handle) if follow_copy else None
        if copy is not None:
            self.counts["copies_read"] += 1
            # the copy goes on exactly where the truncated file stopped
            copy.offset, copy.read_to, copy.seen = handle.offset, handle.read_to, handle.read_to
            copy.lines, copy.tail = handle.lines, handle.tail
            self._draining = copy
            kept = os.fstat(copy.fd).st_size
        else:
            handle.lines.abandon()
            kept = handle.read_to
        self.counts["bytes_lost"] += max(0, handle.seen - kept)
        handle.id = _file_id(handle.fd)
        handle.rewind(0)
        handle.seen = size

    def _finish(self, handle: _Open) -> None:
        """Done with a rotated file: a partial line left at its end will never complete."""
        handle.lines.abandon()
        handle.close()

    def _read_all(self, handle: _Open, max_lines: int | None) -> list[bytes]:
        lines: list[bytes] = []
        head = bytes.fromhex(handle.id.head)
        while max_lines is None or len(lines) < max_lines:
            start = handle.read_to
            chunk = os.pread(handle.fd, _CHUNK, start)
            if not chunk or os.pread(handle.fd, len(head), 0) != head:
                # (truncated and written again before the read: the chunk is not this file's;
                # the next look notices the truncation and reads the copy from ``start``)
                break
            handle.read_to += len(chunk)
            self._split(handle, chunk, lines, max_lines)
            used = handle.read_to - start  # the whole chunk, or up to the last line taken
            if used >= FINGERPRINT_BYTES:
                handle.tail = chunk[used - FINGERPRINT_BYTES : used]
            else:
                handle.tail = (handle.tail + chunk[:used])[-FINGERPRINT_BYTES:]
        handle.seen = max(handle.seen, handle.read_to)
        self.counts["lines"] += len(lines)
        handle.refresh_id()
        return lines

    def _split(
        self, handle: _Open, chunk: bytes, lines: list[bytes], max_lines: int | None
    ) -> None:
        if max_lines is not None and chunk.count(b"\n") > max_lines - len(lines):
            # enough: the rest of the chunk is read again next time
            cut = after_newlines(chunk, max_lines - len(lines))
            handle.read_to -= len(chunk) - cut
            chunk = chunk[:cut]
        lines += handle.lines.feed(chunk)
        last = chunk.rfind(b"\n")
        if last >= 0:
            handle.offset = handle.read_to - len(chunk) + last + 1
