"""``aimon drift``: a data file compared with a reference, whole or per value of a segment
column; exit 1 on drift (in any segment; with ``--multivariate``, also on multivariate
drift)."""

from __future__ import annotations

import argparse
from typing import TextIO

from aimon.cli.comparison import compare_files, compare_segment_files, load
from aimon.cli.exits import EXIT_DRIFT, EXIT_OK
from aimon.cli.options import comparison_arguments, multivariate_argument, segment_arguments


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
    segment_arguments(drift)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon drift``; returns the exit status."""
    from aimon.drift.render import report_json, report_table

    if args.segment is not None:
        return _run_segments(args, out)
    report = compare_files(*load(args), args)
    out.write(report_json(report) if args.format == "json" else report_table(report))
    drifted = report.dataset_drift if args.fail_on == "dataset" else bool(report.drifted_columns)
    drifted = drifted or (report.multivariate is not None and report.multivariate.drifted)
    return EXIT_DRIFT if drifted or report.quality_failures else EXIT_OK


def _run_segments(args: argparse.Namespace, out: TextIO) -> int:
    """``aimon drift --segment``: exit 1 when any segment drifts or fails a check."""
    from aimon.drift.render import segmented_json, segmented_table

    report = compare_segment_files(*load(args), args)
    out.write(segmented_json(report) if args.format == "json" else segmented_table(report))
    fail_on = args.fail_on == "dataset"
    drifted = report.dataset_drift_segments if fail_on else report.drifted_segments
    return EXIT_DRIFT if drifted or report.quality_failures else EXIT_OK
