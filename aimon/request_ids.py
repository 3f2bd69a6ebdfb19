"""Request ids of watched calls, made without a per-call slot.

A call is known by its start time (the ``perf_counter`` value in its record) and its thread's
ident, and its id is a function of the two (:func:`call_id`: 32 hex digits, a bijection of the
pair mixed and XORed with a random key drawn per process, and again in a forked child), so the
caller and the fold make the same id without sharing a slot. Two calls on one thread never read
the same clock value (it ticks in nanoseconds, 100 ns on Windows, and calls on one thread start
at least one watched call apart); the per-process key keeps processes apart. Each call writes
its start into a holder list ``[start, thread ident]`` held in a context variable, read by
:func:`current_request_id`: an async call sets the variable (its own holder, per task); a sync
call writes into the holder of its context and thread, setting the variable only the first
time (``ContextVar.set`` costs about 100 ns; a ``ContextVar.get``, the thread's ident and a
list store about 100 together, half of it the ident, which cannot go: threads running copies
of one context, as ``asyncio.to_thread`` and web frameworks' thread pools do, share its
holder). An id is made only when someone asks: the caller (``aimon.current_request_id()``,
which also notes the start among the ids asked for), or the fold, for every call when the ids
can be known later (event log, or outcomes recorded), else only for those asked for
(:func:`call_ids`). With ``watch(request_id=fn)`` the holder carries ``fn(*args, **kwargs)``'s
id as a string instead of the start, and the record carries it too.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import struct
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "call_id",
    "call_ids",
    "current_request_id",
    "get_holder",
    "ids_asked",
    "new_holder",
    "thread_ident",
]

#: [start or given id, thread ident] of the current (or last) watched call in this context
#: and thread: the start (a float) of a call whose id is made, the id (a str) when given. The
#: default belongs to no thread, so the hot path tests one thing.
_CURRENT_CALL: contextvars.ContextVar[Sequence[Any]] = contextvars.ContextVar(
    "aimon_request_id", default=(None, -1)
)
_ident = threading.get_ident
#: The hot path's three tools: this context's holder, a new one for this thread, the ident.
get_holder = _CURRENT_CALL.get
thread_ident = _ident


def new_holder() -> list[Any]:
    """A holder for this context and thread, set as the context's current one."""
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


def ids_asked() -> bool:
    """Some caller asked for an id the fold has not made yet."""
    return bool(_ASKED)


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
