"""``aimon quality``: a prediction log and an outcomes log joined by request id, and the
model's quality on the pairs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from aimon.cli.exits import EXIT_OK
from aimon.cli.options import quality_settings_arguments
from aimon.errors import AimonError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon quality`` and its options."""
    quality = commands.add_parser(
        "quality",
        help="join a prediction log and an outcomes log by request id and compute quality",
    )
    quality.add_argument("predictions", type=Path, help="JSON-lines prediction log")
    quality.add_argument("outcomes", type=Path, help="JSON-lines outcomes log")
    quality.add_argument("--format", choices=("table", "json"), default="table")
    quality.add_argument(
        "--reference",
        type=Path,
        help="a reference profile (.json) built with --target: compare with its quality",
    )
    quality_settings_arguments(quality)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon quality``; returns the exit status."""
    from aimon.drift.reference import Reference
    from aimon.quality.batch import evaluate_files, format_table
    from aimon.quality.metrics import label_from_text

    for path in (args.predictions, args.outcomes):
        if not path.is_file():
            raise AimonError(f"{path}: no such file")
    reference = None
    if args.reference is not None:
        profile = Reference.load(args.reference)
        if profile.quality is None:
            raise AimonError(
                f"--reference: {args.reference} has no quality: build it with --target and "
                "--prediction"
            )
        reference = profile.quality
    report = evaluate_files(  # a QualityError names the setting
        args.predictions,
        args.outcomes,
        task=args.task,
        positive_label=label_from_text(args.positive_label),
        threshold=args.threshold,
        reference=reference,
    )
    if args.format == "json":
        out.write(report.model_dump_json(indent=2) + "\n")
    else:
        out.write(format_table(report))
    return EXIT_OK
