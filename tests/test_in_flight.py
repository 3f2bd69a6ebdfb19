"""Calls longer than the window: counted when they end, and seen while they run."""

from __future__ import annotations

import aimon
from tests.test_monitor import FakeClock


def test_a_call_longer_than_the_window_is_counted_when_it_ends() -> None:
    """A 22 s call in a 20 s window: it ended inside the window, so its latency is there
    (it was placed at its start, older than the window: dropped as late)."""
    clock = FakeClock()
    with aimon.Monitor("slow", window="20s", slice="1s", clock=clock) as mon:
        for _ in range(30):
            mon.observe(latency_s=0.05, ts=clock.now - 1.0)
        mon.observe(latency_s=22.0, ts=clock.now - 22.0)
        snap = mon.snapshot()
    assert snap.count == 31 and "late" not in snap.dropped
    assert snap.latency.max is not None and abs(snap.latency.max - 22.0) < 0.5
