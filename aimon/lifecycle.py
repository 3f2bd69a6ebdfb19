"""What every Monitor shares with the process: the background fold thread, the monitors alive
(and those registered by name), fork safety and the flush at exit.

A forked child starts clean (:func:`_reinit_after_fork`): the parent's events are the parent's
to report, and the parent's threads and locks do not exist there. A process that exits
normally folds what it had not folded yet (:func:`_flush_at_exit`).
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["LIVE", "NAMED", "FoldThread", "Lifecycle", "at_fork_in_child", "named_lock"]


class Lifecycle(Protocol):
    """What the process-wide hooks need of a monitor."""

    @property
    def closed(self) -> bool:
        """Closed: nothing left to fold."""

    def flush(self) -> None:
        """Fold what is buffered."""

    def after_fork_in_child(self) -> None:
        """Start clean in a forked child."""

    def background_step(self) -> None:
        """What the fold thread does at each wake-up."""


#: Every monitor alive in this process (what ``aimon.serve()`` serves by default).
LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
#: Monitors registered by name (``aimon.get_monitor``, ``@aimon.monitor``).
NAMED: dict[str, Any] = {}
_NAMED_LOCK = [threading.Lock()]


def named_lock() -> threading.Lock:
    """The lock of :data:`NAMED` (a new one after a fork)."""
    return _NAMED_LOCK[0]


class FoldThread:
    """The daemon thread that folds a monitor's buffers every ``interval`` seconds, or at
    once when woken; it holds the monitor weakly, so an unreferenced monitor goes away."""

    def __init__(self, monitor: Lifecycle, wake: threading.Event, interval: float, name: str):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_fold_loop,
            args=(weakref.ref(monitor), wake, self._stop, interval),
            name=f"aimon-fold-{name}",
            daemon=True,
        )
        self._wake = wake
        self._thread.start()

    def is_alive(self) -> bool:
        """The thread is running."""
        return self._thread.is_alive()

    def stop(self, timeout: float) -> None:
        """Stop the thread (waits up to ``timeout`` unless called from the thread itself)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)


def _fold_loop(
    ref: weakref.ref[Lifecycle], wake: threading.Event, stop: threading.Event, interval: float
) -> None:
    while not stop.is_set():
        wake.wait(interval)
        wake.clear()
        monitor = ref()
        if monitor is None:
            return
        monitor.background_step()
        del monitor  # do not keep the monitor alive while sleeping


_CHILD_RESETS: list[Callable[[], None]] = []


def at_fork_in_child(reset: Callable[[], None]) -> None:
    """Call ``reset`` in every forked child, before any monitor restarts its threads there.

    For the locks of objects monitors share (an event-log writer): a fork copies a lock
    that another thread held at that instant, and nothing in the child would release it.
    """
    _CHILD_RESETS.append(reset)


def _reinit_after_fork() -> None:
    _NAMED_LOCK[0] = threading.Lock()
    for reset in _CHILD_RESETS:
        reset()
    for monitor in list(LIVE):
        monitor.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _flush_at_exit() -> None:
    # The fold thread is a daemon: a process that exits normally (a gunicorn worker after
    # SIGTERM, the end of a script) folds here what it had not folded yet, so the events of
    # the last flush interval still reach the window and the log_to= file.
    for monitor in list(LIVE):
        if not monitor.closed:
            monitor.flush()


atexit.register(_flush_at_exit)
