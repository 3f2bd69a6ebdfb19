"""The Monitor: one model's state, and the registry of monitors by name.

A Monitor owns a bounded buffer that the hot path appends to, a :class:`~aimon.window.Window`
that a fold step fills from the buffer with numpy (on a background thread, at every
``snapshot()`` and at every scrape), cumulative :class:`~aimon.totals.Totals`, and the
Snapshot that is the only way out.

(This module is ``monitors`` rather than ``monitor`` so that ``aimon.monitor`` can be the
decorator of the public API without shadowing a module.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError
from aimon.features import FeatureExtractor, extract_many, payload_size
from aimon.sketch import QuantileSketch
from aimon.snapshot import FeatureSummary, Histogram, Snapshot, Summary, Totals, WindowInfo
from aimon.totals import FixedHistogram
from aimon.totals import Totals as _Totals
from aimon.window import FeatureStats, Window

if TYPE_CHECKING:
    from aimon.exporters.http import MetricsServer

__all__ = ["Capture", "Monitor", "get_monitor"]

log = logging.getLogger("aimon")

F = TypeVar("F", bound=Callable[..., Any])

# What the hot path appends: (start on the perf clock, latency in s, error class or None,
# args, kwargs, result, capture). Nothing is computed from args or result on the hot path.
Record = tuple[float, float, type[BaseException] | None, Any, Any, Any, "Capture | None"]


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

    def input_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """The predict input of a call: its first real positional argument, else its only
        keyword argument, else all keyword arguments as one row."""
        first = 1 if self.skip_first else 0
        if len(args) > first:
            return args[first]
        if len(kwargs) == 1:
            return next(iter(kwargs.values()))
        return dict(kwargs) if kwargs else None


class _ObservedCapture(Capture):
    """For :meth:`Monitor.observe`: the record holds the features and the sizes themselves."""

    def input_of(self, args: Any, kwargs: Any) -> Any:
        return args


_OBSERVED = _ObservedCapture()


class _Recorder:
    """The part of a Monitor that the hot path touches; survives a fork."""

    __slots__ = ("buffer", "capacity", "high_water", "internal_errors", "lock", "monitor_ref",
                 "overflow", "wake_event")  # fmt: skip

    def __init__(self, capacity: int, monitor: Monitor) -> None:
        self.buffer: list[Record] = []
        self.capacity = capacity
        self.high_water = max(1, capacity // 2)
        self.overflow = 0
        self.internal_errors = 0
        self.lock = threading.Lock()
        self.wake_event = threading.Event()
        self.monitor_ref = weakref.ref(monitor)

    def reset_after_fork(self) -> None:
        """Forget the parent's buffered events and replace locks a dead thread may hold."""
        del self.buffer[:]
        self.overflow = 0
        self.internal_errors = 0
        self.lock = threading.Lock()
        self.wake_event = threading.Event()

    def wake(self) -> None:
        """Ask the fold thread to drain the buffer now (it is half full)."""
        self.wake_event.set()

    def drop(self) -> None:
        """Count one event that did not fit in the buffer."""
        with self.lock:
            self.overflow += 1

    def internal_error(self, exc: BaseException) -> None:
        """Count a failure inside aimon; log the first one with its traceback."""
        with self.lock:
            self.internal_errors += 1
            first = self.internal_errors == 1
        if first:
            log.error("aimon internal error (counted; further ones are not logged)", exc_info=exc)


