"""``aimon demo``: a simulated model under the decorator, with a latency spike, an error
burst and a drifting feature, the alerts they raise, and the drift report they leave.

A reference is built from synthetic training data; traffic comes from a pool of threads
calling a decorated ``predict``. From 25 % of the run latency rises for a while, then some
calls fail; from 40 % to 70 % the ``amount`` feature drifts (and with it the model's score);
then traffic recovers. Rules on p95 latency, error rate and per-feature PSI send their
alerts to a LogSink printed in the terminal (and to a webhook, if one is given): they fire,
then resolve as traffic recovers. Twice a second the terminal shows the rolling window and
the drifted features; ``/metrics`` is served throughout. At the end the features the model
saw during the drift are compared with the training data and written as an HTML report,
and a summary tells the story: each phase at its peak, when each alert fired and resolved,
what drifted, where the report is. With ``serve`` the model then keeps answering a calm
baseline of traffic, and ``/metrics`` stays up for Prometheus, until ``stop`` is set.

Ground truth arrives late, as it does in production: each answered call's outcome (was it
fraud?) is recorded with :meth:`~aimon.Monitor.record_outcome` by a timer thread a twentieth
of the run later, joined by :func:`aimon.current_request_id`. Fraud follows the amount of the
purchase as it was before the drift, so the model, which sees the tripled amounts, flags far
too much while drifting: the summary shows F1 and accuracy falling, and recovering after.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import pandas as pd

from aimon.alerts import Alert, CallbackSink, LogSink, Router, Sink, WebhookSink
from aimon.drift.compare import DriftReport, compare
from aimon.drift.reference import Reference
from aimon.drift.report import report_html
from aimon.monitors import Monitor
from aimon.quality.metrics import QualityMetrics
from aimon.request_ids import current_request_id
from aimon.snapshot import Snapshot
from aimon.thresholds import Rule

if TYPE_CHECKING:
    from aimon.exporters.http import MetricsServer

__all__ = ["DEFAULT_REPORT", "DemoRun", "DemoSettings", "run_demo"]

#: Where ``aimon demo`` writes its drift report unless told otherwise.
DEFAULT_REPORT = Path("aimon-demo-report.html")


@dataclass(frozen=True)
class DemoSettings:
    """How long, how busy, where to serve, where alerts and the report go.

    ``report=None`` writes no report; ``webhook`` is a URL that receives every firing and
    resolved alert as Alertmanager's webhook payload; ``serve`` keeps the model running at
    ``baseline_rps`` calls per second after the scenario, until the run's ``stop`` is set.
    """

    duration_s: float = 10.0
    workers: int = 16
    host: str = "127.0.0.1"
    port: int = 9108
    seed: int = 7
    webhook: str | None = None
    report: Path | None = None
    serve: bool = False
    baseline_rps: float = 200.0

    @property
    def window_s(self) -> float:
        """The rolling window (and the drift window): a fifth of the run."""
        return self.duration_s / 5


COUNTRIES = ["DE", "FR", "US", "GB", "ES"]
#: Between these shares of the run, amounts triple (a new kind of purchase, say).
DRIFT_FROM, DRIFT_UNTIL = 0.4, 0.7
SPIKE = (0.25, 0.45)
BURST = (0.45, 0.6)
#: Rows of the drift phase kept for the report (a uniform sample of them beyond).
DRIFT_ROWS = 5000
#: The report's methods: the alert rule's PSI at the rule's threshold, and two distances.
REPORT_METHODS = ("psi", "wasserstein", "jensen_shannon")
PSI_ALERT = 0.2
#: Values a feature needs in the drift window before the PSI rule judges it (PSI's noise on
#: 200 values in 10 bins is near 0.05, far below the rule's 0.2).
PSI_MIN_COUNT = 200
#: ... and before its ``drifted`` verdict (normed Wasserstein at 0.1 for the demo's numeric
#: features): on 300 undrifted values that distance reaches 0.1 one time in ten, on 1000 one
#: time in two thousand, and the demo should not cry wolf about ``age``.
VERDICT_MIN_COUNT = 1000
#: A purchase of at least this amount (before the drift) is fraud, give or take label noise;
#: the model flags a score at or above FRAUD_SCORE, the same amount as it sees it.
FRAUD_AMOUNT = 300.0
FRAUD_SCORE = FRAUD_AMOUNT / 5000.0
LABEL_NOISE = 0.03
#: The quality alert: F1 this far below the training data's.
QUALITY_DROP = 0.15
#: Outcomes arrive this share of the run after their prediction.
OUTCOME_DELAY = 0.05


def training_data(rows: int = 5000, seed: int = 1) -> pd.DataFrame:
    """The synthetic data the demo's model was "trained" on: the reference."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(4.5, 1.0, rows), 2)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 91, rows),
            "amount": amount,
            "country": rng.choice(COUNTRIES, rows),
            "score": np.minimum(1.0, amount / 5000.0),
            "fraud": ((amount >= FRAUD_AMOUNT) != (rng.random(rows) < LABEL_NOISE)).astype(int),
        }
    )


