"""Threshold rules over the Snapshot, and their evaluation as Prometheus evaluates alerting
rules: a breach is *pending* until it has held for ``for_``, then *firing*; when it stops
holding (for longer than ``keep_firing_for``) the alert is *resolved*. A Monitor's
:class:`Alerting` evaluates its rules on an interval and hands the alerts to its router.

>>> rule = Rule(name="SlowModel", metric="latency_p95", op=">", value=0.5, for_="1m")
>>> rule.for_, rule.feature
(60.0, None)
>>> [r.name for r in Thresholds().rules]  # doctest: +NORMALIZE_WHITESPACE
['LatencyP95High', 'ErrorRateHigh', 'ModelDrift', 'FeatureDriftPSI',
 'QualityBelowReference']
"""

from __future__ import annotations

import difflib
import math
import operator
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aimon.alerts.alert import Alert, AlertState
from aimon.alerts.base import Sink
from aimon.alerts.router import Router
from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError
from aimon.snapshot import Snapshot

__all__ = [
    "FEATURE_METRICS",
    "MODEL_METRICS",
    "QUALITY_METRICS",
    "Alerting",
    "Evaluator",
    "Rule",
    "RuleState",
    "Thresholds",
    "ThresholdsLike",
    "make_alerting",
]

#: The model's quality over the matched pairs in the window (``Snapshot.quality``); a rule's
#: ``min_count`` counts matched pairs. Equal to :data:`aimon.quality.METRIC_NAMES`.
QUALITY_METRICS = (
    "accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
    "log_loss", "roc_auc", "mae", "rmse", "mape", "r2",
)  # fmt: skip

#: Metrics of the whole model, read from the Snapshot (and how many events stand behind them).
MODEL_METRICS = (
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "latency_mean",
    "error_rate",
    "throughput",
    "count",
    "share_drifted",
    "max_ks",
    *QUALITY_METRICS,
)
#: Metrics of one feature: its drift statistics over the drift window, and its missing share.
FEATURE_METRICS = (
    "psi",
    "ks",
    "ks_pvalue",
    "wasserstein",
    "js",
    "chi2",
    "chi2_pvalue",
    "drifted",
    "missing_share",
)
Metric = Literal[
    "latency_p50", "latency_p95", "latency_p99", "latency_mean", "error_rate", "throughput",
    "count", "share_drifted", "max_ks",
    "accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
    "log_loss", "roc_auc", "mae", "rmse", "mape", "r2",
    "psi", "ks", "ks_pvalue", "wasserstein", "js", "chi2", "chi2_pvalue", "drifted",
    "missing_share",
]  # fmt: skip

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_DEFAULT_SUMMARY = "{metric}{of_feature} of {model} is {value:.4g} (alert {when} {threshold:.4g})"
_RELATIVE_SUMMARY = (
    "{metric} of {model} is {value:+.4g} from the reference's (alert {when} {threshold:+.4g})"
)
_OP_WORDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}
#: Resolved alerts are kept (and re-sent by sinks that want it) this long, as Prometheus does.
RESOLVED_RETENTION_S = 15 * 60


def _seconds(value: Any, field: str) -> float:
    if value in (0, 0.0, "0", "0s"):
        return 0.0
    return parse_duration(value, field)


