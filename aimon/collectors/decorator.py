"""The in-process collector: the wrapper that records each call of a predict function.

The hot path is written for speed on purpose: note the call in the request-id holder
(:mod:`aimon.request_ids`), read a clock, call the user's function, read the clock again,
append the result (and the input, when features or sizes are captured) and the two times to
this thread's buffer of the function's channel (:mod:`aimon.recording`). Features and payload
sizes are computed later from the recorded arguments, in the fold step, off the caller's time.
A call that raised takes the slower path (:meth:`~aimon.recording.ThreadBuffer.append_failure`).

The wrappers are plain closures, one for sync and one for async functions; the settings they
read per call are locals of the closure.

Calls still running (a hung request) are found without a cost on the hot path:
:func:`running_starts` reads the start of each sync wrapper's frame on the threads' stacks;
an async call, suspended off any stack, notes its start in its channel's ``running``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable, Collection
from types import CodeType, FrameType
from typing import Any, TypeVar, cast

from aimon.features import FeatureExtractor
from aimon.recording import Capture, Channel, KeywordInput, Recorder
from aimon.request_ids import get_holder, new_holder, thread_ident

__all__ = ["running_starts", "wrap"]

F = TypeVar("F", bound=Callable[..., Any])
GivenId = Callable[[tuple[Any, ...], dict[str, Any]], "str | None"]


def wrap(
    recorder: Recorder,
    fn: F,
    *,
    features: bool | FeatureExtractor = True,
    sizes: bool = True,
    request_id: Callable[..., Any] | None = None,
) -> F:
    """Wrap ``fn`` (sync or async function, method, classmethod or staticmethod) so each call
    is recorded into a new channel of ``recorder``. See :meth:`aimon.Monitor.watch`.

    Raises:
        TypeError: ``fn`` is not callable, or is a generator function (its work happens
            after the call returns, so its latency cannot be measured by wrapping the call),
            or ``request_id`` is not callable.
    """
    if isinstance(fn, classmethod | staticmethod):
        inner = wrap(recorder, fn.__func__, features=features, sizes=sizes, request_id=request_id)
        return cast(F, type(fn)(inner))
    if not callable(fn):
        raise TypeError(f"aimon can only watch callables, got {type(fn).__name__}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"aimon cannot watch generator function {fn.__qualname__!r}: "
            "wrap the function that consumes it, or record with Monitor.observe()"
        )
    if request_id is not None and not callable(request_id):
        raise TypeError(f"request_id must be a callable, got {type(request_id).__name__}")
    capture = Capture(features=features, sizes=sizes, skip_first=_takes_self(fn))
    channel = recorder.channel(capture if capture.inputs else None, request_id is not None)
    given = None if request_id is None else _given_id(request_id, recorder)
    make = _async_wrapper if inspect.iscoroutinefunction(fn) else _sync_wrapper
    watched = make(fn, recorder, channel, 1 if capture.skip_first else 0, given)
    functools.update_wrapper(watched, fn)
    return cast(F, watched)


def _recorders(
    recorder: Recorder, channel: Channel, index: int, given_id: GivenId | None
) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two appends of a watched call into its thread's buffer: a call that returned, and
    one that raised. Either one's failure is counted, never raised."""
    get_buffer = channel.buffers.get
    new_buffer = channel.new_buffer
    crowded = recorder.crowded
    internal_error = recorder.internal_error
    keeps_inputs = channel.keeps_inputs

    def returned(thread: int, start: float, end: float, result: Any, args: Any, kwargs: Any,
                 rid: str | None) -> None:  # fmt: skip
        try:
            buffer = get_buffer(thread)  # not `or`: an empty buffer is falsy (__len__)
            if buffer is None:
                buffer = new_buffer(thread)
            times = buffer.times
            if len(times) < buffer.mark or crowded(channel, buffer):
                buffer.results.append(result)
                if keeps_inputs:
                    buffer.inputs.append(_input(args, kwargs, index))  # type: ignore[union-attr]
                if given_id is not None:
                    buffer.ids.append(rid)  # type: ignore[union-attr]
                times.append(start)
                times.append(end)
        except Exception as own:  # aimon's failure must not reach the caller
            internal_error(own)

    def raised(thread: int, start: float, end: float, error: type[BaseException], args: Any,
               kwargs: Any, rid: str | None) -> None:  # fmt: skip
        try:
            buffer = get_buffer(thread)  # not `or`: an empty buffer is falsy (__len__)
            if buffer is None:
                buffer = new_buffer(thread)
            if len(buffer.times) < buffer.mark or crowded(channel, buffer):
                data = _input(args, kwargs, index) if keeps_inputs else None
                buffer.append_failure(start, end, error, data, rid)
        except Exception as own:  # nor replace the user's exception
            internal_error(own)

    return returned, raised


