"""The Event record, and Events of one model as columns (:class:`EventColumns`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray


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
