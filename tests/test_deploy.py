"""The Dockerfile and the Kubernetes manifests agree with the CLI and the endpoints (no
container engine runs here, so their contents are what is tested)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aimon.cli.parser import build_parser
from aimon.config import AuthSettings, TLSSettings
from aimon.exporters.auth import BearerAuth
from aimon.exporters.endpoints import Endpoints
from aimon.exporters.http import MetricsServer

DEPLOY = Path(__file__).parent.parent / "deploy"


def sidecar_args(args: list[str]) -> object:
    return build_parser().parse_args(["sidecar", *args])


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
    endpoints = Endpoints([])
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


def test_probes_stay_open_and_the_token_is_a_mounted_secret(
    manifests: dict[str, dict], tmp_path: Path
) -> None:
    pod = manifests["Deployment"]["spec"]["template"]
    aimon = {c["name"]: c for c in pod["spec"]["containers"]}["aimon"]
    args = sidecar_args(aimon["args"])
    assert args.bearer_token_file and args.basic_auth_password_file is None
    assert not args.protect_probes  # the kubelet's probes carry no credentials
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    settings = AuthSettings(bearer_token_file=str(token), protect_probes=bool(args.protect_probes))
    endpoints = Endpoints([], auth=settings.build(), protect_probes=settings.protect_probes)
    scheme = "HTTPS" if args.tls_cert else "HTTP"
    for probe in ("livenessProbe", "readinessProbe"):
        get = aimon[probe]["httpGet"]
        assert "httpHeaders" not in get and get.get("scheme", "HTTP") == scheme
        assert endpoints.handle(get["path"], "")[0].startswith("200"), get["path"]
    assert endpoints.handle("/metrics", "")[0].startswith("401")
    assert endpoints.handle("/metrics", "", "Bearer s3cret")[0].startswith("200")

    mounts = {m["name"]: m for m in aimon["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    (name,) = [
        n for n, m in mounts.items() if m["mountPath"] == str(Path(args.bearer_token_file).parent)
    ]
    assert mounts[name]["readOnly"] is True
    secret = volumes[name]["secret"]
    assert secret["defaultMode"] & 0o007 == 0  # not world-readable
    endpoint = manifests["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoint.get("scheme", "http").upper() == scheme
    assert endpoint["authorization"]["type"] == "Bearer"
    credentials = endpoint["authorization"]["credentials"]
    assert credentials == {"name": secret["secretName"], "key": Path(args.bearer_token_file).name}


@pytest.mark.parametrize("tls", [False, True])
def test_the_docker_healthcheck_works_over_http_and_https(tls: bool, tmp_path: Path) -> None:
    from tests.test_http_auth import self_signed

    command = json.loads(dockerfile()["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert command[0] == "python"
    context = None
    if tls:
        cert, key = self_signed(tmp_path, "server")
        context = TLSSettings(cert_file=str(cert), key_file=str(key)).context()
    server = MetricsServer([], port=0, auth=BearerAuth("s3cret"), ssl_context=context)
    program = command[-1].replace(":9108/", f":{server.port}/")
    healthcheck = [sys.executable, *command[1:-1], program]
    try:
        assert subprocess.run(healthcheck, check=False, timeout=30).returncode == 0
    finally:
        server.close()
    failed = subprocess.run(healthcheck, check=False, capture_output=True, timeout=30)
    assert failed.returncode != 0  # nothing listening


def test_the_operator_prometheusrule_holds_the_shipped_rules_unchanged() -> None:
    script = DEPLOY / "prometheus" / "prometheusrule.py"
    check = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr  # regenerate with the script when rules change
    rule = yaml.safe_load((DEPLOY / "kubernetes" / "prometheusrule.yaml").read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    shipped = [
        group
        for name in ("aimon-recording.yml", "aimon-alerts.yml")
        for group in yaml.safe_load((DEPLOY / "prometheus" / "rules" / name).read_text())["groups"]
    ]
    assert rule["spec"]["groups"] == shipped
