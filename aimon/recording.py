"""The recording layer: the buffers the hot path appends to, and their drain into columns.

One record layout for every source. A watched function (or ``Monitor.observe``) has a
:class:`Channel`; a channel has one :class:`ThreadBuffer` per thread that records into it,
so a thread appends without a lock and without racing another thread's appends. A buffer is
columnar: ``times`` is an ``array('d')`` of ``start, end`` pairs (``perf_counter`` seconds),
beside it the calls' results, and, when they are captured, their inputs (a separate list: a
tuple holding a dict is never untracked by the garbage collector, so inputs never sit inside
records). What is rare is sparse: the rows that raised (``errors``: row -> exception class),
and only observed calls carry sizes and given ids. The fold drains a buffer into columns
(:mod:`aimon.columns`) with ``np.frombuffer`` and slicing, never by transposing Python tuples.

The owner thread appends in a fixed order, ``times`` last, so a drain that reads
``len(times) // 2`` first takes whole records only; a row that raised is written under the
buffer's lock, which the drain also holds, so error rows and their positions agree.

Load shedding: profiling inputs costs the fold far more per call than the call costs the
caller. A call that finds its buffer past the high-water mark wakes the fold thread and, when
no fold is running, folds a chunk of its own buffer itself (about a millisecond of work, at
least 512 calls: :meth:`Channel.chunk_rows`), so a single-threaded tight loop never fills its
buffer. The background fold sheds input profiling to a uniform sample when draining
everything would take more than half the time between drains (:meth:`Channel.plan_stride`);
the calls themselves (count, latency, outcome, output size) are never sampled. A buffer full
while a fold runs is handed to that fold (:meth:`FoldHooks.hand_over`, bounded); beyond, the
call waits for the fold's chunk, briefly when other threads record into the channel (a
server: then it is dropped and counted), longer when its thread records alone (a loop), and
as long as it takes with ``on_full="fold"`` (:meth:`Recorder.crowded`).

This module imports nothing from the Monitor: the fold hands the recorder its hooks.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

# Columns and columns_of are also named here for the modules that still import them from
# recording (they moved to aimon.columns in issue 13).
from aimon.columns import Columns, Taken, columns_of
from aimon.features import FeatureExtractor, payload_size

__all__ = [
    "OBSERVED",
    "Capture",
    "Channel",
    "Columns",
    "FoldHooks",
    "KeywordInput",
    "Recorder",
    "ThreadBuffer",
    "columns_of",
]

log = logging.getLogger("aimon")


class Capture:
    """How a fold reads features and payload sizes out of a recorded call.

    Args:
        features: ``True`` to read features from the call's input, ``False`` for none, or a
            callable that receives the input and returns anything
            :func:`aimon.features.extract` accepts.
        sizes: whether to estimate input and output payload sizes.
        skip_first: the first positional argument is ``self``/``cls`` (a method).
    """

    __slots__ = ("extractor", "features", "sizes", "skip_first")

    def __init__(
        self, features: bool | FeatureExtractor = True, sizes: bool = True, skip_first: bool = False
    ) -> None:
        self.features = features is not False
        self.extractor: FeatureExtractor | None = features if callable(features) else None
        self.sizes = sizes
        self.skip_first = skip_first

    @property
    def inputs(self) -> bool:
        """Whether the call's input is kept for the fold."""
        return self.features or self.sizes

    def input_of(self, recorded: Any) -> Any:
        """The predict input of a call: its first real positional argument, else its only
        keyword argument, else all keyword arguments as one row."""
        if not isinstance(recorded, KeywordInput):
            return recorded
        kwargs = recorded.kwargs
        if len(kwargs) == 1:
            return next(iter(kwargs.values()))
        return dict(kwargs) if kwargs else None


class KeywordInput:
    """Marks a call made with keyword arguments only (its input is read from them)."""

    __slots__ = ("kwargs",)

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


#: The capture of Monitor.observe(): the features are given, sizes too.
OBSERVED = Capture()


