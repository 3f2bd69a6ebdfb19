"""``aimon demo``: a simulated model under the decorator, with a latency spike, an error
burst and a drifting feature, and the alerts they raise.

A reference is built from synthetic training data; traffic comes from a pool of threads
calling a decorated ``predict``. From 25 % of the run latency rises for a while, then some
calls fail; from 40 % to 70 % the ``amount`` feature drifts (and with it the model's score);
then traffic recovers. Rules on p95 latency, error rate and per-feature PSI send their
alerts to a LogSink printed in the terminal: they fire, then resolve as traffic recovers.
Twice a second the terminal shows the rolling window and the drifted features; ``/metrics``
is served throughout; at the end a table of each phase at its peak and the alerts' story
are printed.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import pandas as pd

from aimon.alerts import Alert, CallbackSink, LogSink
from aimon.drift.reference import Reference
from aimon.monitors import Monitor
from aimon.snapshot import Snapshot
from aimon.thresholds import Rule

__all__ = ["DemoSettings", "run_demo"]


@dataclass(frozen=True)
class DemoSettings:
    """How long, how busy, and where to serve."""

    duration_s: float = 10.0
    workers: int = 16
    host: str = "127.0.0.1"
    port: int = 9108
    seed: int = 7

    @property
    def window_s(self) -> float:
        """The rolling window (and the drift window): a fifth of the run."""
        return self.duration_s / 5


COUNTRIES = ["DE", "FR", "US", "GB", "ES"]
#: Between these shares of the run, amounts triple (a new kind of purchase, say).
DRIFT_FROM, DRIFT_UNTIL = 0.4, 0.7
SPIKE = (0.25, 0.45)
BURST = (0.45, 0.6)


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


def _traffic(predict: object, model: SimulatedModel, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        drifting = model.drifting()
        features = {
            "age": rng.randint(18, 90),
            "amount": round(rng.lognormvariate(4.5, 1.0) * (3.0 if drifting else 1.0), 2),
            "country": rng.choice(COUNTRIES),
        }
        with contextlib.suppress(TimeoutError, ValueError):  # counted by the monitor
            predict(features)  # type: ignore[operator]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:7.1f}"


def _drifted(snap: Snapshot) -> str:
    if snap.drift_window is None or not snap.drift_window.drifted:
        return "-"
    return ", ".join(
        f"{name} (psi {snap.drift[name].psi:.2f})" if snap.drift[name].psi is not None else name
        for name in snap.drift_window.drifted
    )


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
        Rule(name="FeatureDriftPSI", metric="psi", value=0.2, min_count=min_count,
             severity="warning"),
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
        for at, state, name in self.events:
            story.setdefault(name, {}).setdefault(state, at)
        return [
            f"  {name:<36} fired {times.get('firing', 0):4.1f}s, "
            + (f"resolved {times['resolved']:4.1f}s" if "resolved" in times else "still firing")
            for name, times in story.items()
        ]


def _alert_log(out: TextIO) -> logging.Handler:
    """Print the LogSink's lines in the terminal while the demo runs."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("        alert: %(message)s"))
    logger = logging.getLogger("aimon.alerts")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def run_demo(settings: DemoSettings, out: TextIO) -> list[Snapshot]:
    """Run the scenario, printing progress to ``out``; returns one Snapshot per half second."""
    model = SimulatedModel(settings.duration_s, settings.seed)
    reference = Reference.from_frame(training_data(), prediction="score")
    window = f"{settings.window_s:g}s"
    min_count = 200
    story = AlertStory(time.monotonic(), [])
    mon = Monitor(
        "fraud-demo",
        version="1.0.0",
        window=window,
        slice=f"{settings.window_s / 8:g}s",
        reference=reference,
        drift_window=window,
        drift_min_count=min_count,
        thresholds=demo_rules(min_count),
        sinks=[LogSink(), CallbackSink(story.record)],
        evaluation_interval="250ms",
    )
    handler = _alert_log(out)
    predict = mon.watch(model.predict)
    try:
        server = mon.serve(settings.host, settings.port)
    except OSError:
        server = mon.serve(settings.host, 0)  # the usual port is taken: any free one will do
    print(f"aimon demo: serving {server.url}/metrics  (/status, /healthz)", file=out)
    print(
        f"window and drift window {window}; latency spike at 25-45 %, error burst at 45-60 %, "
        f"'amount' drifts at {DRIFT_FROM:.0%}-{DRIFT_UNTIL:.0%} of {settings.duration_s:.0f}s; "
        "alerts: p95 > 100 ms, error rate > 5 %, PSI > 0.2\n",
        file=out,
    )
    print(HEADER, file=out)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_traffic, args=(predict, model, stop, settings.seed + i), daemon=True
        )
        for i in range(settings.workers)
    ]
    for t in threads:
        t.start()
    history: list[tuple[float, str, Snapshot]] = []
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < settings.duration_s:
            time.sleep(min(0.5, settings.duration_s - elapsed))
            elapsed = time.monotonic() - started
            snap = mon.snapshot()
            history.append((elapsed, model.phase(), snap))
            print(_line(elapsed, model.phase(), snap), file=out, flush=True)
        mon.check()  # the last word on the alerts before the story is told
    finally:
        stop.set()
        for t in threads:
            t.join(2.0)
        final = mon.snapshot()
        mon.close()
        logging.getLogger("aimon.alerts").removeHandler(handler)
    print("\neach phase at its peak (p95 in the spike, error rate in the burst, else the end)",
          file=out)  # fmt: skip
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
    return [snap for _, _, snap in history]
