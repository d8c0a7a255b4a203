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
from .kink_dual import kink_ascent, kink_candidates, kink_lam_max
from .losses import Loss, require


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

    A loss with a direct method (:meth:`nnlasso.losses.Loss.affine_fit`; squared loss: least
    squares) uses it; the others (logistic, softmax) take damped Newton steps with the loss's
    Hessian and backtracking, started at ``B0``; the result makes A^T grad L vanish to machine
    precision, which is what makes the projected dual point of :func:`lasso_dual` (almost
    exactly) feasible.
    """
    p, D = A.shape[1], T.shape[1]
    if p == 0:
        return np.zeros((0, D))
    direct = loss.affine_fit(T, offset, A, B0)
    if direct is not None:  # a closed form (squared loss: least squares) or an exact solver
        return direct
    B = np.zeros((p, D)) if B0 is None else np.array(B0, dtype=float)
    f = loss.value(offset + A @ B, T)
    if p * D > 800:  # Hessian too large to form cheaply: keep the solver's coefficients
        return B
    for _ in range(max_iter):
        Z = offset + A @ B
        G = A.T @ loss.grad(Z, T)
        if np.max(np.abs(G)) < 1e-13 * max(1.0, np.abs(T).sum()):
            break
        H = _affine_hessian(loss, Z, T, A)
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


def _affine_hessian(loss: Loss, Z: np.ndarray, T: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Hessian of B -> sum_n L(y_n, offset_n + (A B)_n) w.r.t. vec(B) in column-major order
    (outputs outermost): the loss's own Hessian (row-major, :meth:`nnlasso.losses.Loss.hessian`)
    with its rows and columns permuted."""
    require(loss, ("hessian",), "fit_affine (damped Newton)",
            fix="give the loss a hessian or an affine_fit (nnlasso.losses.Loss)")
    p_, D = A.shape[1], Z.shape[1]
    perm = (np.arange(p_)[None, :] * D + np.arange(D)[:, None]).ravel()  # (a, i) -> i D + a
    H = loss.hessian(Z, T, A)
    return H[np.ix_(perm, perm)]


def lasso_dual(Phi: np.ndarray, T: np.ndarray, Z: np.ndarray, loss: Loss, lam: float,
               basis: np.ndarray, group_ids: np.ndarray, weights: np.ndarray,
               V: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
    """Dual objective of (MTL) at the dual point built from the fit ``Z``.

    Returns ``(dual_objective, Q, ratio)`` where Q is the feasible (scaled) dual point and
    ratio = max_g |Phi_g^T Q0|_F / (lam omega_g) for the unscaled point Q0 (<= 1 at an optimum:
    the KKT condition).

    A loss with kinks (:meth:`nnlasso.losses.Loss.dual_interval`, e.g. the hinge) has no unique
    -grad L at the samples on a kink; there the candidates of :mod:`nnlasso.kink_dual` (which use
    the primal point ``V`` for the KKT conditions of its active groups) are evaluated too and
    the largest dual value is kept (every candidate is made feasible, so each value is a lower
    bound of the optimum).
    """
    def feasible(Q: np.ndarray) -> tuple[float, np.ndarray, float]:
        Q = dual_point(loss, Z, T, basis, neg_grad=Q)
        norms = group_norms(Phi.T @ Q, group_ids, weights.size)
        ratio = float(np.max(norms / (lam * weights))) if norms.size else 0.0
        Q = Q / max(1.0, ratio)
        return loss.dual_value(Q, T), Q, ratio

    best = feasible(-loss.grad(Z, T))
    if loss.dual_interval(Z, T, 0.0) is None:
        return best
    scored = [(feasible(Q), Q, slack) for Q, slack in
              kink_candidates(Phi, T, Z, loss, lam, basis, group_ids, weights, V)]
    if scored:
        top, Q0, slack = max(scored, key=lambda c: c[0][0])
        best = max(best, top, key=lambda c: c[0])
        Qa = kink_ascent(Q0, slack, Phi, T, Z, loss, lam, basis, group_ids, weights)
        if Qa is not None:
            best = max(best, feasible(Qa), key=lambda c: c[0])
    return best


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
    """lam_max = max_g |Phi_g^T Q0|_F / omega_g with Q0 = -grad L at the best skip-only fit.

    For a loss with kinks (the hinge) Q0 is not unique where the skip-only fit sits on a kink:
    every Q0 in -dL with A^T Q0 = 0 gives an upper bound of lam_max (V = 0 satisfies the KKT
    conditions at that lam); the smallest over -grad L, the candidates of
    :func:`nnlasso.kink_dual.kink_candidates` and their refinements by
    :func:`nnlasso.kink_dual.kink_lam_max` (which minimizes the ratio) is returned.
    """
    B = fit_affine(loss, T, np.zeros_like(T), A)
    Z0 = A @ B
    cands = [-loss.grad(Z0, T)]
    if loss.dual_interval(Z0, T, 0.0) is not None:
        kinks = kink_candidates(Phi, T, Z0, loss, 1.0, A, group_ids, weights, None)
        cands += [Q for Q, _ in kinks]
        cands += [Q for Q in (kink_lam_max(Q, slack, Phi, T, Z0, loss, A, group_ids, weights)
                              for Q, slack in kinks) if Q is not None]
        tol = 1e-9 * max(float(np.abs(A).max(initial=0.0)), 1.0) * T.shape[0]
        cands = [Q for Q in cands if float(np.abs(A.T @ Q).max(initial=0.0)) <= tol] or cands[:1]
    return min(float(np.max(group_norms(Phi.T @ Q0, group_ids, weights.size) / weights))
               for Q0 in cands)


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
