"""A journal of posted outcomes: what makes ``POST /outcomes`` safe without a checkpoint per post.

A checkpoint pickles every monitor's join, so writing one per post cost each post the whole
join (92 ms with 100,000 predictions held). Instead each post is appended to the journal, one
outcome line per item (the outcomes-log format, plus the post's number) and fsynced before it
is acknowledged; the periodic checkpoint records the number of the last post it includes and
empties the journal. At start the posts after that number are replayed.

>>> import tempfile, pathlib
>>> from aimon.quality.outcomes import Outcome
>>> path = pathlib.Path(tempfile.mkdtemp()) / "outcomes.journal"
>>> journal = OutcomeJournal(path)
>>> journal.append([Outcome("r1", 1, ts=5.0)]), journal.append([Outcome("r2", 0, ts=6.0)])
(1, 2)
>>> [[o.request_id for o in post] for post in OutcomeJournal(path).replay(after=1)]
[['r2']]
>>> journal.checkpointed(2); OutcomeJournal(path).replay(after=0)
[]
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from aimon.errors import CheckpointError, MalformedEventError
from aimon.quality.outcomes import Outcome, outcome_from_record

__all__ = ["OutcomeJournal"]


class OutcomeJournal:
    """Posted outcomes, appended and fsynced, until a checkpoint holds them.

    Args:
        path: the journal file (created with mode 0600; a torn last line, from a crash in
            the middle of an append that was never acknowledged, is cut off).
        after: the number of the last post a checkpoint holds (numbers continue from it).

    Raises:
        CheckpointError: the file cannot be opened, read or written.
    """

    def __init__(self, path: str | os.PathLike[str], after: int = 0) -> None:
        self.path = Path(path)
        self.seq = after
        try:
            data = self.path.read_bytes() if self.path.exists() else b""
            whole = data[: data.rfind(b"\n") + 1]
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            if len(whole) < len(data):
                os.ftruncate(self._fd, len(whole))
        except OSError as exc:
            raise CheckpointError(f"{self.path}: cannot open the journal: {exc}") from None
        self._posts = _read(whole)
        if self._posts:
            self.seq = max(self.seq, self._posts[-1][0])
        self.size = len(whole)

    def append(self, outcomes: Sequence[Outcome]) -> int:
        """Write one post durably; returns its number. An outcome without a time gets now,
        so a replay places it where the live post did.

        Raises:
            CheckpointError: it could not be written (nothing of it counts as journaled).
        """
        seq = self.seq + 1
        now = time.time()
        lines = b"".join(
            json.dumps(
                {
                    "post": seq,
                    "request_id": o.request_id,
                    "actual": o.actual,
                    "ts": now if o.ts is None else o.ts,
                    "model": o.model,
                    "version": o.version,
                },
                allow_nan=False,
            ).encode()
            + b"\n"
            for o in outcomes
        )
        try:
            os.write(self._fd, lines)
            os.fsync(self._fd)
        except OSError as exc:
            # A part written is a torn post: cut it, so a replay never sees half of it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise CheckpointError(f"{self.path}: cannot append to the journal: {exc}") from None
        self.seq = seq
        self.size += len(lines)
        return seq

    def replay(self, after: int) -> list[list[Outcome]]:
        """The posts found in the file at open whose number is above ``after``, in order."""
        return [post for seq, post in self._posts if seq > after]

    def checkpointed(self, seq: int) -> None:
        """A checkpoint now holds every post up to ``seq``: if that is all of them, empty
        the file (a failure to is harmless: the replay skips what a checkpoint holds)."""
        self._posts = []
        if seq >= self.seq and self.size:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                return
            self.size = 0

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


def _read(data: bytes) -> list[tuple[int, list[Outcome]]]:
    posts: list[tuple[int, list[Outcome]]] = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
            seq = int(record["post"])
            outcome = outcome_from_record(record)
        except (ValueError, KeyError, TypeError, MalformedEventError):
            continue  # only aimon writes the file: a line it cannot read is not a post
        if posts and posts[-1][0] == seq:
            posts[-1][1].append(outcome)
        else:
            posts.append((seq, [outcome]))
    return posts
