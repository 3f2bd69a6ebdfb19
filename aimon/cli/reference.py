"""``aimon reference build``: a data file profiled into a saved reference."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from aimon.cli.exits import EXIT_OK
from aimon.cli.options import names, positive, quality_settings_arguments
from aimon.errors import AimonError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon reference build`` and its options."""
    reference = commands.add_parser("reference", help="reference profiles for drift")
    actions = reference.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="profile a CSV or Parquet file into a JSON profile")
    build.add_argument("data", type=Path, help="the reference data (.csv, .tsv or .parquet)")
    build.add_argument("-o", "--output", type=Path, required=True, help="the profile to write")
    build.add_argument("--bins", type=int, default=10, help="quantile bins per numeric feature")
    build.add_argument(
        "--categorical", type=names, default=(), help="columns to treat as categories: a,b"
    )
    build.add_argument(
        "--sample-size", type=int, default=10_000, help="values kept per feature for exact tests"
    )
    build.add_argument("--top-k", type=int, default=50, help="categories kept per feature")
    build.add_argument("--prediction", help="the column holding the model's output")
    build.add_argument(
        "--target",
        help="the column holding the ground truth: with --prediction, the model's quality on "
        "these rows is kept as the baseline of live quality",
    )
    build.add_argument(
        "--multivariate",
        action="store_true",
        help="also keep a PCA reconstruction fit and 2,000 whole rows of the numeric input "
        "columns, for multivariate drift (about 0.8 MB of JSON at 20 columns)",
    )
    quality_settings_arguments(build)
    segments = build.add_argument_group(
        "segments",
        "a profile per value of a column, which a Monitor (or sidecar) with the same segments "
        "compares each live segment with",
    )
    segments.add_argument(
        "--segment", action="append", default=[], metavar="COLUMN",
        help="also profile the rows of each value of COLUMN on their own, without COLUMN "
        "(repeatable: one column at a time, not their combinations)",
    )  # fmt: skip
    segments.add_argument(
        "--max-segment-values", type=positive, default=20, metavar="K",
        help="values profiled per --segment column, those with the most rows; the rest "
        "pooled in __other__ (default 20)",
    )  # fmt: skip


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon reference build``; returns the exit status."""
    from aimon.drift.reference import Reference
    from aimon.quality.metrics import label_from_text

    profile = Reference.from_file(
        args.data,
        bins=args.bins,
        categorical=args.categorical,
        sample_size=args.sample_size,
        top_k=args.top_k,
        prediction=args.prediction,
        target=args.target,
        quality_task=args.task,
        positive_label=label_from_text(args.positive_label),
        quality_threshold=0.5 if args.threshold is None else args.threshold,
        multivariate=args.multivariate,
        segments=tuple(args.segment),
        max_segment_values=args.max_segment_values,
    )
    try:
        profile.save(args.output)
    except OSError as exc:
        raise AimonError(f"{args.output}: cannot write the profile: {exc.strerror}") from None
    kinds = [f.kind for f in profile.features.values()]
    print(
        f"wrote {args.output}: {profile.rows} rows, {kinds.count('numeric')} numeric and "
        f"{kinds.count('categorical')} categorical features",
        file=out,
    )
    if profile.multivariate is not None:
        joint = profile.multivariate
        print(f"multivariate drift on {len(joint.columns)} numeric columns "
              f"({len(joint.sample)} rows kept)", file=out)  # fmt: skip
    if profile.segments:
        counted = ", ".join(_values(column, labels) for column, labels in profile.segments.items())
        print(f"profiles per segment: {counted}", file=out)
    if profile.quality is not None:
        values = ", ".join(f"{k} {v:.4g}" for k, v in profile.quality.values().items())
        print(f"model quality on {profile.quality.count} rows ({profile.quality.task}): {values}",
              file=out)  # fmt: skip
    return EXIT_OK


def _values(column: str, labels: Mapping[str, object]) -> str:
    """``country (3 values)``, ``user (20 values and __other__)``."""
    from aimon.drift.segment_labels import OTHER

    own = len(labels) - (OTHER in labels)
    pooled = f" and {OTHER}" if OTHER in labels else ""
    return f"{column} ({own} value{'s' if own != 1 else ''}{pooled})"
