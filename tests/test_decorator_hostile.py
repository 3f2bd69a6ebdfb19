"""Hostile inputs through the decorator: what one call brings costs that call only."""

from __future__ import annotations

from typing import Any

import pytest

import aimon


class _UnhashableMeta(type):
    """A metaclass whose classes cannot be hashed: ``type(x)`` cannot key a set or dict."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(cls, other: object) -> bool:
        return cls is other


class Hostile(metaclass=_UnhashableMeta):
    """An input or result of a class nothing can group by type."""


@pytest.mark.parametrize("where", ["input", "output", "both"])
@pytest.mark.parametrize("sizes", [True, False])
def test_an_unhashable_class_costs_its_own_call_only(where: str, sizes: bool) -> None:
    mon = aimon.Monitor("hostile", window="1h")
    try:

        @mon.watch(sizes=sizes)
        def predict(x: Any) -> Any:
            hostile_call = isinstance(x, Hostile) or x["a"] == 5.0
            return Hostile() if where != "input" and hostile_call else 0.5

        for i in range(100):
            predict(Hostile() if i == 5 and where != "output" else {"a": float(i)})
        snap = mon.snapshot()
        assert snap.count == 100
        assert snap.error_count == 0
        readable = 100 if where == "output" else 99
        assert snap.features["a"].count == readable
        if where != "output":
            assert snap.dropped["unreadable_input"] == 1
        if where != "output" or sizes:
            assert snap.internal_errors >= 1  # counted (and logged once), never raised
    finally:
        mon.close()
