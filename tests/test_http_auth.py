"""Bearer and basic auth, and TLS, on the endpoints: real servers on loopback ports, the
settings that build them (errors name the field) and ``aimon sidecar`` end to end."""

from __future__ import annotations

import asyncio
import base64
import datetime
import inspect
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import aimon
from aimon.cli import main
from aimon.config import AuthSettings, TLSSettings, load_settings
from aimon.errors import ConfigError
from aimon.exporters.auth import BasicAuth, BearerAuth
from aimon.exporters.http import MetricsServer, make_asgi_app

TOKEN = "t0k3n-" + "x" * 26
PROBES = ("/healthz", "/ready")
PROTECTED = ("/metrics", "/", "/status", "/nope")


# --- certificates ------------------------------------------------------------------------


def _self_signed_cryptography(cert: Path, key: Path, encrypt: bool) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ip = __import__("ipaddress").ip_address("127.0.0.1")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ip)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encryption: Any = (
        serialization.BestAvailableEncryption(b"pw") if encrypt else serialization.NoEncryption()
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )


def _self_signed_openssl(cert: Path, key: Path, encrypt: bool) -> None:
    plain = key.with_suffix(".plain") if encrypt else key
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(plain),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    if encrypt:
        subprocess.run(
            ["openssl", "pkey", "-in", str(plain), "-aes256", "-passout", "pass:pw", "-out",
             str(key)],
            check=True, capture_output=True,
        )  # fmt: skip


def self_signed(directory: Path, name: str, encrypt: bool = False) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 and its key, made with the
    ``cryptography`` package when it is installed, else with the openssl command."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    try:
        import cryptography  # noqa: F401
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.fail("no cryptography package and no openssl: `make test` installs openssl")
        _self_signed_openssl(cert, key, encrypt)
    else:
        _self_signed_cryptography(cert, key, encrypt)
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("certs")
    return {name: self_signed(directory, name) for name in ("server", "client", "other")}


