"""WebhookSink: a JSON POST in the shape of Alertmanager's webhook payload."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aimon.alerts.alert import Alert
from aimon.alerts.base import Secret, check_url, post_json

__all__ = ["WebhookSink", "webhook_payload"]

_GROUP_LABELS = ("alertname", "model", "version")


def _time(alert: Alert, field: str) -> str:
    value = getattr(alert, field)
    return value.isoformat().replace("+00:00", "Z") if value is not None else "0001-01-01T00:00:00Z"


def webhook_payload(alerts: Sequence[Alert], receiver: str) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one group of alerts. The group's
    labels are the identifying labels all its alerts share (alert name, model, version)."""
    common = dict(alerts[0].labels)
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    annotations = dict(alerts[0].annotations)
    for alert in alerts[1:]:
        annotations = {k: v for k, v in annotations.items() if alert.annotations.get(k) == v}
    group = {k: common[k] for k in _GROUP_LABELS if k in common}
    firing = any(a.state == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}",
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": common,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": "firing" if a.state == "firing" else "resolved",
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": _time(a, "starts_at"),
                "endsAt": _time(a, "ends_at"),
                "generatorURL": "",
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }


def idempotency_key(payload: Mapping[str, Any]) -> str:
    """The same notification (group, alerts and their states) always has the same key, so a
    receiver can drop a retried duplicate."""
    parts = [
        str(payload["groupKey"]),
        *sorted(f"{a['fingerprint']}:{a['status']}:{a['startsAt']}" for a in payload["alerts"]),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class WebhookSink:
    """POST each notification as JSON (Alertmanager's webhook shape, ``Idempotency-Key``
    header) to a URL.

    The URL and the bearer token are secrets: pass them, or the name of an environment
    variable (``url_env``, ``token_env``) or a file (``url_file``, ``token_file``) to read
    them from at start. They are never logged or shown in errors (only the URL's scheme, host
    and port are). ``timeout`` bounds each request (the router retries, with backoff, on its
    own thread). A redirect is not followed: it is a failed delivery.

    Raises:
        ConfigError: the URL is missing or not an http(s) URL with a host.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        url_env: str | None = None,
        url_file: str | os.PathLike[str] | None = None,
        token: str | None = None,
        token_env: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        name: str = "webhook",
    ) -> None:
        self.name = name
        self._url = Secret("url", url, env=url_env, file=url_file)
        check_url("url", self._url.get() or "")
        self._token = Secret("token", token, env=token_env, file=token_file, required=False)
        self.headers = dict(headers or {})
        self.timeout = timeout

    def payload(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        """The JSON body for these alerts."""
        return webhook_payload(alerts, self.name)

    def send(self, alerts: Sequence[Alert]) -> None:
        """POST the alerts."""
        payload = self.payload(alerts)
        headers = {**self.headers, "Idempotency-Key": idempotency_key(payload)}
        token = self._token.get()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = self._url.get()
        assert url is not None
        post_json(url, payload, timeout=self.timeout, headers=headers, what=self.name)

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r}, url=***)"
