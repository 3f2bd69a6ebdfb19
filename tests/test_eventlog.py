"""Monitor(log_to=...): every event a JSON line, shared by processes, read back by the sidecar."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import aimon
from aimon.collectors.eventlog import EventLogWriter
from aimon.collectors.logtail import LogTailer
from aimon.events import Event, decode_event
from aimon.sidecar import Sidecar


def worker(path: str, index: int, calls: int) -> None:
    mon = aimon.Monitor("svc", version="2", log_to=path)
    predict = mon.watch(lambda features: 0.25)
    for i in range(calls):
        if i % 10 == 0:
            mon.observe(latency_s=0.002, error="TimeoutError", features={"w": index})
        else:
            predict({"w": index, "i": i, "plan": "pro"})
    mon.close()


def test_four_processes_share_one_log_and_every_event_is_counted_once(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    # spawn, not fork: a fork copies whatever lock another thread of this test process (a
    # fold thread of another test's Monitor) holds at that instant, and the child can hang.
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=worker, args=(str(log), k, 3000)) for k in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    lines = log.read_bytes().splitlines()
    assert len(lines) == 12_000
    events = [decode_event(line) for line in lines]  # every line whole: none interleaved
    assert sum(e.error == "TimeoutError" for e in events) == 1200
    ok = [e for e in events if e.error is None]
    assert all(e.prediction == 0.25 and e.features and e.features["plan"] == "pro" for e in ok)
    assert {e.model for e in events} == {"svc"} and {e.version for e in events} == {"2"}
    sidecar = Sidecar(str(log))
    try:
        sidecar.step()
        snap = sidecar.monitors[("svc", "2")].snapshot()
    finally:
        sidecar.close()
    assert snap.totals.calls == 12_000 and snap.totals.errors == {"TimeoutError": 1200}
    assert snap.features["plan"].top == {"pro": 10_800} and snap.features["plan"].missing == 1200


def test_size_rotation_is_followed_by_the_tailer(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    writer = EventLogWriter(log, max_bytes=2000, backups=50)
    tailer = LogTailer(log)
    read = 0
    for batch in range(40):
        writer.write([Event(ts=1.7e9 + batch, model="m", latency_s=0.01)] * 10)
        read += len(tailer.read())
    writer.close()
    read += len(tailer.read())
    assert read == 400 and writer.lines_written == 400
    assert tailer.counts["rotations"] >= 5
    rotated = [p for p in tmp_path.glob("events.log.*") if p.suffix != ".lock"]
    kept = sum(len(p.read_bytes().splitlines()) for p in [log, *rotated])
    assert kept == 400  # 50 backups: nothing rotated away yet
    assert all(json.loads(line)["model"] == "m" for line in log.read_bytes().splitlines())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forks_while_another_thread_writes_the_log_never_leave_a_child_hanging(
    tmp_path: Path,
) -> None:
    log = tmp_path / "events.log"
    mon = aimon.Monitor("forking", log_to=log)
    predict = mon.watch(lambda features: 0.5)
    wide = {f"f{i}": float(i) for i in range(64)}  # long lines: long writes under the lock
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            for _ in range(100):
                predict(wide)
            mon.flush()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    children = []
    try:
        for k in range(100):
            time.sleep(0.002)  # let the writer be anywhere in its loop at the fork
            pid = os.fork()
            if pid == 0:  # the child: record one call, write it, leave
                code = 1
                try:
                    predict({"child": k})
                    mon.flush()
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
    finally:
        stop.set()
        writer.join(30)
    exits: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(exits) < len(children) and time.monotonic() < deadline:
        for pid in children:
            if pid not in exits:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exits[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    hung = [pid for pid in children if pid not in exits]
    for pid in hung:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    mon.close()
    assert hung == [], f"{len(hung)} of 100 children hung"
    assert set(exits.values()) == {0}
    events = [decode_event(line) for line in log.read_bytes().splitlines()]
    written = sorted(e.features["child"] for e in events if e.features and "child" in e.features)
    assert written == list(range(100))  # every child wrote its call, whole
