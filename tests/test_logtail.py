"""The log tailer against a model (in the style of Vector's file-watcher tests): random
sequences of writes, partial writes, rotations, copy-truncates (with and without the copy, with
lines written between the copy and the truncation), checkpoints, restarts and reads. The lines
read equal the model's exactly: all of them, except those a truncation takes that are in no
copy the tailer can find; and the tailer's counters of truncations, copies read and bytes lost
equal the model's."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aimon.collectors.logtail import LogTailer, TailPosition

#: AIMON_TAIL_EXAMPLES=3000 for a longer search.
EXAMPLES = int(os.environ.get("AIMON_TAIL_EXAMPLES", "300"))


class TailerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="aimon-tail-"))
        self.path = self.dir / "predictions.log"
        self.path.touch()
        self.tailer = LogTailer(self.path, max_line_bytes=4096)
        self.serial = 0
        self.expected: list[bytes] = []  # every complete line the tailer must hand out
        self.delivered: list[bytes] = []
        self.unread_here: list[bytes] = []  # written to the file at the path since the last read
        self.pending: bytes | None = None  # a line whose first part is written, not its end
        self.read_since_rotation = True
        self.rotated = 0
        self.copies = 0
        self.size = 0  # bytes in the file at the path
        # What the tailer knows of the file at the path:
        self.bound = False  # its first bytes (the file was not empty when the tailer looked)
        self.stale = False  # copy-truncated since the tailer looked
        self.read_to = 0  # bytes of it the tailer read
        self.partial = 0  # of which the start of an unfinished line
        self.seen = 0  # the largest size the tailer saw it have
        self.finishing = False  # an older file to finish first: rotated away, or a copy
        self.fragile = False  # ... and rotated or truncated again since: a restart would lose it
        self.counts = {"truncations": 0, "copies_read": 0, "bytes_lost": 0}

    def teardown(self) -> None:
        self.tailer.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.size += len(data)

    def _new_line(self, size: int) -> bytes:
        self.serial += 1
        # the serial reversed: no two files start with the same bytes, however few
        return f"{self.serial:06d}"[::-1].encode() + b":" + b"x" * size

    def _complete_pending(self) -> bytes:
        if self.pending is None:
            return b""
        line, self.pending = self.pending, None
        self.expected.append(line)
        self.unread_here.append(line)
        return line[len(line) // 2 :] + b"\n"

    def _write_lines(self, count: int, size: int) -> list[bytes]:
        data = self._complete_pending()
        written = []
        for _ in range(count):
            line = self._new_line(size)
            self.expected.append(line)
            self.unread_here.append(line)
            written.append(line)
            data += line + b"\n"
        self._append(data)
        return written

    def _looked(self, how: str) -> None:
        """The tailer looked at the file at the path: read it to its end, checked it
        (``position()``), or opened it after a restart."""
        if how == "read":
            self.read_to = self.seen = self.size
            self.partial = len(self.pending) // 2 if self.pending is not None else 0
            self.finishing = self.fragile = False
        elif how == "peek":
            if self.stale:  # the truncation is noticed: the file is read again from its start
                self.read_to = self.partial = 0
            self.seen = self.size
        else:  # restart: from the checkpoint's offset, or the start after an older file
            committed = 0 if self.stale or self.finishing else self.read_to - self.partial
            self.read_to, self.partial = committed, 0
            # the checkpointed file is checked (its size seen) when it is resumed
            self.seen = committed if self.finishing else self.size
        self.bound = self.size > 0
        self.stale = False

    def _rotated_or_truncated(self) -> None:
        self.fragile = self.fragile or self.finishing
        self.bound = False
        self.read_to = self.partial = self.seen = self.size = 0

    @rule(count=st.integers(1, 20), size=st.integers(0, 60))
    def write_lines(self, count: int, size: int) -> None:
        self._write_lines(count, size)

    @precondition(lambda self: self.pending is None)
    @rule(size=st.integers(2, 60))
    def write_partial(self, size: int) -> None:
        line = self._new_line(size)
        self.pending = line
        self._append(line[: len(line) // 2])

    def _rotate_files(self) -> None:
        for i in range(self.rotated, 0, -1):
            os.rename(f"{self.path}.{i}", f"{self.path}.{i + 1}")
        os.rename(self.path, f"{self.path}.1")
        self.rotated += 1
        self.path.touch()
        self.unread_here = []
        self.read_since_rotation = False
        self._rotated_or_truncated()
        self.stale = False
        self.finishing = True  # the file rotated away is finished first

    @precondition(lambda self: self.pending is None and self.read_since_rotation)
    @rule()
    def rotate(self) -> None:
        self._rotate_files()

    @precondition(lambda self: self.pending is None)
    @rule(
        keep=st.booleans(),
        between=st.integers(0, 3),
        look=st.sampled_from(["none", "read", "peek"]),
    )
    def copy_truncate(self, keep: bool, between: int, look: str) -> None:
        """logrotate's copytruncate: copy (or not: compressed, moved away), maybe lines
        written and the tailer looking before the truncation."""
        copy_size = self.size
        if keep:
            self.copies += 1
            shutil.copyfile(self.path, f"{self.path}-copy{self.copies}")
        after_copy = set(self._write_lines(between, 10)) if between else set()
        if look == "read":
            self.read(None)
        elif look == "peek" and not self.finishing:
            self.checkpoint()
        os.truncate(self.path, 0)
        lost = set(self.unread_here)  # not read yet: in the copy, if the tailer finds it
        if self.bound:
            self.counts["truncations"] += 1
            if keep and copy_size >= max(self.read_to, 1):
                self.counts["copies_read"] += 1
                self.counts["bytes_lost"] += max(0, self.seen - copy_size)
                lost = after_copy & lost
                self._rotated_or_truncated()
                self.finishing = True
            else:
                self.counts["bytes_lost"] += max(0, self.seen - self.read_to)
                self._rotated_or_truncated()
        else:
            self._rotated_or_truncated()
        self.expected = [line for line in self.expected if line not in lost]
        self.unread_here = []
        self.stale = True

    def _replace_tailer(self, position: TailPosition | None) -> None:
        counts = self.tailer.counts
        self.tailer.close()
        self.tailer = LogTailer(self.path, position=position, max_line_bytes=4096)
        self.tailer.counts.update(counts)  # as the sidecar's checkpoint keeps them

    @precondition(lambda self: not self.fragile)
    @rule()
    def restart(self) -> None:
        self._replace_tailer(self.tailer.position())
        self._looked("restart")

    @precondition(lambda self: not self.finishing)
    @rule()
    def checkpoint(self) -> None:
        """What the sidecar does on every scrape: ask for the position, read nothing."""
        position = self.tailer.position()
        assert position is not None
        self._looked("peek")

    @precondition(lambda self: self.pending is None and not self.finishing)
    @rule()
    def rotate_while_down(self) -> None:
        position = self.tailer.position()
        self.tailer.close()
        self._looked("restart")
        self._rotate_files()
        self._replace_tailer(position)

    @rule(max_lines=st.none() | st.integers(1, 5))
    def read(self, max_lines: int | None) -> None:
        got = self.tailer.read(max_lines)
        if max_lines is not None:
            assert len(got) <= max_lines
            got += self.tailer.read()
        self.delivered += got
        self.unread_here = []
        self.read_since_rotation = True
        assert self.delivered == self.expected
        self._looked("read")
        assert {k: self.tailer.counts[k] for k in self.counts} == self.counts

    @invariant()
    def nothing_handed_out_that_was_not_written(self) -> None:
        assert self.delivered == self.expected[: len(self.delivered)]


TestTailerModel = TailerModel.TestCase
TestTailerModel.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None)


def write(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


def test_partial_line_is_held_until_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    write(log, b'{"a": 1}\n{"b"')
    tailer = LogTailer(log)
    assert tailer.read() == [b'{"a": 1}']
    assert tailer.read() == []
    write(log, b": 2}\n")
    assert tailer.read() == [b'{"b": 2}']
    assert tailer.counts["lines"] == 2


def test_over_long_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    write(log, b"ok\n" + b"y" * 100 + b"\nafter\n" + b"z" * 50)
    tailer = LogTailer(log, max_line_bytes=20)
    assert tailer.read() == [b"ok", b"after"]
    write(log, b"z" * 50 + b"\nlast\n")
    assert tailer.read() == [b"last"]
    assert tailer.counts["long_lines"] == 2
    assert tailer.counts["bytes_skipped"] == 101 + 101


def test_missing_file_is_reported_then_followed_once_it_appears(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    tailer = LogTailer(log)
    assert tailer.read() == [] and tailer.error is not None and "later.log" in tailer.error
    write(log, b"first\n")
    assert tailer.read() == [b"first"] and tailer.error is None


def test_inode_reuse_with_other_content_is_not_resumed(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    write(log, b"old line one\nold line two\n")
    tailer = LogTailer(log)
    tailer.read()
    position = tailer.position()
    assert position is not None
    tailer.close()
    # the same inode and device, other first bytes: a new file (or rewritten): start over
    reused = TailPosition.from_dict({**position.to_dict(), "head": b"other start".hex()})
    again = LogTailer(log, position=reused)
    assert again.read() == [b"old line one", b"old line two"]
    assert again.counts["truncations"] == 1


def test_position_round_trips_through_json(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    write(log, b"a\nb\n")
    tailer = LogTailer(log)
    tailer.read()
    position = tailer.position()
    assert position is not None and position.offset == 4
    assert TailPosition.from_dict(position.to_dict()) == position


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        LogTailer("x.log", max_line_bytes=0)


def test_copy_truncate_finishes_the_copy_first(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, b"one\ntwo\nthr")
    tailer = LogTailer(log)
    assert tailer.read() == [b"one", b"two"]
    write(log, b"ee\nfour\n")  # the partial line completes, and one more: not read yet
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    write(log, b"five\n")
    assert tailer.read() == [b"three", b"four", b"five"]
    assert tailer.counts["truncations"] == 1 and tailer.counts["copies_read"] == 1
    assert tailer.counts["bytes_lost"] == 0 and tailer.counts["bytes_skipped"] == 0


def test_copy_truncate_while_down_resumes_in_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, b"one\ntwo\n")
    first = LogTailer(log)
    assert first.read(1) == [b"one"]
    position = first.position()
    first.close()
    write(log, b"three\n")
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    write(log, b"four\n")
    second = LogTailer(log, position=position)
    assert second.read(1) == [b"two"]
    in_copy = second.position()  # while the copy is being finished: the copy
    assert in_copy is not None and in_copy.file.ino == (tmp_path / "app.log.1").stat().st_ino
    second.close()
    third = LogTailer(log, position=in_copy)
    assert third.read() == [b"three", b"four"]
    assert second.counts["copies_read"] == 1 and third.counts["reopened"] == 1


def test_without_a_copy_what_was_seen_and_not_read_is_counted_lost(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, b"line 0001\n" * 5)
    tailer = LogTailer(log)
    assert len(tailer.read(2)) == 2  # three lines seen, not read
    os.truncate(log, 0)  # the copy went elsewhere (or was compressed at once)
    write(log, b"new\n")
    assert tailer.read() == [b"new"]
    assert tailer.counts["truncations"] == 1 and tailer.counts["copies_read"] == 0
    assert tailer.counts["bytes_lost"] == 30


def test_lines_seen_between_copy_and_truncate_are_counted_lost(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, b"a\n")
    tailer = LogTailer(log)
    assert tailer.read() == [b"a"]
    write(log, b"b\n")
    shutil.copyfile(log, tmp_path / "app.log.1")
    write(log, b"gap\n")  # in neither file once truncated
    tailer.position()  # a checkpoint: the tailer sees the size, reads nothing
    os.truncate(log, 0)
    assert tailer.read() == [b"b"]
    assert tailer.counts["copies_read"] == 1 and tailer.counts["bytes_lost"] == 4


def test_an_older_file_with_the_same_head_is_not_taken_for_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    header = b"#" * 300 + b"\n"  # a banner longer than the head fingerprint
    (tmp_path / "app.log.1").write_bytes(header + b"x1\nx2\nx3\nx4\n")  # an older rotation
    write(log, header + b"b1\n")
    tailer = LogTailer(log)
    assert tailer.read() == [header[:-1], b"b1"]
    write(log, b"b2\n")
    os.truncate(log, 0)  # no copy of this one
    write(log, b"c1\n")
    assert tailer.read() == [b"c1"]
    assert tailer.counts["truncations"] == 1 and tailer.counts["copies_read"] == 0


def test_a_position_from_before_tails_were_kept_still_loads(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    write(log, b"a\nb\n")
    tailer = LogTailer(log)
    assert tailer.read(1) == [b"a"]
    position = tailer.position()
    assert position is not None and bytes.fromhex(position.tail) == b"a\n"
    tailer.close()
    old = {k: v for k, v in position.to_dict().items() if k != "tail"}
    again = LogTailer(log, position=TailPosition.from_dict(old))
    assert again.read() == [b"b"]


def test_an_over_long_line_cut_by_a_restart_is_counted_once(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    log.write_bytes(b"ok\n" + b"x" * 300)  # an over-long line, not ended yet
    first = LogTailer(log, max_line_bytes=100)
    assert first.read() == [b"ok"]
    assert first.counts["long_lines"] == 0  # counted when it ends, not while it grows
    position, counts = first.position(), Counter(first.counts)
    first.close()  # a crash here: the checkpoint holds the offset before the long line
    with log.open("ab") as out:
        out.write(b"y" * 50 + b"\nnext\n")
    second = LogTailer(log, position=position, max_line_bytes=100)
    second.counts.update(counts)
    assert second.read() == [b"next"]
    assert second.counts["long_lines"] == 1 and second.counts["bytes_skipped"] == 351
    second.close()
