"""The log tailer against a model (in the style of Vector's file-watcher tests): random
sequences of writes, partial writes, rotations, truncations, restarts and reads; the lines
read equal the model's, except those a truncation takes before they were read."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aimon.collectors.logtail import LogTailer, TailPosition


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

    def teardown(self) -> None:
        self.tailer.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _new_line(self, size: int) -> bytes:
        self.serial += 1
        return f"{self.serial:06d}:".encode() + b"x" * size

    def _complete_pending(self) -> bytes:
        if self.pending is None:
            return b""
        line, self.pending = self.pending, None
        self.expected.append(line)
        self.unread_here.append(line)
        return line[len(line) // 2 :] + b"\n"

    @rule(count=st.integers(1, 20), size=st.integers(0, 60))
    def write_lines(self, count: int, size: int) -> None:
        data = self._complete_pending()
        for _ in range(count):
            line = self._new_line(size)
            self.expected.append(line)
            self.unread_here.append(line)
            data += line + b"\n"
        self._append(data)

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

    @precondition(lambda self: self.pending is None and self.read_since_rotation)
    @rule()
    def rotate(self) -> None:
        self._rotate_files()

    @precondition(lambda self: self.pending is None)
    @rule()
    def copy_truncate(self) -> None:
        shutil.copyfile(self.path, f"{self.path}.copy")
        os.truncate(self.path, 0)
        lost = set(self.unread_here)  # written after the last read: only in the copy now
        self.expected = [line for line in self.expected if line not in lost]
        self.unread_here = []

    @rule()
    def restart(self) -> None:
        position = self.tailer.position()
        self.tailer.close()
        self.tailer = LogTailer(self.path, position=position, max_line_bytes=4096)

    @precondition(lambda self: self.pending is None and self.read_since_rotation)
    @rule()
    def rotate_while_down(self) -> None:
        position = self.tailer.position()
        self.tailer.close()
        self._rotate_files()
        self.tailer = LogTailer(self.path, position=position, max_line_bytes=4096)

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

    @invariant()
    def nothing_handed_out_that_was_not_written(self) -> None:
        assert self.delivered == self.expected[: len(self.delivered)]


TestTailerModel = TailerModel.TestCase
TestTailerModel.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


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
