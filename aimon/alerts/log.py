"""LogSink: one structured log line per alert."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aimon.alerts.alert import Alert

__all__ = ["LogSink"]


class LogSink:
    """Log each alert on ``logger`` (firing at ``level``, resolved at INFO); the alert as a
    JSON-ready dict rides along in ``extra={"alert": ...}`` for structured handlers."""

    def __init__(
        self, logger: str | logging.Logger = "aimon.alerts", level: int = logging.WARNING
    ) -> None:
        self.name = "log"
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def send(self, alerts: Sequence[Alert]) -> None:
        """Log the alerts."""
        for alert in alerts:
            level = logging.INFO if alert.state == "resolved" else self.level
            self.logger.log(level, alert.summary_line(), extra={"alert": alert.to_json()})

    def __repr__(self) -> str:
        return f"LogSink({self.logger.name!r})"