class Rule(BaseModel):
    """One threshold: ``metric op value``, per model or per feature.

    Attributes:
        name: the alert's name (``alertname``).
        metric: one of :data:`MODEL_METRICS` or :data:`FEATURE_METRICS`.
        op: ``>``, ``>=``, ``<`` or ``<=``.
        value: the threshold.
        feature: for a feature metric, a feature name or ``"*"`` (every feature, each its
            own alert; the default).
        for_: how long the breach must hold before the alert fires (``for`` in files).
        keep_firing_for: how long a firing alert stays firing after the breach stops.
        min_count: no verdict on fewer events than this (calls in the window for model
            metrics, matched pairs for quality metrics, live values for a feature's drift).
        relative_to: ``"reference"`` (quality metrics only): the rule reads live minus the
            reference's quality (``Snapshot.quality_change``), e.g. ``metric: f1, op: "<",
            value: -0.05`` fires when F1 fell more than 0.05 below the reference's. No
            verdict without a reference quality.
        severity, labels: more identifying labels of the alert.
        annotations: templates (``str.format``) with ``value``, ``threshold``, ``op``,
            ``when`` (``op`` in words), ``metric``, ``feature``, ``of_feature``, ``model``,
            ``version`` and ``rule``; ``summary`` has a default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_:.-]*$")
    metric: Metric
    op: Literal[">", ">=", "<", "<="] = ">"
    value: float
    feature: str | None = None
    for_: float = Field(0.0, alias="for")
    keep_firing_for: float = 0.0
    min_count: int = Field(0, ge=0)
    relative_to: Literal["reference"] | None = None
    severity: str = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    @field_validator("for_", "keep_firing_for", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return _seconds(value, "duration")

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("the threshold must be a finite number")
        return value

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.metric in MODEL_METRICS and self.feature is not None:
            raise ValueError(f"metric {self.metric!r} is per model: remove 'feature'")
        if self.relative_to is not None and self.metric not in QUALITY_METRICS:
            raise ValueError(
                f"relative_to: only quality metrics ({', '.join(QUALITY_METRICS)}) compare "
                f"with the reference, not {self.metric!r}"
            )
        if self.metric in FEATURE_METRICS and self.feature is None:
            object.__setattr__(self, "feature", "*")
        reserved = {"alertname", "model", "version", "severity", "feature"} & set(self.labels)
        if reserved:
            raise ValueError(f"labels: {sorted(reserved)} are set by aimon")
        for key, template in self.templates().items():
            _check_template(key, template)
        return self

    def templates(self) -> dict[str, str]:
        """The annotation templates, with the default summary."""
        summary = _RELATIVE_SUMMARY if self.relative_to else _DEFAULT_SUMMARY
        return {"summary": summary, **self.annotations}

    def breached(self, value: float) -> bool:
        """``value op threshold`` (never for NaN)."""
        return not math.isnan(value) and _OPS[self.op](value, self.value)


def _check_template(key: str, template: str) -> None:
    try:
        _render(template, _example_context())
    except (KeyError, ValueError, IndexError) as exc:
        raise ValueError(f"annotations.{key}: bad template {template!r}: {exc}") from None


def _example_context() -> dict[str, Any]:
    return {
        "value": 1.0, "threshold": 1.0, "op": ">", "when": "above", "metric": "m", "feature": "f",
        "of_feature": " of f", "model": "m", "version": "v", "rule": "r",
    }  # fmt: skip


def _render(template: str, context: dict[str, Any]) -> str:
    return template.format(**context)


def default_rules() -> list[Rule]:
    """The defaults of the design: p95 latency 500 ms, error rate 1 %, model drift 0.05 as
    the largest KS statistic, PSI 0.2 per feature; and accuracy 0.05 below the reference's
    for 30 minutes over at least 200 matched pairs (only with a reference quality)."""
    return [
        Rule(name="LatencyP95High", metric="latency_p95", op=">", value=0.5, for_=60,
             min_count=20, severity="warning"),
        Rule(name="ErrorRateHigh", metric="error_rate", op=">", value=0.01, for_=60,
             min_count=100, severity="critical"),
        Rule(name="ModelDrift", metric="max_ks", op=">", value=0.05, for_=300,
             min_count=500, severity="warning"),
        Rule(name="FeatureDriftPSI", metric="psi", op=">", value=0.2, feature="*", for_=300,
             min_count=500, severity="warning"),
        Rule(name="QualityBelowReference", metric="accuracy", op="<", value=-0.05,
             relative_to="reference", for_=1800, min_count=200, severity="warning"),
    ]  # fmt: skip


class Thresholds(BaseModel):
    """A set of rules; ``Thresholds()`` holds the defaults. Rule names must be unique.

    Read a file with :meth:`from_file` (YAML or TOML: a ``rules`` list of rule tables).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[Rule] = Field(default_factory=default_rules)

    @model_validator(mode="after")
    def _unique(self) -> Thresholds:
        names = [r.name for r in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be unique: {', '.join(twice)}")
        return self

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Thresholds:
        """Read rules from a ``.yaml``/``.yml`` or ``.toml`` file.

        Raises:
            ConfigError: the file is missing or unreadable, or a rule is invalid; the
                message names the file, the rule and the field.
        """
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read the rules: {exc.strerror}") from None
        try:
            if source.suffix.lower() == ".toml":
                data: Any = tomllib.loads(text)
            elif source.suffix.lower() in (".yaml", ".yml"):
                data = yaml.safe_load(text)
            else:
                raise ConfigError(f"{source}: rules files are .yaml, .yml or .toml")
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{source}: not valid {source.suffix[1:]}: {exc}") from None
        return cls.from_data(data, source=str(source))

    @classmethod
    def from_data(cls, data: Any, *, source: str = "thresholds") -> Thresholds:
        """Rules from parsed data: ``{"rules": [...]}`` or a bare list of rules."""
        if isinstance(data, list):
            data = {"rules": data}
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise ConfigError(f"{source}: expected a 'rules' list")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, data["rules"], source)) from None


