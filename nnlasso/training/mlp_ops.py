"""The MLP trainers' arithmetic: forward pass, loss gradients, the prox maps and the balance step."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from .._validation import as_matrix
from ..errors import InvalidProblemError



# =============================================================================================
# internals
# =============================================================================================

def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidProblemError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def _targets(y: Any, loss: str, N: int, name: str, classes: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """(Y encoded as (N, D) floats, classes or None)."""
    y = np.asarray(y)
    if y.shape[:1] != (N,):
        raise InvalidProblemError(f"{name}: expected {N} rows to match the inputs, got shape "
                                  f"{y.shape}")
    if loss == "squared":
        Y = as_matrix(y, name, allow_1d=True)
        return Y, None
    if y.ndim != 1:
        raise InvalidProblemError(f"{name}: loss={loss!r} needs a 1-D array of class labels, "
                                  f"got shape {y.shape}")
    if classes is None:
        classes = np.unique(y)
        if loss == "logistic" and classes.size != 2:
            raise InvalidProblemError(f"{name}: loss='logistic' needs exactly 2 classes, got "
                                      f"{classes.size}; use loss='softmax' for more")
        if loss == "softmax" and classes.size < 2:
            raise InvalidProblemError(f"{name}: needs at least 2 classes, got {classes.size}")
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, classes.size - 1)
    if not np.all(classes[idx] == y):
        raise InvalidProblemError(f"{name}: contains labels not seen in the training labels "
                                  f"{list(classes)}")
    if loss == "logistic":
        return (idx == 1).astype(float)[:, None], classes
    return np.eye(classes.size)[idx], classes


def _forward(Ws: list, bs: list, X: np.ndarray) -> tuple[list, np.ndarray]:
    """Hidden activations [X, h_1, ..., h_{L-1}] and the raw outputs."""
    Hs = [X]
    for W, b in zip(Ws[:-1], bs[:-1]):
        Hs.append(np.maximum(Hs[-1] @ W.T - b, 0.0))
    return Hs, Hs[-1] @ Ws[-1].T - bs[-1]


def _loss_and_grad(loss: str, out: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss over the rows and its gradient with respect to the outputs."""
    n = out.shape[0]
    if loss == "squared":
        R = out - Y
        return 0.5 * float(np.sum(R ** 2)) / n, R / n
    if loss == "logistic":
        z = out[:, 0]
        val = np.logaddexp(0.0, z) - Y[:, 0] * z
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        return float(np.mean(val)), ((p - Y[:, 0]) / n)[:, None]
    Z = out - out.max(axis=1, keepdims=True)
    logsum = np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
    P = np.exp(Z - logsum)
    return float(-np.sum(Y * (Z - logsum))) / n, (P - Y) / n


def _grads(Ws: list, bs: list, X: np.ndarray, Y: np.ndarray, loss: str
           ) -> tuple[float, list, list]:
    Hs, out = _forward(Ws, bs, X)
    val, G = _loss_and_grad(loss, out, Y)
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        gW[l] = G.T @ Hs[l]
        gb[l] = -G.sum(axis=0)
        if l > 0:
            G = (G @ Ws[l]) * (Hs[l] > 0)
    return val, gW, gb


def _rebalance(Ws: list, bs: list) -> None:
    """One sweep of neuron balancing, in place (neurons with a zero norm are left alone)."""
    for l in range(len(Ws) - 1):
        a_in = np.linalg.norm(Ws[l], axis=1)
        a_out = np.linalg.norm(Ws[l + 1], axis=0)
        ok = (a_in > 0) & (a_out > 0)
        a = np.ones_like(a_in)
        a[ok] = np.sqrt(a_out[ok] / a_in[ok])
        Ws[l] *= a[:, None]
        bs[l] *= a
        Ws[l + 1] /= a[None, :]


def _prox_path(Ws: list, bs: list, t: float) -> None:
    """Soft-threshold each hidden neuron's path magnitude ``|w_k| |v_k|`` by ``t``, in place."""
    for l in range(len(Ws) - 1):
        m = np.linalg.norm(Ws[l], axis=1) * np.linalg.norm(Ws[l + 1], axis=0)
        s = np.zeros_like(m)
        big = m > t
        s[big] = np.sqrt((m[big] - t) / m[big])
        Ws[l] *= s[:, None]
        bs[l] *= s
        Ws[l + 1] *= s[None, :]


def _prox_lasso(W: np.ndarray, t: float) -> None:
    """Entrywise soft-thresholding ``W <- sign(W) max(|W| - t, 0)``, in place."""
    np.copyto(W, np.sign(W) * np.maximum(np.abs(W) - t, 0.0))


def _prox_group_columns(W: np.ndarray, t: float) -> None:
    """Group soft-thresholding of every column: ``W[:, k] *= max(0, 1 - t / |W[:, k]|)``."""
    n = np.linalg.norm(W, axis=0)
    s = np.zeros_like(n)
    big = n > t
    s[big] = 1.0 - t / n[big]
    W *= s[None, :]


