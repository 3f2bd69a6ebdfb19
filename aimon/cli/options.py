"""Options that several commands share, and the types of their values."""

from __future__ import annotations

import argparse
from pathlib import Path


def quality_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The quality task's options (``reference build``, ``sidecar``, ``quality``)."""
    parser.add_argument(
        "--quality-task",
        "--task",
        dest="task",
        choices=("classification", "binary_score", "regression"),
        help="the kind of task (default: the reference's, else inferred from the pairs)",
    )
    parser.add_argument("--positive-label", help="the positive class of binary metrics (default 1)")
    parser.add_argument(
        "--quality-threshold",
        "--threshold",
        dest="threshold",
        type=float,
        help="a score at or above it predicts the positive class (binary_score; default 0.5)",
    )


def comparison_arguments(parser: argparse.ArgumentParser) -> None:
    """REF, CUR and the options of a batch comparison (``drift``, ``check`` and ``report``)."""
    parser.add_argument("reference", type=Path, help="reference data, or a profile (.json)")
    parser.add_argument("current", type=Path, help="current data (.csv, .tsv or .parquet)")
    parser.add_argument(
        "--methods", type=names, help="methods, e.g. psi,ks (default: Evidently's per column)"
    )
    parser.add_argument("--columns", type=names, help="columns to compare (default: all)")
    parser.add_argument(
        "--bins", type=bins, default=10, help="numeric bins: a number, or 'evidently'"
    )
    limits = parser.add_argument_group(
        "data quality", "when a column fails a data-quality check (shares from 0 to 1)"
    )
    limits.add_argument(
        "--max-missing-increase", type=share, default=0.05, metavar="SHARE",
        help="missing share above the reference's (default 0.05)",
    )  # fmt: skip
    limits.add_argument(
        "--max-out-of-range", type=share, default=0.05, metavar="SHARE",
        help="values outside the reference's range (default 0.05)",
    )  # fmt: skip
    limits.add_argument(
        "--max-type-violations", type=share, default=0.01, metavar="SHARE",
        help="rows that are not a number in a numeric column (default 0.01)",
    )  # fmt: skip
    limits.add_argument(
        "--max-unseen", type=share, default=0.05, metavar="SHARE",
        help="labels the reference never saw (default 0.05)",
    )  # fmt: skip


def multivariate_argument(parser: argparse.ArgumentParser) -> None:
    """``--multivariate``: also the numeric columns' multivariate drift (``drift``, ``report``)."""
    parser.add_argument(
        "--multivariate",
        action="store_true",
        help="also measure multivariate drift on the numeric columns (PCA reconstruction "
        "error and a domain classifier; a profile must be built with --multivariate)",
    )


def segment_arguments(parser: argparse.ArgumentParser) -> None:
    """``--segment`` and its options: the comparison per value of a column (``drift``,
    ``report``)."""
    segments = parser.add_argument_group(
        "segments", "compare the rows of each value of a column on their own"
    )
    segments.add_argument(
        "--segment", metavar="COLUMN",
        help="compare per value of COLUMN: against the same value's reference rows (REF data) "
        "or profile (REF .json built with --segment COLUMN), else the whole profile; COLUMN "
        "itself is not compared",
    )  # fmt: skip
    segments.add_argument(
        "--max-segments", type=positive, default=20, metavar="K",
        help="values with the most current rows compared on their own; the rest pooled in "
        "__other__ (default 20)",
    )  # fmt: skip
    segments.add_argument(
        "--min-rows", type=positive, default=1, metavar="N",
        help="no verdict for a segment with fewer rows on a side (default 1: any rows)",
    )  # fmt: skip


def positive(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def share(text: str) -> float:
    """A share from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}")
    return value


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names: ``a,b``."""
    found = tuple(n.strip() for n in text.split(",") if n.strip())
    if not found:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return found


def bins(text: str) -> int | str:
    """Numeric bins: a number (2 or more), or ``evidently``."""
    if text == "evidently":
        return text
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'evidently', got {text!r}"
        ) from None
    if count < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 bins, got {count}")
    return count
