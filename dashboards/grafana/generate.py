"""Writes aimon's Grafana dashboards (JSON model, schemaVersion 39: Grafana 10 and 11).

The JSON files beside this script are its output and are committed; edit this script, never
the JSON, then run it again::

    python dashboards/grafana/generate.py          # rewrite the JSON files
    python dashboards/grafana/generate.py --check  # exit 1 if they differ from the output

tests/test_dashboards.py fails when the committed JSON and this script disagree. No
dependency beyond the standard library: the dashboards are plain dicts.

Every query reads the datasource variable ``${datasource}`` and filters by
``model="$model", version="$version"``; fleet views read the recorded series of
deploy/prometheus/rules/aimon-recording.yml, per-replica views the raw ``aimon_*`` metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
MV = 'model="$model",version="$version"'
MVF = 'model="$model",version="$version",feature="$feature"'
RATE = "$__rate_interval"

#: PSI cut-offs: below 0.1 no shift, 0.1-0.2 moderate, above 0.2 significant (aimon's default).
PSI_STEPS = [(None, "green"), (0.1, "yellow"), (0.2, "red")]
#: KS statistic beyond chance (aimon_drift_max_ks): ModelDrift fires above 0.05. A raw KS
#: statistic is above 0.05 by chance on a few thousand values, so raw KS gets no threshold.
KS_STEPS = [(None, "green"), (0.05, "red")]
#: Quality change (live minus reference): QualityBelowReference fires below -0.05 accuracy.
QUALITY_CHANGE_STEPS = [(None, "red"), (-0.05, "green")]
#: aimon_alert_state: 0 inactive, 1 pending, 2 firing.
ALERT_STATES = {"0": ("inactive", "green"), "1": ("pending", "yellow"), "2": ("firing", "red")}

Json = dict[str, Any]


def thresholds(steps: list[tuple[float | None, str]]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Json:
    t: Json = {"datasource": DS, "expr": expr, "refId": ref}
    if instant:
        t.update(instant=True, range=False, format="table")
    else:
        t.update(range=True, legendFormat=legend or "__auto")
    return t


class Board:
    """Panels laid out left to right, top to bottom, on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def _place(self, w: int, h: int) -> Json:
        if self._x + w > 24:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        pos = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": self._place(24, 1),
                "id": len(self.panels) + 1,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )

    def panel(
        self,
        kind: str,
        title: str,
        targets: list[Json],
        w: int = 12,
        h: int = 8,
        unit: str = "short",
        description: str = "",
        steps: list[tuple[float | None, str]] | None = None,
        options: Json | None = None,
        custom: Json | None = None,
        mappings: list[Json] | None = None,
        overrides: list[Json] | None = None,
        transformations: list[Json] | None = None,
        extra_defaults: Json | None = None,
    ) -> None:
        defaults: Json = {"unit": unit, "thresholds": thresholds(steps or [(None, "green")])}
        if steps and kind == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
        if custom:
            defaults["custom"] = {**defaults.get("custom", {}), **custom}
        if mappings:
            defaults["mappings"] = mappings
        defaults.update(extra_defaults or {})
        if steps or mappings:
            defaults["color"] = {"mode": "thresholds"}
        refs = "ABCDEFGH"
        p: Json = {
            "datasource": DS,
            "description": description,
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "gridPos": self._place(w, h),
            "id": len(self.panels) + 1,
            "options": options or {},
            "targets": [{**t, "refId": refs[i]} for i, t in enumerate(targets)],
            "title": title,
            "type": kind,
        }
        if transformations:
            p["transformations"] = transformations
        self.panels.append(p)


def variable_datasource() -> Json:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def variable_query(name: str, label: str, query: str) -> Json:
    return {
        "current": {},
        "datasource": DS,
        "definition": query,
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        # The classic query string, which Grafana 10 and 11 parse into their query editor.
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


MODEL_VARIABLES = [
    variable_datasource(),
    variable_query("model", "Model", "label_values(aimon_predictions_total, model)"),
    variable_query(
        "version", "Version", 'label_values(aimon_predictions_total{model="$model"}, version)'
    ),
]


def dashboard(
    uid: str, title: str, description: str, board: Board, variables: list[Json], links: list[Json]
) -> Json:
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": links,
        "panels": board.panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["aimon"],
        "templating": {"list": variables},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
    }


def link(title: str, uid: str) -> Json:
    return {
        "asDropdown": False,
        "icon": "dashboard",
        "includeVars": True,
        "keepTime": True,
        "tags": [],
        "targetBlank": False,
        "title": title,
        "type": "link",
        "url": f"/d/{uid}",
    }


