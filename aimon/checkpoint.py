"""Crash-safe checkpoints: one file holding together what the sidecar has read and what it
has counted, so that after a crash both resume from the same moment.

A checkpoint is written atomically: to a temporary file (mode 0600), fsynced, the previous
checkpoint kept as ``checkpoint.prev``, renamed into place, and the directory fsynced. A
checkpoint carries a checksum; one that is half-written or corrupt is reported and the
previous one used instead, never fatal.

The payload is pickled: it holds aimon's own aggregate objects (windows, sketches, counts).
Only aimon writes these files, in a directory of its own; never point ``state_dir`` at a
directory others can write to.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import Any

__all__ = ["CheckpointStore"]

log = logging.getLogger("aimon")

_MAGIC = b"AIMONCP1"
_DIGEST = 32


class CheckpointStore:
    """Checkpoints in ``state_dir`` (created with mode 0700 if missing)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.dir / "checkpoint"
        self.previous = self.dir / "checkpoint.prev"
        self.problems: list[str] = []  # what was wrong with checkpoints found at load

    def save(self, payload: dict[str, Any]) -> None:
        """Write ``payload`` as the new checkpoint, atomically."""
        body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        data = _MAGIC + hashlib.sha256(body).digest() + body
        temp = self.dir / f".checkpoint.{os.getpid()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            if self.path.exists():
                os.replace(self.path, self.previous)
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.dir)

    def load(self) -> dict[str, Any] | None:
        """The newest good checkpoint, or None. A bad one is noted in :attr:`problems`
        (and logged) and the previous one tried."""
        for candidate in (self.path, self.previous):
            if not candidate.exists():
                continue
            try:
                return _read(candidate)
            except (OSError, ValueError, pickle.UnpicklingError, EOFError) as exc:
                problem = f"{candidate}: unusable checkpoint ({exc}); trying an older one"
                self.problems.append(problem)
                log.warning("%s", problem)
        return None


def _read(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError("not an aimon checkpoint")
    digest, body = data[len(_MAGIC) : len(_MAGIC) + _DIGEST], data[len(_MAGIC) + _DIGEST :]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("checksum mismatch (half-written or corrupt)")
    try:
        payload = pickle.loads(body)  # aimon's own file, mode 0600
    except (AttributeError, ImportError) as exc:  # a class since renamed or moved
        raise ValueError(f"written by another version of aimon ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError("unexpected content")
    return payload


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
