"""The convex programs of compression (exact / eps / lam / label), the width bounds, the support
reduction and the least-squares refit of the surviving outgoing weights.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import backends
from ..affine import affine_basis, skip_parts
from ..errors import InvalidProblemError
from ..lasso import solve_lasso, solve_min_norm
from ..networks import MLP
from ..solution import Solution, active_set
from ..representer import (bound_from_ranks, projected_rank, projected_singular_values,
                           rank_from_singular_values, reduce_support)
from ..shallow import checked_lam_max, product_rounding
from .inputs import _Layer


#: exact mode: singular values of Phi <= _NULLSPACE_RTOL * s_1 span the null space the exact
#: program moves in (a tolerance of that program, not a rank of the width bound)
_NULLSPACE_RTOL = 1e-10
#: effective rank (CompressionReport.effective_ranks): singular values above 1% of the largest
EFFECTIVE_RTOL = 1e-2


def _skip_basis(skip: Any, N: int) -> np.ndarray:
    """Orthonormal basis of the free affine columns of ``skip`` (X, "intercept" or None)."""
    return affine_basis(*skip_parts(skip, N), N)


def _width_bounds(Phi: np.ndarray, F: np.ndarray, intercept: bool
                  ) -> tuple[int, tuple[int, int], int]:
    """(bound, (r_Phi, r_F), effective bound) of CompressionReport.

    ``bound`` is the representer theorem's width bound for the layer's features Phi and the
    program's fit F (:func:`nnlasso.representer.bound_from_ranks` at the ranks of
    :func:`nnlasso.representer.rank_from_singular_values`); the effective ranks and bound are
    the same formula with the singular values above EFFECTIVE_RTOL * s_1. One SVD of P Phi and
    one of P F serve both thresholds.
    """
    N = Phi.shape[0]
    basis = _skip_basis("intercept" if intercept else None, N)
    sP, scale_P = projected_singular_values(Phi, basis)
    sF, scale_F = projected_singular_values(F, basis)
    rP = rank_from_singular_values(sP, Phi.shape, scale=scale_P)
    rF = rank_from_singular_values(sF, F.shape, scale=scale_F)
    rP_eff = rank_from_singular_values(sP, Phi.shape, rtol=EFFECTIVE_RTOL)
    rF_eff = rank_from_singular_values(sF, F.shape, rtol=EFFECTIVE_RTOL)
    one = F.shape[1] == 1
    r_aff = basis.shape[1]
    return (bound_from_ranks(N, r_aff, rP, None if one else rF), (rP_eff, rF_eff),
            bound_from_ranks(N, r_aff, rP_eff, None if one else rF_eff))


def _native_available() -> bool:
    return hasattr(backends, "NATIVE")


def _min_norm_exact(Phi: np.ndarray, Psi: np.ndarray, V_feas: np.ndarray, solver: str,
                    tol: float) -> Solution:
    """(MIN) with eps = 0 by the null-space parametrization ``V = V_feas + Z B``.

    ``V_feas`` is any feasible point (the trained weights: Phi V_feas = Psi exactly). Neurons with
    zero features on X get V_k = 0 (they only add to the objective). Z (K_live, n0) is an
    orthonormal basis of null(Phi_live) (singular values <= 1e-10 * the largest); with n0 = 0 the
    feasible set is the single point V_feas. Otherwise the n0 * D-variable SOCP
    ``min_B sum_k |V_feas[k] + Z[k] B|_2`` is solved with CVXPY. The dual point is
    ``L = pinv(Phi^T) U`` with U_k = V_k / |V_k| on the support and, off it, the least-squares
    completion with Z^T U = 0; :func:`nnlasso.duality.min_norm_dual` scales it to feasibility and
    gives nnlasso's gap.
    """
    from ..duality import gaps, min_norm_dual

    t0 = time.perf_counter()
    K, D = V_feas.shape
    col = np.linalg.norm(Phi, axis=0)
    live = np.flatnonzero(col > _NULLSPACE_RTOL * max(col.max(initial=0.0), np.finfo(float).tiny))
    V = np.zeros((K, D))
    PhiL = Phi[:, live]
    U_svd, s, Vt = np.linalg.svd(PhiL, full_matrices=PhiL.shape[0] < PhiL.shape[1])
    r = int(np.sum(s > _NULLSPACE_RTOL * s[0])) if s.size and s[0] > 0 else 0
    Z = Vt[r:].T                                            # (K_live, n0)
    V0 = V_feas[live]
    name, status, t_solve = "nullspace", "optimal", 0.0
    if Z.shape[1] == 0:
        VL = V0.copy()
    else:
        import cvxpy as cp
        name = backends.resolve(solver if solver.upper() not in ("AUTO", "PROX") else "auto",
                                is_qp=False)
        moving = np.flatnonzero(np.linalg.norm(Z, axis=1) > 1e-12)
        B = cp.Variable((Z.shape[1], D))
        expr = V0[moving] + Z[moving] @ B
        obj = cp.sum(cp.norm(expr, 2, axis=1)) if D > 1 else cp.norm1(expr)
        prob = cp.Problem(cp.Minimize(obj))
        run = backends.solve_cvxpy(prob, name, tol, None, require=[B],
                                   unusable="on the exact min-norm program; try another solver")
        t_solve = run["solve"]
        status = run["status"]
        VL = V0 + Z @ np.asarray(B.value).reshape(Z.shape[1], D)
    V[live] = VL
    # dual point
    nrm = np.linalg.norm(VL, axis=1)
    on = nrm > 1e-9 * max(nrm.max(initial=0.0), np.finfo(float).tiny)
    U = np.zeros_like(VL)
    U[on] = VL[on] / nrm[on, None]
    if Z.shape[1] and np.any(~on):
        # complete U off the support so that Z^T U = 0 (U in the row space of Phi)
        rhs = -(Z[on].T @ U[on])
        U[~on] = np.linalg.lstsq(Z[~on].T, rhs, rcond=None)[0]
    elif Z.shape[1]:
        U = U - Z @ (Z.T @ U)
    L = U_svd[:, :r] @ ((Vt[:r] @ U) / s[:r, None]) if r else np.zeros_like(Psi)
    dual, _ = min_norm_dual(Phi, Psi, L, np.zeros((Phi.shape[0], 0)), 0.0)
    primal = float(np.sum(np.linalg.norm(V, axis=1)))
    gap, rel = gaps(primal, dual)
    resid = float(np.linalg.norm(Phi @ V - Psi) / max(np.linalg.norm(Psi), np.finfo(float).tiny))
    total = time.perf_counter() - t0
    return Solution(V=V, skip_coef=None, intercept=None, objective=primal, dual_objective=dual,
                    gap=gap, rel_gap=rel, active=active_set(V), status=status, solver=name,
                    times={"build": 0.0, "compile": 0.0, "solve": t_solve, "total": total},
                    problem="min_norm", eps=0.0,
                    info={"residual": resid, "nullity": int(Z.shape[1]),
                          "dead_on_data": int(K - live.size)})


def _label_targets(net: MLP, y: np.ndarray) -> tuple[np.ndarray, str]:
    """Encoded labels and the loss of the label-aware program."""
    if not net.is_classifier:
        return np.asarray(y, dtype=float), "squared"
    idx = np.searchsorted(np.sort(net.classes), y)
    order = np.argsort(net.classes)
    codes = order[idx]                      # position of each label in net.classes
    if net.out_activation == "softmax":
        missing = np.setdiff1d(np.arange(net.n_outputs), codes)
        if missing.size:
            raise InvalidProblemError(f"y: class {net.classes[missing[0]]!r} does not occur in y; "
                                      "the label-aware program needs every class of the network")
        return codes, "softmax"
    return codes.astype(float), "logistic"


def _lasso_solver(solver: str) -> str:
    if solver.upper() == "AUTO":
        return "prox" if _native_available() else backends.resolve("auto")
    return solver


def _lam_max(prep: _Layer, program: str, T: np.ndarray, loss: str, skip: Any) -> float:
    """lam_max of the penalized program on ``prep`` (``lam_ratio`` is a fraction of it),
    refused by :func:`nnlasso.shallow.checked_lam_max` when numerically zero; for the "lam"
    program the target Psi = Phi V_out is a computed product, whose rounding
    (:func:`nnlasso.shallow.product_rounding`) tells a zero target from a small one."""
    rounding = product_rounding(prep.Phi, prep.V_out) if program == "lam" else 0.0
    return checked_lam_max(prep.Phi, T, loss, skip, rounding=rounding)


def _solve(prep: _Layer, program: str, eps: float, lam: float | None, lam_ratio: float | None,
           y: np.ndarray | None, intercept: bool, solver: str, tol: float | None
           ) -> tuple[Solution, np.ndarray, str, float | None]:
    """Run the convex program. Returns (solution, target, loss, lam)."""
    Phi, Psi = prep.Phi, prep.Psi
    skip = "intercept" if intercept else None
    kw = {} if tol is None else {"tol": tol}
    if program == "exact":
        return (_min_norm_exact(Phi, Psi, prep.V_out, solver, tol or 1e-9), Psi, "squared",
                None)
    if program == "eps":
        # "auto": SCS, CLARABEL when SCS is not certified (backends.MIN_NORM_AUTO_ORDER)
        return solve_min_norm(Phi, Psi, eps=eps, skip=skip, solver=solver, **kw), Psi, "squared", None
    if program == "lam":
        T, loss = Psi, "squared"
    else:
        T, loss = _label_targets(prep.net, y)
    if lam is None:
        lam = lam_ratio * _lam_max(prep, program, T, loss, skip)
    sol = solve_lasso(Phi, T, lam, loss=loss, skip=skip, solver=_lasso_solver(solver), **kw)
    return sol, T, loss, lam


def _reduce(sol: Solution, Phi: np.ndarray, skip: Any, Y: np.ndarray) -> tuple[Solution, bool]:
    """Support reduction (:func:`nnlasso.representer.reduce_support`) of ``sol`` over the
    features ``Phi`` with the free affine columns of ``skip``; skipped (returns ``sol, False``)
    when the active features are independent, rank(P Phi_S) = |S| (the representer's rank
    rule): then the atoms vec(e_k (P phi_k)^T) are independent and nothing can be removed."""
    S = sol.active
    if S.size == 0:
        return sol, False
    if projected_rank(Phi[:, S], _skip_basis(skip, Phi.shape[0])) == S.size:
        return sol, False
    return reduce_support(sol, Phi, skip=skip, Y=Y), True


def _refit(Phi_S: np.ndarray, Psi: np.ndarray, V_S: np.ndarray, A: np.ndarray, B: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares correction ``[V_S; B] += pinv([Phi_S A]) (Psi - Phi_S V_S - A B)``.

    ``A`` (N, p) are the free affine columns ([1] for a free next bias, [Z 1] for a block's skip,
    none) and ``B`` (p, D) their coefficients: the least-squares solution closest to the given
    point (it removes a penalty's shrinkage and can only lower the residual). Returns the new
    ``(V_S, B)``.
    """
    M = np.hstack([Phi_S, A])
    R = Psi - Phi_S @ V_S - A @ B
    delta = np.linalg.lstsq(M, R, rcond=None)[0]
    k = Phi_S.shape[1]
    return V_S + delta[:k], B + delta[k:]
