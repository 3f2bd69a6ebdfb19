"""The sidecar's settings: a YAML file (``--config``), ``AIMON_*`` environment variables and
command-line flags, flags winning over the environment, the environment over the file.

>>> settings = SidecarSettings(log_file="predictions.log", port=9200)
>>> settings.port, settings.fields.latency
(9200, 'latency_ms')
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from aimon.alerts import AlertmanagerSink, FileSink, LogSink, Route, SlackSink, WebhookSink
from aimon.alerts.base import Secret
from aimon.drift.reference import Reference, ReferenceError
from aimon.durations import parse_duration
from aimon.errors import ConfigError
from aimon.events import FieldMap
from aimon.exporters.auth import Authenticator, BasicAuth, BearerAuth
from aimon.quality.metrics import label_from_text
from aimon.settings import QualitySettings, SegmentSettings
from aimon.thresholds import Rule, Thresholds

__all__ = ["AuthSettings", "SidecarSettings", "SinkSettings", "TLSSettings", "load_settings"]


class SinkSettings(BaseModel):
    """One alert sink: its ``type`` and that sink's options; ``match`` routes by labels.

    Secrets (webhook URLs, tokens) are best given as ``url_env``/``url_file`` and
    ``token_env``/``token_file`` rather than in the file itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["log", "file", "webhook", "slack", "alertmanager"]
    name: str | None = None
    match: dict[str, str] = {}
    url: str | None = None
    url_env: str | None = None
    url_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    urls: list[str] = []
    path: str | None = None
    timeout: float = Field(5.0, gt=0)

    def build(self) -> Route:
        """The route to this sink."""
        named: dict[str, Any] = {"name": self.name} if self.name else {}
        sink: Any
        if self.type == "log":
            sink = LogSink()
        elif self.type == "file":
            if not self.path:
                raise ConfigError("sinks: a file sink needs 'path'")
            sink = FileSink(self.path, **named)
        elif self.type == "webhook":
            sink = WebhookSink(self.url, url_env=self.url_env, url_file=self.url_file,
                               token_env=self.token_env, token_file=self.token_file,
                               timeout=self.timeout, **named)  # fmt: skip
        elif self.type == "slack":
            sink = SlackSink(self.url, url_env=self.url_env, url_file=self.url_file,
                             timeout=self.timeout, **named)  # fmt: skip
        else:
            if not self.urls:
                raise ConfigError("sinks: an alertmanager sink needs 'urls'")
            sink = AlertmanagerSink(self.urls, timeout=self.timeout, **named)
        return Route(sink, match=self.match)


