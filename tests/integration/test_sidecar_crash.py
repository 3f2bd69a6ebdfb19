"""kill -9 at random points, rotation while down, restart: every valid line counted once,
every malformed line counted once, and no counter Prometheus saw ever goes backwards."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import free_port, http_get, wait_until

pytestmark = pytest.mark.integration

TOTAL = re.compile(
    r'^aimon_predictions_total\{model="fraud",outcome="ok",version="1"\} (\S+)$', re.M
)
MALFORMED = re.compile(
    r'^aimon_events_dropped_total\{model="default",reason="malformed",version=""\} (\S+)$',
    re.M,
)


def lines(count: int) -> str:
    record = {"ts": time.time(), "model": "fraud", "version": "1", "latency_ms": 5.0,
              "features": {"age": 30, "plan": "pro"}}  # fmt: skip
    return (json.dumps(record) + "\n") * count


def append(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text)


class SidecarProcess:
    def __init__(self, log: Path, state: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aimon", "sidecar", "--log-file", str(log), "--state-dir",
             str(state), "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def scrape(self) -> tuple[float, float]:
        body = http_get(f"{self.url}/metrics")[2].decode()
        total, malformed = TOTAL.search(body), MALFORMED.search(body)
        return (float(total.group(1)) if total else 0.0,
                float(malformed.group(1)) if malformed else 0.0)  # fmt: skip

    def ready(self) -> bool:
        try:
            return http_get(f"{self.url}/ready")[0] == 200
        except OSError:
            return False


def test_kill_9_rotation_and_restart_count_each_line_once(tmp_path: Path) -> None:
    rng = random.Random(11)
    log, state = tmp_path / "predictions.log", tmp_path / "state"
    valid = malformed = 0
    seen: list[tuple[float, float]] = []
    port = free_port()
    for round_ in range(6):
        for _ in range(rng.randint(1, 4)):
            count, bad = rng.randint(50, 400), rng.randint(0, 3)
            append(log, lines(count) + "not json\n" * bad)
            valid, malformed = valid + count, malformed + bad
        sidecar = SidecarProcess(log, state, port)
        try:
            wait_until(sidecar.ready, timeout=60, what="sidecar caught up")
            seen.append(sidecar.scrape())  # checkpointed before it answered
            count = rng.randint(500, 3000)
            append(log, lines(count) + "{}\n")  # {} has no ts: malformed
            valid, malformed = valid + count, malformed + 1
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            sidecar.process.send_signal(signal.SIGKILL)
            sidecar.process.wait(10)
        if rng.random() < 0.5:  # rotated while the sidecar is down
            os.rename(log, tmp_path / f"predictions.log.{round_}")
            log.touch()  # the logger opens its new file
    final = SidecarProcess(log, state, port)
    try:
        wait_until(final.ready, timeout=60, what="the last sidecar caught up")
        time.sleep(1.0)
        got = final.scrape()
        assert got == (valid, malformed), (got, valid, malformed, seen)
        seen.append(final.scrape())
    finally:
        final.process.send_signal(signal.SIGTERM)
        _, err = final.process.communicate(timeout=30)
    assert final.process.returncode == 0, err
    assert seen[-1] == (valid, malformed)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(seen))
