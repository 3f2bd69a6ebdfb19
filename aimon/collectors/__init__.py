"""Where Events come from: the in-process decorator, the log tailer, the event-log writer."""

from aimon.collectors.decorator import wrap

__all__ = ["wrap"]