class Monitor:
    """Watches one model: latency, errors, sizes and features over a rolling window.

    Args:
        name: model name (the ``model`` label of every metric).
        version: model version (the ``version`` label).
        window: rolling window length (``"5m"``, seconds, or a timedelta).
        slice: slice length of the window (``"10s"``); the window keeps ``window / slice``
            slices.
        buffer_size: events held between folds; when full, further events are dropped and
            counted (``dropped["buffer_full"]``), the caller is never blocked.
        flush_interval: how often the background thread folds the buffer into the window.
        relative_accuracy: of the latency and size quantiles (0.01 = 1 %).
        max_features: features tracked at most.
        max_error_types: distinct error type labels at most (the rest count as ``other``).
        clock: wall clock in epoch seconds (tests pass a fake one).

    Raises:
        ConfigError: a setting is invalid; the message names it.

    >>> mon = Monitor("doc", window="1m", slice="10s")
    >>> mon.observe(latency_s=0.02, features={"age": 41})
    >>> snap = mon.snapshot()
    >>> snap.count, snap.latency.max, snap.features["age"].mean
    (1, 0.02, 41.0)
    >>> mon.close()
    """

    def __init__(
        self,
        name: str = "default",
        version: str | None = None,
        *,
        window: Duration = "5m",
        slice: Duration = "10s",  # noqa: A002 - the word users know from the design
        buffer_size: int = 65536,
        flush_interval: Duration = 1.0,
        relative_accuracy: float = 0.01,
        max_features: int = 512,
        max_error_types: int = 32,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name: a monitor needs a non-empty model name")
        if buffer_size < 1:
            raise ConfigError(f"buffer_size: must be at least 1, got {buffer_size}")
        if not 0 < relative_accuracy < 1:
            raise ConfigError(f"relative_accuracy: must be in (0, 1), got {relative_accuracy}")
        window_s = parse_duration(window, "window")
        slice_s = parse_duration(slice, "slice")
        if slice_s > window_s:
            raise ConfigError(f"slice: {slice!r} is longer than the window {window!r}")
        self.name = name
        self.version = version
        self._window_s = window_s
        self._slice_s = slice_s
        self._relative_accuracy = relative_accuracy
        self._max_features = max_features
        self._max_error_types = max_error_types
        self._flush_interval = parse_duration(flush_interval, "flush_interval")
        self._clock = clock
        self._buffer_size = buffer_size
        self._server: MetricsServer | None = None
        self._closed = False
        self._recorder = _Recorder(buffer_size, self)
        self._reset_aggregates()
        _LIVE_MONITORS.add(self)
        self._start_thread()

    # -- state -------------------------------------------------------------------------

    def _reset_aggregates(self) -> None:
        self._fold_lock = threading.RLock()
        self._window = Window(
            self._window_s, self._slice_s, self._relative_accuracy, self._max_features
        )
        self._totals = _Totals(self._max_error_types)
        self._dropped: Counter[str] = Counter()
        self._started = self._clock()

    def _start_thread(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_fold_loop,
            args=(weakref.ref(self), self._recorder.wake_event, self._stop, self._flush_interval),
            name=f"aimon-fold-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        # The child starts clean: the parent's events are the parent's to report, and the
        # parent's threads and locks do not exist here (they may have been held at fork).
        # The recorder object stays: the wrappers made before the fork hold its buffer.
        self._recorder.reset_after_fork()
        self._reset_aggregates()
        self._server = None
        if not self._closed:
            self._start_thread()

    # -- recording ---------------------------------------------------------------------

    @overload
    def watch(self, fn: F, /) -> F: ...

    @overload
    def watch(
        self, *, features: bool | FeatureExtractor = True, sizes: bool = True
    ) -> Callable[[F], F]: ...

    def watch(
        self,
        fn: F | None = None,
        /,
        *,
        features: bool | FeatureExtractor = True,
        sizes: bool = True,
    ) -> F | Callable[[F], F]:
        """Decorate a predict function (sync or async, function or method) to record its calls.

        Args:
            features: read per-feature statistics from the call's input (``True``), not at
                all (``False``), or through a callable that maps the input to features.
            sizes: estimate input and output payload sizes.

        The wrapped function behaves exactly like the original: same result, same exception
        object with the same traceback. Features and sizes are read from the arguments in
        the fold step, off the hot path; an input mutated in place right after the call may
        be seen mutated.
        """
        from aimon.collectors.decorator import wrap

        def decorate(func: F) -> F:
            return wrap(self, func, features=features, sizes=sizes)

        return decorate(fn) if fn is not None else decorate

    def observe(
        self,
        latency_s: float | None = None,
        error: BaseException | type[BaseException] | str | None = None,
        features: Any = None,
        prediction: Any = None,
        input_size: int | None = None,
        output_size: int | None = None,
        ts: float | None = None,
    ) -> None:
        """Record one prediction by hand.

        Args:
            latency_s: how long it took, in seconds.
            error: ``None`` for success, else the exception, its class or a type name.
            features: the input features (anything :func:`aimon.features.extract` accepts).
            prediction: the model's output.
            input_size, output_size: payload sizes in bytes.
            ts: when the call started (epoch seconds); defaults to now minus the latency.
        """
        try:
            now_perf = time.perf_counter()
            latency = float("nan") if latency_s is None else float(latency_s)
            if ts is None:
                start = now_perf - (latency if latency == latency else 0.0)
            else:
                start = float(ts) - (self._clock() - now_perf)
            record: Record = (
                start, latency, _error_class(error), features,
                (input_size, output_size), prediction, _OBSERVED,
            )  # fmt: skip
            recorder = self._recorder
            if len(recorder.buffer) < recorder.capacity:
                recorder.buffer.append(record)
            else:
                recorder.drop()
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    # -- folding -----------------------------------------------------------------------

    def flush(self) -> None:
        """Fold everything buffered so far into the window (also done in the background)."""
        with self._fold_lock:
            recorder = self._recorder
            records = recorder.buffer.copy()
            # Appends racing with the copy land after these records and stay for next time.
            del recorder.buffer[: len(records)]
            if records:
                try:
                    self._fold(records)
                except Exception as exc:
                    recorder.internal_error(exc)

    def _fold(self, records: list[Record]) -> None:
        now = self._clock()
        offset = now - time.perf_counter()
        cols = list(zip(*records, strict=True))
        ts = np.asarray(cols[0], dtype=np.float64) + offset
        latency = np.asarray(cols[1], dtype=np.float64)
        error_classes: tuple[type[BaseException] | None, ...] = cols[2]
        sids, live, late, future = self._window.place(ts, now)
        if late.any():
            self._dropped["late"] += int(late.sum())
        if future.any():
            self._dropped["future"] += int(future.sum())

        n = len(records)
        in_size = np.full(n, np.nan)
        out_size = np.full(n, np.nan)
        inputs: list[Any] = [None] * n
        wants_input = np.zeros(n, dtype=bool)
        for i, (_, _, _, args, kwargs, result, capture) in enumerate(records):
            if capture is None:
                continue
            if capture is _OBSERVED:
                sizes = kwargs
                if sizes[0] is not None:
                    in_size[i] = sizes[0]
                if sizes[1] is not None:
                    out_size[i] = sizes[1]
                if args is not None:
                    inputs[i], wants_input[i] = args, True
                continue
            if capture.features or capture.sizes:
                source = capture.input_of(args, kwargs)
                if capture.sizes:
                    in_size[i] = payload_size(source)
                    if error_classes[i] is None:
                        out_size[i] = payload_size(result)
                if capture.features and source is not None:
                    extractor = capture.extractor
                    try:
                        inputs[i] = extractor(source) if extractor else source
                    except Exception as exc:  # a user's extractor failing loses no event
                        self._recorder.internal_error(exc)
                        continue
                    wants_input[i] = True

        totals = self._totals
        labels = [
            totals.error_label(_error_name(cls)) if cls is not None else None
            for cls in error_classes
        ]
        counted = live | late  # late events still count in the totals, just not the window
        totals.calls += int(counted.sum())
        for i in np.flatnonzero(counted):
            label = labels[i]
            if label is not None:
                totals.errors[label] += 1
        totals.latency.add_many(latency[counted])
        totals.input_size.add_many(in_size[counted])
        totals.output_size.add_many(out_size[counted])

        if not live.any():
            return
        for sid in np.unique(sids[live]):
            mask = live & (sids == sid)
            idx = np.flatnonzero(mask)
            piece = self._window.slice_for(int(sid))
            piece.add(
                latency[mask],
                [labels[i] for i in idx if labels[i] is not None],  # type: ignore[misc]
                in_size[mask],
                out_size[mask],
            )
            feature_rows = [inputs[i] for i in idx if wants_input[i]]
            if feature_rows:
                batch = extract_many(feature_rows, max_features=self._max_features)
                self._window.add_features(int(sid), batch)
                for name, column in batch.columns.items():
                    present = np.isfinite(column.values)
                    if column.labels is not None:
                        present |= np.not_equal(column.labels, None)
                    missing = batch.n_rows - int(present.sum())
                    totals.feature_values[name] += batch.n_rows - missing
                    if missing:
                        totals.feature_missing[name] += missing

    # -- reading -----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Fold what is buffered and return the state over the rolling window."""
        self.flush()
        with self._fold_lock:
            now = self._clock()
            view = self._window.view(now, self._started)
            total = view.total
            totals = self._totals
            dropped = dict(self._dropped)
            recorder = self._recorder
            if recorder.overflow:
                dropped["buffer_full"] = recorder.overflow
            error_count = sum(total.errors.values())
            window_info = WindowInfo(
                start=_utc(view.start),
                end=_utc(view.end),
                length_s=self._window.length_s,
                slice_s=self._window.slice_s,
                span_s=view.span_s,
            )
            return Snapshot(
                model=self.name,
                version=self.version,
                taken_at=_utc(now),
                window=window_info,
                count=total.count,
                ok=total.count - error_count,
                error_count=error_count,
                error_rate=error_count / total.count if total.count else 0.0,
                errors=dict(total.errors),
                throughput=total.count / max(view.span_s, min(1.0, self._window.slice_s)),
                latency=_summary(total.latency),
                input_size=_summary(total.input_size),
                output_size=_summary(total.output_size),
                features={name: _feature_summary(s) for name, s in total.features.items()},
                dropped=dropped,
                late=dropped.get("late", 0),
                internal_errors=recorder.internal_errors,
                totals=Totals(
                    calls=totals.calls,
                    ok=totals.calls - totals.error_count,
                    errors=dict(totals.errors),
                    latency=_histogram(totals.latency),
                    input_size=_histogram(totals.input_size),
                    output_size=_histogram(totals.output_size),
                    feature_missing=dict(totals.feature_missing),
                ),
            )

    # -- serving and lifecycle ---------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 9108) -> MetricsServer:
        """Serve ``/metrics``, ``/healthz`` and ``/status`` on a background thread.

        ``port=0`` picks a free port (see the returned server's ``port``). Calling it again
        returns the running server.
        """
        from aimon.exporters.http import MetricsServer

        if self._server is None:
            self._server = MetricsServer([self], host=host, port=port)
        return self._server

    def close(self, timeout: float = 5.0) -> None:
        """Stop the background thread and the server, folding what is left."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._recorder.wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.flush()
        if self._server is not None:
            self._server.close()
            self._server = None
        with _REGISTRY_LOCK:
            if _REGISTRY.get(self.name) is self:
                del _REGISTRY[self.name]

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Monitor(name={self.name!r}, version={self.version!r})"


def _fold_loop(
    ref: weakref.ref[Monitor], wake: threading.Event, stop: threading.Event, interval: float
) -> None:
    while not stop.is_set():
        wake.wait(interval)
        wake.clear()
        monitor = ref()
        if monitor is None:
            return
        monitor.flush()
        del monitor  # do not keep the monitor alive while sleeping


def _error_class(
    error: BaseException | type[BaseException] | str | None,
) -> type[BaseException] | None:
    if error is None:
        return None
    if isinstance(error, BaseException):
        return type(error)
    if isinstance(error, type) and issubclass(error, BaseException):
        return error
    return _named_error(str(error))


_NAMED_ERRORS: dict[str, type[BaseException]] = {}


def _named_error(name: str) -> type[BaseException]:
    # observe(error="Timeout") and log lines carry names, not classes; one class per name
    # keeps the record format uniform.
    cls = _NAMED_ERRORS.get(name)
    if cls is None:
        cls = _NAMED_ERRORS.setdefault(name, type(name, (Exception,), {}))
    return cls


def _error_name(cls: type[BaseException]) -> str:
    return cls.__name__


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _summary(sketch: QuantileSketch) -> Summary:
    if sketch.is_empty:
        return Summary()
    p50, p95, p99 = sketch.quantiles([0.5, 0.95, 0.99])
    return Summary(
        count=sketch.count, p50=p50, p95=p95, p99=p99,
        mean=sketch.mean, min=sketch.min, max=sketch.max,
    )  # fmt: skip


def _feature_summary(stats: FeatureStats) -> FeatureSummary:
    mean = std = low = high = None
    if stats.kind == "numeric" and stats.n:
        mean = stats.sum / stats.n
        std = float(np.sqrt(max(stats.sum_sq / stats.n - mean * mean, 0.0)))
        low, high = stats.min, stats.max
    return FeatureSummary(
        kind=stats.kind,
        count=stats.count,
        missing=stats.missing,
        missing_share=stats.missing / stats.count if stats.count else 0.0,
        invalid=stats.invalid,
        mean=mean, std=std, min=low, max=high,
        top=dict(stats.labels.most_common(10)),
    )  # fmt: skip


def _histogram(hist: FixedHistogram) -> Histogram:
    cumulative = hist.cumulative()
    return Histogram(
        bounds=tuple(float(b) for b in hist.bounds),
        cumulative=tuple(cumulative),
        sum=hist.sum,
        count=cumulative[-1],
    )


# -- registry of monitors by name, and fork safety ------------------------------------------

_REGISTRY: dict[str, Monitor] = {}
_REGISTRY_LOCK = threading.Lock()
_LIVE_MONITORS: weakref.WeakSet[Monitor] = weakref.WeakSet()


def get_monitor(name: str, **settings: Any) -> Monitor:
    """The registered Monitor called ``name``, created with ``settings`` on first use.

    Raises:
        ConfigError: ``settings`` differ from those the existing monitor was created with
            (only ``version`` is checked).
    """
    with _REGISTRY_LOCK:
        monitor = _REGISTRY.get(name)
        if monitor is None:
            monitor = _REGISTRY[name] = Monitor(name, **settings)
        elif "version" in settings and settings["version"] != monitor.version:
            raise ConfigError(
                f"version: monitor {name!r} already exists with version {monitor.version!r}"
            )
        return monitor


def _reinit_after_fork() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for monitor in list(_LIVE_MONITORS):
        monitor._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
