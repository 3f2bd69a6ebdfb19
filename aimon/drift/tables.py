"""The data sets drift reads: a CSV or Parquet file, or rows given as a DataFrame, a 2-D array
or a dict of columns, each made a DataFrame (the reference's and the current data's)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aimon.errors import ReferenceError

__all__ = ["as_frame", "read_table"]


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame (by extension: .csv, .tsv, .parquet, .pq).

    Raises:
        ReferenceError: the file is missing, of an unknown kind, or cannot be parsed.
    """
    source = Path(path)
    if not source.exists():
        raise ReferenceError(f"{source}: no such file")
    suffix = source.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(source, sep="\t" if suffix == ".tsv" else ",")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(source)
    except ImportError as exc:
        raise ReferenceError(
            f"{source}: reading Parquet needs pyarrow (pip install 'aimon[parquet]'): {exc}"
        ) from None
    except Exception as exc:  # pandas raises many kinds for a bad file
        raise ReferenceError(f"{source}: cannot be read as {suffix[1:]}: {exc}") from None
    raise ReferenceError(f"{source}: unknown file kind {suffix!r} (use .csv or .parquet)")


def as_frame(data: Any) -> pd.DataFrame:
    """Rows as a DataFrame: a DataFrame as it is, a 2-D array with columns ``f0, f1, ...``,
    a dict of columns.

    Raises:
        ReferenceError: an array that is not 2-D, columns of different lengths, or another
            type.
    """
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ReferenceError(f"a reference array must be 2-D, got {data.ndim}-D")
        return pd.DataFrame(data, columns=[f"f{j}" for j in range(data.shape[1])])
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(dict(data))
        except ValueError as exc:
            raise ReferenceError(f"the reference columns do not line up: {exc}") from None
    raise ReferenceError(
        f"cannot build a reference from {type(data).__name__}: "
        "pass a DataFrame, a 2-D array or a dict of columns"
    )
