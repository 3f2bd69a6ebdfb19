"""aimon: watch machine-learning models in production.

>>> import aimon
>>> mon = aimon.Monitor("fraud", version="1.4.0", window="5m")
>>> @mon.watch
... def predict(features: dict) -> float:
...     return 0.07
>>> predict({"age": 41, "amount": 120.5, "country": "DE"})
0.07
>>> mon.snapshot().count
1
>>> mon.close()
"""

from __future__ import annotations

from typing import Any

from aimon import alerts, drift
from aimon._version import __version__
from aimon.drift import DriftReport, Reference, compare
from aimon.errors import AimonError, ConfigError, MalformedEventError
from aimon.events import Event, EventCodec, FieldMap
from aimon.exporters.http import MetricsServer, make_asgi_app, make_wsgi_app
from aimon.exporters.prometheus import AimonCollector
from aimon.monitors import Monitor
from aimon.registry import get_monitor, monitor
from aimon.request_ids import current_request_id
from aimon.settings import DriftSettings, Limits, QualitySettings
from aimon.snapshot import Snapshot
from aimon.thresholds import Rule, Thresholds

__all__ = [
    "AimonCollector",
    "AimonError",
    "ConfigError",
    "DriftReport",
    "DriftSettings",
    "Event",
    "EventCodec",
    "FieldMap",
    "Limits",
    "MalformedEventError",
    "MetricsServer",
    "Monitor",
    "QualitySettings",
    "Reference",
    "Rule",
    "Snapshot",
    "Thresholds",
    "__version__",
    "alerts",
    "compare",
    "current_request_id",
    "drift",
    "get_monitor",
    "make_asgi_app",
    "make_wsgi_app",
    "monitor",
    "serve",
]


def serve(host: str = "127.0.0.1", port: int = 9108, monitors: Any = None) -> MetricsServer:
    """Serve ``/metrics``, ``/healthz`` and ``/status`` for several monitors at once.

    With ``monitors=None`` every monitor alive in the process is served (read at each
    scrape, so monitors created later appear too).
    """
    from aimon.lifecycle import LIVE

    source = monitors if monitors is not None else (lambda: sorted(LIVE, key=repr))
    return MetricsServer(source, host=host, port=port)
