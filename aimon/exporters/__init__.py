"""Exporters: Snapshots rendered for Prometheus and served over HTTP."""

from aimon.exporters.http import MetricsServer, make_asgi_app, make_wsgi_app
from aimon.exporters.prometheus import AimonCollector

__all__ = ["AimonCollector", "MetricsServer", "make_asgi_app", "make_wsgi_app"]
