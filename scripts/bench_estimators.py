"""Benchmark: nnlasso's scikit-learn estimators against scikit-learn's, 5-fold CV.

Every model is ``make_pipeline(StandardScaler(), model)`` and is scored by 5-fold
cross-validation (``KFold`` for regression, ``StratifiedKFold`` for classification, both
shuffled with seed 0; the same folds for every model): R^2 on diabetes (N = 442, d = 10),
accuracy on breast cancer (569 x 30, 2 classes), wine (178 x 13, 3 classes) and digits
(1797 x 64, 10 classes). Models, all with their default parameters:

* ``ConvexReLURegressor()`` / ``ConvexReLUClassifier()`` (300 neurons, solver "auto"),
* ``ConvexReLURegressorCV()`` / ``ConvexReLUClassifierCV()`` (inner 5-fold CV over 10 ratios),
* scikit-learn's ``LassoCV()`` (regression), ``LogisticRegressionCV()`` (classification),
  ``MLPRegressor(random_state=0)`` / ``MLPClassifier(random_state=0)`` (one hidden layer of
  100, adam, max_iter=200; ConvergenceWarnings silenced).

Columns: mean and std of the 5 test scores, median fit time of the 5 folds (wall clock,
seconds), and for the CV estimators the median chosen ``lam_ratio_``. ``--quick`` uses 2 folds,
diabetes / breast cancer / wine only and a 6-ratio grid for the CV estimators. ``--markdown``
prints the table as Markdown (for docs/benchmarks.md).

The CV estimators are left out on digits unless ``--digits-cv`` is given: inside a 5-fold
benchmark they solve 25 softmax lasso paths (1150 x 300 features, 10 classes), which takes
tens of minutes on a 2-core machine without numba; ``--datasets digits --digits-cv --only CV``
measures them alone (``--folds 2`` halves the outer folds).

Run ``python scripts/bench_estimators.py [--quick] [--datasets diabetes,wine] [--markdown]``.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV, LogisticRegressionCV
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnlasso as nl

DATASETS = {"diabetes": load_diabetes, "breast_cancer": load_breast_cancer, "wine": load_wine,
            "digits": load_digits}
REGRESSION = {"diabetes"}


def models(regression: bool, quick: bool, cv: bool = True) -> dict[str, Any]:
    grid = {"lam_ratios": np.geomspace(0.5, 0.005, 6)} if quick else {}
    if regression:
        return {"ConvexReLURegressor()": nl.ConvexReLURegressor(),
                **({"ConvexReLURegressorCV()": nl.ConvexReLURegressorCV(**grid)} if cv else {}),
                "LassoCV()": LassoCV(),
                "MLPRegressor(random_state=0)": MLPRegressor(random_state=0)}
    return {"ConvexReLUClassifier()": nl.ConvexReLUClassifier(),
            **({"ConvexReLUClassifierCV()": nl.ConvexReLUClassifierCV(**grid)} if cv else {}),
            "LogisticRegressionCV()": LogisticRegressionCV(),
            "MLPClassifier(random_state=0)": MLPClassifier(random_state=0)}


def run(datasets: list[str], quick: bool = False, log: bool = True,
        cv_datasets: set[str] | None = None, only: str | None = None,
        folds: int | None = None) -> list[dict]:
    """The table's rows; the CV estimators run on ``cv_datasets`` only (default: all but
    digits); ``only``: keep the models whose label contains that text."""
    cv_datasets = set(DATASETS) - {"digits"} if cv_datasets is None else cv_datasets
    rows = []
    n_folds = folds if folds else (2 if quick else 5)
    for name in datasets:
        X, y = DATASETS[name](return_X_y=True)
        reg = name in REGRESSION
        splitter = (KFold if reg else StratifiedKFold)(n_folds, shuffle=True, random_state=0)
        folds = list(splitter.split(X, y))
        for label, model in models(reg, quick, cv=name in cv_datasets).items():
            if only and only not in label:
                continue
            scores, times, ratios = [], [], []
            for train, test in folds:
                pipe = make_pipeline(StandardScaler(), clone(model))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    warnings.simplefilter("ignore", FutureWarning)
                    t0 = time.perf_counter()
                    pipe.fit(X[train], y[train])
                    times.append(time.perf_counter() - t0)
                scores.append(pipe.score(X[test], y[test]))
                ratios.append(getattr(pipe[-1], "lam_ratio_", np.nan))
            row = {"dataset": name, "model": label, "metric": "R^2" if reg else "accuracy",
                   "score": float(np.mean(scores)), "std": float(np.std(scores)),
                   "fit_time": statistics.median(times), "lam_ratio": float(np.median(ratios)),
                   "folds": n_folds}
            rows.append(row)
            if log:
                print(_line(row), flush=True)
    return rows


def _line(r: dict) -> str:
    ratio = "" if np.isnan(r["lam_ratio"]) else f"{r['lam_ratio']:.3g}"
    return (f"{r['dataset']:<14} {r['model']:<30} {r['metric']:<8} {r['score']:.4f} "
            f"+- {r['std']:.3f}  {r['fit_time']:8.2f} s  {ratio}")


def markdown(rows: list[dict]) -> str:
    out = ["| dataset | model | CV score (mean +- std) | median fit time | lam_ratio_ |",
           "|---|---|---|---|---|"]
    for r in rows:
        ratio = "" if np.isnan(r["lam_ratio"]) else f"{r['lam_ratio']:.3g}"
        out.append(f"| {r['dataset']} | `{r['model']}` | {r['metric']} {r['score']:.3f} +- "
                   f"{r['std']:.3f} | {r['fit_time']:.2f} s | {ratio} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 folds, no digits, 6-ratio grid for the CV estimators")
    ap.add_argument("--datasets", default=None,
                    help="comma-separated subset of " + ",".join(DATASETS))
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    ap.add_argument("--digits-cv", action="store_true",
                    help="also run the CV estimators on digits (nested 5 x 5 folds: ~25 lasso "
                         "paths of 10 softmax solves; tens of minutes without numba)")
    ap.add_argument("--only", default=None, help="run only the models whose name contains this")
    ap.add_argument("--folds", type=int, default=None,
                    help="outer folds (default 5; 2 with --quick)")
    args = ap.parse_args(argv)
    if args.datasets:
        names = args.datasets.split(",")
        unknown = set(names) - set(DATASETS)
        if unknown:
            ap.error(f"--datasets: unknown {sorted(unknown)}; choose from {list(DATASETS)}")
    else:
        names = [n for n in DATASETS if not (args.quick and n == "digits")]
    t0 = time.perf_counter()
    cv_sets = set(DATASETS) if args.digits_cv else set(DATASETS) - {"digits"}
    if args.folds is not None and args.folds < 2:
        ap.error("--folds: at least 2")
    rows = run(names, quick=args.quick, cv_datasets=cv_sets, only=args.only, folds=args.folds)
    print(f"total {time.perf_counter() - t0:.1f} s")
    if args.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    main()
