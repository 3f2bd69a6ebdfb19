"""One run of ``aimon demo``: the scenario played by client threads against a watched model,
its progress printed, its summary told, and (with ``serve``) the baseline served after."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aimon.alerts import CallbackSink, LogSink, Router, Sink, WebhookSink
from aimon.demo.report import compare_drift, write_report
from aimon.demo.scenario import OUTCOME_DELAY, DemoSettings, SimulatedModel, demo_monitor
from aimon.demo.serving import serve_baseline, start_server
from aimon.demo.terminal import (
    HEADER,
    AlertStory,
    alert_log,
    estimate_lines,
    print_summary,
    quality_lines,
    status_line,
)
from aimon.demo.traffic import DelayedOutcomes, DriftRows, Traffic
from aimon.drift.compare import DriftReport
from aimon.monitors import Monitor
from aimon.snapshot import Snapshot

__all__ = ["DemoRun", "run_demo"]


@dataclass(frozen=True)
class DemoRun:
    """What a run left: a snapshot per half second of the scenario, the alerts'
    notifications (seconds into the run, state, name), the drift comparison and the report's
    path (None when not written), the ``/metrics`` URL, and per sink the notifications
    delivered, failed and dropped."""

    history: list[Snapshot]
    alerts: list[tuple[float, str, str]]
    drift: DriftReport | None
    report: Path | None
    metrics_url: str
    notifications: dict[str, dict[str, int]]


#: Seconds between the status lines.
LINE_EVERY_S = 0.5


def _scenario(
    mon: Monitor, model: SimulatedModel, settings: DemoSettings, stop: threading.Event, out: TextIO
) -> list[tuple[float, str, Snapshot]]:
    """A line every :data:`LINE_EVERY_S` until the scenario's end (or ``stop``). The lines
    keep to the clock (a slow snapshot delays its own line, not every one after it)."""
    print(HEADER, file=out)
    history: list[tuple[float, str, Snapshot]] = []
    started = time.monotonic()
    tick = 0.0
    while (elapsed := time.monotonic() - started) < settings.duration_s:
        tick = max(tick + LINE_EVERY_S, LINE_EVERY_S * math.ceil(elapsed / LINE_EVERY_S))
        if stop.wait(min(tick, settings.duration_s) - elapsed):
            print("stopped", file=out)
            break
        elapsed = time.monotonic() - started
        snap = mon.snapshot()
        history.append((elapsed, model.phase(), snap))
        print(status_line(elapsed, model.phase(), snap), file=out, flush=True)
    return history


_RESULTS = ("delivered", "failed", "dropped")


def run_demo(settings: DemoSettings, out: TextIO, stop: threading.Event | None = None) -> DemoRun:
    """Run the scenario, printing progress and a summary to ``out``; with ``settings.serve``
    go on serving a calm baseline until ``stop`` is set. Setting ``stop`` during the
    scenario cuts it short (the summary still follows, and nothing is served after it)."""
    stop = stop or threading.Event()
    model = SimulatedModel(settings.duration_s, settings.seed)
    story = AlertStory(time.monotonic(), [])
    sinks: list[Sink] = [LogSink(), CallbackSink(story.record, name="story")]
    if settings.webhook:
        sinks.append(WebhookSink(settings.webhook, timeout=2.0))
    router = Router(sinks, retries=1, backoff=0.25)  # a demo's receiver is up or it is not
    mon = demo_monitor(settings, router)
    handler = alert_log(out)
    outcomes = DelayedOutcomes(mon, settings.duration_s * OUTCOME_DELAY)
    traffic = Traffic(
        mon.watch(model.predict),
        model,
        DriftRows(seed=settings.seed),
        pause_s=settings.workers / settings.baseline_rps,
        outcomes=outcomes,
    )
    server = start_server(mon, settings, out)
    metrics_url = f"{server.url}/metrics"
    threads = [
        threading.Thread(target=traffic.run, args=(settings.seed + i,), daemon=True)
        for i in range(settings.workers)
    ]
    for t in threads:
        t.start()
    history: list[tuple[float, str, Snapshot]] = []
    drift: DriftReport | None = None
    report: Path | None = None
    serve = settings.serve
    try:
        history = _scenario(mon, model, settings, stop, out)
        serve = serve and not stop.is_set()
        if serve:
            traffic.calm.set()  # the story is over: a calm baseline from here on
        else:
            traffic.stop.set()
        mon.check()  # the last word on the alerts before the story is told
        router.flush(5.0)
        drift = compare_drift(traffic.drift_rows)
        if drift is not None and settings.report is not None:
            report = write_report(drift, traffic.drift_rows, settings.report)
        print_summary(history, mon.snapshot(), story, drift, report, out)
        for line in quality_lines(history, outcomes.delay_s):
            print(line, file=out)
        for line in estimate_lines(history, outcomes.delay_s):
            print(line, file=out)
        if settings.webhook:
            sent = router.stats().get("webhook", {})
            print(f"webhook: {', '.join(f'{sent.get(k, 0)} {k}' for k in _RESULTS)}", file=out)
        if serve:
            serve_baseline(mon, model, server.port, metrics_url, settings.baseline_rps, stop, out)
        else:
            print(f"metrics: {metrics_url} (served during the run; --serve keeps it up)",
                  file=out, flush=True)  # fmt: skip
    finally:
        traffic.stop.set()
        for t in threads:
            t.join(2.0)
        outcomes.close()
        mon.close()
        router.close()
        logging.getLogger("aimon.alerts").removeHandler(handler)
    return DemoRun(
        history=[snap for _, _, snap in history],
        alerts=list(story.events),
        drift=drift,
        report=report,
        metrics_url=metrics_url,
        notifications=router.stats(),
    )
