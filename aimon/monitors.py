"""The Monitor: one model's state, and the registry of monitors by name.

A Monitor owns a bounded buffer that the hot path appends to, a :class:`~aimon.window.Window`
that a fold step fills from the buffer with numpy (on a background thread, at every
``snapshot()`` and at every scrape), cumulative :class:`~aimon.totals.Totals`, and the
Snapshot that is the only way out.

(This module is ``monitors`` rather than ``monitor`` so that ``aimon.monitor`` can be the
decorator of the public API without shadowing a module.)
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from aimon.alerts.alert import Alert
from aimon.alerts.base import Sink
from aimon.alerts.router import Router
from aimon.collectors.decorator import call_ids
from aimon.collectors.eventlog import EventLogWriter
from aimon.drift.methods import resolve_methods
from aimon.drift.reference import Reference, ReferenceError
from aimon.drift.tracker import DriftTracker, bin_total_counts, drift_snapshot, prediction_batch
from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError, MalformedEventError
from aimon.events import Event
from aimon.features import FeatureBatch, FeatureExtractor, extract_many, payload_size
from aimon.quality.join import JoinBuffer, MatchFields
from aimon.quality.metrics import (
    Label,
    QualityError,
    QualityStats,
    TaskKind,
    infer_task,
    quality_change,
    quality_settings,
)
from aimon.sketch import QuantileSketch
from aimon.snapshot import FeatureSummary, Histogram, Snapshot, Summary, Totals, WindowInfo
from aimon.thresholds import ThresholdsLike, make_alerting
from aimon.totals import BucketCounts as FixedHistogram
from aimon.totals import RunningTotals as _Totals
from aimon.window import FeatureStats, Window

if TYPE_CHECKING:
    from aimon.exporters.http import MetricsServer

__all__ = ["OBSERVED", "Capture", "Monitor", "get_monitor"]

log = logging.getLogger("aimon")

F = TypeVar("F", bound=Callable[..., Any])


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


#: The capture of Monitor.observe(): records are (start, latency, error class or None,
#: features, (input size, output size), prediction).
OBSERVED = Capture()


class _Channel:
    """The bounded buffers of one watched function (or of ``observe``): call records, and the
    calls' inputs when features or sizes are captured.

    Profiling inputs (features, input sizes) costs the fold far more per call than the call
    costs the caller, so a caller in a tight loop can outrun it. The channel therefore sheds
    load: it learns what a record and a profiled input cost the fold, and when draining the
    ``backlog`` that arrived since the last drain with every input profiled would take more
    than half of that time, it profiles a uniform random sample of one input in ``stride``.
    The calls themselves (count, latency, outcome, output size) are never sampled.
    """

    __slots__ = ("buffer", "capture", "input_cost", "inputs", "last_drain", "record_cost")

    def __init__(self, capture: Capture | None) -> None:
        self.buffer: list[tuple[Any, ...]] = []
        self.inputs: list[Any] = []
        self.capture = capture
        self.last_drain = time.perf_counter()
        self.record_cost = 0.0  # fold seconds per record, smoothed
        self.input_cost = 0.0  # fold seconds per profiled input, smoothed

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


_SMALL_DRAIN = 256  # drains smaller than this are always profiled in full and teach nothing
_FOLD_SHARE = 0.5  # of the wall time between drains, at most, for the fold of one channel
_MAX_STRIDE = 256


def _smooth(average: float, sample: float) -> float:
    return sample if average == 0.0 else 0.7 * average + 0.3 * sample


class _Recorder:
    """The part of a Monitor that the hot path touches; survives a fork."""

    __slots__ = ("capacity", "channels", "high_water", "internal_errors", "lock", "on_full",
                 "overflow", "wake_event")  # fmt: skip

    def __init__(self, capacity: int) -> None:
        self.on_full: weakref.WeakMethod[Callable[[], None]] | None = None
        self.channels: list[_Channel] = []
        self.capacity = capacity
        self.high_water = max(1, capacity // 2)
        self.overflow = 0
        self.internal_errors = 0
        self.lock = threading.Lock()
        self.wake_event = threading.Event()

    def channel(self, capture: Capture | None) -> _Channel:
        """A new buffer for one watched function (each holds up to ``capacity`` events)."""
        channel = _Channel(capture)
        with self.lock:
            self.channels = [*self.channels, channel]
        return channel

    def reset_after_fork(self) -> None:
        """Forget the parent's buffered events and replace locks a dead thread may hold."""
        for channel in self.channels:
            del channel.buffer[:]
            del channel.inputs[:]
        self.overflow = 0
        self.internal_errors = 0
        self.lock = threading.Lock()
        self.wake_event = threading.Event()

    def wake(self) -> None:
        """Ask the fold thread to drain the buffers now (one is half full)."""
        self.wake_event.set()

    def make_room(self) -> bool:
        """A buffer is full: fold it in the caller's thread when the monitor was made with
        ``on_full="fold"`` (True: there is room now), else count the event as dropped."""
        fold = self.on_full() if self.on_full is not None else None
        if fold is not None:
            fold()
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


@dataclass(slots=True)
class _Part:
    """One channel's drained records as columns (the fold's working form)."""

    ts: NDArray[np.float64]
    latency: NDArray[np.float64]
    errors: list[str | None]
    in_size: NDArray[np.float64]
    out_size: NDArray[np.float64]
    inputs: list[Any] | None = None  # feature sources (None: no features)
    input_ts: NDArray[np.float64] | None = None  # when each input's call started
    sizes_from_inputs: bool = False  # input sizes come from the inputs, not the records
    extractor: FeatureExtractor | None = None  # the user's, applied to each input first
    request_ids: list[str | None] | None = None  # None: no ids at all
    # rows whose id the fold made (nobody had asked for it): joined only when it can be known
    unasked: list[int] | None = None


