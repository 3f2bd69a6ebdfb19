"""Alerts: the Alert model, the Sink protocol, the sinks, and the Router that delivers them.

>>> from aimon.alerts import LogSink, Router, Route, WebhookSink
"""

from aimon.alerts.alert import Alert, AlertState, fingerprint
from aimon.alerts.alertmanager import AlertmanagerSink
from aimon.alerts.base import DeliveryError, Sink
from aimon.alerts.callback import CallbackSink
from aimon.alerts.file import FileSink
from aimon.alerts.log import LogSink
from aimon.alerts.router import Route, Router
from aimon.alerts.slack import SlackSink
from aimon.alerts.webhook import WebhookSink

__all__ = [
    "Alert",
    "AlertState",
    "AlertmanagerSink",
    "CallbackSink",
    "DeliveryError",
    "FileSink",
    "LogSink",
    "Route",
    "Router",
    "Sink",
    "SlackSink",
    "WebhookSink",
    "fingerprint",
]
