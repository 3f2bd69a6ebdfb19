"""``aimon check``: a data file's quality against a reference; exit 1 on a failed check."""

from __future__ import annotations

import argparse
from typing import TextIO

from aimon.cli.comparison import compare_files, load
from aimon.cli.exits import EXIT_DRIFT, EXIT_OK
from aimon.cli.options import comparison_arguments


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon check`` and its options."""
    check = commands.add_parser(
        "check",
        help="check a data file's quality against a reference: missing values, out of range, "
        "not a number, unseen categories, constant columns",
    )
    comparison_arguments(check)
    check.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon check``; returns the exit status."""
    from aimon.drift.render import quality_json, quality_table

    report = compare_files(*load(args), args)
    out.write(quality_json(report) if args.format == "json" else quality_table(report))
    return EXIT_DRIFT if report.quality_failures else EXIT_OK
