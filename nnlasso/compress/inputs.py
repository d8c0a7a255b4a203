"""Checked inputs of compression (network, data, labels, eps, positive numbers) and the prepared layer:
the rebalanced network with normalized input rows of the layer, its features Phi and Psi = Phi V_out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from ..errors import InvalidProblemError
from ..networks import MLP


def _as_mlp(model: Any) -> MLP:
    """An :class:`MLP` from an MLP, a fitted scikit-learn MLP or a torch ``nn.Sequential``.

    Non-ReLU networks are refused by the converters (:meth:`MLP.from_sklearn`,
    :meth:`MLP.from_torch`) with a clear error.
    """
    if isinstance(model, MLP):
        return model
    mod = type(model).__module__
    if mod.startswith("sklearn"):
        return MLP.from_sklearn(model)
    if mod.startswith("torch"):
        return MLP.from_torch(model)
    raise InvalidProblemError(f"mlp: expected an nnlasso MLP, a fitted scikit-learn "
                              f"MLPClassifier / MLPRegressor (activation='relu') or a torch "
                              f"nn.Sequential of Linear/ReLU, got {type(model).__name__}")


def _check_inputs(net: MLP, X: Any, name: str = "X") -> np.ndarray:
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"{name}: cannot be read as a numeric array") from None
    if X.ndim == 1 and net.n_inputs == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise InvalidProblemError(f"{name}: expected shape (N, {net.n_inputs}) for this network "
                                  f"(d = {net.n_inputs} inputs), got {X.shape}")
    if X.shape[0] == 0:
        raise InvalidProblemError(f"{name}: is empty; pass at least one sample")
    if not np.all(np.isfinite(X)):
        raise InvalidProblemError(f"{name}: contains NaN or infinite values")
    return X


def _check_labels(net: MLP, X: np.ndarray, y: Any, name: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise InvalidProblemError(f"{name}: has {y.shape[0]} rows but the inputs have "
                                  f"{X.shape[0]}")
    if net.is_classifier:
        if net.out_activation == "logistic" and net.n_outputs > 1:
            raise InvalidProblemError(f"{name}: multilabel classifiers (several logistic "
                                      "outputs) are not supported; pass y=None")
        bad = ~np.isin(y, net.classes)
        if np.any(bad):
            raise InvalidProblemError(f"{name}: label {y[bad][0]!r} is not one of the network's "
                                      f"classes {list(net.classes)}")
    elif y.ndim == 1 and net.n_outputs != 1 or y.ndim == 2 and y.shape[1] != net.n_outputs:
        raise InvalidProblemError(f"{name}: expected {net.n_outputs} target column(s), got "
                                  f"shape {y.shape}")
    return y


def _check_data(net: MLP, X: Any, y: Any, X_test: Any, y_test: Any
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Checked ``(X, y, X_test, y_test)`` of a compression call (labels optional)."""
    X = _check_inputs(net, X)
    y = _check_labels(net, X, y, "y")
    if X_test is not None:
        X_test = _check_inputs(net, X_test, "X_test")
        y_test = _check_labels(net, X_test, y_test, "y_test")
    return X, y, X_test, y_test


def _check_eps(eps: Any) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"eps: must be a number in [0, 1), got {eps!r}") from None
    if not 0.0 <= e < 1.0:
        raise InvalidProblemError(f"eps: relative tolerance must lie in [0, 1), got {eps!r}")
    return e


def _positive(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (Real, np.floating, np.integer)) or not (
            np.isfinite(v) and v > 0):
        raise InvalidProblemError(f"{name}: must be a positive finite number, got {v!r}")
    return float(v)


@dataclass
class _Layer:
    """A rebalanced network with unit input rows in ``layer``, and the layer's features on X."""

    original: MLP
    net: MLP
    layer: int
    X: np.ndarray
    Phi: np.ndarray          # (N, K)
    V_out: np.ndarray        # (K, D) = W_{l+1}^T
    Psi: np.ndarray          # (N, D) = Phi V_out
    b_next: np.ndarray       # (D,) subtracted bias of layer l + 1
    last_hidden: bool
    wd_before: float
    wd_balanced: float
    times: dict[str, float]


def _prepare(mlp: MLP, layer: Any, X: np.ndarray, rebalance: bool) -> _Layer:
    layer = mlp._check_layer(layer)
    t0 = time.perf_counter()
    wd_before = mlp.weight_decay()
    if rebalance:
        net = mlp.rebalance()
    else:
        net = mlp.drop_dead()
    wd_balanced = net.weight_decay()
    if net.hidden_sizes[layer - 1] == 0:
        raise InvalidProblemError(f"layer: hidden layer {layer} has no live neuron (all dead); "
                                  "nothing to compress")
    net = net.normalized_layer(layer)
    t1 = time.perf_counter()
    Phi = net.hidden_features(X, layer)
    V_out = np.array(net.weights[layer].T)
    Psi = Phi @ V_out
    t2 = time.perf_counter()
    return _Layer(mlp, net, layer, X, Phi, V_out, Psi, np.array(net.biases[layer]),
                  layer == net.n_layers - 1, wd_before, wd_balanced,
                  {"rebalance": t1 - t0, "features": t2 - t1})