def _explain(exc: ValidationError, rules: list[Any], source: str) -> str:
    errors = exc.errors()
    # A misspelt field also makes the real one "missing": name the misspelling first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = list(first["loc"])
    where = source
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        index = loc[1]
        raw = rules[index] if index < len(rules) else None
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{source}: rule {name!r} (rules[{index}])" if name else f"{source}: rules[{index}]"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or "rule"
    message = first["msg"]
    if first["type"] == "extra_forbidden" and loc:
        known = [*Rule.model_fields, "for"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        message = "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
    return f"{where}: field {field!r}: {message}"


# --- evaluation -----------------------------------------------------------------------


@dataclass
class RuleState:
    """One rule's state for one label set, with the time of each change (epoch seconds)."""

    state: Literal["inactive", "pending", "firing", "resolved"] = "inactive"
    active_at: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    last_breach_at: float | None = None
    value: float | None = None
    feature: str | None = None


_STATE_NUMBER = {"inactive": 0, "resolved": 0, "pending": 1, "firing": 2}


class Evaluator:
    """Keeps one :class:`RuleState` per rule and label set (per feature for feature rules)
    and moves them along inactive -> pending -> firing -> resolved at each evaluation."""

    def __init__(self, thresholds: Thresholds, model: str, version: str | None) -> None:
        self.thresholds = thresholds
        self.model = model
        self.version = version
        self.states: dict[tuple[str, str | None], RuleState] = {}

    def evaluate(self, snapshot: Snapshot, now: float) -> list[Alert]:
        """Evaluate every rule on ``snapshot`` at ``now``; return the alerts that are
        pending, firing, or resolved within the retention (15 minutes)."""
        for rule in self.thresholds.rules:
            seen: set[str | None] = set()
            for feature, value, count in _readings(rule, snapshot):
                seen.add(feature)
                breach = value is not None and count >= rule.min_count and rule.breached(value)
                state = self.states.setdefault((rule.name, feature), RuleState(feature=feature))
                _step(rule, state, breach, value, now)
            for (name, feature), state in self.states.items():
                if name == rule.name and feature not in seen:
                    _step(rule, state, False, None, now)  # the series went away
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
            self._alert(rules[name], state)
            for (name, _), state in sorted(self.states.items(), key=lambda kv: str(kv[0]))
            if name in rules and state.state != "inactive"
        ]

    def rule_states(self) -> dict[str, int]:
        """Per rule, 0 inactive, 1 pending, 2 firing (the most advanced of its label sets)."""
        out = {rule.name: 0 for rule in self.thresholds.rules}
        for (name, _), state in self.states.items():
            if name in out:
                out[name] = max(out[name], _STATE_NUMBER[state.state])
        return out

    def _alert(self, rule: Rule, state: RuleState) -> Alert:
        labels = {"alertname": rule.name, "model": self.model, "severity": rule.severity}
        if self.version is not None:
            labels["version"] = self.version
        if state.feature is not None:
            labels["feature"] = state.feature
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
        }
        annotations = {k: _render(t, context) for k, t in rule.templates().items()}
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


def _readings(rule: Rule, snap: Snapshot) -> list[tuple[str | None, float | None, int]]:
    """(feature, value, events behind it) for each label set the rule reads."""
    metric = rule.metric
    if rule.relative_to is not None:
        quality = snap.quality
        return [(None, snap.quality_change.get(metric), quality.count if quality else 0)]
    if metric in MODEL_METRICS:
        return [(None, *_model_reading(metric, snap))]
    source: dict[str, tuple[float | None, int]]
    if metric == "missing_share":
        source = {name: (f.missing_share, f.count + f.missing) for name, f in snap.features.items()}
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
    rules = _as_thresholds(thresholds)
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
