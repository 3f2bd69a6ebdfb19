"""The in-process collector: decorators that record each call of a predict function.

The hot path is written for speed on purpose: read a clock, call the user's function, read the
clock again, append one small tuple to the watched function's bounded buffer. Features and
payload sizes are computed later from the recorded arguments, in the fold step, off the
caller's time.

Request ids: each call gets an empty ``bytearray`` as its id slot, made current for
:func:`current_request_id` through a context variable that holds a small holder list
``[slot, thread id]``. An async call sets the variable (its own holder, per task); a sync call
writes its slot into the holder of its context and thread, setting the variable only the first
time (``ContextVar.set`` costs about 200 ns, writing into the holder about 50). The id is made
only when someone asks: the caller (``aimon.current_request_id()`` during or after the call),
or the fold, which gives each event whose slot is still empty a random one (32 hex digits).
The first id written wins: a racing second write only appends, and readers take the first 32
bytes, so the caller and the fold always agree. With ``watch(request_id=fn)`` the slot starts
with ``\x01`` and ``fn(*args, **kwargs)``'s id (read whole). A bytearray, not a dict or a list:
it is not a garbage-collected type, so the record tuples holding it are untracked by the
collector like the others, and buffered records do not make collections slower.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from aimon.features import FeatureExtractor

if TYPE_CHECKING:
    from aimon.monitors import Monitor

__all__ = ["current_request_id", "monitor", "wrap"]

#: [id slot, thread ident] of the current (or last) watched call in this context and thread;
#: the slot is a bytearray: empty, 32 hex digits (made), or b"\x01" + the given id.
_CURRENT_SLOT: contextvars.ContextVar[list[Any]] = contextvars.ContextVar("aimon_request_id")
_ident = threading.get_ident


def _new_holder() -> list[Any]:
    holder: list[Any] = [None, _ident()]
    _CURRENT_SLOT.set(holder)
    return holder


def current_request_id() -> str | None:
    """The request id of the watched call running now, or of the last one that returned in
    this thread or task; None if no watched call ran here. For a sync function that is
    the last call in this thread (read it before the next ``await`` in a coroutine that
    calls it); for an async function, the call awaited in this task.

    Made on first ask (``uuid4().hex``) unless ``watch(request_id=...)`` gave one; the same
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
    holder = _CURRENT_SLOT.get(None)
    if holder is None or holder[1] != _ident() or holder[0] is None:
        return None
    slot: bytearray = holder[0]
    if not slot:
        slot.extend(uuid.uuid4().hex.encode())
    return slot_text(slot)


def slot_text(slot: bytearray) -> str:
    """The id in a non-empty slot (see the module's notes)."""
    if slot[0] == 1:
        return slot[1:].decode()
    return slot[:32].decode()


F = TypeVar("F", bound=Callable[..., Any])

# The wrapper is generated from one template for sync/async and with/without argument capture,
# so that each variant is straight-line code with no per-call branching on settings (the way
# dataclasses generates __init__), without four hand-kept copies of the same function.
# Records are (start, latency, result, id slot) or (start, latency, None, id slot, error class).
# With capture, the
# call's input goes to a separate list: a tuple that holds a dict is never untracked by the
# garbage collector, so keeping inputs inside the records would make every buffered call a
# long-lived GC object and bring full collections (100 ms pauses on a large heap) much sooner.
_TEMPLATE = """
def make_wrapper(fn, buffer, inputs, capacity, high_water, recorder, clock, index, Kwargs,
                 id_slot, get_holder, new_holder, ident, new_slot):
    append = buffer.append
    keep = inputs.append

    {async_}def watched(*args, **kwargs):
        slot = {new_slot}
        {hold}
        start = clock()
        try:
            result = {await_}fn(*args, **kwargs)
        except Exception as exc:
            latency = clock() - start
            try:
                n = len(buffer)
                if n < capacity or recorder.make_room():
                    append((start, latency, None, slot, exc.__class__))
                    {keep_input}
                    if n >= high_water:
                        recorder.wake()
            except Exception as own:  # aimon's failure must not replace the user's exception
                recorder.internal_error(own)
            raise
        latency = clock() - start
        try:
            n = len(buffer)
            if n < capacity or recorder.make_room():
                append((start, latency, result, slot))
                {keep_input}
                if n >= high_water:
                    recorder.wake()
        except Exception as own:  # nor reach the caller at all
            recorder.internal_error(own)
        return result

    return watched
"""


_HOLD_SYNC = """holder = get_holder(None)
        if holder is None or holder[1] != ident():
            holder = new_holder()
        holder[0] = slot"""
_HOLD_ASYNC = "new_holder()[0] = slot"


def _compile(is_async: bool, capture: bool, ids: bool) -> Callable[..., Callable[..., Any]]:
    source = _TEMPLATE.format(
        new_slot="id_slot(args, kwargs)" if ids else "new_slot()",
        hold=_HOLD_ASYNC if is_async else _HOLD_SYNC,
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


def _id_slot_maker(
    request_id: Callable[..., Any], recorder: Any
) -> Callable[[tuple[Any, ...], dict[str, Any]], bytearray]:
    """The slot of a call whose id the user's function reads from the call's arguments (an
    empty slot, filled later, when it returns None or fails)."""

    def id_slot(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytearray:
        try:
            rid = request_id(*args, **kwargs)
        except Exception as exc:  # the user's id function failing must not fail the call
            recorder.internal_error(exc)
            return bytearray()
        return bytearray() if rid is None else bytearray(b"\x01" + str(rid).encode())

    return id_slot


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
        None if request_id is None else _id_slot_maker(request_id, recorder),
        _CURRENT_SLOT.get,
        _new_holder,
        _ident,
        bytearray,
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
