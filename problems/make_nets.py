"""Train the small networks bundled with the compression problems (run from anywhere).

    python problems/make_nets.py

Writes ``problems/nets/*.npz`` with arrays W1, b1, W2, b2, ... in nnlasso's convention:
h_l = relu(W_l h_{l-1} - b_l), W_l of shape (n_out, n_in), so W_l = coefs_[l-1].T and
b_l = -intercepts_[l-1] of the scikit-learn estimator. The inputs are the ones the problem files
describe (same generator / data set, standardized the same way), so the networks can be
compressed on their training data. Everything is seeded: rerunning gives the same files.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from nnlasso.synthetic import relu_teacher

HERE = Path(__file__).resolve().parent


def standardize(X: np.ndarray) -> np.ndarray:
    """Zero mean, unit (population) variance per column, as ``standardize = true`` does."""
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def save(est, name: str) -> None:
    arrays = {}
    for i, (C, c) in enumerate(zip(est.coefs_, est.intercepts_), 1):
        arrays[f"W{i}"] = np.ascontiguousarray(C.T)
        arrays[f"b{i}"] = -np.asarray(c)
    np.savez(HERE / "nets" / name, **arrays)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"nets/{name}: {shapes}")


def main() -> None:
    (HERE / "nets").mkdir(exist_ok=True)
    warnings.simplefilter("ignore", ConvergenceWarning)
    # regression: the teacher of compress-teacher.toml (n = 120, d = 2), one hidden layer of 40
    X, Y = relu_teacher(n=120, d=2, width=4, noise=0.05, seed=3)
    reg = MLPRegressor(hidden_layer_sizes=(40,), activation="relu", alpha=1e-3,
                       max_iter=3000, random_state=0).fit(X, Y[:, 0])
    save(reg, "teacher_mlp.npz")
    # classification: iris, standardized, two hidden layers of 16
    Xi, yi = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), activation="relu", alpha=1e-2,
                        max_iter=3000, random_state=0).fit(standardize(Xi), yi)
    save(clf, "iris_mlp.npz")


if __name__ == "__main__":
    main()
