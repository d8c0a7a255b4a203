"""Write the small data files of the bundled problems (run from anywhere).

    python problems/make_data.py

* ``data/teacher_lasso.npz``: Phi (features of 150 random data-anchored ReLU neurons), Y and the
  skip inputs X for ``lasso-npz.toml``;
* ``data/teacher_binary.csv``: a header row, two input columns and a 0/1 label column (the
  last one) for ``csv-logistic.toml``.
Everything is seeded: rerunning gives the same files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nnlasso.synthetic import relu_teacher

HERE = Path(__file__).resolve().parent


def main() -> None:
    (HERE / "data").mkdir(exist_ok=True)
    X, Y = relu_teacher(n=150, d=3, width=6, noise=0.1, seed=11, outputs=2)
    rng = np.random.default_rng(12)
    W = rng.standard_normal((150, 3))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.einsum("kd,kd->k", W, X[rng.integers(0, 150, size=150)])
    Phi = np.maximum(X @ W.T - b, 0.0)
    np.savez_compressed(HERE / "data" / "teacher_lasso.npz", Phi=Phi, Y=Y, X=X)
    Xc, yc = relu_teacher(n=160, d=2, width=3, noise=0.05, seed=21, labels="binary")
    rows = ["x1,x2,label"] + [f"{a:.6f},{c:.6f},{int(t)}" for (a, c), t in zip(Xc, yc)]
    (HERE / "data" / "teacher_binary.csv").write_text("\n".join(rows) + "\n")
    print("wrote data/teacher_lasso.npz and data/teacher_binary.csv")


if __name__ == "__main__":
    main()
