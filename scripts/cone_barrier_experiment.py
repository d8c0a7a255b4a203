"""Experiment (issue 14, not used by nnlasso): the cone-constrained pattern program solved by a
log-barrier method on its N-dimensional dual, with every cone row in the barrier.

Program (Xl = [X, -1], block k: pattern d_k, D_k = diag(d_k), sign s_k, cone
K_k = {v : a_n . v >= 0 for every n}, a_n = (2 d_k - 1)[n] xl_n; penalized bias, no skip)::

    (P)  min  sum_n L(y_n, z_n) + lam sum_k |theta_k|,  z = sum_k s_k D_k Xl theta_k,  theta_k in K_k
    (D)  max_q  -sum_n L*(y_n, -q_n)  s.t.  |P_K_k(c_k(q))| <= lam,   c_k(q) = s_k Xl^T D_k q.

Barrier, for growing t (squared loss: f(q) = sum q^2 / 2 - y q = sum L*(y, -q))::

    phi_t(q) = t f(q) + sum_k psi_k(c_k(q)),
    psi_k(c) = min_{mu > 0} -log(lam^2 - |c + A_k^T mu|^2) - eps sum_n log mu_n        (all N rows)

psi_k is a self-concordant barrier of the exact block constraint |P_K(c)| < lam, evaluated through
its m-dimensional dual (m = d + 1; strong duality, v in int K_k)::

    psi_k(c) = -min_v Psi_k(v) + const,   Psi_k(v) = omega(v) - eps sum_n log(a_n . v) - c . v,
    omega(v) = sup_w v . w + log(lam^2 - |w|^2)   (w(v) = lam^2 v / (1 + sqrt(1 + lam^2 |v|^2))),

so grad psi_k = v*_k and Hess psi_k = M_k = (Hess Psi_k(v*))^-1 = (Hw^-1 + E_k)^-1 with
E_k = eps Xl^T diag(1 / (A_k v*)^2) Xl: every Newton step in q solves all blocks' inner problems
(batched m x m Newton, warm started) and one N x N system t I + sum_k D_k Xl M_k Xl^T D_k.
The primal point theta_k = v*_k / t lies in int K_k; mu_n = eps / (a_n . v*) are the rows'
multipliers. Numerics: M_k = D F^-1 D with D = Hw^(1/2) (closed form) and F = I + D E D
(eigenvalues floored at 1), since Hw^-1 has eigenvalue ~ sig^2 / 4 lam^2 along w, below the
rounding of E. After each centering the magnitudes along the directions v_k / |v_k| of the
blocks with |theta_k| > 1e-3 max are re-optimized (a nonnegative lasso on those columns), and the
point is certified by nnlasso's certificate (PatternProgram.certify, all blocks and rows).

Measured (docs/benchmarks.md, issue 14 section "the cone dual barrier"): diabetes, 30 sampled
patterns, lam 0.01: 112 Newton steps to certified rel gap 2e-5 (objective 1.2e-7 above
Clarabel's optimum), then the centering stalls near t = 2e6; not accurate or fast enough to be
nnlasso's cone solver.

Run: ``python scripts/cone_barrier_experiment.py --patterns 30 --lam 0.01``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
import scipy.linalg as sla

from nnlasso.duality import relative_gap, scaled_dual_value
from nnlasso.errors import SolverError
from nnlasso.patterns.cone_projection import project_cones
from nnlasso.patterns.dual_barrier import _polish_columns

logger = logging.getLogger("nnlasso.patterns")

MAX_CENTER_STEPS = 50
MAX_NEWTON_STEPS = 500


class _NoStart(SolverError):
    """No strictly feasible start."""


class _Squared:
    """f(q) = sum q^2 / 2 - y q (= sum L*(y, -q))."""

    def __init__(self, y):
        self.y = y

    def parts(self, q):
        return float(0.5 * q @ q - self.y @ q), q - self.y, np.ones_like(q)

    def value(self, q):
        return float(0.5 * q @ q - self.y @ q)

    def max_step(self, q, dq):
        return np.inf

    def start(self):
        return self.y.copy()


class _ConeDual:
    """phi_t of the cone program: the blocks' c_k(q), projections, gradient and Hessian."""

    def __init__(self, prog):
        self.prog = prog
        self.Xl = prog.Xl
        self.N, self.m = self.Xl.shape
        self.lam, self.lam2 = prog.lam, prog.lam ** 2
        self.bpat, self.bsign = prog.bpat, prog.bsign
        self.Df = prog.D.astype(np.float64)                      # (N, P)
        self.S = (2 * prog.D[:, self.bpat].astype(np.int8) - 1)  # (N, B) cone row signs
        self.fl = _Squared(prog.y)
        self.xln = prog.xln

    def C(self, q: np.ndarray) -> np.ndarray:
        """c_k(q) = s_k Xl^T D_k q (B, m)."""
        Cp = self.Df.T @ (q[:, None] * self.Xl)
        return Cp[self.bpat] * self.bsign[:, None]

    def fit_of(self, W: np.ndarray) -> np.ndarray:
        """sum_k s_k D_k Xl W[k] (N,)."""
        P = self.Df.shape[1]
        Wp = np.zeros((P, self.m))
        np.add.at(Wp, self.bpat, W * self.bsign[:, None])
        return np.einsum("np,np->n", self.Xl @ Wp.T, self.Df)

