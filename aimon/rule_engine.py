"""Threshold rules evaluated as Prometheus evaluates alerting rules: a breach is *pending*
until it has held for ``for_``, then *firing*; when it stops holding (for longer than
``keep_firing_for``) the alert is *resolved*. A Monitor's :class:`Alerting` evaluates its rules
on an interval and hands the alerts to its router.

A rule with a ``segment`` is evaluated on each segment value's Snapshot
(``Snapshot.segments[column][value]``); each value has states of its own.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from aimon.alerts.alert import Alert, AlertState
from aimon.alerts.base import Sink
from aimon.alerts.router import Router
from aimon.drift.data_quality import OUT_OF_RANGE_CHANCE
from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError
from aimon.snapshot import Snapshot
from aimon.thresholds import (
    DATA_QUALITY_METRICS,
    ESTIMATED_METRICS,
    MODEL_METRICS,
    QUALITY_METRICS,
    Rule,
    Thresholds,
)

__all__ = ["Alerting", "Evaluator", "RuleState", "ThresholdsLike", "make_alerting"]

_OP_WORDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}
#: Resolved alerts are kept (and re-sent by sinks that want it) this long, as Prometheus does.
RESOLVED_RETENTION_S = 15 * 60


@dataclass
class RuleState:
    """One rule's state for one label set, with the time of each change (epoch seconds).

    ``feature`` is set for feature rules, ``segment`` (the column) and ``segment_value`` for
    segment rules.
    """

    state: Literal["inactive", "pending", "firing", "resolved"] = "inactive"
    active_at: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    last_breach_at: float | None = None
    value: float | None = None
    feature: str | None = None
    segment: str | None = None
    segment_value: str | None = None


#: A label set of a rule: (rule name, feature, segment column, segment value).
StateKey = tuple[str, str | None, str | None, str | None]

_STATE_NUMBER = {"inactive": 0, "resolved": 0, "pending": 1, "firing": 2}


class Evaluator:
    """Keeps one :class:`RuleState` per rule and label set (per feature for feature rules,
    per segment column and value for segment rules) and moves them along inactive ->
    pending -> firing -> resolved at each evaluation."""

    def __init__(self, thresholds: Thresholds, model: str, version: str | None) -> None:
        self.thresholds = thresholds
        self.model = model
        self.version = version
        self.states: dict[StateKey, RuleState] = {}

    def evaluate(self, snapshot: Snapshot, now: float) -> list[Alert]:
        """Evaluate every rule on ``snapshot`` at ``now``; return the alerts that are
        pending, firing, or resolved within the retention (15 minutes)."""
        rules = {rule.name: rule for rule in self.thresholds.rules}
        seen: set[StateKey] = set()
        for rule in rules.values():
            for column, label, snap in _targets(rule, snapshot):
                for feature, value, count in _readings(rule, snap):
                    key = (rule.name, feature, column, label)
                    seen.add(key)
                    breach = value is not None and count >= rule.min_count and rule.breached(value)
                    state = self.states.get(key)
                    if state is None:
                        state = self.states[key] = RuleState(
                            feature=feature, segment=column, segment_value=label
                        )
                    _step(rule, state, breach, value, now)
        for key, state in self.states.items():
            if key not in seen and key[0] in rules:
                _step(rules[key[0]], state, False, None, now)  # the series went away
        for key, state in list(self.states.items()):
            if state.state == "inactive" or (
                state.state == "resolved"
                and state.resolved_at is not None
                and now - state.resolved_at > RESOLVED_RETENTION_S
            ):
                del self.states[key]
        return self.alerts()

    def alerts(self) -> list[Alert]:
        """The alerts of the last evaluation (pending, firing, recently resolved)."""
        rules = {r.name: r for r in self.thresholds.rules}
        return [
            self._alert(rules[key[0]], state)
            for key, state in sorted(self.states.items(), key=lambda kv: str(kv[0]))
            if key[0] in rules and state.state != "inactive"
        ]

    def rule_states(self) -> dict[str, int]:
        """Per rule, 0 inactive, 1 pending, 2 firing: the most advanced of its label sets
        (of a segment rule, the worst over its segment values and features)."""
        out = {rule.name: 0 for rule in self.thresholds.rules}
        for (name, *_), state in self.states.items():
            if name in out:
                out[name] = max(out[name], _STATE_NUMBER[state.state])
        return out

    def _alert(self, rule: Rule, state: RuleState) -> Alert:
        labels = {"alertname": rule.name, "model": self.model, "severity": rule.severity}
        if self.version is not None:
            labels["version"] = self.version
        if state.feature is not None:
            labels["feature"] = state.feature
        in_segment = ""
        if state.segment is not None and state.segment_value is not None:
            labels["segment"] = state.segment
            labels["segment_value"] = state.segment_value
            in_segment = f" in {state.segment}={state.segment_value}"
        labels.update(rule.labels)
        context = {
            "value": state.value if state.value is not None else math.nan,
            "threshold": rule.value,
            "op": rule.op,
            "when": _OP_WORDS[rule.op],
            "metric": rule.metric,
            "feature": state.feature or "",
            "of_feature": f" of {state.feature}" if state.feature else "",
            "model": self.model,
            "version": self.version or "",
            "rule": rule.name,
            "segment": state.segment or "",
            "segment_value": state.segment_value or "",
            "in_segment": in_segment,
        }
        annotations = {k: t.format(**context) for k, t in rule.templates().items()}
        annotations["value"] = f"{state.value:.6g}" if state.value is not None else ""
        annotations["threshold"] = f"{rule.op} {rule.value:g}"
        status: AlertState = "resolved" if state.state == "resolved" else state.state  # type: ignore[assignment]
        assert state.active_at is not None
        return Alert(
            labels=labels,
            annotations=annotations,
            state=status,
            starts_at=_utc(state.active_at),
            ends_at=_utc(state.resolved_at) if state.resolved_at is not None else None,
            value=state.value,
        )


def _step(rule: Rule, state: RuleState, breach: bool, value: float | None, now: float) -> None:
    if value is not None:
        state.value = value
    if breach:
        state.last_breach_at = now
        if state.state in ("inactive", "resolved"):
            state.state, state.active_at = "pending", now
            state.fired_at = state.resolved_at = None
        if state.state == "pending" and now - (state.active_at or now) >= rule.for_:
            state.state, state.fired_at = "firing", now
        return
    if state.state == "pending":
        state.state = "inactive"
    elif state.state == "firing":
        held_until = (state.last_breach_at or now) + rule.keep_firing_for
        if now >= held_until:
            state.state, state.resolved_at = "resolved", now


def _targets(rule: Rule, snap: Snapshot) -> list[tuple[str | None, str | None, Snapshot]]:
    """(segment column, segment value, its Snapshot) for each Snapshot the rule reads: the
    whole model's for a rule without a segment."""
    if rule.segment is None:
        return [(None, None, snap)]
    columns = sorted(snap.segments) if rule.segment == "*" else [rule.segment]
    return [
        (column, label, part)
        for column in columns
        for label, part in sorted(snap.segments.get(column, {}).items())
    ]


