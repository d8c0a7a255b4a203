"""Data-fitting losses L(y, z) of the multitask lasso, summed over samples (never averaged).

Each loss gives, for encoded targets ``T`` (N, D) and predictions ``Z`` (N, D):

* ``expr(Z, T)``      the CVXPY expression of  sum_n L(y_n, z_n)
* ``value(Z, T)``     its NumPy value
* ``grad(Z, T)``      dL/dZ  (N, D)
* ``dual_value(Q, T)`` = -sum_n L*(-q_n), the Fenchel dual objective of a dual point Q, where
  the dual of  min sum_n L(y_n, (A beta)_n) + lam * pen(beta)  is
  max_Q -sum_n L*(-q_n)  s.t.  pen*(A^T Q / lam) <= 1; at the optimum Q = -grad.
* ``in_domain(Q, T)`` / ``clip(Q, T)``: the domain of that dual objective.

Losses:

squared   L = 1/2 |y - z|^2,                 -L*(-q) = <q, y> - 1/2 |q|^2
logistic  L = log(1 + exp(-y z)), y in {-1,+1}, q = y s with s in [0, 1],
          -L*(-q) = H(s) = -s log s - (1 - s) log(1 - s)
softmax   L = logsumexp(z) - z_y,             q = e_y - p with p in the simplex,
          -L*(-q) = -sum_c p_c log p_c
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, logsumexp, softmax, xlogy

from .errors import InvalidProblemError

if TYPE_CHECKING:
    import cvxpy as cp


class Loss:
    """Base class: see the module docstring for the contract."""

    name: str = ""
    smooth_constant: float = 1.0  # Lipschitz constant of grad w.r.t. each row z_n

    def encode(self, Y: np.ndarray) -> "Targets":  # pragma: no cover - abstract
        raise TypeError("abstract")

    def expr(self, Z: cp.Expression, T: np.ndarray) -> cp.Expression:  # pragma: no cover
        raise TypeError("abstract")

    def value(self, Z: np.ndarray, T: np.ndarray) -> float:  # pragma: no cover
        raise TypeError("abstract")

    def grad(self, Z: np.ndarray, T: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise TypeError("abstract")

    def dual_value(self, Q: np.ndarray, T: np.ndarray) -> float:  # pragma: no cover
        raise TypeError("abstract")

    def clip(self, Q: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Move a dual point (infinitesimally) back into the domain of ``dual_value``."""
        return Q

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass
class Targets:
    """Targets encoded for a loss: ``T`` (N, D), plus the class labels for classification."""

    T: np.ndarray
    classes: np.ndarray | None = None
    was_1d: bool = False
    extra: dict = field(default_factory=dict)


class SquaredLoss(Loss):
    """L(y, z) = 1/2 |y - z|_2^2."""

    name = "squared"

    def encode(self, Y):
        arr = np.asarray(Y, dtype=np.float64)
        was_1d = arr.ndim == 1
        if was_1d:
            arr = arr[:, None]
        return Targets(arr, None, was_1d)

    def expr(self, Z, T):
        import cvxpy as cp
        return 0.5 * cp.sum_squares(T - Z)

    def value(self, Z, T):
        return 0.5 * float(np.sum((T - Z) ** 2))

    def grad(self, Z, T):
        return Z - T

    def dual_value(self, Q, T):
        return float(np.sum(Q * T) - 0.5 * np.sum(Q * Q))


class LogisticLoss(Loss):
    """L(y, z) = log(1 + exp(-y z)) with y in {-1, +1} (labels {0, 1} are mapped to {-1, +1})."""

    name = "logistic"
    smooth_constant = 0.25

    def encode(self, Y):
        arr = np.asarray(Y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise InvalidProblemError(f"Y: the logistic loss takes one label per sample, got shape "
                                      f"{np.shape(Y)}; use loss='softmax' for several classes")
        vals = np.unique(arr)
        if np.all(np.isin(vals, [-1, 1])):
            y = arr.astype(np.float64)
            classes = np.array([-1, 1])
        elif np.all(np.isin(vals, [0, 1])):
            y = 2.0 * arr.astype(np.float64) - 1.0
            classes = np.array([0, 1])
        else:
            raise InvalidProblemError(f"Y: the logistic loss needs labels in {{0, 1}} or {{-1, +1}}, "
                                      f"got values {vals[:5].tolist()}; use loss='softmax' for "
                                      "several classes or 'squared' for regression")
        return Targets(y[:, None], classes, True)

    def expr(self, Z, T):
        import cvxpy as cp
        return cp.sum(cp.logistic(-cp.multiply(T, Z)))

    def value(self, Z, T):
        return float(np.sum(np.logaddexp(0.0, -T * Z)))

    def grad(self, Z, T):
        return -T * expit(-T * Z)

    def clip(self, Q, T):
        s = np.clip(Q * T, 0.0, 1.0)
        return s * T

    def dual_value(self, Q, T):
        s = Q * T
        if np.any(s < -1e-12) or np.any(s > 1 + 1e-12):
            return -np.inf
        s = np.clip(s, 0.0, 1.0)
        return float(-np.sum(xlogy(s, s) + xlogy(1 - s, 1 - s)))


class SoftmaxLoss(Loss):
    """L(y, z) = logsumexp(z) - z_y with integer class labels y (D = number of classes)."""

    name = "softmax"

    def encode(self, Y):
        arr = np.asarray(Y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise InvalidProblemError(f"Y: the softmax loss takes one integer label per sample, got "
                                      f"shape {np.shape(Y)}; pass labels, not one-hot rows")
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise InvalidProblemError("Y: the softmax loss needs integer class labels; got "
                                          "non-integer values")
            if arr.size and float(np.max(np.abs(arr))) > 2.0**53:
                # beyond 2**53 floats are not integers one apart: labels would merge
                raise InvalidProblemError("Y: float class labels above 2**53 in magnitude "
                                          f"(got {float(np.max(np.abs(arr))):.3g}) cannot be told "
                                          "apart reliably; encode the classes as 0..C-1")
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iub":
            raise InvalidProblemError(f"Y: the softmax loss needs integer class labels, got dtype "
                                      f"{arr.dtype}; encode the classes as 0..C-1")
        classes, idx = np.unique(arr, return_inverse=True)
        if classes.size < 2:
            raise InvalidProblemError("Y: the softmax loss needs at least two classes, got "
                                      f"{classes.size}")
        T = np.zeros((arr.size, classes.size))
        T[np.arange(arr.size), idx] = 1.0
        return Targets(T, classes, True)

    def expr(self, Z, T):
        import cvxpy as cp
        return cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(T, Z))

    def value(self, Z, T):
        return float(np.sum(logsumexp(Z, axis=1)) - np.sum(T * Z))

    def grad(self, Z, T):
        return softmax(Z, axis=1) - T

    def clip(self, Q, T):
        P = np.clip(T - Q, 0.0, None)
        P /= P.sum(axis=1, keepdims=True)
        return T - P

    def dual_value(self, Q, T):
        P = T - Q
        if np.any(P < -1e-12) or np.any(np.abs(P.sum(axis=1) - 1) > 1e-9):
            return -np.inf
        P = np.clip(P, 0.0, None)
        return float(-np.sum(xlogy(P, P)))


LOSSES: dict[str, type[Loss]] = {"squared": SquaredLoss, "logistic": LogisticLoss,
                                 "softmax": SoftmaxLoss}


def get_loss(loss: str | Loss) -> Loss:
    """Return the loss object for a name ('squared', 'logistic', 'softmax') or a Loss instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InvalidProblemError(f"loss: unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