class ThreadBuffer:
    """One thread's records in one channel (see the module's notes for the layout)."""

    __slots__ = ("errors", "high_water", "ident", "ids", "inputs", "lock", "mark", "results",
                 "sizes", "times")  # fmt: skip

    def __init__(
        self, ident: int, inputs: bool, ids: bool, sizes: bool = False, high_water: int = 1 << 15
    ) -> None:
        self.ident = ident
        self.high_water = 2 * high_water  # in floats, two per call
        #: ``len(times)`` from which a call asks the recorder for room (see Recorder.crowded);
        #: low at first, so the first calls' size is probed before many are held
        self.mark = 2 * min(high_water, PROBE_RECORDS)
        self.times = array("d")  # start, end of each call
        self.results: list[Any] = []
        self.inputs: list[Any] | None = [] if inputs else None
        self.ids: list[str | None] | None = [] if ids else None  # given request ids
        self.sizes: array[float] | None = array("d") if sizes else None  # input, output
        self.errors: dict[int, type[BaseException] | str] = {}  # row -> what it raised
        # rows that raised, and the drain (re-entrant: a hand-over moves records to the
        # fold's pending queue with it held, see Fold._pend)
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.times) // 2

    def append_failure(
        self, start: float, end: float, error: type[BaseException] | str, data: Any, rid: Any
    ) -> None:
        """Append a call that raised (``data``: its input when inputs are kept)."""
        with self.lock:
            self.errors[len(self.times) // 2] = error
            self.results.append(None)
            if self.inputs is not None:
                self.inputs.append(data)
            if self.ids is not None:
                self.ids.append(rid)
            self.times.append(start)
            self.times.append(end)

    def append_observed(
        self,
        start: float,
        latency: float,
        error: type[BaseException] | str | None,
        features: Any,
        sizes: tuple[float, float],
        prediction: Any,
        rid: str | None,
    ) -> None:
        """Append a call recorded by ``Monitor.observe`` (``times`` holds start, latency)."""
        with self.lock:
            if error is not None:
                self.errors[len(self.times) // 2] = error
            self.results.append(prediction)
            self.inputs.append(features)  # type: ignore[union-attr]
            self.ids.append(rid)  # type: ignore[union-attr]
            self.sizes.extend(sizes)  # type: ignore[union-attr]
            self.times.append(start)
            self.times.append(latency)

    def take(self, limit: int | None = None) -> Taken | None:
        """Remove and return the oldest whole records (at most ``limit``)."""
        with self.lock:
            n = len(self.times) // 2
            if limit is not None:
                n = min(n, limit)
            if n == 0:
                return None
            self.mark = min(self.high_water, 2 * PROBE_RECORDS)
            times = np.frombuffer(self.times[: 2 * n], dtype=np.float64)
            del self.times[: 2 * n]
            results = self.results[:n]
            del self.results[:n]
            inputs = ids = None
            if self.inputs is not None:
                inputs = self.inputs[:n]
                del self.inputs[:n]
            if self.ids is not None:
                ids = self.ids[:n]
                del self.ids[:n]
            sizes = None
            if self.sizes is not None:
                sizes = np.frombuffer(self.sizes[: 2 * n], dtype=np.float64)
                del self.sizes[: 2 * n]
            errors: dict[int, type[BaseException] | str] = {}
            if self.errors:
                rest = {}
                for row, error in self.errors.items():
                    if row < n:
                        errors[row] = error
                    else:
                        rest[row - n] = error
                self.errors = rest
        return Taken(self.ident, times, results, inputs, ids, sizes, errors)


class Channel:
    """The buffers of one watched function (or of ``observe``), one per recording thread.

    Args:
        capture: what the fold reads from inputs (None: inputs are not kept).
        given_ids: calls may carry a request id given by the user.
        observed: the channel of ``Monitor.observe`` (sizes given, ids only given).
    """

    def __init__(
        self,
        capture: Capture | None,
        given_ids: bool,
        observed: bool = False,
        high_water: int = 1 << 15,
    ) -> None:
        self.capture = capture
        self.high_water = high_water
        self.keeps_inputs = capture is not None and capture.inputs
        self.given_ids = given_ids
        self.observed = observed
        self.buffers: dict[int, ThreadBuffer] = {}
        self._retired: list[ThreadBuffer] = []
        self.last_drain = time.perf_counter()
        self.record_cost = 0.0  # fold seconds per record, smoothed
        self.input_cost = 0.0  # fold seconds per profiled input, smoothed
        self.record_bytes = 0.0  # bytes a buffered record holds (its input and result), probed
        #: async calls in flight: their holder's id -> start (sync ones are on the stacks)
        self.running: dict[int, float] = {}

    def new_buffer(self, ident: int) -> ThreadBuffer:
        """The buffer of thread ``ident``, made on its first call."""
        buffer = self.buffers.get(ident)
        if buffer is None:
            buffer = ThreadBuffer(
                ident, self.keeps_inputs, self.given_ids, self.observed, self.high_water
            )
            self.buffers[ident] = buffer
        return buffer

    def buffered(self) -> int:
        """Records waiting for the fold."""
        return sum(len(b) for b in list(self.buffers.values()))

    def drainable(self) -> list[ThreadBuffer]:
        """The buffers to drain now; buffers of threads that ended are let go (drained once
        more next time: a call between its lookup and its append may still land there)."""
        buffers = self._retired
        self._retired = []
        alive: set[int] | None = None
        for ident, buffer in list(self.buffers.items()):
            buffers.append(buffer)
            if len(buffer) == 0:
                if alive is None:
                    alive = {t.ident for t in threading.enumerate() if t.ident is not None}
                if ident not in alive:
                    del self.buffers[ident]
                    self._retired.append(buffer)
        return buffers

    def reset_after_fork(self) -> None:
        """Forget the parent's records (the wrappers keep this channel's dict)."""
        self.buffers.clear()
        self._retired = []

    def room(self, buffer: ThreadBuffer, held_bytes: int) -> int:
        """Records ``buffer`` may hold within its share of ``held_bytes``, by the size of a
        sample of its newest records (their inputs and results, as :func:`payload_size`
        estimates them); a held reference keeps the whole object alive."""
        with buffer.lock:  # a fold may take the records meanwhile: read the sample at once
            n = len(buffer)
            rows = range(n // 2, n, max(1, (n - n // 2) // _PROBE_SAMPLE))[:_PROBE_SAMPLE]
            held = [buffer.results[i] for i in rows]
            if buffer.inputs is not None:
                held += [buffer.inputs[i] for i in rows]
        if held:
            sample = [payload_size(x) for x in held]
            self.record_bytes = max(_RECORD_OVERHEAD, sum(sample) / len(rows))
        share = held_bytes / max(1, len(self.buffers))
        return max(1, int(share / max(self.record_bytes, _RECORD_OVERHEAD)))

    # -- load shedding ---------------------------------------------------------------------

    def plan_stride(self, backlog: int, now: float) -> int:
        """Profile one input in how many, for a drain of ``backlog`` records at ``now``."""
        interval = max(now - self.last_drain, 1e-6)
        self.last_drain = now
        if backlog < _SMALL_DRAIN or self.input_cost == 0.0:
            return 1
        spare = _FOLD_SHARE * interval - backlog * self.record_cost
        if spare <= 0.0:
            return _MAX_STRIDE
        return max(1, min(_MAX_STRIDE, math.ceil(backlog * self.input_cost / spare)))

    def learn(self, records: int, record_s: float, inputs: int, input_s: float) -> None:
        """Update the cost estimates from one drain's timings."""
        if records >= _SMALL_DRAIN:
            self.record_cost = _smooth(self.record_cost, record_s / records)
        if inputs >= _SMALL_DRAIN:
            self.input_cost = _smooth(self.input_cost, input_s / inputs)

    def chunk_rows(self, limit: int, background: bool = False) -> int:
        """Records folded at once (by a caller past the high-water mark, or by the
        background fold under its lock): about :data:`ASSIST_BUDGET_S` of fold work by what
        folds have cost so far, but never fewer than a floor. A fold has a cost per chunk
        too (per feature: a column built, a summary merged; about 1-3 ms at 20 features), so
        tiny chunks would cost more per row than the rows themselves."""
        per_row = self.record_cost + (self.input_cost if self.keeps_inputs else 0.0)
        rows = _SMALL_DRAIN if per_row <= 0.0 else int(ASSIST_BUDGET_S / per_row)
        floor = _BACKGROUND_FLOOR if background else _ASSIST_FLOOR
        return max(1, min(limit, max(floor, rows)))


_SMALL_DRAIN = 256  # drains smaller than this are always profiled in full and teach nothing
#: Records a buffer holds before the first probe of their size, and after each drain.
PROBE_RECORDS = 16
_PROBE_SAMPLE = 4  # records whose size a probe estimates
_RECORD_OVERHEAD = 64.0  # bytes a record costs whatever it holds (times, list slots, result)
_ASSIST_FLOOR = 512  # rows a caller folds at once at least
_BACKGROUND_FLOOR = 4096  # rows the background fold folds under its lock at least
_FOLD_SHARE = 0.5  # of the wall time between drains, at most, for the fold of one channel
_MAX_STRIDE = 256
#: What one call past the high-water mark spends folding its own buffer, at most (about);
#: also the fold work done under the fold lock at a time.
ASSIST_BUDGET_S = 0.001
#: Calls between two tries of a caller to fold while a fold is running.
_RETRY_STEP = 1024
#: How long a call that finds its buffer full waits for a running fold's chunk to end, when
#: other threads record into the same channel (a server: beyond, the call is dropped)...
_FULL_WAIT_S = 0.005
#: ...and when its thread records alone (a loop: it cannot overload a server, and a wait is
#: its back-pressure; the background fold beside a thread that never releases the GIL gets
#: it back only every switch interval, so one of its chunks can take this long).
_ALONE_WAIT_S = 1.0


def _wait(channel: Channel) -> float:
    return _FULL_WAIT_S if len(channel.buffers) > 1 else _ALONE_WAIT_S


def _smooth(average: float, sample: float) -> float:
    return sample if average == 0.0 else 0.7 * average + 0.3 * sample


class FoldHooks(Protocol):
    """What the recorder asks of whoever folds its channels (the Monitor)."""

    def assist(self, channel: Channel, buffer: ThreadBuffer, wait: float) -> bool:
        """Fold a chunk of ``buffer`` now, waiting at most ``wait`` seconds for a running
        fold; False when it did not."""

    def hand_over(self, channel: Channel, buffer: ThreadBuffer) -> bool:
        """Give a full ``buffer``'s records to the running fold (never waits); False when
        it holds too many already."""


class Recorder:
    """The part of a Monitor that the hot path touches: its channels, their bounds, and the
    counts of what could not be recorded. Survives a fork (the wrappers hold it).

    Args:
        capacity: records per thread buffer at most.
        high_water: records past which a call wakes the fold and helps it.
        wait_when_full: a call that finds its buffer full waits for a fold (``on_full="fold"``)
            instead of being dropped.
    """

    def __init__(
        self, capacity: int, high_water: int, wait_when_full: bool, held_bytes: int = 64 << 20
    ) -> None:
        self.capacity = capacity
        self.high_water = high_water
        self.held_bytes = held_bytes
        self.wait_when_full = wait_when_full
        self.channels: list[Channel] = []
        self.hooks: Callable[[], FoldHooks | None] = lambda: None
        self.overflow = 0
        self.internal_errors = 0
        self.waiting = 0  # callers waiting for the fold lock (their buffer is full)
        self.lock = threading.Lock()
        self.wake_event = threading.Event()

    def channel(self, capture: Capture | None, given_ids: bool, observed: bool = False) -> Channel:
        """A new channel for one watched function (or for ``observe``)."""
        channel = Channel(capture, given_ids, observed, self.high_water)
        with self.lock:
            self.channels = [*self.channels, channel]
        return channel

    def crowded(self, channel: Channel, buffer: ThreadBuffer) -> bool:
        """``buffer`` is past its mark: probe the size of what it holds; past its high-water
        mark (in records, or half its share of ``held_bytes``), wake the fold thread, fold a
        chunk here if no fold is running, and say whether the call still has room (False:
        dropped, and counted).

        The size probes are spaced geometrically (16, 32, 64... records after a drain), so a
        buffer holds about twice its byte share at most while its records keep their size.
        """
        n = len(buffer)
        room = channel.room(buffer, self.held_bytes // 2)
        high_water = min(self.high_water, room)
        buffer.high_water = 2 * high_water
        if n < high_water:  # a probe, and room: probe again at twice as many records
            buffer.mark = 2 * min(high_water, 2 * n)
            return True
        capacity = min(self.capacity, 2 * room)
        self.wake_event.set()
        hooks = self.hooks()
        if hooks is not None:
            if not hooks.assist(channel, buffer, 0.0):
                # A fold is running (it takes the buffer soon): ask again a step further on,
                # not at every call.
                step = min(_RETRY_STEP, high_water)
                buffer.mark = min(len(buffer.times) + 2 * step, 2 * capacity)
            if len(buffer) < capacity:
                return True
            # Full while a fold runs: hand the records to it (up to a bound), else wait for
            # the lock, which a fold holds for one chunk at a time and yields to a waiting
            # caller between two chunks.
            if not self.wait_when_full and hooks.hand_over(channel, buffer):
                return True
            with self.lock:
                self.waiting += 1
            try:
                if hooks.assist(channel, buffer, -1.0 if self.wait_when_full else _wait(channel)):
                    return True
            finally:
                with self.lock:
                    self.waiting -= 1
        elif len(buffer) < capacity:
            return True
        with self.lock:
            self.overflow += 1
        return False

    def internal_error(self, exc: BaseException) -> None:
        """Count a failure inside aimon; log the first one with its traceback."""
        with self.lock:
            self.internal_errors += 1
            first = self.internal_errors == 1
        if first:
            log.error("aimon internal error (counted; further ones are not logged)", exc_info=exc)

    def reset_after_fork(self) -> None:
        """Forget the parent's buffered records and replace locks a dead thread may hold."""
        for channel in self.channels:
            channel.reset_after_fork()
        self.overflow = 0
        self.internal_errors = 0
        self.waiting = 0
        self.lock = threading.Lock()
        self.wake_event = threading.Event()
