import json
import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import aimon
from aimon.exporters.http import make_wsgi_app
from aimon.exporters.prometheus import AimonCollector, window_label
from aimon.totals import LATENCY_BUCKETS


@pytest.fixture
def mon():
    m = aimon.Monitor("fraud", version="1.4.0", window="5m", slice="10s")
    yield m
    m.close()


def scrape(monitors) -> dict:
    """Render like a scrape and index samples by (name, sorted labels)."""
    registry = CollectorRegistry()
    registry.register(AimonCollector(monitors))
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def key(name, **labels):
    return (name, tuple(sorted({"model": "fraud", "version": "1.4.0", **labels}.items())))


def test_metrics_value_by_value(mon):
    latencies = [0.0002, 0.003, 0.003, 0.04, 0.2, 0.7, 1.5]
    for i, lat in enumerate(latencies):
        error = "TimeoutError" if i == 6 else None
        features = {"age": None if i == 0 else i}
        mon.observe(latency_s=lat, error=error, input_size=1000, output_size=50, features=features)
    mon.observe(latency_s=0.01, error=ValueError("x"))
    samples = scrape([mon])

    assert samples[key("aimon_predictions_total", outcome="ok")] == 6
    assert samples[key("aimon_predictions_total", outcome="error")] == 2
    assert samples[key("aimon_prediction_errors_total", error_type="TimeoutError")] == 1
    assert samples[key("aimon_prediction_errors_total", error_type="ValueError")] == 1

    all_lat = [*latencies, 0.01]
    for bound in LATENCY_BUCKETS:
        expected = sum(1 for v in all_lat if v <= bound)
        assert samples[key("aimon_prediction_latency_seconds_bucket", le=repr(bound))] == expected
    assert samples[key("aimon_prediction_latency_seconds_bucket", le="+Inf")] == 8
    assert samples[key("aimon_prediction_latency_seconds_count")] == 8
    assert samples[key("aimon_prediction_latency_seconds_sum")] == pytest.approx(sum(all_lat))

    ordered = sorted(all_lat)
    for q in ("0.5", "0.95", "0.99"):
        exact = ordered[math.floor(float(q) * (len(ordered) - 1))]
        got = samples[key("aimon_latency_seconds", quantile=q, window="5m")]
        assert abs(got - exact) <= 0.01 * exact
    assert samples[key("aimon_error_ratio", window="5m")] == pytest.approx(2 / 8)
    assert samples[key("aimon_window_predictions", window="5m")] == 8
    assert samples[key("aimon_input_bytes_count")] == 7  # the last call had no sizes
    assert samples[key("aimon_input_bytes_bucket", le="1024.0")] == 7
    assert samples[key("aimon_input_bytes_bucket", le="256.0")] == 0
    assert samples[key("aimon_output_bytes_sum")] == 350
    assert samples[key("aimon_feature_missing_total", feature="age")] == 1
    assert samples[key("aimon_events_dropped_total", reason="buffer_full")] == 0
    assert samples[key("aimon_internal_errors_total")] == 0


def test_empty_monitor_exports_zeros_and_nan_quantiles(mon):
    samples = scrape([mon])
    assert samples[key("aimon_predictions_total", outcome="ok")] == 0
    assert math.isnan(samples[key("aimon_latency_seconds", quantile="0.95", window="5m")])
    assert samples[key("aimon_error_ratio", window="5m")] == 0


def test_several_monitors_in_one_scrape(mon):
    other = aimon.Monitor("churn")
    try:
        other.observe(latency_s=0.1)
        samples = scrape([mon, other])
        churn = ("aimon_predictions_total",
                 (("model", "churn"), ("outcome", "ok"), ("version", "")))  # fmt: skip
        assert samples[churn] == 1
        assert samples[key("aimon_predictions_total", outcome="ok")] == 0
    finally:
        other.close()


def test_wsgi_routes(mon):
    mon.observe(latency_s=0.1)
    app = make_wsgi_app([mon])
    seen = {}

    def call(path, accept=""):
        def start_response(status, headers):
            seen["status"], seen["headers"] = status, dict(headers)

        body = b"".join(app({"PATH_INFO": path, "HTTP_ACCEPT": accept}, start_response))
        return seen["status"], seen["headers"], body

    status, headers, body = call("/metrics")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain")
    assert b'aimon_predictions_total{model="fraud",outcome="ok",version="1.4.0"} 1.0' in body
    status, headers, body = call("/metrics", "application/openmetrics-text")
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
    assert call("/healthz")[2] == b"ok\n"
    status, headers, body = call("/prefix/status")
    status_doc = json.loads(body)
    assert status_doc["monitors"][0]["model"] == "fraud"
    assert status_doc["monitors"][0]["count"] == 1
    assert call("/nope")[0].startswith("404")


@pytest.mark.parametrize(("seconds", "label"), [(300, "5m"), (3600, "1h"), (10, "10s"),
                                                (86400, "1d"), (0.25, "250ms")])  # fmt: skip
def test_window_label(seconds, label):
    assert window_label(seconds) == label