class AuthSettings(BaseModel):
    """Credentials the endpoints require: a bearer token, or a basic-auth username and
    password; neither means no authentication.

    Each secret comes as a value (best from the environment: ``AIMON_AUTH__BEARER_TOKEN``,
    ``AIMON_AUTH__PASSWORD``) or from a file (``bearer_token_file``, ``password_file``: a
    mounted Kubernetes Secret), never from a command-line value. ``/healthz`` and ``/ready``
    stay open for the kubelet's probes unless ``protect_probes``.

    >>> AuthSettings(bearer_token="s3cret").build()
    BearerAuth(***)
    >>> AuthSettings().build() is None
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bearer_token: SecretStr | None = None
    bearer_token_file: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    protect_probes: bool = False

    @model_validator(mode="after")
    def _one_scheme(self) -> AuthSettings:
        bearer = self.bearer_token is not None or self.bearer_token_file is not None
        basic = self.username is not None or self.password is not None
        basic = basic or self.password_file is not None
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ValueError("give bearer_token or bearer_token_file, not both")
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if bearer and basic:
            raise ValueError(
                "bearer_token and username/password are both set: choose bearer or basic auth"
            )
        if basic and not self.username:
            raise ValueError("password without username: basic auth needs both")
        if basic and self.password is None and self.password_file is None:
            raise ValueError("username without password: give password or password_file")
        if self.protect_probes and not (bearer or basic):
            raise ValueError("protect_probes needs bearer_token or username/password")
        return self

    def build(self) -> Authenticator | None:
        """The authenticator, its secret read now (from the value or the file).

        Raises:
            ConfigError: an unreadable or empty secret file, or an empty secret; the message
                names the field.
        """
        if self.bearer_token is not None or self.bearer_token_file is not None:
            token = _secret("auth.bearer_token", self.bearer_token, self.bearer_token_file)
            return BearerAuth(token)
        if self.username is not None:
            if ":" in self.username:
                raise ConfigError("auth.username: must not contain ':' (RFC 7617)")
            password = _secret("auth.password", self.password, self.password_file)
            return BasicAuth(self.username, password)
        return None


def _secret(field: str, value: SecretStr | None, file: str | None) -> str:
    secret = Secret(
        field, value.get_secret_value() if value is not None else None, file=file, required=False
    ).get()
    if not secret:
        where = f"{field}_file: {file} is empty" if file else f"{field}: empty"
        raise ConfigError(where)
    return secret


def _encrypted_key() -> str:
    # Without this callback OpenSSL would prompt on the terminal and hang the sidecar.
    raise ConfigError("tls.key_file: the key is encrypted; give an unencrypted PEM key")


class TLSSettings(BaseModel):
    """HTTPS for the endpoints: a PEM certificate (chain) and its key; with
    ``client_ca_file``, clients must also present a certificate signed by that CA (mutual
    TLS). Files are read once at start (a renewed certificate needs a restart).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    min_version: Literal["1.2", "1.3"] = "1.2"

    @model_validator(mode="after")
    def _cert_and_key(self) -> TLSSettings:
        if self.cert_file is not None and self.key_file is None:
            raise ValueError("cert_file without key_file: give both")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file without cert_file: give both")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file")
        return self

    def context(self) -> ssl.SSLContext | None:
        """A server-side SSL context with the certificate loaded, or None without TLS.

        Raises:
            ConfigError: a missing, unreadable or invalid file, a key that does not match the
                certificate, or an encrypted key; the message names the field.
        """
        if self.cert_file is None or self.key_file is None:
            return None
        cert = _read("tls.cert_file", self.cert_file)
        if b"-----BEGIN CERTIFICATE-----" not in cert:
            raise ConfigError(f"tls.cert_file: {self.cert_file}: no PEM certificate in it")
        if b"PRIVATE KEY-----" not in _read("tls.key_file", self.key_file):
            raise ConfigError(f"tls.key_file: {self.key_file}: no PEM private key in it")
        # Not create_default_context: client certificates must chain to client_ca_file
        # alone, never to the system's CAs.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = (
            ssl.TLSVersion.TLSv1_3 if self.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
        )
        try:
            context.load_cert_chain(self.cert_file, self.key_file, password=_encrypted_key)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"tls.key_file: {self.key_file} and tls.cert_file: {self.cert_file} do not "
                f"load together ({exc.reason or exc}); is it the certificate's key?"
            ) from None
        if self.client_ca_file is not None:
            _read("tls.client_ca_file", self.client_ca_file)
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except ssl.SSLError as exc:
                raise ConfigError(
                    f"tls.client_ca_file: {self.client_ca_file}: {exc.reason or exc}"
                ) from None
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def _read(field: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc.strerror}") from None


