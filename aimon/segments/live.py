"""Segments in the Monitor: the window, drift and data quality kept per segment value.

A segment column is a feature (``country``, ``plan``); each of its values is a segment with
a :class:`~aimon.segments.part.SegmentPart` of its own. The fold hands over, per chunk, the
calls with their segment values (read from each call's input, every call, before load
shedding samples the inputs) and the profiled feature rows (each row in the segment of its
own value: a batch input's rows may fall in several). They are folded into the segments in
bulk, :data:`FOLD_ROWS` at a time or when a snapshot is taken, so that the work per segment
value and feature is paid once per bulk rather than once per chunk.

Memory is bounded: per segment column at most ``max_values`` values of their own plus
``__other__`` (see :mod:`aimon.segments.cap`), and :data:`FOLD_ROWS` calls and rows waiting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aimon.drift.reference import Reference
from aimon.drift.segment_labels import (
    MISSING,
    MIXED,
    OTHER,
    column_labels,
    group_rows,
    value_label,
)
from aimon.features import FeatureBatch, FeatureExtractor, extract_many
from aimon.features.batch import concat_batches
from aimon.quality.stats import QualityStats
from aimon.recording import Columns
from aimon.segments.cap import ValueCap
from aimon.segments.part import SegmentPart
from aimon.snapshot import Snapshot

__all__ = ["FOLD_ROWS", "LiveSegments"]

#: Calls (and rows) waiting before they are folded into the segments.
FOLD_ROWS = 65536

MakePart = Callable[[Reference | None], SegmentPart]


@dataclass(slots=True)
class _Pairs:
    """Matched pairs waiting to be counted in their calls' segments."""

    when: NDArray[np.float64]
    ids: list[Any]
    actuals: list[Any]
    predicted: list[Any]
    make_stats: Callable[[], QualityStats]


@dataclass(slots=True)
class _Calls:
    ts: NDArray[np.float64]
    ends: NDArray[np.float64]
    latency: NDArray[np.float64]
    errors: list[str | None]
    in_size: NDArray[np.float64]
    out_size: NDArray[np.float64]
    keys: list[list[str]]  # per segment column, each call's value


