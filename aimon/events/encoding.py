"""An Event written as one JSON log line."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from aimon.events.decoding import _holds_lone_surrogate
from aimon.events.event import Event
from aimon.events.fields import FieldMap
from aimon.text import valid_text


def _encode(event: Event, fields: FieldMap) -> str:
    """What :meth:`~aimon.events.EventCodec.encode` gives (see there)."""
    f = fields
    record: dict[str, Any] = {f.ts: _format_ts(event.ts), f.model: event.model}
    if event.version is not None:
        record[f.version] = event.version
    if event.latency_s is not None:
        scale = 1000.0 if f.latency_unit == "ms" else 1.0
        record[f.latency] = round(event.latency_s * scale, 6)
    record[f.error] = event.error
    if event.input_size is not None:
        record[f.input_size] = event.input_size
    if event.output_size is not None:
        record[f.output_size] = event.output_size
    if event.features is not None:
        record[f.features] = {str(k): _json_value(v) for k, v in event.features.items()}
    if event.prediction is not None:
        record[f.prediction] = _json_value(event.prediction)
    if event.request_id is not None:
        record[f.request_id] = event.request_id
    nested = _nest(record)
    line = json.dumps(nested, separators=(",", ":"), allow_nan=False, default=str)
    if "\\ud" in line and _holds_lone_surrogate(nested):
        # the reader counts such a line malformed: write U+FFFD rather than lose the event
        line = json.dumps(
            _valid_strings(nested), separators=(",", ":"), allow_nan=False, default=str
        )
    return line


def _format_ts(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _json_value(item())
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def _valid_strings(value: Any) -> Any:
    """``value`` (as :func:`_json_value` made it) with every key and string made
    :func:`~aimon.text.valid_text`."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [_valid_strings(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): _valid_strings(v) for k, v in value.items()}
    return value


def _nest(record: dict[str, Any]) -> dict[str, Any]:
    """Turn dotted keys ("request.features") into nested objects, as FieldMap paths read them."""
    if not any("." in key for key in record):
        return record
    nested: dict[str, Any] = {}
    for key, value in record.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested
