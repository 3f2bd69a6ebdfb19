"""Turn what a ``predict`` function receives into columnar feature batches.

Accepted inputs: ``dict`` (one row), ``list``/``tuple`` (of scalars: one row named ``f0..``;
of dicts or sequences: one row each), numpy arrays (1-D: one row; 2-D: one row per row;
structured: named fields), pandas ``Series`` (one row) and ``DataFrame`` (one row per row),
pydantic models and dataclasses (one row), and scalars. Anything else yields no rows and counts
as invalid; nothing here raises.

Values: ints, floats and bools (as 1/0, the way numpy and pandas count them) are numeric;
strings are categorical labels; ``None``, NaN, infinities, ``pd.NA`` and dates are missing;
containers and other objects are missing and counted as invalid. A string is never parsed as
a number: the consumer decides what a label in a numeric feature means.

:func:`extract_many` is the fold step's entry point and is vectorised: consecutive inputs of one
form are read as one block (dicts, a run per key set; flat lists and tuples of one length; plain
arrays of one dtype and shape; Series with one index and dtype; DataFrames with the same columns
and dtypes; pydantic models or dataclasses of one class; scalars), converted column by column,
by one numpy call per column where the values' types allow. Anything else, and a run whose
batch fails, is read one input at a time; either way the rows are the same.
"""

from aimon.features.alone import _one_by_one as _one_by_one
from aimon.features.batch import EMPTY, FeatureBatch, FeatureColumn, FeatureExtractor
from aimon.features.extraction import _concat as _concat
from aimon.features.extraction import extract, extract_many
from aimon.features.sizes import payload_size

__all__ = [
    "EMPTY",
    "FeatureBatch",
    "FeatureColumn",
    "FeatureExtractor",
    "extract",
    "extract_many",
    "payload_size",
]
