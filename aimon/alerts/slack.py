"""SlackSink: an incoming-webhook message with blocks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from aimon.alerts.alert import Alert
from aimon.alerts.base import Secret, check_url, post_json

__all__ = ["SlackSink", "slack_message"]

_ICONS = {"firing": ":red_circle:", "resolved": ":large_green_circle:", "pending": ":hourglass:"}
_MAX_BLOCKS = 45  # Slack accepts 50 blocks per message


def slack_message(alerts: Sequence[Alert]) -> dict[str, Any]:
    """A Slack message: a header, one section per alert (state, labels, summary), and a
    plain-text fallback."""
    firing = sum(a.state == "firing" for a in alerts)
    title = f"{firing} firing, {len(alerts) - firing} resolved: {alerts[0].name}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
    ]
    for alert in alerts[:_MAX_BLOCKS]:
        labels = ", ".join(f"`{k}={v}`" for k, v in sorted(alert.labels.items()))
        summary = alert.annotations.get("summary", "")
        text = f"{_ICONS.get(alert.state, '')} *{alert.state.upper()}* {summary}\n{labels}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if len(alerts) > _MAX_BLOCKS:
        more = f"... and {len(alerts) - _MAX_BLOCKS} more"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"text": title, "blocks": blocks}


class SlackSink:
    """Post to a Slack incoming webhook; the webhook URL is a secret (``url``, ``url_env``
    or ``url_file``), never logged (only its host is). A redirect is a failed delivery.

    Raises:
        ConfigError: the URL is missing or not an http(s) URL with a host.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        url_env: str | None = None,
        url_file: str | os.PathLike[str] | None = None,
        timeout: float = 5.0,
        name: str = "slack",
    ) -> None:
        self.name = name
        self._url = Secret("url", url, env=url_env, file=url_file)
        check_url("url", self._url.get() or "")
        self.timeout = timeout

    def send(self, alerts: Sequence[Alert]) -> None:
        """Post the message."""
        url = self._url.get()
        assert url is not None
        post_json(url, slack_message(alerts), timeout=self.timeout, what=self.name)

    def __repr__(self) -> str:
        return f"SlackSink(name={self.name!r}, url=***)"