def trusting(cert: Path, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A client context trusting ``cert`` alone (and presenting ``client``, if given)."""
    context = ssl.create_default_context(cafile=str(cert))
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # a self-signed test certificate
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    return context


# --- helpers -----------------------------------------------------------------------------


def get(
    url: str, authorization: str | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def mon() -> Iterator[aimon.Monitor]:
    m = aimon.Monitor("guarded", version="1")
    m.observe(latency_s=0.01)
    yield m
    m.close()


@contextmanager
def serving(monitors: list[aimon.Monitor], **options: Any) -> Iterator[MetricsServer]:
    server = MetricsServer(monitors, port=0, **options)
    try:
        yield server
    finally:
        server.close()


# --- binding -----------------------------------------------------------------------------


def test_the_library_binds_loopback_unless_told_otherwise(mon: aimon.Monitor) -> None:
    server = mon.serve(port=0)
    assert server._httpd.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}"
    for serve in (aimon.Monitor.serve, aimon.serve, MetricsServer.__init__):
        assert inspect.signature(serve).parameters["host"].default == "127.0.0.1", serve


# --- authentication ----------------------------------------------------------------------


def test_without_auth_every_endpoint_answers(mon: aimon.Monitor) -> None:
    with serving([mon]) as server:
        for path in ("/metrics", "/status", *PROBES):
            status, headers, _ = get(server.url + path)
            assert status == 200 and "WWW-Authenticate" not in headers, path


def test_bearer_token_right_wrong_and_missing(mon: aimon.Monitor) -> None:
    scraped = []

    @contextmanager
    def guard() -> Iterator[None]:
        scraped.append(1)
        yield

    with serving([mon], auth=BearerAuth(TOKEN), guard=guard) as server:
        status, _, body = get(server.url + "/metrics", f"Bearer {TOKEN}")
        assert status == 200 and b'aimon_predictions_total{model="guarded"' in body
        assert get(server.url + "/status", f"bearer {TOKEN}")[0] == 200  # scheme: any case
        assert len(scraped) == 2
        for path in PROTECTED:
            status, headers, body = get(server.url + path)
            assert status == 401 and body == b"unauthorized\n", path
            assert headers["WWW-Authenticate"] == 'Bearer realm="aimon"'
            status, headers, _ = get(server.url + path, "Bearer wrong")
            assert status == 401
            assert headers["WWW-Authenticate"] == 'Bearer realm="aimon", error="invalid_token"'
        assert get(server.url + "/metrics", f"Basic {TOKEN}")[0] == 401
        assert get(server.url + "/metrics", f"Bearer {TOKEN}x")[0] == 401
        assert get(server.url + "/metrics", "Bearer")[0] == 401
        assert len(scraped) == 2  # refused before the guard: no checkpoint for strangers
        for path in PROBES:  # open for the kubelet
            assert get(server.url + path)[0] == 200, path
            assert get(server.url + "/prefix" + path)[2] in (b"ok\n", b"ready\n")


def test_basic_auth_right_and_wrong(mon: aimon.Monitor) -> None:
    with serving([mon], auth=BasicAuth("prometheus", "pa:ss wörd")) as server:
        assert get(server.url + "/metrics", basic("prometheus", "pa:ss wörd"))[0] == 200
        for authorization in (
            None,
            basic("prometheus", "wrong"),
            basic("Prometheus", "pa:ss wörd"),
            basic("prometheus", "pa:ss wörd") + "==",
            "Basic not-base64!",
            f"Bearer {TOKEN}",
        ):
            status, headers, _ = get(server.url + "/metrics", authorization)
            assert status == 401, authorization
            assert headers["WWW-Authenticate"] == 'Basic realm="aimon", charset="UTF-8"'
        assert get(server.url + "/healthz")[0] == 200


def test_protect_probes_requires_credentials_everywhere(mon: aimon.Monitor) -> None:
    with serving([mon], auth=BearerAuth(TOKEN), protect_probes=True) as server:
        for path in PROBES:
            assert get(server.url + path)[0] == 401, path
            assert get(server.url + path, f"Bearer {TOKEN}")[0] == 200, path


def test_the_asgi_app_checks_credentials_too(mon: aimon.Monitor) -> None:
    app = make_asgi_app([mon], auth=BearerAuth(TOKEN))

    def call(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request"}

        scope = {"type": "http", "path": path, "headers": headers}
        asyncio.run(app(scope, receive, send))
        return sent[0]["status"], dict(sent[0]["headers"])

    status, headers = call("/metrics", [])
    assert status == 401 and headers[b"www-authenticate"] == b'Bearer realm="aimon"'
    assert call("/metrics", [(b"authorization", f"Bearer {TOKEN}".encode())])[0] == 200
    assert call("/healthz", [])[0] == 200


def test_authenticators_keep_no_secret_in_sight() -> None:
    bearer, pair = BearerAuth(TOKEN), BasicAuth("prometheus", "hunter2")
    assert TOKEN not in repr(bearer) and "hunter2" not in repr(pair)
    assert TOKEN not in str(vars(bearer)) and "hunter2" not in str(vars(pair))
    with pytest.raises(ValueError, match="empty"):
        BearerAuth("")
    with pytest.raises(ValueError, match="':'"):
        BasicAuth("a:b", "c")


# --- TLS ---------------------------------------------------------------------------------


def test_tls_with_a_self_signed_certificate(
    mon: aimon.Monitor, certs: dict[str, tuple[Path, Path]]
) -> None:
    cert, key = certs["server"]
    context = TLSSettings(cert_file=str(cert), key_file=str(key)).context()
    assert context is not None
    with serving([mon], ssl_context=context, auth=BearerAuth(TOKEN)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        client = trusting(cert)
        status, _, body = get(server.url + "/metrics", f"Bearer {TOKEN}", client)
        assert status == 200 and b"aimon_predictions_total" in body
        assert get(server.url + "/metrics", None, client)[0] == 401
        assert get(server.url + "/healthz", None, client)[0] == 200
        plain = server.url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            get(plain + "/healthz")  # plain HTTP to the TLS port: refused
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            get(server.url + "/healthz", None, trusting(certs["other"][0]))
        assert get(server.url + "/healthz", None, client)[0] == 200  # and still serving


def test_mutual_tls_requires_a_client_certificate(
    mon: aimon.Monitor, certs: dict[str, tuple[Path, Path]]
) -> None:
    cert, key = certs["server"]
    settings = TLSSettings(
        cert_file=str(cert), key_file=str(key), client_ca_file=str(certs["client"][0])
    )
    with serving([mon], ssl_context=settings.context()) as server:
        assert get(server.url + "/metrics", None, trusting(cert, certs["client"]))[0] == 200
        for client in (trusting(cert), trusting(cert, certs["other"])):
            with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
                get(server.url + "/metrics", None, client)


def test_tls_min_version_13(mon: aimon.Monitor, certs: dict[str, tuple[Path, Path]]) -> None:
    cert, key = certs["server"]
    settings = TLSSettings(cert_file=str(cert), key_file=str(key), min_version="1.3")
    with serving([mon], ssl_context=settings.context()) as server:
        old = trusting(cert)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
            get(server.url + "/healthz", None, old)
        assert get(server.url + "/healthz", None, trusting(cert))[0] == 200


# --- settings ----------------------------------------------------------------------------


def test_auth_and_tls_from_file_environment_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: dict[str, tuple[Path, Path]]
) -> None:
    password = tmp_path / "password"
    password.write_text("hunter2\n")  # the trailing newline of `echo` is not part of it
    config = tmp_path / "aimon.yaml"
    config.write_text(
        f"log_file: x.log\nauth: {{username: prometheus, password_file: {password}}}\n"
        f"tls: {{cert_file: {certs['server'][0]}, key_file: {certs['server'][1]}}}\n"
    )
    settings = load_settings(str(config))
    auth = settings.auth.build()
    assert isinstance(auth, BasicAuth) and auth.check(basic("prometheus", "hunter2")) is None
    assert isinstance(settings.tls.context(), ssl.SSLContext)
    assert settings.auth.protect_probes is False

    monkeypatch.setenv("AIMON_AUTH__PROTECT_PROBES", "true")
    monkeypatch.setenv("AIMON_TLS__MIN_VERSION", "1.3")
    from_env = load_settings(str(config))
    assert from_env.auth.protect_probes and from_env.tls.min_version == "1.3"
    assert from_env.auth.username == "prometheus"  # the environment merges into the file

    monkeypatch.delenv("AIMON_AUTH__PROTECT_PROBES")
    monkeypatch.setenv("AIMON_AUTH__BEARER_TOKEN", TOKEN)
    only_env = load_settings(None, log_file="x.log")
    assert isinstance(only_env.auth.build(), BearerAuth)
    assert TOKEN not in repr(only_env) and TOKEN not in str(only_env)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    monkeypatch.delenv("AIMON_AUTH__BEARER_TOKEN")
    flags = load_settings(None, log_file="x.log", auth={"bearer_token_file": str(token_file)})
    assert (flags.auth.build() or BearerAuth("-")).check(f"Bearer {TOKEN}") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls: {cert_file: c.pem}", "field 'tls': cert_file without key_file: give both"),
        ("tls: {key_file: k.pem}", "field 'tls': key_file without cert_file"),
        ("tls: {client_ca_file: ca.pem}", "field 'tls': client_ca_file needs cert_file"),
        ("tls: {cert_file: c, key_file: k, min_version: '1.1'}", "field 'tls.min_version'"),
        ("auth: {bearer_token_file: t, username: u, password: p}",
         "field 'auth': bearer_token and username/password are both set"),
        ("auth: {bearer_token: t, bearer_token_file: t}",
         "field 'auth': give bearer_token or bearer_token_file, not both"),
        ("auth: {username: u}", "field 'auth': username without password"),
        ("auth: {password_file: p}", "field 'auth': password without username"),
        ("auth: {protect_probes: true}", "field 'auth': protect_probes needs bearer_token"),
        ("auth: {bearer_tokn: t}", "field 'auth.bearer_tokn': Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_combinations_fail_at_load_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "aimon.yaml"
    path.write_text(f"log_file: x.log\n{text}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(str(path))
    assert str(caught.value).startswith(f"{path}: {message}")


def test_unreadable_or_wrong_files_fail_at_start_naming_the_field(
    tmp_path: Path, certs: dict[str, tuple[Path, Path]]
) -> None:
    missing = str(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    (cert, key), (_, other_key) = certs["server"], certs["other"]
    cases: list[tuple[Any, str]] = [
        (AuthSettings(bearer_token_file=missing), "auth.bearer_token_file: cannot read"),
        (AuthSettings(bearer_token_file=str(empty)), f"auth.bearer_token_file: {empty} is empty"),
        (AuthSettings(bearer_token=""), "auth.bearer_token: empty"),
        (AuthSettings(username="u", password_file=missing), "auth.password_file: cannot read"),
        (AuthSettings(username="a:b", password="p"), "auth.username: must not contain ':'"),
        (TLSSettings(cert_file=missing, key_file=str(key)), "tls.cert_file: cannot read"),
        (TLSSettings(cert_file=str(cert), key_file=missing), "tls.key_file: cannot read"),
        (
            TLSSettings(cert_file=str(key), key_file=str(key)),
            f"tls.cert_file: {key}: no PEM certificate in it",
        ),
        (
            TLSSettings(cert_file=str(cert), key_file=str(cert)),
            f"tls.key_file: {cert}: no PEM private key in it",
        ),
        (
            TLSSettings(cert_file=str(cert), key_file=str(other_key)),
            f"tls.key_file: {other_key} and tls.cert_file: {cert} do not load together",
        ),
        (
            TLSSettings(cert_file=str(cert), key_file=str(key), client_ca_file=missing),
            "tls.client_ca_file: cannot read",
        ),
    ]
    for settings, message in cases:
        build = settings.build if isinstance(settings, AuthSettings) else settings.context
        with pytest.raises(ConfigError) as caught:
            build()
        assert str(caught.value).startswith(message), (settings, str(caught.value))


def test_an_encrypted_key_fails_instead_of_prompting(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "locked", encrypt=True)
    with pytest.raises(ConfigError, match=r"tls\.key_file: the key is encrypted"):
        TLSSettings(cert_file=str(cert), key_file=str(key)).context()


def test_the_cli_fails_at_start_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = str(tmp_path / "p.log")
    assert main(["sidecar", "--log-file", log, "--tls-cert", "c.pem"]) == 2
    assert "field 'tls': cert_file without key_file" in capsys.readouterr().err
    missing = str(tmp_path / "nope")
    assert main(["sidecar", "--log-file", log, "--bearer-token-file", missing]) == 2
    assert "auth.bearer_token_file: cannot read" in capsys.readouterr().err
    assert main(["sidecar", "--log-file", log, "--basic-auth-user", "prometheus"]) == 2
    assert "field 'auth': username without password" in capsys.readouterr().err


# --- end to end --------------------------------------------------------------------------


def test_aimon_sidecar_with_a_token_from_the_environment_over_tls(
    tmp_path: Path, certs: dict[str, tuple[Path, Path]]
) -> None:
    from tests.integration.conftest import free_port

    log = tmp_path / "p.log"
    log.write_text(
        '{"ts": 1700000000, "model": "fraud", "version": "1", "latency_ms": 5, "error": null}\n'
    )
    cert, key = certs["server"]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aimon", "sidecar", "--log-file", str(log), "--host",
         "127.0.0.1", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
        env={**os.environ, "AIMON_AUTH__BEARER_TOKEN": TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url, client = f"https://127.0.0.1:{port}", trusting(cert)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(url + "/ready", None, client)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert get(url + "/ready", None, client)[0] == 200
        status, headers, _ = get(url + "/metrics", None, client)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        status, _, body = get(url + "/metrics", f"Bearer {TOKEN}", client)
        assert status == 200 and b'aimon_predictions_total{model="fraud"' in body
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"serving {url}/metrics (bearer token, probes open)" in out
    assert TOKEN not in out + err
