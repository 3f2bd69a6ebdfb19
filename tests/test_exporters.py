import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families

import aimon
from aimon.exporters.http import make_wsgi_app
from aimon.exporters.prometheus import _FAMILIES, AimonCollector, window_label
from aimon.settings import SegmentSettings
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


class _Fixed:
    """A snapshot source that answers one Snapshot, so a scrape can be compared with it."""

    def __init__(self, snap):
        self.snap = snap

    def snapshot(self):
        return self.snap


def _segmented_monitor(max_values=20, values="abc", drifted="b"):
    """A monitor segmented by ``cls``, with a reference profiled per ``cls`` value; ``x``
    shifts in segment ``drifted``, one call in ten has an error, some calls lack ``cls``."""
    rng = np.random.default_rng(7)
    n = 3000
    frame = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(5, 2, n),
                          "cls": rng.choice(list(values), n)})  # fmt: skip
    reference = aimon.Reference.from_frame(frame, segments=["cls"])
    mon = aimon.Monitor("fraud", version="1.4.0", reference=reference, drift_events=200,
                        drift_methods=["psi", "ks", "wasserstein"], drift_min_count=100,
                        segments=SegmentSettings(("cls",), max_values=max_values))  # fmt: skip
    for i in range(900):
        cls = values[i % len(values)]
        row = {"x": float(rng.normal(1.5 if cls == drifted else 0, 1)),
               "y": float(rng.normal(5, 2)), "cls": cls}  # fmt: skip
        if i % 89 == 0:
            del row["cls"]
        mon.observe(latency_s=0.002 * (1 + i % 7), error="ValueError" if i % 10 == 3 else None,
                    features=row)  # fmt: skip
    return mon


def test_segment_metrics_equal_the_snapshots_segments():
    mon = _segmented_monitor()
    try:
        snap = mon.snapshot()
    finally:
        mon.close()
    registry = CollectorRegistry()
    registry.register(AimonCollector([_Fixed(snap)]))
    text = generate_latest(registry).decode()
    kinds = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert kinds["aimon_segment_predictions"] == "counter"
    assert kinds["aimon_segment_latency_seconds"] == "summary"
    for name in ("error_ratio", "window_predictions", "feature_drift", "feature_drifted",
                 "drift_max_ks"):  # fmt: skip
        assert kinds[f"aimon_segment_{name}"] == "gauge"
    samples = scrape([_Fixed(snap)])

    segments = snap.segments["cls"]
    assert sorted(segments) == ["__missing__", "a", "b", "c"]
    exported = {dict(labels)["segment_value"] for name, labels in samples
                if name == "aimon_segment_predictions_total"}  # fmt: skip
    assert exported == set(segments)
    for value, seg in segments.items():
        where = {"segment": "cls", "segment_value": value}
        window = {**where, "window": "5m"}
        ok = samples[key("aimon_segment_predictions_total", **where, outcome="ok")]
        error = samples[key("aimon_segment_predictions_total", **where, outcome="error")]
        assert (ok, error) == (seg.totals.ok, seg.totals.calls - seg.totals.ok)
        assert ok + error == seg.count > 0
        assert samples[key("aimon_segment_window_predictions", **window)] == seg.count
        assert samples[key("aimon_segment_error_ratio", **window)] == seg.error_rate
        for q, value_q in (("0.5", seg.latency.p50), ("0.95", seg.latency.p95),
                           ("0.99", seg.latency.p99)):  # fmt: skip
            assert samples[key("aimon_segment_latency_seconds", **window, quantile=q)] == value_q
        assert samples[key("aimon_segment_latency_seconds_count", **window)] == seg.count
        assert samples[key("aimon_segment_latency_seconds_sum", **window)] == pytest.approx(
            seg.totals.latency.sum
        )
        if value == "__missing__":  # no profile of its own in the reference: no drift
            assert seg.drift == {}
            assert key("aimon_segment_drift_max_ks", **where) not in samples
            continue
        assert sorted(seg.drift) == ["x", "y"]  # the segment column itself is not compared
        assert seg.drift_window is not None and seg.drift_window.max_ks is not None
        assert samples[key("aimon_segment_drift_max_ks", **where)] == seg.drift_window.max_ks
        for feature, drift in seg.drift.items():
            got = samples[key("aimon_segment_feature_drifted", **where, feature=feature)]
            assert got == float(drift.drifted)
            for method in ("psi", "ks", "ks_pvalue", "wasserstein"):
                labels = {**where, "feature": feature, "method": method}
                assert samples[key("aimon_segment_feature_drift", **labels)] == getattr(
                    drift, method
                )
    # x shifted in segment b only: its drift stands out there.
    assert samples[key("aimon_segment_feature_drifted", segment="cls", segment_value="b",
                       feature="x")] == 1  # fmt: skip
    psi = {v: samples[key("aimon_segment_feature_drift", segment="cls", segment_value=v,
                          feature="x", method="psi")] for v in "abc"}  # fmt: skip
    assert psi["b"] > 0.2 > max(psi["a"], psi["c"])
    assert samples[key("aimon_segment_drift_max_ks", segment="cls", segment_value="b")] > 0
    # The monitor's own drift families are still there, over every call.
    assert samples[key("aimon_feature_drift", feature="x", method="psi")] == snap.drift["x"].psi


