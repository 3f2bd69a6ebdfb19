"""The demo's story holds: a spike, an error burst, the drifting feature named, the alerts
firing and then resolving as traffic recovers (in the terminal and at a real webhook), the
estimated accuracy falling during the drift before the delayed labels show it, the drift
report written, and ``--serve`` serving on until SIGTERM."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aimon.cli import main
from aimon.demo import DemoSettings, run_demo
from aimon.demo.scenario import DRIFT_FROM, FRAUD_SCORE, QUALITY_DROP, training_data
from aimon.demo.terminal import HEADER

#: The story's length in the test (the default is 10 s); outcomes arrive a tenth of it late,
#: 0.8 s, well over the status lines' half-second: the estimate's lead shows as a line.
DURATION = 8.0
#: A status line's time, phase, estimated accuracy with its interval, and realised accuracy.
STATUS = re.compile(
    r"^\s*(?P<at>\d+\.\d)s\s+(?P<phase>[a-z ]+?)\s+\d+ .*%\s+"
    r"(?:(?P<est>\d\.\d\d) \[(?P<lo>\d\.\d\d), (?P<hi>\d\.\d\d)\]|-)\s+"
    r"(?P<real>\d\.\d\d|-)\s"
)


def status_rows(text: str) -> list[re.Match[str]]:
    """The status lines printed while the scenario ran (not the summary's)."""
    live = text.split(HEADER + "\n", 1)[1].split("\neach phase at its peak", 1)[0]
    return [m for line in live.splitlines() if (m := STATUS.match(line))]


class _Receiver(BaseHTTPRequestHandler):
    """Keeps every JSON body POSTed to it, with its Idempotency-Key."""

    received: list[tuple[str | None, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers.get("Idempotency-Key"), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str | None, dict[str, Any]]]]]:
    received: list[tuple[str | None, dict[str, Any]]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def assert_estimate_fell_before_the_labels(text: str, reference: float) -> None:
    """The estimate from the scores says it first: its alert fires before the one on the
    realised accuracy, its status lines fall (during the drift) before the realised ones do,
    and the summary says when each fell."""
    assert text.index("alert: [FIRING] EstimatedQualityBelowReference") < text.index(
        "alert: [FIRING] QualityBelowReference"
    )
    rows = status_rows(text)
    assert len(rows) >= 10, text
    assert all(r["est"] is not None for r in rows)  # the scores are estimated from the start
    before = [r for r in rows if float(r["at"]) < DRIFT_FROM * DURATION and r["real"] != "-"]
    assert before and all(abs(float(r["est"]) - reference) < 0.05 for r in before), before
    assert all(float(r["lo"]) <= float(r["est"]) <= float(r["hi"]) for r in rows)
    fell_est = next(i for i, r in enumerate(rows) if float(r["est"]) <= reference - QUALITY_DROP)
    fell_real = next(
        i
        for i, r in enumerate(rows)
        if r["real"] != "-" and float(r["real"]) <= reference - QUALITY_DROP
    )
    assert fell_est < fell_real, [r.group(0) for r in rows]
    assert float(rows[fell_est]["at"]) >= DRIFT_FROM * DURATION  # during the drift, not before
    said = re.search(
        r"estimated accuracy fell to (\d\.\d\d) \[[^]]+\] at (\d+\.\d)s.*\n"
        r"  realised labels arrived at (\d+\.\d)s and showed (\d\.\d\d)",
        text,
    )
    assert said is not None, text
    assert float(said[2]) < float(said[3])
    assert float(said[1]) <= reference - QUALITY_DROP + 0.005  # rounded as printed
    assert float(said[4]) <= reference - QUALITY_DROP + 0.005


def test_demo_tells_the_story_to_the_terminal_the_webhook_and_the_report(
    tmp_path: Path, webhook: tuple[str, list[tuple[str | None, dict[str, Any]]]]
) -> None:
    url, received = webhook
    report = tmp_path / "report.html"
    out = io.StringIO()
    run = run_demo(DemoSettings(duration_s=DURATION, port=0, webhook=url, report=report), out)
    text = out.getvalue()
    history = run.history
    assert "drift first seen" in text
    assert "in: amount" in text
    assert "age" not in text.split("drift first seen")[1].split("\n")[0]
    assert any(s.drift_window and "amount" in s.drift_window.drifted for s in history)
    story = text.split("\nalerts:\n")[1]
    for name in ("ErrorRateHigh", "FeatureDriftPSI{feature=amount}", "LatencyP95High"):
        line = next(line for line in story.splitlines() if line.strip().startswith(name))
        assert "fired" in line and "resolved" in line, line
    assert "alert: [FIRING] ErrorRateHigh" in text and "alert: [RESOLVED] ErrorRateHigh" in text
    assert max(s.latency.p95 or 0 for s in history) > 0.1
    assert max(s.error_rate for s in history) > 0.05
    # Delayed outcomes: accuracy is good before the drift, falls while drifting.
    acc = [
        s.quality.accuracy
        for s in history
        if s.quality is not None and s.quality.count >= 100 and s.quality.accuracy is not None
    ]
    assert max(acc) > 0.9 and min(acc) < 0.86, acc
    assert "model quality (outcomes arrive" in text
    # The drift phase is a tenth of the run: on a loaded machine no status line may fall in
    # it; when one does, the summary gives the phase its line.
    if any(line.split()[1:2] == ["drift"] for line in text.splitlines()):
        assert "drift          at" in text or "drift          no outcomes yet" in text
    train = training_data()
    reference = float(((train["score"] >= FRAUD_SCORE) == (train["fraud"] == 1)).mean())
    assert f"training data          accuracy {reference:.2f}" in text  # the baseline
    for name in ("EstimatedQualityBelowReference", "QualityBelowReference"):
        line = next(line for line in story.splitlines() if line.strip().startswith(name))
        assert "fired" in line, line
    assert_estimate_fell_before_the_labels(text, reference)

    # The webhook heard every alert fire and resolve, in Alertmanager's payload.
    seen = {
        (alert["labels"]["alertname"], alert["labels"].get("feature"), alert["status"])
        for _, payload in received
        for alert in payload["alerts"]
    }
    for name, feature in [
        ("LatencyP95High", None),
        ("ErrorRateHigh", None),
        ("FeatureDriftPSI", "amount"),
    ]:
        assert (name, feature, "firing") in seen and (name, feature, "resolved") in seen, seen
    assert all(key for key, _ in received)
    assert {payload["version"] for _, payload in received} == {"4"}
    delivered = run.notifications["webhook"]
    assert delivered.get("delivered") == len(received) and not delivered.get("failed")
    assert f"webhook: {len(received)} delivered, 0 failed" in text
    assert url not in text  # a webhook URL is a secret

    # The report: an HTML page comparing the drift phase with the training data.
    assert run.report == report.resolve()
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "amount" in page
    assert run.drift is not None
    assert "amount" in run.drift.drifted_columns
    assert "age" not in run.drift.drifted_columns
    assert "country" not in run.drift.drifted_columns
    assert f"report: {report.resolve()}" in text
    assert "amount   DRIFTED" in text


def test_demo_checks_its_options_before_running(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["demo", "--webhook", "ftp://x"], out=err) == 2
    assert main(["demo", "--report", str(tmp_path / "missing" / "r.html")], out=err) == 2
    assert main(["demo", "--duration", "0"], out=err) == 2
    assert err.getvalue() == ""  # refused before anything ran


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _calls(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("aimon_predictions_total{")
    )


def test_demo_serve_keeps_metrics_up_until_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimon", "demo", "--duration", "3", "--workers", "4",
         "--port", "0", "--serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    output: list[str] = []
    try:
        while not any("until Ctrl-C" in line for line in output):
            output.append(lines.get(timeout=60))
        serving = next(line for line in output if line.startswith("serving http"))
        metrics_url = serving.split()[1]
        first = _calls(_scrape(metrics_url))
        assert first > 0
        # The scenario is over and the server still answers, with traffic still flowing.
        while (later := _calls(_scrape(metrics_url))) <= first:
            threading.Event().wait(0.2)
        assert later > first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    while not lines.empty():
        output.append(lines.get())
    text = "".join(output)
    assert "stopped after serving" in text
    report = tmp_path / "aimon-demo-report.html"
    assert f"report: {report.resolve()}" in text
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "prometheus --config.file=deploy/prometheus/prometheus.yml" in text
    assert "Traceback" not in text
