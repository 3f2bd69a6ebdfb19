"""Multivariate drift: changes that per-feature tests miss, such as a correlation that
flips while every marginal stays the same.

* :mod:`~aimon.drift.multivariate.reconstruction`: the PCA reconstruction error (NannyML's
  method), with a small serialisable fit a Reference can carry;
* :mod:`~aimon.drift.multivariate.classifier`: a domain classifier's cross-validated AUC;
* :func:`multivariate_drift`: both at once on two data sets.
"""

from aimon.drift.multivariate.batch import MultivariateDrift, multivariate_drift
from aimon.drift.multivariate.classifier import ClassifierDrift, domain_classifier
from aimon.drift.multivariate.reconstruction import (
    ReconstructionDrift,
    ReconstructionFit,
    chunk_band,
    fit_reconstruction,
)

__all__ = [
    "ClassifierDrift",
    "MultivariateDrift",
    "ReconstructionDrift",
    "ReconstructionFit",
    "chunk_band",
    "domain_classifier",
    "fit_reconstruction",
    "multivariate_drift",
]
