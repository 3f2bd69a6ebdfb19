"""The Monitor: one model's front, over the rooms that do the work.

* :mod:`aimon.recording`: the buffers the hot path appends to (and their drain);
* :mod:`aimon.collectors.decorator`: the wrapper of a watched function;
* :mod:`aimon.hand_recording`: calls and outcomes recorded by hand (``observe``...);
* :mod:`aimon.request_ids`: ids of watched calls, for outcomes and the event log;
* :mod:`aimon.profiling`: inputs -> features and input sizes;
* :mod:`aimon.aggregates`: the rolling window, the totals since start, the drop counts;
* :mod:`aimon.drift.tracker`: live drift against the reference;
* :mod:`aimon.live_quality`: predictions joined with outcomes, and their quality;
* :mod:`aimon.thresholds`: the rules, evaluated on an interval, and the router of their alerts;
* :mod:`aimon.lifecycle`: the fold thread, fork safety, the flush at exit;
* :mod:`aimon.snapshot_assembly`: the Snapshot, assembled from all of them.

The fold (:meth:`Monitor.flush`) is one pipeline: drain each channel into columns, then
label, identify, attach inputs, shed load, log, count, drift, join, profile.

(This module is ``monitors`` rather than ``monitor`` so that ``aimon.monitor`` can be the
decorator of the public API without shadowing a module.)
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

try:
    from typing import Unpack
except ImportError:  # Python 3.10
    from typing_extensions import Unpack

from aimon import lifecycle
from aimon.alerts.alert import Alert
from aimon.alerts.base import Sink
from aimon.alerts.router import Router
from aimon.collectors.decorator import wrap
from aimon.collectors.eventlog import EventLogWriter
from aimon.drift.reference import Reference, ReferenceError
from aimon.durations import Duration, parse_duration
from aimon.errors import ConfigError
from aimon.features import FeatureExtractor
from aimon.fold import Fold
from aimon.hand_recording import HandRecording
from aimon.live_quality import LiveQuality
from aimon.recording import OBSERVED, Recorder
from aimon.rule_engine import ThresholdsLike, make_alerting
from aimon.settings import (
    DriftSettings,
    Limits,
    QualitySettings,
    SegmentSettings,
    Shorthands,
    apply_shorthands,
    segment_settings,
)
from aimon.snapshot import Snapshot
from aimon.snapshot_assembly import assemble_snapshot

if TYPE_CHECKING:
    from aimon.exporters.http import MetricsServer

__all__ = ["Monitor"]

log = logging.getLogger("aimon")

F = TypeVar("F", bound=Callable[..., Any])


class Monitor(HandRecording):
    """Watches one model: latency, errors, sizes and features over a rolling window.

    Args:
        name: model name (the ``model`` label of every metric).
        version: model version (the ``version`` label).
        window: rolling window length (``"5m"``, seconds, or a timedelta).
        reference: a :class:`~aimon.drift.Reference` (or the path of a saved one) to measure
            drift against; each snapshot then has ``drift[feature]``.
        thresholds: the alerting rules: :class:`~aimon.thresholds.Thresholds`, a list of
            :class:`~aimon.thresholds.Rule`, or a YAML/TOML rules file. Default: none, or
            the default rules when sinks are given.
        sinks: where alerts go (:mod:`aimon.alerts`: ``LogSink()``, ``WebhookSink(...)``,
            ``AlertmanagerSink(...)``...), through a default :class:`~aimon.alerts.Router`;
            or ``router``: a Router of your own (routes by label, repeat interval...).
        log_to: also append every event, as one JSON line, to this file (or
            :class:`~aimon.collectors.eventlog.EventLogWriter`), for a sidecar to read; many
            worker processes may share the file. Written by the fold, off the caller's time;
            features are written when the input is a dict.
        clock: wall clock in epoch seconds (tests pass a fake one).
        limits: how calls are recorded and folded (:class:`~aimon.settings.Limits`: buffer
            size, ``on_full``, flush interval, slice length...).
        drift: the drift window's settings (:class:`~aimon.settings.DriftSettings`).
        quality: how outcomes are joined and scored (:class:`~aimon.settings.QualitySettings`).
        segments: features whose values each get a window, drift and data quality of their
            own (``["country", "plan"]``; or :class:`~aimon.settings.SegmentSettings` for the
            cap of values per column, 20 by default); each snapshot then has
            ``segments[column][value]``. Drift per segment needs a reference built with the
            same ``segments``.
        **shorthands: any field of those three as a keyword of its own, e.g.
            ``on_full="fold"``, ``slice="10s"``, ``drift_window="1h"``, ``drift_events=``,
            ``quality_task="binary_score"``, ``outcome_ttl="1h"`` (see
            :class:`~aimon.settings.Shorthands`).

    A call that finds its thread's buffer past half full wakes the fold thread and, when no
    fold is running, folds about a millisecond's worth of its buffer itself, so a tight loop
    loses nothing; a call is dropped (and counted, ``dropped["buffer_full"]``) only when its
    buffer is full while another thread folds (``on_full="fold"`` waits instead).

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
        reference: Reference | str | os.PathLike[str] | None = None,
        thresholds: ThresholdsLike | None = None,
        sinks: Sequence[Sink] | None = None,
        router: Router | None = None,
        log_to: str | os.PathLike[str] | EventLogWriter | None = None,
        clock: Callable[[], float] = time.time,
        limits: Limits | None = None,
        drift: DriftSettings | None = None,
        quality: QualitySettings | None = None,
        segments: Sequence[str] | SegmentSettings | None = None,
        **shorthands: Unpack[Shorthands],
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name: a monitor needs a non-empty model name")
        limits, drift, quality = apply_shorthands(limits, drift, quality, dict(shorthands))
        window_s = parse_duration(window, "window")
        if limits.slice_s > window_s:
            raise ConfigError(f"slice: {limits.slice!r} is longer than the window {window!r}")
        self.name = name
        self.version = version
        self.limits = limits
        self._window_s = window_s
        self._clock = clock
        self._reference = _load_reference(reference)
        self._drift_settings = drift
        self._segments = segment_settings(segments)
        _warn_unprofiled_segments(self._segments, self._reference, name)
        self._quality = LiveQuality(
            quality,
            None if self._reference is None else self._reference.quality,
            limits.buffer_size,
        )
        self._alerting = make_alerting(
            thresholds, sinks, router, limits.evaluation_interval_s, name, version,
            segments=self._segments.columns if self._segments is not None else (),
        )  # fmt: skip
        self._event_log = (
            log_to
            if isinstance(log_to, EventLogWriter) or log_to is None
            else EventLogWriter(log_to)
        )
        self._server: MetricsServer | None = None
        self._closed = False
        self._recorder = Recorder(
            limits.buffer_size, limits.high_water, limits.on_full == "fold", limits.held_bytes
        )
        self._observed = self._recorder.channel(OBSERVED, given_ids=True, observed=True)
        self._reset_aggregates()
        lifecycle.LIVE.add(self)
        self._start_thread()

    # -- state -------------------------------------------------------------------------

    def _reset_aggregates(self) -> None:
        self._fold = Fold(
            self.name, self.version, self._window_s, self.limits, self._drift_settings,
            self._reference, self._recorder, self._quality, self._event_log, self._clock,
            self._segments,
        )  # fmt: skip
        self._recorder.hooks = weakref.ref(self._fold)

    @property
    def _fold_lock(self) -> Any:  # the fold's RLock (tests hold it)
        return self._fold.lock

    def export_state(self) -> dict[str, Any]:
        """The aggregates (window, totals, drop counts, drift counts), folded up to now, for a
        checkpoint; :meth:`restore_state` puts them back in a Monitor of the same settings.
        Internal to aimon's own checkpoints: the objects are pickled as they are."""
        return self._fold.export_state()

    def restore_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`export_state`'s aggregates (same model and settings).

        Raises:
            ConfigError: the state is of another format, model or window.
        """
        try:
            self._fold.restore_state(state)
        except ValueError as exc:
            raise ConfigError(f"state: {exc}") from None

    def _start_thread(self) -> None:
        self._thread = lifecycle.FoldThread(
            self, self._recorder.wake_event, self.limits.flush_interval_s, self.name
        )

    @property
    def closed(self) -> bool:
        """Closed: the background thread stopped and the buffers folded."""
        return self._closed

    def after_fork_in_child(self) -> None:
        """Start clean in a forked child (called by :mod:`aimon.lifecycle`)."""
        # The parent's events are the parent's to report, and the parent's threads and
        # locks do not exist here (they may have been held at fork). The recorder object
        # stays: the wrappers made before the fork hold its channels.
        self._recorder.reset_after_fork()
        self._reset_aggregates()
        if self._alerting is not None:
            self._alerting.reset_after_fork()
        self._server = None
        if not self._closed:
            self._start_thread()

    def background_step(self) -> None:
        """What the fold thread does at each wake-up: fold, then evaluate the rules if due."""
        self.flush()
        alerting = self._alerting
        if alerting is not None and alerting.due(self._clock()):
            try:
                self.check()
            except Exception as exc:  # never let alerting kill the fold thread
                self._recorder.internal_error(exc)

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
                to the call, see :mod:`aimon.request_ids`). Either way
                :func:`aimon.current_request_id` returns it, during and after the call.

        The wrapped function behaves exactly like the original: same result, same exception
        object with the same traceback. Features and sizes are read from the arguments in
        the fold step, off the hot path; an input mutated in place right after the call may
        be seen mutated.
        """

        def decorate(func: F) -> F:
            watched = wrap(
                self._recorder, func, features=features, sizes=sizes, request_id=request_id
            )
            target: Any = getattr(watched, "__func__", watched)
            target.__aimon_monitor__ = self  # keeps the monitor alive while the wrapper is
            return watched

        return decorate(fn) if fn is not None else decorate

    # -- folding -----------------------------------------------------------------------

    def flush(self) -> None:
        """Fold everything buffered so far into the window (also done in the background)."""
        self._fold.flush()

    # -- reading -----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Fold what is buffered and return the state over the rolling window."""
        self.flush()
        with self._fold_lock:
            return assemble_snapshot(
                self.name, self.version, self._fold, self._quality, self._recorder,
                self._alerting, self._clock(),
            )  # fmt: skip

    # -- alerts ------------------------------------------------------------------------

    def check(self) -> list[Alert]:
        """Evaluate the rules now, dispatch the alerts to the sinks, and return the active
        (pending and firing) alerts. Without thresholds or sinks there is nothing to check."""
        if self._alerting is None:
            return []
        return self._alerting.check(self.snapshot(), self._clock())

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
        self._thread.stop(timeout)
        self.flush()
        if self._alerting is not None:
            self._alerting.close(timeout)
        if self._event_log is not None:
            self._event_log.close()
        if self._server is not None:
            self._server.close()
            self._server = None
        with lifecycle.named_lock():
            if lifecycle.NAMED.get(self.name) is self:
                del lifecycle.NAMED[self.name]

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Monitor(name={self.name!r}, version={self.version!r})"


def _load_reference(reference: Reference | str | os.PathLike[str] | None) -> Reference | None:
    if reference is None or isinstance(reference, Reference):
        return reference
    try:
        return Reference.load(reference)
    except ReferenceError as exc:
        raise ConfigError(f"reference: {exc}") from None


def _warn_unprofiled_segments(
    segments: SegmentSettings | None, reference: Reference | None, name: str
) -> None:
    """Say once, at start, which segment columns will have no drift: the reference has no
    profiles of their values (it was built without ``segments=[...]``)."""
    if segments is None or reference is None:
        return
    missing = [column for column in segments.columns if column not in reference.segments]
    if missing:
        log.warning(
            "monitor %s: the reference has no profiles per value of %s: those segments get "
            "windows, totals and features but no drift (build the reference with "
            "segments=[...], or aimon reference build --segment COLUMN)",
            name, ", ".join(map(repr, missing)),
        )  # fmt: skip