class SimulatedModel:
    """A fraud model stand-in whose latency and failures follow the demo's script."""

    def __init__(self, duration_s: float, seed: int) -> None:
        self.duration_s = duration_s
        self.started = time.monotonic()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def progress(self) -> float:
        """The share of the run elapsed."""
        return (time.monotonic() - self.started) / self.duration_s

    def phase(self) -> str:
        """``normal``, ``latency spike``, ``error burst``, ``drift`` or ``recovered``."""
        progress = self.progress()
        if SPIKE[0] <= progress < SPIKE[1]:
            return "latency spike"
        if BURST[0] <= progress < BURST[1]:
            return "error burst"
        if DRIFT_FROM <= progress < DRIFT_UNTIL:
            return "drift"
        return "recovered" if progress >= DRIFT_UNTIL else "normal"

    def drifting(self) -> bool:
        """Amounts are off now."""
        return DRIFT_FROM <= self.progress() < DRIFT_UNTIL

    def predict(self, features: dict[str, object]) -> float:
        """Sleep like a model, sometimes fail, return a fraud score."""
        phase = self.phase()
        with self._lock:
            delay = self._rng.lognormvariate(-4.6, 0.35)  # median ~10 ms
            if phase == "latency spike":  # a slow dependency: every call waits on it
                delay += self._rng.lognormvariate(-2.0, 0.5)  # median ~135 ms
            fail = phase == "error burst" and self._rng.random() < 0.2
            timeout = self._rng.random() < 0.3
        time.sleep(delay)
        if fail:
            raise TimeoutError("feature store timed out") if timeout else ValueError("bad amount")
        amount = features["amount"]
        return min(1.0, float(amount) / 5000.0) if isinstance(amount, int | float) else 0.0


class DriftRows:
    """The features (and score) of the calls made while drifting: a uniform sample of at
    most ``capacity`` rows (reservoir sampling), for the report."""

    def __init__(self, capacity: int = DRIFT_ROWS, seed: int = 0) -> None:
        self.capacity = capacity
        self.seen = 0
        self.rows: list[dict[str, object]] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, row: dict[str, object]) -> None:
        """Keep this row with probability capacity / rows seen."""
        with self._lock:
            self.seen += 1
            if len(self.rows) < self.capacity:
                self.rows.append(row)
            else:
                slot = self._rng.randrange(self.seen)
                if slot < self.capacity:
                    self.rows[slot] = row

    def frame(self) -> pd.DataFrame:
        """The rows kept, as a DataFrame (a failed call has no score)."""
        with self._lock:
            return pd.DataFrame(self.rows)


class DelayedOutcomes:
    """Outcomes that arrive ``delay_s`` after their prediction: a timer thread records each
    with :meth:`Monitor.record_outcome` when it is due."""

    def __init__(self, mon: Monitor, delay_s: float) -> None:
        self.mon = mon
        self.delay_s = delay_s
        self.recorded = 0
        self._due: list[tuple[float, int, str, int]] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aimon-demo-outcomes", daemon=True)
        self._thread.start()

    def add(self, request_id: str, actual: int) -> None:
        with self._lock:
            self._seq += 1
            heapq.heappush(
                self._due, (time.monotonic() + self.delay_s, self._seq, request_id, actual)
            )

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                due = []
                while self._due and self._due[0][0] <= now:
                    due.append(heapq.heappop(self._due))
            for _, _, request_id, actual in due:
                self.mon.record_outcome(request_id, actual)
            self.recorded += len(due)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


