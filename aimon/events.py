"""The Event record and its JSON-line codec.

An :class:`Event` is the one record that flows through aimon: the decorator makes Events
from calls, the log tailer makes the same Events from JSON lines, and :class:`EventCodec`
reads and writes that line, so the embedded library can write the log the sidecar reads.

The line format (field names configurable with :class:`FieldMap`)::

    {"ts": "2026-11-24T10:00:00.123Z", "model": "fraud", "version": "1.4.0",
     "latency_ms": 12.5, "error": null, "input_size": 412, "output_size": 18,
     "features": {"age": 41, "amount": 120.5, "country": "DE"}, "prediction": 0.07,
     "request_id": "8f3c..."}

``request_id`` (optional) names the request, so that its outcome can be joined to it later.
``ts`` may be RFC 3339 (naive times are taken as UTC) or epoch seconds; unknown fields are
ignored; a line that cannot be read raises :class:`~aimon.errors.MalformedEventError` with a
short ``reason`` tag, which the tailer counts and skips.
"""

from __future__ import annotations

import itertools
import json
import math
import reprlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from aimon.errors import MalformedEventError
from aimon.text import valid_text

__all__ = ["Event", "EventCodec", "EventColumns", "FieldMap", "decode_event", "encode_event"]


@dataclass(frozen=True, slots=True)
class Event:
    """One prediction: when, which model, how long, how it ended, and what it saw.

    Args:
        ts: start of the call, epoch seconds (UTC).
        model: model name.
        version: model version, if known.
        latency_s: duration of the call in seconds, if known.
        error: the error type's name (``"ValueError"``) or ``None`` when the call succeeded.
        input_size: input payload size in bytes, if known.
        output_size: output payload size in bytes, if known.
        features: feature values by name (one row), if recorded.
        prediction: the model's output, if recorded.
        request_id: the request's id (a string), if known; outcomes are joined by it.

    >>> Event(ts=0.0, model="fraud", latency_s=0.01).outcome
    'ok'
    """

    ts: float
    model: str
    version: str | None = None
    latency_s: float | None = None
    error: str | None = None
    input_size: int | None = None
    output_size: int | None = None
    features: Mapping[str, Any] | None = None
    prediction: Any = None
    request_id: str | None = None

    @property
    def outcome(self) -> Literal["ok", "error"]:
        """``"error"`` when the call raised, else ``"ok"``."""
        return "ok" if self.error is None else "error"


@dataclass(slots=True)
class EventColumns:
    """Events of one model and version as columns: what :meth:`EventCodec.decode_many`
    gives and :meth:`aimon.Monitor.observe_many` takes. NaN marks an unknown number."""

    model: str
    version: str | None
    ts: NDArray[np.float64]
    latency_s: NDArray[np.float64]
    errors: list[str | None]
    input_size: NDArray[np.float64]
    output_size: NDArray[np.float64]
    features: list[dict[str, Any] | None]
    predictions: list[Any]
    request_ids: list[str | None]

    def __len__(self) -> int:
        return int(self.ts.size)

    def split_by_model(self, models: list[str], versions: list[str | None]) -> list[EventColumns]:
        """These columns cut by each row's model and version."""
        if len(set(models)) == 1 and len(set(versions)) == 1:
            self.model, self.version = models[0], versions[0]
            return [self]
        keys = list(zip(models, versions, strict=True))
        # in order of first appearance, so the model cap keeps the first models seen
        rows: dict[tuple[str, str | None], list[int]] = {key: [] for key in keys}
        for i, key in enumerate(keys):
            rows[key].append(i)
        return [self._take(model, version, taken) for (model, version), taken in rows.items()]

    def _take(self, model: str, version: str | None, rows: list[int]) -> EventColumns:
        return EventColumns(
            model, version, self.ts[rows], self.latency_s[rows], [self.errors[i] for i in rows],
            self.input_size[rows], self.output_size[rows], [self.features[i] for i in rows],
            [self.predictions[i] for i in rows], [self.request_ids[i] for i in rows],
        )  # fmt: skip


def _group_events(events: list[Event]) -> list[EventColumns]:
    """Single events (decoded one by one) as columns, one group per model and version."""
    if not events:
        return []

    def numbers(values: Iterable[float | None]) -> NDArray[np.float64]:
        return np.array(list(values), dtype=np.float64)  # None -> NaN

    columns = EventColumns(
        "", None, numbers(e.ts for e in events), numbers(e.latency_s for e in events),
        [e.error for e in events], numbers(e.input_size for e in events),
        numbers(e.output_size for e in events),
        [dict(e.features) if e.features is not None else None for e in events],
        [e.prediction for e in events], [e.request_id for e in events],
    )  # fmt: skip
    return columns.split_by_model([e.model for e in events], [e.version for e in events])