class Monitor:
    """Watches one model: latency, errors, sizes and features over a rolling window.

    Args:
        name: model name (the ``model`` label of every metric).
        version: model version (the ``version`` label).
        window: rolling window length (``"5m"``, seconds, or a timedelta).
        slice: slice length of the window (``"10s"``); the window keeps ``window / slice``
            slices.
        buffer_size: events held between folds (per watched function).
        on_full: what a call that finds its buffer full does. ``"drop"`` (the default, for
            serving): the event is dropped and counted (``dropped["buffer_full"]``), the
            caller is never held up. ``"fold"`` (for batch jobs, where every event counts):
            that call folds the buffer itself, so nothing is lost and the caller is slowed
            to the fold's pace; input profiling is then never sampled either.
        flush_interval: how often the background thread folds the buffer into the window.
        relative_accuracy: of the latency and size quantiles (0.01 = 1 %).
        max_features: features tracked at most.
        max_error_types: distinct error type labels at most (the rest count as ``other``).
        clock: wall clock in epoch seconds (tests pass a fake one).
        reference: a :class:`~aimon.drift.Reference` (or the path of a saved one) to measure
            drift against; each snapshot then has ``drift[feature]``.
        drift_window: the drift window's length (default one hour), separate from
            ``window``; or ``drift_events``: the last N events instead.
        drift_sample: numbers kept per numeric feature and drift slice (of 12) for KS and
            Wasserstein (memory: 8 bytes each).
        drift_methods: the methods shown per feature (default psi, ks, wasserstein, js and
            chi2 as the feature's kind allows).
        drift_min_count: values a feature needs in the drift window before its ``drifted``
            verdict can be true (the numbers are shown from the first value).
        thresholds: the alerting rules: :class:`~aimon.thresholds.Thresholds`, a list of
            :class:`~aimon.thresholds.Rule`, or a YAML/TOML rules file. Default: none, or
            the default rules when sinks are given.
        sinks: where alerts go (:mod:`aimon.alerts`: ``LogSink()``, ``WebhookSink(...)``,
            ``AlertmanagerSink(...)``...), through a default :class:`~aimon.alerts.Router`;
            or ``router``: a Router of your own (routes by label, repeat interval...).
        evaluation_interval: how often the background thread evaluates the rules
            (``check()`` evaluates at once).
        log_to: also append every event, as one JSON line, to this file (or
            :class:`~aimon.collectors.eventlog.EventLogWriter`), for a sidecar to read; many
            worker processes may share the file. Written by the fold, off the caller's time;
            features are written when the input is a dict.
        quality_task: ``"classification"``, ``"binary_score"`` or ``"regression"``: how
            predictions matched with their outcome (:meth:`record_outcome`) are scored;
            default: the reference's (when it has ``quality``), else inferred from the first
            100 matched pairs (or those there are at the first snapshot), see
            :func:`aimon.quality.infer_task`.
        positive_label: the positive class of binary metrics (default: the reference's, else
            ``1``, which is also ``True``).
        quality_threshold: a score at or above it predicts the positive class
            (``"binary_score"``; default: the reference's, else 0.5). Live quality is
            compared with the reference's (``snapshot().quality_change``) only when measured
            the same way, so a setting that differs from the reference's is an error.
        outcome_ttl: how long a prediction waits for its outcome (and an early outcome for
            its prediction), in event time.
        max_pending_predictions, max_early_outcomes: the join buffer's bounds; beyond them
            the oldest entries leave (counted ``expired`` / ``unknown`` when their outcome or
            prediction comes).
        max_remembered_ids: ids kept after their prediction left (matched or expired), for
            ``outcome_ttl``, so that a late or repeated outcome counts ``expired`` or
            ``duplicate`` rather than ``unknown`` (default: ``max_pending_predictions``).
            Above ``max_remembered_ids / outcome_ttl`` predictions per second (28/s with the
            defaults) ids leave by this bound before the TTL; about 350 bytes each.

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
        slice: Duration = "10s",
        buffer_size: int = 65536,
        on_full: Literal["drop", "fold"] = "drop",
        flush_interval: Duration = 1.0,
        relative_accuracy: float = 0.01,
        max_features: int = 512,
        max_error_types: int = 32,
        clock: Callable[[], float] = time.time,
        reference: Reference | str | os.PathLike[str] | None = None,
        drift_window: Duration = "1h",
        drift_events: int | None = None,
        drift_sample: int = 1024,
        drift_methods: str | Sequence[str] | None = None,
        drift_min_count: int = 500,
        thresholds: ThresholdsLike | None = None,
        sinks: Sequence[Sink] | None = None,
        router: Router | None = None,
        evaluation_interval: Duration = "15s",
        log_to: str | os.PathLike[str] | EventLogWriter | None = None,
        quality_task: TaskKind | None = None,
        positive_label: Label | None = None,
        quality_threshold: float | None = None,
        outcome_ttl: Duration = "1h",
        max_pending_predictions: int = 100_000,
        max_early_outcomes: int = 10_000,
        max_remembered_ids: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name: a monitor needs a non-empty model name")
        if buffer_size < 1:
            raise ConfigError(f"buffer_size: must be at least 1, got {buffer_size}")
        if on_full not in ("drop", "fold"):
            raise ConfigError(f"on_full: must be 'drop' or 'fold', got {on_full!r}")
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
        self._new_join = functools.partial(
            JoinBuffer,
            max_pending_predictions,
            max_early_outcomes,
            parse_duration(outcome_ttl, "outcome_ttl"),
            max_remembered=max_remembered_ids,
        )
        try:
            self._new_join()  # check the bounds now
        except ConfigError as exc:  # named as the Monitor's settings are
            inner, _, rest = str(exc).partition(" ")
            outer = {"max_predictions": "max_pending_predictions", "ttl_s": "outcome_ttl",
                     "max_remembered": "max_remembered_ids"}.get(inner, inner)  # fmt: skip
            raise ConfigError(f"{outer}: {rest}") from None
        self._drift_settings = _drift_settings(
            reference, drift_window, drift_events, drift_sample, drift_methods, drift_min_count
        )
        self._reference_quality = (
            None if self._drift_settings is None else self._drift_settings["reference"].quality
        )
        try:
            self._quality_settings = quality_settings(
                quality_task, positive_label, quality_threshold, self._reference_quality
            )
        except QualityError as exc:
            raise ConfigError(str(exc)) from None
        self._alerting = make_alerting(
            thresholds, sinks, router, evaluation_interval, name, version
        )
        self._event_log = (
            log_to
            if isinstance(log_to, EventLogWriter) or log_to is None
            else EventLogWriter(log_to)
        )
        self._server: MetricsServer | None = None
        self._closed = False
        self._recorder = _Recorder(buffer_size)
        if on_full == "fold":
            self._recorder.on_full = weakref.WeakMethod(self.flush)
        self._observed = self._recorder.channel(OBSERVED)
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
        self._rng = np.random.default_rng()
        self._started = self._clock()
        settings = self._drift_settings
        self._drift = DriftTracker(**settings) if settings is not None else None
        self._join = self._new_join()
        self._quality_task: TaskKind | None = self._quality_settings[0]
        self._unplaced: list[tuple[float, Any, Any]] = []  # matched pairs before the task is known
        self._outcome_queue: list[tuple[str, Any, float]] = []
        self._outcomes_seen = False  # record_outcome was called: hold every prediction

    def export_state(self) -> dict[str, Any]:
        """The aggregates (window, totals, drop counts, drift counts), folded up to now, for a
        checkpoint; :meth:`restore_state` puts them back in a Monitor of the same settings.
        Internal to aimon's own checkpoints: the objects are pickled as they are."""
        self.flush()
        with self._fold_lock:
            return {
                "format": STATE_FORMAT,
                "model": self.name,
                "version": self.version,
                "window": self._window,
                "totals": self._totals,
                "dropped": Counter(self._dropped),
                "overflow": self._recorder.overflow,
                "drift": self._drift,
                "started": self._started,
                "join": self._join,
                "quality_task": self._quality_task,
                "unplaced": list(self._unplaced),
            }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`export_state`'s aggregates (same model and settings).

        Raises:
            ConfigError: the state is of another format, model or window.
        """
        if state.get("format") != STATE_FORMAT:
            raise ConfigError(f"state: format {state.get('format')!r}, expected {STATE_FORMAT}")
        if (state["model"], state["version"]) != (self.name, self.version):
            raise ConfigError(f"state: of model {state['model']!r}, not {self.name!r}")
        window = state["window"]
        if (window.length_s, window.slice_s) != (self._window.length_s, self._window.slice_s):
            raise ConfigError("state: the window settings changed; starting afresh")
        with self._fold_lock:
            self._window = window
            self._totals = state["totals"]
            self._dropped = Counter(state["dropped"])
            self._recorder.overflow = int(state["overflow"])
            saved_drift = state["drift"]
            if self._drift is not None and saved_drift is not None:
                if saved_drift.same_settings(self._drift):
                    self._drift = saved_drift
                else:  # a new reference (or drift settings): drift starts afresh against it
                    self._dropped["drift_reset"] += 1
            self._started = float(state["started"])
            self._join = state["join"]
            self._outcomes_seen = self._join.counts().outcomes_total > 0
            task, positive, threshold = self._quality_settings
            forgotten = self._window.drop_quality(
                lambda stats: stats.measured_as(task, positive, threshold)
            )
            if forgotten:  # measured another way before the restart: not comparable
                self._dropped["quality_settings_changed"] += forgotten
            self._quality_task = task or state["quality_task"]
            self._unplaced = list(state["unplaced"])

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
        if self._alerting is not None:
            self._alerting.reset_after_fork()
        self._server = None
        if not self._closed:
            self._start_thread()

    # -- recording ---------------------------------------------------------------------

    @overload
    def watch(self, fn: F, /) -> F: ...

    @overload
    def watch(
        self,
        *,
        features: bool | FeatureExtractor = True,
        sizes: bool = True,
        request_id: Callable[..., Any] | None = None,
    ) -> Callable[[F], F]: ...

    def watch(  # type: ignore[misc]  # mypy cannot match the keyword-only overload
        self,
        fn: F | None = None,
        /,
        *,
        features: bool | FeatureExtractor = True,
        sizes: bool = True,
        request_id: Callable[..., Any] | None = None,
    ) -> F | Callable[[F], F]:
        """Decorate a predict function (sync or async, function or method) to record its calls.

        Args:
            features: read per-feature statistics from the call's input (``True``), not at
                all (``False``), or through a callable that maps the input to features.
            sizes: estimate input and output payload sizes.
            request_id: a function called with the call's arguments (``self`` included for
                a method) that returns the request's id (made text with ``str``); None, or
                no function, gives an id made when first asked for (32 hex digits, unique
                to the call, see :mod:`aimon.collectors.decorator`). Either way
                :func:`aimon.current_request_id` returns it, during and after the call.

        The wrapped function behaves exactly like the original: same result, same exception
        object with the same traceback. Features and sizes are read from the arguments in
        the fold step, off the hot path; an input mutated in place right after the call may
        be seen mutated.
        """
        from aimon.collectors.decorator import wrap

        def decorate(func: F) -> F:
            return wrap(self, func, features=features, sizes=sizes, request_id=request_id)

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
        request_id: str | None = None,
    ) -> None:
        """Record one prediction by hand.

        Args:
            latency_s: how long it took, in seconds.
            error: ``None`` for success, else the exception, its class or a type name.
            features: the input features (anything :func:`aimon.features.extract` accepts).
            prediction: the model's output.
            input_size, output_size: payload sizes in bytes.
            ts: when the call started (epoch seconds); defaults to now minus the latency.
            request_id: the request's id, to join its outcome (:meth:`record_outcome`).
        """
        try:
            now_perf = time.perf_counter()
            latency = float("nan") if latency_s is None else float(latency_s)
            if ts is None:
                start = now_perf - (0.0 if math.isnan(latency) else latency)
            else:
                start = float(ts) - (self._clock() - now_perf)
            record = (start, latency, _error_class(error), features,
                      (input_size, output_size), prediction,
                      None if request_id is None else str(request_id))  # fmt: skip
            buffer = self._observed.buffer
            if len(buffer) < self._recorder.capacity or self._recorder.make_room():
                buffer.append(record)
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    def observe_many(
        self,
        ts: Sequence[float] | NDArray[np.float64],
        latency_s: Sequence[float | None] | NDArray[np.float64] | None = None,
        errors: Sequence[str | None] | None = None,
        features: Sequence[Any] | None = None,
        predictions: Sequence[Any] | None = None,
        input_size: Sequence[float | None] | NDArray[np.float64] | None = None,
        output_size: Sequence[float | None] | NDArray[np.float64] | None = None,
        request_ids: Sequence[str | None] | None = None,
    ) -> None:
        """Record many predictions at once, given as columns, and fold them now (no buffer:
        this is the path of the sidecar and of batch jobs).

        Args:
            ts: when each call started (epoch seconds).
            latency_s: durations in seconds (None or NaN: unknown).
            errors: the error type's name per call, None for success.
            features: each call's features (a dict, or anything :func:`aimon.features.extract`
                accepts), or None.
            predictions: each call's output, or None.
            input_size, output_size: payload sizes in bytes (None or NaN: unknown).
            request_ids: each call's request id, or None.

        Every given column has the length of ``ts``.
        """
        try:
            when = np.asarray(ts, dtype=np.float64)
            n = when.size
            label = self._totals.error_label
            names: list[str | None] = (
                [None if e is None else label(e) for e in errors] if errors else [None] * n
            )
            part = _Part(
                when, _numbers(latency_s, n), names, _numbers(input_size, n),
                _numbers(output_size, n),
            )  # fmt: skip
            if features is not None and any(f is not None for f in features):
                part.inputs, part.input_ts = list(features), when
            if request_ids is not None and any(r is not None for r in request_ids):
                part.request_ids = [None if r is None else str(r) for r in request_ids]
            if (
                len(names) != n
                or (part.inputs is not None and len(part.inputs) != n)
                or (part.request_ids is not None and len(part.request_ids) != n)
            ):
                raise ValueError("observe_many: every column must have the length of ts")
            outputs = list(predictions) if predictions is not None else []
            with self._fold_lock:
                if self._event_log is not None:
                    self._log_events(part, outputs or [None] * n)
                self._fold(part)
                self._fold_outputs("prediction", outputs)
                self._join_predictions(part, outputs)
                self._fold_inputs(part)
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    # -- outcomes ----------------------------------------------------------------------

    def record_outcome(self, request_id: Any, actual: Any, ts: float | None = None) -> None:
        """Record the outcome (ground truth) of the prediction made for ``request_id``.

        The outcome joins its prediction (an event with the same ``request_id``, see
        :func:`aimon.current_request_id`) in the fold step: the pair is then counted in the
        window's quality (``snapshot().quality``) at the later of the two times. An outcome
        may come before its prediction (it waits up to ``outcome_ttl``); each outcome ends
        ``matched``, ``expired``, ``unknown`` or ``duplicate`` (``snapshot().outcomes``).
        Cheap for the caller: the outcome is queued (at most ``buffer_size``; beyond, it is
        dropped and counted, ``dropped["outcome_buffer_full"]``).

        Args:
            request_id: the prediction's request id (made text with ``str``).
            actual: the true label or value.
            ts: when the outcome was known (epoch seconds); default now.
        """
        try:
            self._outcomes_seen = True
            when = self._clock() if ts is None else float(ts)
            queue = self._outcome_queue
            if len(queue) < self._buffer_size:
                queue.append((str(request_id), actual, when))
            else:
                with self._fold_lock:
                    self._dropped["outcome_buffer_full"] += 1
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    def record_outcomes(self, outcomes: Sequence[tuple[Any, Any, float | None]]) -> None:
        """Record many ``(request_id, actual, ts)`` outcomes and join them now (the path of
        the sidecar; ``ts`` None is now). Call :meth:`observe_many` with the predictions
        first when both come in one batch (an outcome may also wait for its prediction)."""
        try:
            self._outcomes_seen = True
            now = self._clock()
            with self._fold_lock:
                self._join_outcomes(
                    [(str(rid), actual, now if ts is None else float(ts))
                     for rid, actual, ts in outcomes]
                )  # fmt: skip
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    def known_request_ids(self, request_ids: Sequence[str]) -> set[str]:
        """The ids whose outcome belongs to this monitor: its prediction is held here, its
        outcome is waiting here, or it is remembered here (matched or expired)."""
        self.flush()
        with self._fold_lock:
            knows = self._join.knows
            return {rid for rid in request_ids if knows(rid)}

    def _call_ids(
        self, starts: Sequence[float], tags: Sequence[Any]
    ) -> tuple[list[str | None] | None, list[int] | None]:
        """The calls' request ids. Ids nobody asked for are made only when they can be known
        later: written to the event log, or joined once outcomes are recorded (a caller
        asking after the fold gets the same id, but nothing would join it anyway)."""
        return call_ids(starts, tags, self._event_log is not None or self._outcomes_seen)

    def _join_predictions(self, part: _Part, outputs: Sequence[Any]) -> None:
        """Hold each successful prediction with a request id until its outcome comes.

        An id the fold made for a call nobody asked about can only be known from the event
        log: without one, and before any outcome was recorded, such predictions are not held
        (a monitor whose outcomes are never recorded pays nothing for the join)."""
        ids = part.request_ids
        if ids is None or not outputs:
            return
        if part.unasked and self._event_log is None and not self._outcomes_seen:
            ids = list(ids)
            for i in part.unasked:
                ids[i] = None
        # Hot path (every prediction once outcomes are recorded): one batch call to the join.
        rows = []
        plain = _PLAIN_OUTPUTS
        # Calls past the end of outputs have none (as if None): zip stops there.
        columns = zip(ids, part.errors, outputs, part.ts.tolist(), strict=False)
        for rid, error, output, ts in columns:
            if rid is None or error is not None:
                continue
            value = output if output.__class__ in plain else _quality_value(output)
            if value is not None:
                rows.append((rid, value, ts))
        join = self._join
        try:
            matches = join.add_predictions(rows)  # checks every ts first, adds none if one is bad
        except MalformedEventError:
            # A bad ts raises (observe_many counts an internal error) after the predictions
            # before it are held, their matches uncounted: as one add_prediction each did.
            bad = next(i for i, row in enumerate(rows) if not math.isfinite(row[2]))
            join.add_predictions(rows[:bad])
            raise
        self._count_matches(matches)

    def _join_outcomes(self, outcomes: list[tuple[str, Any, float]]) -> None:
        join = self._join
        try:
            matches = join.add_outcomes(outcomes)  # checks every ts first, adds none if one is bad
        except MalformedEventError:  # a non-finite ts among them: counted, the others joined
            valid = [o for o in outcomes if math.isfinite(o[2])]
            self._dropped["outcome_invalid"] += len(outcomes) - len(valid)
            matches = join.add_outcomes(valid)
        self._count_matches(matches)
        join.expire(self._clock())

    def _count_matches(self, matches: list[MatchFields], force: bool = False) -> None:
        """Count matched pairs (the fields of :class:`~aimon.quality.join.Match`) into the
        quality of the slice of their later time; before the task is known, gather pairs
        until there are enough to infer it."""
        if matches:
            self._unplaced += [(ots if ots > pts else pts, actual, prediction)  # the later
                               for _, _, prediction, actual, pts, ots in matches]  # fmt: skip
            self._fold_outputs("target", [m[3] for m in matches])
        pending = self._unplaced
        if not pending:
            return
        if self._quality_task is None:
            if len(pending) < _INFER_PAIRS and not force:
                return
            try:
                task = infer_task([p[1] for p in pending], [p[2] for p in pending])
            except QualityError:
                self._dropped["outcome_invalid"] += len(pending)
                self._unplaced = []
                return
            if task is None:  # no complete pair yet
                return
            self._quality_task = task
        self._unplaced = []
        when = np.array([p[0] for p in pending], dtype=np.float64)
        sids, live, _, _ = self._window.place(when, self._clock())
        for sid in np.unique(sids[live]).tolist():
            rows = np.flatnonzero(live & (sids == sid)).tolist()
            target = self._window.slice_for(sid)
            if target.quality is None:
                task = self._quality_task
                _, positive, threshold = self._quality_settings
                target.quality = QualityStats(task, positive_label=positive, threshold=threshold)
            actuals = [pending[i][1] for i in rows]
            predicted = [pending[i][2] for i in rows]
            invalid = _add_fitting(target.quality, actuals, predicted)
            if invalid:
                self._dropped["outcome_invalid"] += invalid

    def count_dropped(self, reason: str, count: int = 1) -> None:
        """Count events that never reached the monitor (e.g. ``malformed`` log lines); they
        appear in ``snapshot().dropped`` and ``aimon_events_dropped_total{reason}``."""
        with self._fold_lock:
            self._dropped[reason] += count

    # -- folding -----------------------------------------------------------------------

    def flush(self) -> None:
        """Fold everything buffered so far into the window (also done in the background)."""
        with self._fold_lock:
            recorder = self._recorder
            for channel in recorder.channels:
                records = channel.buffer.copy()
                # Appends racing with the copy land after these records and stay for next time.
                del channel.buffer[: len(records)]
                inputs = channel.inputs.copy()
                del channel.inputs[: len(inputs)]
                if not records and not inputs:
                    continue
                started = time.perf_counter()
                stride = channel.plan_stride(len(records), started)
                if recorder.on_full is not None:  # a batch job: the caller waits, never shed
                    stride = 1
                if stride > 1 and inputs:
                    inputs = self._sample(inputs, stride)
                try:
                    part = self._columns(records, inputs, channel.capture)
                    outputs = _record_outputs(records, channel.capture)
                    if self._event_log is not None:
                        self._log_events(part, outputs)
                    self._fold(part)
                    self._fold_outputs("prediction", outputs)
                    self._join_predictions(part, outputs)
                    profiled_from = time.perf_counter()
                    profiled = self._fold_inputs(part)
                    channel.learn(
                        len(records), profiled_from - started,
                        profiled, time.perf_counter() - profiled_from,
                    )  # fmt: skip
                except Exception as exc:
                    recorder.internal_error(exc)
            outcomes = self._outcome_queue.copy()
            del self._outcome_queue[: len(outcomes)]
            try:
                self._join_outcomes(outcomes)
            except Exception as exc:
                recorder.internal_error(exc)

    def _log_events(self, part: _Part, outputs: Sequence[Any]) -> None:
        """Append the part's events to the event log (one JSON line each)."""
        assert self._event_log is not None
        sources = part.inputs or []
        ids = part.request_ids
        events = [
            Event(
                ts=float(part.ts[i]),
                model=self.name,
                version=self.version,
                latency_s=_finite_or_none(part.latency[i]),
                error=part.errors[i],
                input_size=_size_or_none(part.in_size[i]),
                output_size=_size_or_none(part.out_size[i]),
                features=_loggable_features(sources[i] if i < len(sources) else None),
                prediction=_loggable_prediction(outputs[i]),
                request_id=None if ids is None else ids[i],
            )
            for i in range(len(part.ts))
        ]
        self._event_log.write(events)

    def _sample(self, inputs: list[Any], stride: int) -> list[Any]:
        """Keep each input with probability 1/stride (None marks one not profiled)."""
        keep = (self._rng.random(len(inputs)) * stride < 1.0).tolist()
        self._totals.features_skipped += keep.count(False)
        return [x if k else None for x, k in zip(inputs, keep, strict=True)]

    def _columns(
        self, records: list[tuple[Any, ...]], inputs: list[Any], capture: Capture | None
    ) -> _Part:
        """Turn one channel's records into columns (record layouts: see decorator.py)."""
        n = len(records)
        now = self._clock()
        offset = now - time.perf_counter()
        prefix = list(zip(*records)) if records else [()] * 7  # noqa: B905 - ragged
        starts = np.asarray(prefix[0], dtype=np.float64)
        ts = starts + offset
        latency = np.asarray(prefix[1], dtype=np.float64)
        in_size = np.full(n, np.nan)
        out_size = np.full(n, np.nan)
        errors: list[str | None] = [None] * n
        label = self._totals.error_label
        if capture is OBSERVED:
            for i, cls in enumerate(prefix[2]):
                if cls is not None:
                    errors[i] = label(cls.__name__)
            for i, (size_in, size_out) in enumerate(prefix[4]):
                if size_in is not None:
                    in_size[i] = size_in
                if size_out is not None:
                    out_size[i] = size_out
            features = list(prefix[3])
            given = list(prefix[6])
            ids = given if given.count(None) != n else None
            if not any(f is not None for f in features):
                return _Part(ts, latency, errors, in_size, out_size, request_ids=ids)
            return _Part(ts, latency, errors, in_size, out_size, features, ts, request_ids=ids)
        latency -= starts  # a watched call's record holds its end: less work for the caller
        lengths = np.fromiter(map(len, records), dtype=np.int64, count=n)
        for i in np.flatnonzero(lengths == _FAILED_CALL).tolist():
            errors[i] = label(records[i][4].__name__)
        ids, unasked = self._call_ids(prefix[0], prefix[3]) if n else (None, None)
        if capture is None:
            return _Part(ts, latency, errors, in_size, out_size, request_ids=ids, unasked=unasked)
        if capture.sizes:
            results = prefix[2]
            if set(map(type, results)) <= {float, type(None)}:  # the usual score: vectorised
                out_size[:] = 8.0
            else:
                out_size[:] = [payload_size(result) for result in results]
            out_size[[i for i, e in enumerate(errors) if e is not None]] = np.nan
        # Inputs pair with records by position; a race between two threads' appends can swap
        # two neighbours, which only matters for the slice a feature row lands in. Inputs
        # whose record is not drained yet (or was drained last time) are placed at now.
        input_ts = np.full(len(inputs), now)
        paired = min(n, len(inputs))
        input_ts[:paired] = ts[:paired]
        if KeywordInput in set(map(type, inputs)):
            sources = [capture.input_of(recorded) for recorded in inputs]
        else:
            sources = inputs
        if not capture.features:  # sizes only
            in_size[:paired] = [
                math.nan if source is None else payload_size(source) for source in sources[:paired]
            ]
            return _Part(ts, latency, errors, in_size, out_size, request_ids=ids, unasked=unasked)
        return _Part(
            ts, latency, errors, in_size, out_size, sources, input_ts, capture.sizes,
            capture.extractor, ids, unasked,
        )  # fmt: skip

    def _extract_safely(self, extractor: FeatureExtractor, source: Any) -> Any:
        try:
            return extractor(source)
        except Exception as exc:  # a user's extractor failing loses no event
            self._recorder.internal_error(exc)
            return None

    def _fold(self, part: _Part) -> None:
        """Count one part into the totals and its live events into the window."""
        now = self._clock()
        sids, live, late, future = self._window.place(part.ts, now)
        if late.any():
            self._dropped["late"] += int(late.sum())
        if future.any():
            self._dropped["future"] += int(future.sum())
        counted = live | late  # late events still count in the totals, just not the window
        totals = self._totals
        totals.calls += int(counted.sum())
        errors = part.errors
        any_errors = errors.count(None) != len(errors)
        if any_errors:
            totals.errors.update(e for e, c in zip(errors, counted, strict=True) if e and c)
        totals.latency.add_many(part.latency[counted])
        totals.input_size.add_many(part.in_size[counted])
        totals.output_size.add_many(part.out_size[counted])
        for sid in np.unique(sids[live]).tolist():
            mask = live & (sids == sid)
            self._window.slice_for(sid).add(
                part.latency[mask],
                [e for e, m in zip(errors, mask, strict=True) if e and m] if any_errors else [],
                part.in_size[mask],
                part.out_size[mask],
            )

    def _fold_inputs(self, part: _Part) -> int:
        """Features (and, for watched calls, input sizes) slice by slice, in one pass each.
        Returns how many inputs were profiled."""
        inputs, input_ts, sizes = part.inputs, part.input_ts, part.sizes_from_inputs
        if inputs is None or input_ts is None:
            return 0
        profiled = 0
        sids, live, late, _ = self._window.place(input_ts, self._clock())
        groups: list[tuple[int | None, NDArray[np.bool_]]] = [
            (sid, live & (sids == sid)) for sid in np.unique(sids[live]).tolist()
        ]
        if late.any():
            groups.append((None, late))
        for sid, mask in groups:
            if len(groups) == 1 and mask.all():
                sources = inputs
            else:
                sources = [inputs[i] for i in np.flatnonzero(mask).tolist()]
            if any(source is None for source in sources):  # sampled out, or no features
                sources = [source for source in sources if source is not None]
            if not sources:
                continue
            profiled += len(sources)
            input_sizes: NDArray[np.float64] | None = None
            if part.extractor is None:
                batch = extract_many(sources, max_features=self._max_features, sizes=sizes)
                input_sizes = batch.input_sizes
            else:  # sizes are the raw inputs', features what the user's extractor returns
                if sizes:
                    input_sizes = np.array([payload_size(x) for x in sources], dtype=np.float64)
                rows = [self._extract_safely(part.extractor, x) for x in sources]
                rows = [row for row in rows if row is not None]
                batch = extract_many(rows, max_features=self._max_features)
            if input_sizes is not None:
                self._totals.input_size.add_many(input_sizes)
                if sid is not None:
                    self._window.slice_for(sid).input_size.add_many(input_sizes)
            if batch.n_rows:
                self._count_missing(batch)
                if sid is not None:
                    self._window.add_features(sid, batch)
                if self._drift is not None:
                    self._drift.add(batch, float(input_ts[mask].max()))
        return profiled

    def _fold_outputs(self, role: Literal["prediction", "target"], values: Sequence[Any]) -> None:
        """Count the model's outputs (``"prediction"``; None: no output) or matched outcomes
        (``"target"``: label drift, the truth moved whatever the model made of it) against
        the reference's column of that role, if it names one."""
        drift = self._drift
        name = getattr(drift.reference, role) if drift is not None else None
        if drift is None or name is None or not values:
            return
        batch = prediction_batch(name, values)
        if batch is not None:
            drift.add_column(name, batch, self._clock())

    def _count_missing(self, batch: FeatureBatch) -> None:
        totals = self._totals
        for name, column in batch.columns.items():
            present = column.present_mask()
            missing = batch.n_rows - int(present.sum())
            totals.feature_values[name] += batch.n_rows - missing
            if missing:
                totals.feature_missing[name] += missing
        for name in totals.feature_values.keys() - batch.columns.keys():
            # A known feature absent from these rows is missing there (as in the window).
            totals.feature_missing[name] += batch.n_rows

    # -- reading -----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Fold what is buffered and return the state over the rolling window."""
        self.flush()
        with self._fold_lock:
            if self._unplaced:
                self._count_matches([], force=True)
            now = self._clock()
            view = self._window.view(now, self._started)
            total = view.total
            totals = self._totals
            dropped = dict(self._dropped)
            recorder = self._recorder
            if recorder.overflow:
                dropped["buffer_full"] = recorder.overflow
            error_count = sum(total.errors.values())
            optional_parts: dict[str, Any] = {}
            feature_bins: dict[str, dict[str, int]] = {}
            if self._drift is not None:
                drift, drift_window, reference_bins = drift_snapshot(self._drift, now)
                optional_parts = {
                    "drift": drift,
                    "drift_window": drift_window,
                    "reference_bins": reference_bins,
                }
                feature_bins = bin_total_counts(self._drift)
            alerting = self._alerting
            if alerting is not None:
                optional_parts["alerts"] = alerting.active()
                optional_parts["rule_states"] = alerting.rule_states()
            joined = self._join.counts()
            if joined.outcomes_total or joined.predictions_held:
                optional_parts["outcomes"] = {
                    **joined.outcome_results,
                    "waiting": joined.waiting,
                    "predictions_held": joined.predictions_held,
                }
            if total.quality is not None:
                optional_parts["quality"] = total.quality.metrics()
            if self._reference_quality is not None:
                optional_parts["reference_quality"] = self._reference_quality
                optional_parts["quality_change"] = quality_change(
                    optional_parts.get("quality"), self._reference_quality
                )
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
                    features_skipped=totals.features_skipped,
                    feature_bins=feature_bins,
                    notifications=alerting.notifications() if alerting is not None else {},
                ),
                **optional_parts,
            )

    # -- alerts ------------------------------------------------------------------------

    def check(self) -> list[Alert]:
        """Evaluate the rules now, dispatch the alerts to the sinks, and return the active
        (pending and firing) alerts. Without thresholds or sinks there is nothing to check."""
        if self._alerting is None:
            return []
        return self._alerting.check(self.snapshot(), self._clock())

    def _check_if_due(self) -> None:
        alerting = self._alerting
        if alerting is not None and alerting.due(self._clock()):
            try:
                self.check()
            except Exception as exc:  # never let alerting kill the fold thread
                self._recorder.internal_error(exc)

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
        if self._alerting is not None:
            self._alerting.close(timeout)
        if self._event_log is not None:
            self._event_log.close()
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


