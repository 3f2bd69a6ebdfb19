"""Threshold rules over the Snapshot: what to watch, when it breaches, and how its alerts read.
:mod:`aimon.rule_engine` evaluates them.

>>> rule = Rule(name="SlowModel", metric="latency_p95", op=">", value=0.5, for_="1m")
>>> rule.for_, rule.feature
(60.0, None)
>>> [r.name for r in Thresholds().rules]  # doctest: +NORMALIZE_WHITESPACE
['LatencyP95High', 'ErrorRateHigh', 'ModelDrift', 'FeatureDriftPSI',
 'QualityBelowReference', 'EstimatedQualityBelowReference', 'FeatureMissing',
 'FeatureOutOfRange', 'FeatureTypeViolations', 'FeatureUnseenCategories', 'FeatureAbsent',
 'FeatureConstant', 'MultivariateDrift']
"""

from __future__ import annotations

import difflib
import math
import operator
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aimon.drift.data_quality import CHECKS
from aimon.durations import parse_duration
from aimon.errors import ConfigError

__all__ = [
    "DATA_QUALITY_METRICS",
    "ESTIMATED_METRICS",
    "FEATURE_METRICS",
    "MODEL_METRICS",
    "QUALITY_METRICS",
    "SEGMENT_METRICS",
    "Rule",
    "Thresholds",
    "default_rules",
]

#: The model's quality over the matched pairs in the window (``Snapshot.quality``); a rule's
#: ``min_count`` counts matched pairs. Equal to :data:`aimon.quality.METRIC_NAMES`.
QUALITY_METRICS = (
    "accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
    "log_loss", "roc_auc", "mae", "rmse", "mape", "r2",
)  # fmt: skip

