"""The ``aimon`` command line: the top-level parser and every command's arguments."""

from __future__ import annotations

import argparse

from aimon import __version__
from aimon.cli import check, demo, drift, quality, reference, report, sidecar


def build_parser() -> argparse.ArgumentParser:
    """``aimon`` and its commands, in the order ``aimon --help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="aimon", description="Watch machine-learning models in production."
    )
    parser.add_argument("--version", action="version", version=f"aimon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (demo, reference, sidecar, drift, check, quality, report):
        command.add_parser(commands)
    return parser
