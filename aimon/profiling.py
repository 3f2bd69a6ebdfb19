"""The feature profiler: drained inputs -> features and input sizes, slice by slice.

Inputs of one drain are profiled as batches (:func:`aimon.features.extract_many`), one per
slice they fall in; a user's extractor is applied to each input first, and its failures cost
that input only. Under load the background fold profiles a uniform sample (see
:mod:`aimon.recording`), and the profiler counts the inputs it skips.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from operator import is_
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from aimon.aggregates import Aggregates
from aimon.features import FeatureBatch, FeatureExtractor, extract_many, payload_size
from aimon.recording import OBSERVED, Capture, Columns, KeywordInput
from aimon.window import slice_groups

__all__ = ["FeatureProfiler", "FeatureSink", "RowSink"]


class FeatureSink(Protocol):
    """Who else counts the profiled rows (the live drift tracker)."""

    def add(self, batch: FeatureBatch, ts: float) -> None:
        """Count a batch of feature rows observed at ``ts``."""


class RowSink(Protocol):
    """Who also takes the profiled rows slice by slice (the live segments)."""

    def add_rows(self, sid: int | None, batch: FeatureBatch, ts: float) -> None:
        """Take a batch of feature rows of window slice ``sid`` (None: late) seen at ``ts``."""


class FeatureProfiler:
    """Profiles the inputs of drained calls into the aggregates (and the drift tracker).

    Args:
        max_features: features read per input at most.
        on_error: told of a user's extractor failing (the input then has no features).
    """

    def __init__(self, max_features: int, on_error: Callable[[BaseException], None]) -> None:
        self.max_features = max_features
        self._on_error = on_error
        self._rng = np.random.default_rng()
        #: Inputs (or results) that could not be read at all: their calls count, unprofiled.
        self.unreadable = 0

    def attach(self, columns: Columns, capture: Capture | None) -> None:
        """Give ``columns`` the feature sources of its calls' inputs (one per call, taken
        from the buffer with its record), or, for a capture of sizes only, measure the input
        sizes now. An input or result that cannot be read (a hostile class) costs its own
        call's sizes and features only: the others are read one by one then."""
        try:
            self._attach(columns, capture)
        except Exception as exc:
            self._on_error(exc)
            assert capture is not None and capture is not OBSERVED  # those raise nothing
            self._attach_alone(columns, capture)

    def _attach_alone(self, columns: Columns, capture: Capture) -> None:
        inputs: list[Any] = list(columns.inputs or ())
        for i, recorded in enumerate(inputs):
            row = slice(i, i + 1)  # the sizes are views: written in place
            one = Columns(
                columns.ts[row], columns.latency[row], columns.errors[row],
                columns.in_size[row], columns.out_size[row], columns.results[row], [recorded],
            )  # fmt: skip
            try:
                self._attach(one, capture)
            except Exception:
                one.results = [None]  # the result's size unknown, its input still read
                one.inputs = [recorded]
                try:
                    self._attach(one, capture)
                except Exception:
                    one.inputs = None
                    self.unreadable += 1
                columns.out_size[i] = np.nan
            inputs[i] = None if one.inputs is None else one.inputs[0]
        if capture.features:
            columns.inputs = inputs
            columns.sizes_from_inputs = capture.sizes
            columns.extractor = capture.extractor
        else:
            columns.inputs = None

    def _attach(self, columns: Columns, capture: Capture | None) -> None:
        inputs = columns.inputs
        if capture is None or inputs is None:
            columns.inputs = None
            return
        if capture is OBSERVED:  # features given as they are, sizes given
            if all(map(is_, inputs, repeat(None))):  # by identity: an array has no truth
                columns.inputs = None
            return
        if KeywordInput in set(map(type, inputs)):
            inputs = [capture.input_of(recorded) for recorded in inputs]
        if capture.sizes:
            if set(map(type, columns.results)) <= {float, type(None)}:  # the usual score
                columns.out_size[:] = 8.0
            else:
                columns.out_size[:] = [payload_size(result) for result in columns.results]
            if columns.errors.count(None) != len(columns.errors):
                failed = [i for i, e in enumerate(columns.errors) if e is not None]
                columns.out_size[failed] = np.nan
        if not capture.features:  # sizes only
            columns.in_size[:] = [np.nan if x is None else payload_size(x) for x in inputs]
            columns.inputs = None
            return
        columns.inputs = inputs
        columns.sizes_from_inputs = capture.sizes
        columns.extractor = capture.extractor

    def sample(self, columns: Columns, stride: int) -> int:
        """Keep each input with probability 1/stride (the others marked None); returns how
        many were left out."""
        inputs = columns.inputs
        if inputs is None or stride <= 1:
            return 0
        keep: list[bool] = (self._rng.random(len(inputs)) * stride < 1.0).tolist()
        columns.inputs = [x if k else None for x, k in zip(inputs, keep, strict=True)]
        return keep.count(False)

    def profile(
        self,
        columns: Columns,
        aggregates: Aggregates,
        drift: FeatureSink | None,
        now: float,
        rows: RowSink | None = None,
    ) -> int:
        """Count the features (and input sizes) of ``columns``' inputs, one batch per slice,
        into the aggregates, the drift tracker and ``rows``. Returns how many inputs were
        profiled."""
        if self.unreadable:
            aggregates.dropped["unreadable_input"] += self.unreadable
            self.unreadable = 0
        inputs = columns.inputs
        if inputs is None:
            return 0
        profiled = 0
        ends = columns.end_ts()
        sids, live, late, _ = aggregates.window.place(ends, now)
        groups: list[tuple[int | None, NDArray[np.bool_] | None]] = [*slice_groups(sids, live)]
        if late.any():
            groups.append((None, late))
        for sid, mask in groups:
            if mask is None:
                sources, when = inputs, ends
            else:
                sources = [inputs[i] for i in np.flatnonzero(mask).tolist()]
                when = ends[mask]
            if any(map(is_, sources, repeat(None))):  # sampled out, or no features
                sources = [source for source in sources if source is not None]
            if not sources:
                continue
            profiled += len(sources)
            try:
                batch, input_sizes = self._extract(sources, columns)
            except Exception as exc:  # one hostile input: the others are read without it
                self._on_error(exc)
                readable = [x for x in sources if self._readable(x, columns)]
                self.unreadable += len(sources) - len(readable)
                batch, input_sizes = self._extract(readable, columns)
            if input_sizes is not None:
                aggregates.add_input_sizes(sid, input_sizes)
            if batch.n_rows:
                aggregates.add_features(sid, batch)
                if drift is not None:
                    drift.add(batch, float(when.max()))
                if rows is not None:
                    rows.add_rows(sid, batch, float(when.max()))
        return profiled

    def _extract(
        self, sources: list[Any], columns: Columns
    ) -> tuple[FeatureBatch, NDArray[np.float64] | None]:
        sizes = columns.sizes_from_inputs
        extractor = columns.extractor
        if extractor is None:
            batch = extract_many(sources, max_features=self.max_features, sizes=sizes)
            return batch, batch.input_sizes
        # sizes are the raw inputs', features what the user's extractor returns
        input_sizes = None
        if sizes:
            input_sizes = np.array([payload_size(x) for x in sources], dtype=np.float64)
        rows = [self._apply(extractor, x) for x in sources]
        rows = [row for row in rows if row is not None]
        return extract_many(rows, max_features=self.max_features), input_sizes

    def _readable(self, source: Any, columns: Columns) -> bool:
        try:
            self._extract([source], columns)
        except Exception:
            return False
        return True

    def _apply(self, extractor: FeatureExtractor, source: Any) -> Any:
        try:
            return extractor(source)
        except Exception as exc:  # a user's extractor failing loses no event
            self._on_error(exc)
            return None
