"""A sample-space barrier method for the gated pattern program with the logistic loss
(:func:`solve_gated_dual`), used by :func:`nnlasso.patterns.solve_patterns`.

The gated program with the penalized bias (Xl = [X, -1], d_k the 0/1 pattern of block k,
F the free affine columns)::

    (P)  min_{theta, c}  sum_n L(y_n, z_n) + lam sum_k |theta_k|_2,
         z = sum_k D_k Xl theta_k + F c

has the Lagrange dual (nnlasso's certificate, :meth:`PatternProgram.certify`)::

    (D)  max_q  -sum_n L*(y_n, -q_n)   s.t.  F^T q = 0,  |w_k(q)|_2 <= lam for every k,
         w_k(q) = Xl^T D_k q   (d + 1 entries).

(D) lives in R^N, whatever the number of blocks, so it is solved by a log-barrier method
(Boyd & Vandenberghe, ch. 11) on q alone: for growing t, Newton's method on

    phi_t(q) = t sum_n L*(y_n, -q_n) - sum_k log(lam^2 - |w_k(q)|^2)     (F^T q = 0).

For the logistic loss L*(y, -q) = h(s), s = y q in (0, 1), h(s) = s log s + (1-s) log(1-s),
so phi_t is finite only inside the dual's domain. Its Hessian is N x N::

    t diag(h''(s)) + (Xl Xl^T) o (Dm diag(2 / sig) Dm^T) + U diag(4 / sig^2) U^T,

sig_k = lam^2 - |w_k|^2, Dm = [d_1 ... d_B] (N, B), U = [d_k o Xl w_k] (N, B): two matrix
products of N x B by B x N (no (N, B (d+1)) array) and one Cholesky factorization of N x N per
Newton step. The equality F^T q = 0 is kept by solving the Newton system on the orthogonal
complement of F (Pi H Pi + Qf Qf^T).

**Primal point.** At the minimizer q_t of phi_t, theta_k = (2 / t) w_k / sig_k gives
z = sum_k D_k Xl theta_k with -grad L(z + F c) = q_t exactly for some c (the stationarity of
phi_t), so (theta, c) is primal feasible with duality gap
(2 / t) sum_k |w_k| / (lam + |w_k|) <= B / t. The solve stops when nnlasso's own certificate
(:meth:`PatternProgram.certify`, the dual point -grad L at the primal fit, independent of the
barrier's q) certifies the relative gap ``tol``; blocks with |theta_k| <= 1e-9 max_j
|theta_j| are then set to zero when that does not raise the certified gap above ``tol``.

Newton steps use the Hessian terms of the blocks with |w_k| > ``hess_ratio`` lam only (the
others' curvature is at most 2 / (lam^2 (1 - hess_ratio^2)) per unit of |D_k Xl|^2 and
vanishes relative to the near-active blocks'); the gradient, the line search and the
feasibility test use every block, so each step is a descent direction of the exact phi_t.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import scipy.linalg as sla

from ..duality import dual_point, fit_affine, relative_gap, scaled_dual_value
from ..errors import SolverError
from ..memory import max_memory_default

logger = logging.getLogger(__package__)   # "nnlasso.patterns": the documented logger name

#: Newton steps per centering (at most) and in all
MAX_CENTER_STEPS = 50
MAX_NEWTON_STEPS = 400
#: the start needs s_n = y_n q_n in (START_MARGIN, 1 - START_MARGIN) for every sample
START_MARGIN = 1e-10


#: a barrier solve whose certified relative gap stays above max(tol, FALLBACK_GAP) is
#: handed to the CVXPY backend (:func:`solve_program` returns None)
FALLBACK_GAP = 1e-6


class _NoStart(SolverError):
    """The barrier has no usable strictly feasible start."""


def supported(prog) -> bool:
    """The programs :func:`solve_gated_dual` solves by default: gated, penalized bias, logistic
    loss, no free affine part (``skip=None``).

    With a free affine part (F != 0) the method is correct but was not robust in tests (breast
    cancer, 40 patterns, skip="intercept": the entropy h is not a barrier, Newton drove some s_n
    to 1e-33 and stalled), so those programs keep the CVXPY backend."""
    return (not prog.cone and not prog.unpen and prog.loss.name == "logistic"
            and not prog.lin_block and prog.Qf is None)


def native_solver(solver: str, working_set, prog, use_ws: bool = True) -> "Callable | None":
    """The hook of :func:`nnlasso.patterns.solve_patterns`: :func:`solve_program` when
    ``solver`` and ``working_set`` are "auto" (the defaults) and the program is
    :func:`supported`, :func:`nnlasso.patterns.augmented_lagrangian.solve_program` (SSNAL) for
    the cone programs it applies to that ``use_ws`` (the working-set loop, not one program,
    would solve them) and that have at least its ``MIN_BLOCKS`` blocks, else None (the CVXPY
    backend named by ``solver`` solves it, through the working-set loop or as one program as
    ``working_set`` says)."""
    if not (isinstance(solver, str) and solver.upper() == "AUTO"
            and isinstance(working_set, str) and working_set == "auto"):
        return None
    if supported(prog) and barrier_memory(prog.N, prog.B) <= max_memory_default():
        return solve_program
    from . import augmented_lagrangian
    if (use_ws and augmented_lagrangian.applicable(prog)
            and prog.B >= augmented_lagrangian.MIN_BLOCKS):
        return augmented_lagrangian.solve_program
    return None


def barrier_memory(N: int, B: int) -> int:
    """Bytes of the barrier's float64 work arrays: three N x N (Xl Xl^T, the Hessian, its
    factor) and three N x B (the patterns, U and a product's operand). Above the memory cap
    (:func:`nnlasso.memory.max_memory_default`) the CVXPY backend solves the program instead."""
    return 8 * (3 * N * N + 3 * N * B)


def _entropy_parts(s: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """sum h(s), h'(s), h''(s) for h(s) = s log s + (1 - s) log(1 - s), s in (0, 1)."""
    ls, l1 = np.log(s), np.log1p(-s)
    return float(np.sum(s * ls + (1 - s) * l1)), ls - l1, 1.0 / (s * (1.0 - s))


class _Barrier:
    """phi_t, its gradient and Hessian on the data of a :class:`PatternProgram`."""

    def __init__(self, prog, blocks: np.ndarray):
        self.prog = prog
        self.y = prog.y
        self.lam2 = prog.lam ** 2
        pats = np.unique(prog.bpat[blocks])             # gated: one block per pattern
        self.pats = pats
        self.Dm = prog.D[:, pats].astype(np.float64)     # (N, m)
        self.Xl = prog.Xl
        self.G = self.Xl @ self.Xl.T                      # (N, N)
        self.Qf = prog.Qf

    def parts(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """W (m, e): w_k = Xl^T D_k q, and sig_k = lam^2 - |w_k|^2."""
        W = self.Dm.T @ (q[:, None] * self.Xl)
        return W, self.lam2 - np.einsum("ke,ke->k", W, W)

    def value(self, q: np.ndarray, t: float) -> float:
        s = self.y * q
        if np.any(s <= 0) or np.any(s >= 1):
            return np.inf
        _, sig = self.parts(q)
        if np.any(sig <= 0):
            return np.inf
        return t * _entropy_parts(s)[0] - float(np.sum(np.log(sig)))

    def newton(self, q: np.ndarray, t: float, hess_ratio: float
               ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Newton direction dq (F^T dq = 0), the decrement -g^T dq, W and sig at q."""
        s = self.y * q
        _, h1, h2 = _entropy_parts(s)
        W, sig = self.parts(q)
        XW = self.Xl @ W.T                                # (N, m)
        U = self.Dm * XW
        g = t * self.y * h1 + U @ (2.0 / sig)
        hk = np.flatnonzero(np.einsum("ke,ke->k", W, W) > hess_ratio ** 2 * self.lam2)
        H = np.diag(t * h2)
        if hk.size:
            Dh = self.Dm[:, hk]
            H += self.G * ((Dh * (2.0 / sig[hk])) @ Dh.T)
            Uh = U[:, hk] * (2.0 / sig[hk])
            H += Uh @ Uh.T
        if self.Qf is not None:
            Qf = self.Qf
            g = g - Qf @ (Qf.T @ g)
            PH = H - Qf @ (Qf.T @ H)
            # Pi H Pi + c Qf Qf^T: the solution in null(F^T) does not depend on c; c at the
            # scale of H keeps the factorization well conditioned
            c = float(np.mean(np.diag(H)))
            H = PH - (PH @ Qf) @ Qf.T + c * (Qf @ Qf.T)
        try:
            cf = sla.cho_factor(H, lower=True, check_finite=False)
            dq = -sla.cho_solve(cf, g, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            dq = -np.linalg.lstsq(H, g, rcond=None)[0]
        if self.Qf is not None:
            dq = dq - self.Qf @ (self.Qf.T @ dq)
        return dq, float(-g @ dq), W, sig

    def max_step(self, q: np.ndarray, dq: np.ndarray) -> float:
        """Largest step keeping s = y q in (0, 1) (the sigma_k are left to the line search)."""
        ds = self.y * dq
        s = self.y * q
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where(ds > 0, (1 - s) / ds, np.inf)
            lo = np.where(ds < 0, -s / ds, np.inf)
        return float(min(np.min(up), np.min(lo), np.inf))


def solve_gated_dual(prog, blocks: np.ndarray | None = None, *, tol: float | None = None,
                     t0: float | None = None, mu: float = 20.0, hess_ratio: float = 0.0,
                     center_tol: float = 1e-7, max_newton: int = MAX_NEWTON_STEPS
                     ) -> dict:
    """Solve the gated logistic pattern program of ``prog`` (a :class:`PatternProgram` with
    :func:`supported`) over ``blocks`` (default: all) by the barrier method on its dual (module
    docstring), to nnlasso's certified relative gap ``tol`` (default ``prog.tol``).

    Returns the dict of :meth:`PatternProgram.solve` (``th``, ``mu`` None, ``C``, ``c0``,
    ``ulin`` None, ``status``, ``cvxpy_status``, ``compile`` 0, ``solve``) plus ``newton``
    (Newton steps), ``t`` (the last barrier parameter) and ``rel_gap`` (certified).
    """
    if not supported(prog):
        raise SolverError("the dual barrier solves the gated logistic program with the "
                          "penalized bias only; use solver='CLARABEL'")
    t_start = time.perf_counter()
    tol = prog.tol if tol is None else tol
    blocks = np.arange(prog.B) if blocks is None else np.asarray(blocks, dtype=np.intp)
    bar = _Barrier(prog, blocks)
    N = prog.N
    # start: the dual point of the best affine fit (F^T q = 0, s in (0, 1)), scaled inside
    q = prog.dual_point(np.zeros(N) if prog.Qf is None else _affine_offset(prog))
    W, sig = bar.parts(q)
    r0 = float(np.sqrt(np.max(bar.lam2 - sig)) / prog.lam) if sig.size else 0.0
    q = q * (0.5 / max(r0, 0.5))
    s = prog.y * q
    if not np.all(np.isfinite(s)) or np.min(np.minimum(s, 1.0 - s)) <= START_MARGIN:
        # the free affine part (nearly) separates the classes: no usable interior start
        raise _NoStart("a sample's s_n = y_n q_n is within 1e-10 of 0 or 1 at the best "
                       "affine fit")
    m = bar.pats.size
    # t0: the barrier's gap bound m / t about the size of the dual objective's scale
    dual0 = -_entropy_parts(s)[0]
    t = t0 if t0 is not None else m / max(abs(dual0), 1e-3)
    steps = 0
    best = None
    hist: list[dict] = []
    status = "optimal_inaccurate"
    while steps < max_newton:
        # centering
        for _ in range(MAX_CENTER_STEPS):
            dq, dec, W, sig = bar.newton(q, t, hess_ratio)
            steps += 1
            if dec / 2 <= center_tol:
                break
            a = min(1.0, 0.99 * bar.max_step(q, dq))
            f0 = bar.value(q, t)
            while a > 1e-14:
                f1 = bar.value(q + a * dq, t)
                if f1 <= f0 - 0.25 * a * dec:
                    break
                a *= 0.5
            else:
                break
            q = q + a * dq
            if steps >= max_newton:
                break
        W, sig = bar.parts(q)
        cand = _primal(prog, bar, q, W, sig, t)
        hist.append({"t": t, "newton": steps, "objective": cand["ev"]["objective"],
                     "rel_gap": cand["rel_gap"]})
        if best is None or cand["rel_gap"] < best["rel_gap"]:
            best = cand
        if cand["rel_gap"] <= tol:
            status = "optimal"
            break
        if cand["rel_gap"] > 10.0 * best["rel_gap"]:
            break               # the point degrades with t: rounding, not the method, bounds it
        t *= mu
    res = {**best["res"], "mu": None, "status": status,
           "cvxpy_status": f"dual barrier ({status})", "compile": 0.0,
           "solve": time.perf_counter() - t_start, "newton": steps, "t": t,
           "rel_gap": best["rel_gap"], "ev": best["ev"], "cert": best["cert"],
           "history": hist, "failure_retry": False}
    return res


def _affine_offset(prog) -> np.ndarray:
    """The best affine fit F c (the free columns only)."""
    F = prog.Qf
    c = fit_affine(prog.loss, prog.T, np.zeros((prog.N, 1)), F)
    return (F @ c)[:, 0]


def _primal(prog, bar: _Barrier, q: np.ndarray, W: np.ndarray, sig: np.ndarray,
            t: float) -> dict:
    """theta of the barrier point, its free part, and nnlasso's certified gap: the dual value
    of the better of two dual points, each checked against every block (ratio, scaling by
    :func:`nnlasso.duality.scaled_dual_value`): -grad L at the primal fit
    (:meth:`PatternProgram.certify`) and the barrier's own q (strictly feasible, but checked
    all the same). Near the optimum theta depends on sig_k = lam^2 - |w_k|^2, which loses
    digits to cancellation, while q does not: the second point keeps the bound accurate."""
    theta_p = (2.0 / t) * W / sig[:, None]                # (m, e), per pattern
    theta_p = _polish(prog, bar, W, theta_p)
    th = np.zeros((prog.B, prog.e))
    blk = np.searchsorted(prog.bpat, bar.pats)           # gated: block k has pattern k
    th[blk] = theta_p
    res = _with_affine(prog, th)
    ev = prog.evaluate(res)
    cert = prog.certify(ev["zfit"], None)
    qb = dual_point(prog.loss, None, prog.T, prog.Qf, neg_grad=q[:, None])[:, 0]
    ratios_b = prog.block_ratios(qb, None)[0]
    ratio_b = float(np.max(ratios_b)) if ratios_b.size else 0.0
    dual_b = scaled_dual_value(prog.loss, qb[:, None], prog.T, ratio_b)
    if dual_b > cert["dual"]:
        cert = {"q": qb, "ratios": ratios_b, "mu": None, "dual_ratio": ratio_b,
                "dual": dual_b}
    return {"res": res, "ev": ev, "cert": cert,
            "rel_gap": relative_gap(ev["objective"], cert["dual"])}


def _polish(prog, bar: _Barrier, W: np.ndarray, theta: np.ndarray, iters: int = 30
            ) -> np.ndarray:
    """The magnitudes of the barrier's primal blocks re-optimized along their directions.

    theta_k = (2 / t) w_k / sig_k has the right direction w_k / |w_k| (q is accurate) but a
    magnitude that inherits the cancellation in sig_k = lam^2 - |w_k|^2, so its fit z misses
    -grad L(z) = q by more than the barrier's gap. With the directions u_k of the blocks with
    |theta_k| > 1e-9 max_j |theta_j| fixed, min_{rho >= 0} L(sum_k rho_k D_k Xl u_k) +
    lam sum_k rho_k (a logistic regression on |S| columns) is solved by damped Newton (steps
    kept inside rho > 0, accepted only when they lower the objective); its point replaces
    theta when it is no worse."""
    nrm = np.linalg.norm(theta, axis=1)
    top = float(nrm.max()) if nrm.size else 0.0
    S = np.flatnonzero(nrm > 1e-9 * top) if top > 0 else np.zeros(0, dtype=np.intp)
    if S.size == 0:
        return theta
    U = W[S] / np.linalg.norm(W[S], axis=1)[:, None]        # (|S|, e) directions
    A = bar.Dm[:, S] * (prog.Xl @ U.T)                       # (N, |S|) columns D_k Xl u_k
    rho = _polish_columns(prog, A, nrm[S].copy(), iters)
    if rho is None:
        return theta
    out = np.zeros_like(theta)
    out[S] = rho[:, None] * U
    return out


def _polish_columns(prog, A: np.ndarray, rho: np.ndarray, iters: int = 30
                    ) -> np.ndarray | None:
    """min_{rho >= 0} L(A rho) + lam sum rho from rho > 0 by damped Newton (steps kept inside
    rho > 0, accepted only when they lower the objective); None when no better than rho."""
    loss, T, lam = prog.loss, prog.T, prog.lam

    def f(rho):
        return loss.value((A @ rho)[:, None], T) + lam * float(np.sum(rho))

    f0 = fr = f(rho)
    for _ in range(iters):
        z = (A @ rho)[:, None]
        g = A.T @ loss.grad(z, T)[:, 0] + lam
        H = loss.hessian(z, T, A)
        H += 1e-14 * (np.trace(H) / H.shape[0] + 1e-300) * np.eye(H.shape[0])
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        neg = step < 0
        a = min(1.0, 0.99 * float(np.min(-rho[neg] / step[neg]))) if np.any(neg) else 1.0
        while a > 1e-12:
            fn = f(rho + a * step)
            if fn < fr:
                break
            a *= 0.5
        else:
            break
        rho, fr_old, fr = rho + a * step, fr, fn
        if fr_old - fr <= 1e-16 * abs(fr):
            break
    if not fr <= f0:
        return None
    return rho


def _with_affine(prog, th: np.ndarray) -> dict:
    """The point th with its free affine part refitted (C on X_skip, c0)."""
    res = {"th": th, "C": None, "c0": None, "ulin": None}
    if prog.Qf is None:
        return res
    off = prog.evaluate(res)["zfit"]
    cols = []
    if prog.X_skip is not None:
        cols.append(prog.X_skip)
    if prog.intercept:
        cols.append(np.ones((prog.N, 1)))
    A = np.hstack(cols)
    c = fit_affine(prog.loss, prog.T, off[:, None], A)[:, 0]
    if prog.X_skip is not None:
        res["C"] = c[:prog.X_skip.shape[1]]
    if prog.intercept:
        res["c0"] = float(c[-1])
    return res


def solve_program(prog, *, max_rounds: int = 50, level: int = 10, start: dict | None = None
                  ) -> tuple[dict, dict, dict, dict] | None:
    """:func:`solve_gated_dual` on all blocks of ``prog``, returned as
    :meth:`PatternProgram.solve_working_set` returns (res, ev, cert, info): the hook of
    :func:`nnlasso.patterns.solve_patterns` (``start``, a warm start of the working-set loop,
    is not used: the barrier starts inside the dual's domain; ``max_rounds`` neither).
    ``info`` has ``method`` "dual_barrier", ``newton`` (Newton steps), ``barrier_t`` and a
    ``barrier_history`` with one entry per barrier parameter (t, Newton steps so far,
    objective, certified rel gap; ``history``, the loop's rounds, is empty); ``working_blocks`` are the nonzero blocks. None when the barrier has
    no strictly feasible start or ends above max(tol, :data:`FALLBACK_GAP`): the caller then
    solves the program with its CVXPY backend."""
    t0 = time.perf_counter()
    try:
        out = solve_gated_dual(prog)
    except _NoStart as exc:
        logger.log(level, "pattern dual barrier: no start (%s); solving with %s", exc,
                   prog.solver)
        return None
    if not out["rel_gap"] <= max(prog.tol, FALLBACK_GAP):
        logger.log(level, "pattern dual barrier: certified rel gap %.2e after %d Newton steps; "
                   "solving with %s", out["rel_gap"], out["newton"], prog.solver)
        return None
    for h in out["history"]:
        logger.log(level, "pattern dual barrier: t %.3g, %d Newton steps, objective %.10g, "
                   "rel gap %.2e", h["t"], h["newton"], h["objective"], h["rel_gap"])
    ev, cert = out.pop("ev"), out.pop("cert")
    nz = np.flatnonzero(ev["bnorm"] > 0)
    info = {"method": "dual_barrier", "rounds": 1, "blocks": int(prog.B), "rows": 0,
            "newton": int(out["newton"]), "barrier_t": float(out["t"]),
            "history": [], "barrier_history": out["history"], "compile": 0.0, "solve": out["solve"],
            "total": time.perf_counter() - t0, "regularization_retry": None,
            "failure_retries": 0, "inaccurate_retry": None, "working_blocks": nz,
            "working_rows": None}
    return out, ev, cert, info
