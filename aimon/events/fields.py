"""Where each Event field lives in a log line (:class:`FieldMap`), and finding it there."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (a key, or a dotted path into nested objects); ``_MISSING`` if
    there is none."""
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _field(records: list[dict[str, Any]], path: str) -> list[Any]:
    """One field of every record; None where it is missing."""
    if "." not in path:
        return list(map(dict.get, records, itertools.repeat(path)))
    found = (_lookup(record, path) for record in records)
    return [None if value is _MISSING else value for value in found]
