"""The Dockerfile and the Kubernetes manifests agree with the CLI and the endpoints (no
container engine runs here, so their contents are what is tested)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from aimon.cli import _parser
from aimon.exporters.http import _Endpoints

DEPLOY = Path(__file__).parent.parent / "deploy"


def sidecar_args(args: list[str]) -> object:
    return _parser().parse_args(["sidecar", *args])


def dockerfile() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z]+)\s+(.*)$", line.strip())
        if match:
            out[match.group(1)] = match.group(2)  # the last of each instruction
    return out


def test_dockerfile_runs_the_sidecar_as_non_root_with_a_healthcheck() -> None:
    docker = dockerfile()
    assert json.loads(docker["ENTRYPOINT"]) == ["aimon", "sidecar"]
    args = sidecar_args(json.loads(docker["CMD"]))
    assert args.port == int(docker["EXPOSE"]) == 9108
    assert args.state_dir == "/var/lib/aimon" and args.log_file.startswith("/var/log/model/")
    assert docker["USER"].split(":")[0] not in ("0", "root")
    assert "/healthz" in docker["HEALTHCHECK"] and ":9108/" in docker["HEALTHCHECK"]
    assert docker["FROM"].startswith("python:3.11-slim")


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    return {doc["kind"]: doc for doc in docs}


def test_kubernetes_sidecar_matches_the_cli_and_endpoints(manifests: dict[str, dict]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    aimon = containers["aimon"]
    args = sidecar_args(aimon["args"])
    port = {p["name"]: p["containerPort"] for p in aimon["ports"]}["metrics"]
    assert args.port == port == int(pod["metadata"]["annotations"]["prometheus.io/port"])
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    endpoints = _Endpoints([])
    for probe in ("livenessProbe", "readinessProbe"):
        path = aimon[probe]["httpGet"]["path"]
        assert endpoints.handle(path, "")[0].startswith("200"), path
    assert aimon["readinessProbe"]["httpGet"]["path"] == "/ready"
    mounts = {m["name"]: m["mountPath"] for m in aimon["volumeMounts"]}
    model_mounts = {m["name"]: m["mountPath"] for m in containers["model"]["volumeMounts"]}
    assert str(Path(args.log_file).parent) == mounts["predictions"] == model_mounts["predictions"]
    assert args.state_dir == mounts["state"]
    assert str(Path(args.reference).parent) == mounts["reference"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "emptyDir" in volumes["predictions"] and "emptyDir" in volumes["state"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_service_and_servicemonitor_point_at_the_metrics_port(manifests: dict[str, dict]) -> None:
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = manifests["Service"]["spec"]
    assert all(labels.get(k) == v for k, v in service["selector"].items())
    assert service["ports"][0]["targetPort"] == "metrics"
    monitor = manifests["ServiceMonitor"]["spec"]
    assert monitor["endpoints"][0]["port"] == service["ports"][0]["name"]
    assert monitor["endpoints"][0]["path"] == "/metrics"
    service_labels = manifests["Service"]["metadata"]["labels"]
    assert all(service_labels.get(k) == v for k, v in monitor["selector"]["matchLabels"].items())