def value_name(
    ref: str,
    name: str,
    steps: list[tuple[float | None, str]] | None = None,
    decimals: int = 3,
    unit: str | None = None,
) -> Json:
    """A table column's override: the merged column ``Value #ref`` shown as ``name``."""
    props: list[Json] = [
        {"id": "displayName", "value": name},
        {"id": "decimals", "value": decimals},
    ]
    if unit:
        props.append({"id": "unit", "value": unit})
    if steps:
        props += [
            {"id": "thresholds", "value": thresholds(steps)},
            {"id": "color", "value": {"mode": "thresholds"}},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ]
    return {"matcher": {"id": "byName", "options": f"Value #{ref}"}, "properties": props}


def dashed(pattern: str) -> Json:
    """An override: the series whose display name matches ``pattern`` drawn dashed."""
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
    }


def data_quality_row(b: Board) -> None:
    """Each feature's data quality over each replica's rolling window, against the
    reference: what the Feature* data-quality rules read."""
    b.row("Data quality")
    b.panel(
        "timeseries",
        "Missing and out-of-range shares per feature, largest replica",
        [
            target(
                f"max by (feature) (aimon_feature_missing_ratio{{{MV}}}"
                f" - aimon_reference_missing_ratio{{{MV}}})",
                "{{feature}} missing above reference",
            ),
            target(
                f"max by (feature) (aimon_feature_out_of_range_ratio{{{MV}}})",
                "{{feature}} out of range",
                ref="B",
            ),
        ],
        unit="percentunit",
        steps=[(None, "green"), (0.05, "red")],
        description="Missing share above the reference's (FeatureMissing) and share of values "
        "outside the reference's range or bounds (FeatureOutOfRange); both fire above 5 % "
        "(drawn) for a minute.",
    )
    b.panel(
        "timeseries",
        "Type violations, unseen categories, absent and constant features",
        [
            target(
                f"max by (feature) (aimon_feature_type_violation_ratio{{{MV}}})",
                "{{feature}} not a number",
            ),
            target(
                f"max by (feature) (aimon_feature_unseen_ratio{{{MV}}})",
                "{{feature}} unseen",
                ref="B",
            ),
            target(
                f"max by (feature) (aimon_feature_absent{{{MV}}})", "{{feature}} absent", ref="C"
            ),
            target(
                f"max by (feature) (aimon_feature_constant{{{MV}}})",
                "{{feature}} constant",
                ref="D",
            ),
        ],
        unit="percentunit",
        description="Rows with a label in a numeric feature (FeatureTypeViolations, above 1 %), "
        "labels the reference never saw (FeatureUnseenCategories, above 5 %), and 1 for a "
        "feature no input had (FeatureAbsent) or grown constant (FeatureConstant).",
    )