class SidecarSettings(BaseSettings):
    """Everything ``aimon sidecar`` needs. Environment variables are ``AIMON_`` + the field
    name (``AIMON_PORT``, ``AIMON_LOG_FILE``; nested: ``AIMON_FIELDS__LATENCY``,
    ``AIMON_AUTH__BEARER_TOKEN``, ``AIMON_TLS__CERT_FILE``)."""

    model_config = SettingsConfigDict(
        env_prefix="AIMON_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    log_file: str
    reference: str | None = None
    host: str = "0.0.0.0"
    port: int = Field(9108, ge=0, le=65535)
    state_dir: str | None = None
    outcomes_file: str | None = None
    outcome_ttl: str = "1h"
    quality_task: Literal["classification", "binary_score", "regression"] | None = None
    positive_label: int | str | None = None
    quality_threshold: float | None = Field(None, ge=0.0, le=1.0)
    window: str = "5m"
    max_models: int = Field(16, ge=1)
    segments: list[str] | None = None
    max_segment_values: int = Field(20, ge=1)
    fields: FieldMap = FieldMap()
    rules: list[Rule] | None = None
    thresholds_file: str | None = None
    sinks: list[SinkSettings] = []
    auth: AuthSettings = AuthSettings()
    tls: TLSSettings = TLSSettings()

    @field_validator("positive_label", mode="before")
    @classmethod
    def _whole_number_label(cls, value: Any) -> Any:
        return label_from_text(value)

    @field_validator("segments", mode="before")
    @classmethod
    def _segment_names(cls, value: Any) -> Any:
        # One string is a comma-separated list: AIMON_SEGMENTS=country,plan, --segment once.
        if isinstance(value, str):
            return [name.strip() for name in value.split(",")]
        return value

    @field_validator("segments")
    @classmethod
    def _segment_columns(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not all(name.strip() for name in value):
            raise ValueError(f"an empty feature name in {value!r}")
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} named twice")
        return value

    @field_validator("outcome_ttl", "window")
    @classmethod
    def _duration(cls, value: str, info: ValidationInfo) -> str:
        parse_duration(value, info.field_name or "duration")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("yaml_file"):
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)

    def thresholds(self) -> Thresholds | None:
        """The rules: inline ``rules``, a ``thresholds_file``, or None."""
        if self.rules is not None and self.thresholds_file is not None:
            raise ConfigError("rules: give rules or thresholds_file, not both")
        if self.rules is not None:
            return Thresholds(rules=self.rules)
        if self.thresholds_file is not None:
            return Thresholds.from_file(self.thresholds_file)
        return None

    def routes(self) -> list[Route]:
        """The sinks as routes (a LogSink when rules are set but no sink is)."""
        return [s.build() for s in self.sinks]

    def reference_profile(self) -> Reference | None:
        """The ``reference`` profile, read now (once, for every model), or None.

        Raises:
            ConfigError: the file is missing or not a reference profile.
        """
        if not self.reference:
            return None
        try:
            return Reference.load(self.reference)
        except ReferenceError as exc:
            raise ConfigError(f"reference: {exc}") from None

    def segment_settings(self) -> SegmentSettings | None:
        """The segment columns every monitor keeps a window, drift and data quality per
        value of (None: none).

        >>> SidecarSettings(log_file="p.log", segments="country,plan").segment_settings()
        SegmentSettings(columns=('country', 'plan'), max_values=20, drift_sample=256)
        """
        if not self.segments:
            return None
        return SegmentSettings(tuple(self.segments), max_values=self.max_segment_values)

    def quality(self) -> QualitySettings:
        """How every monitor matches outcomes with predictions and scores them.

        >>> SidecarSettings(log_file="p.log", outcome_ttl="2h").quality().outcome_ttl_s
        7200.0
        """
        return QualitySettings(
            task=self.quality_task,
            positive_label=self.positive_label,
            threshold=self.quality_threshold,
            outcome_ttl=self.outcome_ttl,
        )


def load_settings(config_file: str | None = None, **flags: Any) -> SidecarSettings:
    """Settings from ``config_file`` (YAML), ``AIMON_*`` variables and ``flags`` (the ones
    that are not None), in rising precedence.

    Raises:
        ConfigError: a missing file or an invalid field; the message names the field.
    """
    path = Path(config_file) if config_file else None
    settings_cls = SidecarSettings
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--config: {path}: no such file")
        config = SettingsConfigDict(**{**SidecarSettings.model_config, "yaml_file": path})
        settings_cls = cast(
            type[SidecarSettings],
            type("FileSidecarSettings", (SidecarSettings,), {"model_config": config}),
        )
    try:
        return settings_cls(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        source = f"{path}: " if path else ""
        message = first["msg"].removeprefix("Value error, ")  # our validators' own words
        raise ConfigError(f"{source}field {field!r}: {message}") from None
    except SettingsError as exc:  # a value pydantic-settings could not decode (JSON)
        named = re.search(r'field "([^"]+)"', str(exc))
        field = named.group(1) if named else "settings"
        why = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise ConfigError(
            f"field {field!r}: AIMON_{field.upper()} is not valid JSON{why}"
        ) from None