def _field(records: list[dict[str, Any]], path: str) -> list[Any]:
    """One field of every record; None where it is missing."""
    if "." not in path:
        return list(map(dict.get, records, itertools.repeat(path)))
    found = (_lookup(record, path) for record in records)
    return [None if value is _MISSING else value for value in found]


def _not_of(values: list[Any], kind: type) -> NDArray[np.bool_]:
    """Rows whose value is neither None nor exactly of ``kind``."""
    kinds = set(map(type, values))
    if kinds <= {kind, _NONE}:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter(
        (v is not None and type(v) is not kind for v in values), dtype=bool, count=len(values)
    )


def _sizes_or_durations(values: list[Any]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A column of numbers >= 0 (NaN where None), and the rows the careful path must read."""
    n = len(values)
    kinds = set(map(type, values))
    if kinds == {_NONE}:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    if kinds <= {float, int, _NONE}:
        try:
            column = np.array(values, dtype=np.float64)
        except OverflowError:
            pass
        else:
            with np.errstate(invalid="ignore"):
                odd = np.isinf(column) | (column < 0)
            missing = np.isnan(column)
            if int(missing.sum()) != values.count(None):  # a NaN in the line, not a null
                odd |= missing
            return column, odd
    column = np.full(n, np.nan)
    odd = np.ones(n, dtype=bool)
    for i, value in enumerate(values):
        if value is None:
            odd[i] = False
        elif type(value) in (float, int) and math.isfinite(value) and value >= 0:
            column[i], odd[i] = value, False
    return column, odd


def _timestamps(values: list[Any]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Epoch seconds from numbers or RFC 3339 text, and the rows the careful path must read
    (missing, out of range, or written in another form)."""
    kinds = set(map(type, values))
    if kinds <= {float, int}:
        try:
            ts = np.array(values, dtype=np.float64)
        except OverflowError:
            ts = np.array([_quick_ts(v) for v in values], dtype=np.float64)
    elif kinds == {str}:
        ts = np.array([_iso_ts(v) for v in values], dtype=np.float64)
    else:
        ts = np.array([_quick_ts(v) for v in values], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ts, ~(np.isfinite(ts) & (ts >= 0))


def _quick_ts(raw: Any) -> float:
    if type(raw) is float or type(raw) is int:
        return float(raw) if abs(raw) < 1e300 else math.nan
    return _iso_ts(raw) if type(raw) is str else math.nan


def _iso_ts(text: str) -> float:
    """RFC 3339 text as epoch seconds; NaN for anything else (epoch seconds written as text,
    a date without dashes...), which :func:`_parse_ts` then reads or rejects."""
    if "-" not in text:
        return math.nan
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return math.nan
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class FieldMap(BaseModel):
    """Where each Event field lives in a log line: a key, or a dotted path into nested objects.

    ``latency_unit`` says whether the latency field holds milliseconds (the default,
    ``latency_ms``) or seconds.

    >>> FieldMap(latency="duration_ms", features="request.features").features
    'request.features'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: str = "ts"
    model: str = "model"
    version: str = "version"
    latency: str = "latency_ms"
    latency_unit: Literal["ms", "s"] = "ms"
    error: str = "error"
    input_size: str = "input_size"
    output_size: str = "output_size"
    features: str = "features"
    prediction: str = "prediction"
    request_id: str = "request_id"
    default_model: str = Field(default="default", min_length=1)


_MISSING = object()
_NONE = type(None)


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


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


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


def _format_ts(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EventCodec:
    """Reads and writes prediction-log lines with one :class:`FieldMap`.

    >>> codec = EventCodec()
    >>> line = codec.encode(Event(ts=1.5, model="m", latency_s=0.0125))
    >>> line
    '{"ts":"1970-01-01T00:00:01.500Z","model":"m","latency_ms":12.5,"error":null}'
    >>> codec.decode(line).latency_s
    0.0125
    """

    def __init__(self, fields: FieldMap | None = None) -> None:
        self.fields = fields or FieldMap()

    def decode(self, line: str | bytes) -> Event:
        """Parse one line into an Event.

        Raises:
            MalformedEventError: the line is not a JSON object or a field has the wrong type;
                ``reason`` names the field (``json`` for unparseable text).
        """
        return self._from_record(_parse_json(line))

    def decode_many(self, lines: Iterable[bytes]) -> tuple[list[EventColumns], Counter[str]]:
        """Parse many lines at once into columns, one :class:`EventColumns` per model and
        version, and count the malformed lines by reason; blank lines are skipped.

        The result is what :meth:`decode` gives line by line (same values, same reasons),
        at a fraction of its cost: fields are read column by column and checked by numpy,
        and only lines off the common path (odd types, NaN, epoch strings...) are decoded
        one at a time. Order within a model's events is not kept.
        """
        malformed: Counter[str] = Counter()
        odd: list[Event] = []
        lines = list(lines)
        try:
            parsed = list(map(orjson.loads, lines))
        except orjson.JSONDecodeError:  # some line is not for orjson: go line by line
            parsed = []
            for line in lines:
                try:
                    parsed.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    if line.strip():  # NaN, Infinity or garbage: the careful path decides
                        self._decode_into(line, odd, malformed)
        if set(map(type, parsed)) <= {dict}:
            records: list[dict[str, Any]] = parsed
        else:
            records = [record for record in parsed if type(record) is dict]
            malformed["json"] += len(parsed) - len(records)
        groups, odd_records = self._columns(records)
        for record in odd_records:
            self._decode_into(record, odd, malformed)
        groups.extend(_group_events(odd))
        return groups, malformed

    def _decode_into(
        self, source: bytes | dict[str, Any], events: list[Event], malformed: Counter[str]
    ) -> None:
        try:
            record = source if isinstance(source, dict) else _parse_json(source)
            events.append(self._from_record(record))
        except MalformedEventError as exc:
            malformed[exc.reason] += 1

    def _columns(
        self, records: list[dict[str, Any]]
    ) -> tuple[list[EventColumns], list[dict[str, Any]]]:
        """The records on the common path as columns, and the others (to decode one by one)."""
        if not records:
            return [], []
        f = self.fields
        n = len(records)
        ts, odd = _timestamps(_field(records, f.ts))
        latency, odd_latency = _sizes_or_durations(_field(records, f.latency))
        if f.latency_unit == "ms":
            latency /= 1000.0
        input_size, odd_in = _sizes_or_durations(_field(records, f.input_size))
        output_size, odd_out = _sizes_or_durations(_field(records, f.output_size))
        odd |= odd_latency | odd_in | odd_out
        models = _field(records, f.model)
        versions = _field(records, f.version)
        errors = _field(records, f.error)
        features = _field(records, f.features)
        odd |= _not_of(models, str) | _not_of(versions, str) | _not_of(features, dict)
        odd |= _not_of(errors, str)
        request_ids = _field(records, f.request_id)
        odd |= _not_of(request_ids, str)
        if "" in errors:  # "" means no error: the careful path says so
            odd |= np.fromiter((e == "" for e in errors), dtype=bool, count=n)
        predictions = _field(records, f.prediction)
        default = f.default_model
        models = [m or default for m in models]
        odd_records: list[dict[str, Any]] = []
        if odd.any():
            odd_records = [records[i] for i in np.flatnonzero(odd).tolist()]
            keep = np.flatnonzero(~odd)
            rows = keep.tolist()
            ts, latency = ts[keep], latency[keep]
            input_size, output_size = input_size[keep], output_size[keep]
            models, versions = [models[i] for i in rows], [versions[i] for i in rows]
            errors, features = [errors[i] for i in rows], [features[i] for i in rows]
            predictions = [predictions[i] for i in rows]
            request_ids = [request_ids[i] for i in rows]
        columns = EventColumns(
            "", None, ts, latency, errors, np.floor(input_size), np.floor(output_size),
            features, predictions, request_ids,
        )  # fmt: skip
        return columns.split_by_model(models, versions), odd_records

    def _from_record(self, record: Any) -> Event:
        if not isinstance(record, dict):
            raise MalformedEventError("json", "a log line must be a JSON object")
        f = self.fields
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

    def encode(self, event: Event) -> str:
        """Render an Event as one JSON line (without the trailing newline).

        Fields that are ``None`` are left out, except ``error``, which is always written.
        Non-JSON values (numpy scalars, NaN) are written as numbers or ``null``.
        """
        f = self.fields
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


_DEFAULT_CODEC = EventCodec()


def decode_event(line: str | bytes) -> Event:
    """Parse one line of the default log format (see :class:`EventCodec`)."""
    return _DEFAULT_CODEC.decode(line)


def encode_event(event: Event) -> str:
    """Render an Event in the default log format (see :class:`EventCodec`)."""
    return _DEFAULT_CODEC.encode(event)