#: The quality estimated from the scores before labels arrive (``Snapshot.estimated_quality``,
#: CBPE); a rule's ``min_count`` counts scores.
ESTIMATED_METRICS = (
    "estimated_accuracy", "estimated_precision", "estimated_recall", "estimated_f1",
    "estimated_roc_auc",
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
    "multivariate_drifted",
    *QUALITY_METRICS,
    *ESTIMATED_METRICS,
)
#: Metrics of one feature's data quality over the rolling window against the reference
#: (``Snapshot.data_quality``, see :mod:`aimon.drift.data_quality`); ``absent`` and
#: ``constant`` read 1 when true, 0 when not.
DATA_QUALITY_METRICS = CHECKS
#: Metrics of one feature: its drift statistics over the drift window, its missing share, and
#: its data quality.
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
    *DATA_QUALITY_METRICS,
)
#: Why a metric has no reading per segment: a segment's Snapshot keeps no estimated quality
#: and no multivariate drift, only the whole model's does.
_WHOLE_MODEL_ONLY: dict[str, str] = {
    **dict.fromkeys(ESTIMATED_METRICS, "the quality estimated from the scores (CBPE)"),
    "multivariate_drifted": "multivariate drift",
}
#: The metrics a rule with a ``segment`` may read: those a segment's Snapshot has (its
#: window, features, data quality, drift, and the quality of its matched predictions).
SEGMENT_METRICS = tuple(m for m in (*MODEL_METRICS, *FEATURE_METRICS) if m not in _WHOLE_MODEL_ONLY)
Metric = Literal[
    "latency_p50", "latency_p95", "latency_p99", "latency_mean", "error_rate", "throughput",
    "count", "share_drifted", "max_ks", "multivariate_drifted",
    "accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
    "log_loss", "roc_auc", "mae", "rmse", "mape", "r2",
    "estimated_accuracy", "estimated_precision", "estimated_recall", "estimated_f1",
    "estimated_roc_auc",
    "psi", "ks", "ks_pvalue", "wasserstein", "js", "chi2", "chi2_pvalue", "drifted",
    "missing_share",
    "missing_increase", "out_of_range_share", "type_violation_share", "unseen_share", "absent",
    "constant",
]  # fmt: skip

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_DEFAULT_SUMMARY = (
    "{metric}{of_feature} of {model}{in_segment} is {value:.4g} (alert {when} {threshold:.4g})"
)
_RELATIVE_SUMMARY = (
    "{metric} of {model} is {value:+.4g} from the reference's (alert {when} {threshold:+.4g})"
)


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
        segment: a segment column of the Monitor (``Monitor(segments=[...])``): the rule is
            evaluated on each of its values' Snapshots (``Snapshot.segments[column][value]``,
            ``__other__`` and ``__missing__`` included), each value pending, firing and
            resolving on its own, its alerts labelled ``segment`` (the column) and
            ``segment_value``; ``"*"``: every segment column. Only
            :data:`SEGMENT_METRICS` (segments keep no estimated quality, multivariate drift
            or reference quality: no ``relative_to``). None (the default): the whole
            model's Snapshot.
        severity, labels: more identifying labels of the alert.
        annotations: templates (``str.format``) with ``value``, ``threshold``, ``op``,
            ``when`` (``op`` in words), ``metric``, ``feature``, ``of_feature``, ``model``,
            ``version``, ``rule``, ``segment``, ``segment_value`` and ``in_segment`` (`` in
            country=DE``, empty for a rule on the whole model); ``summary`` has a default.

    >>> Rule(name="ErrorsByCountry", metric="error_rate", value=0.05, segment="country").segment
    'country'
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
    segment: str | None = None
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

    @field_validator("segment")
    @classmethod
    def _segment(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError('a segment column (a feature name) or "*" (every segment column)')
        metric = info.data.get("metric")  # absent when the metric itself was invalid
        if metric in _WHOLE_MODEL_ONLY:
            raise ValueError(
                f"metric {metric!r} reads {_WHOLE_MODEL_ONLY[metric]}, which segments do not "
                "keep (only the whole model does): remove 'segment', or use a metric "
                "segments have (latency_*, error_rate, throughput, count, share_drifted, "
                "max_ks, a quality metric or a feature metric)"
            )
        if value is not None and info.data.get("relative_to") is not None:
            raise ValueError(
                "relative_to: segments have no reference quality of their own to compare "
                "with; remove 'segment', or compare with a threshold of its own"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.metric in MODEL_METRICS and self.feature is not None:
            raise ValueError(f"metric {self.metric!r} is per model: remove 'feature'")
        comparable = (*QUALITY_METRICS, *ESTIMATED_METRICS)
        if self.relative_to is not None and self.metric not in comparable:
            raise ValueError(
                f"relative_to: only quality metrics ({', '.join(comparable)}) compare "
                f"with the reference, not {self.metric!r}"
            )
        if self.metric in FEATURE_METRICS and self.feature is None:
            object.__setattr__(self, "feature", "*")
        reserved = {
            "alertname", "model", "version", "severity", "feature", "segment", "segment_value",
        } & set(self.labels)  # fmt: skip
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
        template.format(**_example_context())
    except (KeyError, ValueError, IndexError) as exc:
        raise ValueError(f"annotations.{key}: bad template {template!r}: {exc}") from None


def _example_context() -> dict[str, Any]:
    return {
        "value": 1.0, "threshold": 1.0, "op": ">", "when": "above", "metric": "m", "feature": "f",
        "of_feature": " of f", "model": "m", "version": "v", "rule": "r", "segment": "s",
        "segment_value": "v", "in_segment": " in s=v",
    }  # fmt: skip


def default_rules() -> list[Rule]:
    """The defaults of the design: p95 latency 500 ms, error rate 1 %, model drift 0.05 as
    the largest KS statistic beyond chance (family-wise false-alarm rate under 5 %, see
    :mod:`aimon.drift.dataset`), PSI 0.2 per feature; and accuracy 0.05 below the
    reference's for 30 minutes over at least 200 matched pairs (only with a reference
    quality); and the data-quality rules per input feature against the reference, over the
    rolling window, each firing after a minute: missing share more than 0.05 above the
    reference's, over 5 % of the values out of the reference's range, over 1 % of the rows
    not a number in a numeric feature, over 5 % unseen categories (each on at least 100 rows
    or values), a feature absent from every input, a column grown constant (the defaults of
    :class:`aimon.drift.data_quality.QualityLimits`); and multivariate drift, the window's
    reconstruction error outside the reference's band for 5 minutes over at least 500 rows
    (only with a reference that carries a reconstruction fit)."""
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
        Rule(name="EstimatedQualityBelowReference", metric="estimated_accuracy", op="<",
             value=-0.05, relative_to="reference", for_=900, min_count=500,
             severity="warning"),
        Rule(name="FeatureMissing", metric="missing_increase", op=">", value=0.05,
             feature="*", for_=60, min_count=100, severity="warning"),
        Rule(name="FeatureOutOfRange", metric="out_of_range_share", op=">", value=0.05,
             feature="*", for_=60, min_count=100, severity="warning"),
        Rule(name="FeatureTypeViolations", metric="type_violation_share", op=">", value=0.01,
             feature="*", for_=60, min_count=100, severity="warning"),
        Rule(name="FeatureUnseenCategories", metric="unseen_share", op=">", value=0.05,
             feature="*", for_=60, min_count=100, severity="warning"),
        Rule(name="FeatureAbsent", metric="absent", op=">", value=0.5, feature="*", for_=60,
             min_count=100, severity="critical"),
        Rule(name="FeatureConstant", metric="constant", op=">", value=0.5, feature="*",
             for_=60, min_count=100, severity="warning"),
        Rule(name="MultivariateDrift", metric="multivariate_drifted", op=">", value=0.5,
             for_=300, min_count=500, severity="warning"),
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