def _readings(rule: Rule, snap: Snapshot) -> list[tuple[str | None, float | None, int]]:
    """(feature, value, events behind it) for each label set the rule reads."""
    metric = rule.metric
    if rule.relative_to is not None and metric in ESTIMATED_METRICS:
        estimated = snap.estimated_quality
        change = snap.estimated_quality_change.get(metric.removeprefix("estimated_"))
        return [(None, change, estimated.count if estimated else 0)]
    if rule.relative_to is not None:
        quality = snap.quality
        return [(None, snap.quality_change.get(metric), quality.count if quality else 0)]
    if metric in MODEL_METRICS:
        return [(None, *_model_reading(metric, snap))]
    source: dict[str, tuple[float | None, int]]
    if metric == "missing_share":
        source = {name: (f.missing_share, f.count + f.missing) for name, f in snap.features.items()}
    elif metric in DATA_QUALITY_METRICS:
        # Shares of values (out of range, unseen) stand on the values, the others on rows.
        basis = "values" if metric in ("out_of_range_share", "unseen_share") else "rows"
        source = {
            name: (_drift_number(getattr(q, metric)), getattr(q, basis))
            for name, q in snap.data_quality.items()
            # No verdict on values out of a small reference's range by chance.
            if metric != "out_of_range_share"
            or (q.out_of_range_pvalue or 0.0) < OUT_OF_RANGE_CHANCE
        }
    else:
        source = {
            name: (_drift_number(getattr(d, metric)), d.count) for name, d in snap.drift.items()
        }
    if rule.feature != "*":
        found = source.get(rule.feature or "")
        return [(rule.feature, found[0], found[1])] if found else []
    return [(name, value, count) for name, (value, count) in sorted(source.items())]


