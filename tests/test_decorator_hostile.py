"""Hostile inputs through the decorator: what one call brings costs that call only."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
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


def test_an_unreadable_output_costs_its_own_join_only(tmp_path: Any) -> None:
    """Logged calls are joined with outcomes; one output nothing can read is left out of the
    join, and the rest of its fold batch (features, other joins) goes on."""
    mon = aimon.Monitor("hostile", window="1h", log_to=tmp_path / "events.jsonl")
    try:
        ids: list[str] = []

        @mon.watch
        def predict(x: dict[str, float]) -> Any:
            ids.append(aimon.current_request_id() or "")
            return Hostile() if x["a"] == 5.0 else 1

        for i in range(100):
            predict({"a": float(i)})
        mon.flush()
        for rid in ids:
            mon.record_outcome(rid, 1)
        snap = mon.snapshot()
        assert snap.count == 100
        assert snap.features["a"].count == 100
        assert snap.dropped["unreadable_output"] == 1
        assert snap.quality is not None
        assert snap.quality.count == 99
    finally:
        mon.close()


def test_a_loop_of_8_mib_arrays_at_default_settings_holds_a_bounded_amount() -> None:
    """Issue 16's case as found: 8 MiB arrays in and out of predict at default settings held
    +1.2 to 2.0 GiB; now about twice ``held_bytes`` (64 MiB) at most."""
    mon = aimon.Monitor("big8", window="1h")
    try:

        @mon.watch
        def predict(x: np.ndarray) -> np.ndarray:
            return x + 1.0

        tracemalloc.start()
        try:
            for i in range(120):
                predict(np.full(1 << 20, float(i)))  # 8 MiB
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert mon.snapshot().count == 120
        assert peak < 400 << 20, f"peak {peak / 2**20:.0f} MiB"  # before: 120 x 16 MiB held
    finally:
        mon.close()


@pytest.mark.parametrize("capture", [{}, {"features": False, "sizes": False}])
def test_big_inputs_and_results_are_held_by_bytes_not_count(capture: dict[str, bool]) -> None:
    """1 MiB arrays in and out of predict: the buffers hold about ``held_bytes`` of them
    between folds (all 400 calls counted), not every call's arrays until the next fold."""
    held = 8 << 20
    mon = aimon.Monitor("big", window="1h", held_bytes=held)
    try:

        @mon.watch(**capture)
        def predict(x: np.ndarray) -> np.ndarray:
            return x + 1.0

        tracemalloc.start()
        try:
            for i in range(400):
                predict(np.full(1 << 17, float(i)))  # 1 MiB
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert mon.snapshot().count == 400
        # before: every call's input and result held until the fold thread woke (~800 MiB)
        assert peak < 8 * held, f"peak {peak / 2**20:.0f} MiB"
    finally:
        mon.close()


def test_error_types_are_capped_within_one_fold_batch() -> None:
    """300,000 distinct error names in one batch: 32 labels and ``other``, all counted, and
    the memory they leave behind bounded (the cap read totals updated only after the batch,
    so every name got a label: +462 MiB never freed)."""
    mon = aimon.Monitor("errors", window="1h", on_full="fold")
    try:
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        for i in range(300_000):
            mon.observe(latency_s=0.01, error=f"Error{i}")
        snap = mon.snapshot()
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert kept < 16 << 20, f"{kept / 2**20:.0f} MiB kept"
        assert snap.count == 300_000
        assert len(snap.errors) == 33 and snap.errors["other"] == 300_000 - 32
        assert len(mon._fold.aggregates.totals.errors) == 33
    finally:
        mon.close()


def test_error_classes_through_the_decorator_are_capped() -> None:
    mon = aimon.Monitor("errors", window="1h", max_error_types=8)
    try:
        classes = [type(f"Failure{i}", (Exception,), {}) for i in range(5_000)]

        @mon.watch(features=False)
        def predict(i: int) -> float:
            raise classes[i]()

        for i in range(5_000):
            with pytest.raises(classes[i]):
                predict(i)
        snap = mon.snapshot()
        assert snap.error_count == 5_000
        assert len(snap.errors) == 9 and snap.errors["other"] == 5_000 - 8
    finally:
        mon.close()


def test_feature_names_are_capped_over_the_process_life() -> None:
    """Every fold batch brings 50 new feature names: the names counted stop at the cap, for
    good (it held per batch only: 51,200 series after 2M rows), and the values of the
    names refused are counted."""
    mon = aimon.Monitor("features", window="1h", max_features=64)
    try:

        @mon.watch
        def predict(x: dict[str, float]) -> float:
            return 1.0

        for i in range(40):
            predict({f"k{i}_{j}": 1.0 for j in range(50)})
            mon.flush()
        snap = mon.snapshot()
        totals = mon._fold.aggregates.totals
        assert len(snap.features) == 64
        assert len(totals.feature_values) == len(totals.feature_missing) <= 64
        assert snap.dropped["feature_over_cap"] == 40 * 50 - 64
    finally:
        mon.close()
