"""Static checks of dashboards/grafana/: the committed JSON is the generator's output, every
panel queries the ``${datasource}`` variable for one model version, every variable it uses is
defined, and every metric it reads is one aimon exports or one the shipped rules record.
tests/integration/test_dashboards.py runs every query against a real Prometheus."""

from __future__ import annotations

import importlib.util
import json
import re
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)

from aimon.exporters import prometheus as exporter
from aimon.exporters.sidecar_metrics import SidecarCollector
from aimon.sidecar import Sidecar

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "dashboards" / "grafana"
RULES = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))

#: Grafana's built-in variables a query may use.
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range", "__range_s"}
#: Series Prometheus itself writes.
PROMETHEUS_SERIES = {"ALERTS", "ALERTS_FOR_STATE", "up"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aimon_grafana", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_metrics() -> set[str]:
    """Every series name aimon's exporter writes, with the suffixes of its kind."""
    names: set[str] = set()
    for kind, name, _doc, _labels in exporter._FAMILIES.values():
        if kind is CounterMetricFamily:
            names.add(f"{name}_total")
        elif kind is HistogramMetricFamily:
            names.update(f"{name}{s}" for s in ("_bucket", "_sum", "_count"))
        elif kind is SummaryMetricFamily:
            names.update(f"{name}{s}" for s in ("", "_sum", "_count"))
        else:
            names.add(name)
    return names


def sidecar_metrics() -> set[str]:
    """Every series name of the sidecar's own health (a sidecar on a log with a bad line)."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "p.log"
        log.write_text("not json\n")
        sidecar = Sidecar(str(log))
        try:
            sidecar.step()
            families = list(SidecarCollector(sidecar).collect())
        finally:
            sidecar.close()
    return {sample.name for family in families for sample in family.samples}


def recorded_metrics() -> set[str]:
    names = set()
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (selectors, not functions or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range durations
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("("):
            continue  # a function or aggregation
        if match.group().lower() in PROMQL_WORDS:
            continue
        if match.start() > 0 and (
            text[match.start() - 1].isdigit() or text[match.start() - 1] == "."
        ):
            continue  # the exponent of a number, 1e6
        names.add(match.group())
    return names


def label_values(definition: str) -> tuple[str, str]:
    """A query variable's ``label_values(selector, label)``: the selector and the label."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition.strip())
    assert match is not None, definition
    return match.group(1), match.group(2)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(dashboard) if p["type"] != "row"]


@pytest.fixture(scope="module", params=[p.name for p in DASHBOARDS])
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads((GRAFANA / request.param).read_text())


def test_both_dashboards_are_committed() -> None:
    assert [p.name for p in DASHBOARDS] == ["aimon-feature.json", "aimon-overview.json"]


def test_committed_json_is_the_generators_output() -> None:
    generator = load_generator()
    assert sorted(generator.DASHBOARDS) == [p.name for p in DASHBOARDS]
    for name, build in generator.DASHBOARDS.items():
        assert (GRAFANA / name).read_text() == generator.render(build), (
            f"{name} differs from dashboards/grafana/generate.py's output: edit the generator "
            "and run it, never the JSON"
        )
    assert generator.main(["--check"]) == 0


def test_dashboard_model(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] in {"aimon-overview", "aimon-feature"}
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]


