"""The Monitor's hand-recording API: calls and outcomes given by the caller rather than
seen by a watched function.

* :meth:`HandRecording.observe`: one call, appended to its thread's buffer (the fold takes it);
* :meth:`HandRecording.observe_many`: many calls given as columns (:func:`call_columns`),
  folded at once: the path of the sidecar and of batch jobs;
* :meth:`HandRecording.record_outcome`, :meth:`HandRecording.record_outcomes`: outcomes
  (ground truth) queued, or joined with their predictions at once;
* :meth:`HandRecording.count_dropped`, :meth:`HandRecording.known_request_ids`: what the
  sidecar needs to count lines it could not read and to route outcomes.

:class:`~aimon.monitors.Monitor` is the one class made from it; these methods are the
Monitor's, documented and called as such.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from aimon.columns import Columns
from aimon.fold import Fold
from aimon.live_quality import LiveQuality
from aimon.recording import Channel, Recorder

__all__ = ["HandRecording", "call_columns"]


class HandRecording:
    """The methods of :class:`~aimon.monitors.Monitor` that record by hand (a base of the
    Monitor, which makes the parts below)."""

    _recorder: Recorder  # the buffers, their drain, the internal-error count
    _observed: Channel  # the channel of observed calls
    _clock: Callable[[], float]  # wall clock in epoch seconds
    _quality: LiveQuality  # the outcome join
    _fold: Fold  # the fold (replaced in a forked child, so always read through self)

    if TYPE_CHECKING:

        def flush(self) -> None: ...

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
            latency = math.nan if latency_s is None else float(latency_s)
            if ts is None:
                start = now_perf - (0.0 if math.isnan(latency) else latency)
            else:
                start = float(ts) - (self._clock() - now_perf)
            thread = threading.get_ident()
            channel = self._observed
            buffer = channel.buffers.get(thread) or channel.new_buffer(thread)
            if len(buffer.times) < buffer.mark or self._recorder.crowded(channel, buffer):
                buffer.append_observed(
                    start, latency, _error_of(error), features,
                    (math.nan if input_size is None else float(input_size),
                     math.nan if output_size is None else float(output_size)),
                    prediction, None if request_id is None else str(request_id),
                )  # fmt: skip
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
            columns = call_columns(
                ts, latency_s, errors, features, predictions, input_size, output_size,
                request_ids,
            )  # fmt: skip
            with self._fold.lock:
                self._fold.aggregates.label_errors(columns)
                self._fold.fold_columns(columns, predictions is not None)
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
            when = self._clock() if ts is None else float(ts)
            if not self._quality.queue_outcome(request_id, actual, when):
                with self._fold.lock:
                    self._fold.aggregates.dropped["outcome_buffer_full"] += 1
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    def record_outcomes(self, outcomes: Sequence[tuple[Any, Any, float | None]]) -> None:
        """Record many ``(request_id, actual, ts)`` outcomes and join them now (the path of
        the sidecar; ``ts`` None is now). Call :meth:`observe_many` with the predictions
        first when both come in one batch (an outcome may also wait for its prediction)."""
        try:
            self._quality.outcomes_seen = True
            now = self._clock()
            with self._fold.lock:
                self._quality.join_outcomes(
                    [(str(rid), actual, now if ts is None else float(ts))
                     for rid, actual, ts in outcomes],
                    self._fold.aggregates.window, self._fold.aggregates.dropped, now,
                )  # fmt: skip
        except Exception as exc:  # aimon's own failure must not reach the caller
            self._recorder.internal_error(exc)

    def known_request_ids(self, request_ids: Sequence[str]) -> set[str]:
        """The ids whose outcome belongs to this monitor: its prediction is held here, its
        outcome is waiting here, or it is remembered here (matched or expired)."""
        self.flush()
        with self._fold.lock:
            return self._quality.knows(request_ids)

    def count_dropped(self, reason: str, count: int = 1) -> None:
        """Count events that never reached the monitor (e.g. ``malformed`` log lines); they
        appear in ``snapshot().dropped`` and ``aimon_events_dropped_total{reason}``."""
        with self._fold.lock:
            self._fold.aggregates.dropped[reason] += count


def call_columns(
    ts: Sequence[float] | NDArray[np.float64],
    latency_s: Sequence[float | None] | NDArray[np.float64] | None,
    errors: Sequence[str | None] | None,
    features: Sequence[Any] | None,
    predictions: Sequence[Any] | None,
    input_size: Sequence[float | None] | NDArray[np.float64] | None,
    output_size: Sequence[float | None] | NDArray[np.float64] | None,
    request_ids: Sequence[str | None] | None,
) -> Columns:
    """Calls given as columns (see :meth:`aimon.Monitor.observe_many`), as the fold takes them.

    Raises:
        ValueError: a given column is not of the length of ``ts``.

    >>> columns = call_columns([1.0, 2.0], [0.1, None], None, None, ["a"], None, None, None)
    >>> columns.latency.tolist(), columns.results
    ([0.1, nan], ['a', None])
    """
    when = np.asarray(ts, dtype=np.float64)
    n = when.size
    names: list[str | None] = list(errors) if errors else [None] * n
    outputs = list(predictions) if predictions is not None else []
    outputs += [None] * (n - len(outputs))  # calls past the end have none
    columns = Columns(
        when, _numbers(latency_s, n), names, _numbers(input_size, n),
        _numbers(output_size, n), outputs,
    )  # fmt: skip
    if features is not None and any(f is not None for f in features):
        columns.inputs = list(features)
    if request_ids is not None and any(r is not None for r in request_ids):
        columns.request_ids = [None if r is None else str(r) for r in request_ids]
    if (
        len(names) != n
        or (columns.inputs is not None and len(columns.inputs) != n)
        or (columns.request_ids is not None and len(columns.request_ids) != n)
    ):
        raise ValueError("observe_many: every column must have the length of ts")
    return columns


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


def _error_of(
    error: BaseException | type[BaseException] | str | None,
) -> type[BaseException] | str | None:
    """What an observed call raised: a class, or a type name as given."""
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, BaseException):
        return type(error)
    if isinstance(error, type) and issubclass(error, BaseException):
        return error
    return str(error)
