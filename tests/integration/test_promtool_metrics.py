"""The whole /metrics exposition passes the real ``promtool check metrics`` (issue 14 item 4:
window quantiles were a gauge with a ``quantile`` label): an embedded Monitor with a reference
(drift, bins, reference quality), matched outcomes and alerts delivered to a sink, and a
sidecar with a reference and an outcomes file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_breast_cancer

import aimon
from aimon.exporters.http import MetricsServer
from aimon.exporters.sidecar_metrics import SidecarCollector
from aimon.monitor_settings import MonitorSettings
from aimon.sidecar import Sidecar
from tests.integration.conftest import http_get

FEATURES = ["mean radius", "mean texture", "mean area"]


def reference_frame():
    frame = load_breast_cancer(as_frame=True).frame
    frame["prediction"] = (frame["mean radius"] < 14).astype(int)
    return frame[[*FEATURES, "prediction", "target"]]


def promtool_check(url: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: `make test` installs it with apt-get")
    text = http_get(f"{url}/metrics")[2].decode()
    result = subprocess.run(
        [binary, "check", "metrics"],
        check=False,
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return text, result


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_a_monitor_with_reference_quality_and_alerts_passes_promtool() -> None:
    frame = reference_frame()
    reference = aimon.Reference.from_frame(frame, prediction="prediction", target="target")
    rules = [aimon.Rule(name="Slow", metric="latency_p95", op=">", value=0.001)]
    mon = aimon.Monitor("cancer", version="1", reference=reference, thresholds=rules,
                        sinks=[aimon.alerts.LogSink()])  # fmt: skip
    rng = np.random.default_rng(0)
    try:
        for i, row in enumerate(frame.to_dict("records")):
            features = {name: row[name] for name in FEATURES}
            mon.observe(latency_s=float(rng.lognormal(-4, 0.5)), features=features,
                        prediction=row["prediction"], request_id=f"r{i}")  # fmt: skip
            mon.record_outcome(f"r{i}", row["target"])
        assert mon.check()  # the rule fires: its state and notification are exported
        server = mon.serve(port=0)
        text, result = promtool_check(server.url)
    finally:
        mon.close()
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = families(text)
    assert kinds["aimon_latency_seconds"] == "summary"
    expected = {
        "aimon_feature_drift",
        "aimon_reference_bin_ratio",
        "aimon_model_quality",
        "aimon_reference_quality",
        "aimon_alert_state",
        "aimon_alert_notifications",
    }
    assert expected <= set(kinds)


def test_the_sidecar_exposition_passes_promtool(tmp_path: Path) -> None:
    log, outcomes = tmp_path / "p.log", tmp_path / "o.log"
    frame = reference_frame()
    rows = frame.to_dict("records")
    with log.open("w") as out:
        for i, row in enumerate(rows):
            record = {"ts": 1.7e9 + i, "model": "cancer", "version": "1", "latency_ms": 12.0,
                      "features": {n: row[n] for n in FEATURES}, "prediction": row["prediction"],
                      "request_id": f"r{i}"}  # fmt: skip
            out.write(json.dumps(record) + "\n")
    outcomes.write_text("".join(json.dumps({"request_id": f"r{i}", "actual": row["target"]})
                                + "\n" for i, row in enumerate(rows)) + "nope\n")  # fmt: skip
    reference = aimon.Reference.from_frame(frame, prediction="prediction", target="target")
    sidecar = Sidecar(str(log), outcomes_file=str(outcomes),
                      monitor_settings=MonitorSettings(reference=reference))  # fmt: skip
    collectors = [SidecarCollector(sidecar)]
    server = MetricsServer(sidecar.all_monitors, port=0, ready=sidecar.ready,
                           guard=sidecar.scrape, collectors=collectors)  # fmt: skip
    try:
        sidecar.step()
        text, result = promtool_check(server.url)
    finally:
        server.close()
        sidecar.close()
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = families(text)
    assert kinds["aimon_latency_seconds"] == "summary"
    assert "aimon_sidecar_lines" in kinds and "aimon_model_quality" in kinds
