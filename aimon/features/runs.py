"""Runs: consecutive inputs of one form, read as one block."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from aimon.features.alone import _one_by_one
from aimon.features.columns import _Block

_Reader = Callable[[list[Any], int, bool], Iterator[_Block]]


def _spans(keys: Sequence[Any]) -> Iterator[tuple[int, int, Any]]:
    """(start, end, key) of each span of equal consecutive keys; a ``None`` key spans one."""
    start, n = 0, len(keys)
    if n and keys[0] is not None and keys.count(keys[0]) == n:  # the usual fold: one key
        yield 0, n, keys[0]
        return
    while start < n:
        key = keys[start]
        end = start + 1
        if key is not None:
            while end < n and keys[end] == key:
                end += 1
        yield start, end, key
        start = end


def _shared(keys: Iterable[Any]) -> list[Any]:
    """``keys`` listed so that a key equal to the one before it is that same object: a run of
    equal keys holds one, not one per input for the garbage collector to walk every fold."""
    shared: list[Any] = []
    last = None
    for key in keys:
        if key != last:
            last = key
        shared.append(last)
    return shared


def _read_run(read: _Reader, run: list[Any], max_features: int, sized: bool) -> list[_Block]:
    try:
        return list(read(run, max_features, sized))
    except Exception:
        # A hostile input (a __len__ that lies, an attribute that raises...) fails the batch:
        # its run is read again one input at a time, so only that input is lost.
        return list(_one_by_one(run, max_features, sized))