class _Implicit:
    """The block barriers psi_k(c) = min_{mu > 0} -log(lam^2 - |c + A_k^T mu|^2)
    - eps sum_n log mu_n over ALL cone rows, through their m-dimensional duals:
    psi_k(c) = -min_v Psi_k(v) (+ const), Psi_k(v) = omega(v) - eps sum_n log(a_n . v) - c . v,
    omega(v) = sup_w v . w + log(lam^2 - |w|^2); grad psi_k = v*, Hessian (Hess Psi_k(v*))^-1."""

    def __init__(self, cd: _ConeDual, eps: float):
        self.cd, self.eps = cd, eps
        Xl = cd.Xl
        self.XX = (Xl[:, :, None] * Xl[:, None, :]).reshape(Xl.shape[0], -1)
        self.Sf = cd.S.astype(np.float64)                          # (N, B)

    def omega(self, V):
        """w(v), sig(w(v)) and omega(v) (stable: no lam^2 - |w|^2 cancellation)."""
        lam2 = self.cd.lam2
        nv2 = np.einsum("km,km->k", V, V)
        den = 1.0 + np.sqrt(1.0 + nv2 * lam2)
        W = (lam2 / den)[:, None] * V
        sig = 2.0 * lam2 / den
        with np.errstate(divide="ignore"):      # sig underflows only far outside the domain
            return W, sig, np.einsum("km,km->k", V, W) + np.log(sig)

    def AV(self, V):
        return (self.cd.Xl @ V.T) * self.Sf                       # (N, B): a_n . v_k

    def Psi(self, V, C, AV=None):
        """Psi_k(v_k) for every block (inf where v_k is not in int K_k)."""
        AV = self.AV(V) if AV is None else AV
        ok = np.all(AV > 0, axis=0)
        out = np.full(V.shape[0], np.inf)
        if np.any(ok):
            _, _, om = self.omega(V[ok])
            out[ok] = (om - self.eps * np.sum(np.log(AV[:, ok]), axis=0)
                       - np.einsum("km,km->k", C[ok], V[ok]))
        return out

    def hess(self, V, AV):
        """The Hessian of Psi as Hw^-1 + E = D^-1 F D^-1 with D = Hw^(1/2) (exact, from w:
        sqrt(a) on w's complement, sqrt(a + b |w|^2) along w) and F = I + D E D (eigenvalues
        >= 1), so that its inverse M = D F^-1 D keeps the huge curvature along w (Hw^-1 has
        eigenvalue ~ sig^2 / 4 lam^2 there, below the rounding of E); returns D, F, w and
        the gradient part eps A^T (1 / A v)."""
        cd, eps = self.cd, self.eps
        B, m = V.shape
        W, sig, _ = self.omega(V)
        # a trial point at the domain's edge (sig underflows) gives inf / nan here: its
        # blocks fail the inner solve and the outer line search rejects the point
        with np.errstate(all="ignore"):
            return self._hess(V, AV, W, sig, cd, eps, B, m)

    def _hess(self, V, AV, W, sig, cd, eps, B, m):
        """The parts of :meth:`hess`."""
        a = 2.0 / sig
        b = 4.0 / sig ** 2
        ww = np.einsum("km,km->k", W, W)
        wh = W / np.sqrt(np.maximum(ww, 1e-300))[:, None]
        Pw = wh[:, :, None] * wh[:, None, :]
        D = (np.sqrt(a)[:, None, None] * (np.eye(m)[None] - Pw)
             + np.sqrt(a + b * ww)[:, None, None] * Pw)
        R1 = 1.0 / AV
        E = eps * ((R1 * R1).T @ self.XX).reshape(B, m, m)
        F = np.eye(m)[None] + D @ E @ D
        gb = eps * ((R1 * self.Sf).T @ cd.Xl)                       # eps A^T (1 / Av)
        return (D, F), W, gb

    @staticmethod
    def _eig(Hs):
        """D U and the eigenvalues of F (floored at 1, their exact lower bound: near the
        optimum F's entries reach 1e25 and the rounding of its small eigenvalues exceeds 1)."""
        D, F = Hs
        lam, U = np.linalg.eigh(F)
        return D @ U, np.maximum(lam, 1.0)

    @classmethod
    def apply_M(cls, Hs, G):
        """M G = D F^-1 D G for every block."""
        DU, lam = cls._eig(Hs)
        return np.einsum("kij,kj->ki", DU, np.einsum("kji,kj->ki", DU, G) / lam)

    @classmethod
    def M_factor(cls, Hs):
        """L (B, m, m) with M = L L^T: D U diag(lam^-1/2), F = U diag(lam) U^T."""
        DU, lam = cls._eig(Hs)
        return DU / np.sqrt(lam)[:, None, :]

    def inner(self, C, V, max_iter: int = 50, tol: float = 1e-11):
        """Solve min_v Psi_k(v) for every block from V (each in int K_k); returns V, the
        Hessians, Psi and whether each block converged."""
        B = V.shape[0]
        AV = self.AV(V)
        psi = self.Psi(V, C, AV)
        conv = np.zeros(B, dtype=bool)
        for _ in range(max_iter):
            Hs, W, gb = self.hess(V, AV)
            G = W - gb - C
            act = ~conv
            dV = np.zeros_like(V)
            with np.errstate(all="ignore"):
                try:
                    dV[act] = -self.apply_M((Hs[0][act], Hs[1][act]), G[act])
                except np.linalg.LinAlgError:
                    return V, AV, Hs, psi, np.zeros(B, dtype=bool)
            if not np.all(np.isfinite(dV)):
                return V, AV, Hs, psi, np.zeros(B, dtype=bool)
            dec = -np.einsum("km,km->k", G, dV)
            conv |= dec <= tol * np.maximum(1.0, np.abs(psi))
            act = ~conv
            if not np.any(act):
                break
            AdV = self.AV(dV)
            with np.errstate(divide="ignore", invalid="ignore"):
                rat = np.where(AdV < 0, -AV / AdV, np.inf)
            amax = np.min(rat, axis=0)
            step = np.where(act, np.minimum(1.0, 0.99 * amax), 0.0)
            for _ls in range(60):
                Vn = V + step[:, None] * dV
                AVn = AV + step[None, :] * AdV
                pn = self.Psi(Vn, C, AVn)
                bad = act & ~(pn <= psi - 0.25 * step * dec)
                if not np.any(bad):
                    break
                step[bad] *= 0.5
            good = act & (pn <= psi - 0.25 * step * dec)
            V = np.where(good[:, None], Vn, V)
            AV = np.where(good[None, :], AVn, AV)
            psi = np.where(good, pn, psi)
            stuck = act & ~good
            if np.any(stuck):
                conv |= stuck & (dec <= 1e-6)
                if np.all(conv | stuck):
                    break
        Hs, W, gb = self.hess(V, AV)
        return V, AV, Hs, psi, conv

    def interior(self):
        """A point in the interior of every cone: the least-squares direction
        argmin |A v - 1|, else an LP's (scipy HiGHS)."""
        cd = self.cd
        Xl = cd.Xl
        pinv = np.linalg.pinv(Xl)                                   # (m, N)
        V = (pinv @ self.Sf).T                                      # (B, m)
        AV = self.AV(V)
        bad = np.flatnonzero(np.any(AV <= 1e-9 * np.abs(AV).max(axis=0), axis=0))
        if bad.size:
            from scipy.optimize import linprog
            m = cd.m
            cobj = np.zeros(m + 1)
            cobj[-1] = -1.0
            for k in bad:
                Ak = self.Sf[:, k:k + 1] * Xl
                r = linprog(cobj, A_ub=np.hstack([-Ak, np.ones((Ak.shape[0], 1))]),
                            b_ub=np.zeros(Ak.shape[0]), bounds=[(-1, 1)] * m + [(None, 1)],
                            method="highs")
                if r.status != 0 or r.x[-1] <= 0:
                    raise _NoStart(f"cone of block {k} has an empty interior")
                V[k] = r.x[:m]
        return V


