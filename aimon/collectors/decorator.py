"""The in-process collector: decorators that record each call of a predict function.

The hot path is written for speed on purpose: read a clock, call the user's function, read the
clock again, append one small tuple to the watched function's bounded buffer. Features and
payload sizes are computed later from the recorded arguments, in the fold step, off the
caller's time.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from aimon.features import FeatureExtractor

if TYPE_CHECKING:
    from aimon.monitors import Monitor

__all__ = ["monitor", "wrap"]

F = TypeVar("F", bound=Callable[..., Any])

# The wrapper is generated from one template for sync/async and with/without argument capture,
# so that each variant is straight-line code with no per-call branching on settings (the way
# dataclasses generates __init__), without four hand-kept copies of the same function.
# Records are (start, latency, result) or (start, latency, None, error class). With capture, the
# call's input goes to a separate list: a tuple that holds a dict is never untracked by the
# garbage collector, so keeping inputs inside the records would make every buffered call a
# long-lived GC object and bring full collections (100 ms pauses on a large heap) much sooner.
_TEMPLATE = """
def make_wrapper(fn, buffer, inputs, capacity, high_water, recorder, clock, index, Kwargs):
    append = buffer.append
    keep = inputs.append

    {async_}def watched(*args, **kwargs):
        start = clock()
        try:
            result = {await_}fn(*args, **kwargs)
        except Exception as exc:
            latency = clock() - start
            try:
                n = len(buffer)
                if n < capacity or recorder.make_room():
                    append((start, latency, None, exc.__class__))
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
                append((start, latency, result))
                {keep_input}
                if n >= high_water:
                    recorder.wake()
        except Exception as own:  # nor reach the caller at all
            recorder.internal_error(own)
        return result

    return watched
"""


def _compile(is_async: bool, capture: bool) -> Callable[..., Callable[..., Any]]:
    source = _TEMPLATE.format(
        async_="async " if is_async else "",
        await_="await " if is_async else "",
        keep_input="keep(args[index] if len(args) > index else Kwargs(kwargs))" if capture else "",
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<aimon wrapper async={is_async} capture={capture}>", "exec"), namespace)
    return cast(Callable[..., Callable[..., Any]], namespace["make_wrapper"])


_MAKERS = {(a, c): _compile(a, c) for a in (False, True) for c in (False, True)}


def wrap(mon: Monitor, fn: F, *, features: bool | FeatureExtractor = True, sizes: bool = True) -> F:
    """Wrap ``fn`` (sync or async function, method, classmethod or staticmethod) so each call
    is recorded by ``mon``. See :meth:`aimon.Monitor.watch`.

    Raises:
        TypeError: ``fn`` is not callable, or is a generator function (its work happens
            after the call returns, so its latency cannot be measured by wrapping the call).
    """
    if isinstance(fn, classmethod | staticmethod):
        inner = wrap(mon, fn.__func__, features=features, sizes=sizes)
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
    maker = _MAKERS[(inspect.iscoroutinefunction(fn), captures)]
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
