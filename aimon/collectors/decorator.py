"""The in-process collector: decorators that record each call of a predict function.

The hot path is written for speed on purpose: read a clock, call the user's function, read the
clock again, append one small tuple to the watched function's bounded buffer. Features and
payload sizes are computed later from the recorded arguments, in the fold step, off the
caller's time.

Request ids cost the caller no allocation: a call is known by its start time (the
``perf_counter`` value in its record) and its thread's ident, and its id is a function of the
two (:func:`call_id`: 32 hex digits, a bijection of the pair mixed and XORed with a random key
drawn per process, and again in a forked child), so the caller and the fold make the same id
without sharing a slot. Two calls on one thread never read the same clock value (it ticks in
nanoseconds, 100 ns on Windows, and calls on one thread start at least one watched call apart);
the per-process key keeps processes apart. Each call writes its start into a holder list
``[start, thread ident]`` held in a context variable, read by :func:`current_request_id`: an
async call sets the variable (its own holder, per task); a sync call writes into the holder of
its context and thread, setting the variable only the first time (``ContextVar.set`` costs
about 100 ns; a ``ContextVar.get``, the thread's ident and a list store about 100 together,
half of it the ident, which cannot go: threads running copies of one context, as
``asyncio.to_thread`` and web frameworks' thread pools do, share its holder). An id is made
only when someone asks: the caller (``aimon.current_request_id()``, which also notes the start
among the ids asked for), or the fold, for every call when the ids can be known later (event
log, or outcomes recorded), else only for those asked for (:func:`call_ids`). With
``watch(request_id=fn)`` the record and the holder carry ``fn(*args, **kwargs)``'s id as a
string instead of the thread ident and the start.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import numpy as np

from aimon.features import FeatureExtractor

if TYPE_CHECKING:
    from aimon.monitors import Monitor

__all__ = ["current_request_id", "monitor", "wrap"]

#: [start or given id, thread ident] of the current (or last) watched call in this context
#: and thread: the start (a float) of a call whose id is made, the id (a str) when given. The
#: default belongs to no thread, so the hot path tests one thing.
_CURRENT_CALL: contextvars.ContextVar[Sequence[Any]] = contextvars.ContextVar(
    "aimon_request_id", default=(None, -1)
)
_ident = threading.get_ident


def _new_holder() -> list[Any]:
    holder: list[Any] = [None, _ident()]
    _CURRENT_CALL.set(holder)
    return holder


def current_request_id() -> str | None:
    """The request id of the watched call running now, or of the last one that returned in
    this thread or task; None if no watched call ran here. For a sync function that is
    the last call in this thread (read it before the next ``await`` in a coroutine that
    calls it); for an async function, the call awaited in this task.

    Made on first ask (32 hex digits) unless ``watch(request_id=...)`` gave one; the same
    id is in the call's event (and in the event log), so an outcome recorded with
    :meth:`aimon.Monitor.record_outcome` under it joins that prediction.

    >>> import aimon
    >>> mon = aimon.Monitor("rid-doc")
    >>> predict = mon.watch(lambda x: 2 * x)
    >>> _ = predict(1)
    >>> rid = aimon.current_request_id()
    >>> len(rid), rid == aimon.current_request_id()
    (32, True)
    >>> mon.close()
    """
    mark, thread = _CURRENT_CALL.get()
    if mark is None or thread != _ident():
        return None
    if mark.__class__ is str:
        return mark
    if mark not in _ASKED:
        _ASKED[mark] = None
        if len(_ASKED) > _ASKED_LIMIT:
            _forget_oldest_asks()
    return call_id(mark, thread)


# -- ids from (start, thread) ---------------------------------------------------------------

_MASK = (1 << 64) - 1
_M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9  # odd 64-bit multipliers (splitmix64)
_DOUBLE, _WORD = struct.Struct("<d"), struct.Struct("<Q")
_KEY = [0, 0]


def _new_key() -> None:
    _KEY[:] = [int.from_bytes(os.urandom(8), "little"), int.from_bytes(os.urandom(8), "little")]


_new_key()


def call_id(start: float, thread: int) -> str:
    """The request id of the watched call that started at ``start`` on thread ``thread``.

    Two Feistel rounds (a bijection of the pair of 64-bit words, so distinct calls get
    distinct ids), then the process's random key (so processes do not share ids).

    >>> call_id(12.5, 7) == call_id(12.5, 7) != call_id(12.5, 8)
    True
    """
    (x,) = _WORD.unpack(_DOUBLE.pack(start))
    y = thread & _MASK
    y ^= ((x ^ (x >> 31)) * _M1) & _MASK
    x ^= ((y ^ (y >> 29)) * _M2) & _MASK
    return f"{x ^ _KEY[0]:016x}{y ^ _KEY[1]:016x}"


def _call_id_texts(starts: Sequence[float], threads: Sequence[int]) -> list[str]:
    """:func:`call_id` of each pair, vectorised (the fold's form)."""
    n = len(starts)
    if n == 0:
        return []
    x = np.array(starts, dtype=np.float64).view(np.uint64)
    y = np.array(threads, dtype=np.uint64)
    y ^= (x ^ (x >> np.uint64(31))) * np.uint64(_M1)
    x ^= (y ^ (y >> np.uint64(29))) * np.uint64(_M2)
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0] = x ^ np.uint64(_KEY[0])
    words[:, 1] = y ^ np.uint64(_KEY[1])
    text = words.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


