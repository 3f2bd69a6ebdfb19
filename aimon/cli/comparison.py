"""A batch comparison's inputs, REF and CUR, read and checked, and their comparison
(``drift``, ``check`` and ``report``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from aimon.errors import AimonError

if TYPE_CHECKING:
    import pandas as pd

    from aimon.drift.compare import DriftReport
    from aimon.drift.data_quality import QualityLimits
    from aimon.drift.reference import Reference
    from aimon.drift.segmented import SegmentedReport


def load(args: argparse.Namespace) -> tuple[Reference | pd.DataFrame, pd.DataFrame]:
    """REF (a data file or a saved profile) and CUR of ``drift``, ``check`` and ``report``."""
    from aimon.drift.reference import Reference
    from aimon.drift.tables import read_table

    is_profile = args.reference.suffix.lower() == ".json"
    reference = Reference.load(args.reference) if is_profile else read_table(args.reference)
    current = read_table(args.current)
    for path, data in ((args.reference, reference), (args.current, current)):
        if not isinstance(data, Reference) and len(data) == 0:
            raise AimonError(f"{path}: no rows (a header only?)")
    _require_columns(reference, current, args)
    return reference, current


def _require_columns(
    reference: Reference | pd.DataFrame, current: pd.DataFrame, args: argparse.Namespace
) -> None:
    """Every reference column (but the prediction and target of a profile) is in CUR."""
    import difflib

    from aimon.drift.reference import Reference

    if isinstance(reference, Reference):
        outputs = (reference.prediction, reference.target)
        wanted = [name for name in reference.features if name not in outputs]
    else:
        wanted = [str(name) for name in reference.columns]
    if args.columns is not None:
        wanted = [name for name in args.columns if name in wanted]
    present = {str(name) for name in current.columns}
    missing = [name for name in wanted if name not in present]
    if not missing:
        return
    extra = sorted(present - set(wanted))
    hints = []
    for name in missing[:5]:
        close = difflib.get_close_matches(name, extra, n=1, cutoff=0.5)
        hints.append(f"{name!r}" + (f" (renamed {close[0]!r}?)" if close else ""))
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    raise AimonError(
        f"{args.current}: column{'s' if len(missing) > 1 else ''} of the reference not in the "
        f"data: {', '.join(hints)}{more}"
    )


def compare_files(
    reference: Reference | pd.DataFrame, current: pd.DataFrame, args: argparse.Namespace
) -> DriftReport:
    """REF and CUR compared with the options given."""
    from aimon.drift.compare import compare

    return compare(
        reference, current, methods=args.methods, columns=args.columns, bins=args.bins,
        limits=_limits(args), multivariate=getattr(args, "multivariate", False),
    )  # fmt: skip


def compare_segment_files(
    reference: Reference | pd.DataFrame, current: pd.DataFrame, args: argparse.Namespace
) -> SegmentedReport:
    """REF and CUR compared per value of ``--segment`` with the options given.

    Raises:
        AimonError: the segment column is in neither file (named, with a close match), or
            ``--multivariate`` was asked for too.
    """
    from aimon.drift.reference import Reference
    from aimon.drift.segmented import compare_segments

    if getattr(args, "multivariate", False):
        raise AimonError("--multivariate: not measured per segment; drop it or --segment")
    sides = [(args.current, current)]
    if not isinstance(reference, Reference):
        sides.append((args.reference, reference))
    for path, frame in sides:
        present = [str(name) for name in frame.columns]
        if args.segment not in present:
            raise AimonError(f"--segment: {args.segment!r} is not a column of {path}"
                             + _close(args.segment, present))  # fmt: skip
    return compare_segments(
        reference, current, args.segment, methods=args.methods, columns=args.columns,
        max_segments=args.max_segments, min_rows=args.min_rows, bins=args.bins,
        limits=_limits(args),
    )  # fmt: skip


def _close(name: str, present: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, present, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _limits(args: argparse.Namespace) -> QualityLimits:
    from aimon.drift.data_quality import QualityLimits

    return QualityLimits(
        missing_increase=args.max_missing_increase,
        out_of_range=args.max_out_of_range,
        type_violations=args.max_type_violations,
        unseen=args.max_unseen,
    )