def test_segment_values_past_the_cap_are_one_series():
    mon = _segmented_monitor(max_values=2, values="abcdef", drifted="a")
    try:
        samples = scrape([mon])
    finally:
        mon.close()
    exported = {dict(labels)["segment_value"] for name, labels in samples
                if name == "aimon_segment_window_predictions"}  # fmt: skip
    # Two values of their own (__missing__ competes for a place like any value), the rest
    # pooled in __other__.
    assert len(exported) == 2 + 1 and "__other__" in exported
    total = sum(value for (name, _), value in samples.items()
                if name == "aimon_segment_window_predictions")  # fmt: skip
    assert total == samples[key("aimon_window_predictions", window="5m")] == 900
    evicted = samples[key("aimon_segment_evictions_total", segment="cls")]
    assert evicted == mon.snapshot().segment_evictions["cls"]


def test_segment_quality_equals_the_snapshots():
    segmented = aimon.Monitor("fraud", version="1.4.0", segments=["country"])
    try:
        for i in range(30):
            country = "DE" if i < 20 else "FR"
            segmented.observe(latency_s=0.01, prediction=1, request_id=f"r{i}",
                              features={"country": country})  # fmt: skip
            segmented.record_outcome(f"r{i}", 1 if country == "DE" or i % 2 else 0)
        snap = segmented.snapshot()
        samples = scrape([segmented])
    finally:
        segmented.close()
    for value, pairs, accuracy in (("DE", 20, 1.0), ("FR", 10, 0.5)):
        where = {"segment": "country", "segment_value": value}
        assert samples[key("aimon_segment_model_quality_pairs", **where)] == pairs
        got = samples[key("aimon_segment_model_quality", metric="accuracy", **where)]
        assert got == accuracy == snap.segments["country"][value].quality.accuracy


def test_a_monitor_without_segments_exports_no_segment_series(mon):
    mon.observe(latency_s=0.1, features={"cls": "a"})
    samples = scrape([mon])
    assert not [name for name, _ in samples if name.startswith("aimon_segment_")]


def test_every_family_is_documented_with_its_labels():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    rows = [line for line in docs.splitlines() if line.startswith("| `aimon_")]
    for kind, name, _help, labels in _FAMILIES.values():
        shown = f"`{name}_total" if kind is CounterMetricFamily else f"`{name}"
        row = next((r for r in rows if f"{shown}`" in r or f"{shown}{{" in r), None)
        assert row is not None, f"{name} is not in docs/metrics.md"
        written = row[row.index(shown) :].split("`")[1]
        for label in labels:
            assert label in written, (name, label, written)
