"""Crash-safe checkpoints: one file holding together what the sidecar has read and what it
has counted, so that after a crash both resume from the same moment.

A checkpoint is written atomically: to a temporary file (mode 0600), fsynced, the previous
checkpoint kept as ``checkpoint.prev``, renamed into place, and the directory fsynced. A
checkpoint carries a checksum; one that is half-written or corrupt is reported and the
previous one used instead, never fatal. One that exists but cannot be read (permission
denied, a directory in its place) is not corrupt: starting afresh would silently drop what it
holds, so :meth:`CheckpointStore.load` raises :class:`~aimon.errors.CheckpointError` instead.

The payload is pickled: it holds aimon's own aggregate objects (windows, sketches, counts).
Only aimon writes these files, in a directory of its own; never point ``state_dir`` at a
directory others can write to.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import stat
from collections import Counter
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aimon.errors import CheckpointError

__all__ = ["MOVED_CLASSES", "CheckpointStore", "continued", "unpickle"]

log = logging.getLogger("aimon")

_MAGIC = b"AIMONCP1"
_DIGEST = 32


class CheckpointStore:
    """Checkpoints in ``state_dir`` (created with mode 0700 if missing).

    Raises:
        CheckpointError: ``state_dir`` cannot be created (or is not a directory).
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(state_dir)
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            message = f"{self.dir}: cannot use as the state directory: {_cause(exc)}"
            raise CheckpointError(message) from None
        self.path = self.dir / "checkpoint"
        self.previous = self.dir / "checkpoint.prev"
        self.problems: list[str] = []  # what was wrong with checkpoints found at load

    def save(self, payload: dict[str, Any]) -> None:
        """Write ``payload`` as the new checkpoint, atomically; the previous one stays in
        place when this fails.

        Raises:
            CheckpointError: it cannot be written (a full disk, a read-only directory, a
                directory in the checkpoint's place...) or pickled.
        """
        try:
            body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, RecursionError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{self.path}: cannot pickle the state: {exc}") from None
        data = _MAGIC + hashlib.sha256(body).digest() + body
        temp = self.dir / f".checkpoint.{os.getpid()}.tmp"
        try:
            self._write(temp, data)
        except OSError as exc:
            message = f"{self.path}: cannot write the checkpoint: {_cause(exc)}"
            raise CheckpointError(message) from None
        _fsync_dir(self.dir)

    def _write(self, temp: Path, data: bytes) -> None:
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
            with contextlib.suppress(OSError):  # (a read-only directory: it was never made)
                temp.unlink(missing_ok=True)
            raise

    def load(self) -> dict[str, Any] | None:
        """The newest good checkpoint, or None. A bad one (corrupt, half-written, of another
        version) is noted in :attr:`problems` (and logged) and the previous one tried.

        Raises:
            CheckpointError: a checkpoint exists but cannot be read (permission denied, not a
                regular file, an I/O error): it may be good, so it is not skipped.
        """
        for candidate in (self.path, self.previous):
            try:
                mode = candidate.stat().st_mode
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _unreadable(candidate, _cause(exc)) from None
            if not stat.S_ISREG(mode):  # a directory, or a FIFO whose read would block
                raise _unreadable(candidate, "not a regular file")
            try:
                data = candidate.read_bytes()
            except OSError as exc:
                raise _unreadable(candidate, _cause(exc)) from None
            try:
                return _decode(data)
            except (ValueError, pickle.UnpicklingError, EOFError) as exc:
                problem = f"{candidate}: unusable checkpoint ({exc}); trying an older one"
                self.problems.append(problem)
                log.warning("%s", problem)
        return None


def _cause(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _unreadable(path: Path, cause: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: the checkpoint exists but cannot be read ({cause}); starting afresh would "
        "lose what it holds: make it readable by this user, or move it away to start over"
    )


def _decode(data: bytes) -> dict[str, Any]:
    if not data.startswith(_MAGIC):
        raise ValueError("not an aimon checkpoint")
    digest, body = data[len(_MAGIC) : len(_MAGIC) + _DIGEST], data[len(_MAGIC) + _DIGEST :]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("checksum mismatch (half-written or corrupt)")
    try:
        payload = unpickle(body)  # aimon's own file, mode 0600
    except (AttributeError, ImportError) as exc:  # a class since renamed or moved
        raise ValueError(f"written by another version of aimon ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError("unexpected content")
    return payload


class _Measured(Protocol):
    def same_settings(self, other: Any) -> bool: ...


_Part = TypeVar("_Part", bound=_Measured)


def continued(saved: _Part | None, current: _Part | None) -> _Part | None:
    """What a restored part of a monitor goes on as: the checkpoint's ``saved`` part if it
    was measured as ``current`` is (``same_settings``: the same reference, slices...), else
    ``current`` (starting empty); parts absent from older checkpoints are None."""
    if saved is not None and current is not None and saved.same_settings(current):
        return saved
    return current


def continued_drift(
    saved: _Part | None, current: _Part | None, dropped: Counter[str]
) -> _Part | None:
    """:func:`continued` for a drift tracker: one measured against another reference (or
    drift settings) is not carried on, and the fresh start is counted
    (``dropped["drift_reset"]``)."""
    if saved is not None and current is not None and not saved.same_settings(current):
        dropped["drift_reset"] += 1
    return continued(saved, current)


#: Classes that checkpoints of an earlier aimon name by their old place: (module, name) ->
#: where they live now. A class whose state changed does not belong here.
MOVED_CLASSES: dict[tuple[str, str], tuple[str, str]] = {
    ("aimon.quality.metrics", "QualityStats"): ("aimon.quality.stats", "QualityStats"),
    ("aimon.quality.metrics", "_Confusion"): ("aimon.quality.classification", "Confusion"),
    ("aimon.quality.metrics", "_Scores"): ("aimon.quality.binary_scores", "ScoreHistograms"),
    ("aimon.quality.metrics", "_Errors"): ("aimon.quality.regression", "RegressionSums"),
    ("aimon.quality.join", "_Deadlines"): ("aimon.quality.deadlines", "Deadlines"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = MOVED_CLASSES.get((module, name), (module, name))
        return super().find_class(module, name)


def unpickle(body: bytes) -> Any:
    """A pickled state, its classes looked up where they live now (:data:`MOVED_CLASSES`)."""
    return _Unpickler(io.BytesIO(body)).load()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