def solve_cone_dual(prog, *, tol: float | None = None, t0: float = 1.0, mu: float = 5.0,
                    row_weight: float = 1e-2, center_tol: float = 1e-7,
                    max_newton: int = MAX_NEWTON_STEPS) -> dict:
    """Solve the cone pattern program of ``prog`` (:func:`supported`) by the barrier method on
    its dual (module docstring) to nnlasso's certified relative gap ``tol`` (default
    ``prog.tol``).

    Returns the dict of :meth:`PatternProgram.solve` (``th``, ``mu`` None, ``C``, ``c0``,
    ``ulin`` None, ``status``, ``cvxpy_status``, ``compile`` 0, ``solve``) plus ``newton``
    (Newton steps), ``t`` (the last barrier parameter), ``rel_gap`` (certified), ``ev``,
    ``cert`` and ``history`` (one entry per barrier parameter). It stops at ``tol``, at
    ``max_newton`` steps, or when a centering stalls (a line search fails, three steps in a
    row shorter than 1e-3, or no center within :data:`MAX_CENTER_STEPS` steps: rounding)."""
    if not (prog.cone and not prog.unpen and prog.loss.name == "squared"
            and not prog.lin_block and prog.Qf is None):
        raise SolverError("the experiment solves the cone program with the squared loss, the "
                          "penalized bias and no skip only")
    t_start = time.perf_counter()
    tol = prog.tol if tol is None else tol
    bar = _ConeDual(prog)
    imp = _Implicit(bar, row_weight)
    q = np.zeros(prog.N)
    C = bar.C(q)
    V, AV, Hs, psi, conv = imp.inner(C, imp.interior())
    if not np.all(conv):
        raise _NoStart("the blocks' barriers have no minimizer at the start")
    t = t0
    steps = 0
    best = None
    hist: list[dict] = []
    status = "optimal_inaccurate"

    warm = [None]

    def outer_value(qq, VV, tt):
        fq = bar.fl.value(qq)
        if not np.isfinite(fq):
            return np.inf, None
        CC = bar.C(qq)
        # outside the dual's domain (some |P_K(c_k)| >= lam) the inner problems have no
        # minimizer and their Newton iterations would run to the cap: test it first
        proj = project_cones(bar.Xl, bar.S, CC, warm=warm[0])
        warm[0] = proj
        if np.any(proj.norm >= bar.lam):
            return np.inf, None
        Vn, AVn, Hn, pn, cv = imp.inner(CC, VV)
        if not np.all(cv):
            return np.inf, None
        return tt * fq - float(np.sum(pn)), (Vn, AVn, Hn, pn)

    stalled = False
    while steps < max_newton and not stalled:
        tiny = 0
        for _ in range(MAX_CENTER_STEPS):
            _, g1, h2 = bar.fl.parts(q)
            g = t * g1 + bar.fit_of(V)
            L = imp.M_factor(Hs)                                   # (B, m, m)
            cols = (bar.Xl @ L.transpose(0, 2, 1).reshape(-1, bar.m).T) * np.repeat(
                bar.Df[:, bar.bpat], bar.m, axis=1)
            H = np.diag(t * h2) + cols @ cols.T
            try:
                cf = sla.cho_factor(H, lower=True, check_finite=False)
                dq = -sla.cho_solve(cf, g, check_finite=False)
            except (np.linalg.LinAlgError, ValueError):
                logger.debug("  Cholesky failed")
                dq = -np.linalg.lstsq(H, g, rcond=None)[0]
            dec = -float(g @ dq)
            if not dec > 0:
                logger.debug("  bad decrement %r", dec)
            steps += 1
            if dec / 2 <= center_tol:
                break
            a = min(1.0, 0.99 * bar.fl.max_step(q, dq))
            f0 = t * bar.fl.value(q) - float(np.sum(psi))
            while a > 1e-14:
                f1, st = outer_value(q + a * dq, V, t)
                if f1 <= f0 - 0.25 * a * dec:
                    break
                a *= 0.5
            else:
                logger.debug("  line search failed: dec %.3e", dec)
                stalled = True
                break
            logger.debug("  dec %.3e step %.2e", dec, a)
            tiny = tiny + 1 if a < 1e-3 else 0
            if tiny >= 3:
                stalled = True      # Newton's model no longer holds (rounding): stop
            q = q + a * dq
            V, AV, Hs, psi = st
            if steps >= max_newton or stalled:
                break
        else:
            stalled = True                  # no center within MAX_CENTER_STEPS: rounding
        cand = _primal_implicit(prog, bar, imp, q, V, AV, t)
        hist.append({"t": t, "newton": steps, "objective": cand["ev"]["objective"],
                     "rel_gap": cand["rel_gap"]})
        logger.debug("cone barrier: t %.3g, %d Newton steps, objective %.10g, rel gap %.2e",
                     t, steps, cand["ev"]["objective"], cand["rel_gap"])
        if best is None or cand["rel_gap"] < best["rel_gap"]:
            best = cand
        if cand["rel_gap"] <= tol:
            status = "optimal"
            break
        if cand["rel_gap"] > 10.0 * best["rel_gap"]:
            break
        t *= mu
    return {**best["res"], "mu": None, "status": status,
            "cvxpy_status": f"cone dual barrier ({status})", "compile": 0.0,
            "solve": time.perf_counter() - t_start, "newton": steps, "t": t,
            "rel_gap": best["rel_gap"], "ev": best["ev"], "cert": best["cert"],
            "history": hist, "failure_retry": False}