def _sync_wrapper(
    fn: Callable[..., Any],
    recorder: Recorder,
    channel: Channel,
    index: int,
    given_id: GivenId | None,
) -> Callable[..., Any]:
    # Hot path: every name the call reads is a local of this closure, and the append of a
    # call that returned is written out here rather than called (a call costs ~70 ns, a
    # tenth of the wrapper's own cost); it does what _recorders' `returned` does.
    get_buffer = channel.buffers.get
    new_buffer = channel.new_buffer
    crowded = recorder.crowded
    internal_error = recorder.internal_error
    keeps_inputs = channel.keeps_inputs
    _, raised = _recorders(recorder, channel, index, given_id)
    clock = time.perf_counter
    holder_of = get_holder
    ident = thread_ident

    def watched(*args: Any, **kwargs: Any) -> Any:
        rid = None if given_id is None else given_id(args, kwargs)
        holder = holder_of()
        thread = ident()
        if holder[1] != thread:
            holder = new_holder()
        start = clock()
        holder[0] = start if rid is None else rid  # type: ignore[index]
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            raised(thread, start, clock(), exc.__class__, args, kwargs, rid)
            raise
        end = clock()
        try:
            buffer = get_buffer(thread)  # not `or`: an empty buffer is falsy (__len__)
            if buffer is None:
                buffer = new_buffer(thread)
            times = buffer.times
            if len(times) < buffer.mark or crowded(channel, buffer):
                buffer.results.append(result)
                if keeps_inputs:
                    buffer.inputs.append(args[index] if len(args) > index else KeywordInput(kwargs))  # type: ignore[union-attr]
                if given_id is not None:
                    buffer.ids.append(rid)  # type: ignore[union-attr]
                times.append(start)
                times.append(end)
        except Exception as own:  # aimon's failure must not reach the caller
            internal_error(own)
        return result

    return watched


def _async_wrapper(
    fn: Callable[..., Any],
    recorder: Recorder,
    channel: Channel,
    index: int,
    given_id: GivenId | None,
) -> Callable[..., Any]:
    # Each task has a holder of its own, and nothing awaits between reading the end and
    # appending, so tasks on one thread never interleave there.
    returned, raised = _recorders(recorder, channel, index, given_id)
    clock = time.perf_counter

    running = channel.running

    async def watched(*args: Any, **kwargs: Any) -> Any:
        rid = None if given_id is None else given_id(args, kwargs)
        holder = new_holder()
        start = clock()
        holder[0] = start if rid is None else rid
        key = id(holder)
        running[key] = start
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            raised(holder[1], start, clock(), exc.__class__, args, kwargs, rid)
            raise
        finally:
            running.pop(key, None)
        returned(holder[1], start, clock(), result, args, kwargs, rid)
        return result

    return watched


#: The code of the sync wrapper's call: its frames on a stack are calls in flight.
_SYNC_CALL = next(
    code
    for code in _sync_wrapper.__code__.co_consts
    if isinstance(code, CodeType) and code.co_name == "watched"
)


def running_starts(channels: Collection[Channel]) -> list[float]:
    """The ``perf_counter`` starts of the watched calls of ``channels`` running now."""
    wanted = {id(channel) for channel in channels}
    starts: list[float] = []
    for top in sys._current_frames().values():
        frame: FrameType | None = top
        while frame is not None:
            if frame.f_code is _SYNC_CALL:
                local = frame.f_locals  # the call's start, channel; its end once it returned
                if "end" not in local and id(local.get("channel")) in wanted:
                    start = local.get("start")
                    if start is not None:
                        starts.append(start)
            frame = frame.f_back
    for channel in channels:
        starts.extend(list(channel.running.values()))
    return starts


def _input(args: tuple[Any, ...], kwargs: dict[str, Any], index: int) -> Any:
    """What a call's input is read from: its first real positional argument, else its
    keyword arguments."""
    return args[index] if len(args) > index else KeywordInput(kwargs)


def _given_id(request_id: Callable[..., Any], recorder: Recorder) -> GivenId:
    """The id the user's function reads from a call's arguments, as text (None when it
    returns None or fails: the call's id is then made like any other)."""

    def given_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        try:
            rid = request_id(*args, **kwargs)
            return None if rid is None else str(rid)
        except Exception as exc:  # the user's id function failing must not fail the call
            recorder.internal_error(exc)
            return None

    return given_id


def _takes_self(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] in ("self", "cls")
