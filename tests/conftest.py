"""What several test modules share: a clock moved by hand, and monitors closed after a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aimon import Monitor


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monitors() -> Iterator[list[Monitor]]:
    """Monitors a test makes, closed when it ends."""
    made: list[Monitor] = []
    yield made
    for mon in made:
        mon.close()