@dataclass
class _Traffic:
    """What the client threads share: the model, the decorated call, when to stop and
    whether to go calm."""

    predict: object
    model: SimulatedModel
    drift_rows: DriftRows
    stop: threading.Event = field(default_factory=threading.Event)
    calm: threading.Event = field(default_factory=threading.Event)
    pause_s: float = 0.0  # between calls once calm
    outcomes: DelayedOutcomes | None = None

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            drifting = self.model.drifting()
            amount = rng.lognormvariate(4.5, 1.0)
            features: dict[str, object] = {
                "age": rng.randint(18, 90),
                "amount": round(amount * (3.0 if drifting else 1.0), 2),
                "country": rng.choice(COUNTRIES),
            }
            fraud = (amount >= FRAUD_AMOUNT) != (rng.random() < LABEL_NOISE)
            score: float | None = None
            with contextlib.suppress(TimeoutError, ValueError):  # counted by the monitor
                score = self.predict(features)  # type: ignore[operator]
            request_id = current_request_id()
            if score is not None and self.outcomes is not None and request_id is not None:
                self.outcomes.add(request_id, int(fraud))
            if drifting:
                self.drift_rows.add({**features, "score": score})
            if self.calm.is_set():
                self.stop.wait(self.pause_s)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:7.1f}"


def _drifted(snap: Snapshot) -> str:
    if snap.drift_window is None or not snap.drift_window.drifted:
        return "-"
    return ", ".join(
        f"{name} (psi {snap.drift[name].psi:.2f})" if snap.drift[name].psi is not None else name
        for name in snap.drift_window.drifted
    )


def _max_psi(snap: Snapshot) -> float:
    return max((d.psi or 0.0 for d in snap.drift.values()), default=0.0)


def _line(elapsed: float, phase: str, snap: Snapshot) -> str:
    lat = snap.latency
    return (
        f"{elapsed:5.1f}s  {phase:<14} {snap.count:6d} {snap.throughput:7.1f} "
        f"{_ms(lat.p50)} {_ms(lat.p95)} {_ms(lat.p99)} {snap.error_rate * 100:6.2f}%  "
        f"{_drifted(snap)}"
    )


def _phases(
    history: list[tuple[float, str, Snapshot]],
) -> list[list[tuple[float, str, Snapshot]]]:
    """Consecutive rows of the same phase, grouped."""
    groups: list[list[tuple[float, str, Snapshot]]] = []
    for row in history:
        if groups and groups[-1][-1][1] == row[1]:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _peak(rows: list[tuple[float, str, Snapshot]]) -> tuple[float, str, Snapshot]:
    """The row that shows a phase best."""
    phase = rows[0][1]
    if phase == "latency spike":
        return max(rows, key=lambda row: row[2].latency.p95 or 0.0)
    if phase == "error burst":
        return max(rows, key=lambda row: row[2].error_rate)
    if phase == "drift":
        return max(rows, key=lambda row: _max_psi(row[2]))
    return rows[-1]


def _first_drift(history: list[tuple[float, str, Snapshot]]) -> str:
    for elapsed, _, snap in history:
        if snap.drift_window is not None and snap.drift_window.drifted:
            names = ", ".join(snap.drift_window.drifted)
            return f"drift first seen at {elapsed:.1f}s in: {names}"
    return "no drift seen"


HEADER = "  time  phase           calls   req/s  p50 ms  p95 ms  p99 ms  errors  drifted"


def demo_rules(min_count: int) -> list[Rule]:
    """The demo's rules: like the defaults, with thresholds and waits fit for seconds."""
    return [
        Rule(name="LatencyP95High", metric="latency_p95", value=0.1, min_count=50,
             severity="warning"),
        Rule(name="ErrorRateHigh", metric="error_rate", value=0.05, min_count=50,
             severity="critical"),
        Rule(name="FeatureDriftPSI", metric="psi", value=PSI_ALERT, min_count=min_count,
             severity="warning"),
        Rule(name="QualityBelowReference", metric="f1", op="<", value=-QUALITY_DROP,
             relative_to="reference", min_count=100, severity="warning"),
    ]  # fmt: skip


