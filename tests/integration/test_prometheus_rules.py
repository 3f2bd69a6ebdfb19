"""The Prometheus files of deploy/prometheus/ pass promtool: the rule files and the sample
configuration are valid, and the promtool unit tests (series in, recorded values and alerts
out) pass. The unit tests cover every recording and alerting rule, the alerting rules carry
the library's default thresholds, and the fleet PSI they expect is aimon's own PSI."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from aimon.drift.samples import fill_empty
from aimon.drift.stats import psi_from_counts
from aimon.durations import parse_duration
from aimon.thresholds import default_rules

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULE_FILES = sorted((DEPLOY / "rules").glob("*.yml"))
UNIT_TESTS = sorted((DEPLOY / "tests").glob("*.test.yml"))
PSI = "model_version_feature:aimon_feature_psi:increase1h"
FILLED_LIVE = "model_version_feature_bin:aimon_feature_bin:filled_ratio_increase1h"
FILLED_REFERENCE = "model_version_feature_bin:aimon_reference_bin:filled_ratio"
UNSEEN = "__unseen__"


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: `make test` installs it (Debian prometheus)")
    return binary


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )


def rules_of(kind: str) -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def unit_tests() -> list[dict]:
    return [test for path in UNIT_TESTS for test in yaml.safe_load(path.read_text())["tests"]]


def test_the_files_are_there():
    assert [p.name for p in RULE_FILES] == ["aimon-alerts.yml", "aimon-recording.yml"]
    assert len(UNIT_TESTS) >= 2


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(promtool: str, path: Path):
    groups = yaml.safe_load(path.read_text())["groups"]
    count = sum(len(group["rules"]) for group in groups)
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {count} rules found" in result.stdout, result.stdout


def test_promtool_check_config_loads_every_rule_file(promtool: str):
    config_path = DEPLOY / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    # Prometheus resolves rule files (and file_sd files) relative to the configuration.
    assert sorted(DEPLOY / p for p in config["rule_files"]) == RULE_FILES
    result = run(promtool, "check", "config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    for job in config["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            for pattern in sd["files"]:
                found = sorted(DEPLOY.glob(pattern))
                assert found, pattern
                for path in found:
                    targets = yaml.safe_load(path.read_text())
                    assert all(group["targets"] for group in targets), path


def test_promtool_unit_tests_pass(promtool: str):
    result = run(promtool, "test", "rules", *(str(p) for p in UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS), result.stdout


def test_unit_tests_cover_every_recording_rule_and_alert():
    tests = unit_tests()
    exprs = [check["expr"] for test in tests for check in test.get("promql_expr_test", [])]
    for record in {rule["record"] for rule in rules_of("record")}:
        checked = [e for e in exprs if re.search(rf"(^|[^\w:]){re.escape(record)}([^\w:]|$)", e)]
        assert checked, f"no promql_expr_test checks {record}"
    checks = [check for test in tests for check in test.get("alert_rule_test", [])]
    for alert in {rule["alert"] for rule in rules_of("alert")}:
        outcomes = [bool(c["exp_alerts"]) for c in checks if c["alertname"] == alert]
        assert any(outcomes), f"no alert_rule_test expects {alert} to fire"
        assert not all(outcomes), f"no alert_rule_test expects {alert} not to fire"


def test_alerts_mirror_the_library_defaults():
    alerts = {rule["alert"]: rule for rule in rules_of("alert")}
    defaults = default_rules()
    assert set(alerts) == {rule.name for rule in defaults}
    for rule in defaults:
        alert = alerts[rule.name]
        assert parse_duration(alert["for"]) == rule.for_, rule.name
        assert alert["labels"]["severity"] == rule.severity, rule.name
        threshold = rf"(?<![<>=!]){re.escape(rule.op)} {rule.value:g}(?![\d.])"
        assert re.search(threshold, alert["expr"]), (rule.name, alert["expr"])
        assert re.search(rf">= {rule.min_count}(?![\d.])", alert["expr"]), rule.name
        assert {"summary", "description"} <= set(alert["annotations"]), rule.name


# --- the unit tests' fleet PSI is aimon's PSI --------------------------------------------

_SERIES = re.compile(r"^(?P<name>[\w:]+)\{(?P<labels>.*)\}$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
_VALUES = re.compile(r"^(?P<start>[-\d.]+(?:e[-+]?\d+)?)\+(?P<step>[-\d.]+(?:e[-+]?\d+)?)x\d+$")


def _series(test: dict, name: str) -> list[tuple[dict[str, str], float, float]]:
    """(labels, first value, step) of the test's input series named ``name``; every one
    is written as ``start+stepxN``."""
    out = []
    for series in test["input_series"]:
        match = _SERIES.match(series["series"])
        assert match, series["series"]
        if match["name"] != name:
            continue
        values = _VALUES.match(series["values"])
        assert values, series["values"]
        labels = dict(_LABEL.findall(match["labels"]))
        out.append((labels, float(values["start"]), float(values["step"])))
    return out


def _expected(test: dict, record: str) -> dict[tuple[str, ...], float]:
    out = {}
    for check in test.get("promql_expr_test", []):
        if record not in check["expr"]:
            continue
        for sample in check["exp_samples"]:
            labels = dict(_LABEL.findall(sample["labels"]))
            out[(labels["feature"], labels.get("bin", ""))] = float(sample["value"])
    return out


def test_unit_test_fleet_psi_is_aimons_psi_of_the_summed_counts():
    """The drift unit tests feed linear counters (``0+stepxN``, one sample a minute) and
    expect values at least an hour in, so each bin's increase over 1h is 60 steps, summed
    over the replicas; aimon's psi_from_counts on those counts (and its fill_empty on the
    shares) must give what the tests expect of the rules."""
    checked = 0
    for test in unit_tests():
        expected_psi = _expected(test, PSI)
        if not expected_psi:
            continue
        live: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for labels, _, step in _series(test, "aimon_feature_bin_total"):
            live[labels["feature"]][labels["bin"]] += 60 * step
        reference: dict[str, dict[str, float]] = defaultdict(dict)
        for labels, ratio, _ in _series(test, "aimon_reference_bin_ratio"):
            reference[labels["feature"]][labels["bin"]] = ratio
        filled_live = _expected(test, FILLED_LIVE)
        filled_reference = _expected(test, FILLED_REFERENCE)
        for feature, counts in live.items():
            # An empty __unseen__ bin is no category of the comparison (as in the library).
            bins = [b for b in counts if not (b == UNSEEN and counts[b] == 0)]
            p = np.array([reference[feature][b] for b in bins])
            q = np.array([counts[b] for b in bins])
            psi = psi_from_counts(p, q).statistic
            assert expected_psi[(feature, "")] == pytest.approx(psi, rel=1e-9, abs=1e-11), feature
            for b, share in zip(bins, fill_empty(q / q.sum()), strict=True):
                assert filled_live[(feature, b)] == pytest.approx(share, rel=1e-12), (feature, b)
            assert (feature, UNSEEN) not in filled_live or counts.get(UNSEEN, 0) > 0
            all_bins = list(reference[feature])
            ratios = np.array([reference[feature][b] for b in all_bins])
            for b, share in zip(all_bins, fill_empty(ratios / ratios.sum()), strict=True):
                assert filled_reference[(feature, b)] == pytest.approx(share, rel=1e-12), b
            checked += 1
    assert checked >= 4