def quality_row(b: Board) -> None:
    """Model quality over the matched (prediction, outcome) pairs, against the reference's."""
    fleet = "model_version_metric:aimon_model_quality:pairs_weighted_mean"
    reference = "model_version_metric:aimon_reference_quality:max"
    change = "model_version_metric:aimon_model_quality_change:pairs_weighted_mean"
    pairs = "model_version:aimon_model_quality_pairs:sum"
    b.row("Model quality")
    b.panel(
        "stat",
        "Accuracy, fleet",
        [target(f'{fleet}{{{MV},metric="accuracy"}}')],
        w=6,
        h=4,
        unit="percentunit",
        description="Accuracy over the matched pairs of every replica's quality window "
        "(recording rule; classifiers only).",
    )
    b.panel(
        "stat",
        "Accuracy change vs reference",
        [target(f'{change}{{{MV},metric="accuracy"}}')],
        w=6,
        h=4,
        steps=QUALITY_CHANGE_STEPS,
        extra_defaults={"decimals": 3},
        description="Fleet accuracy minus the accuracy on the reference data; "
        "QualityBelowReference fires below -0.05 (red) for 30 minutes over 200 pairs.",
    )
    b.panel(
        "stat",
        "Matched pairs, fleet",
        [target(f"{pairs}{{{MV}}}")],
        w=6,
        h=4,
        steps=[(None, "yellow"), (200, "green")],
        extra_defaults={"decimals": 0},
        description="Predictions matched with their outcome in the replicas' quality "
        "windows; the quality alert needs 200.",
    )
    b.panel(
        "stat",
        "Outcomes matched (5m)",
        [target(f"model_version:aimon_outcomes_matched:ratio_rate5m{{{MV}}}")],
        w=6,
        h=4,
        unit="percentunit",
        description="Outcomes that found their prediction, of all outcomes over 5 minutes "
        "(the rest: expired, unknown request id, duplicate).",
    )
    exact = "accuracy|log_loss|mae|rmse|mape"
    b.panel(
        "timeseries",
        "Quality, fleet vs reference",
        [
            target(f"{fleet}{{{MV}}}", "{{metric}}"),
            target(f'{reference}{{{MV},metric=~"{exact}"}}', "{{metric}} reference"),
        ],
        overrides=[dashed(".* reference$")],
        description="Accuracy, log loss, MAE, RMSE and MAPE over every replica's matched "
        "pairs (exact: means over the pairs, weighted by pairs), and on the reference data "
        "(dashed).",
    )
    shown = "accuracy|f1|roc_auc|mae|rmse"
    b.panel(
        "timeseries",
        "Quality per replica vs reference",
        [
            target(f'aimon_model_quality{{{MV},metric=~"{shown}"}}', "{{instance}} {{metric}}"),
            target(f'{reference}{{{MV},metric=~"{shown}"}}', "{{metric}} reference"),
        ],
        overrides=[dashed(".* reference$")],
        description="Each replica's accuracy, F1 and ROC AUC (classifiers) or MAE and RMSE "
        "(regression) over its own quality window, and the reference's (dashed).",
    )
    b.panel(
        "timeseries",
        "Accuracy change vs reference",
        [
            target(f'{change}{{{MV},metric="accuracy"}}', "fleet"),
            target(
                f'aimon_model_quality{{{MV},metric="accuracy"}} - on (model, version, metric) '
                f"group_left () {reference}{{{MV}}}",
                "{{instance}}",
            ),
        ],
        w=8,
        steps=QUALITY_CHANGE_STEPS,
        description="Accuracy minus the reference's, the fleet's and each replica's; -0.05 drawn.",
    )
    b.panel(
        "timeseries",
        "Matched pairs",
        [
            target(f"{pairs}{{{MV}}}", "fleet"),
            target(f"aimon_model_quality_pairs{{{MV}}}", "{{instance}}"),
        ],
        w=8,
        description="Pairs behind the quality: the fleet's (recording rule) and each "
        "replica's quality window.",
    )
    b.panel(
        "timeseries",
        "Outcomes / s by result",
        [target(f"model_version_result:aimon_outcomes:rate5m{{{MV}}}", "{{result}}")],
        w=8,
        unit="reqps",
        description="Fleet, over 5 minutes: matched, expired (the prediction waited longer "
        "than outcome_ttl), unknown (no prediction with that id), duplicate.",
    )
    estimated_vs_realised(b, reference)


def estimated_vs_realised(b: Board, reference: str) -> None:
    """Accuracy estimated from the scores before the labels arrive (CBPE), its sampling
    interval, the realised accuracy once they do, and both on the reference."""
    acc = f'{MV},metric="accuracy"'
    estimated = f"aimon_estimated_quality{{{acc}}}"
    spread = f"3 * aimon_estimated_quality_std_error{{{acc}}}"
    b.panel(
        "timeseries",
        "Model quality: estimated vs realised",
        [
            target(estimated, "{{instance}} estimated"),
            target(f"clamp_max({estimated} + {spread}, 1)", "{{instance}} estimated +3 se"),
            target(f"clamp_min({estimated} - {spread}, 0)", "{{instance}} estimated -3 se"),
            target(f"aimon_model_quality{{{acc}}}", "{{instance}} realised"),
            target(
                f"max by (model, version, metric) (aimon_reference_estimated_quality{{{acc}}})",
                "estimated on the reference",
            ),
            target(f"{reference}{{{acc}}}", "realised on the reference"),
        ],
        w=24,
        unit="percentunit",
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* estimated [+-]3 se$"},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dot", "dash": [0, 10]}},
                    {"id": "custom.lineWidth", "value": 1},
                ],
            },
            dashed(".* on the reference$"),
        ],
        description="Each replica's accuracy estimated from the scores in its rolling window "
        "before any label arrives (CBPE, for a reference built with the target and the "
        "scores of a binary classifier), with its sampling interval of ±3 standard errors "
        "(dotted); the realised accuracy over the matched outcomes once they arrive; and "
        "both on the reference (dashed). EstimatedQualityBelowReference fires when the "
        "estimate is 0.05 below the reference's for 15 minutes over 500 scores. The estimate "
        "holds under covariate shift, not when P(y | x) changes: there the realised "
        "accuracy, late, is the word.",
    )