def test_every_panel_queries_the_datasource_variable_for_one_model_version(
    dashboard: dict[str, Any],
) -> None:
    assert query_panels(dashboard)
    for panel in query_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for t in panel["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            assert t["expr"].strip(), panel["title"]
            assert 'model="$model"' in t["expr"], (panel["title"], t["expr"])
            assert 'version="$version"' in t["expr"], (panel["title"], t["expr"])


def test_every_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"model", "version"} <= set(variables)
    queries = [t["expr"] for p in query_panels(dashboard) for t in p["targets"]]
    queries += [v["definition"] for v in variables.values() if v["type"] == "query"]
    used = {
        m.group(1) or m.group(2)
        for q in queries
        for m in re.finditer(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", q)
    }
    assert used - GRAFANA_VARIABLES <= set(variables), used - GRAFANA_VARIABLES - set(variables)
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"]["uid"] == "${datasource}"
            assert v["query"]["query"] == v["definition"]


def test_every_metric_read_is_exported_or_recorded(dashboard: dict[str, Any]) -> None:
    known = exported_metrics() | sidecar_metrics() | recorded_metrics() | PROMETHEUS_SERIES
    queries = [t["expr"] for p in query_panels(dashboard) for t in p["targets"]]
    queries += [
        label_values(v["definition"])[0]
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]
    read = set()
    for q in queries:
        names = metric_names(q)
        assert names, q
        assert names <= known, (q, names - known)
        read |= names
    assert read & recorded_metrics(), "the fleet views read the recording rules"


def test_metric_names_parser() -> None:
    assert metric_names(
        'sum by (instance) (rate(aimon_predictions_total{model="$model",x="a b"}[5m]))'
        ' and on (instance) aimon_window_predictions{model="$model"} > 1e-4'
    ) == {"aimon_predictions_total", "aimon_window_predictions"}
    assert metric_names("count(max by (rule) (x:y:z) == 2) or vector(0)") == {"x:y:z"}


def test_thresholds_are_coloured() -> None:
    overview = json.loads((GRAFANA / "aimon-overview.json").read_text())
    table = next(p for p in overview["panels"] if p["title"] == "Drift per feature")
    steps = {
        o["matcher"]["options"]: [
            prop["value"]["steps"] for prop in o["properties"] if prop["id"] == "thresholds"
        ]
        for o in table["fieldConfig"]["overrides"]
    }
    psi = [{"color": "green", "value": None}, {"color": "yellow", "value": 0.1},
           {"color": "red", "value": 0.2}]  # fmt: skip
    assert steps["Value #A"] == [psi] and steps["Value #B"] == [psi]
    assert steps["Value #C"] == []  # raw KS: above 0.05 by chance, so never red at 0.05
    model_drift = next(p for p in overview["panels"] if p["title"].startswith("Model drift"))
    assert model_drift["targets"][0]["expr"].startswith("aimon_drift_max_ks{")
    assert model_drift["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "red", "value": 0.05},
    ]


def test_estimated_quality_is_drawn_beside_the_realised() -> None:
    overview = json.loads((GRAFANA / "aimon-overview.json").read_text())
    panel = next(
        p for p in overview["panels"] if p["title"] == "Model quality: estimated vs realised"
    )
    assert panel["type"] == "timeseries" and panel["gridPos"]["w"] == 24
    exprs = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    acc = 'model="$model",version="$version",metric="accuracy"'
    estimated = f"aimon_estimated_quality{{{acc}}}"
    spread = f"3 * aimon_estimated_quality_std_error{{{acc}}}"
    assert exprs == {
        "{{instance}} estimated": estimated,
        "{{instance}} estimated +3 se": f"clamp_max({estimated} + {spread}, 1)",
        "{{instance}} estimated -3 se": f"clamp_min({estimated} - {spread}, 0)",
        "{{instance}} realised": f"aimon_model_quality{{{acc}}}",
        "estimated on the reference": (
            f"max by (model, version, metric) (aimon_reference_estimated_quality{{{acc}}})"
        ),
        "realised on the reference": f"model_version_metric:aimon_reference_quality:max{{{acc}}}",
    }
    # The interval's bounds drawn dotted, the reference's lines dashed.
    styles = {
        o["matcher"]["options"]: o["properties"][0]["value"]["fill"]
        for o in panel["fieldConfig"]["overrides"]
    }
    assert styles == {".* estimated [+-]3 se$": "dot", ".* on the reference$": "dash"}
    for legend in exprs:
        matched = [p for p in styles if re.fullmatch(p, legend.replace("{{instance}}", "a:1"))]
        assert len(matched) == (0 if legend.endswith(("estimated", "realised")) else 1), legend
    # Its place: in the model quality row, before the alerts.
    titles = [p["title"] for p in overview["panels"]]
    quality, alerts = titles.index("Model quality"), titles.index("Alerts")
    assert quality < titles.index(panel["title"]) < alerts


def test_multivariate_drift_is_drawn_against_its_band_in_the_drift_row() -> None:
    overview = json.loads((GRAFANA / "aimon-overview.json").read_text())
    panel = next(p for p in overview["panels"] if p["title"].startswith("Multivariate drift"))
    assert panel["type"] == "timeseries"
    mv = 'model="$model",version="$version"'
    exprs = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    assert exprs == {
        "{{instance}} error": f"aimon_multivariate_reconstruction_error{{{mv}}}",
        "upper bound (reference)": (
            f"max by (model, version) (aimon_multivariate_reconstruction_upper{{{mv}}})"
        ),
        "{{instance}} drifted": f"aimon_multivariate_drifted{{{mv}}}",
    }
    props = {
        o["matcher"]["options"]: {prop["id"]: prop["value"] for prop in o["properties"]}
        for o in panel["fieldConfig"]["overrides"]
    }
    # The band's upper bound drawn as a red dashed threshold line; the 0/1 verdict on its
    # own right axis, stepped, so it does not squash the error's scale.
    band = props["upper bound (reference)"]
    assert band["color"] == {"mode": "fixed", "fixedColor": "red"}
    assert band["custom.lineStyle"]["fill"] == "dash"
    flag = props[".* drifted$"]
    assert re.fullmatch(".* drifted$", "a:1 drifted")
    assert not re.fullmatch(".* drifted$", "a:1 error")
    assert flag["custom.axisPlacement"] == "right" and (flag["min"], flag["max"]) == (0, 1)
    assert flag["custom.lineInterpolation"] == "stepAfter"
    # Its place: in the drift row, before the data quality row.
    titles = [p["title"] for p in overview["panels"]]
    assert titles.index("Drift") < titles.index(panel["title"]) < titles.index("Data quality")


def test_provisioning_points_at_the_dashboards_directory() -> None:
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards.yml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    # The docs' Grafana step mounts dashboards/grafana/ there.
    readme = (ROOT / "docs" / "prometheus-grafana.md").read_text()
    assert f"dashboards/grafana:{path}" in readme
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    for name in ("dashboards.yml", "datasources.yml"):
        assert f"dashboards/grafana/provisioning/{name}" in readme


def test_segments_are_drawn_for_the_chosen_segment_column() -> None:
    overview = json.loads((GRAFANA / "aimon-overview.json").read_text())
    variables = {v["name"]: v for v in overview["templating"]["list"]}
    mv = 'model="$model",version="$version"'
    assert variables["segment"]["definition"] == (
        f"label_values(aimon_segment_window_predictions{{{mv}}}, segment)"
    )
    titles = [p["title"] for p in overview["panels"]]
    row = titles.index("Segments")
    mine = overview["panels"][row + 1 : row + 4]
    assert [p["title"] for p in mine] == [
        "Segments of $segment",
        "Error ratio by segment (5m)",
        "Drifted features by segment",
    ]
    assert titles.index("Drift") < row < titles.index("Data quality")
    read = set()
    for panel in mine:
        for t in panel["targets"]:
            # Every query is of one segment column, one value per row or line.
            assert f'{mv},segment="$segment"' in t["expr"], t["expr"]
            assert "by (segment_value)" in t["expr"], t["expr"]
            read |= metric_names(t["expr"])
    assert read == {
        "aimon_segment_predictions_total",
        "aimon_segment_error_ratio",
        "aimon_segment_latency_seconds",
        "aimon_segment_feature_drifted",
        "aimon_segment_feature_drift",
    }
    table, errors, drifted = mine
    names = {
        o["matcher"]["options"]: {prop["id"]: prop["value"] for prop in o["properties"]}
        for o in table["fieldConfig"]["overrides"]
    }
    assert names["Value #B"]["displayName"] == "error ratio (5m)"
    assert names["Value #B"]["unit"] == "percentunit"
    assert names["Value #F"]["thresholds"]["steps"][-1] == {"color": "red", "value": 0.2}
    # The fleet's error ratio: summed counters, errors over all calls of each value.
    (ratio,) = errors["targets"]
    assert ratio["expr"] == table["targets"][1]["expr"]
    assert ratio["expr"].count("aimon_segment_predictions_total") == 2
    assert ratio["expr"].index('outcome="error"') < ratio["expr"].index(" / ")
    assert drifted["targets"][0]["expr"] == table["targets"][4]["expr"]
