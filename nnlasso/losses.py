"""Data-fitting losses L(y, z) of the multitask lasso, summed over samples (never averaged).

A loss owns its calculus. For encoded targets ``T`` (N, D) and predictions ``Z`` (N, D):

* ``encode(Y)``        the targets T (and the class labels) from the user's Y
* ``expr(Z, T)``       the CVXPY expression of  sum_n L(y_n, z_n)
* ``value(Z, T)``      its NumPy value
* ``grad(Z, T)``       dL/dZ (N, D) (a subgradient where L is not differentiable)
* ``hessian(Z, T, M)`` the Hessian of X -> sum_n L(y_n, (M X)_n) (None: L is not twice
  differentiable)
* ``smooth_constant``  L_s, the Lipschitz constant of z -> grad L(y, z) in each row (Euclidean
  norm); None when L is not smooth
* ``conjugate(U, T)``  sum_n L*(y_n, u_n), L*(y, u) = sup_z <u, z> - L(y, z) (+inf outside its
  domain), and ``dual_value(Q, T) = -sum_n L*(y_n, -q_n)``, the Fenchel dual objective of a dual
  point Q: the dual of  min sum_n L(y_n, (A beta)_n) + lam * pen(beta)  is
  max_Q -sum_n L*(y_n, -q_n)  s.t.  pen*(A^T Q / lam) <= 1; at the optimum Q = -grad.
* ``clip(Q, T)``       a dual point moved into the domain of ``dual_value``
* ``affine_fit(...)``  a direct minimizer over the unpenalized affine coefficients, or None
  (then :func:`nnlasso.duality.fit_affine` takes damped Newton steps with ``hessian``)
* ``dual_interval(Z, T, slack)`` the interval of -dL/dz, entry by entry, where L is not
  differentiable, and the kink's location (None for a differentiable loss; see
  :mod:`nnlasso.kink_dual`)

Solvers declare what they need of a loss (:func:`require`): the native solver needs
``smooth_constant`` and ``hessian`` and refuses a loss without them; the CVXPY backends need
``expr`` only.

Losses:

squared   L = 1/2 |y - z|^2,                  L*(y, u) = 1/2 |u|^2 + <u, y>,    L_s = 1
logistic  L = log(1 + exp(-y z)), y in {-1,+1}, L*(y, u) = s log s + (1 - s) log(1 - s) for
          s = -u y in [0, 1],                                                   L_s = 1/4
softmax   L = logsumexp(z) - z_y,              L*(y, u) = sum_c p_c log p_c for p = e_y + u in
          the simplex,                                                          L_s = 1/2
hinge     L = max(0, 1 - y z), y in {-1,+1},    L*(y, u) = u y for u y in [-1, 0]; not smooth
          (no Hessian, no L_s): CVXPY backends only
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, xlogy

from .errors import InvalidProblemError, SolverError

if TYPE_CHECKING:
    import cvxpy as cp


class Loss:
    """Base class: see the module docstring for the contract."""

    name: str = ""
    #: the targets a loss takes: "regression" (real numbers), "binary" (two labels) or
    #: "multiclass" (integer labels, D = number of classes)
    targets: str = "regression"
    #: Lipschitz constant of z_n -> grad L(y_n, z_n); None for a loss that is not smooth
    smooth_constant: float | None = None
    #: the CVXPY expression uses exponential cones (a larger compiled program)
    exp_cone: bool = False
    #: hessian(Z, T, M) -> (m D, m D); None for a loss that is not twice differentiable
    hessian = None

    @property
    def cones(self) -> tuple[str, ...]:
        """The cones (of :data:`nnlasso.backends.CONES`) its CVXPY expression needs besides a
        QP's second-order cones: ``("exp",)`` when :attr:`exp_cone`."""
        return ("exp",) if self.exp_cone else ()

    def encode(self, Y: np.ndarray) -> "Targets":  # pragma: no cover - abstract
        raise TypeError("abstract")

    def expr(self, Z: cp.Expression, T: np.ndarray) -> cp.Expression:  # pragma: no cover
        raise TypeError("abstract")

    def value(self, Z: np.ndarray, T: np.ndarray) -> float:  # pragma: no cover
        raise TypeError("abstract")

    def grad(self, Z: np.ndarray, T: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise TypeError("abstract")

    def conjugate(self, U: np.ndarray, T: np.ndarray) -> float:  # pragma: no cover
        raise TypeError("abstract")

    def dual_value(self, Q: np.ndarray, T: np.ndarray) -> float:
        """-sum_n L*(y_n, -q_n) (-inf outside the domain)."""
        return -self.conjugate(-Q, T)

    def clip(self, Q: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Move a dual point (infinitesimally) back into the domain of ``dual_value``."""
        return Q

    def affine_fit(self, T: np.ndarray, offset: np.ndarray, A: np.ndarray,
                   B0: np.ndarray | None) -> np.ndarray | None:
        """argmin_B sum_n L(y_n, offset_n + (A B)_n) by a direct method, or None (Newton)."""
        return None

    def dual_interval(self, Z: np.ndarray, T: np.ndarray, slack: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(lo, hi, kink): the bounds of -dL/dz at Z, an interval at the samples within ``slack``
        of a kink, and the location z of that kink (N, D each); None when L is differentiable
        (then -grad L is the dual point). See :mod:`nnlasso.kink_dual`."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def require(loss: Loss, needs: tuple[str, ...], solver: str, fix: str | None = None) -> None:
    """Refuse a loss that lacks what ``solver`` needs (``smooth_constant``, ``hessian``, ...).

    ``solver`` names the caller in the message, e.g. "solver='prox'"; ``fix`` replaces the
    default advice (a CVXPY backend).

    Raises
    ------
    SolverError
        naming the loss, the missing parts and the fix.
    """
    missing = [a for a in needs if getattr(loss, a, None) is None]
    if missing:
        fix = fix or ("use solver='auto' or a CVXPY backend on the full program, e.g. "
                      "solver='CLARABEL' (working_set=False)")
        raise SolverError(f"{solver}: the {loss.name} loss has no {' and no '.join(missing)} (it "
                          f"is not smooth), which it needs; {fix}")


@dataclass
class Targets:
    """Targets encoded for a loss: ``T`` (N, D), plus the class labels for classification."""

    T: np.ndarray
    classes: np.ndarray | None = None
    was_1d: bool = False
    extra: dict = field(default_factory=dict)


def _one_label_per_sample(Y: np.ndarray, name: str, fix: str) -> np.ndarray:
    """Y as a 1-D array of labels ((N, 1) accepted), else an InvalidProblemError."""
    arr = np.asarray(Y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidProblemError(f"Y: the {name} loss takes one label per sample, got shape "
                                  f"{np.shape(Y)}; {fix}")
    return arr


def _binary_targets(Y: np.ndarray, name: str) -> "Targets":
    """Labels {0, 1} or {-1, +1} encoded as T = y in {-1, +1} (N, 1)."""
    arr = _one_label_per_sample(Y, name, "use loss='softmax' for several classes")
    vals = np.unique(arr)
    if np.all(np.isin(vals, [-1, 1])):
        y = arr.astype(np.float64)
        classes = np.array([-1, 1])
    elif np.all(np.isin(vals, [0, 1])):
        y = 2.0 * arr.astype(np.float64) - 1.0
        classes = np.array([0, 1])
    else:
        raise InvalidProblemError(f"Y: the {name} loss needs labels in {{0, 1}} or {{-1, +1}}, "
                                  f"got values {vals[:5].tolist()}; use loss='softmax' for "
                                  "several classes or 'squared' for regression")
    return Targets(y[:, None], classes, True)


class SquaredLoss(Loss):
    """L(y, z) = 1/2 |y - z|_2^2;  grad = z - y,  Hessian I,  L*(y, u) = 1/2 |u|^2 + <u, y>."""

    name = "squared"
    smooth_constant = 1.0

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

    def hessian(self, Z, T, M):
        """kron(M^T M, I_D)."""
        return np.kron(M.T @ M, np.eye(Z.shape[1]))

    def conjugate(self, U, T):
        return float(0.5 * np.sum(U * U) + np.sum(U * T))

    def affine_fit(self, T, offset, A, B0):
        """Least squares."""
        return np.linalg.lstsq(A, T - offset, rcond=None)[0]


class LogisticLoss(Loss):
    """L(y, z) = log(1 + exp(-y z)) with y in {-1, +1} (labels {0, 1} are mapped to {-1, +1}).

    grad = -y sigma(-y z); Hessian sigma(z) (1 - sigma(z)) <= 1/4 (= L_s, at z = 0);
    L*(y, u) = s log s + (1 - s) log(1 - s) with s = -u y in [0, 1].
    """

    name = "logistic"
    targets = "binary"
    smooth_constant = 0.25
    exp_cone = True

    def encode(self, Y):
        return _binary_targets(Y, self.name)

    def expr(self, Z, T):
        import cvxpy as cp
        return cp.sum(cp.logistic(-cp.multiply(T, Z)))

    def value(self, Z, T):
        return float(np.sum(np.logaddexp(0.0, -T * Z)))

    def grad(self, Z, T):
        return -T * expit(-T * Z)

    def hessian(self, Z, T, M):
        """M^T diag(h) M with h_n = s_n (1 - s_n), s_n = sigma(|z_n|) (D = 1)."""
        s = 1.0 / (1.0 + np.exp(-np.abs(Z[:, 0])))
        return M.T @ ((s * (1.0 - s))[:, None] * M)

    def clip(self, Q, T):
        s = np.clip(Q * T, 0.0, 1.0)
        return s * T

    def conjugate(self, U, T):
        s = -U * T
        if np.any(s < -1e-12) or np.any(s > 1 + 1e-12):
            return np.inf
        s = np.clip(s, 0.0, 1.0)
        return float(np.sum(xlogy(s, s) + xlogy(1 - s, 1 - s)))


class SoftmaxLoss(Loss):
    """L(y, z) = logsumexp(z) - z_y with integer class labels y (D = number of classes).

    grad = p - e_y with p = softmax(z); per-sample Hessian H = diag(p) - p p^T;
    L*(y, u) = sum_c p_c log p_c for p = e_y + u in the simplex (+inf elsewhere).

    Smoothness constant L_s = 1/2, and it is tight: for any v in R^D,
    v^T H v = Var_{c ~ p}(v_c) <= (max_c v_c - min_c v_c)^2 / 4 (Popoviciu's inequality)
    <= 2 |v|^2 / 4 = |v|^2 / 2, since (v_a - v_b)^2 <= 2 (v_a^2 + v_b^2) <= 2 |v|^2; equality
    at p = (1/2, 1/2, 0, ...), v = (1, -1, 0, ...) / sqrt(2). So grad L is 1/2-Lipschitz and
    L* is 2-strongly convex on its domain: the step 1 / L of the first-order solver and the
    gap-safe screening radius sqrt(2 L_s gap) both use 1/2 (the generic bound 1 is valid but
    screens less).
    """

    name = "softmax"
    targets = "multiclass"
    smooth_constant = 0.5
    exp_cone = True

    def encode(self, Y):
        arr = _one_label_per_sample(Y, self.name, "pass integer labels, not one-hot rows")
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
        # plain NumPy (scipy's logsumexp has a per-call overhead that dominates the small inner
        # iterations of the native solver)
        zmax = Z.max(axis=1)
        lse = np.log(np.exp(Z - zmax[:, None]).sum(axis=1)) + zmax
        return float(lse.sum() - np.einsum("nd,nd->", T, Z))

    def grad(self, Z, T):
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        return P - T

    def hessian(self, Z, T, M):
        """H[(i, a), (j, b)] = sum_n M[n, i] M[n, j] (diag(p_n) - p_n p_n^T)[a, b]."""
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        N, m = M.shape
        D = Z.shape[1]
        E = (M[:, :, None] * P[:, None, :]).reshape(N, m * D)
        H = -(E.T @ E)
        diag = (E.T @ M).reshape(m, D, m)                  # [i, a, j] = sum_n M_ni P_na M_nj
        H4 = H.reshape(m, D, m, D)
        for a in range(D):
            H4[:, a, :, a] += diag[:, a, :]
        return H

    def clip(self, Q, T):
        P = np.clip(T - Q, 0.0, None)
        P /= P.sum(axis=1, keepdims=True)
        return T - P

    def conjugate(self, U, T):
        P = T + U
        if np.any(P < -1e-12) or np.any(np.abs(P.sum(axis=1) - 1) > 1e-9):
            return np.inf
        P = np.clip(P, 0.0, None)
        return float(np.sum(xlogy(P, P)))


class HingeLoss(Loss):
    """L(y, z) = max(0, 1 - y z) with y in {-1, +1} (labels {0, 1} are mapped to {-1, +1}).

    The support-vector loss: convex, not differentiable at y z = 1, so it has no Hessian and no
    smoothness constant and the native solver refuses it (CVXPY backends solve it; the program
    is a second-order cone program). A subgradient is -y [y z < 1]; -dL/dz = y s with s = 1
    (y z < 1), s in [0, 1] (y z = 1), s = 0 (y z > 1) (:meth:`dual_interval`).

    Conjugate: L*(y, u) = sup_z u z - max(0, 1 - y z) = u y for u y in [-1, 0], +inf otherwise,
    so the dual objective of a dual point Q = y s is -sum_n L*(y_n, -q_n) = sum_n s_n with
    s = q y in [0, 1]. The affine part is refitted exactly by a linear program (HiGHS).
    """

    name = "hinge"
    targets = "binary"

    def encode(self, Y):
        return _binary_targets(Y, self.name)

    def expr(self, Z, T):
        import cvxpy as cp
        return cp.sum(cp.pos(1 - cp.multiply(T, Z)))

    def value(self, Z, T):
        return float(np.sum(np.maximum(0.0, 1.0 - T * Z)))

    def grad(self, Z, T):
        return -T * (T * Z < 1.0)

    def clip(self, Q, T):
        return np.clip(Q * T, 0.0, 1.0) * T

    def conjugate(self, U, T):
        s = -U * T
        if np.any(s < -1e-12) or np.any(s > 1 + 1e-12):
            return np.inf
        return -float(np.sum(np.clip(s, 0.0, 1.0)))

    def dual_interval(self, Z, T, slack):
        m = T * Z
        s_lo, s_hi = (m < 1.0 - slack).astype(float), (m <= 1.0 + slack).astype(float)
        return np.minimum(T * s_lo, T * s_hi), np.maximum(T * s_lo, T * s_hi), T.copy()

    def affine_fit(self, T, offset, A, B0):
        """min_B sum_n max(0, 1 - y_n (o_n + a_n^T B)) as the linear program
        min sum_n t_n  s.t.  t_n >= 1 - y_n (o_n + a_n^T B),  t >= 0 (HiGHS); ``B0`` is kept
        when it is at least as good."""
        from scipy.optimize import linprog

        N, p = A.shape
        y, o = T[:, 0], offset[:, 0]
        c = np.concatenate([np.zeros(p), np.ones(N)])
        A_ub = np.hstack([-y[:, None] * A, -np.eye(N)])
        bounds = [(None, None)] * p + [(0, None)] * N
        res = linprog(c, A_ub=A_ub, b_ub=y * o - 1.0, bounds=bounds, method="highs")
        B = res.x[:p, None] if res.status == 0 else np.zeros((p, 1))
        if B0 is not None and self.value(offset + A @ B0, T) <= self.value(offset + A @ B, T):
            return np.array(B0, dtype=float)
        return B


def mean_class_loss(Z: np.ndarray, codes: np.ndarray) -> float:
    """The mean classification loss L(T, Z) / N at raw outputs (logits) Z of class codes.

    One column (N, 1): the logistic loss of codes {0, 1} (T = 2 codes - 1); C columns: the
    softmax loss of codes 0..C-1 (T their one-hot rows over the C columns). The scores of
    compression (``loss_train``) and of the classifier CV estimator (``neg_log_loss``).
    """
    Z = np.asarray(Z, dtype=float)
    codes = np.asarray(codes).astype(int)
    if Z.shape[1] == 1:
        return LogisticLoss().value(Z, (2.0 * codes - 1.0)[:, None]) / Z.shape[0]
    return SoftmaxLoss().value(Z, np.eye(Z.shape[1])[codes]) / Z.shape[0]


LOSSES: dict[str, type[Loss]] = {"squared": SquaredLoss, "logistic": LogisticLoss,
                                 "softmax": SoftmaxLoss, "hinge": HingeLoss}


def get_loss(loss: str | Loss) -> Loss:
    """Return the loss object for a name (a key of :data:`LOSSES`) or a Loss instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InvalidProblemError(f"loss: unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
