"""A gunicorn app with 4 workers using ``log_to=`` and one sidecar: every request counted once.

A real ``gunicorn -w 4`` serves tests/integration/gunicorn_app.py on a loopback port; each
worker's Monitor appends its events to one shared log; one ``aimon sidecar`` process reads that
log. The test sends 2000 requests (one in ten makes the model raise) from 8 client threads,
stops gunicorn with SIGTERM (graceful: workers finish and exit normally) and then checks that
the log holds exactly one whole line per request, per worker as each answer said, and that the
sidecar's ``/metrics`` counts exactly the requests sent, by outcome and error type. The app does
nothing to flush at exit: a worker's last events reach the log through aimon alone.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aimon.events import decode_event

from .conftest import free_port, http_get, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("gunicorn") is None,
        reason="gunicorn is not installed (it is in the dev extra: pip install -e '.[dev]')",
    ),
]

WORKERS = 4
REQUESTS = 2000
FAIL_EVERY = 10  # request i fails when i % FAIL_EVERY == 0
CLIENTS = 8
APP_DIR = Path(__file__).parent


def _no_control_socket() -> list[str]:
    """gunicorn >= 25.1 listens on ~/.gunicorn/gunicorn.ctl, shared by every gunicorn of the
    user (parallel test runs); the test's servers need none."""
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        return []
    known = {s.name for s in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in known else []


NO_CONTROL_SOCKET = _no_control_socket()

# A server hook run in each worker once its app is loaded (after the fork in both modes).
HOOKS = """
def post_worker_init(worker):
    worker.log.info("app ready in worker %s", worker.pid)
"""


def send(base: str, i: int) -> tuple[int, int]:
    """One request; returns (HTTP status, the pid of the worker that answered)."""
    plan = ("free", "pro", "team")[i % 3]
    fail = "&fail=1" if i % FAIL_EVERY == 0 else ""
    url = f"{base}/predict?x={i % 97}&plan={plan}{fail}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status, int(response.headers["X-Worker-Pid"])
    except urllib.error.HTTPError as exc:  # the 422 of a handled model error
        with exc:
            exc.read()
            return exc.code, int(exc.headers["X-Worker-Pid"])


def sidecar_counts(url: str) -> dict[tuple[str, str], float]:
    """The sidecar's counters for the model: ("outcome", ok|error) and ("error_type", name)."""
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(http_get(f"{url}/metrics")[2].decode()):
        for sample in family.samples:
            if sample.labels.get("model") != "gunicorn":
                continue
            if sample.name == "aimon_predictions_total":
                assert sample.labels["version"] == "1", sample
                counts["outcome", sample.labels["outcome"]] = sample.value
            elif sample.name == "aimon_prediction_errors_total":
                counts["error_type", sample.labels["error_type"]] = sample.value
    return counts


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise


@pytest.mark.parametrize("preload", [False, True], ids=["per-worker", "preload"])
def test_four_gunicorn_workers_and_one_sidecar_count_every_request_once(
    tmp_path: Path, preload: bool
) -> None:
    event_log = tmp_path / "predictions.log"
    event_log.touch()  # the sidecar starts first, on an empty log
    port, sidecar_port = free_port(), free_port()
    base, sidecar_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sidecar_port}"
    gunicorn_out = (tmp_path / "gunicorn.out").open("wb")
    sidecar_out = (tmp_path / "sidecar.out").open("wb")
    hooks = tmp_path / "gunicorn.conf.py"
    hooks.write_text(HOOKS)
    sidecar = subprocess.Popen(
        [sys.executable, "-m", "aimon", "sidecar", "--log-file", str(event_log),
         "--state-dir", str(tmp_path / "state"), "--host", "127.0.0.1",
         "--port", str(sidecar_port)],
        stdout=sidecar_out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(WORKERS),
         "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "--chdir", str(APP_DIR),
         "--config", str(hooks), "--graceful-timeout", "20", "--log-level", "info",
         *(["--preload"] if preload else []), *NO_CONTROL_SOCKET, "gunicorn_app:create_app()"],
        stdout=gunicorn_out, stderr=subprocess.STDOUT,
        env={**os.environ, "GUNICORN_TEST_EVENT_LOG": str(event_log)},
    )  # fmt: skip
    try:
        wait_until(lambda: http_get(f"{sidecar_url}/ready")[0] == 200, what="sidecar ready")
        wait_until(
            lambda: (tmp_path / "gunicorn.out").read_text().count("app ready in worker") == WORKERS,
            what=f"{WORKERS} gunicorn workers ready",
        )
        assert _status(f"{base}/") == 404  # serving, and no prediction made yet

        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda i: send(base, i), range(REQUESTS)))

        errors_sent = sum(1 for i in range(REQUESTS) if i % FAIL_EVERY == 0)
        statuses = collections.Counter(status for status, _ in answers)
        assert statuses == {200: REQUESTS - errors_sent, 422: errors_sent}
        served = collections.Counter(pid for _, pid in answers)
        assert len(served) == WORKERS, f"not every worker served requests: {served}"
        failed_by = collections.Counter(
            pid for i, (_, pid) in enumerate(answers) if i % FAIL_EVERY == 0
        )

        # Graceful stop: the master passes SIGTERM on; each worker finishes and exits.
        assert stop(gunicorn) == 0, (tmp_path / "gunicorn.out").read_text()
        worker_exits = (tmp_path / "gunicorn.out").read_text().count("Worker exiting")
        assert worker_exits == WORKERS, (tmp_path / "gunicorn.out").read_text()

        # The log: one whole line per request, each from the worker that answered it.
        lines = event_log.read_bytes().splitlines()
        assert len(lines) == REQUESTS
        events = [decode_event(line) for line in lines]
        assert {(e.model, e.version) for e in events} == {("gunicorn", "1")}
        assert all(e.features is not None for e in events)
        logged_by = collections.Counter(int(e.features["pid"]) for e in events)  # type: ignore[index]
        assert logged_by == served
        errors_by = collections.Counter(
            int(e.features["pid"])  # type: ignore[index]
            for e in events
            if e.error is not None
        )
        assert errors_by == failed_by
        assert {e.error for e in events} == {None, "ValueError"}
        assert all((e.error is None) == (e.prediction is not None) for e in events)
        xs = sorted(float(e.features["x"]) for e in events)  # type: ignore[index]
        assert xs == sorted(float(i % 97) for i in range(REQUESTS))

        # The sidecar: exactly the requests sent, by outcome and by error type.
        expected = {
            ("outcome", "ok"): REQUESTS - errors_sent,
            ("outcome", "error"): errors_sent,
            ("error_type", "ValueError"): errors_sent,
        }
        wait_until(
            lambda: sidecar_counts(sidecar_url) == expected,
            timeout=20,
            what=f"sidecar counts {expected}",
        )
        assert sidecar_counts(sidecar_url) == expected  # and they stay there
        assert stop(sidecar) == 0, (tmp_path / "sidecar.out").read_text()
    finally:
        for process in (gunicorn, sidecar):
            if process.poll() is None:
                process.kill()
                process.wait(10)
        gunicorn_out.close()
        sidecar_out.close()


def _status(url: str) -> int:
    try:
        return http_get(url)[0]
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code
