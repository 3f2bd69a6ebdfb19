"""Every query of every panel of every dashboard in dashboards/grafana/ returns data from a
real Prometheus, with the template variables filled in, after a scenario: two sidecars (two
replicas of one model version) with one reference, on logs with traffic, errors of two types,
a spread of latencies and payload sizes, missing values and drifted features, and ground
truth for most predictions (an outcomes log per sidecar, a reference built with a target and
scores, so the replicas export their quality, estimated and realised, and the reference's;
and with its multivariate part, so they export their multivariate drift), scraped by a
Prometheus that loads the shipped rules of deploy/prometheus/. A third replica of the same
model version is an embedded Monitor (the library's mode) segmented by ``country``, fed the
same kind of traffic and outcomes, so it exports the segment families too; the reference is
built with ``segments=["country"]``, so they include drift per segment.

The rules over a window (``rate``, ``increase``) need values that arrive while Prometheus
watches, so, as in test_fleet_psi.py, each log starts with a few lines without features, the
sidecars and Prometheus start, and the traffic is appended once both replicas have been
scraped a few times. The head's predictions carry request ids whose outcomes are there from
the start, so the outcome counters, too, exist before the traffic.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pytest

from aimon import Monitor
from aimon.drift import Reference

from .conftest import SidecarProcess, http_get, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"
RULES = ROOT / "deploy" / "prometheus" / "rules"
MODEL, VERSION = "m", "1"
COUNTRIES = ["DE", "FR", "US", "GB"]
#: Grafana's own variables, as Grafana would fill them for a 1-hour range and 15 s scrapes.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h",
                     "__range_s": "3600"}  # fmt: skip
REPLICAS = {"a": (1500, 0.8), "b": (800, 1.5)}  # lines, shift of amount (drift)
#: The embedded replica, segmented by country: lines, shift of amount.
EMBEDDED = (1200, 0.8)
SEGMENTS = ["country"]
HEAD = 20  # lines without features at the head of each log
#: How far each replica's outcomes follow its scores: a's are drawn from the score, as on the
#: reference data; b's half the time from a coin, so b's accuracy falls below the reference's.
CALIBRATED = {"a": 1.0, "b": 0.5}


def log_lines(rng: np.random.Generator, n: int, shift: float, now: float, ids: str) -> list[dict]:
    amount = rng.normal(shift, 1.0, n)
    balance = 2.0 * amount + rng.normal(0.0, 0.5, n)  # correlated with amount, as on the reference
    country = rng.choice(COUNTRIES, n, p=[0.1, 0.1, 0.7, 0.1])
    latency = rng.lognormal(np.log(20.0), 1.0, n)  # ms: p50 ~ 20, p99 ~ 200
    errors = rng.choice([None, "ValueError", "TimeoutError"], n, p=[0.9, 0.07, 0.03])
    lines = []
    for i in range(n):
        features: dict[str, Any] = {"amount": float(amount[i]), "balance": float(balance[i]),
                                    "country": str(country[i])}  # fmt: skip
        if i % 50 == 0:
            features["amount"] = None  # a missing value
        lines.append(
            {"ts": now + i * 1e-4, "model": MODEL, "version": VERSION,
             "latency_ms": float(latency[i]), "error": errors[i],
             "input_size": int(rng.integers(100, 5000)), "output_size": int(rng.integers(8, 64)),
             "features": features, "prediction": float(rng.random()),
             "request_id": f"{ids}-{i}"}
        )  # fmt: skip
    return lines


def outcomes_of(rng: np.random.Generator, lines: list[dict], calibrated: float) -> list[dict]:
    """The ground truth of nine in ten successful predictions (the rest never arrives): 1
    with the probability of the score, or, for a share ``1 - calibrated`` of them, of 0.5."""
    out = []
    for line in lines:
        if line.get("error") or rng.random() < 0.1:
            continue
        p = line["prediction"] if rng.random() < calibrated else 0.5
        out.append({"request_id": line["request_id"], "actual": int(rng.random() < p)})
    return out


def write_outcomes(path: Path, outcomes: list[dict]) -> None:
    with path.open("a") as out:
        out.writelines(json.dumps(o) + "\n" for o in outcomes)


def append(path: Path, records: list[dict]) -> None:
    """The records as log lines, and two the sidecar must count as malformed."""
    with path.open("a") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
        out.write('not json\n{"ts": "yesterday"}\n')


def head(now: float, ids: str) -> list[dict]:
    return [{"ts": now + i * 1e-4, "model": MODEL, "version": VERSION, "latency_ms": 5.0,
             "error": None, "features": {}, "prediction": 0.75, "request_id": f"{ids}-{i}"}
            for i in range(HEAD)]  # fmt: skip


class EmbeddedReplica:
    """The third replica: an embedded Monitor segmented by country, serving /metrics, fed
    log records as calls (the columns the sidecar makes of log lines) and their outcomes."""

    def __init__(self, reference: Path) -> None:
        self.monitor = Monitor(MODEL, VERSION, reference=reference, segments=SEGMENTS)
        self.port = self.monitor.serve(port=0).port

    def head(self, rng: np.random.Generator) -> int:
        """A head with a call of each country, so that the segments' counters exist before
        the traffic too; returns the outcomes matched."""
        lines = head(time.time(), "embedded-head")
        for i, line in enumerate(lines):
            line["features"] = {"country": COUNTRIES[i % len(COUNTRIES)]}
        return self.feed(rng, lines)

    def feed(self, rng: np.random.Generator, records: list[dict]) -> int:
        """The records as calls, then their outcomes; returns the outcomes matched."""
        self.monitor.observe_many(
            ts=[r["ts"] for r in records],
            latency_s=[r["latency_ms"] / 1000.0 for r in records],
            errors=[r["error"] for r in records],
            features=[r["features"] for r in records],
            predictions=[r["prediction"] for r in records],
            input_size=[r.get("input_size") for r in records],
            output_size=[r.get("output_size") for r in records],
            request_ids=[r["request_id"] for r in records],
        )
        truth = outcomes_of(rng, records, 1.0)
        self.monitor.record_outcomes([(o["request_id"], o["actual"], None) for o in truth])
        return len(truth)


def fill(expr: str, values: dict[str, str]) -> str:
    """The query Grafana sends: ``$name``, ``${name}`` and ``[[name]]`` replaced."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"variable ${name} of {expr!r} is not filled in")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", value, expr)


