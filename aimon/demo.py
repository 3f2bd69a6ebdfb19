"""``aimon demo``: a simulated model under the decorator, with a latency spike, an error
burst and a drifting feature.

A reference is built from synthetic training data; traffic comes from a pool of threads
calling a decorated ``predict``. From 30 % of the run latency rises for a while, then some
calls fail; from half-way the ``amount`` feature drifts (and with it the model's score).
Twice a second the terminal shows the rolling window and the drifted features; ``/metrics``
is served throughout; at the end a table of each phase at its peak is printed.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import pandas as pd

from aimon.drift.reference import Reference
from aimon.monitors import Monitor
from aimon.snapshot import Snapshot

__all__ = ["DemoSettings", "run_demo"]


@dataclass(frozen=True)
class DemoSettings:
    """How long, how busy, and where to serve."""

    duration_s: float = 10.0
    workers: int = 16
    host: str = "127.0.0.1"
    port: int = 9108
    window: str = "2s"
    slice: str = "250ms"
    drift_window: str = "3s"
    seed: int = 7


COUNTRIES = ["DE", "FR", "US", "GB", "ES"]
#: From this share of the run on, amounts triple (a new kind of purchase, say).
DRIFT_FROM = 0.5


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
        """``normal``, ``latency spike``, ``error burst`` or ``drift``, by the time elapsed."""
        progress = self.progress()
        if 0.3 <= progress < 0.55:
            return "latency spike"
        if 0.55 <= progress < 0.75:
            return "error burst"
        return "drift" if progress >= DRIFT_FROM else "normal"

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
        drifting = model.progress() >= DRIFT_FROM
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


def run_demo(settings: DemoSettings, out: TextIO) -> list[Snapshot]:
    """Run the scenario, printing progress to ``out``; returns one Snapshot per second."""
    model = SimulatedModel(settings.duration_s, settings.seed)
    reference = Reference.from_frame(training_data(), prediction="score")
    mon = Monitor(
        "fraud-demo",
        version="1.0.0",
        window=settings.window,
        slice=settings.slice,
        reference=reference,
        drift_window=settings.drift_window,
    )
    predict = mon.watch(model.predict)
    try:
        server = mon.serve(settings.host, settings.port)
    except OSError:
        server = mon.serve(settings.host, 0)  # the usual port is taken: any free one will do
    print(f"aimon demo: serving {server.url}/metrics  (/status, /healthz)", file=out)
    print(
        f"window {settings.window} of {settings.slice} slices, drift window "
        f"{settings.drift_window}; latency spike at 30-55 %, error burst at 55-75 %, "
        f"'amount' drifts from {DRIFT_FROM:.0%} of {settings.duration_s:.0f}s\n",
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
    finally:
        stop.set()
        for t in threads:
            t.join(2.0)
    final = mon.snapshot()
    mon.close()
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
    return [snap for _, _, snap in history]
