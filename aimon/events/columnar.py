"""Many log lines decoded at once: parsed by orjson, read field by field into columns and
checked by numpy; only lines off the common path (odd types, NaN, epoch strings...) go to the
careful path of :mod:`aimon.events.decoding`, one at a time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from aimon.errors import MalformedEventError
from aimon.events.decoding import _from_record, _parse_json
from aimon.events.event import Event, EventColumns, _group_events
from aimon.events.fields import FieldMap, _field

_NONE = type(None)


def _decode_many(
    lines: Iterable[bytes], fields: FieldMap
) -> tuple[list[EventColumns], Counter[str]]:
    """What :meth:`~aimon.events.EventCodec.decode_many` gives (see there)."""
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
                    _decode_into(line, fields, odd, malformed)
    if set(map(type, parsed)) <= {dict}:
        records: list[dict[str, Any]] = parsed
    else:
        records = [record for record in parsed if type(record) is dict]
        malformed["json"] += len(parsed) - len(records)
    groups, odd_records = _columns(records, fields)
    for record in odd_records:
        _decode_into(record, fields, odd, malformed)
    groups.extend(_group_events(odd))
    return groups, malformed


def _decode_into(
    source: bytes | dict[str, Any], fields: FieldMap, events: list[Event], malformed: Counter[str]
) -> None:
    """Decode one line or record the careful way: into ``events``, or counted by reason."""
    try:
        record = source if isinstance(source, dict) else _parse_json(source)
        events.append(_from_record(record, fields))
    except MalformedEventError as exc:
        malformed[exc.reason] += 1


def _columns(
    records: list[dict[str, Any]], fields: FieldMap
) -> tuple[list[EventColumns], list[dict[str, Any]]]:
    """The records on the common path as columns, and the others (to decode one by one)."""
    if not records:
        return [], []
    f = fields
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
