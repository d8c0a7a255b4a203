"""Scores of a compressed network: accuracy / R^2 and the mean training loss at raw outputs.
"""
from __future__ import annotations


import numpy as np

from ..losses import get_loss
from ..networks import MLP
from .solvers import _label_targets


def _loss(net: MLP, Z: np.ndarray, y: np.ndarray) -> float:
    """The mean loss at raw outputs Z (N, D): for a classifier, the loss of the label-aware
    program (logistic / softmax, :mod:`nnlasso.losses`) per sample, L(T, Z) / N; for a
    regressor the mean squared error |Z - T|^2 / (N D) = 2 L_squared(T, Z) / (N D) (the
    squared loss of :mod:`nnlasso.losses` is 1/2 |T - Z|^2)."""
    codes, name = _label_targets(net, y)
    loss = get_loss(name)
    if name == "squared":
        return 2.0 * loss.value(Z, codes.reshape(Z.shape)) / Z.size
    if name == "softmax":
        T = np.eye(Z.shape[1])[codes]           # one-hot rows over the network's classes
    else:
        T = (2.0 * codes - 1.0)[:, None]        # codes {0, 1} -> labels {-1, +1}
    return loss.value(Z, T) / Z.shape[0]


def _scores(net: MLP, Z: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return net.score(X, y), _loss(net, Z, y)
