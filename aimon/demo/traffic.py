"""The demo's callers: client threads that call the decorated model (:class:`Traffic`), the
calls kept from the drift phase (:class:`DriftRows`) and the outcomes that arrive late
(:class:`DelayedOutcomes`)."""

from __future__ import annotations

import contextlib
import heapq
import random
import threading
import time
from dataclasses import dataclass, field

import pandas as pd

from aimon.demo.scenario import (
    COUNTRIES,
    DRIFT_ROWS,
    DRIFT_SPREAD,
    FRAUD_AMOUNT,
    SimulatedModel,
    fraud_score,
)
from aimon.monitors import Monitor
from aimon.request_ids import current_request_id

__all__ = ["DelayedOutcomes", "DriftRows", "Traffic"]


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
        """Record ``actual`` as the outcome of ``request_id`` once ``delay_s`` has passed."""
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
        """Stop the timer thread (outcomes not yet due are not recorded)."""
        self._stop.set()
        self._thread.join(2.0)


@dataclass
class Traffic:
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
        """One client thread: call the model until ``stop``, pausing between calls once calm."""
        rng = random.Random(seed)
        while not self.stop.is_set():
            drifting = self.model.drifting()
            amount = round(
                FRAUD_AMOUNT * rng.lognormvariate(0.0, DRIFT_SPREAD)
                if drifting  # the hard cases: near the amount where fraud becomes likely
                else rng.lognormvariate(4.5, 1.0),
                2,
            )
            features: dict[str, object] = {
                "age": rng.randint(18, 90),
                "amount": amount,
                "country": rng.choice(COUNTRIES),
            }
            fraud = rng.random() < fraud_score(amount)  # the model's score is calibrated
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
