"""The sidecar's settings: a YAML file (``--config``), ``AIMON_*`` environment variables and
command-line flags, flags winning over the environment, the environment over the file.

>>> settings = SidecarSettings(log_file="predictions.log", port=9200)
>>> settings.port, settings.fields.latency
(9200, 'latency_ms')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from aimon.alerts import AlertmanagerSink, FileSink, LogSink, Route, SlackSink, WebhookSink
from aimon.errors import ConfigError
from aimon.events import FieldMap
from aimon.thresholds import Rule, Thresholds

__all__ = ["SidecarSettings", "SinkSettings", "load_settings"]


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


class SidecarSettings(BaseSettings):
    """Everything ``aimon sidecar`` needs. Environment variables are ``AIMON_`` + the field
    name (``AIMON_PORT``, ``AIMON_LOG_FILE``; nested: ``AIMON_FIELDS__LATENCY``)."""

    model_config = SettingsConfigDict(
        env_prefix="AIMON_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    log_file: str
    reference: str | None = None
    host: str = "0.0.0.0"
    port: int = Field(9108, ge=0, le=65535)
    state_dir: str | None = None
    window: str = "5m"
    max_models: int = Field(16, ge=1)
    fields: FieldMap = FieldMap()
    rules: list[Rule] | None = None
    thresholds_file: str | None = None
    sinks: list[SinkSettings] = []

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
        raise ConfigError(f"{source}field {field!r}: {first['msg']}") from None