#: starts of the calls whose id the caller asked for, until the fold takes them (an id asked
#: for after the fold stays until the oldest half is forgotten, beyond _ASKED_LIMIT). Keyed by
#: start alone: another thread's call with the same start would only be held needlessly.
_ASKED: dict[float, None] = {}
_ASKED_LIMIT = 1 << 17
_ASKED_LOCK = threading.Lock()


def _forget_oldest_asks() -> None:
    with _ASKED_LOCK:
        for start in list(itertools.islice(_ASKED, len(_ASKED) // 2)):
            _ASKED.pop(start, None)


def _after_fork_in_child() -> None:
    """A child must not make its parent's ids (its buffers start empty, see Monitor)."""
    global _ASKED_LOCK
    _new_key()
    _ASKED.clear()
    _ASKED_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def call_ids(
    starts: Sequence[float], tags: Sequence[Any], every: bool
) -> tuple[list[str | None] | None, list[int] | None]:
    """The request ids of watched calls from their records' starts and tags (the thread
    ident, or the given id), for the fold.

    Args:
        starts, tags: the records' first and fourth fields.
        every: make the id of every call (they can be known later: event log, outcomes);
            else only of those the caller asked for.

    Returns:
        The ids (None: no call has one), and, with ``every``, the rows whose id nobody had
        asked for (None: none).
    """
    asked: list[int] = []
    if _ASKED:
        pop = _ASKED.pop
        asked = [i for i, start in enumerate(starts) if start in _ASKED]
        for i in asked:
            pop(starts[i], None)
    given = str in set(map(type, tags))
    if every:
        made = [i for i, tag in enumerate(tags) if tag.__class__ is not str] if given else None
        if made is None:
            ids: list[str | None] = list(_call_id_texts(starts, tags))
            rows: Sequence[int] = range(len(tags))
        else:
            ids = list(tags)
            texts = _call_id_texts([starts[i] for i in made], [tags[i] for i in made])
            for i, text in zip(made, texts, strict=True):
                ids[i] = text
            rows = made
        if asked:
            skip = set(asked)
            unasked = [i for i in rows if i not in skip]
        else:
            unasked = list(rows)
        return ids, unasked or None
    if not given and not asked:
        return None, None
    ids = [tag if tag.__class__ is str else None for tag in tags]
    for i in asked:
        if ids[i] is None:
            ids[i] = call_id(starts[i], tags[i])
    return ids, None


F = TypeVar("F", bound=Callable[..., Any])

# The wrapper is generated from one template for sync/async and with/without argument capture,
# so that each variant is straight-line code with no per-call branching on settings (the way
# dataclasses generates __init__), without four hand-kept copies of the same function.
# Records are (start, end, result, tag) or (start, end, None, tag, error class): the fold
# subtracts (one float fewer for the caller); the tag is the thread's ident or the given
# request id (see the module's notes). With capture, the call's input goes to a separate
# list: a tuple that holds a dict is never untracked by the garbage collector, so keeping
# inputs inside the records would make every buffered call a long-lived GC object and bring
# full collections (100 ms pauses on a large heap) much sooner.
_TEMPLATE = """
def make_wrapper(fn, buffer, inputs, capacity, high_water, recorder, clock, index, Kwargs,
                 given_id, get_holder, new_holder, ident):
    append = buffer.append
    keep = inputs.append

    {async_}def watched(*args, **kwargs):
        {given}
        {hold}
        start = clock()
        {mark}
        try:
            result = {await_}fn(*args, **kwargs)
        except Exception as exc:
            end = clock()
            try:
                n = len(buffer)
                if n < capacity or recorder.make_room():
                    append((start, end, None, tag, exc.__class__))
                    {keep_input}
                    if n >= high_water:
                        recorder.wake()
            except Exception as own:  # aimon's failure must not replace the user's exception
                recorder.internal_error(own)
            raise
        end = clock()
        try:
            n = len(buffer)
            if n < capacity or recorder.make_room():
                append((start, end, result, tag))
                {keep_input}
                if n >= high_water:
                    recorder.wake()
        except Exception as own:  # nor reach the caller at all
            recorder.internal_error(own)
        return result

    return watched
"""


_HOLD_SYNC = """holder = get_holder()
        tag = ident()
        if holder[1] != tag:
            holder = new_holder()"""
_HOLD_ASYNC = """holder = new_holder()
        tag = holder[1]"""
_MARK = "holder[0] = start"
_MARK_GIVEN = """if rid is None:
            holder[0] = start
        else:
            holder[0] = tag = rid"""


def _compile(is_async: bool, capture: bool, ids: bool) -> Callable[..., Callable[..., Any]]:
    source = _TEMPLATE.format(
        given="rid = given_id(args, kwargs)" if ids else "",
        hold=_HOLD_ASYNC if is_async else _HOLD_SYNC,
        mark=_MARK_GIVEN if ids else _MARK,
        async_="async " if is_async else "",
        await_="await " if is_async else "",
        keep_input="keep(args[index] if len(args) > index else Kwargs(kwargs))" if capture else "",
    )
    namespace: dict[str, Any] = {}
    name = f"<aimon wrapper async={is_async} capture={capture} ids={ids}>"
    exec(compile(source, name, "exec"), namespace)
    return cast(Callable[..., Callable[..., Any]], namespace["make_wrapper"])


_MAKERS = {
    (a, c, i): _compile(a, c, i)
    for a in (False, True)
    for c in (False, True)
    for i in (False, True)
}


def _given_id_maker(
    request_id: Callable[..., Any], recorder: Any
) -> Callable[[tuple[Any, ...], dict[str, Any]], str | None]:
    """The id the user's function reads from a call's arguments, as text (None when it
    returns None or fails: the call's id is then made like any other)."""

    def given_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        try:
            rid = request_id(*args, **kwargs)
        except Exception as exc:  # the user's id function failing must not fail the call
            recorder.internal_error(exc)
            return None
        return None if rid is None else str(rid)

    return given_id


def wrap(
    mon: Monitor,
    fn: F,
    *,
    features: bool | FeatureExtractor = True,
    sizes: bool = True,
    request_id: Callable[..., Any] | None = None,
) -> F:
    """Wrap ``fn`` (sync or async function, method, classmethod or staticmethod) so each call
    is recorded by ``mon``. See :meth:`aimon.Monitor.watch`.

    Raises:
        TypeError: ``fn`` is not callable, or is a generator function (its work happens
            after the call returns, so its latency cannot be measured by wrapping the call).
    """
    if isinstance(fn, classmethod | staticmethod):
        inner = wrap(mon, fn.__func__, features=features, sizes=sizes, request_id=request_id)
        return cast(F, type(fn)(inner))
    if not callable(fn):
        raise TypeError(f"aimon can only watch callables, got {type(fn).__name__}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"aimon cannot watch generator function {fn.__qualname__!r}: "
            "wrap the function that consumes it, or record with Monitor.observe()"
        )
    from aimon.monitors import Capture, KeywordInput

    capture = Capture(features=features, sizes=sizes, skip_first=_takes_self(fn))
    captures = capture.features or capture.sizes
    recorder = mon._recorder
    channel = recorder.channel(capture if captures else None)
    if request_id is not None and not callable(request_id):
        raise TypeError(f"request_id must be a callable, got {type(request_id).__name__}")
    maker = _MAKERS[(inspect.iscoroutinefunction(fn), captures, request_id is not None)]
    watched = maker(
        fn,
        channel.buffer,
        channel.inputs,
        recorder.capacity,
        recorder.high_water,
        recorder,
        time.perf_counter,
        1 if capture.skip_first else 0,
        KeywordInput,
        None if request_id is None else _given_id_maker(request_id, recorder),
        _CURRENT_CALL.get,
        _new_holder,
        _ident,
    )
    functools.update_wrapper(watched, fn)
    watched.__aimon_monitor__ = mon  # type: ignore[attr-defined]
    return cast(F, watched)


def _takes_self(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] in ("self", "cls")


@overload
def monitor(fn: F, /) -> F: ...


@overload
def monitor(
    *,
    name: str | None = None,
    version: str | None = None,
    features: bool | FeatureExtractor = True,
    sizes: bool = True,
    **settings: Any,
) -> Callable[[F], F]: ...


def monitor(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    version: str | None = None,
    features: bool | FeatureExtractor = True,
    sizes: bool = True,
    **settings: Any,
) -> F | Callable[[F], F]:
    """Record calls of ``fn`` with the Monitor registered under ``name``.

    Bare ``@aimon.monitor`` uses a Monitor named after the function; ``@aimon.monitor(name=
    "fraud", version="1.4")`` shares one Monitor among all functions that name it. Further
    keyword arguments are Monitor settings used when the Monitor is first created. Get the
    Monitor back with :func:`aimon.get_monitor` or the wrapper's ``__aimon_monitor__``.

    >>> @monitor
    ... def predict(x):
    ...     return 2 * x
    >>> predict(21)
    42
    >>> predict.__aimon_monitor__.snapshot().count
    1
    >>> predict.__aimon_monitor__.close()
    """
    from aimon.monitors import get_monitor

    def decorate(func: F) -> F:
        target = getattr(func, "__func__", func)
        model = name or getattr(target, "__name__", None) or "default"
        if version is not None:
            settings["version"] = version
        return wrap(get_monitor(model, **settings), func, features=features, sizes=sizes)

    return decorate(fn) if fn is not None else decorate
