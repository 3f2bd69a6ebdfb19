"""Durations written the way operators write them: ``"10s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from aimon.errors import ConfigError

__all__ = ["Duration", "parse_duration"]

Duration = str | float | int | timedelta

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: Duration, field: str = "duration") -> float:
    """Seconds in a duration given as a number of seconds, a timedelta or a Prometheus-style string.

    Raises:
        ConfigError: the value is not a positive duration; the message names ``field``.

    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration("250ms")
    0.25
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            try:
                seconds = float(text)
            except ValueError:
                raise ConfigError(
                    f"{field}: cannot read {value!r} as a duration; "
                    "write e.g. '10s', '5m', '1h30m' or a number of seconds"
                ) from None
        else:
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ConfigError(f"{field}: expected a duration, got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{field}: a duration must be positive, got {value!r}")
    return seconds
