"""Make tests/data/cbpe_oracle.json: NannyML's CBPE on scikit-learn's breast-cancer data.

Run in a throwaway environment that has NannyML (the suite does not need it):

    python3 -m venv /tmp/nannyml-venv
    /tmp/nannyml-venv/bin/pip install nannyml statsmodels scikit-learn
    /tmp/nannyml-venv/bin/python tests/data/make_cbpe_oracle.py

A logistic regression on two features (mean radius, mean texture) is trained on 40 % of the
rows; 30 % is the reference (scores and labels), 30 % the analysis set, in chunks of 57. The
scores, labels and predicted labels are written with NannyML's estimates, so the test feeds
aimon exactly NannyML's inputs. Three runs: ``noop`` (NannyML's ``NoopCalibrator``: the
expected confusion matrix and ROC curve of the scores as they are), ``default`` (NannyML
deciding whether to calibrate, as users run it) and ``isotonic`` (the scores calibrated on the
reference by NannyML's isotonic calibrator, forced on).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nannyml
import numpy as np
import pandas as pd
import sklearn
from nannyml.calibration import IsotonicCalibrator, NoopCalibrator
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]
CHUNK = 57
OUT = Path(__file__).with_name("cbpe_oracle.json")


def split() -> dict[str, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, [0, 1]]
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, train_size=0.4, random_state=0, stratify=y
    )
    x_ref, x_live, y_ref, y_live = train_test_split(
        x_rest, y_rest, train_size=0.5, random_state=0, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    return {
        "reference_scores": model.predict_proba(x_ref)[:, 1],
        "reference_labels": y_ref,
        "live_scores": model.predict_proba(x_live)[:, 1],
        "live_labels": y_live,
    }


class ForcedIsotonic(IsotonicCalibrator):
    """NannyML's isotonic calibrator; CBPE is told calibration is needed (below)."""


def run(data: dict[str, np.ndarray], calibrator: object | None) -> dict[str, object]:
    frame = lambda s, y: pd.DataFrame(  # noqa: E731
        {"y_pred_proba": s, "y_pred": (s >= 0.5).astype(int), "y_true": y}
    )
    reference = frame(data["reference_scores"], data["reference_labels"])
    analysis = frame(data["live_scores"], data["live_labels"]).drop(columns="y_true")
    cbpe = nannyml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="y_true",
        problem_type="classification_binary",
        metrics=METRICS,
        chunk_size=CHUNK,
        calibrator=calibrator,
    )
    if isinstance(calibrator, ForcedIsotonic):
        import nannyml.performance_estimation.confidence_based.cbpe as cbpe_module

        cbpe_module.needs_calibration = lambda *a, **k: True
    started = time.perf_counter()
    cbpe.fit(reference)
    result = cbpe.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.perf_counter() - started
    chunks = []
    for _, row in result.iterrows():
        chunk = {
            "start": int(row[("chunk", "start_index")]),
            "end": int(row[("chunk", "end_index")]) + 1,
        }
        for m in METRICS:
            chunk[m] = float(row[(m, "value")])
            chunk[f"{m}_sampling_error"] = float(row[(m, "sampling_error")])
        chunks.append(chunk)
    calibrated = cbpe.calibrator.calibrate(data["live_scores"]) if cbpe.needs_calibration else None
    return {
        "needs_calibration": bool(cbpe.needs_calibration),
        "chunks": chunks,
        "fit_and_estimate_seconds": seconds,
        "calibrated_live_scores": None if calibrated is None else np.asarray(calibrated).tolist(),
    }


def main() -> None:
    data = split()
    out: dict[str, object] = {
        "nannyml": nannyml.__version__,
        "scikit_learn": sklearn.__version__,
        "chunk_size": CHUNK,
        **{k: v.tolist() for k, v in data.items()},
        "noop": run(data, NoopCalibrator()),
        "default": run(data, None),
        "isotonic": run(data, ForcedIsotonic()),
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
