"""Quickstart: solve one bundled multitask-lasso problem and print its certificate.

Run ``python scripts/quickstart.py``. It samples 300 ReLU neurons from the diabetes data set
(scikit-learn), solves the weight-decay program over them with an affine skip, and prints the
objective, nnlasso's own duality gap and the active neurons.
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_diabetes

import nnlasso as nl


def main() -> int:
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    rng = np.random.default_rng(0)
    W = rng.standard_normal((300, X.shape[1]))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.einsum("kd,kd->k", W, X[rng.integers(0, X.shape[0], 300)])
    Phi = np.maximum(X @ W.T - b, 0.0)
    lam = 0.05 * nl.lam_max(Phi, y, skip=X)
    sol = nl.solve_lasso(Phi, y, lam, skip=X)
    print(sol.summary())
    print(f"objective      {sol.objective:.10g}")
    print(f"dual objective {sol.dual_objective:.10g}")
    print(f"gap            {sol.gap:.3e} (relative {sol.rel_gap:.3e})")
    print(f"active neurons {sol.n_active} of {sol.K}: {sol.active.tolist()}")
    return 0 if sol.status == "optimal" else 1


if __name__ == "__main__":
    raise SystemExit(main())