def multivariate_drift(b: Board) -> None:
    """Each replica's reconstruction error of its window's whole rows (multivariate drift,
    for a reference built with ``multivariate=True``) against the reference's band, and the
    verdict MultivariateDrift reads."""
    error = f"aimon_multivariate_reconstruction_error{{{MV}}}"
    upper = f"max by (model, version) (aimon_multivariate_reconstruction_upper{{{MV}}})"
    b.panel(
        "timeseries",
        "Multivariate drift: reconstruction error vs the reference's band",
        [
            target(error, "{{instance}} error"),
            target(upper, "upper bound (reference)"),
            target(f"aimon_multivariate_drifted{{{MV}}}", "{{instance}} drifted"),
        ],
        overrides=[
            {
                # Drawn as a threshold line: the bound comes from the reference, not from a
                # fixed number, so it is a series and not one of Grafana's static thresholds.
                "matcher": {"id": "byName", "options": "upper bound (reference)"},
                "properties": [
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.fillOpacity", "value": 0},
                ],
            },
            {
                "matcher": {"id": "byRegexp", "options": ".* drifted$"},
                "properties": [
                    {"id": "custom.axisPlacement", "value": "right"},
                    {"id": "custom.axisLabel", "value": "drifted"},
                    {"id": "custom.lineInterpolation", "value": "stepAfter"},
                    {"id": "custom.fillOpacity", "value": 20},
                    {"id": "min", "value": 0},
                    {"id": "max", "value": 1},
                    {"id": "decimals", "value": 0},
                ],
            },
        ],
        description="Mean PCA reconstruction error of a sample of each replica's rolling "
        "window's whole rows, against the upper bound of the band learnt on the reference's "
        "chunks (mean + 3 standard deviations, red dashed), and each replica's verdict "
        "(right axis, 1: drifted), given once the sample is worth a reference chunk's rows. "
        "It sees what per-feature tests miss, such as a correlation that flips while every "
        "marginal stays the same. MultivariateDrift fires when a replica's verdict holds "
        "for 5 minutes over 500 rows. No data unless the reference was built with "
        "multivariate=True (--multivariate).",
    )


def segments_row(b: Board) -> None:
    """Each value of the segment column ``$segment`` (a Monitor made with ``segments=[...]``):
    its traffic, errors, latency and drift against the reference's profile of the same
    value. At most ``max_segment_values`` values per column (20 by default) and
    ``__other__``, so the series stay few whatever the values seen."""
    mvs = f'{MV},segment="$segment"'
    calls = f"sum by (segment_value) (rate(aimon_segment_predictions_total{{{mvs}}}[5m]))"
    errors = (
        f"sum by (segment_value) "
        f'(rate(aimon_segment_predictions_total{{{mvs},outcome="error"}}[5m]))'
    )
    error_ratio = f"{errors} / {calls}"
    drifted = (
        f"sum by (segment_value) "
        f"(max by (segment_value, feature) (aimon_segment_feature_drifted{{{mvs}}}))"
    )
    error_steps: list[tuple[float | None, str]] = [(None, "green"), (0.01, "red")]
    b.row("Segments")
    b.panel(
        "table",
        "Segments of $segment",
        [
            target(calls, instant=True),
            target(error_ratio, instant=True),
            target(f"max by (segment_value) (aimon_segment_error_ratio{{{mvs}}})", instant=True),
            target(
                f'max by (segment_value) (aimon_segment_latency_seconds{{{mvs},quantile="0.95"}})',
                instant=True,
            ),
            target(drifted, instant=True),
            target(
                f'max by (segment_value) (aimon_segment_feature_drift{{{mvs},method="psi"}})',
                instant=True,
            ),
        ],
        w=24,
        h=8,
        description="One row per value of the segment column chosen above: the fleet's "
        "predictions / s and error ratio over 5 minutes (from the counters, summed across "
        "replicas), the largest replica's error ratio and p95 latency over its rolling "
        "window, the features whose default drift test finds drift within the segment on at "
        "least one replica, and the largest PSI of any feature within the segment (against "
        "the reference's profile of the same value). __other__ pools the values past the "
        "cap, __missing__ the calls without a value. No data unless the monitor was made "
        "with segments=[...]; drift needs a reference built with the same segments.",
        options={
            "cellHeight": "sm",
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": "predictions / s (5m)"}],
        },
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {"segment_value": 0},
                    "renameByName": {"segment_value": "value"},
                },
            },
        ],
        overrides=[
            value_name("A", "predictions / s (5m)", unit="reqps"),
            value_name("B", "error ratio (5m)", error_steps, unit="percentunit"),
            value_name("C", "error ratio, window (replica max)", error_steps, unit="percentunit"),
            value_name("D", "p95 latency (replica max)", [(None, "green"), (0.5, "red")], unit="s"),
            value_name("E", "drifted features", [(None, "green"), (1, "red")], decimals=0),
            value_name("F", "largest PSI", PSI_STEPS),
        ],
    )
    b.panel(
        "timeseries",
        "Error ratio by segment (5m)",
        [target(error_ratio, "{{segment_value}}")],
        unit="percentunit",
        steps=error_steps,
        description="Errors / predictions of each value of $segment over 5 minutes, across "
        "replicas (from aimon_segment_predictions_total); 1 % drawn. A segment's errors "
        "show here before they move the whole model's ratio.",
    )
    b.panel(
        "timeseries",
        "Drifted features by segment",
        [target(drifted, "{{segment_value}}")],
        custom={"lineInterpolation": "stepAfter"},
        extra_defaults={"decimals": 0, "min": 0},
        description="Features whose default drift test finds drift within each value of "
        "$segment on at least one replica, against the reference's profile of the same "
        "value (judged once the segment's drift window holds drift_min_count values).",
    )


