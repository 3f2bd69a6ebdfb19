"""Reading lines from a pipe or standard input (``aimon sidecar --log-file -``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.collectors.lines import LineSplitter
from aimon.collectors.stream import StreamReader


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    st.lists(st.integers(1, 40), max_size=10),
    st.integers(1, 10),
    st.booleans(),
)
def test_splitting_equals_one_split_of_the_whole_stream(lines, cuts, limit, last_newline):
    text = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    splitter = LineSplitter(max_line_bytes=limit)
    got, at = [], 0
    for cut in [*cuts, len(text)]:  # feed the stream in arbitrary pieces
        got += splitter.feed(text[at : at + cut])
        at += cut
    got += splitter.feed(text[at:]) + splitter.finish()
    whole = text.split(b"\n")
    if whole and whole[-1] == b"":
        whole.pop()
    assert got == [line for line in whole if len(line) <= limit]
    too_long = [line for line in whole if len(line) > limit]
    assert splitter.counts["long_lines"] == len(too_long)


def test_a_pipe_is_read_in_batches_to_its_end() -> None:
    read_end, write_end = os.pipe()
    reader = StreamReader(read_end, max_line_bytes=64)
    try:
        os.write(write_end, b'{"a": 1}\n' * 1000 + b"x" * 100 + b"\n" + b"tail")
        os.close(write_end)
        lines: list[bytes] = []
        deadline = time.monotonic() + 10
        while not reader.eof and time.monotonic() < deadline:
            lines += reader.read(max_lines=300)
            time.sleep(0.01)
    finally:
        reader.close()
        os.close(read_end)
    assert lines == [b'{"a": 1}'] * 1000 + [b"tail"]
    assert reader.counts["long_lines"] == 1 and reader.counts["lines"] == 1001
    assert reader.position() is None and reader.error is None


def test_aimon_sidecar_reads_standard_input(tmp_path: Path) -> None:
    from tests.integration.conftest import free_port
    from tests.test_sidecar import line

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aimon", "sidecar", "--log-file", "-", "--host", "127.0.0.1",
         "--port", str(port), "--state-dir", str(tmp_path / "state")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    expected = 'aimon_predictions_total{model="fraud",outcome="ok",version="1"} 25.0'
    try:
        assert process.stdin is not None
        process.stdin.write((line() * 25 + "garbage\n").encode())
        process.stdin.flush()
        body, deadline = "", time.monotonic() + 60
        while expected not in body and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert expected in body
        assert 'reason="malformed",version=""} 1.0' in body
        process.stdin.close()  # the end of the stream: metrics are still served
        time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            assert expected in r.read().decode()
    finally:
        process.terminate()
        process.wait(30)
    assert process.stderr is not None
    assert process.returncode == 0, process.stderr.read()
