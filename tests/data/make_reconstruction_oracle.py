"""Writes reconstruction_oracle.json: NannyML's data reconstruction drift on breast-cancer.

The oracle for tests/test_drift_multivariate.py. aimon does not depend on NannyML, so this
runs in a throwaway environment:

    python3 -m venv /tmp/nannyml-mv && /tmp/nannyml-mv/bin/pip install nannyml statsmodels
    /tmp/nannyml-mv/bin/python tests/data/make_reconstruction_oracle.py

Reference: the even rows of scikit-learn's breast-cancer data, with every 7th value of the
first column missing; analysis: the odd rows, then the odd rows with "mean radius" paired
with the rows in reverse order of its rank (same values, correlation flipped), chunks of 57.
"""

from __future__ import annotations

import json
from pathlib import Path

import nannyml
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

CHUNK = 57


def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).data
    reference = frame.iloc[::2].reset_index(drop=True)
    reference.iloc[::7, 0] = np.nan
    current = frame.iloc[1::2].reset_index(drop=True)
    order = np.argsort(current["mean radius"].to_numpy(), kind="stable")
    flipped = current.copy()
    flipped.loc[order, "mean radius"] = current["mean radius"].to_numpy()[order][::-1]
    return reference, pd.concat([current, flipped], ignore_index=True)


def main() -> None:
    reference, analysis = data()
    calc = nannyml.DataReconstructionDriftCalculator(
        column_names=list(reference.columns), chunk_size=CHUNK
    )
    calc.fit(reference)
    result = calc.calculate(analysis).to_df()
    error = result["reconstruction_error"]
    periods = result["chunk"]["period"]
    out = {
        "nannyml": nannyml.__version__,
        "chunk_size": CHUNK,
        "n_components": int(calc._pca.n_components_),
        "reference_chunks": error["value"][periods == "reference"].tolist(),
        "analysis_chunks": error["value"][periods == "analysis"].tolist(),
        "lower_threshold": calc.lower_threshold_value,
        "upper_threshold": calc.upper_threshold_value,
        "analysis_alerts": error["alert"][periods == "analysis"].astype(bool).tolist(),
    }
    path = Path(__file__).with_name("reconstruction_oracle.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
