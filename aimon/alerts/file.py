"""FileSink: alerts appended to a file as JSON lines."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from aimon.alerts.alert import Alert

__all__ = ["FileSink"]


class FileSink:
    """Append one JSON object per alert to ``path`` (created if missing), flushed to disk
    before ``send`` returns, so nothing sent is lost in a crash."""

    def __init__(self, path: str | os.PathLike[str], name: str = "file") -> None:
        self.name = name
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, alerts: Sequence[Alert]) -> None:
        """Append the alerts."""
        text = "".join(json.dumps(a.to_json(), sort_keys=True) + "\n" for a in alerts)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
