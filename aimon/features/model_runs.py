"""Runs of pydantic models and dataclasses, read field by field."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

import numpy as np
import pydantic

from aimon.features.alone import _one_by_one
from aimon.features.columns import _Block, _flat_block, _flat_values
from aimon.features.dicts import _dict_rows, _uniform_rows
from aimon.features.runs import _spans
from aimon.features.sizes import _reshaped_by_dump


def _read_models(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Pydantic models: a run of one class is read field by field from the instances, when
    ``model_dump()`` gives those fields as they are stored; otherwise from the dumps."""
    for start, end, kind in _spans(list(map(type, run))):
        models = run[start:end]
        names = _plain_fields(kind, models[0])
        if names is None:  # computed fields, serializers, extras...: what model_dump() gives
            dumps = [model.model_dump() for model in models]
            if not all(type(dump) is dict for dump in dumps):
                yield from _one_by_one(models, max_features, sized)
                continue
            yield _dict_rows(dumps, max_features, sized=sized, depth=2, originals=models)
            continue
        stored = list(map(_STORED, models))  # each model's fields as stored: vars(model)
        block = _uniform_rows(
            stored, max_features, sized=sized, depth=2, originals=models, keys=names, dumped=False
        )  # as payload_size measures model_dump(): a dict, 2 deep
        if block is None:  # a model without one of its fields in its __dict__
            yield from _one_by_one(models, max_features, sized)
            continue
        yield block


#: ``vars`` of a model, at half its cost (a builtin call's overhead is most of it).
_STORED = attrgetter("__dict__")


def _plain_fields(kind: type[pydantic.BaseModel], first: pydantic.BaseModel) -> list[str] | None:
    """The field names of a model class whose ``model_dump()`` is its fields as stored in each
    instance's ``__dict__`` (no serializers, computed or excluded fields, extras), else None.
    The class is inspected once; each run also checks its first model's dump."""
    try:
        names = _PLAIN_FIELDS[kind]
    except KeyError:
        names = _PLAIN_FIELDS[kind] = _plain_class_fields(kind)
    if names is None:
        return None
    dumped, stored = first.model_dump(), vars(first)
    if list(dumped) != names or any(
        dumped[name] is not stored[name] and not _reshaped_by_dump(stored[name]) for name in names
    ):
        return None
    return names


_PLAIN_FIELDS: weakref.WeakKeyDictionary[type, list[str] | None] = weakref.WeakKeyDictionary()


def _plain_class_fields(kind: type[pydantic.BaseModel]) -> list[str] | None:
    config = kind.model_config
    decorators = kind.__pydantic_decorators__
    fields = kind.model_fields
    if (
        issubclass(kind, pydantic.RootModel)
        or kind.model_dump is not pydantic.BaseModel.model_dump
        or kind.model_computed_fields
        or config.get("extra") == "allow"
        or config.get("serialize_by_alias")
        or decorators.field_serializers
        or decorators.model_serializers
        or any(f.exclude or getattr(f, "exclude_if", None) for f in fields.values())
        or _has_serializer(kind.__pydantic_core_schema__)
    ):
        return None
    return list(fields)


def _has_serializer(schema: Any) -> bool:
    """Whether a pydantic core schema serializes anything its own way in Python mode."""
    if isinstance(schema, dict):
        found = schema.get("serialization")
        if isinstance(found, dict) and found.get("when_used") not in ("json", "json-unless-none"):
            return True
        return any(_has_serializer(value) for value in schema.values())
    if isinstance(schema, list | tuple):
        return any(_has_serializer(value) for value in schema)
    return False


def _read_dataclasses(run: list[Any], max_features: int, sized: bool) -> Iterator[_Block]:
    """Dataclasses: a run of one class is read field by field (payload_size says 0 for them)."""
    for start, end, kind in _spans(list(map(type, run))):
        objs = run[start:end]
        names = [field.name for field in dataclasses.fields(kind)]
        block = _Block(end - start, np.zeros(end - start) if sized else None)
        values = _flat_values(objs, attrgetter(*names), len(names)) if names else []
        _flat_block(block, names, values, max_features, sized=False)
        yield block


def _plain_dataclass(kind: type) -> bool:
    """Whether instances of ``kind`` are read as a dataclass by :func:`_block_of`, whatever the
    instance, with a payload size of 0."""
    return (
        dataclasses.is_dataclass(kind)
        and getattr(kind, "model_dump", None) is None
        and getattr(kind, "__getattr__", None) is None
        and kind.__getattribute__ is object.__getattribute__
        and not issubclass(kind, str | bytes | bytearray | memoryview | int | float | np.generic)
        and all(field.name != "model_dump" for field in dataclasses.fields(kind))
    )
