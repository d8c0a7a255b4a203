"""Dual points, duality gaps and lam_max of the multitask / group lasso (pure NumPy).

For the primal

    P(V, B) = sum_n L(y_n, (Phi V + A B)_n) + lam * sum_g omega_g |V_g|_F            (MTL)

with A = [X 1] the free affine (skip) columns, Fenchel duality gives

    D(Q) = -sum_n L*(-q_n)   s.t.   A^T Q = 0,   |Phi_g^T Q|_F <= lam omega_g  for all g.

nnlasso never trusts a solver's dual: it takes Q = -grad L at the returned fit, projects it onto
the orthogonal complement of col(A), clips it into the domain of L*, scales it by
1 / max(1, max_g |Phi_g^T Q|_F / (lam omega_g)) and evaluates D itself. Then
gap = P - D >= 0 certifies the primal to within ``gap`` (:func:`gaps`: a computed P - D < 0 is
rounding and is reported as 0).

The certificate path, one definition each, used by every program (lasso, min-norm, activation
patterns, the native solver's inner loops, compression and the representer certificates):

* :func:`dual_point`: Q = clip(P (-grad L(Z))), P the projector off the affine columns;
* :func:`scaled_dual_value`: D(Q / max(1, ratio)), ratio = the largest constraint ratio of Q;
* :func:`relative_gap` / :func:`gaps`: gap = max(P - D, 0), rel_gap = gap / max(|P|, |D|, tiny);
* :func:`certified_status`: "optimal" iff rel_gap <= max(tol, 1e-6).
"""
from __future__ import annotations

import numpy as np

from .affine import affine_columns, project_out  # noqa: F401  (re-exported)
from .losses import Loss


def group_norms(M: np.ndarray, group_ids: np.ndarray, n_groups: int) -> np.ndarray:
    """Frobenius norm of each group of rows of ``M``: sqrt(sum_{k in g} |M[k, :]|^2)."""
    row_sq = np.einsum("kd,kd->k", M, M)
    return np.sqrt(np.bincount(group_ids, weights=row_sq, minlength=n_groups))


def penalty(V: np.ndarray, group_ids: np.ndarray, weights: np.ndarray) -> float:
    """sum_g omega_g |V_g|_F."""
    return float(weights @ group_norms(V, group_ids, weights.size))


def fit_affine(loss: Loss, T: np.ndarray, offset: np.ndarray, A: np.ndarray,
               B0: np.ndarray | None = None, max_iter: int = 50) -> np.ndarray:
    """Minimize sum_n L(t_n, offset_n + (A B)_n) over the unpenalized affine coefficients B (p, D).

    Squared loss: least squares. Logistic / softmax: damped Newton with backtracking, started at
    ``B0``; the result makes A^T grad L vanish to machine precision, which is what makes the
    projected dual point of :func:`lasso_dual` (almost exactly) feasible.
    """
    p, D = A.shape[1], T.shape[1]
    if p == 0:
        return np.zeros((0, D))
    if loss.name == "squared":
        return np.linalg.lstsq(A, T - offset, rcond=None)[0]
    B = np.zeros((p, D)) if B0 is None else np.array(B0, dtype=float)
    f = loss.value(offset + A @ B, T)
    if p * D > 800:  # Hessian too large to form cheaply: keep the solver's coefficients
        return B
    for _ in range(max_iter):
        Z = offset + A @ B
        G = A.T @ loss.grad(Z, T)
        if np.max(np.abs(G)) < 1e-13 * max(1.0, np.abs(T).sum()):
            break
        H = _affine_hessian(loss, Z, A)
        H += 1e-12 * np.trace(H) / H.shape[0] * np.eye(H.shape[0])
        step = np.linalg.lstsq(H, G.reshape(-1, order="F"), rcond=None)[0]
        step = step.reshape(p, D, order="F")
        t = 1.0
        while t > 1e-10:
            Bn = B - t * step
            fn = loss.value(offset + A @ Bn, T)
            if fn <= f:
                break
            t *= 0.5
        else:
            break
        if f - fn <= 1e-16 * max(1.0, abs(f)) and t < 1:
            B = Bn
            break
        B, f = Bn, fn
    return B


