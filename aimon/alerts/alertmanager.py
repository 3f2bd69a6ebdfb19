"""AlertmanagerSink: alerts posted to Alertmanager's API the way Prometheus posts them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from aimon.alerts.alert import Alert
from aimon.alerts.base import DeliveryError, check_url, post_json

__all__ = ["AlertmanagerSink"]


class AlertmanagerSink:
    """POST ``/api/v2/alerts`` to every listed Alertmanager (they deduplicate among
    themselves), as Prometheus does:

    * labels identify the alert and stay stable; volatile numbers (the current value) are
      annotations;
    * a firing alert is re-sent every ``resend_delay`` with
      ``endsAt = now + 4 * max(evaluation_interval, resend_delay)``, so Alertmanager resolves
      it by itself if aimon dies, and an Alertmanager that restarted learns it again;
    * a resolved alert is sent with ``endsAt`` = the time it resolved, and re-sent for
      ``resend_resolved_for`` (15 minutes) in case a notification was lost;
    * pending alerts are never sent (the router holds them back).

    A redirect is not followed (a failed delivery); logs name each instance's host only.

    Raises:
        ConfigError: a URL that is not an http(s) URL with a host.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        evaluation_interval: float = 15.0,
        resend_delay: float = 60.0,
        resend_resolved_for: float = 15 * 60.0,
        timeout: float = 10.0,
        name: str = "alertmanager",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("urls: give at least one Alertmanager URL")
        for i, url in enumerate(self.urls):
            check_url(f"urls[{i}]", url)
        self.evaluation_interval = evaluation_interval
        self.repeat_interval = resend_delay
        self.resend_resolved_for = resend_resolved_for
        self.timeout = timeout
        self._clock = clock

    def body(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        """The API's list of postable alerts."""
        now = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        valid_for = timedelta(seconds=4 * max(self.evaluation_interval, self.repeat_interval))
        out = []
        for alert in alerts:
            ends = alert.ends_at if alert.state == "resolved" and alert.ends_at else now + valid_for
            out.append(
                {
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "startsAt": alert.starts_at.isoformat(),
                    "endsAt": ends.isoformat(),
                    "generatorURL": "",
                }
            )
        return out

    def send(self, alerts: Sequence[Alert]) -> None:
        """Post to every instance; raise if any failed (the retry re-posts to all, which
        Alertmanager deduplicates)."""
        body = self.body(alerts)
        failures = []
        for i, url in enumerate(self.urls):
            try:
                post_json(
                    url.rstrip("/") + "/api/v2/alerts",
                    body,
                    timeout=self.timeout,
                    what=f"instance {i}",
                )
            except DeliveryError as exc:
                failures.append(exc)
        if failures:
            raise DeliveryError(
                f"{self.name}: " + "; ".join(map(str, failures)),
                retry=any(exc.retry for exc in failures),
            )

    def __repr__(self) -> str:
        return f"AlertmanagerSink({len(self.urls)} instance(s))"
