"""``aimon report``: a self-contained HTML drift report (aimon's own, whole or per segment,
or Evidently's)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from aimon.cli.comparison import compare_files, compare_segment_files, load
from aimon.cli.exits import EXIT_OK
from aimon.cli.options import comparison_arguments, multivariate_argument, segment_arguments
from aimon.errors import AimonError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon report`` and its options."""
    report = commands.add_parser(
        "report", help="write a self-contained HTML drift report (summary table and charts)"
    )
    comparison_arguments(report)
    report.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--title", default="Drift report", help="the report's heading")
    report.add_argument(
        "--engine",
        choices=("aimon", "evidently"),
        default="aimon",
        help="aimon's report (default) or Evidently's own (needs the evidently extra)",
    )
    multivariate_argument(report)
    segment_arguments(report)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon report``; returns the exit status."""
    from aimon.drift.reference import Reference
    from aimon.drift.report import evidently_html, report_html

    reference, current = load(args)
    if args.engine == "evidently" and args.segment is not None:
        raise AimonError("--segment applies to --engine aimon; Evidently's report is whole")
    if args.engine == "evidently":
        if isinstance(reference, Reference):
            raise AimonError(
                f"{args.reference}: --engine evidently compares data sets: give the reference "
                "data (.csv or .parquet), not a profile"
            )
        if args.methods is not None or args.bins != 10:
            raise AimonError(
                "--methods and --bins apply to --engine aimon; Evidently chooses its own"
            )
        if args.columns is not None:
            for side, frame in (("reference", reference), ("current", current)):
                missing = [c for c in args.columns if c not in frame.columns]
                if missing:
                    raise AimonError(f"columns: {missing[0]!r} is not in the {side} data")
            reference, current = reference[list(args.columns)], current[list(args.columns)]
        page = evidently_html(reference, current)
        summary = "Evidently's data-drift report"
    elif args.segment is not None:
        from aimon.drift.segment_report import segmented_html

        segments = compare_segment_files(reference, current, args)
        page = segmented_html(
            segments,
            title=args.title,
            reference_name=args.reference.name,
            current_name=args.current.name,
        )
        summary = f"{len(segments.drifted_segments)} of {len(segments)} segments drifted"
    else:
        report = compare_files(reference, current, args)
        page = report_html(
            report,
            title=args.title,
            reference_name=args.reference.name,
            current_name=args.current.name,
        )
        summary = f"{len(report.drifted_columns)} of {len(report)} features drifted"
    try:
        args.output.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise AimonError(f"{args.output}: cannot write the report: {exc.strerror}") from None
    print(f"wrote {args.output}: {summary}", file=out)
    return EXIT_OK