def overview() -> Json:
    b = Board()
    b.row("Now")
    b.panel(
        "stat",
        "Predictions / s",
        [target(f"model_version:aimon_predictions:rate5m{{{MV}}}")],
        w=4,
        h=4,
        unit="reqps",
        description="Fleet, over 5 minutes.",
    )
    b.panel(
        "stat",
        "Error ratio",
        [target(f"model_version:aimon_prediction_errors:ratio_rate5m{{{MV}}}")],
        w=4,
        h=4,
        unit="percentunit",
        steps=[(None, "green"), (0.01, "red")],
        description="Fleet, over 5 minutes; aimon's default threshold is 1 %.",
    )
    b.panel(
        "stat",
        "p95 latency",
        [
            target(
                f'model_version_quantile:aimon_prediction_latency_seconds:histogram_quantile5m{{{MV},quantile="0.95"}}'
            )
        ],
        w=4,
        h=4,
        unit="s",
        steps=[(None, "green"), (0.5, "red")],
        description="Fleet, from the summed histogram buckets over 5 minutes; aimon's "
        "default threshold is 500 ms.",
    )
    b.panel(
        "stat",
        "Drifted features",
        [target(f"count(max by (feature) (aimon_feature_drifted{{{MV}}}) > 0) or vector(0)")],
        w=4,
        h=4,
        steps=[(None, "green"), (1, "red")],
        description="Features whose default drift test finds drift on at least one replica.",
    )
    b.panel(
        "stat",
        "Firing alerts",
        [target(f"count(max by (rule) (aimon_alert_state{{{MV}}}) == 2) or vector(0)")],
        w=4,
        h=4,
        steps=[(None, "green"), (1, "red")],
        description="aimon's own alert rules firing on at least one replica.",
    )
    b.panel(
        "stat",
        "Replicas",
        [target(f"count(aimon_window_predictions{{{MV}}})")],
        w=4,
        h=4,
        description="Replicas (sidecars or embedded monitors) exporting this model version.",
    )

    b.row("Traffic and errors")
    b.panel(
        "timeseries",
        "Predictions / s",
        [
            target(f"model_version:aimon_predictions:rate5m{{{MV}}}", "fleet (5m)"),
            target(
                f"sum by (instance) (rate(aimon_predictions_total{{{MV}}}[{RATE}]))", "{{instance}}"
            ),
        ],
        w=8,
        unit="reqps",
        description="Fleet rate over 5 minutes (recording rule) and each replica's rate.",
    )
    b.panel(
        "timeseries",
        "Error ratio",
        [
            target(f"model_version:aimon_prediction_errors:ratio_rate5m{{{MV}}}", "fleet (5m)"),
            target(f"aimon_error_ratio{{{MV}}}", "{{instance}} ({{window}} window)"),
        ],
        w=8,
        unit="percentunit",
        steps=[(None, "green"), (0.01, "red")],
        description="Errors / predictions: the fleet over 5 minutes, and each replica's "
        "rolling window.",
    )
    b.panel(
        "timeseries",
        "Errors / s by type",
        [
            target(
                f"model_version_error_type:aimon_prediction_errors:rate5m{{{MV}}}", "{{error_type}}"
            ),
        ],
        w=8,
        unit="reqps",
        description="Fleet, over 5 minutes, by exception type.",
    )

    b.row("Latency")
    b.panel(
        "timeseries",
        "Latency, fleet (histogram buckets)",
        [
            target(
                f"model_version_quantile:aimon_prediction_latency_seconds:histogram_quantile5m{{{MV}}}",
                "p{{quantile}}",
            ),
        ],
        unit="s",
        steps=[(None, "green"), (0.5, "red")],
        description="p50, p95, p99 over 5 minutes from the buckets summed across replicas "
        "(recording rules).",
    )
    b.panel(
        "timeseries",
        "Latency, per replica (rolling window)",
        [
            target(f"aimon_latency_seconds{{{MV}}}", "{{instance}} p{{quantile}}"),
        ],
        unit="s",
        steps=[(None, "green"), (0.5, "red")],
        description="Each replica's p50, p95, p99 over its rolling window, from its "
        "1%-relative-error sketch.",
    )

    b.row("Payload sizes")
    for name, metric in (("Input", "aimon_input_bytes"), ("Output", "aimon_output_bytes")):
        buckets = f"sum by (le) (rate({metric}_bucket{{{MV}}}[{RATE}]))"
        mean = (
            f"sum(rate({metric}_sum{{{MV}}}[{RATE}])) / sum(rate({metric}_count{{{MV}}}[{RATE}]))"
        )
        b.panel(
            "timeseries",
            f"{name} size",
            [
                target(f"histogram_quantile(0.5, {buckets})", "p50"),
                target(f"histogram_quantile(0.95, {buckets})", "p95"),
                target(mean, "mean"),
            ],
            unit="bytes",
            description=f"{name} payload size across replicas, from the histogram buckets.",
        )

    b.row("Drift")
    b.panel(
        "table",
        "Drift per feature",
        [
            target(f"model_version_feature:aimon_feature_psi:increase1h{{{MV}}}", instant=True),
            target(f'max by (feature) (aimon_feature_drift{{{MV},method="psi"}})', instant=True),
            target(f'max by (feature) (aimon_feature_drift{{{MV},method="ks"}})', instant=True),
            target(f"max by (feature) (aimon_feature_drifted{{{MV}}})", instant=True),
            target(f"model_version_feature:aimon_feature_bin:increase1h{{{MV}}}", instant=True),
        ],
        w=24,
        h=9,
        description="Fleet PSI over the last hour (recording rule), the largest "
        "replica's PSI and KS over its drift window, whether a replica "
        "finds drift, and the fleet's live values in the hour. PSI: "
        "yellow from 0.1, red from 0.2. KS is the raw statistic (above 0.05 by chance "
        "on a few thousand values): ModelDrift reads the KS beyond chance, in its own panel.",
        options={
            "cellHeight": "sm",
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": "PSI, fleet 1h"}],
        },
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "model": True, "version": True},
                    "indexByName": {"feature": 0},
                },
            },
        ],
        overrides=[
            value_name("A", "PSI, fleet 1h", PSI_STEPS),
            value_name("B", "PSI, replica max", PSI_STEPS),
            value_name("C", "KS, replica max"),
            value_name("D", "drifted", [(None, "green"), (1, "red")], decimals=0),
            value_name("E", "live values, 1h", decimals=0),
        ],
    )
    b.panel(
        "timeseries",
        "PSI per feature, fleet (1h)",
        [
            target(f"model_version_feature:aimon_feature_psi:increase1h{{{MV}}}", "{{feature}}"),
        ],
        steps=PSI_STEPS,
        description="Fleet PSI over the last hour, from the bin counters "
        "(recording rule); 0.1 and 0.2 drawn.",
    )
    b.panel(
        "timeseries",
        "KS per feature, largest replica",
        [
            target(f'max by (feature) (aimon_feature_drift{{{MV},method="ks"}})', "{{feature}}"),
        ],
        description="KS statistic D of each feature over the drift window, "
        "the largest across replicas (KS cannot be summed).",
    )
    b.panel(
        "timeseries",
        "Model drift: largest KS beyond chance, per replica",
        [target(f"aimon_drift_max_ks{{{MV}}}", "{{instance}}")],
        steps=KS_STEPS,
        description="The largest KS statistic across the input features less its Bonferroni "
        "critical value (family-wise false-alarm rate under 5 %), each replica's drift window: "
        "what ModelDrift reads; it fires above 0.05 (drawn) for 5 minutes.",
    )
    multivariate_drift(b)

    segments_row(b)
    data_quality_row(b)
    quality_row(b)

    b.row("Alerts")
    b.panel(
        "state-timeline",
        "aimon alert states",
        [
            target(f"max by (rule) (aimon_alert_state{{{MV}}})", "{{rule}}"),
        ],
        mappings=[
            {
                "type": "value",
                "options": {
                    k: {"text": t, "color": c, "index": i}
                    for i, (k, (t, c)) in enumerate(ALERT_STATES.items())
                },
            }
        ],
        steps=[(None, "green"), (1, "yellow"), (2, "red")],
        options={"showValue": "never", "mergeValues": True},
        description="aimon's own rules (0 inactive, 1 pending, 2 firing), the worst state "
        "across replicas.",
    )
    b.panel(
        "state-timeline",
        "Prometheus alerts",
        [
            target(
                f"max by (alertname, alertstate, feature) (ALERTS{{{MV}}})",
                "{{alertname}} {{feature}} {{alertstate}}",
            ),
        ],
        options={"showValue": "never", "mergeValues": True},
        mappings=[
            {"type": "value", "options": {"1": {"text": "active", "color": "red", "index": 0}}}
        ],
        description="Alerts of deploy/prometheus/rules/aimon-alerts.yml, pending or firing.",
    )

    b.row("Sidecar health")
    serves = f"on (instance) aimon_window_predictions{{{MV}}}"  # sidecars of this model
    b.panel(
        "timeseries",
        "Log lines read / s, per sidecar",
        [
            target(
                f"sum by (instance) (rate(aimon_sidecar_lines_total[{RATE}])) and {serves}",
                "lines {{instance}}",
            ),
            target(
                f"sum by (instance) (rate(aimon_predictions_total{{{MV}}}[{RATE}]))",
                "events of this model {{instance}}",
            ),
        ],
        w=8,
        unit="reqps",
        description="Lines each sidecar reads from its log (all models), and the events of "
        "this model version each replica counts.",
    )
    b.panel(
        "timeseries",
        "Malformed lines / s, by reason",
        [
            target(
                f"sum by (reason) (rate(aimon_sidecar_malformed_lines_total[{RATE}]) and {serves})",
                "{{reason}}",
            ),
        ],
        w=8,
        unit="reqps",
        description="Lines skipped as unreadable (json, ts, latency..., too_long), on the "
        "sidecars that serve this model version.",
    )
    b.panel(
        "timeseries",
        "Log lag, per sidecar",
        [
            target(f"max by (instance) (aimon_sidecar_lag_bytes) and {serves}", "{{instance}}"),
        ],
        w=8,
        unit="bytes",
        description="Bytes written to the log and not read yet; it should stay near zero.",
    )
    b.panel(
        "timeseries",
        "Log rotations, truncations and bytes lost, over 1h",
        [
            target(
                f"sum by (event) (increase(aimon_sidecar_log_events_total[1h]) and {serves})",
                "{{event}}",
            ),
            target(
                f"sum by (kind) (increase(aimon_sidecar_log_bytes_total[1h]) and {serves})",
                "bytes {{kind}}",
            ),
        ],
        w=8,
        description="What the log tailer saw: rotations, copy-truncations (copies_read: "
        "the unread rest recovered from the copy), over-long lines; bytes skipped, and "
        "bytes lost to a truncation before they were read (a lower bound).",
    )
    b.panel(
        "timeseries",
        "Events dropped / s, by reason",
        [
            target(
                f"sum by (reason) (rate(aimon_events_dropped_total{{{MV}}}[{RATE}]))", "{{reason}}"
            ),
        ],
        w=8,
        unit="reqps",
        description="Events not counted in the window: buffer_full, late "
        "(older than the window), future, malformed; outcomes not recorded: "
        "malformed_outcome, outcome_invalid.",
    )
    b.panel(
        "timeseries",
        "Internal errors and skipped feature profiles / s",
        [
            target(
                f"sum by (instance) (rate(aimon_internal_errors_total{{{MV}}}[{RATE}]))",
                "internal errors {{instance}}",
            ),
            target(
                f"sum by (instance) (rate(aimon_features_skipped_total{{{MV}}}[{RATE}]))",
                "features skipped {{instance}}",
            ),
        ],
        unit="reqps",
        description="Failures inside aimon (never raised to the caller) and "
        "calls whose input was not profiled because the fold ran "
        "behind.",
    )
    b.panel(
        "timeseries",
        "Missing feature values / s",
        [
            target(
                f"sum by (feature) (rate(aimon_feature_missing_total{{{MV}}}[{RATE}]))",
                "{{feature}}",
            ),
        ],
        unit="reqps",
        description="Missing, NaN or invalid feature values, across replicas.",
    )
    return dashboard(
        "aimon-overview",
        "aimon / overview",
        "One model version across every replica: traffic, errors, latency, payloads, drift, "
        "model quality, alerts and sidecar health.",
        b,
        [
            *MODEL_VARIABLES,
            variable_query(
                "segment",
                "Segment",
                f"label_values(aimon_segment_window_predictions{{{MV}}}, segment)",
            ),
        ],
        [link("aimon / feature", "aimon-feature")],
    )


