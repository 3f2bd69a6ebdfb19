"""``aimon demo``: a simulated model's latency spike, errors, drift and alerts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from aimon.cli.exits import EXIT_OK
from aimon.errors import AimonError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon demo`` and its options."""
    demo = commands.add_parser(
        "demo",
        help="run a simulated model: latency spike, errors, drift, alerts and a drift report",
    )
    demo.add_argument(
        "--duration", type=float, default=10.0, help="seconds of the scenario (default 10)"
    )
    demo.add_argument("--port", type=int, default=9108, help="port for /metrics (default 9108)")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--workers", type=int, default=16, help="client threads (default 16)")
    demo.add_argument(
        "--webhook",
        metavar="URL",
        help="also send the alerts to this URL (Alertmanager's webhook payload)",
    )
    demo.add_argument(
        "--report",
        type=Path,
        default=Path("aimon-demo-report.html"),
        metavar="PATH",
        help="the HTML drift report to write (default aimon-demo-report.html)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="after the scenario, keep serving /metrics with calm traffic until Ctrl-C/SIGTERM",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon demo``; returns the exit status."""
    import signal
    import threading

    from aimon.demo import DemoSettings, run_demo

    if args.duration <= 0:
        raise AimonError("--duration must be positive")
    if args.workers < 1:
        raise AimonError("--workers must be at least 1")
    if args.webhook is not None and not args.webhook.startswith(("http://", "https://")):
        raise AimonError("--webhook: expected an http:// or https:// URL")
    if not args.report.parent.is_dir():
        raise AimonError(f"--report: {args.report.parent} is not a directory")
    settings = DemoSettings(
        duration_s=args.duration,
        port=args.port,
        host=args.host,
        workers=args.workers,
        webhook=args.webhook,
        report=args.report,
        serve=args.serve,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():  # asked twice: stop waiting for a clean end
            raise KeyboardInterrupt
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        run_demo(settings, out, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
