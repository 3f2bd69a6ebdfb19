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


class _LocalServer:
    """A threaded HTTP server on a free loopback port, answering with ``Handler``."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> int:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class Receiver(_LocalServer):
    """A webhook receiver that fails its first ``fail_first`` requests with 503 and can hang."""

    def __init__(self, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.requests: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    n = len(receiver.requests)
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)
                self.send_response(503 if n <= receiver.fail_first else 200)
                self.end_headers()

        self.url = f"http://127.0.0.1:{self.serve(Handler)}/hook?token=T0KEN"


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


class Redirector(_LocalServer):
    """Answers every POST with ``status`` and a Location on another host (``target``)."""

    def __init__(self, status: int, target: str) -> None:
        self.posts = 0
        redirector = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                redirector.posts += 1
                self.send_response(status)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.host = f"127.0.0.1:{self.serve(Handler)}"


def sinks(base: str) -> list[aimon.alerts.Sink]:
    return [
        WebhookSink(f"{base}/hook/S3CRETPATH?key=S3CRETQUERY", token="S3CRETTOKEN", timeout=2),
        aimon.alerts.SlackSink(f"{base}/services/T0/S3CRETPATH", name="slack", timeout=2),
        aimon.alerts.AlertmanagerSink(f"{base}/S3CRETPATH", timeout=2),
    ]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_never_followed_and_logged_without_secrets(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aimon.alerts")
    elsewhere = Receiver()  # another host: it must hear nothing, least of all the token
    elsewhere_url = elsewhere.url.replace("127.0.0.1", "localhost")
    redirector = Redirector(status, elsewhere_url)
    routes = sinks(f"http://{redirector.host}")
    router = Router(routes, retries=3, backoff=0.01)
    try:
        router.submit([alert()])
        assert router.flush(10)
    finally:
        router.close()
        redirector.close()
        elsewhere.close()
    assert elsewhere.requests == []
    assert redirector.posts == len(routes)  # a redirect is not retried: it would redirect again
    for sink in routes:
        assert router.stats()[sink.name] == {"delivered": 0, "failed": 1, "dropped": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(routes)  # one line per failed notification
    for line in warnings:
        assert f"HTTP {status} redirect from http://{redirector.host}/***" in line
    assert "S3CRET" not in caplog.text and "localhost" not in caplog.text


def test_a_failing_receiver_is_logged_by_status_and_host_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aimon.alerts")
    receiver = Receiver(fail_first=100)
    down = f"http://127.0.0.1:{free_port()}"
    routes = sinks(receiver.url.split("/hook")[0])
    router = Router([*routes, WebhookSink(f"{down}/S3CRETPATH", name="down", timeout=1)],
                    retries=1, backoff=0.01)  # fmt: skip
    try:
        router.submit([alert()])
        assert router.flush(10)
    finally:
        router.close()
        receiver.close()
    assert len(receiver.requests) == 2 * len(routes)  # 503 is worth a retry
    assert all(router.stats()[name]["failed"] == 1 for name in router.stats())
    assert caplog.text.count(f"HTTP 503 from {receiver.url.split('/hook')[0]}/***") == 2 * 3
    assert f"ConnectionRefusedError: [Errno 111] Connection refused ({down}/***)" in caplog.text
    assert "S3CRET" not in caplog.text


def test_an_unusable_url_is_refused_at_start_or_logged_once_without_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for url in ("hooks.example/T0/S3CRETPATH", "http://127.0.0.1:S3CRETPORT/x", "ftp://h/S3CRET",
                "http://am:S3CRETPASS@127.0.0.1/x"):  # fmt: skip
        with pytest.raises(aimon.errors.ConfigError) as refused:
            WebhookSink(url)
        assert "S3CRET" not in str(refused.value)
    caplog.set_level(logging.INFO, logger="aimon.alerts")
    # A host urllib takes apart but http.client cannot encode: the URL was in the message.
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}/caf\u00e9/S3CRETPATH", timeout=1)
    router = Router([sink], retries=3, backoff=0.01)
    try:
        router.submit([alert()])
        assert router.flush(10)
    finally:
        router.close()
    assert router.stats()["webhook"]["failed"] == 1
    assert len(caplog.records) == 1 and "unusable URL http://127.0.0.1:" in caplog.text
    assert "S3CRET" not in caplog.text