class LiveSegments:
    """The segments of one monitor.

    Args:
        columns: the segment columns (feature names).
        max_values: values kept apart per column (the rest in ``__other__``).
        half_life_s: of the traffic that ranks the values (the rolling window).
        references: per column, the reference's profile of each of its values (and of
            ``__other__``); a segment is compared with its value's profile, else with the
            reference's ``__other__``; a column the reference has no profiles for has no
            drift or data quality per segment.
        make_part: makes a segment's state, given its reference.
        max_features: features read per input at most.
        max_ids: request ids remembered with their calls' segment values, for the outcomes
            still to come (the join's capacity of predictions waiting: ``max_pending_
            predictions``); the oldest are forgotten first.
    """

    def __init__(
        self,
        columns: Sequence[str],
        max_values: int,
        half_life_s: float,
        references: Mapping[str, Mapping[str, Reference]],
        make_part: MakePart,
        max_features: int,
        max_ids: int = 100_000,
    ) -> None:
        self.columns = tuple(columns)
        self.max_values = max_values
        self.half_life_s = half_life_s
        self.caps = {c: ValueCap(max_values, half_life_s) for c in self.columns}
        self.parts: dict[str, dict[str, SegmentPart]] = {c: {} for c in self.columns}
        self.references = references
        self.make_part = make_part
        self.max_features = max_features
        self._calls: list[_Calls] = []
        self._rows: list[tuple[int | None, FeatureBatch, float]] = []
        self._waiting = 0
        self.max_ids = max_ids
        self._keys_by_id: dict[str, tuple[str, ...]] = {}
        self._pairs: list[_Pairs] = []

    # -- taking --------------------------------------------------------------------------

    def keys(
        self, inputs: Sequence[Any] | None, n: int, extractor: FeatureExtractor | None = None
    ) -> list[list[str]]:
        """Each call's value of each segment column, read from its input (through the
        user's extractor when there is one): a dict's entry, else the feature of that name."""
        if inputs is None:
            return [[MISSING] * n for _ in self.columns]
        sources = list(inputs) if extractor is None else [_apply(extractor, x) for x in inputs]
        if all(type(x) is dict or x is None for x in sources):
            return [
                [MISSING if x is None else value_label(x.get(column)) for x in sources]
                for column in self.columns
            ]
        return self._read_keys(sources)

    def _read_keys(self, sources: list[Any]) -> list[list[str]]:
        out = [[MISSING] * len(sources) for _ in self.columns]
        present = [i for i, x in enumerate(sources) if x is not None]
        batch = extract_many([sources[i] for i in present], max_features=self.max_features)
        if batch.n_rows == len(present):  # one row per input: row i is call present[i]
            for keys, column in zip(out, self.columns, strict=True):
                for i, label in zip(
                    present, column_labels(batch.columns.get(column), batch.n_rows), strict=True
                ):
                    keys[i] = label
            return out
        for i in present:  # some input holds several rows (or none): read each alone
            one = extract_many([sources[i]], max_features=self.max_features)
            for keys, column in zip(out, self.columns, strict=True):
                labels = set(column_labels(one.columns.get(column), one.n_rows))
                keys[i] = labels.pop() if len(labels) == 1 else (MIXED if labels else MISSING)
        return out

    def add_calls(self, columns: Columns, keys: list[list[str]], now: float) -> None:
        """Take drained calls (their values per segment column: :meth:`keys`)."""
        if not len(columns):
            return
        self._calls.append(
            _Calls(
                columns.ts.copy(), columns.end_ts().copy(), columns.latency.copy(),
                list(columns.errors), columns.in_size.copy(), columns.out_size.copy(), keys,
            )
        )  # fmt: skip
        self._waited(len(columns), now)

    def add_rows(self, sid: int | None, batch: FeatureBatch, ts: float) -> None:
        """Take profiled feature rows of window slice ``sid`` (None: late) seen at ``ts``."""
        if batch.n_rows:
            self._rows.append((sid, batch, ts))
            self._waiting += batch.n_rows

    def remember(
        self, ids: Sequence[str | None], errors: Sequence[str | None], keys: list[list[str]]
    ) -> None:
        """Keep the segment values of the calls whose prediction waits for its outcome
        (request id not None, no error), until the outcome comes (:meth:`add_pairs`)."""
        held = self._keys_by_id
        by_call = list(zip(*keys, strict=True))
        for rid, error, call_keys in zip(ids, errors, by_call, strict=True):
            if rid is not None and error is None:
                held.pop(rid, None)  # an id seen again moves to the newest end
                held[rid] = call_keys
        for _ in range(len(held) - self.max_ids):
            del held[next(iter(held))]

    def add_pairs(
        self,
        when: NDArray[np.float64],
        ids: list[Any],
        actuals: list[Any],
        predicted: list[Any],
        make_stats: Callable[[], QualityStats],
        now: float,
    ) -> None:
        """Take matched pairs (their times, request ids, actuals, predictions) to count in
        the quality of their calls' segments (:meth:`remember`), folded with the calls."""
        self._pairs.append(_Pairs(when, ids, actuals, predicted, make_stats))
        self._waited(len(ids), now)

    def _waited(self, n: int, now: float) -> None:
        self._waiting += n
        if self._waiting >= FOLD_ROWS:
            self.fold(now)

    # -- folding -------------------------------------------------------------------------

    def fold(self, now: float) -> None:
        """Fold the waiting calls and rows into their segments."""
        calls, rows, pairs = self._calls, self._rows, self._pairs
        self._calls, self._rows, self._pairs, self._waiting = [], [], [], 0
        if calls:
            self._fold_calls(calls, now)
        if rows:
            self._fold_rows(rows, now)
        for batch in pairs:  # after the calls: their values have their places by now
            self._fold_pairs(batch, now)

    def _fold_pairs(self, pairs: _Pairs, now: float) -> None:
        held = self._keys_by_id
        found = [(i, held.pop(rid)) for i, rid in enumerate(pairs.ids) if rid in held]
        if not found:
            return
        rows = np.array([i for i, _ in found], dtype=np.intp)
        when = pairs.when[rows]
        actuals = [pairs.actuals[i] for i, _ in found]
        predicted = [pairs.predicted[i] for i, _ in found]
        for c, column in enumerate(self.columns):
            cap = self.caps[column]
            for label, picked in group_rows([cap.label(keys[c]) for _, keys in found]):
                part = self._part(column, label)
                chosen = picked.tolist()
                part.aggregates.window.add_pairs(
                    when[picked], [actuals[i] for i in chosen], [predicted[i] for i in chosen],
                    pairs.make_stats, now,
                )  # fmt: skip

    def _fold_calls(self, pending: list[_Calls], now: float) -> None:
        ts = np.concatenate([p.ts for p in pending])
        ends = np.concatenate([p.ends for p in pending])
        latency = np.concatenate([p.latency for p in pending])
        in_size = np.concatenate([p.in_size for p in pending])
        out_size = np.concatenate([p.out_size for p in pending])
        errors = [e for p in pending for e in p.errors]
        for c, column in enumerate(self.columns):
            raw = [key for p in pending for key in p.keys[c]]
            cap = self.caps[column]
            for evicted in cap.admit(Counter(raw), now):
                self.parts[column].pop(evicted, None)
            for label, rows in group_rows([cap.label(v) for v in raw]):
                every = rows.size == ts.size
                picked = errors if every else [errors[i] for i in rows.tolist()]
                sub = Columns(ts[rows], latency[rows], picked, in_size[rows], out_size[rows], [])
                sub.ends = ends[rows]
                self._part(column, label).aggregates.count(sub)

    def _fold_rows(self, pending: list[tuple[int | None, FeatureBatch, float]], now: float) -> None:
        by_slice: dict[int | None, list[tuple[FeatureBatch, float]]] = {}
        for sid, batch, ts in pending:
            by_slice.setdefault(sid, []).append((batch, ts))
        for sid, pieces in by_slice.items():
            batch = concat_batches([b for b, _ in pieces])
            ts = max(t for _, t in pieces)
            for column in self.columns:
                cap = self.caps[column]
                labels = column_labels(batch.columns.get(column), batch.n_rows)
                # Values only rows of batch inputs carry (their calls are __mixed__) take a
                # free place; the traffic of calls' values is counted once, by the calls.
                unheld = Counter(v for v in labels if v not in cap.held and v not in cap.waiting)
                if unheld:
                    for evicted in cap.admit(unheld, now):
                        self.parts[column].pop(evicted, None)
                for label, rows in group_rows([cap.label(v) for v in labels]):
                    part = self._part(column, label)
                    sub = batch.take(rows, without=column)
                    aggregates = part.aggregates
                    live = sid if sid is not None and aggregates.window.holds(sid, now) else None
                    aggregates.add_features(live, sub)
                    if part.drift is not None:
                        part.drift.add(sub, ts)

    def _part(self, column: str, label: str) -> SegmentPart:
        part = self.parts[column].get(label)
        if part is None:
            profiles = self.references.get(column, {})
            reference = profiles.get(label) or profiles.get(OTHER)
            part = self.parts[column][label] = self.make_part(reference)
        return part

    # -- reading -------------------------------------------------------------------------

    def snapshot(
        self, model: str, version: str | None, now: float
    ) -> dict[str, dict[str, Snapshot]]:
        """Every segment's Snapshot as of ``now``, by column and value (what waits folded
        first)."""
        self.fold(now)
        return {
            column: {
                label: part.snapshot(model, version, now) for label, part in sorted(parts.items())
            }
            for column, parts in self.parts.items()
        }

    def evicted(self) -> dict[str, int]:
        """Per column, values that lost their place to busier ones since start."""
        return {column: cap.evicted for column, cap in self.caps.items()}

    # -- checkpoints ---------------------------------------------------------------------

    def export_state(self, now: float) -> dict[str, Any]:
        """Every column's cap and every segment's aggregates and drift, for a checkpoint
        (what waits folded first, as of ``now``). The settings and references are not in it:
        they are the restoring monitor's own."""
        self.fold(now)
        return {
            "columns": self.columns,
            "keys_by_id": dict(self._keys_by_id),
            "caps": {column: cap.export_state() for column, cap in self.caps.items()},
            "parts": {
                column: {label: part.export_state() for label, part in parts.items()}
                for column, parts in self.parts.items()
            },
        }

    def restore_state(self, state: Mapping[str, Any] | None) -> None:
        """Continue from :meth:`export_state`'s segments, in place of these (None: start
        empty). Only the columns both the state and these segments have go on; the others
        start empty (or are forgotten). A segment whose value no longer has a place of its
        own (fewer values kept apart now) is forgotten. Each segment is compared with what
        the current reference holds for it (see :meth:`SegmentPart.restore_state`)."""
        self._calls, self._rows, self._pairs, self._waiting = [], [], [], 0
        self._keys_by_id = {}
        self.caps = {c: ValueCap(self.max_values, self.half_life_s) for c in self.columns}
        self.parts = {c: {} for c in self.columns}
        if state is None:
            return
        caps, parts = state["caps"], state["parts"]
        if tuple(state["columns"]) == self.columns:  # (older states have none)
            self._keys_by_id = dict(state.get("keys_by_id", {}))
        for column in self.columns:
            if column not in caps:
                continue
            cap = self.caps[column]
            cap.restore_state(caps[column])
            for label, saved in parts.get(column, {}).items():
                if cap.label(label) == label:  # held, or __other__
                    self._part(column, label).restore_state(saved)


def _apply(extractor: FeatureExtractor, source: Any) -> Any:
    if source is None:
        return None
    try:
        return extractor(source)
    except Exception:  # counted where the features are read (the profiler)
        return None
