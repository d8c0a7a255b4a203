"""Scores of a compressed network: accuracy / R^2 and the mean training loss at raw outputs.
"""
from __future__ import annotations


import numpy as np

from ..losses import get_loss, mean_class_loss
from ..networks import MLP
from .solvers import _label_targets


def _loss(net: MLP, Z: np.ndarray, y: np.ndarray) -> float:
    """The mean loss at raw outputs Z (N, D): for a classifier, the loss of the label-aware
    program (logistic / softmax) per sample (:func:`nnlasso.losses.mean_class_loss`); for a
    regressor the mean squared error |Z - T|^2 / (N D) = 2 L_squared(T, Z) / (N D) (the
    squared loss of :mod:`nnlasso.losses` is 1/2 |T - Z|^2)."""
    codes, name = _label_targets(net, y)
    if name == "squared":
        return 2.0 * get_loss(name).value(Z, codes.reshape(Z.shape)) / Z.size
    return mean_class_loss(Z, codes)


def _scores(net: MLP, Z: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return net.score(X, y), _loss(net, Z, y)
