"""Scores of a compressed network: accuracy / R^2 and the mean training loss at raw outputs.
"""
from __future__ import annotations


import numpy as np

from ..networks import MLP
from .solvers import _label_targets


def _loss(net: MLP, Z: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (classifiers) or mean squared error (regressors) at raw outputs Z."""
    if not net.is_classifier:
        T = np.asarray(y, dtype=float).reshape(Z.shape)
        return float(np.mean((Z - T) ** 2))
    codes, loss = _label_targets(net, y)
    if loss == "softmax":
        m = Z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - Z[np.arange(Z.shape[0]), codes]))
    z = Z[:, 0]
    s = 2.0 * codes - 1.0
    return float(np.mean(np.logaddexp(0.0, -s * z)))


def _scores(net: MLP, Z: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return net.score(X, y), _loss(net, Z, y)
