"""The Router: decides which alerts each sink hears about, and delivers off the hot path.

Per route (a sink and the labels it wants):

* pending alerts are never sent;
* a firing alert is sent when it starts firing, then again every ``repeat_interval`` while
  it fires (never more often: duplicates are dropped by fingerprint);
* a resolved alert is sent once if its firing was sent (and re-sent for the sink's
  ``resend_resolved_for``, which Alertmanager wants);
* the alerts of one evaluation are grouped by ``group_by`` labels, one notification each.

Each route has its own bounded queue and thread, so a slow or dead receiver delays nobody
else; a full queue drops the notification and counts it. A failed delivery is retried with
exponential backoff and jitter, then counted as failed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aimon.alerts.alert import Alert, AlertState
from aimon.alerts.base import Sink

__all__ = ["Route", "Router"]

log = logging.getLogger("aimon.alerts")

RESULTS = ("delivered", "failed", "dropped")


@dataclass(frozen=True)
class Route:
    """A sink and the alerts it gets: those whose labels equal every ``match`` pair
    (e.g. ``{"severity": "critical"}``), grouped by ``group_by`` labels."""

    sink: Sink
    match: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ("alertname", "model")
    repeat_interval: float | None = None

    def matches(self, alert: Alert) -> bool:
        """The alert has every label this route asks for."""
        return all(alert.labels.get(k) == v for k, v in self.match.items())


@dataclass
class _Sent:
    state: AlertState
    at: float


_STOP = object()


class _Lane:
    """One route's queue and delivery thread."""

    def __init__(self, router: Router, route: Route, name: str) -> None:
        self.route = route
        self.name = name
        self.queue: queue.Queue[object] = queue.Queue(maxsize=router.queue_size)
        self.sent: dict[tuple[str, str], _Sent] = {}  # (source, fingerprint)
        self.results: Counter[str] = Counter(dict.fromkeys(RESULTS, 0))
        self.busy = 0
        self._router = router
        self._idle = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=f"aimon-alerts-{name}", daemon=True)
        self.thread.start()

    def put(self, alerts: list[Alert]) -> None:
        with self._idle:
            self.busy += 1
        try:
            self.queue.put_nowait(alerts)
        except queue.Full:
            self._done("dropped")
            log.warning("alert sink %s: queue full, notification dropped", self.name)

    def _done(self, result: str) -> None:
        with self._idle:
            self.results[result] += 1
            self.busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        router = self._router
        while True:
            job = self.queue.get()
            if job is _STOP:
                return
            alerts: list[Alert] = job  # type: ignore[assignment]
            self._done(self._deliver(alerts, router))

    def _deliver(self, alerts: list[Alert], router: Router) -> str:
        for attempt in range(router.retries + 1):
            try:
                self.route.sink.send(alerts)
                return "delivered"
            except Exception as exc:  # a sink's failure must never escape the thread
                retry = getattr(exc, "retry", True)  # False: a redirect, an unusable URL
                if attempt == router.retries or router.closing.is_set() or not retry:
                    log.warning(
                        "alert sink %s: giving up after %d attempts: %s",
                        self.name,
                        attempt + 1,
                        exc,
                    )
                    return "failed"
                delay = min(router.backoff_max, router.backoff * 2**attempt)
                delay *= router.jitter()
                log.info("alert sink %s: %s; retrying in %.2fs", self.name, exc, delay)
                if router.closing.wait(delay):
                    return "failed"
        return "failed"  # pragma: no cover


