"""Which drift methods exist, which column kinds they apply to, and which one to use by
default: the rule Evidently applies, so users moving from it get the same verdicts.

Evidently 0.7 (``evidently/legacy/calculations/stattests/registry.py``,
``_get_default_stattest``) picks a test per column from its type, the number of reference
rows (NaN dropped) and the number of distinct values in reference and current together:

============  =====================  ===========================================
reference     numeric column         categorical column
============  =====================  ===========================================
<= 1000 rows  <= 2 values: z-test    <= 2 values: z-test
              <= 5 values: chi2      else: chi-square
              else: KS
> 1000 rows   <= 5 values: JS        Jensen-Shannon
              else: Wasserstein
                    (normed)
============  =====================  ===========================================

Column types follow ``evidently/core/datasets.py`` (``infer_column_type``): floats are
numeric, integers are categorical up to 10 distinct values and numeric above, bools and
pandas categories are categorical, strings are categorical (Evidently reads strings with
more distinct values than half the rows as text; aimon treats them as categories),
datetimes are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pandas as pd

__all__ = [
    "CATEGORICAL_ONLY",
    "METHODS",
    "NUMERIC_ONLY",
    "Kind",
    "applies",
    "column_kind",
    "default_method",
    "resolve_methods",
]

Kind = Literal["numeric", "categorical"]

#: Every method :func:`aimon.drift.compare` and the streaming detector know.
METHODS = (
    "psi",
    "ks",
    "wasserstein",
    "wasserstein_raw",
    "jensen_shannon",
    "hellinger",
    "chi_square",
    "z_test",
)
NUMERIC_ONLY = frozenset({"ks", "wasserstein", "wasserstein_raw"})
CATEGORICAL_ONLY = frozenset({"chi_square", "z_test"})

_ALIASES = {
    "js": "jensen_shannon",
    "jensenshannon": "jensen_shannon",
    "chi2": "chi_square",
    "chisquare": "chi_square",
    "z": "z_test",
    "wasserstein_norm": "wasserstein",
}

# Evidently's cut-offs (registry._get_default_stattest, core.datasets.infer_column_type).
_SMALL_REFERENCE = 1000
_FEW_VALUES = 5
_BINARY = 2
_INTEGER_CARDINALITY_LIMIT = 10


def resolve_methods(methods: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Method names (comma-separated or a list; aliases such as ``js``, ``chi2`` allowed)
    as canonical names, or None for the default per column.

    >>> resolve_methods("psi, js,ks")
    ('psi', 'jensen_shannon', 'ks')

    Raises:
        ValueError: a name that is not a method; the message lists the known ones.
    """
    if methods is None:
        return None
    names = methods.split(",") if isinstance(methods, str) else list(methods)
    resolved: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        name = _ALIASES.get(name, name)
        if name not in METHODS:
            raise ValueError(f"methods: unknown method {raw!r}; known: {', '.join(METHODS)}")
        if name not in resolved:
            resolved.append(name)
    if not resolved:
        raise ValueError("methods: give at least one method")
    return tuple(resolved)


def applies(method: str, kind: Kind) -> bool:
    """Whether a method can compare a column of this kind."""
    if kind == "numeric":
        return method not in CATEGORICAL_ONLY
    return method not in NUMERIC_ONLY


def default_method(kind: Kind, n_reference: int, n_values: int) -> str:
    """Evidently's default test for a column (see the module docstring).

    >>> default_method("numeric", 500, 100), default_method("numeric", 5000, 100)
    ('ks', 'wasserstein')
    >>> default_method("categorical", 500, 2), default_method("categorical", 5000, 40)
    ('z_test', 'jensen_shannon')
    """
    if n_reference <= _SMALL_REFERENCE:
        if kind == "numeric" and n_values > _FEW_VALUES:
            return "ks"
        return "z_test" if n_values <= _BINARY else "chi_square"
    if kind == "numeric" and n_values > _FEW_VALUES:
        return "wasserstein"
    return "jensen_shannon"


def column_kind(column: pd.Series) -> Kind | None:
    """A column's kind as Evidently infers it, or None for a column not compared
    (datetimes, nothing but missing values, objects that are neither numbers nor labels)."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return None
    if pd.api.types.is_integer_dtype(dtype):
        few = column.nunique() <= _INTEGER_CARDINALITY_LIMIT
        return "categorical" if few else "numeric"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    if inferred in ("string", "categorical"):
        return "categorical"
    if inferred in ("floating", "mixed-integer-float", "decimal"):
        return "numeric"
    if inferred == "integer":
        return "categorical" if column.nunique() <= _INTEGER_CARDINALITY_LIMIT else "numeric"
    if inferred == "boolean":
        return "categorical"
    if inferred in ("mixed", "mixed-integer"):
        return "categorical"
    return None
