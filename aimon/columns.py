"""The one record layout of drained calls: records taken out of a buffer, and their columns.

A thread's buffer (:class:`aimon.recording.ThreadBuffer`) gives up its oldest records as a
:class:`Taken` (numpy views of its ``times`` and ``sizes`` arrays, slices of its lists); the
fold turns each into :class:`Columns` with :func:`columns_of`, the form every consumer of
drained calls reads (the window's aggregates, the profiler, live quality, the event log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from aimon.features import FeatureExtractor

__all__ = ["Columns", "Source", "Taken", "columns_of"]


@dataclass(slots=True)
class Taken:
    """Records taken out of one buffer (its columns, as ``ThreadBuffer`` holds them)."""

    ident: int
    times: NDArray[np.float64]
    results: list[Any]
    inputs: list[Any] | None
    ids: list[str | None] | None
    sizes: NDArray[np.float64] | None
    errors: dict[int, type[BaseException] | str]

    def __len__(self) -> int:
        return len(self.results)

    def rows(self, a: int, b: int) -> Taken:
        """Records ``a`` to ``b`` (numpy views, list slices)."""
        if a == 0 and b >= len(self.results):
            return self
        return Taken(
            self.ident,
            self.times[2 * a : 2 * b],
            self.results[a:b],
            None if self.inputs is None else self.inputs[a:b],
            None if self.ids is None else self.ids[a:b],
            None if self.sizes is None else self.sizes[2 * a : 2 * b],
            {row - a: e for row, e in self.errors.items() if a <= row < b},
        )


@dataclass(slots=True)
class Columns:
    """Drained records as columns: the fold's working form.

    ``ts`` is when each call started (epoch seconds), ``latency`` its duration (NaN when
    unknown), ``errors`` the name of what it raised (None: success), the sizes in bytes (NaN:
    unknown), ``results`` the model's outputs (None for a call that raised). A call is
    counted in the window when it ended (:meth:`end_ts`), as a Prometheus histogram observes
    it: a call longer than the window still lands in it.
    """

    ts: NDArray[np.float64]
    latency: NDArray[np.float64]
    errors: list[str | None]
    in_size: NDArray[np.float64]
    out_size: NDArray[np.float64]
    results: list[Any]
    inputs: list[Any] | None = None  # feature sources, one per call (None: no features)
    sizes_from_inputs: bool = False  # input sizes come from the inputs
    extractor: FeatureExtractor | None = None  # the user's, applied to each input first
    request_ids: list[str | None] | None = None  # None: no ids at all
    # rows whose id the fold made (nobody had asked for it): joined only when it can be known
    unasked: list[int] | None = None
    # for ids still to make: the perf_counter start of each row, and the rows' thread
    starts: NDArray[np.float64] | None = None
    thread: int | None = None
    ends: NDArray[np.float64] | None = None  # see end_ts

    def __len__(self) -> int:
        return int(self.ts.size)

    def end_ts(self) -> NDArray[np.float64]:
        """When each call ended (epoch seconds; its start when its latency is unknown)."""
        if self.ends is None:
            latency = self.latency
            self.ends = np.where(np.isfinite(latency), self.ts + latency, self.ts)
        return self.ends


class Source(Protocol):
    """What :func:`columns_of` reads of the channel the records came from
    (:class:`aimon.recording.Channel`)."""

    #: the channel of ``Monitor.observe``: a record holds start and latency (else start and
    #: end), and its sizes and ids are given
    observed: bool


def _error_name(error: type[BaseException] | str) -> str:
    return error if isinstance(error, str) else error.__name__


def columns_of(piece: Taken, channel: Source, offset: float) -> Columns:
    """Records taken from one buffer as columns (``offset``: epoch minus perf_counter)."""
    times = piece.times
    n = times.size // 2
    starts = times[0::2]
    ts = starts + offset
    # an observed call's record holds its latency, a watched call's its end (one float
    # fewer for the caller to compute)
    ends = None if channel.observed else times[1::2] + offset
    latency = times[1::2].copy() if channel.observed else times[1::2] - starts
    errors: list[str | None] = [None] * n
    for row, error in piece.errors.items():
        errors[row] = _error_name(error)
    ids = piece.ids
    if ids is not None and ids.count(None) == n:
        ids = None
    in_size = np.full(n, np.nan)
    out_size = np.full(n, np.nan)
    if piece.sizes is not None:
        in_size, out_size = piece.sizes[0::2].copy(), piece.sizes[1::2].copy()
    return Columns(
        ts, latency, errors, in_size, out_size, piece.results, piece.inputs,
        request_ids=ids, starts=None if channel.observed else starts,
        thread=None if channel.observed else piece.ident, ends=ends,
    )  # fmt: skip