def _primal_implicit(prog, bar, imp, q, V, AV, t, polish_ratio: float = 1e-3) -> dict:
    """theta_k = v_k / t (in int K_k) and nnlasso's certified gap: the better of two dual
    points checked by :meth:`PatternProgram.block_ratios` over every block and row: -grad L at
    the primal fit (:meth:`PatternProgram.certify`, multipliers eps / (a_n . v_k)) and the
    barrier's own q with the same multipliers."""
    th = V / t
    mu_d = (imp.eps / AV).T                                       # (B, N)
    nrm = np.linalg.norm(th, axis=1)
    cands = [th]
    S = np.flatnonzero(nrm > polish_ratio * nrm.max())
    if S.size:
        Uk = V[S] / np.linalg.norm(V[S], axis=1)[:, None]
        A = bar.Df[:, bar.bpat[S]] * bar.bsign[S] * (bar.Xl @ Uk.T)
        rho = _polish_columns(prog, A, nrm[S].copy())
        if rho is not None:
            th2 = np.zeros_like(th)
            th2[S] = rho[:, None] * Uk
            cands.append(th2)
    best = None
    for thc in cands:
        res_c = {"th": thc, "C": None, "c0": None, "ulin": None}
        ev_c = prog.evaluate(res_c)
        cert_c = prog.certify(ev_c["zfit"], mu_d)
        rg = relative_gap(ev_c["objective"], cert_c["dual"])
        logger.debug("   candidate objective %.12g rel gap %.2e", ev_c["objective"], rg)
        if best is None or rg < best[0]:
            best = (rg, res_c, ev_c, cert_c)
    _, res, ev, cert = best
    ratios_b, mu_b = prog.block_ratios(q, mu_d)
    ratio_b = float(np.max(ratios_b)) if ratios_b.size else 0.0
    dual_b = scaled_dual_value(prog.loss, q[:, None], prog.T, ratio_b)
    if dual_b > cert["dual"]:
        cert = {"q": q, "ratios": ratios_b, "mu": mu_b, "dual_ratio": ratio_b, "dual": dual_b}
    return {"res": res, "ev": ev, "cert": cert,
            "rel_gap": relative_gap(ev["objective"], cert["dual"])}