def feature() -> Json:
    b = Board()
    b.panel(
        "barchart",
        "Reference vs live bin shares (fleet, last hour)",
        [
            target(f"model_version_feature_bin:aimon_reference_bin:ratio{{{MVF}}}", instant=True),
            target(
                f"model_version_feature_bin:aimon_feature_bin:ratio_increase1h{{{MVF}}}",
                instant=True,
            ),
        ],
        w=24,
        h=10,
        unit="percentunit",
        description="The reference's share of each of its bins (or categories) and the live "
        "share over the last hour across replicas (recording rules).",
        options={
            "xField": "bin",
            "orientation": "auto",
            "barWidth": 0.9,
            "groupWidth": 0.7,
            "showValue": "never",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        },
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "model": True,
                        "version": True,
                        "feature": True,
                    },
                    "indexByName": {"bin": 0},
                    "renameByName": {"Value #A": "reference", "Value #B": "live"},
                },
            },
        ],
    )
    b.panel(
        "stat",
        "PSI, fleet 1h",
        [target(f"model_version_feature:aimon_feature_psi:increase1h{{{MVF}}}")],
        w=6,
        h=4,
        steps=PSI_STEPS,
        extra_defaults={"decimals": 3},
    )
    b.panel(
        "stat",
        "Test p-value, smallest replica",
        [target(f'min(aimon_feature_drift{{{MVF},method=~"ks_pvalue|chi2_pvalue"}})')],
        w=6,
        h=4,
        steps=[(None, "red"), (0.05, "green")],
        extra_defaults={"decimals": 4},
        description="The p-value of KS (numeric features) or chi-squared (categorical "
        "features) over a replica's drift window; red below 0.05.",
    )
    b.panel(
        "stat",
        "Replicas finding drift",
        [target(f"sum(aimon_feature_drifted{{{MVF}}})")],
        w=6,
        h=4,
        steps=[(None, "green"), (1, "red")],
    )
    b.panel(
        "stat",
        "Live values, fleet 1h",
        [target(f"model_version_feature:aimon_feature_bin:increase1h{{{MVF}}}")],
        w=6,
        h=4,
        extra_defaults={"decimals": 0},
    )
    b.panel(
        "timeseries",
        "PSI over time",
        [
            target(f"model_version_feature:aimon_feature_psi:increase1h{{{MVF}}}", "fleet (1h)"),
            target(f'aimon_feature_drift{{{MVF},method="psi"}}', "{{instance}} (drift window)"),
        ],
        steps=PSI_STEPS,
        description="Fleet PSI over the last hour (recording rule) and each "
        "replica's PSI over its drift window.",
    )
    b.panel(
        "timeseries",
        "KS (or chi-squared) over time",
        [
            target(f'aimon_feature_drift{{{MVF},method=~"ks|chi2"}}', "{{instance}} {{method}}"),
        ],
        description="Each replica's KS statistic D over its drift window "
        "(numeric features; raw, so above 0.05 by chance on a few thousand values), or its "
        "chi-squared statistic (categorical features).",
    )
    b.panel(
        "timeseries",
        "Other drift measures, per replica",
        [
            target(
                f'aimon_feature_drift{{{MVF},method!~"psi|ks|chi2"}}', "{{instance}} {{method}}"
            ),
        ],
        w=24,
        description="Wasserstein, Jensen-Shannon and the tests' p-values, whichever "
        "apply to the feature.",
    )
    variables = [
        *MODEL_VARIABLES,
        variable_query(
            "feature",
            "Feature",
            f"label_values(aimon_reference_bin_ratio{{{MV}}}, feature)",
        ),
    ]
    return dashboard(
        "aimon-feature",
        "aimon / feature",
        "One feature of one model version: reference vs live bin shares, PSI and KS.",
        b,
        variables,
        [link("aimon / overview", "aimon-overview")],
    )


DASHBOARDS: dict[str, Callable[[], Json]] = {
    "aimon-overview.json": overview,
    "aimon-feature.json": feature,
}


def render(build: Callable[[], Json]) -> str:
    """A dashboard as the text of its committed JSON file."""
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        print(f"out of date (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
