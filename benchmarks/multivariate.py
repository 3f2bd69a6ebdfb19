"""Multivariate drift: PCA reconstruction error on 100k x 20, fit on the reference and score
the current, next to scikit-learn's PCA doing the same work and NannyML's
``DataReconstructionDriftCalculator`` when its interpreter is given.

Data: 100k reference rows of a 20-dimensional Gaussian with a random correlation matrix, and
100k current rows of the same distribution with one feature's rank order reversed (every
marginal unchanged, its correlations flipped). Variants, each fitting on the reference and
scoring the current as one chunk (the reference in 10 chunks of 10k rows):

* ``aimon``: ``fit_reconstruction(ref).score(cur)`` (numpy SVD);
* ``sklearn``: ``SimpleImputer`` + ``StandardScaler`` + ``PCA(0.65)``, the reconstruction
  errors of both sides by ``inverse_transform(transform(x))``, the band from the chunks;
* ``nannyml`` (``--nannyml-python PATH``, an interpreter with nannyml installed, run as a
  subprocess on the same data saved to .npy): ``fit(ref)`` and ``calculate(cur)``.

The errors of ``aimon`` and ``sklearn`` are checked equal. Also timed: the domain classifier
at its default cap of 5,000 rows per side. Timed in interleaved rounds (median).

Writes ``benchmarks/results/multivariate.json``.

Usage: ``python benchmarks/multivariate.py [--rows 100000] [--rounds 5] [--nannyml-python P]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from reporting import report_targets, write_result
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from aimon.drift.multivariate import chunk_band, domain_classifier, fit_reconstruction

COLUMNS = 20

NANNYML_SNIPPET = """
import json, sys, time
import numpy as np, pandas as pd, nannyml
ref = pd.DataFrame(np.load(sys.argv[1])).rename(columns=str)
cur = pd.DataFrame(np.load(sys.argv[2])).rename(columns=str)
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    calc = nannyml.DataReconstructionDriftCalculator(column_names=list(ref.columns),
                                                     chunk_size=len(ref) // 10)
    calc.fit(ref)
    calc.chunker = nannyml.chunk.SizeBasedChunker(chunk_size=len(cur))
    value = calc.calculate(cur).filter(period="analysis").to_df()
    times.append(time.perf_counter() - start)
error = float(value["reconstruction_error"]["value"].iloc[0])
print(json.dumps({"times": times, "error": error, "upper": calc.upper_threshold_value,
                  "version": nannyml.__version__}))
"""


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated Gaussian rows; the current's first column paired in reverse rank order."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(COLUMNS, COLUMNS)) * (rng.random((COLUMNS, COLUMNS)) < 0.3)
    mixing += np.eye(COLUMNS)
    reference = rng.normal(size=(rows, COLUMNS)) @ mixing
    current = rng.normal(size=(rows, COLUMNS)) @ mixing
    order = np.argsort(current[:, 0])
    current[order, 0] = current[order, 0][::-1]
    return reference, current


def aimon_pca(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    result = fit_reconstruction(reference).score(current)
    return result.error, result.upper


def sklearn_pca(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    imputer = SimpleImputer(strategy="mean").fit(reference)
    scaler = StandardScaler().fit(imputer.transform(reference))
    standard = scaler.transform(imputer.transform(reference))
    pca = PCA(n_components=0.65, svd_solver="full").fit(standard)

    def errors(rows: np.ndarray) -> np.ndarray:
        x = scaler.transform(imputer.transform(rows))
        return np.linalg.norm(x - pca.inverse_transform(pca.transform(x)), axis=1)

    size = len(reference) // 10
    ref_errors = errors(reference)
    chunks = [ref_errors[i : i + size].mean() for i in range(0, len(reference), size)]
    return float(errors(current).mean()), chunk_band(chunks)[1]


def nannyml_pca(python: str, reference: np.ndarray, current: np.ndarray, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(Path(folder) / name) for name in ("ref.npy", "cur.npy")]
        np.save(paths[0], reference)
        np.save(paths[1], current)
        done = subprocess.run(
            [python, "-c", NANNYML_SNIPPET, *paths, str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--nannyml-python", default=None)
    args = parser.parse_args()
    reference, current = make_data(args.rows)
    variants = {"aimon": aimon_pca, "sklearn": sklearn_pca}
    times: dict[str, list[float]] = {name: [] for name in variants}
    found: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            found[name] = run(reference, current)
            times[name].append(time.perf_counter() - start)
    assert abs(found["aimon"][0] - found["sklearn"][0]) < 1e-9 * found["sklearn"][0]
    seconds = {name: statistics.median(t) for name, t in times.items()}
    errors = {name: {"error": e, "upper": u} for name, (e, u) in found.items()}
    nannyml_version = None
    if args.nannyml_python:
        nanny = nannyml_pca(args.nannyml_python, reference, current, args.rounds)
        seconds["nannyml"] = statistics.median(nanny["times"])
        errors["nannyml"] = {"error": nanny["error"], "upper": nanny["upper"]}
        nannyml_version = nanny["version"]
    start = time.perf_counter()
    classifier = domain_classifier(reference, current)
    classifier_s = time.perf_counter() - start
    print(f"{args.rows:,} x {COLUMNS}, fit on the reference + score the current (median s)")
    for name, value in seconds.items():
        ratio = value / seconds["aimon"]
        print(
            f"  {name:8s} {value:8.3f} s  {ratio:5.1f}x aimon   error {errors[name]['error']:.4f}"
            f"  upper {errors[name]['upper']:.4f}"
        )
    print(
        f"  domain classifier (5,000 rows a side): {classifier_s:.2f} s, AUC {classifier.auc:.3f}"
    )
    targets = report_targets({"pca_fit_and_score_within_1s": seconds["aimon"] <= 1.0})
    write_result(
        "multivariate",
        {
            "rows": args.rows,
            "columns": COLUMNS,
            "rounds": args.rounds,
            "seconds": seconds,
            "ratio_to_aimon": {n: v / seconds["aimon"] for n, v in seconds.items()},
            "reconstruction": errors,
            "nannyml": nannyml_version,
            "domain_classifier": {
                "seconds": classifier_s,
                "auc": classifier.auc,
                "threshold": classifier.threshold,
                "drifted": classifier.drifted,
                "rows_per_side": classifier.n_reference,
            },
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