class Router:
    """Route alerts to sinks with dedup, repeat interval, grouping, retries and bounded
    queues; one thread per route.

    Args:
        routes: sinks (each gets every alert) or :class:`Route` objects.
        repeat_interval: seconds between re-notifications of a still-firing alert (a sink's
            own ``repeat_interval`` or a route's wins).
        queue_size: notifications waiting per route before new ones are dropped.
        retries: attempts after the first failure; backoff doubles from ``backoff`` up to
            ``backoff_max`` seconds, with +-50 % jitter.
    """

    def __init__(
        self,
        routes: Sequence[Route | Sink],
        *,
        repeat_interval: float = 3600.0,
        queue_size: int = 256,
        retries: int = 5,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size: must be at least 1, got {queue_size}")
        self.repeat_interval = repeat_interval
        self.queue_size = queue_size
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.closing = threading.Event()
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._lanes: list[_Lane] = []
        names: Counter[str] = Counter()
        for item in routes:
            route = item if isinstance(item, Route) else Route(item)
            base = getattr(route.sink, "name", type(route.sink).__name__)
            names[base] += 1
            name = base if names[base] == 1 else f"{base}#{names[base]}"
            self._lanes.append(_Lane(self, route, name))

    def jitter(self) -> float:
        """A factor in [0.5, 1.5) spreading retries out."""
        return 0.5 + self._random.random()

    def submit(self, alerts: Sequence[Alert], now: float | None = None, source: str = "") -> None:
        """Queue the notifications these alerts call for (never blocks). ``alerts`` is all a
        ``source`` (one monitor's evaluator) holds now: what it no longer holds is forgotten.
        """
        if self.closing.is_set():
            return
        now = self._clock() if now is None else now
        with self._lock:
            for lane in self._lanes:
                due = [
                    a for a in alerts if lane.route.matches(a) and self._due(lane, a, now, source)
                ]
                for group in _groups(due, lane.route.group_by):
                    lane.put(group)
                self._forget(lane, alerts, source)

    def _due(self, lane: _Lane, alert: Alert, now: float, source: str) -> bool:
        sink = lane.route.sink
        repeat = lane.route.repeat_interval or getattr(sink, "repeat_interval", None)
        repeat = repeat or self.repeat_interval
        key = (source, alert.fingerprint)
        sent = lane.sent.get(key)
        if alert.state == "pending":
            return False
        if alert.state == "firing":
            if sent is None or sent.state != "firing" or now - sent.at >= repeat:
                lane.sent[key] = _Sent("firing", now)
                return True
            return False
        # resolved: only if its firing was sent, then once (or for resend_resolved_for)
        if sent is None:
            return False
        if sent.state == "firing":
            lane.sent[key] = _Sent("resolved", now)
            return True
        resend_for = float(getattr(sink, "resend_resolved_for", 0.0) or 0.0)
        ended = alert.ends_at.timestamp() if alert.ends_at else now
        if now - ended < resend_for and now - sent.at >= repeat:
            sent.at = now
            return True
        return False

    @staticmethod
    def _forget(lane: _Lane, alerts: Sequence[Alert], source: str) -> None:
        """Drop what was sent for this source's alerts that are gone (bounded memory)."""
        current = {(source, a.fingerprint) for a in alerts}
        for key in [k for k in lane.sent if k[0] == source and k not in current]:
            del lane.sent[key]

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's threads and locks do not exist here; start each
        route's lane afresh (empty queue, zero counts)."""
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._lanes = [_Lane(self, lane.route, lane.name) for lane in self._lanes]

    def stats(self) -> dict[str, dict[str, int]]:
        """Per sink, notifications ``delivered``, ``failed`` (after retries) and ``dropped``
        (queue full)."""
        return {lane.name: dict(lane.results) for lane in self._lanes}

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for every queued notification; True if all done."""
        deadline = time.monotonic() + timeout
        return all(lane.wait_idle(max(deadline - time.monotonic(), 0.0)) for lane in self._lanes)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then stop."""
        self.flush(timeout)
        self.closing.set()
        for lane in self._lanes:
            with contextlib.suppress(queue.Full):
                lane.queue.put_nowait(_STOP)
        for lane in self._lanes:
            lane.thread.join(timeout=0.5)

    @property
    def sinks(self) -> list[Sink]:
        """The sinks, in route order."""
        return [lane.route.sink for lane in self._lanes]


def _groups(alerts: list[Alert], group_by: tuple[str, ...]) -> list[list[Alert]]:
    groups: dict[tuple[str, ...], list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(tuple(alert.labels.get(k, "") for k in group_by), []).append(alert)
    return list(groups.values())
