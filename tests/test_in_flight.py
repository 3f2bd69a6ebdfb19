"""Calls longer than the window: counted when they end, and seen while they run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import aimon
from aimon.thresholds import Rule
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


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_hung_calls_show_in_flight_and_fire_the_latency_rule() -> None:
    """Five calls hang among twenty fast ones: before they return, the snapshot counts them
    in flight and at their age so far in the latency, and the p95 rule fires on them."""
    rule = Rule(name="LatencyP95High", metric="latency_p95", op=">", value=0.5, min_count=20)
    release = threading.Event()
    with aimon.Monitor("hung", window="1m", thresholds=[rule]) as mon:

        @mon.watch(features=False)
        def predict(hang: bool) -> int:
            if hang:
                release.wait(30)
            return 1

        for _ in range(20):
            predict(False)
        hung = [threading.Thread(target=predict, args=(True,)) for _ in range(5)]
        for thread in hung:
            thread.start()
        try:
            _wait_until(lambda: mon.snapshot().in_flight == 5)
            time.sleep(0.6)
            snap = mon.snapshot()
            assert snap.count == 20  # none ended
            assert snap.oldest_in_flight_s is not None and snap.oldest_in_flight_s >= 0.6
            assert snap.latency.count == 25 and snap.latency.p95 is not None
            assert snap.latency.p95 > 0.5
            assert [a.labels["alertname"] for a in mon.check()] == ["LatencyP95High"]
        finally:
            release.set()
            for thread in hung:
                thread.join()
        snap = mon.snapshot()
        assert snap.in_flight == 0 and snap.oldest_in_flight_s is None
        assert snap.count == 25 and snap.latency.max is not None and snap.latency.max >= 0.6


def test_async_calls_in_flight_are_seen() -> None:
    with aimon.Monitor("hung-async", window="1m") as mon:

        @mon.watch(features=False)
        async def predict(delay: float) -> int:
            await asyncio.sleep(delay)
            return 1

        async def main() -> int:
            slow = asyncio.create_task(predict(0.5))
            await asyncio.sleep(0.2)
            seen = mon.snapshot().in_flight
            await slow
            return seen

        assert asyncio.run(main()) == 1
        assert mon.snapshot().in_flight == 0
