"""The rules for one value: what is a number, a label, missing or invalid."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

_NUMERIC_TYPES: frozenset[type] = frozenset(
    {int, float, bool, np.bool_, np.float64, np.float32, np.float16, np.int64, np.int32,
     np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8}
)  # fmt: skip
_NONE_TYPE = type(None)
_MISSING_MARKERS = (pd.NaT, pd.NA)


_NUMBER_OR_NONE = _NUMERIC_TYPES | {_NONE_TYPE}
_SCALAR_TYPES = _NUMBER_OR_NONE | {str}


def _classify(value: Any) -> tuple[float, str | None, bool]:
    """(number, label, invalid) for one value, by the module's rules; never raises."""
    kind = type(value)
    if kind is float:
        return (value if math.isfinite(value) else math.nan), None, False
    if kind is str:
        return math.nan, value, False
    if value is None:
        return math.nan, None, False
    if kind is bool or kind is np.bool_:
        return (1.0 if value else 0.0), None, False
    if isinstance(value, int | float | np.integer | np.floating):  # also subclasses, huge ints
        try:
            number = float(value)
        except (OverflowError, ValueError, TypeError):
            return math.nan, None, False
        return (number if math.isfinite(number) else math.nan), None, False
    if isinstance(value, bytes | bytearray):
        return math.nan, bytes(value).decode("utf-8", errors="replace"), False
    if isinstance(value, str):  # str subclasses (enums)
        return math.nan, str.__str__(value), False
    try:
        if any(value is marker for marker in _MISSING_MARKERS):
            return math.nan, None, False
    except Exception:  # a hostile __eq__ or __bool__
        return math.nan, None, True
    if isinstance(value, np.datetime64 | np.timedelta64) or hasattr(value, "isoformat"):
        return math.nan, None, False  # dates and times: not tracked yet
    return math.nan, None, True


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
