"""One log line read with care: JSON parsed (orjson, then the stdlib for what orjson refuses),
each field checked, and a line that cannot be read rejected with a short ``reason`` tag
(``json``, ``unicode``, ``ts``, ``latency``, ``features``...), which the tailer counts."""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

from aimon.errors import MalformedEventError
from aimon.events.event import Event
from aimon.events.fields import _MISSING, FieldMap, _lookup
from aimon.text import valid_text


def _parse_json(line: str | bytes) -> Any:
    """orjson (about four times the stdlib's speed) and, for what it refuses but the stdlib
    reads (NaN, Infinity), the stdlib.

    Raises:
        MalformedEventError: ``json`` for text that is not JSON, not UTF-8, or nested deeper
            than orjson's limit (1,024 levels: the stdlib would recurse until Python's limit);
            ``unicode`` for a string holding a lone surrogate (``"\\ud800"``), which no
            label or log line can carry (orjson refuses it too).
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:
        # decoded here: given bytes, the stdlib would guess UTF-16 or UTF-32 from NUL bytes
        record = json.loads(line.decode("utf-8-sig") if isinstance(line, bytes) else line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEventError("json", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedEventError("json", "nested too deeply") from None
    if _holds_lone_surrogate(record):
        raise MalformedEventError("unicode", "a string holds a lone surrogate (\\ud800-\\udfff)")
    return record


def _holds_lone_surrogate(record: Any) -> bool:
    """A key or string anywhere in ``record`` that does not encode to UTF-8 (iterative: the
    record may be nested as deep as the parser allowed)."""
    stack = [record]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if valid_text(node) != node:
                return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _parse_ts(raw: Any) -> float:
    if isinstance(raw, bool):
        raise MalformedEventError(
            "ts", f"timestamp must be RFC 3339 or epoch seconds, got {_shown(raw)}"
        )
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            try:
                # fromisoformat only accepts a trailing "Z" from Python 3.11 on.
                text = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise MalformedEventError("ts", f"unreadable timestamp {_shown(raw)}") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            value = parsed.timestamp()
    else:
        raise MalformedEventError(
            "ts", f"timestamp must be RFC 3339 or epoch seconds, got {_shown(raw)}"
        )
    if not math.isfinite(value) or value < 0:
        raise MalformedEventError("ts", f"timestamp out of range: {_shown(raw)}")
    return value


def _shown(raw: Any) -> str:
    """A field's value for an error message: bounded in length and depth (a plain ``repr``
    of a value nested a thousand levels deep raises RecursionError)."""
    return reprlib.repr(raw)


def _optional_number(raw: Any, field: str) -> float | None:
    if raw is None or raw is _MISSING:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise MalformedEventError(field, f"{field} must be a number, got {_shown(raw)}")
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise MalformedEventError(field, f"{field} must be a finite number >= 0, got {_shown(raw)}")
    return value


def _optional_text(raw: Any, field: str) -> str | None:
    if raw is None or raw is _MISSING:
        return None
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        return str(raw)
    raise MalformedEventError(field, f"{field} must be a string, got {_shown(raw)}")


def _error_type(raw: Any) -> str | None:
    if raw is None or raw is _MISSING or raw is False or raw == "":
        return None
    if raw is True:
        return "Error"
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping):
        kind = raw.get("type")
        # str() of a nested value could recurse past Python's limit: only scalars name a type
        return str(kind) if kind and isinstance(kind, str | int | float) else "Error"
    raise MalformedEventError(
        "error", f"error must be null, a string or a boolean, got {_shown(raw)}"
    )


def _from_record(record: Any, fields: FieldMap) -> Event:
    """The Event of one parsed line.

    Raises:
        MalformedEventError: the record is not a JSON object or a field has the wrong type;
            ``reason`` names the field.
    """
    if not isinstance(record, dict):
        raise MalformedEventError("json", "a log line must be a JSON object")
    f = fields
    raw_ts = _lookup(record, f.ts)
    if raw_ts is _MISSING or raw_ts is None:
        raise MalformedEventError("ts", f"missing timestamp field {f.ts!r}")
    latency = _optional_number(_lookup(record, f.latency), "latency")
    if latency is not None and f.latency_unit == "ms":
        latency /= 1000.0
    features = _lookup(record, f.features)
    if features is _MISSING or features is None:
        features = None
    elif not isinstance(features, dict):
        raise MalformedEventError("features", "features must be a JSON object")
    prediction = _lookup(record, f.prediction)
    input_size = _optional_number(_lookup(record, f.input_size), "input_size")
    output_size = _optional_number(_lookup(record, f.output_size), "output_size")
    return Event(
        ts=_parse_ts(raw_ts),
        model=_optional_text(_lookup(record, f.model), "model") or f.default_model,
        version=_optional_text(_lookup(record, f.version), "version"),
        latency_s=latency,
        error=_error_type(_lookup(record, f.error)),
        input_size=None if input_size is None else int(input_size),
        output_size=None if output_size is None else int(output_size),
        features=features,
        prediction=None if prediction is _MISSING else prediction,
        request_id=_optional_text(_lookup(record, f.request_id), "request_id"),
    )