@dataclass
class AlertStory:
    """When each alert fired and resolved, seconds into the run (a CallbackSink fills it)."""

    started: float
    events: list[tuple[float, str, str]]

    def record(self, alerts: list[Alert]) -> None:
        """The sink: note each notification."""
        now = time.monotonic() - self.started
        for alert in alerts:
            feature = alert.labels.get("feature")
            name = f"{alert.name}{{feature={feature}}}" if feature else alert.name
            self.events.append((now, alert.state, name))

    def lines(self) -> list[str]:
        """One line per alert: fired at, resolved at."""
        story: dict[str, dict[str, float]] = {}
        for at, state, name in list(self.events):
            story.setdefault(name, {}).setdefault(state, at)
        return [
            f"  {name:<36} fired {times.get('firing', 0):4.1f}s, "
            + (f"resolved {times['resolved']:4.1f}s" if "resolved" in times else "still firing")
            for name, times in story.items()
        ]


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


def _alert_log(out: TextIO) -> logging.Handler:
    """Print the LogSink's lines in the terminal while the demo runs."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("        alert: %(message)s"))
    logger = logging.getLogger("aimon.alerts")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def _compare_drift(rows: DriftRows) -> DriftReport | None:
    """The drift phase's calls against the training data (None if the run never drifted)."""
    current = rows.frame()
    if current.empty:
        return None
    return compare(training_data(), current, methods=REPORT_METHODS, thresholds={"psi": PSI_ALERT})


def _write_report(drift: DriftReport, rows: DriftRows, path: Path) -> Path:
    kept = len(rows.rows)
    sampled = f", a sample of {kept:,}" if rows.seen > kept else ""
    page = report_html(
        drift,
        title="aimon demo: fraud-demo, the drift phase against the training data",
        reference_name=f"synthetic training data ({len(training_data()):,} rows)",
        current_name=f"the {rows.seen:,} calls made while 'amount' drifted{sampled}",
    )
    path.write_text(page, encoding="utf-8")
    return path.resolve()


def _drift_lines(drift: DriftReport | None) -> list[str]:
    if drift is None:
        return ["  none compared: the run stopped before the drift phase"]
    lines = []
    for name in sorted(drift.columns, key=lambda n: not drift.columns[n].drifted):
        column = drift.columns[name]
        stats = ", ".join(
            f"{method} {result.statistic:.2f}" for method, result in column.results.items()
        )
        lines.append(f"  {name:<8} {'DRIFTED' if column.drifted else 'ok':<8} {stats}")
    return lines


def _monitor(settings: DemoSettings, router: Router) -> Monitor:
    window = f"{settings.window_s:g}s"
    return Monitor(
        "fraud-demo",
        version="1.0.0",
        window=window,
        slice=f"{settings.window_s / 8:g}s",
        reference=Reference.from_frame(
            training_data(), prediction="score", target="fraud", quality_threshold=FRAUD_SCORE
        ),
        drift_window=window,
        drift_min_count=VERDICT_MIN_COUNT,
        thresholds=demo_rules(PSI_MIN_COUNT),
        router=router,
        evaluation_interval="250ms",
        outcome_ttl=f"{settings.duration_s:g}s",
    )


def _scenario(
    mon: Monitor, model: SimulatedModel, settings: DemoSettings, stop: threading.Event, out: TextIO
) -> list[tuple[float, str, Snapshot]]:
    """A line twice a second until the scenario's end (or ``stop``)."""
    print(HEADER, file=out)
    history: list[tuple[float, str, Snapshot]] = []
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < settings.duration_s:
        if stop.wait(min(0.5, settings.duration_s - elapsed)):
            print("stopped", file=out)
            break
        elapsed = time.monotonic() - started
        snap = mon.snapshot()
        history.append((elapsed, model.phase(), snap))
        print(_line(elapsed, model.phase(), snap), file=out, flush=True)
    return history


def _start_server(mon: Monitor, settings: DemoSettings, out: TextIO) -> MetricsServer:
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
        f"burst at 45-60 %, 'amount' drifts at {DRIFT_FROM:.0%}-{DRIFT_UNTIL:.0%} of "
        f"{settings.duration_s:g}s; alerts: p95 > 100 ms, error rate > 5 %, "
        f"PSI > {PSI_ALERT}{webhook}\n",
        file=out,
    )
    return server


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
    mon = _monitor(settings, router)
    handler = _alert_log(out)
    outcomes = DelayedOutcomes(mon, settings.duration_s * OUTCOME_DELAY)
    traffic = _Traffic(
        mon.watch(model.predict),
        model,
        DriftRows(seed=settings.seed),
        pause_s=settings.workers / settings.baseline_rps,
        outcomes=outcomes,
    )
    server = _start_server(mon, settings, out)
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
        drift = _compare_drift(traffic.drift_rows)
        if drift is not None and settings.report is not None:
            report = _write_report(drift, traffic.drift_rows, settings.report)
        _summary(history, mon.snapshot(), story, drift, report, out)
        for line in _quality_lines(history, outcomes.delay_s):
            print(line, file=out)
        if settings.webhook:
            sent = router.stats().get("webhook", {})
            print(f"webhook: {', '.join(f'{sent.get(k, 0)} {k}' for k in _RESULTS)}", file=out)
        if serve:
            _serve(mon, model, server.port, metrics_url, settings.baseline_rps, stop, out)
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


def _quality_lines(history: list[tuple[float, str, Snapshot]], delay_s: float) -> list[str]:
    """The model's quality over the window by phase: the drift at its worst F1, any other
    phase at its end (outcomes arrive late, so a phase's last row shows most of its own)."""
    lines = [f"model quality (outcomes arrive {delay_s:.1f}s late; fraud flagged at score >= "
             f"{FRAUD_SCORE:g}), the drift at its worst, else each phase's end:"]  # fmt: skip
    reference = next((s.reference_quality for _, _, s in history if s.reference_quality), None)
    if reference is not None:
        lines.append(f"  {'training data':<14}         {_quality_text(reference, 'rows')}")
    for rows in _phases(history):
        elapsed, phase, snap = rows[-1]
        if phase == "drift":
            scored = [row for row in rows if row[2].quality is not None and row[2].quality.count]
            if scored:
                elapsed, phase, snap = min(scored, key=lambda row: row[2].quality.f1 or 0.0)  # type: ignore[union-attr]
        q = snap.quality
        if q is None or not q.count:
            lines.append(f"  {phase:<14} no outcomes yet")
            continue
        change = snap.quality_change.get("f1")
        versus = "" if change is None else f" ({change:+.2f} F1 vs training)"
        lines.append(f"  {phase:<14} at {elapsed:4.1f}s: {_quality_text(q)}{versus}")
    return lines


def _quality_text(q: QualityMetrics, of: str = "matched predictions") -> str:
    auc = "-" if q.roc_auc is None else f"{q.roc_auc:.2f}"
    return (
        f"f1 {q.f1 or 0.0:.2f}, accuracy {q.accuracy or 0.0:.2f}, roc_auc {auc} over {q.count} {of}"
    )


def _summary(
    history: list[tuple[float, str, Snapshot]],
    final: Snapshot,
    story: AlertStory,
    drift: DriftReport | None,
    report: Path | None,
    out: TextIO,
) -> None:
    print("\neach phase at its peak (p95 in the spike, error rate in the burst, PSI in the "
          "drift, else the end)", file=out)  # fmt: skip
    print(HEADER, file=out)
    for rows in _phases(history):
        print(_line(*_peak(rows)), file=out)
    totals = final.totals
    print(
        f"\ntotal: {totals.calls} calls, {totals.calls - totals.ok} errors "
        f"({', '.join(f'{k}={v}' for k, v in sorted(totals.errors.items())) or 'none'}), "
        f"dropped: {sum(final.dropped.values())}",
        file=out,
    )
    print(_first_drift(history), file=out)
    print("alerts:", file=out)
    for line in story.lines() or ["  none"]:
        print(line, file=out)
    print(f"drift phase vs training data ({', '.join(REPORT_METHODS)}; PSI at "
          f"{PSI_ALERT} as the alert):", file=out)  # fmt: skip
    for line in _drift_lines(drift):
        print(line, file=out)
    if report is not None:
        print(f"report: {report}  (open {report.as_uri()} in a browser)", file=out)
    elif drift is not None:
        print("report: not written", file=out)


def _serve(
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
        "  README.md, 'From `make demo` to Prometheus and Grafana', walks through it.",
        file=out,
    )
    print(HEADER, file=out, flush=True)
    started = time.monotonic()
    while not stop.wait(10.0):
        snap = mon.snapshot()
        print(_line(time.monotonic() - model.started, "baseline", snap), file=out, flush=True)
    print(f"stopped after serving {time.monotonic() - started:.0f}s", file=out, flush=True)
