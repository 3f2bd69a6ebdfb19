"""Sidecar settings: YAML file < AIMON_* environment < flags; errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimon.alerts import FileSink, LogSink, WebhookSink
from aimon.config import load_settings
from aimon.drift.reference import Reference
from aimon.errors import ConfigError
from aimon.settings import QualitySettings, SegmentSettings

CONFIG = """
log_file: /var/log/model/predictions.log
port: 9200
window: 10m
state_dir: /var/lib/aimon
fields:
  latency: duration_ms
  features: request.features
rules:
  - {name: Slow, metric: latency_p95, value: 0.8, for: 2m}
sinks:
  - {type: log}
  - {type: file, path: alerts.jsonl, match: {severity: critical}}
  - {type: webhook, url_env: HOOK_URL, name: pager}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "aimon.yaml"
    path.write_text(CONFIG)
    return path


def test_file_then_environment_then_flags(
    config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/secret")
    settings = load_settings(str(config))
    assert (settings.port, settings.window, settings.state_dir) == (9200, "10m", "/var/lib/aimon")
    assert settings.fields.latency == "duration_ms"
    assert settings.fields.features == "request.features"
    thresholds = settings.thresholds()
    assert thresholds is not None and thresholds.rules[0].for_ == 120.0
    routes = settings.routes()
    assert [type(r.sink) for r in routes] == [LogSink, FileSink, WebhookSink]
    assert routes[1].match == {"severity": "critical"} and routes[2].sink.name == "pager"

    monkeypatch.setenv("AIMON_PORT", "9300")
    monkeypatch.setenv("AIMON_FIELDS__MODEL", "service")
    from_env = load_settings(str(config))
    assert from_env.port == 9300 and from_env.fields.model == "service"
    assert load_settings(str(config), port=9400).port == 9400  # the flag wins
    assert load_settings(str(config), port=None).port == 9300  # an unset flag does not


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("log_file: x.log\nprot: 1\n", "field 'prot': Extra inputs are not permitted"),
        ("log_file: x.log\nport: many\n", "field 'port'"),
        ("port: 9108\n", "field 'log_file': Field required"),
        ("log_file: x.log\nsinks: [{type: pager}]\n", "field 'sinks.0.type'"),
        ("log_file: x.log\nrules: [{name: A, metric: nope, value: 1}]\n", "field 'rules.0.metric'"),
        ("log_file: x.log\nquality_threshold: 2\n", "field 'quality_threshold'"),
        ("log_file: x.log\noutcome_ttl: soon\n", "field 'outcome_ttl'"),
        ("log_file: x.log\nwindow: soon\n", "field 'window'"),
        ("log_file: x.log\nsegments: [country, country]\n", "field 'segments': 'country' named"),
        ("log_file: x.log\nsegments: [country, '']\n", "field 'segments': an empty feature"),
        ("log_file: x.log\nsegments: {country: 1}\n", "field 'segments'"),
        ("log_file: x.log\nmax_segment_values: 0\n", "field 'max_segment_values'"),
        ("log_file: x.log\nmax_segment_values: many\n", "field 'max_segment_values'"),
    ],
)
def test_a_bad_config_fails_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "aimon.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(str(path))
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_missing_config_file_and_sink_options() -> None:
    with pytest.raises(ConfigError, match=r"--config: nope\.yaml: no such file"):
        load_settings("nope.yaml")
    settings = load_settings(None, log_file="x.log", sinks=[{"type": "alertmanager"}])
    with pytest.raises(ConfigError, match="alertmanager sink needs 'urls'"):
        settings.routes()


def test_quality_settings_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMON_POSITIVE_LABEL", "1")
    monkeypatch.setenv("AIMON_QUALITY_THRESHOLD", "0.3")
    settings = load_settings(None, log_file="x.log", outcome_ttl="2h")
    assert settings.positive_label == 1  # a whole number: labels 0/1 are numbers
    assert (settings.quality_threshold, settings.outcome_ttl) == (0.3, "2h")
    assert load_settings(None, log_file="x.log", positive_label="fraud").positive_label == "fraud"
    assert settings.quality() == QualitySettings(
        task=None, positive_label=1, threshold=0.3, outcome_ttl="2h"
    )


def test_the_reference_is_read_once_at_the_edge(tmp_path: Path) -> None:
    assert load_settings(None, log_file="x.log").reference_profile() is None
    path = tmp_path / "ref.json"
    Reference.from_frame({"age": [20.5, 30.1, 40.2, 50.9]}).save(path)  # floats: numeric
    profile = load_settings(None, log_file="x.log", reference=str(path)).reference_profile()
    assert profile is not None and profile.features["age"].kind == "numeric"
    missing = load_settings(None, log_file="x.log", reference=str(tmp_path / "no.json"))
    with pytest.raises(ConfigError, match=r"reference: .*no\.json: no such file"):
        missing.reference_profile()


def test_segments_from_the_file_the_environment_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "aimon.yaml"
    path.write_text("log_file: x.log\nsegments: [country, plan]\nmax_segment_values: 5\n")
    assert load_settings(str(path)).segment_settings() == SegmentSettings(
        ("country", "plan"), max_values=5
    )
    monkeypatch.setenv("AIMON_SEGMENTS", "device,country")  # a comma-separated list
    assert load_settings(str(path)).segments == ["device", "country"]
    monkeypatch.setenv("AIMON_SEGMENTS", '["tier"]')  # or JSON, as every list field
    assert load_settings(str(path)).segments == ["tier"]
    flags = load_settings(str(path), segments=["region"], max_segment_values=None)
    assert flags.segment_settings() == SegmentSettings(("region",), max_values=5)
    monkeypatch.delenv("AIMON_SEGMENTS")
    assert load_settings(None, log_file="x.log").segment_settings() is None


def test_an_environment_variable_that_is_not_json_names_its_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIMON_SINKS", '[{"type": "log"')
    with pytest.raises(ConfigError, match=r"field 'sinks': AIMON_SINKS is not valid JSON"):
        load_settings(log_file="p.log")