def _model_reading(metric: str, snap: Snapshot) -> tuple[float | None, int]:
    if metric.startswith("latency_"):
        return getattr(snap.latency, metric.removeprefix("latency_")), snap.latency.count
    if metric in ("error_rate", "throughput", "count"):
        return float(getattr(snap, metric)), snap.count
    if metric in ESTIMATED_METRICS:
        estimated = snap.estimated_quality
        if estimated is None:
            return None, 0
        return getattr(estimated, metric.removeprefix("estimated_")), estimated.count
    if metric == "multivariate_drifted":
        reading = snap.multivariate_drift
        if reading is None:
            return None, 0
        return float(reading.drifted), reading.rows
    if metric in QUALITY_METRICS:
        quality = snap.quality
        if quality is None:
            return None, 0
        return getattr(quality, metric), quality.count
    window = snap.drift_window
    if window is None:
        return None, 0
    return (window.share_drifted if metric == "share_drifted" else window.max_ks), window.events


def _drift_number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


# --- a monitor's alerting: its rules evaluated on an interval, their alerts to its router ---

#: What a Monitor takes as ``thresholds``: rules, a list of Rule, or a YAML/TOML rules file.
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
        """Per rule: 0 inactive, 1 pending, 2 firing (the worst over its label sets:
        features, segment values)."""
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
    segments: Sequence[str] | None = None,
) -> Alerting | None:
    """The Monitor's alerting from its settings, or None when it has no rules and no sinks.

    Sinks (or a router) without thresholds get the default rules. ``segments``: the
    Monitor's segment columns, to check the rules' ``segment`` against (None: unchecked).

    Raises:
        ConfigError: sinks and a router both given, a sink without ``send``, a bad rule, or
            a rule on a segment column the Monitor does not keep.
    """
    if sinks is not None and router is not None:
        raise ConfigError("sinks: give sinks or a router, not both")
    if thresholds is None and sinks is None and router is None:
        return None
    interval_s = parse_duration(interval, "evaluation_interval")
    rules = _as_thresholds(thresholds)
    if segments is not None:
        _check_segments(rules, segments)
    owns = router is None and bool(sinks)
    if owns:
        for sink in sinks or ():
            if not callable(getattr(sink, "send", None)):
                raise ConfigError(f"sinks: {sink!r} has no send(alerts) method")
        router = Router(list(sinks or ()))
    return Alerting(Evaluator(rules, model, version), router, interval_s, owns)


def _as_thresholds(value: ThresholdsLike | None) -> Thresholds:
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


def _check_segments(thresholds: Thresholds, columns: Sequence[str]) -> None:
    for rule in thresholds.rules:
        if rule.segment not in (None, "*", *columns):
            kept = f"its segments are {list(columns)}" if columns else "it has no segments"
            raise ConfigError(
                f"thresholds: rule {rule.name!r}: segment {rule.segment!r} is not a segment "
                f"column of the monitor ({kept}; Monitor(segments=[...]))"
            )
