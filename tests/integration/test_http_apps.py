"""The WSGI and ASGI apps mounted in real servers and scraped over HTTP."""

import json
import threading
from wsgiref.simple_server import make_server

import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

import aimon

from .conftest import free_port, http_get, wait_until

pytestmark = pytest.mark.integration


def predictions_ok(body: bytes) -> float:
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "aimon_predictions_total" and sample.labels["outcome"] == "ok":
                return sample.value
    raise AssertionError("aimon_predictions_total missing")


@pytest.fixture
def mon():
    m = aimon.Monitor("served", version="3")
    predict = m.watch(lambda features: 1.0)
    for i in range(7):
        predict({"x": i})
    yield m
    m.close()


def test_monitor_serve(mon):
    server = mon.serve(port=0)
    assert mon.serve() is server  # idempotent
    status, headers, body = http_get(f"{server.url}/metrics")
    assert status == 200 and predictions_ok(body) == 7
    assert http_get(f"{server.url}/healthz")[2] == b"ok\n"
    status_doc = json.loads(http_get(f"{server.url}/status")[2])
    assert status_doc["monitors"][0]["count"] == 7
    assert status_doc["monitors"][0]["features"]["x"]["mean"] == 3.0


def test_wsgi_app_in_a_real_server(mon):
    # Mounted under a prefix, the way a Flask DispatcherMiddleware would.
    inner = aimon.make_wsgi_app([mon])

    def site(environ, start_response):
        if environ["PATH_INFO"].startswith("/aimon"):
            environ["PATH_INFO"] = environ["PATH_INFO"][len("/aimon") :]
            return inner(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"model server"]

    httpd = make_server("127.0.0.1", 0, site)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_port}"
        assert http_get(f"{base}/")[2] == b"model server"
        assert predictions_ok(http_get(f"{base}/aimon/metrics")[2]) == 7
        assert json.loads(http_get(f"{base}/aimon/status")[2])["monitors"][0]["model"] == "served"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_asgi_app_in_uvicorn(mon):
    port = free_port()
    config = uvicorn.Config(aimon.make_asgi_app([mon]), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(f"{base}/healthz")[0] == 200, what="uvicorn up")
        status, headers, body = http_get(f"{base}/metrics")
        assert status == 200 and predictions_ok(body) == 7
        assert headers["content-type"].startswith("text/plain")
        assert json.loads(http_get(f"{base}/status")[2])["monitors"][0]["count"] == 7
    finally:
        server.should_exit = True
        thread.join(10)


def test_aimon_serve_exports_every_live_monitor(mon):
    other = aimon.Monitor("second")
    other.observe(latency_s=0.2)
    server = aimon.serve(port=0)
    try:
        models = {m["model"] for m in json.loads(http_get(f"{server.url}/status")[2])["monitors"]}
        assert {"served", "second"} <= models
    finally:
        server.close()
        other.close()