def label_values(prom: Any, definition: str, values: dict[str, str]) -> list[str]:
    """What Grafana's ``label_values(selector, label)`` variable query lists."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition.strip())
    assert match is not None, definition
    selector, label = fill(match.group(1), values), match.group(2)
    return sorted({r["metric"][label] for r in prom.query(f"group by ({label}) ({selector})")})


#: aimon's own rules in the sidecars (aimon_alert_state): the defaults for errors and PSI.
RULES_YAML = """
rules:
  - {name: ErrorRateHigh, metric: error_rate, op: ">", value: 0.01, for: 1m, min_count: 100}
  - {name: FeatureDriftPSI, metric: psi, value: 0.2, for: 5m, min_count: 500}
"""


def panel_queries(prom: Any, features: list[str]) -> Iterator[tuple[tuple, str, bool]]:
    """Every panel target of every dashboard as Grafana sends it, its variables filled with
    what their own queries list: (dashboard, panel, feature, query), query, instant."""
    for path in sorted(GRAFANA.glob("*.json")):
        dashboard = json.loads(path.read_text())
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        values = {**GRAFANA_VARIABLES, "datasource": "prometheus"}
        for name, value in (("model", MODEL), ("version", VERSION)):
            listed = label_values(prom, variables[name]["definition"], values)
            assert value in listed, (path.name, name, listed)
            values[name] = value
        choices: list[dict[str, str]] = [values]
        for name, expected in (("feature", features), ("segment", SEGMENTS)):
            if name in variables:
                listed = label_values(prom, variables[name]["definition"], values)
                assert listed == expected, (path.name, name, listed)
                choices = [{**c, name: v} for c in choices for v in listed]
        for filled in choices:
            for panel in dashboard["panels"]:
                for target in panel.get("targets", []):
                    query = fill(target["expr"], filled)
                    chosen = filled.get("feature") or filled.get("segment")
                    where = (path.name, panel["title"], chosen, query)
                    yield where, query, bool(target.get("instant"))


def query_range(prom: Any, promql: str, end: float, seconds: float = 30.0) -> list[dict]:
    """A range query over the last ``seconds`` before ``end``, a point a second."""
    params = {"query": promql, "start": end - seconds, "end": end, "step": "1s"}
    body = json.loads(http_get(f"{prom.url}/api/v1/query_range?{urlencode(params)}")[2])
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def assert_every_panel_query_returns_data(prom: Any, features: list[str], end: float) -> None:
    """Each panel query, at ``end`` and over the 30 s before it (a time series panel draws a
    range), returns data that is not only NaN."""
    checked, empty, nan, no_range = 0, [], [], []
    for where, query, instant in panel_queries(prom, features):
        checked += 1
        result = prom.query(query)
        if not result:
            empty.append(where)
        elif all(math.isnan(float(r["value"][1])) for r in result):
            nan.append(where)
        if not instant and not query_range(prom, query, end):
            no_range.append(where)
    print(f"{checked} panel queries run")
    assert checked >= 40
    assert not empty, "queries without data:\n" + "\n".join(map(str, empty))
    assert not nan, "queries with only NaN:\n" + "\n".join(map(str, nan))
    assert not no_range, "range queries without data:\n" + "\n".join(map(str, no_range))


def save_reference(rng: np.random.Generator, path: Path) -> list[str]:
    """A reference with the model's quality (built with a target, so the sidecars export
    aimon_reference_quality), the estimator of quality before labels, its scores being
    calibrated (aimon_estimated_quality and the reference's estimate), and the multivariate
    fit of its two numeric inputs (aimon_multivariate_*); its features: the prediction and
    the target (label drift of the matched outcomes) are profiled too; and a profile per
    country (drift per segment)."""
    score = rng.random(5000)
    amount = rng.normal(0.0, 1.0, 5000)
    train = pd.DataFrame(
        {"amount": amount, "balance": 2.0 * amount + rng.normal(0.0, 0.5, 5000),
         "country": rng.choice(COUNTRIES, 5000, p=[0.4, 0.3, 0.2, 0.1]),
         "score": score, "label": (rng.random(5000) < score).astype(int)}
    )  # fmt: skip
    reference = Reference.from_frame(
        train, bins=10, target="label", prediction="score", multivariate=True, segments=SEGMENTS
    )
    assert reference.quality is not None and reference.quality.accuracy is not None
    assert sorted(reference.segments["country"]) == sorted(COUNTRIES)
    assert reference.performance_estimator() is not None
    assert reference.multivariate is not None
    reference.save(path)
    return ["amount", "balance", "country", "label", "score"]


def test_every_panel_query_returns_data_after_the_scenario(
    tmp_path: Path, prometheus_factory, monkeypatch: pytest.MonkeyPatch
):
    rng = np.random.default_rng(20261125)
    reference_path = tmp_path / "reference.json"
    features = save_reference(rng, reference_path)
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES_YAML)
    monkeypatch.setenv("AIMON_THRESHOLDS_FILE", str(rules_path))  # the sidecars inherit it

    logs = {name: tmp_path / f"{name}.log" for name in REPLICAS}
    outcomes = {name: tmp_path / f"{name}-outcomes.log" for name in REPLICAS}
    matched = 0  # outcomes written for a prediction, each once
    sidecars: dict[str, SidecarProcess] = {}
    embedded = EmbeddedReplica(reference_path)
    try:
        matched += embedded.head(rng)
        for name, log in logs.items():
            lines = head(time.time(), f"{name}-head")
            append(log, lines)
            truth = outcomes_of(rng, lines, 1.0)
            write_outcomes(outcomes[name], truth)
            matched += len(truth)
            # SidecarProcess has no flag for it; the sidecar reads AIMON_OUTCOMES_FILE, and
            # each process takes the environment of its start.
            monkeypatch.setenv("AIMON_OUTCOMES_FILE", str(outcomes[name]))
            sidecars[name] = SidecarProcess(
                log, tmp_path / f"state-{name}", tmp_path / f"{name}.out", reference=reference_path
            )
        prom = prometheus_factory(
            [*(f"127.0.0.1:{s.port}" for s in sidecars.values()), f"127.0.0.1:{embedded.port}"],
            [RULES / "aimon-recording.yml", RULES / "aimon-alerts.yml"],
        )
        for name, sidecar in sidecars.items():
            wait_until(lambda s=sidecar: s.predictions() == HEAD, timeout=60,
                       what=f"sidecar {name} read its head")  # fmt: skip
        # A few scrapes of every counter before the traffic: rate() and increase() see it all.
        scraped = (
            f'count_over_time(aimon_predictions_total{{model="{MODEL}",outcome="ok"}}[1m]) >= 3'
        )
        wait_until(lambda: len(prom.query(scraped)) == len(REPLICAS) + 1, timeout=30,
                   what="three scrapes of the three replicas")  # fmt: skip

        # The traffic in two halves, a scrape apart: every counter, the error types' too
        # (whose series start at their first error), grows between two scrapes.
        total = HEAD * (len(REPLICAS) + 1)
        for half in (0, 1):
            for name, (lines, shift) in REPLICAS.items():
                records = log_lines(rng, lines // 2, shift, time.time(), f"{name}-{half}")
                append(logs[name], records)
                total += lines // 2
                truth = outcomes_of(rng, records, CALIBRATED[name])
                matched += len(truth)
                write_outcomes(outcomes[name], truth + truth[:3])  # and three duplicates
            records = log_lines(rng, EMBEDDED[0] // 2, EMBEDDED[1], time.time(), f"e-{half}")
            matched += embedded.feed(rng, records)
            total += EMBEDDED[0] // 2
            scraped_all = (
                f'sum(aimon_predictions_total{{model="{MODEL}"}}) == {total} and on () '
                f'sum(aimon_outcomes_total{{model="{MODEL}",result="matched"}}) == {matched}'
            )
            wait_until(
                lambda q=scraped_all: prom.query(q),
                timeout=30, what=f"Prometheus scraped half {half + 1} of both logs and outcomes",
            )  # fmt: skip
        # The slowest series: fleet PSI (drift group) and the Prometheus alerts they start.
        for expr in (
            f'model_version_feature:aimon_feature_psi:increase1h{{model="{MODEL}"}} > 0',
            f'ALERTS{{alertname="FeatureDriftPSI",model="{MODEL}"}}',
            f'ALERTS{{alertname="ErrorRateHigh",model="{MODEL}"}}',
            f'model_version_error_type:aimon_prediction_errors:rate5m{{model="{MODEL}"}} > 0',
            f'model_version:aimon_model_quality_pairs:sum{{model="{MODEL}"}} == {matched}',
            f'model_version_metric:aimon_model_quality_change:pairs_weighted_mean{{model="{MODEL}"}}',
            f'aimon_multivariate_reconstruction_error{{model="{MODEL}"}}',
            f'aimon_segment_feature_drift{{model="{MODEL}",segment="country",method="psi"}}',
        ):
            wait_until(lambda e=expr: len(prom.query(e)) >= 1, timeout=20, what=expr)

        assert_every_panel_query_returns_data(prom, features, time.time())
    finally:
        for sidecar in sidecars.values():
            sidecar.stop()
        embedded.monitor.close()
