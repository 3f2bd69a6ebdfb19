"""The ``aimon`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aimon import __version__
from aimon.errors import AimonError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aimon", description="Watch machine-learning models in production."
    )
    parser.add_argument("--version", action="version", version=f"aimon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a simulated model with a latency spike and errors")
    demo.add_argument(
        "--duration", type=float, default=10.0, help="seconds of traffic (default 10)"
    )
    demo.add_argument("--port", type=int, default=9108, help="port for /metrics (default 9108)")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--workers", type=int, default=16, help="client threads (default 16)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aimon`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from aimon.demo import DemoSettings, run_demo

            if args.duration <= 0:
                raise AimonError("--duration must be positive")
            run_demo(
                DemoSettings(
                    duration_s=args.duration, port=args.port, host=args.host, workers=args.workers
                ),
                sys.stdout,
            )
    except AimonError as exc:
        print(f"aimon: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