def main(argv=None) -> None:
    """Solve diabetes (standardized), ``--patterns`` sampled cone patterns (seed 0) at
    ``--lam`` and print one line per barrier parameter, then Clarabel's working-set optimum."""
    from sklearn.datasets import load_diabetes
    import nnlasso
    from nnlasso.patterns.solve import _build
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patterns", type=int, default=30)
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--mu", type=float, default=5.0, help="barrier parameter factor")
    ap.add_argument("--eps", type=float, default=1e-2, help="weight of the rows' log terms")
    ap.add_argument("--max-newton", type=int, default=MAX_NEWTON_STEPS)
    ap.add_argument("--clarabel", action="store_true", help="also solve with CLARABEL")
    a = ap.parse_args(argv)
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    pats = nnlasso.sample_patterns(X, a.patterns, seed=0)[0]
    prog = _build(X, y, a.lam, pats, loss="squared", skip=None, cone=True, bias="penalized",
                  solver="auto", tol=1e-8, options=None, working_set="auto")["prog"]
    c0 = time.process_time()
    out = solve_cone_dual(prog, mu=a.mu, row_weight=a.eps, max_newton=a.max_newton)
    cpu = time.process_time() - c0
    for h in out["history"]:
        print(f"t {h['t']:10.3g}  Newton steps {h['newton']:4d}  objective "
              f"{h['objective']:.12g}  certified rel gap {h['rel_gap']:.2e}")
    ev = out["ev"]
    print(f"best: objective {ev['objective']:.12g}, rel gap {out['rel_gap']:.2e}, "
          f"max row violation {ev['max_row_violation']:.1e}, {out['newton']} Newton steps, "
          f"{cpu:.1f} s CPU")
    if a.clarabel:
        sol = nnlasso.solve_patterns(X, y, a.lam, pats, cone=True, bias="penalized", skip=None,
                                     solver="CLARABEL")
        print(f"CLARABEL working set: objective {sol.objective:.12g}, rel gap {sol.rel_gap:.2e}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    main()