# A watched call's record is (start, end, result, tag), or (start, end, None, tag, error)
# when it raised (the tag: the thread's ident or the given request id, see
# aimon.collectors.decorator); an observed one is (start, latency, error, features, sizes,
# prediction, request id).
_FAILED_CALL = 5


def _record_outputs(records: list[tuple[Any, ...]], capture: Capture | None) -> list[Any]:
    """The model's output in each record (None for a watched call that raised)."""
    if capture is OBSERVED:
        return [r[5] for r in records]
    return [r[2] if len(r) != _FAILED_CALL else None for r in records]


def _numbers(
    values: Sequence[float | None] | NDArray[np.float64] | None, n: int
) -> NDArray[np.float64]:
    """A float column of length ``n``; None (or no column at all) is NaN."""
    if values is None:
        return np.full(n, np.nan)
    column = np.array(values, dtype=np.float64)  # None -> NaN
    if column.shape != (n,):
        raise ValueError("observe_many: every column must have the length of ts")
    return column


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _size_or_none(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


def _loggable_features(source: Any) -> dict[str, Any] | None:
    return dict(source) if isinstance(source, dict) else None


def _loggable_prediction(output: Any) -> Any:
    """Scalars, and short lists of scalars, are logged; anything else is not."""
    if output is None or isinstance(output, bool | int | float | str):
        return output
    item = getattr(output, "item", None)
    if callable(item) and getattr(output, "size", 1) == 1:
        return item()
    if isinstance(output, list | tuple) and len(output) <= 16:
        return [v for v in output if isinstance(v, bool | int | float | str)]
    return None


#: The layout of :meth:`Monitor.export_state`; a checkpoint of another is not restored.
#: 2: the join buffer of predictions and outcomes, and quality statistics per slice.
STATE_FORMAT = 2
#: The types of outputs quality scores as they are (any other goes through _quality_value).
_PLAIN_OUTPUTS = frozenset({float, int, str, bool})
#: Matched pairs gathered before the quality task is inferred (when not set).
_INFER_PAIRS = 100


def _add_fitting(stats: QualityStats, actuals: list[Any], predicted: list[Any]) -> int:
    """Add the pairs that fit the task; returns how many did not. Halves a batch that fails
    (``add`` counts nothing then), so k bad pairs in n cost about k log n adds, not n."""
    try:
        stats.add(actuals, predicted)
        return 0
    except QualityError:
        if len(actuals) == 1:
            return 1
    mid = len(actuals) // 2
    return _add_fitting(stats, actuals[:mid], predicted[:mid]) + _add_fitting(
        stats, actuals[mid:], predicted[mid:]
    )


def _quality_value(output: Any) -> Any:
    """A prediction that quality can score (a label, a score, a number), else None."""
    if output is None or isinstance(output, bool | int | float | str):
        return output
    item = getattr(output, "item", None)
    if callable(item) and getattr(output, "size", 1) == 1:
        try:
            value = item()
        except (TypeError, ValueError):
            return None
        return value if isinstance(value, bool | int | float | str) else None
    return None


def _drift_settings(
    reference: Reference | str | os.PathLike[str] | None,
    window: Duration,
    events: int | None,
    sample: int,
    methods: str | Sequence[str] | None,
    min_count: int,
) -> dict[str, Any] | None:
    """The DriftTracker's settings, checked (ConfigError names the field), or None."""
    if reference is None:
        return None
    if not isinstance(reference, Reference):
        try:
            reference = Reference.load(reference)
        except ReferenceError as exc:
            raise ConfigError(f"reference: {exc}") from None
    if events is not None and (not isinstance(events, int) or events < 12):
        raise ConfigError(f"drift_events: must be a whole number of at least 12, got {events!r}")
    if not isinstance(sample, int) or sample < 32:
        raise ConfigError(f"drift_sample: must be a whole number of at least 32, got {sample!r}")
    if not isinstance(min_count, int) or min_count < 0:
        raise ConfigError(f"drift_min_count: must be a whole number >= 0, got {min_count!r}")
    try:
        chosen = resolve_methods(methods)
    except ValueError as exc:
        raise ConfigError(f"drift_{exc}") from None
    return {
        "reference": reference,
        "window_s": parse_duration(window, "drift_window"),
        "events": events,
        "sample_size": sample,
        "methods": chosen,
        "min_count": min_count,
    }


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
        monitor._check_if_due()
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


def _flush_at_exit() -> None:
    # The fold thread is a daemon: a process that exits normally (a gunicorn worker after
    # SIGTERM, the end of a script) folds here what it had not folded yet, so the events of
    # the last flush interval still reach the window and the log_to= file.
    for monitor in list(_LIVE_MONITORS):
        if not monitor._closed:
            monitor.flush()


atexit.register(_flush_at_exit)
