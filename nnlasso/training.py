"""Training ReLU MLPs in NumPy: proximal-gradient training and the weight-decay baseline.

Both trainers minimize, over an MLP ``h_l = relu(W_l h_{l-1} - b_l)``, ``out = W_L h_{L-1} - b_L``
(biases subtracted, as everywhere in nnlasso), the **summed** loss plus ``lam`` times a penalty,
in nnlasso's scaling (``lam = N * alpha`` for a mean loss with ``alpha``)::

    train_weight_decay:  sum_n loss(f(x_n), y_n) + lam * 1/2 sum_l |W_l|_F^2
    train_prox:          sum_n loss(f(x_n), y_n) + lam/2 * C(theta),
        C(theta) = 1/2 |W_1|_F^2 + 1/2 |W_L|_F^2 + sum_l sum_k |w_k^(l)|_2 |v_k^(l)|_2

(``w_k^(l)`` row k of ``W_l``, ``v_k^(l)`` column k of ``W_{l+1}``, :meth:`MLP.deep_regularizer`).
At a balanced network ``C = 2 WD``, so both penalties agree there and ``lam`` means the same
thing in both. Biases are unpenalized.

One step of either trainer: a mini-batch Adam (or plain SGD) step of size ``lr`` on the mean loss
(the summed loss divided by N), then the proximal map of ``lr * alpha`` (``alpha = lam / N``)
times the penalty:

* weight decay: ``W_l <- W_l / (1 + lr * alpha)`` (the prox of ``lr alpha/2 |W|^2``);
* proximal training ("A better way to decay", Yang et al., OPT 2022): the squared end terms as
  above with ``alpha / 2``; every hidden neuron rebalanced (``w_k, b_k`` times ``a``, ``v_k``
  divided by ``a``, ``a = sqrt(|v_k| / |w_k|)``, the function unchanged); then the prox of
  ``lr alpha/2 |w_k| |v_k|`` with the input weights held at unit norm, i.e. group
  soft-thresholding of the neuron's path magnitude ``m_k = |w_k| |v_k|``:
  ``m_k <- max(0, m_k - lr alpha / 2)``, applied as the balanced scaling
  ``(w_k, b_k, v_k) *= sqrt(m_k' / m_k)``. Neurons whose magnitude reaches 0 are dead for good
  (their gradient is 0) and are removed from the returned MLP.

Progress (one line per epoch) goes to the ``"nnlasso.training"`` logger (``verbose=True``
shows it on stderr).
"""
from __future__ import annotations

import logging
from numbers import Integral
from typing import Any, Sequence

import numpy as np

from ._logging import progress
from ._validation import as_matrix, check_positive, check_seed
from .errors import InvalidProblemError
from .networks import MLP

__all__ = ["train_prox", "train_weight_decay"]

_LOG = logging.getLogger("nnlasso.training")
_LOSSES = ("softmax", "logistic", "squared")


def train_prox(X: Any, y: Any, hidden_sizes: Sequence[int], lam: float, *,
               loss: str = "softmax", epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
               seed: Any = 0, X_val: Any = None, y_val: Any = None, optimizer: str = "adam",
               patience: int | None = 20, verbose: bool = False) -> MLP:
    """Train an MLP by proximal gradient on the deep path form of weight decay.

    Minimizes ``sum_n loss(f(x_n), y_n) + lam/2 * C(theta)`` (module docstring): after each
    mini-batch step, the proximal map soft-thresholds whole neurons, so training itself is
    sparse; dead neurons are removed at the end.

    Parameters
    ----------
    X : array (N, d)
        Inputs.
    y : array (N,) or (N, D)
        Class labels (``loss="softmax"``: 2 or more classes; ``"logistic"``: exactly 2) or
        targets (``"squared"``).
    hidden_sizes : sequence of int
        Widths of the hidden layers at initialization (He-normal weights, zero biases).
    lam : float >= 0
        Penalty weight for the **summed** loss (``lam = N * alpha``).
    loss : {"softmax", "logistic", "squared"}
        ``softmax``: cross-entropy of the softmax of the outputs; ``logistic``: binary
        cross-entropy of one output; ``squared``: ``1/2 |f(x) - y|^2``.
    epochs, batch_size, lr : int, int, float
        Passes over the data, mini-batch size (capped at N), step size.
    seed : int, numpy Generator or None
        Initialization and shuffling.
    X_val, y_val : arrays or None
        A validation split: after each epoch its mean loss is computed, the best network seen
        is returned, and training stops after ``patience`` epochs without improvement
        (``patience=None``: never stop early).
    optimizer : {"adam", "sgd"}
        Adam (beta1 0.9, beta2 0.999) or plain SGD for the loss step.
    verbose : bool
        Log one line per epoch at INFO (shown on stderr) instead of DEBUG.

    Returns
    -------
    MLP
        A classifier (``out_activation`` softmax / logistic, ``classes``) or a regressor, with
        the dead neurons removed (``mlp.hidden_sizes`` is the number of surviving neurons).
    """
    return _train("prox", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose)


def train_weight_decay(X: Any, y: Any, hidden_sizes: Sequence[int], lam: float, *,
                       loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                       lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                       optimizer: str = "adam", patience: int | None = 20,
                       verbose: bool = False) -> MLP:
    """Train an MLP with plain weight decay, the baseline of :func:`train_prox`.

    Minimizes ``sum_n loss(f(x_n), y_n) + lam * 1/2 sum_l |W_l|_F^2`` (biases unpenalized) by
    the same mini-batch steps, each followed by the exact prox of the weight decay,
    ``W_l <- W_l / (1 + lr * lam / N)`` (decoupled weight decay). Same parameters and return
    value as :func:`train_prox`; neurons are removed only if they are exactly dead.
    """
    return _train("wd", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose)


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


