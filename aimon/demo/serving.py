"""The demo's endpoints: ``/metrics`` (with ``/status`` and ``/healthz``) served during the
run, and with ``--serve`` a calm baseline of traffic after it, for Prometheus to scrape."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TextIO

from aimon.demo.scenario import (
    DRIFT_FROM,
    DRIFT_UNTIL,
    PSI_ALERT,
    QUALITY_DROP,
    DemoSettings,
    SimulatedModel,
)
from aimon.demo.terminal import HEADER, status_line
from aimon.monitors import Monitor

if TYPE_CHECKING:
    from aimon.exporters.http import MetricsServer

__all__ = ["serve_baseline", "start_server"]


def start_server(mon: Monitor, settings: DemoSettings, out: TextIO) -> MetricsServer:
    """Serve the endpoints and say what the run will do."""
    try:
        server = mon.serve(settings.host, settings.port)
    except OSError:
        server = mon.serve(settings.host, 0)  # the usual port is taken: any free one will do
        print(f"port {settings.port} is taken: serving on {server.port} instead", file=out)
    print(f"aimon demo: serving {server.url}/metrics  (/status, /healthz)", file=out)
    webhook = "; alerts also go to the webhook" if settings.webhook else ""
    print(
        f"window and drift window {settings.window_s:g}s; latency spike at 25-45 %, error "
        f"burst at 45-60 %, 'amount' drifts toward the hard cases at "
        f"{DRIFT_FROM:.0%}-{DRIFT_UNTIL:.0%} of {settings.duration_s:g}s; alerts: p95 > 100 ms, "
        f"error rate > 5 %, PSI > {PSI_ALERT}, accuracy (estimated from the scores, realised "
        f"from the outcomes) {QUALITY_DROP:g} below the training data's{webhook}\n",
        file=out,
    )
    return server


def serve_baseline(
    mon: Monitor,
    model: SimulatedModel,
    port: int,
    metrics_url: str,
    baseline_rps: float,
    stop: threading.Event,
    out: TextIO,
) -> None:
    """Keep serving a calm baseline until ``stop`` is set; a status line every 10 s."""
    elsewhere = (
        f"  (this demo is on port {port}: put localhost:{port} in that targets file)\n"
        if port != 9108  # the port deploy/prometheus/targets/aimon.yml names
        else ""
    )
    print(
        f"\nserving {metrics_url} with a calm baseline of about {baseline_rps:g} calls/s "
        "until Ctrl-C (or SIGTERM).\n"
        "next: in another terminal, from the repository's root,\n"
        "  prometheus --config.file=deploy/prometheus/prometheus.yml "
        "--storage.tsdb.path=/tmp/aimon-prometheus\n"
        "  scrapes localhost:9108 (deploy/prometheus/targets/aimon.yml); "
        "open http://localhost:9090/targets\n"
        f"{elsewhere}"
        "  then query aimon_predictions_total; in Grafana add that Prometheus as a data "
        "source and import dashboards/grafana/.\n"
        "  docs/prometheus-grafana.md walks through it.",
        file=out,
    )
    print(HEADER, file=out, flush=True)
    started = time.monotonic()
    while not stop.wait(10.0):
        snap = mon.snapshot()
        print(status_line(time.monotonic() - model.started, "baseline", snap), file=out, flush=True)
    print(f"stopped after serving {time.monotonic() - started:.0f}s", file=out, flush=True)
