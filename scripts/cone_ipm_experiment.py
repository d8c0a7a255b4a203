"""Experiment (issue 14): a primal-dual interior point for the cone-constrained pattern program
whose Newton systems are solved on the sample space. NOT used by nnlasso; kept so that the
measurements in docs/benchmarks.md ("a native interior point on the sample space") can be
reproduced and the method continued.

Program (squared loss, penalized bias, no skip; Xl = [X, -1], block k has the 0/1 mask D_k,
the sign sigma_k and a subset R_k of its cone rows)::

    min  1/2 |y - sum_k sigma_k D_k Xl theta_k|^2 + lam sum_k t_k
    s.t. (t_k, theta_k) in SOC_{d+2},   (2 D_k - I)[n] xl_n . theta_k / |xl_n| >= 0  (n in R_k)

Method: CVXOPT ``coneqp``-style infeasible primal-dual iterations (Nesterov-Todd scaling of the
second-order cones, Mehrotra predictor-corrector, one step length 0.99 x the largest, the
CVXOPT starting point). Eliminating the cone variables leaves (H + Phi^T Phi) dx = r with H
block diagonal (one 12 x 12 block per (t_k, theta_k)) and Phi the N x 11 B fit operator; it is
solved by Woodbury through the dense N x N matrix I + Phi H^-1 Phi^T (one BLAS ``syrk`` and one
Cholesky per iteration), refined by preconditioned CG on the reduced system (``pcg`` steps; 0:
iterative refinement on the full KKT system instead).

What was measured (docs/benchmarks.md): cheap iterations, but with all N rows per block the
iteration count grows with the problem (100+ at 355 blocks: the far, redundant rows of each cone
bend the central path), and it stalls 1e-7..3e-6 above the optimum, with the reduced system
solved to 1e-12 (``pcg``) or not: the second-order-cone steps go to 0 near the boundary (the
scaling is recomputed from the iterates): not accurate enough to certify 1e-6.

Run::

    python scripts/cone_ipm_experiment.py --patterns 3 --rows 100
    python scripts/cone_ipm_experiment.py --patterns 30 --rows 442 --lam 0.01 --verbose

(``--rows R``: the R rows of least normalized slack at each block's gate; R >= N: all rows.)
The objective is compared with :func:`nnlasso.solve_patterns` (Clarabel, one-shot).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sps
from scipy.linalg import cho_factor, cho_solve
from scipy.linalg.blas import dsyrk


def _mv(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.einsum("kij,kj->ki", A, x)


class ConeIPM:
    """The interior point above on fixed blocks (masks M (N, m), signs sg (m,), row lists)."""

    def __init__(self, Xl: np.ndarray, y: np.ndarray, lam: float, M: np.ndarray,
                 sg: np.ndarray, rows: list | None = None, delta: float = 1e-8,
                 refine: int = 2, pcg: int = 20) -> None:
        self.Xl, self.y, self.lam = Xl, y, lam
        self.N, self.e = Xl.shape
        self.nq = self.e + 1
        self.delta, self.refine, self.pcg = delta, refine, pcg
        self.M = np.ascontiguousarray(M, dtype=float)
        self.Ms = self.M * np.asarray(sg, dtype=float)[None, :]
        self.m = m = self.M.shape[1]
        SgT = (2.0 * self.M - 1.0).T
        if rows is None:
            rows = [np.arange(self.N)] * m
        self.jj = np.repeat(np.arange(m), [len(r) for r in rows])
        self.rr = np.concatenate([np.asarray(r, dtype=np.intp) for r in rows])
        L, e = self.rr.size, self.e
        xln = np.linalg.norm(Xl, axis=1)
        Af = (SgT[self.jj, self.rr] / xln[self.rr])[:, None] * Xl[self.rr]   # unit rows (L, e)
        self.A = sps.csr_matrix((Af.ravel(), (np.repeat(np.arange(L), e),
                                             (self.jj[:, None] * e + np.arange(e)).ravel())),
                                shape=(L, m * e))
        self.AT = self.A.T.tocsr()
        self.Ind = sps.csr_matrix((np.ones(L), (self.jj, np.arange(L))), shape=(m, L))
        self.AA = np.einsum("li,lj->lij", Af, Af).reshape(L, e * e)

    # ---- operators on x = (t_k, theta_k) rows (m, 1 + e)
    def fit(self, th: np.ndarray) -> np.ndarray:
        return np.einsum("nk,nk->n", self.Ms, self.Xl @ th.T)

    def PhiT(self, v: np.ndarray) -> np.ndarray:
        return (self.Ms * v[:, None]).T @ self.Xl

    def G(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -(self.A @ x[:, 1:].ravel()), -x

    def GT(self, zl: np.ndarray, zq: np.ndarray) -> np.ndarray:
        out = -zq.copy()
        out[:, 1:] -= (self.AT @ zl).reshape(-1, self.e)
        return out

    # ---- second-order cone algebra
    @staticmethod
    def jdet(u: np.ndarray) -> np.ndarray:
        n1 = np.linalg.norm(u[:, 1:], axis=1)
        return (u[:, 0] - n1) * (u[:, 0] + n1)

    @staticmethod
    def jprod(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.hstack([np.sum(u * v, axis=1)[:, None],
                          u[:, :1] * v[:, 1:] + v[:, :1] * u[:, 1:]])

    @classmethod
    def arrow_solve(cls, u: np.ndarray, r: np.ndarray) -> np.ndarray:
        """x with u o x = r."""
        x0 = (u[:, 0] * r[:, 0] - np.sum(u[:, 1:] * r[:, 1:], axis=1)) / cls.jdet(u)
        return np.hstack([x0[:, None], (r[:, 1:] - x0[:, None] * u[:, 1:]) / u[:, :1]])

    @staticmethod
    def max_step_soc(x: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Largest a with x + a dx in the cone (x interior), per cone."""
        a = dx[:, 0] ** 2 - np.sum(dx[:, 1:] ** 2, axis=1)
        b = x[:, 0] * dx[:, 0] - np.sum(x[:, 1:] * dx[:, 1:], axis=1)
        n1 = np.linalg.norm(x[:, 1:], axis=1)
        c = (x[:, 0] - n1) * (x[:, 0] + n1)
        disc = b * b - a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            sq = np.sqrt(np.maximum(disc, 0))
            r_neg = np.where((a < 0) & (-b + sq > 0), c / (-b + sq), np.inf)
            r_pos = np.where((a > 0) & (disc >= 0) & (b < 0), c / (-b + sq), np.inf)
            r_lin = np.where((a == 0) & (b < 0), -c / (2 * b), np.inf)
            r0 = np.where(dx[:, 0] < 0, -x[:, 0] / dx[:, 0], np.inf)
        return np.minimum(np.minimum(np.minimum(r_neg, r_pos), r_lin), r0)

    @classmethod
    def nt_scaling(cls, s: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nesterov-Todd scaling W (symmetric, W z = W^-1 s) and W^-1, per cone."""
        sn, zn = np.sqrt(cls.jdet(s)), np.sqrt(cls.jdet(z))
        sb, zb = s / sn[:, None], z / zn[:, None]
        gam = np.sqrt((1 + np.sum(sb * zb, axis=1)) / 2)
        Jz = zb.copy()
        Jz[:, 1:] *= -1
        w = (sb + Jz) / (2 * gam[:, None])
        beta = np.sqrt(sn / zn)
        m, n = w.shape
        W = np.empty((m, n, n))
        W[:, 0, 0] = w[:, 0]
        W[:, 0, 1:] = W[:, 1:, 0] = w[:, 1:]
        W[:, 1:, 1:] = np.eye(n - 1)[None] + (w[:, 1:, None] * w[:, None, 1:]
                                              / (1 + w[:, 0])[:, None, None])
        J = np.ones(n)
        J[1:] = -1
        return W * beta[:, None, None], W * J[None, :, None] * J[None, None, :] / beta[:, None, None]

    # ---- Newton systems
    def factor(self, dl: np.ndarray, Wqi: np.ndarray) -> tuple:
        m, e, N = self.m, self.e, self.N
        H = Wqi @ Wqi
        H[:, 1:, 1:] += np.asarray(self.Ind @ (dl[:, None] * self.AA)).reshape(m, e, e)
        H += self.delta * np.eye(e + 1)[None]
        d = np.sqrt(np.einsum("kii->ki", H))
        Lc = np.linalg.cholesky(H / d[:, :, None] / d[:, None, :] + 1e-14 * np.eye(e + 1)[None])
        K = np.linalg.inv(Lc).transpose(0, 2, 1) / d[:, :, None]      # H^-1 = K K^T
        Y = np.matmul(self.Xl[None], K[:, 1:, :]) * self.M.T[:, :, None]
        S = dsyrk(1.0, np.asfortranarray(Y.transpose(1, 0, 2).reshape(N, -1)), lower=1)
        S[np.diag_indices(N)] += 1.0
        return K @ K.transpose(0, 2, 1), cho_factor(S, lower=True, overwrite_a=True,
                                                    check_finite=False)

    def _solve0(self, fac, dl, Wq2, bx, bzl, bzq):
        Hinv, cf = fac
        r = bx + self.GT(dl * bzl, _mv(Wq2, bzq))
        w = cho_solve(cf, self.fit(_mv(Hinv, r)[:, 1:]), check_finite=False)
        corr = np.zeros_like(r)
        corr[:, 1:] = self.PhiT(w)
        dx = _mv(Hinv, r - corr)
        gl, gq = self.G(dx)
        return dx, dl * (gl - bzl), _mv(Wq2, gq - bzq)

    def _reduced(self, dl, Wq2, dx):
        """(P + G^T W^-2 G) dx."""
        gl, gq = self.G(dx)
        out = self.GT(dl * gl, _mv(Wq2, gq))
        out[:, 1:] += self.PhiT(self.fit(dx[:, 1:]))
        return out

    def _woodbury(self, fac, r):
        Hinv, cf = fac
        w = cho_solve(cf, self.fit(_mv(Hinv, r)[:, 1:]), check_finite=False)
        corr = np.zeros_like(r)
        corr[:, 1:] = self.PhiT(w)
        return _mv(Hinv, r - corr)

    def solve_kkt(self, fac, dl, Wq2, Wqsq, bx, bzl, bzq):
        """[P G^T; G -W^2] [dx; dz] = [bx; bz]: the reduced system by Woodbury, then ``pcg``
        preconditioned CG steps on it (or, pcg = 0, ``refine`` refinement steps on the full
        system)."""
        if self.pcg == 0:
            dx, dzl, dzq = self._solve0(fac, dl, Wq2, bx, bzl, bzq)
            for _ in range(self.refine):
                r1 = bx - self.GT(dzl, dzq)
                r1[:, 1:] -= self.PhiT(self.fit(dx[:, 1:]))
                gl, gq = self.G(dx)
                c = self._solve0(fac, dl, Wq2, r1, bzl - gl + dzl / dl,
                                 bzq - gq + _mv(Wqsq, dzq))
                dx, dzl, dzq = dx + c[0], dzl + c[1], dzq + c[2]
            return dx, dzl, dzq
        r = bx + self.GT(dl * bzl, _mv(Wq2, bzq))
        dx = self._woodbury(fac, r)
        res = r - self._reduced(dl, Wq2, dx)
        z = self._woodbury(fac, res)
        p, rz, r0 = z.copy(), float(np.sum(res * z)), float(np.linalg.norm(r))
        for _ in range(self.pcg):
            if np.linalg.norm(res) <= 1e-14 * r0 or rz <= 0:
                break
            Ap = self._reduced(dl, Wq2, p)
            a = rz / float(np.sum(p * Ap))
            dx, res = dx + a * p, res - a * Ap
            z = self._woodbury(fac, res)
            rz_new = float(np.sum(res * z))
            p, rz = z + (rz_new / rz) * p, rz_new
        gl, gq = self.G(dx)
        return dx, dl * (gl - bzl), _mv(Wq2, gq - bzq)

    def start(self) -> tuple:
        """CVXOPT's starting point: the W = I Newton system, then shifts into the cones."""
        m, L = self.m, self.rr.size
        I = np.broadcast_to(np.eye(self.nq), (m, self.nq, self.nq)).copy()
        fac = self.factor(np.ones(L), I)
        c = np.zeros((m, 1 + self.e))
        c[:, 0] = self.lam
        c[:, 1:] = -self.PhiT(self.y)
        x, _, _ = self.solve_kkt(fac, np.ones(L), I, I, -c, np.zeros(L), np.zeros((m, self.nq)))
        gl, gq = self.G(x)

        def shift(l, q):
            mn = min(float(np.min(l)), float(np.min(q[:, 0] - np.linalg.norm(q[:, 1:], axis=1))))
            a = 1.0 - mn if mn <= 0 else 0.0
            q = q.copy()
            q[:, 0] += a
            return l + a, q
        sl, sq = shift(-gl, -gq)
        zl, zq = shift(gl, gq)
        return x, sl, zl, sq, zq

    def solve(self, tol: float = 1e-9, maxit: int = 100, verbose: bool = False) -> dict:
        lam, nq = self.lam, self.nq
        x, sl, zl, sq, zq = self.start()
        eq = np.zeros(nq)
        eq[0] = 1.0
        best, status, it = None, "max_iter", 0
        cnorm = float(np.linalg.norm(self.PhiT(self.y))) + lam * np.sqrt(self.m)
        while it < maxit:
            res = self.fit(x[:, 1:]) - self.y
            rx = self.GT(zl, zq)
            rx[:, 0] += lam
            rx[:, 1:] += self.PhiT(res)
            gl, gq = self.G(x)
            rzl, rzq = gl + sl, gq + sq
            gap = float(np.sum(sl * zl) + np.sum(sq * zq))
            pobj = 0.5 * float(res @ res) + lam * float(np.sum(x[:, 0]))
            pres = float(np.sqrt(np.sum(rzl ** 2) + np.sum(rzq ** 2)))
            dres = float(np.linalg.norm(rx))
            if verbose:
                print(f"it {it:3d} pobj {pobj:.12g} gap {gap:.2e} pres {pres:.2e} dres {dres:.2e}")
            score = max(gap / abs(pobj), pres, dres / max(1.0, cnorm))
            if best is None or score < best[0]:
                best = (score, x.copy())
            if score <= tol:
                status = "optimal"
                break
            mu = gap / (sl.size + self.m)
            wl, laml, dl = np.sqrt(sl / zl), np.sqrt(sl * zl), zl / sl
            Wq, Wqi = self.nt_scaling(sq, zq)
            Wq2, Wqsq, lamq = Wqi @ Wqi, Wq @ Wq, _mv(Wq, zq)
            try:
                fac = self.factor(dl, Wqi)
            except np.linalg.LinAlgError:
                status = "stalled"
                break
            for step in range(2):
                rcl = -laml * laml
                rcq = -self.jprod(lamq, lamq)
                if step == 1:     # Mehrotra corrector and centering
                    rcl = rcl - dsl_a * dzl_a + sigma * mu
                    rcq = rcq - self.jprod(dsq_a, dzq_a) + sigma * mu * eq[None, :]
                bzl = -rzl - wl * (rcl / laml)
                bzq = -rzq - _mv(Wq, self.arrow_solve(lamq, rcq))
                dx, dzl, dzq = self.solve_kkt(fac, dl, Wq2, Wqsq, -rx, bzl, bzq)
                dgl, dgq = self.G(dx)
                dsl, dsq = -rzl - dgl, -rzq - dgq
                with np.errstate(divide="ignore"):
                    amax = min(np.min(np.where(dsl < 0, -sl / dsl, np.inf)),
                               np.min(np.where(dzl < 0, -zl / dzl, np.inf)),
                               np.min(self.max_step_soc(sq, dsq)),
                               np.min(self.max_step_soc(zq, dzq)))
                if step == 0:
                    aa = min(1.0, amax)
                    ngap = float(np.sum((sl + aa * dsl) * (zl + aa * dzl))
                                 + np.sum((sq + aa * dsq) * (zq + aa * dzq)))
                    sigma = min(1.0, max(0.0, ngap / gap)) ** 3
                    dsl_a, dzl_a = dsl / wl, dzl * wl
                    dsq_a, dzq_a = _mv(Wqi, dsq), _mv(Wq, dzq)
            a = min(1.0, 0.99 * amax)
            x = x + a * dx
            sl, sq, zl, zq = sl + a * dsl, sq + a * dsq, zl + a * dzl, zq + a * dzq
            it += 1
            if a < 1e-6:
                status = "stalled"
                break
        x = x if status == "optimal" else best[1]
        th = x[:, 1:]
        obj = (0.5 * float(np.sum((self.y - self.fit(th)) ** 2))
               + lam * float(np.sum(np.linalg.norm(th, axis=1))))
        return {"theta": th, "objective": obj, "status": status, "iterations": it}


def benchmark_problem(n_patterns: int):
    """The benchmark's diabetes problem and strict gates (scripts/bench_patterns.py)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_patterns import load_diabetes_std, strict_gates

    from nnlasso.patterns import sample_patterns
    X, y = load_diabetes_std()
    _, G, h = sample_patterns(X, n_patterns, seed=0)
    proj, t = strict_gates(X, G, h)
    return X, y, (proj - t > 0).T, np.hstack([G, t[:, None]])


def run(n_patterns: int = 3, n_rows: int = 100, lam: float = 0.01,
        verbose: bool = False, reference: bool = True) -> dict:
    """Solve the benchmark problem (all blocks, the ``n_rows`` nearest rows at each gate)."""
    X, y, pats, gates = benchmark_problem(n_patterns)
    N, P = X.shape[0], pats.shape[0]
    Xl = np.hstack([X, -np.ones((N, 1))])
    M = np.hstack([pats.T, pats.T]).astype(float)
    sg = np.r_[np.ones(P), -np.ones(P)]
    gg = np.vstack([gates, gates])
    slack = (2 * M - 1).T * (gg @ Xl.T) / np.linalg.norm(Xl, axis=1)[None, :]
    rows = None if n_rows >= N else list(np.argsort(slack, axis=1)[:, :n_rows])
    ipm = ConeIPM(Xl, y, lam, M, sg, rows)
    t0 = time.process_time()
    out = ipm.solve(verbose=verbose)
    out["cpu"] = time.process_time() - t0
    th = out.pop("theta")
    out["max_violation"] = float(max(0.0, -np.min((2 * M - 1).T * (th @ Xl.T))))
    if reference:
        from nnlasso.patterns import solve_patterns
        ref = solve_patterns(X, y, lam, pats, cone=True, bias="penalized", skip=None,
                             working_set=False)
        out["reference"] = ref.objective
        out["rel_diff"] = (out["objective"] - ref.objective) / ref.objective
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patterns", type=int, default=3)
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    a = ap.parse_args()
    print(run(a.patterns, a.rows, a.lam, a.verbose, not a.no_reference))


if __name__ == "__main__":
    main()
