"""aimon's endpoints in several server workers say so: a real gunicorn with 2 workers (and
one with 1, which must not), and a process whose command line is uvicorn's with --workers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aimon.exporters.workers import MultiWorker, multi_worker_server

from .conftest import free_port, http_get, wait_until
from .test_gunicorn import NO_CONTROL_SOCKET

pytestmark = pytest.mark.integration
needs_gunicorn = pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None, reason="gunicorn is not installed"
)
APP_DIR = Path(__file__).parent


def serve_and_read_status(workers: int, tmp_path: Path) -> tuple[dict, str]:
    port = free_port()
    log = tmp_path / f"gunicorn-{workers}.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--chdir", str(APP_DIR), *NO_CONTROL_SOCKET, "multiworker_app:create_app()"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/status"
            wait_until(lambda: http_get(url)[0] == 200, what="gunicorn serving")
            # Every worker answers in turn; ask enough times to hear from each.
            answers = [json.loads(http_get(url)[2]) for _ in range(4 * workers)]
        finally:
            server.terminate()
            server.wait(30)
    status = answers[-1]
    assert all(a.get("multi_worker") == status.get("multi_worker") for a in answers)
    return status, log.read_text()


@needs_gunicorn
def test_gunicorn_with_two_workers_is_reported_in_the_log_and_status(tmp_path: Path) -> None:
    status, log = serve_and_read_status(2, tmp_path)
    found = status["multi_worker"]
    assert (found["server"], found["workers"]) == ("gunicorn", 2)
    assert "log_to=" in found["advice"] and "aimon sidecar" in found["advice"]
    assert log.count("aimon runs in one of 2 gunicorn worker processes") == 2  # once a worker


@needs_gunicorn
def test_gunicorn_with_one_worker_is_not(tmp_path: Path) -> None:
    status, log = serve_and_read_status(1, tmp_path)
    assert "multi_worker" not in status and "worker processes" not in log


def test_a_uvicorn_with_workers_is_recognised_by_its_command_line() -> None:
    fake = subprocess.Popen(
        ["uvicorn", "-c", "import time; time.sleep(60)", "app:app", "--workers", "3"],
        executable=sys.executable,
    )
    try:
        wait_until(lambda: Path(f"/proc/{fake.pid}/cmdline").read_bytes().startswith(b"uvicorn"),
                   what="the process's command line")  # fmt: skip
        assert multi_worker_server({}, pid=fake.pid) == MultiWorker("uvicorn", 3)
        assert multi_worker_server({"WEB_CONCURRENCY": "1"}, pid=fake.pid) is not None
    finally:
        fake.kill()
        fake.wait()
    assert multi_worker_server({}) is None  # this test process is no server's worker
