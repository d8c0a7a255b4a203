"""(MIN): :func:`solve_min_norm`, the min-norm program of a trained layer, and its certificate."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import backends
from .._validation import as_matrix, check_rows
from ..affine import affine_columns, orthonormal_basis, skip_parts
from ..duality import certified_status, gaps, min_norm_dual
from ..errors import InvalidProblemError, SolverError
from ..memory import check_memory
from ..programs import build_min_norm
from ..solution import Solution, active_set
from .problem import requested_name


#: ``solve_min_norm(..., solver="auto")``: the backends tried in order (measured there)
MIN_NORM_EPS_AUTO = backends.MIN_NORM_AUTO_ORDER


def _min_norm_auto(solver: Any, eps: float, N: int, K: int) -> list[str]:
    """The backends to try, in order, for (MIN) with ``solver`` on N samples and K neurons
    (:func:`nnlasso.backends.min_norm_order`)."""
    name = backends.resolve(solver, is_qp=False)
    if isinstance(solver, str) and solver.upper() == "AUTO":
        return backends.min_norm_order(N, K, eps) or [name]
    return [name]


def _min_norm_point(Phi: np.ndarray, Psi: np.ndarray, X_skip: np.ndarray | None,
                    intercept: bool, eps: float, name: str, tol: float,
                    options: dict | None) -> tuple:
    """Solve (MIN) with backend ``name``: (V, B, L, status, run, build_time), L the point the
    dual is built from (the equality multiplier, or the residual for eps > 0)."""
    prog = build_min_norm(Phi, Psi, X_skip, intercept, eps)
    run = backends.solve_cvxpy(prog.problem, name, tol, options, require=[prog.V],
                               unusable="on the min-norm program; try solver='SCS' or eps > 0")
    V = np.asarray(prog.V.value).reshape(Phi.shape[1], -1)
    parts = [v.value for v in (prog.C, prog.c0) if v is not None]
    A = affine_columns(X_skip, intercept, Phi.shape[0])
    B = np.vstack(parts) if parts else np.zeros((0, V.shape[1]))
    if eps == 0:
        L = np.asarray(prog.constraint.dual_value).reshape(-1, V.shape[1])
        if prog.Q is not None:
            L = prog.Q @ L
    else:
        L = Psi - Phi @ V - A @ B
    return V, B, L, run["status"], run, prog.build_time


def _min_norm_certificate(Phi: np.ndarray, Psi: np.ndarray, A: np.ndarray, V: np.ndarray,
                          B: np.ndarray, L: np.ndarray, eps: float, status: str, tol: float
                          ) -> tuple[float, float, float, float, float, str]:
    """nnlasso's certificate of a (MIN) point: (primal, dual, gap, rel, residual, status).

    The certified gap decides the status, as in solve_lasso, provided the point is feasible
    (relative residual within eps, up to 1e-6)."""
    nPsi = float(np.linalg.norm(Psi))
    basis = orthonormal_basis(A)
    resid = float(np.linalg.norm(Phi @ V + A @ B - Psi)) / max(nPsi, np.finfo(float).tiny)
    primal = float(np.sum(np.linalg.norm(V, axis=1)))
    dual, _ = min_norm_dual(Phi, Psi, L, basis, eps)
    gap, rel = gaps(primal, dual)
    if status in ("optimal", "optimal_inaccurate") and resid <= eps + 1e-6:
        status = certified_status(status, rel, tol)
    elif status == "optimal":
        status = "optimal_inaccurate"
    return primal, dual, gap, rel, resid, status


def solve_min_norm(Phi: np.ndarray, Psi: np.ndarray, *, eps: float = 0.0, skip: Any = None,
                   solver: str = "auto", tol: float = 1e-9, active_tol: float = 1e-6,
                   options: dict | None = None) -> Solution:
    """Solve the min-norm program of a trained layer.

    min_{V, C, c0} sum_k |V[k, :]|_2   s.t.  Phi V + X C + 1 c0 = Psi              (eps = 0)
                                      or   |Phi V + X C + 1 c0 - Psi|_F <= eps |Psi|_F (eps > 0)

    The dual is max <L, Psi> - eps |Psi|_F |L|_F  s.t. |Phi_k^T L|_2 <= 1, X^T L = 0, 1^T L = 0;
    nnlasso builds L from the solver's multiplier (eps = 0) or from the residual direction
    (eps > 0), makes it feasible itself and reports the gap. ``info["residual"]`` is the relative
    constraint violation |Phi V + ... - Psi|_F / |Psi|_F of the returned point.

    ``solver``: "auto" (default; the native solver does not solve (MIN)) is SCS, with
    CLARABEL taking over (``fallback``) when SCS fails or its point is not certified within
    ``max(tol, 1e-6)`` (measured: :data:`nnlasso.backends.MIN_NORM_AUTO_ORDER`), and the other
    way round for eps > 0 with more neurons than samples, K > N, where SCS crawls
    (:data:`nnlasso.backends.MIN_NORM_WIDE_EPS_AUTO_ORDER`);
    or any installed CVXPY solver name, which then solves the program alone.
    """
    t_start = time.perf_counter()
    Phi = as_matrix(Phi, "Phi")
    Psi_arr = as_matrix(Psi, "Psi", allow_1d=True)
    was_1d = np.ndim(Psi) == 1
    check_rows(Phi.shape[0], Psi_arr, "Psi")
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"eps: must be a number in [0, 1), got {eps!r}") from None
    if not (0.0 <= eps < 1.0):
        raise InvalidProblemError(f"eps: relative tolerance must lie in [0, 1), got {eps}")
    N = Phi.shape[0]
    X_skip, intercept = skip_parts(skip, N)
    A = affine_columns(X_skip, intercept, N)
    order = _min_norm_auto(solver, eps, N, Phi.shape[1])
    check_memory(N, A.shape[1], Psi_arr.shape[1], Phi.shape[1], what="Phi",
                 fix="the min-norm program through CVXPY is that large; use fewer neurons "
                     "(columns of Phi) or samples")
    # feasibility of the equality form: Psi must lie in col([Phi A])
    Qm = orthonormal_basis(np.hstack([Phi, A]))
    r = Psi_arr - Qm @ (Qm.T @ Psi_arr)
    nPsi = float(np.linalg.norm(Psi_arr))
    rel_r = float(np.linalg.norm(r)) / max(nPsi, np.finfo(float).tiny)
    if eps == 0 and rel_r > 1e-7:
        raise InvalidProblemError(f"Psi: is not in the span of Phi and the skip (relative residual "
                                  f"{rel_r:.2e}); the equality form is infeasible: use eps > 0 or "
                                  "the penalized form solve_lasso(Phi, Psi, lam)")
    if eps > 0 and rel_r >= eps:
        raise InvalidProblemError(f"eps: {eps} is below the best achievable relative residual "
                                  f"{rel_r:.3e}; increase eps")
    name, fallback, info_fb = order[0], None, None
    if nPsi == 0:
        V = np.zeros((Phi.shape[1], Psi_arr.shape[1]))
        B = np.zeros((A.shape[1], Psi_arr.shape[1]))
        cert = _min_norm_certificate(Phi, Psi_arr, A, V, B, np.zeros_like(Psi_arr), eps,
                                     "optimal", tol)
        run, build_time = {"compile": 0.0, "solve": 0.0}, 0.0
    else:
        if eps == 0:
            # drop the component of Psi outside the span (<= 1e-7 relative) so that the
            # reduced equality system is exactly consistent
            Psi_arr = Psi_arr - r
        best = None
        for i, cand in enumerate(order):
            try:
                V, B, L, st, run, build_time = _min_norm_point(Phi, Psi_arr, X_skip, intercept,
                                                               eps, cand, tol, options)
            except SolverError as exc:
                if i + 1 == len(order):
                    raise
                info_fb = {"inner": order[i + 1], "failed": cand, "error": str(exc)}
                continue
            cert = _min_norm_certificate(Phi, Psi_arr, A, V, B, L, eps, st, tol)
            if best is None or (cert[5] == "optimal" and best[1][5] != "optimal"):
                best = ((V, B, run, build_time), cert, cand)
            if cert[5] == "optimal" or i + 1 == len(order):
                break
            info_fb = {"inner": order[i + 1], "failed": cand,
                       "status": cert[5], "rel_gap": cert[3]}
        (V, B, run, build_time), cert, name = best
        fallback = name if name != order[0] else None
    primal, dual, gap, rel, resid, prog_status = cert
    p = 0 if X_skip is None else X_skip.shape[1]
    times = {"build": build_time, "compile": run["compile"], "solve": run["solve"],
             "total": time.perf_counter() - t_start}
    info = {"residual": resid, "span_residual": rel_r, "was_1d": was_1d}
    if info_fb is not None:
        info["fallback"] = info_fb
    return Solution(V=V, skip_coef=B[:p] if X_skip is not None else None,
                    intercept=B[p] if intercept else None, objective=primal,
                    dual_objective=dual, gap=gap, rel_gap=rel, active=active_set(V, active_tol),
                    status=prog_status, solver=requested_name(solver, order[0]), times=times,
                    lam=None, loss="squared", problem="min_norm", eps=eps, active_tol=active_tol,
                    info=info, inner=order[0] if fallback else name, fallback=fallback)
