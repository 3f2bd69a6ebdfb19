"""The ``aimon`` command: ``demo``, ``reference build``, ``sidecar``, ``drift``, ``check``,
``quality`` and ``report``, one module each, built into one parser by ``parser.py``.

Exit status (``exits.py``): 0 all is well, 1 drift or a failed data-quality check found
(``aimon drift``, ``aimon check``), 2 bad input (an unreadable or header-only file, a reference
column missing from the current data, a bad option); the message of a bad input names the
file, column or option at fault.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from aimon.cli import check, demo, drift, quality, reference, report, sidecar
from aimon.cli.exits import EXIT_BAD_INPUT
from aimon.cli.parser import build_parser
from aimon.errors import AimonError

__all__ = ["main"]

_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "demo": demo.run,
    "reference": reference.run,
    "sidecar": sidecar.run,
    "drift": drift.run,
    "check": check.run,
    "quality": quality.run,
    "report": report.run,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``aimon`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        return _COMMANDS[args.command](args, out)
    except (AimonError, ValueError) as exc:
        print(f"aimon: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
