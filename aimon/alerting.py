"""A Monitor's alerting: its rules' evaluator and the router of their alerts, evaluated on
an interval by the Monitor's background thread or on demand by ``Monitor.check()``."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from aimon.alerts.alert import Alert
from aimon.alerts.base import Sink
from aimon.alerts.router import Router
from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError
from aimon.snapshot import Snapshot
from aimon.thresholds import Evaluator, Rule, Thresholds

__all__ = ["Alerting", "ThresholdsLike", "make_alerting"]

ThresholdsLike = Thresholds | Sequence[Rule] | str | os.PathLike[str]


class Alerting:
    """Evaluates the rules on snapshots and hands the alerts to the router (if any)."""

    def __init__(
        self, evaluator: Evaluator, router: Router | None, interval_s: float, owns_router: bool
    ) -> None:
        self.evaluator = evaluator
        self.router = router
        self.interval_s = interval_s
        self._owns_router = owns_router
        self._lock = threading.Lock()
        self._last: float | None = None

    def check(self, snapshot: Snapshot, now: float) -> list[Alert]:
        """Evaluate now and dispatch; return the active (pending and firing) alerts."""
        with self._lock:
            alerts = self.evaluator.evaluate(snapshot, now)
            self._last = now
        if self.router is not None:
            source = f"{self.evaluator.model}/{self.evaluator.version or ''}"
            self.router.submit(alerts, now, source=source)
        return [a for a in alerts if a.state != "resolved"]

    def due(self, now: float) -> bool:
        """An interval has passed since the last evaluation."""
        return self._last is None or now - self._last >= self.interval_s

    def active(self) -> list[Alert]:
        """The pending and firing alerts of the last evaluation."""
        with self._lock:
            return [a for a in self.evaluator.alerts() if a.state != "resolved"]

    def rule_states(self) -> dict[str, int]:
        """Per rule: 0 inactive, 1 pending, 2 firing."""
        with self._lock:
            return self.evaluator.rule_states()

    def notifications(self) -> dict[str, dict[str, int]]:
        """Per sink: delivered, failed, dropped."""
        return self.router.stats() if self.router is not None else {}

    def reset_after_fork(self) -> None:
        """In a forked child: no alert state, fresh lock and delivery threads."""
        self._lock = threading.Lock()
        self._last = None
        self.evaluator.states.clear()
        if self.router is not None:
            self.router.reset_after_fork()

    def close(self, timeout: float) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds."""
        if self.router is None:
            return
        if self._owns_router:
            self.router.close(timeout)
        else:
            self.router.flush(timeout)


def make_alerting(
    thresholds: ThresholdsLike | None,
    sinks: Sequence[Sink] | None,
    router: Router | None,
    interval: Duration,
    model: str,
    version: str | None,
) -> Alerting | None:
    """The Monitor's alerting from its settings, or None when it has no rules and no sinks.

    Sinks (or a router) without thresholds get the default rules.
    """
    if sinks is not None and router is not None:
        raise ConfigError("sinks: give sinks or a router, not both")
    if thresholds is None and sinks is None and router is None:
        return None
    interval_s = parse_duration(interval, "evaluation_interval")
    rules = _thresholds(thresholds)
    owns = router is None and bool(sinks)
    if owns:
        for sink in sinks or ():
            if not callable(getattr(sink, "send", None)):
                raise ConfigError(f"sinks: {sink!r} has no send(alerts) method")
        router = Router(list(sinks or ()))
    return Alerting(Evaluator(rules, model, version), router, interval_s, owns)


def _thresholds(value: ThresholdsLike | None) -> Thresholds:
    if value is None:
        return Thresholds()
    if isinstance(value, Thresholds):
        return value
    if isinstance(value, str | os.PathLike):
        return Thresholds.from_file(Path(value))
    rules = list(value)
    if not all(isinstance(r, Rule) for r in rules):
        raise ConfigError("thresholds: expected Thresholds, a list of Rule, or a rules file")
    try:
        return Thresholds(rules=rules)
    except ValueError as exc:
        raise ConfigError(f"thresholds: {exc}") from None
