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

import time

import numpy as np
import scipy.linalg as sla

from ..duality import dual_point, fit_affine, relative_gap, scaled_dual_value
from ..errors import SolverError

#: Newton steps per centering (at most) and in all
MAX_CENTER_STEPS = 50
MAX_NEWTON_STEPS = 400


def supported(prog) -> bool:
    """The programs :func:`solve_gated_dual` solves: gated, penalized bias, logistic loss."""
    return (not prog.cone and not prog.unpen and prog.loss.name == "logistic"
            and not prog.lin_block)


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
        Qf = prog.Qf
        self.Qf = Qf

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
            H = PH - (PH @ Qf) @ Qf.T + Qf @ Qf.T
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
    N, e = prog.N, prog.e
    # start: the dual point of the best affine fit (F^T q = 0, s in (0, 1)), scaled inside
    q = prog.dual_point(np.zeros(N) if prog.Qf is None else _affine_offset(prog))
    W, sig = bar.parts(q)
    r0 = float(np.sqrt(np.max(bar.lam2 - sig)) / prog.lam) if sig.size else 0.0
    q = q * (0.5 / max(r0, 0.5))
    s = prog.y * q
    if np.any(s <= 0) or np.any(s >= 1):
        raise SolverError("dual barrier: no strictly feasible start (a sample with s_n at 0 or "
                          "1 after the affine fit); use solver='CLARABEL'")
    m = bar.pats.size
    # t0: the barrier's gap bound m / t about the size of the dual objective's scale
    dual0 = -_entropy_parts(s)[0]
    t = t0 if t0 is not None else m / max(abs(dual0), 1e-3)
    steps = 0
    best = None
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
        import os
        if os.environ.get("DBG"):
            print("t %.2e steps %d dec %.2e relgap %.2e m/t %.2e minsig %.2e" % (t, steps, dec, cand["rel_gap"], m / t, sig.min()))
        if best is None or cand["rel_gap"] < best["rel_gap"]:
            best = cand
        if cand["rel_gap"] <= tol:
            status = "optimal"
            break
        t *= mu
    res = {**best["res"], "mu": None, "status": status,
           "cvxpy_status": f"dual barrier ({status})", "compile": 0.0,
           "solve": time.perf_counter() - t_start, "newton": steps, "t": t,
           "rel_gap": best["rel_gap"], "ev": best["ev"], "cert": best["cert"],
           "failure_retry": False}
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
