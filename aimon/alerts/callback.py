"""CallbackSink: hand the alerts to a function of yours."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aimon.alerts.alert import Alert

__all__ = ["CallbackSink"]


class CallbackSink:
    """Call ``fn(alerts)`` on the router's thread; an exception counts as a failed delivery
    and is retried."""

    def __init__(self, fn: Callable[[list[Alert]], object], name: str = "callback") -> None:
        self.name = name
        self.fn = fn

    def send(self, alerts: Sequence[Alert]) -> None:
        """Call the function."""
        self.fn(list(alerts))
