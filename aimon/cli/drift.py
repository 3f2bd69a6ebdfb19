"""``aimon drift``: a data file compared with a reference; exit 1 on drift (with
``--multivariate``, also on multivariate drift)."""

from __future__ import annotations

import argparse
from typing import TextIO

from aimon.cli.comparison import compare_files, load
from aimon.cli.exits import EXIT_DRIFT, EXIT_OK
from aimon.cli.options import comparison_arguments, multivariate_argument


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon drift`` and its options."""
    drift = commands.add_parser(
        "drift", help="compare a data file with a reference (data file or profile)"
    )
    comparison_arguments(drift)
    drift.add_argument("--format", choices=("table", "json"), default="table")
    drift.add_argument(
        "--fail-on",
        choices=("column", "dataset"),
        default="column",
        help="exit 1 when any column drifts (default) or only on dataset drift; a failed "
        "data-quality check exits 1 either way",
    )
    multivariate_argument(drift)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon drift``; returns the exit status."""
    from aimon.drift.render import report_json, report_table

    report = compare_files(*load(args), args)
    out.write(report_json(report) if args.format == "json" else report_table(report))
    drifted = report.dataset_drift if args.fail_on == "dataset" else bool(report.drifted_columns)
    drifted = drifted or (report.multivariate is not None and report.multivariate.drifted)
    return EXIT_DRIFT if drifted or report.quality_failures else EXIT_OK
