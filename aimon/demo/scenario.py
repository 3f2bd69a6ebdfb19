"""The demo's script: its settings, the synthetic training data, the simulated fraud model
whose latency, failures and inputs follow the phases of the run, the rules and the Monitor.

The model's score is the probability of fraud given the amount (:func:`fraud_score`), and
each purchase is fraud with that probability, on the training data as live: the scores are
calibrated, so the Monitor can estimate the model's accuracy from them (CBPE) before the
outcomes arrive. The drift is covariate shift toward the hard cases: purchases gather near
the amount where fraud becomes likely, where the model is unsure and often wrong.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aimon.alerts import Router
from aimon.drift.reference import Reference
from aimon.monitors import Monitor
from aimon.thresholds import Rule

__all__ = [
    "BURST",
    "COUNTRIES",
    "DRIFT_FROM",
    "DRIFT_ROWS",
    "DRIFT_SPREAD",
    "DRIFT_UNTIL",
    "FRAUD_AMOUNT",
    "FRAUD_SCORE",
    "FRAUD_SPREAD",
    "OUTCOME_DELAY",
    "PSI_ALERT",
    "PSI_MIN_COUNT",
    "QUALITY_DROP",
    "REPORT_METHODS",
    "SPIKE",
    "VERDICT_MIN_COUNT",
    "DemoSettings",
    "SimulatedModel",
    "demo_monitor",
    "demo_rules",
    "fraud_score",
    "training_data",
]


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
#: Between these shares of the run, purchases gather near FRAUD_AMOUNT (a new kind of
#: purchase, say): their amounts are FRAUD_AMOUNT times a log-normal of this spread.
DRIFT_FROM, DRIFT_UNTIL = 0.4, 0.7
DRIFT_SPREAD = 0.35
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
#: A purchase of this amount is fraud one time in two; the odds grow e-fold every
#: FRAUD_SPREAD in the log of the amount. The model flags a score at or above FRAUD_SCORE.
FRAUD_AMOUNT = 300.0
FRAUD_SPREAD = 0.15
FRAUD_SCORE = 0.5
#: The quality alerts: accuracy, realised or estimated, this far below the training data's.
QUALITY_DROP = 0.1
#: Outcomes arrive this share of the run after their prediction.
OUTCOME_DELAY = 0.1


def fraud_score(amount: float) -> float:
    """The model's score: the probability that a purchase of ``amount`` is fraud."""
    if amount <= 0.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-(math.log(amount) - math.log(FRAUD_AMOUNT)) / FRAUD_SPREAD))


def training_data(rows: int = 5000, seed: int = 1) -> pd.DataFrame:
    """The synthetic data the demo's model was "trained" on: the reference."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(4.5, 1.0, rows), 2)
    score = np.array([fraud_score(float(a)) for a in amount])
    return pd.DataFrame(
        {
            "age": rng.integers(18, 91, rows),
            "amount": amount,
            "country": rng.choice(COUNTRIES, rows),
            "score": score,
            "fraud": (rng.random(rows) < score).astype(int),
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
        """Purchases gather near FRAUD_AMOUNT now."""
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
        return fraud_score(float(amount)) if isinstance(amount, int | float) else 0.0


def demo_rules(min_count: int) -> list[Rule]:
    """The demo's rules: like the defaults, with thresholds and waits fit for seconds."""
    return [
        Rule(name="LatencyP95High", metric="latency_p95", value=0.1, min_count=50,
             severity="warning"),
        Rule(name="ErrorRateHigh", metric="error_rate", value=0.05, min_count=50,
             severity="critical"),
        Rule(name="FeatureDriftPSI", metric="psi", value=PSI_ALERT, min_count=min_count,
             severity="warning"),
        Rule(name="EstimatedQualityBelowReference", metric="estimated_accuracy", op="<",
             value=-QUALITY_DROP, relative_to="reference", min_count=100, severity="warning"),
        Rule(name="QualityBelowReference", metric="accuracy", op="<", value=-QUALITY_DROP,
             relative_to="reference", min_count=100, severity="warning"),
    ]  # fmt: skip


def demo_monitor(settings: DemoSettings, router: Router) -> Monitor:
    """The watched model's Monitor: windows fit for the run's length, the training data as
    the reference (with its quality, and the scores and outcomes that calibrate the estimate
    of quality before the outcomes arrive), the demo's rules, alerts through ``router``."""
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
