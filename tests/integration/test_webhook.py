"""WebhookSink against a real local HTTP server: failing, hanging, and down."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import aimon
from aimon.alerts import Alert, Router, WebhookSink
from aimon.thresholds import Rule

from .conftest import free_port

pytestmark = pytest.mark.integration


class Receiver:
    """A webhook receiver that fails its first ``fail_first`` requests with 503 and can hang."""

    def __init__(self, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.requests: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    n = len(receiver.requests)
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)
                self.send_response(503 if n <= receiver.fail_first else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=T0KEN"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alert(name: str = "Errors") -> Alert:
    return Alert(
        labels={"alertname": name, "model": "fraud", "severity": "critical"},
        annotations={"summary": "bad"},
        state="firing",
        starts_at=datetime.now(timezone.utc),
    )


def test_failing_receiver_is_retried_then_gets_the_notification_once(caplog):
    caplog.set_level(logging.INFO, logger="aimon.alerts")
    receiver = Receiver(fail_first=2)
    router = Router([WebhookSink(receiver.url, token="s3cret", timeout=2)], backoff=0.05)
    try:
        router.submit([alert()])
        assert router.flush(10)
    finally:
        router.close()
        receiver.close()
    assert router.stats()["webhook"] == {"delivered": 1, "failed": 0, "dropped": 0}
    assert len(receiver.requests) == 3  # two 503s, then delivered
    keys = {headers["Idempotency-Key"] for headers, _ in receiver.requests}
    assert len(keys) == 1  # the retries are the same notification
    headers, body = receiver.requests[-1]
    assert headers["Authorization"] == "Bearer s3cret"
    assert body["status"] == "firing" and body["alerts"][0]["labels"]["alertname"] == "Errors"
    assert "T0KEN" not in caplog.text and "s3cret" not in caplog.text  # secrets never logged
    assert "HTTP 503" in caplog.text


def test_hanging_receiver_times_out_without_touching_the_callers_latency():
    receiver = Receiver(hang_s=3.0)
    sink = WebhookSink(receiver.url, timeout=0.5)
    rule = Rule(name="Errors", metric="error_rate", value=0.1, min_count=5)
    mon = aimon.Monitor("hung", thresholds=[rule], router=Router([sink], retries=0),
                        evaluation_interval=3600)  # fmt: skip
    predict = mon.watch(lambda x: x)
    try:
        for _ in range(10):
            mon.observe(latency_s=0.01, error=ValueError)
        started = time.monotonic()
        assert [a.state for a in mon.check()] == ["firing"]
        check_s = time.monotonic() - started
        for i in range(2000):  # while the delivery thread waits on the receiver
            predict(i)
        snap = mon.snapshot()
        assert mon._alerting.router.flush(10)
    finally:
        mon.close()
        receiver.close()
    assert check_s < 0.4  # delivery happens on the router's thread, not in check()
    assert snap.latency.p99 is not None and snap.latency.p99 < 0.05
    stats = mon._alerting.router.stats()["webhook"]
    assert stats == {"delivered": 0, "failed": 1, "dropped": 0}  # timed out, counted


def test_receiver_down_for_long_bounded_queue_and_counted_drops():
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    router = Router([WebhookSink(url, timeout=0.5)], queue_size=3, retries=2, backoff=0.2)
    try:
        for i in range(50):
            router.submit([alert(f"Rule{i}")])
            assert router._lanes[0].queue.qsize() <= 3  # never grows past its bound
        assert router.flush(30)
    finally:
        router.close()
    stats = router.stats()["webhook"]
    assert stats["delivered"] == 0
    assert stats["failed"] + stats["dropped"] == 50
    assert stats["dropped"] >= 40


def test_slack_sink_posts_blocks_to_a_real_server():
    receiver = Receiver()
    router = Router([aimon.alerts.SlackSink(receiver.url)])
    try:
        router.submit([alert("Errors"), alert("Latency")])
        assert router.flush(10)
    finally:
        router.close()
        receiver.close()
    assert router.stats()["slack"]["delivered"] == 2  # grouped by alert name: two messages
    texts = sorted(body["text"] for _, body in receiver.requests)
    assert texts == ["1 firing, 0 resolved: Errors", "1 firing, 0 resolved: Latency"]
    assert all(body["blocks"][0]["type"] == "header" for _, body in receiver.requests)