def _train(kind: str, X: Any, y: Any, hidden_sizes: Sequence[int], lam: Any, *, loss: str,
           epochs: Any, batch_size: Any, lr: Any, seed: Any, X_val: Any, y_val: Any,
           optimizer: str, patience: Any, verbose: bool) -> MLP:
    if loss not in _LOSSES:
        raise InvalidProblemError(f"loss: unknown value {loss!r}; use one of "
                                  f"{', '.join(_LOSSES)}")
    if optimizer not in ("adam", "sgd"):
        raise InvalidProblemError(f"optimizer: unknown value {optimizer!r}; use 'adam' or 'sgd'")
    X = as_matrix(X, "X")
    N, d = X.shape
    if N == 0:
        raise InvalidProblemError("X: has no rows; pass at least one training example")
    Y, classes = _targets(y, loss, N, "y")
    try:
        sizes = [_check_int(h, "hidden_sizes", 1) for h in hidden_sizes]
    except TypeError:
        raise InvalidProblemError(f"hidden_sizes: expected a list of positive integers, got "
                                  f"{hidden_sizes!r}") from None
    if not sizes:
        raise InvalidProblemError("hidden_sizes: needs at least one hidden layer, e.g. [64]")
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        lam = float("nan")
    if not (np.isfinite(lam) and lam >= 0):
        raise InvalidProblemError(f"lam: must be a finite number >= 0 (for the summed loss, "
                                  f"lam = N * alpha), got {lam!r}")
    epochs = _check_int(epochs, "epochs", 1)
    batch = min(_check_int(batch_size, "batch_size", 1), N)
    lr = check_positive(lr, "lr", example="1e-3")
    if patience is not None:
        patience = _check_int(patience, "patience", 1)
    if (X_val is None) != (y_val is None):
        raise InvalidProblemError("X_val, y_val: pass both (a validation split) or neither")
    if X_val is not None:
        X_val = as_matrix(X_val, "X_val")
        if X_val.shape[1] != d:
            raise InvalidProblemError(f"X_val: has {X_val.shape[1]} columns, X has {d}")
        Y_val, _ = _targets(y_val, loss, X_val.shape[0], "y_val", classes)
        if Y_val.shape[1] != Y.shape[1]:
            raise InvalidProblemError(f"y_val: has {Y_val.shape[1]} targets, y has {Y.shape[1]}")
    rng = np.random.default_rng(check_seed(seed))

    dims = [d] + sizes + [Y.shape[1]]
    Ws = [rng.normal(size=(dims[i + 1], dims[i])) * np.sqrt(2.0 / dims[i])
          for i in range(len(dims) - 1)]
    bs = [np.zeros(dims[i + 1]) for i in range(len(dims) - 1)]
    params = Ws + bs
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    alpha = lam / N
    step = 0
    best, best_val, stale = None, np.inf, 0
    out_act = {"softmax": "softmax", "logistic": "logistic", "squared": "identity"}[loss]

    with progress(_LOG, verbose) as level:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(N)
            total = 0.0
            for start in range(0, N, batch):
                rows = order[start:start + batch]
                val, gW, gb = _grads(Ws, bs, X[rows], Y[rows], loss)
                total += val * rows.size
                step += 1
                for i, (p, g) in enumerate(zip(Ws + bs, gW + gb)):
                    if optimizer == "sgd":
                        p -= lr * g
                        continue
                    m1[i] *= 0.9
                    m1[i] += 0.1 * g
                    m2[i] *= 0.999
                    m2[i] += 0.001 * g * g
                    p -= lr * (m1[i] / (1 - 0.9 ** step)) / (
                        np.sqrt(m2[i] / (1 - 0.999 ** step)) + 1e-8)
                if alpha > 0:
                    if kind == "wd":
                        for W in Ws:
                            W /= 1.0 + lr * alpha
                    else:
                        Ws[0] /= 1.0 + lr * alpha / 2
                        Ws[-1] /= 1.0 + lr * alpha / 2
                        _rebalance(Ws, bs)
                        _prox_path(Ws, bs, lr * alpha / 2)
                        for l in range(len(Ws) - 1):       # the dead stay dead
                            dead = ~np.any(Ws[l] != 0, axis=1)
                            if np.any(dead):
                                m1[l][dead] = 0.0
                                m1[len(Ws) + l][dead] = 0.0
                                m1[l + 1][:, dead] = 0.0
            alive = [int(np.sum(np.any(W != 0, axis=1))) for W in Ws[:-1]]
            msg = f"epoch {epoch}: train loss {total / N:.4g}, alive {alive}"
            if X_val is not None:
                _, out = _forward(Ws, bs, X_val)
                vloss = _loss_and_grad(loss, out, Y_val)[0]
                msg += f", val loss {vloss:.4g}"
                if vloss < best_val:
                    best_val, stale = vloss, 0
                    best = ([W.copy() for W in Ws], [b.copy() for b in bs])
                else:
                    stale += 1
            _LOG.log(level, msg)
            if not np.all([np.all(np.isfinite(W)) for W in Ws]):
                raise InvalidProblemError(f"lr: training diverged at epoch {epoch} (non-finite "
                                          f"weights); lower lr (now {lr:g})")
            if patience is not None and X_val is not None and stale >= patience:
                _LOG.log(level, f"early stop at epoch {epoch}, best val loss {best_val:.4g}")
                break
    if best is not None:
        Ws, bs = best
    return MLP(Ws, bs, out_activation=out_act, classes=classes).drop_dead()
