"""Real servers for integration tests: started on loopback ports, stopped afterwards."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # the server may not be up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last error: {last_error!r}")


class ServerProcess:
    """A server binary run on a loopback port, its output in a log file."""

    url: str

    def _spawn(self, args: list[str], log_path: Path, what: str) -> None:
        self._log = log_path.open("w")
        self._process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(lambda: http_get(f"{self.url}/-/ready")[0] == 200, what=f"{what} ready")

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()


class Prometheus(ServerProcess):
    """A real Prometheus process scraping the given targets every second and evaluating its
    rules every second (or every ``evaluation_interval``)."""

    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        rule_files: list[Path] | None = None,
        evaluation_interval: str = "1s",
    ):
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not installed: `make test` installs it with apt-get")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": evaluation_interval},
            "rule_files": [str(p) for p in (rule_files or [])],
            "scrape_configs": [
                {"job_name": "aimon", "static_configs": [{"targets": targets}]},
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(json.dumps(config))  # JSON is YAML
        args = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        self._spawn(args, workdir / "prometheus.log", "prometheus")

    def query(self, promql: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = json.loads(http_get(url)[2])
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict]:
        return wait_until(lambda: self.query(promql), timeout=timeout, what=promql)


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator:
    started: list[Prometheus] = []

    def start(
        targets: list[str], rule_files: list[Path] | None = None, evaluation_interval: str = "1s"
    ) -> Prometheus:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        server = Prometheus(workdir, targets, rule_files, evaluation_interval)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Alertmanager(ServerProcess):
    """A real Alertmanager process (no cluster) on a loopback port; restartable on the same
    port with empty state, as after a crash."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("prometheus-alertmanager")
        if self.binary is None:
            pytest.fail("prometheus-alertmanager is not installed: `make test` installs it")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "route": {"receiver": "null", "group_wait": "1s", "group_interval": "1s"},
            "receivers": [{"name": "null"}],
        }
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(json.dumps(config))  # JSON is YAML
        self.starts = 0
        self.start()

    def start(self) -> None:
        self.starts += 1
        storage = self.workdir / f"data-{self.starts}"
        args = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        self._spawn(args, self.workdir / f"alertmanager-{self.starts}.log", "alertmanager")

    def alerts(self) -> list[dict]:
        """The alerts Alertmanager holds as active (not resolved)."""
        return json.loads(http_get(f"{self.url}/api/v2/alerts")[2])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path)
    yield server
    server.stop()


class SidecarProcess:
    """``python -m aimon sidecar`` on a loopback port (a free one unless given), its output in
    ``output`` (stderr kept in a pipe without it, for the test to read)."""

    def __init__(
        self,
        log: Path,
        state: Path,
        output: Path | None = None,
        *,
        reference: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "aimon", "sidecar", "--log-file", str(log), "--state-dir",
                   str(state), "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        if reference is not None:
            command += ["--reference", str(reference)]
        self._output = output.open("w") if output is not None else None
        self.process = subprocess.Popen(
            command,
            stdout=self._output or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._output else subprocess.PIPE,
            text=True,
        )

    def ready(self) -> bool:
        try:
            return http_get(f"{self.url}/ready")[0] == 200
        except OSError:
            return False

    def predictions(self) -> float:
        """The predictions the sidecar has counted, from its own /metrics (-1 if down)."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            body = http_get(f"{self.url}/metrics")[2].decode()
        except OSError:
            return -1.0
        return sum(
            sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.name == "aimon_predictions_total"
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self._output is not None:
            self._output.close()