def _affine_hessian(loss: Loss, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Hessian of B -> sum L(offset + A B) w.r.t. vec(B) (column-major: outputs outermost)."""
    if loss.name == "logistic":
        s = 1.0 / (1.0 + np.exp(-np.abs(Z[:, 0])))
        h = s * (1 - s)
        return A.T @ (h[:, None] * A)
    # softmax: sum_n kron(diag(p) - p p^T, a a^T)
    Zs = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Zs)
    P /= P.sum(axis=1, keepdims=True)
    p_, D = A.shape[1], Z.shape[1]
    H = np.zeros((p_ * D, p_ * D))
    for c in range(D):
        for e in range(c, D):
            w = P[:, c] * ((c == e) - P[:, e])
            blk = A.T @ (w[:, None] * A)
            H[c * p_:(c + 1) * p_, e * p_:(e + 1) * p_] = blk
            H[e * p_:(e + 1) * p_, c * p_:(c + 1) * p_] = blk
    return H


def lasso_dual(Phi: np.ndarray, T: np.ndarray, Z: np.ndarray, loss: Loss, lam: float,
               basis: np.ndarray, group_ids: np.ndarray, weights: np.ndarray
               ) -> tuple[float, np.ndarray, float]:
    """Dual objective of (MTL) at the dual point built from the fit ``Z``.

    Returns ``(dual_objective, Q, ratio)`` where Q is the feasible (scaled) dual point and
    ratio = max_g |Phi_g^T Q0|_F / (lam omega_g) for the unscaled point Q0 (<= 1 at an optimum:
    the KKT condition).
    """
    Q = dual_point(loss, Z, T, basis)
    norms = group_norms(Phi.T @ Q, group_ids, weights.size)
    ratio = float(np.max(norms / (lam * weights))) if norms.size else 0.0
    Q = Q / max(1.0, ratio)
    return loss.dual_value(Q, T), Q, ratio


def dual_point(loss: Loss, Z: np.ndarray, T: np.ndarray, basis: np.ndarray | None, *,
               neg_grad: np.ndarray | None = None) -> np.ndarray:
    """nnlasso's (unscaled) dual point at the fit Z:  Q = clip(P (-grad L(Z))).

    P = I - U U^T projects off the free affine columns (``basis`` = U, orthonormal, or None),
    which makes the dual constraint A^T Q = 0 hold; ``clip`` moves Q (by rounding-size amounts
    at an optimum) into the domain of the conjugate L*. ``neg_grad`` passes -grad L(Z) when the
    caller already has it.
    """
    Q = -loss.grad(Z, T) if neg_grad is None else neg_grad
    if basis is not None:
        Q = project_out(Q, basis)
    return loss.clip(Q, T)


def scaled_dual_value(loss: Loss, Q: np.ndarray, T: np.ndarray, ratio: float) -> float:
    """D(Q / s) = -sum_n L*(-q_n / s) with s = max(1, ratio), ratio = the largest ratio
    |constraint(Q)| / bound of the dual point (the KKT ratio); -inf when ratio is not finite."""
    if not np.isfinite(ratio):
        return -np.inf
    return float(loss.dual_value(Q / max(1.0, ratio), T))


def relative_gap(primal: float, dual: float) -> float:
    """The relative duality gap of nnlasso, one definition for every program:

        rel_gap = max(P - D, 0) / max(|P|, |D|, tiny)

    (|D| left out of the denominator when D is not finite: rel_gap = inf for D = -inf, a dual
    point outside the domain). See :func:`gaps`.
    """
    return gaps(primal, dual)[1]


def gaps(primal: float, dual: float) -> tuple[float, float]:
    """Duality gap and relative gap of a primal value P and a dual value D:

        gap = max(P - D, 0),      rel_gap = gap / max(|P|, |D|, tiny).

    nnlasso's dual points are feasible, so weak duality gives P >= D exactly; a negative
    computed P - D is floating-point rounding in the evaluation of P and D. It happens when
    both are near zero while the terms they are summed from are not (the skip alone fits the
    data exactly: constant targets, two points) and means the point is optimal to rounding
    level, so the certificate is reported as 0, never negative. A dual value of -inf (no
    feasible dual point was found) gives gap = rel_gap = inf.
    """
    gap = max(float(primal - dual), 0.0)
    scale = max(abs(primal), abs(dual) if np.isfinite(dual) else 0.0, np.finfo(float).tiny)
    return gap, float(gap / scale)


#: the loosest relative gap that is reported "optimal" whatever ``tol`` asks (solvers' own
#: accuracy on badly conditioned programs)
STATUS_REL_GAP = 1e-6


def certified_status(solver_status: str, rel_gap: float, tol: float) -> str:
    """nnlasso's status from its own certificate.

    "optimal" when nnlasso's relative duality gap is within ``max(tol, 1e-6)`` (whatever the
    solver said about its internal accuracy), "optimal_inaccurate" when the solver returned a
    point whose certified gap is larger; "infeasible" / "error" are kept.
    """
    if solver_status not in ("optimal", "optimal_inaccurate"):
        return solver_status
    return "optimal" if rel_gap <= max(tol, STATUS_REL_GAP) else "optimal_inaccurate"


def lam_max_value(Phi: np.ndarray, T: np.ndarray, loss: Loss, A: np.ndarray,
                  group_ids: np.ndarray, weights: np.ndarray) -> float:
    """lam_max = max_g |Phi_g^T Q0|_F / omega_g with Q0 = -grad L at the best skip-only fit."""
    B = fit_affine(loss, T, np.zeros_like(T), A)
    Q0 = -loss.grad(A @ B, T)
    return float(np.max(group_norms(Phi.T @ Q0, group_ids, weights.size) / weights))


def min_norm_dual(Phi: np.ndarray, Psi: np.ndarray, L: np.ndarray, basis: np.ndarray,
                  eps: float) -> tuple[float, np.ndarray]:
    """Dual of (MIN): max <L, Psi> - eps |Psi|_F |L|_F  s.t.  A^T L = 0, |Phi_k^T L|_2 <= 1.

    ``L`` is any candidate (for instance the solver's multiplier, of either sign convention):
    both L and -L are projected and scaled to max_k |Phi_k^T L|_2 = 1 (the dual objective is
    1-homogeneous, so this scaling is optimal along the ray) and the larger value is returned.
    """
    best, best_L = -np.inf, np.zeros_like(Psi)
    nP = float(np.linalg.norm(Psi))
    L = project_out(L, basis)
    m = float(np.max(np.linalg.norm(Phi.T @ L, axis=1))) if L.size else 0.0
    if m <= 0:
        return 0.0, best_L
    for cand in (L / m, -L / m):
        val = float(np.sum(cand * Psi) - eps * nP * np.linalg.norm(cand))
        if val > best:
            best, best_L = val, cand
    return max(best, 0.0), best_L if best > 0 else np.zeros_like(Psi)
