"""Where Events come from: the in-process decorator (and, later, the log tailer)."""

from aimon.collectors.decorator import monitor, wrap

__all__ = ["monitor", "wrap"]
