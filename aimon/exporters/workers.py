"""Is this process one of several workers of a web server? Then its endpoints mislead.

Each worker of ``gunicorn -w 4`` or ``uvicorn --workers 4`` has its own monitors: Prometheus
keeps its connection to one worker and reports that worker's numbers as the service's, and
an outcome posted to one worker never meets the predictions the others made. The way out is
one event log written by every worker (``Monitor(log_to=...)``) read by one sidecar, which
serves the whole service's numbers. :func:`multi_worker_server` recognises the common setups
so the endpoints can say so once, in the log and in ``/status``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MultiWorker", "multi_worker_server", "warn_if_multi_worker"]

log = logging.getLogger("aimon")

_SERVERS = ("gunicorn", "uvicorn", "hypercorn")
_WORKERS_ARG = re.compile(r"^(?:-w|--workers)(?:=(\d+))?$|^-w(\d+)$")


@dataclass(frozen=True)
class MultiWorker:
    """The server whose workers each have their own monitors, and how many there are."""

    server: str
    workers: int

    @property
    def advice(self) -> str:
        """What to do about it, for the log and ``/status``."""
        return (
            f"aimon runs in one of {self.workers} {self.server} worker processes: each has its "
            "own monitors, so /metrics and /status show one worker's numbers (the one "
            "Prometheus reached) and an outcome posted to one worker misses the predictions "
            "of the others. Write every worker's events to one log (Monitor(log_to=...)) and "
            "serve the service's numbers from one `aimon sidecar` reading it"
        )


def multi_worker_server(
    environ: dict[str, str] | None = None, pid: int | None = None
) -> MultiWorker | None:
    """The multi-process server this process is a worker (or the preloading master) of,
    with more than one worker, or None.

    Recognised: gunicorn (``SERVER_SOFTWARE``, or a gunicorn parent or self), uvicorn and
    hypercorn (a parent or self of that name); the worker count from ``-w``/``--workers`` on
    the server's command line or ``GUNICORN_CMD_ARGS``, else ``WEB_CONCURRENCY``, else the
    server's child processes (Linux). One worker, or any other server, gives None.
    """
    env = os.environ if environ is None else environ
    me = os.getpid() if pid is None else pid
    parent = _parent(me)
    for candidate in (parent, me):
        if candidate is None:
            continue
        command = _cmdline(candidate)
        name = next((s for s in _SERVERS if any(s in Path(a).name for a in command[:3])), None)
        if name is None and candidate == parent and "gunicorn" in env.get("SERVER_SOFTWARE", ""):
            name = "gunicorn"
        if name is None:
            continue
        extra = env.get("GUNICORN_CMD_ARGS", "").split() if name == "gunicorn" else []
        workers = (
            _workers_arg(command + extra)
            or _int(env.get("WEB_CONCURRENCY"))
            or _children(candidate)
        )
        if workers > 1:
            return MultiWorker(name, workers)
    return None


_warned: list[MultiWorker] = []


def warn_if_multi_worker() -> MultiWorker | None:
    """:func:`multi_worker_server`, logged as a warning the first time it is found."""
    found = multi_worker_server()
    if found is not None and not _warned:
        _warned.append(found)
        log.warning("%s", found.advice)
    return found


def _workers_arg(args: list[str]) -> int:
    for i, arg in enumerate(args):
        match = _WORKERS_ARG.match(arg)
        if match is None:
            continue
        value = match.group(1) or match.group(2) or (args[i + 1] if i + 1 < len(args) else "")
        return _int(value)
    return 0


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parent(pid: int) -> int | None:
    return os.getppid() if pid == os.getpid() else _stat(pid)


def _stat(pid: int) -> int | None:
    """The parent of ``pid`` from /proc (None where there is no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return int(text.rpartition(")")[2].split()[1])


def _children(pid: int) -> int:
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0
    return sum(_stat(int(e)) == pid for e in entries)
