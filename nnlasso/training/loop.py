"""The training loop shared by every trainer: mini-batch steps, the penalty's prox, validation and early stopping."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .._logging import progress
from .._validation import as_matrix, check_fraction, check_positive, check_seed
from ..errors import InvalidProblemError
from .mlp_ops import _check_int, _loss_and_grad, _targets
from .models import _MLPModel, _initial_model

_LOG = logging.getLogger("nnlasso.training")
_LOSSES = ("softmax", "logistic", "squared")


def _epoch_lrs(lr: float, epochs: int, debias: float) -> tuple[np.ndarray, int]:
    """(step size of each epoch, number of penalized epochs): ``lr`` for the first
    ``E_p = epochs - round(debias * epochs)`` epochs, then the debias phase's cosine
    ``lr/2 (1 + cos(pi j / E_d))``, ``j = 0 .. E_d - 1`` (:func:`train_prox`)."""
    n_debias = min(round(debias * epochs), epochs - 1)
    n_pen = epochs - n_debias
    out = np.full(epochs, float(lr))
    out[n_pen:] = lr * 0.5 * (1.0 + np.cos(np.pi * np.arange(n_debias) / max(n_debias, 1)))
    return out, n_pen


def _train(kind: str, X: Any, y: Any, hidden_sizes: Any, lam: Any, *, loss: str,
           epochs: Any, batch_size: Any, lr: Any, seed: Any, X_val: Any, y_val: Any,
           optimizer: str, patience: Any, verbose: bool, debias: Any = 0.0) -> Any:
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
        lam = float(lam)
    except (TypeError, ValueError):
        lam = float("nan")
    if not (np.isfinite(lam) and lam >= 0):
        raise InvalidProblemError(f"lam: must be a finite number >= 0 (for the summed loss, "
                                  f"lam = N * alpha), got {lam!r}")
    epochs = _check_int(epochs, "epochs", 1)
    batch = min(_check_int(batch_size, "batch_size", 1), N)
    lr = check_positive(lr, "lr", example="1e-3")
    debias = check_fraction(debias, "debias", example="0.1; 0 turns the debias phase off")
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
    model, one_output = _initial_model(hidden_sizes, kind, d, Y.shape[1], loss, rng)
    if loss == "squared" and np.ndim(y) == 1 and not isinstance(model, _MLPModel):
        one_output = True

    params = model.params
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    alpha = lam / N
    step = 0
    best, best_val, stale = None, np.inf, 0
    out_act = {"softmax": "softmax", "logistic": "logistic", "squared": "identity"}[loss]

    lrs, n_pen = _epoch_lrs(lr, epochs, debias)
    zero: list[tuple[int, np.ndarray]] = []

    epoch = 0
    with progress(_LOG, verbose) as level:
        while epoch < epochs:
            epoch += 1
            lr = float(lrs[epoch - 1])
            if epoch == n_pen + 1 and n_pen < epochs:   # debias: penalty off, support fixed
                if best is not None:                    # start from the best network seen
                    model.restore(best)
                stale = 0
                if alpha > 0:
                    zero = [(i, params[i] == 0) for i in model.penalized]
                    zero = [(i, z) for i, z in zero if np.any(z)]
            order = rng.permutation(N)
            total = 0.0
            for start in range(0, N, batch):
                rows = order[start:start + batch]
                val, grads = model.grads(X[rows], Y[rows], loss)
                total += val * rows.size
                step += 1
                for i, (p, g) in enumerate(zip(params, grads)):
                    if optimizer == "sgd":
                        p -= lr * g
                        continue
                    m1[i] *= 0.9
                    m1[i] += 0.1 * g
                    m2[i] *= 0.999
                    m2[i] += 0.001 * g * g
                    p -= lr * (m1[i] / (1 - 0.9 ** step)) / (
                        np.sqrt(m2[i] / (1 - 0.999 ** step)) + 1e-8)
                if epoch > n_pen:
                    for i, z in zero:
                        params[i][z] = 0.0
                        m1[i][z] = 0.0
                elif alpha > 0:
                    model.prox(kind, lr * alpha, m1)
            msg = (f"epoch {epoch}{' (debias)' if epoch > n_pen else ''}: lr {lr:.3g}, "
                   f"train loss {total / N:.4g}, alive {model.alive()}")
            if X_val is not None:
                vloss = _loss_and_grad(loss, model.outputs(X_val), Y_val)[0]
                msg += f", val loss {vloss:.4g}"
                if vloss < best_val:
                    best_val, stale = vloss, 0
                    best = model.snapshot()
                else:
                    stale += 1
            _LOG.log(level, msg)
            if not all(np.all(np.isfinite(p)) for p in params):
                raise InvalidProblemError(f"lr: training diverged at epoch {epoch} (non-finite "
                                          f"weights); lower lr (now {lrs[0]:g})")
            if patience is not None and X_val is not None and stale >= patience:
                if epoch < n_pen:
                    _LOG.log(level, f"early stop of the penalized phase at epoch {epoch}, best "
                                    f"val loss {best_val:.4g}; debias phase next")
                    epoch = n_pen
                    continue
                _LOG.log(level, f"early stop at epoch {epoch}, best val loss {best_val:.4g}")
                break
    return model.result(best, out_act, classes, one_output)
