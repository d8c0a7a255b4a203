"""Warm-started Newton solver of the gated pattern program (squared loss, penalized bias), used
by :func:`~nnlasso.patterns.pattern_path` between neighbouring lam: it proposes a point that the
working-set loop then certifies over all blocks (``start["point"]`` of
:meth:`~nnlasso.patterns.working_set.WorkingSetLoop.solve_working_set`); when the point does not
certify, the loop solves as without it, so every returned point carries the loop's certificate.

On a support S (blocks k, theta_k in R^{d+1}) the gated program is the group lasso

    min_theta  f = 1/2 |P (y - sum_k A_k theta_k)|^2 + lam sum_k |theta_k|,   A_k = sigma_k D_k Xl

(P the projection off the free columns: skip and intercept), smooth where every theta_k != 0.
Newton's method from the previous lam's point: the step solves H d = -g,
H = A^T A + blockdiag(lam / |theta_k| (I - u_k u_k^T)), u_k = theta_k / |theta_k|, through the
(N + |S|) saddle form when |S| < N (one N x N Cholesky of I + sum_k (|theta_k| / lam)
A_k P_k A_k^T, P_k = I - u_k u_k^T, and an |S| x |S| system for the steps along the u_k,
Levenberg-regularized at 1e-12 of its largest eigenvalue), else densely; Armijo backtracking;
plain Newton steps once the decrease is below the objective's rounding. It stops when every
block's gradient is <= 1e-11 lam: the ratios |A_k^T q| / lam of nnlasso's certificate are then
1 to that accuracy. A block that the step would drive through zero leaves S when zero is
optimal for it with the others fixed (|A_k^T r_{-k}| <= lam) or the step would otherwise be cut
below 1/2, unless it entered in this solve (then the step stops short of zero). Around it, the
zero blocks whose ratio (:meth:`PatternProgram.block_ratios`) at the Newton point exceeds
1 + 1e-9 enter S along A_k^T q, and Newton runs again. None is returned when this does not
settle within its budget (then the interior-point loop solves the step).

The cone-constrained program is not covered: its faces (the cone rows held at equality)
change at most steps of the diabetes path, and a primal active-set iteration on them, tried,
did not settle (nearly duplicate patterns make the face Newton systems degenerate).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla


def applicable(prog) -> bool:
    """Whether :func:`~nnlasso.patterns.pattern_path` tries the Newton point: the gated program
    with the squared loss and the penalized bias (one output)."""
    return (not prog.cone and prog.loss.name == "squared" and prog.bias == "penalized"
            and not prog.lin_block and prog.T.shape[1] == 1)


def _psd_solve(K: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K + delta I)^-1 b for a symmetric positive semidefinite K, delta = 1e-12 max(eig)
    (Levenberg-Marquardt: on a degenerate program, blocks whose fits are linearly dependent,
    the step along K's null space is long and drives blocks to zero, where they leave)."""
    ev, Q = np.linalg.eigh(K)
    top = float(ev[-1]) if ev.size else 0.0
    return Q @ ((Q.T @ b) / (np.maximum(ev, 0.0) + 1e-12 * max(top, 1e-300)))


class GatedNewton:
    """Newton points of one gated :class:`PatternProgram` (see the module docstring)."""

    zero_tol = 1e-7        # a block leaves S when |theta_k| <= zero_tol max |theta|
    max_newton = 40        # Newton iterations per support
    max_outer = 8          # supports (entering blocks) per point
    max_enter = 50         # blocks entering at once
    max_bytes = 1 << 29    # working arrays of one Newton iteration (512 MiB)
    max_dense = 3000       # unknowns of the dense Newton system (|S| >= N)

    def __init__(self, prog):
        if not applicable(prog):
            raise ValueError("GatedNewton: the gated program with the squared loss and the "
                             "penalized bias only")
        self.p = prog
        N = prog.N
        self.Qf = prog.Qf
        self.y = self._perp(prog.y.astype(float))
        free = []
        if prog.X_skip is not None:
            free.append(prog.X_skip)
        if prog.intercept:
            free.append(np.ones((N, 1)))
        self.F = np.hstack(free) if free else None
        self.n_skip = 0 if prog.X_skip is None else prog.X_skip.shape[1]
        self.fail: str | None = None
        self.last = None

    def _perp(self, v: np.ndarray) -> np.ndarray:
        if self.Qf is None:
            return v
        return v - self.Qf @ (self.Qf.T @ v)

    def _A(self, k: int) -> np.ndarray:
        """P A_k = P sigma_k D_k Xl (N, e)."""
        return self._perp(self.p.Mk[:, k][:, None] * self.p.Xl)

    # ---- the smooth program on a fixed support ------------------------------------------
    def _newton(self, Bs: list, ws: list, lam: float, protect=None):
        """Newton's method on f over the blocks' matrices Bs (N, f_k) from the points ws;
        returns (ws, converged, active mask). The blocks are held as one (N, m, f) array
        (padded with zero columns to the largest f_k: a zero column changes neither the fit
        nor |w_k|). ``protect`` (m,) bool: blocks never dropped at zero (they just entered)."""
        y = self.y
        N = y.size
        m = len(Bs)
        fm = max(b.shape[1] for b in Bs)
        Bt = np.zeros((N, m, fm))                  # (N, m, f): B_k = Bt[:, k, :]
        W = np.zeros((m, fm))
        for j, (b, w_) in enumerate(zip(Bs, ws)):
            Bt[:, j, :b.shape[1]] = b
            W[j, :b.shape[1]] = w_
        active = np.ones(m, dtype=bool)
        protect = np.zeros(m, dtype=bool) if protect is None else np.asarray(protect, bool)
        idx = np.arange(m)

        def obj(Wv, Bv):
            r = y - Bv.reshape(N, -1) @ Wv.reshape(-1)
            return 0.5 * float(r @ r) + lam * float(np.sum(np.linalg.norm(Wv, axis=1))), r

        Ba, Wa = Bt, W
        f, r = obj(Wa, Ba)
        converged = False
        self.last = None
        pure = capped = 0
        for it in range(self.max_newton):
            nrm = np.linalg.norm(Wa, axis=1)
            U = Wa / nrm[:, None]
            g = -(r @ Ba.reshape(N, -1)).reshape(U.shape) + lam * U
            gmax = float(np.max(np.linalg.norm(g, axis=1)))
            if gmax <= 1e-11 * lam:
                converged = True
                break
            dW = self._direction(Ba, U, nrm, g, lam)
            if dW is None:
                self.last = ("direction", it)
                return None, False, active
            dec = -float(np.sum(g * dW))
            if not np.isfinite(dec) or dec < 0:
                self.last = ("ascent", dec)
                return None, False, active
            if dec <= 1e-24 * max(abs(f), 1e-300):
                converged = True
                break
            # a block the full step drives through (or next to) zero leaves if zero is optimal
            # for it (|B_k^T r_{-k}| <= lam, r_{-k} the residual without it); a block that
            # must stay nonzero limits the step to keep u_k . w_k >= 0.1 |w_k|
            # (a block that just entered is kept, the step then stops before it crosses,
            # unless that cut the step below 1/2 three times in a row); a block the step would
            # shrink to less than half its norm, so that the step is cut below 1/2, leaves too
            # (its curvature lam / |w_k| is not in the model along u_k: on degenerate programs
            # the cut steps otherwise shrink geometrically)
            ud = np.sum(U * dW, axis=1)
            near = np.flatnonzero(nrm + ud <= 0.1 * nrm)
            t_cap, cross = 1.0, []
            for j in near.tolist():
                tj = 0.9 * nrm[j] / -ud[j]
                if (tj < 0.5 and (not protect[idx[j]] or capped >= 3)) or np.linalg.norm(
                        Ba[:, j].T @ (r + Ba[:, j] @ Wa[j])) <= lam:
                    cross.append(j)
                else:
                    t_cap = min(t_cap, tj)
            capped = capped + 1 if t_cap < 0.5 else 0
            if cross:
                keep = np.ones(idx.size, dtype=bool)
                keep[cross] = False
                active[idx[cross]] = False
                idx, Ba, Wa = idx[keep], np.ascontiguousarray(Ba[:, keep]), Wa[keep]
                if idx.size == 0:
                    converged = True
                    break
                f, r = obj(Wa, Ba)
                continue
            t = t_cap
            if dec <= 1e-12 * abs(f):
                # the objective's rounding hides the decrease: plain Newton steps (local
                # quadratic convergence) until the ratios settle
                pure += 1
                if pure > 6:
                    converged = dec <= 1e-14 * abs(f)
                    self.last = ("pure", dec, f, gmax / lam)
                    break
                Wa = Wa + t * dW
                f, r = obj(Wa, Ba)
                continue
            while True:
                f_new, r_new = obj(Wa + t * dW, Ba)
                if f_new <= f - 1e-4 * t * dec or t < 1e-10 * t_cap:
                    break
                t *= 0.5
            if t < 1e-10 * t_cap:
                # no decrease possible at rounding level: stationary to machine precision
                converged = dec <= 1e-10 * max(abs(f), 1e-300)
                self.last = ("linesearch", dec, f)
                break
            Wa = Wa + t * dW
            f, r = f_new, r_new
        else:
            self.last = ("maxiter", dec, f)
        out = [np.zeros(b.shape[1]) for b in Bs]
        for jj, j in enumerate(idx.tolist()):
            out[j] = Wa[jj, :Bs[j].shape[1]].copy()
        return out, converged, active

    def _direction(self, Bt, U, nrm, g, lam):
        """Newton step: H dW = -g, H = B^T B + blockdiag(lam / |w_k| (I - u_k u_k^T)); through
        the N + m saddle system when m < N (the (N, N) matrix I + sum_k c_k B_k P_k B_k^T,
        c_k = |w_k| / lam, P_k = I - u_k u_k^T), else densely."""
        N, m, fm = Bt.shape
        if m < N - 5:
            c = nrm / lam
            V = np.sum(Bt * U[None], axis=2)                           # (N, m): B_k u_k
            ug = np.sum(U * g, axis=1)
            Bp = Bt - V[:, :, None] * U[None]                          # B_k P_k
            Bp *= np.sqrt(c)[None, :, None]
            Bh = Bp.reshape(N, m * fm)
            M = Bh @ Bh.T
            M[np.diag_indices(N)] += 1.0
            h = -(Bh @ (np.sqrt(c)[:, None] * g).reshape(-1))
            try:
                L = sla.cho_factor(M, check_finite=False)
            except (np.linalg.LinAlgError, sla.LinAlgError):
                return None
            MV = sla.cho_solve(L, V, check_finite=False)
            Mh = sla.cho_solve(L, h, check_finite=False)
            alpha = _psd_solve(V.T @ MV, -ug - V.T @ Mh)
            s = Mh + MV @ alpha
            v = -g - (s @ Bt.reshape(N, -1)).reshape(m, fm)
            v = v - U * np.sum(U * v, axis=1)[:, None]
            return alpha[:, None] * U + c[:, None] * v
        Bf = Bt.reshape(N, m * fm)
        H = Bf.T @ Bf
        for j in range(m):
            sl = slice(j * fm, (j + 1) * fm)
            H[sl, sl] += lam / nrm[j] * (np.eye(fm) - np.outer(U[j], U[j]))
        try:
            return _psd_solve(H, -g.reshape(-1)).reshape(m, fm)
        except (np.linalg.LinAlgError, sla.LinAlgError):
            return None

    # ---- supports -------------------------------------------------------------------------
    def solve(self, th0: np.ndarray, lam: float) -> dict | None:
        """A point of the program at ``lam`` from the point ``th0`` (B, d+1) of a nearby lam,
        as a :meth:`PatternProgram.solve` result ("optimal" only says that Newton converged;
        the caller certifies it), with ``"support"`` and ``"newton_solves"``; or None (and
        ``self.fail`` says why)."""
        t0 = time.perf_counter()
        p = self.p
        B, e = p.B, p.e
        self.fail = None
        bn = np.linalg.norm(th0, axis=1)
        top = float(np.max(bn)) if bn.size else 0.0
        if top == 0.0:
            self.fail = "zero start"
            return None
        S = [int(k) for k in np.flatnonzero(bn > p.zero_tol * top)]
        th = {k: th0[k].copy() for k in S}
        entered: set = set()      # blocks added here: not dropped again (no cycling)
        for n_solve in range(1, self.max_outer + 1):
            # memory and time bounds: ~3 (N, |S| (d+1)) arrays and an N x N one per iteration;
            # past |S| >= N the dense system has |S| (d+1) rows (larger programs: the loop)
            n_col = len(S) * e
            if 8 * p.N * (3 * n_col + p.N) > self.max_bytes or (
                    len(S) >= p.N - 5 and n_col > self.max_dense):
                self.fail = f"too large ({len(S)} blocks)"
                return None
            ws, ok, active = self._newton([self._A(k) for k in S], [th[k] for k in S], lam,
                                          protect=np.array([k in entered for k in S]))
            if ws is None or not ok:
                self.fail = f"newton: {self.last}"
                return None
            th = {k: w for k, w, a in zip(S, ws, active) if a}
            S = list(th)
            if not S:
                self.fail = "empty support"
                return None
            z = np.zeros(p.N)
            for k in S:
                z += p.Mk[:, k] * (p.Xl @ th[k])
            q = self._perp(p.y - z)
            inS = np.zeros(B, dtype=bool)
            inS[S] = True
            r = p.block_ratios(q, None)[0]
            enter = np.flatnonzero(~inS & (r > 1.0 + 1e-9))
            if enter.size == 0:
                thf = np.zeros((B, e))
                for k in S:
                    thf[k] = th[k]
                C, c0 = self._free(z)
                return {"th": thf, "mu": None, "C": C, "c0": c0, "ulin": None,
                        "status": "optimal", "cvxpy_status": "newton",
                        "solve": time.perf_counter() - t0, "compile": 0.0,
                        "newton_solves": n_solve, "support": np.array(S, dtype=np.intp)}
            # entering blocks: along A_k^T q, at half the step that is optimal for the block
            # alone (|A_k^T q| > lam: the objective decreases along it)
            for k in enter[np.argsort(-r[enter], kind="stable")][:self.max_enter].tolist():
                v = p.Xl.T @ (p.Mk[:, k] * q)
                nv = float(np.linalg.norm(v))
                Av = self._A(k) @ v
                den = float(Av @ Av)
                if nv == 0.0 or den == 0.0:
                    continue
                th[k] = 0.5 * max((nv * nv - lam * nv) / den, 1e-12 * nv) * v
                S.append(int(k))
                entered.add(int(k))
        self.fail = "max_outer"
        return None

    def _free(self, z: np.ndarray):
        """Skip coefficients and intercept of the best fit of y - z by the free columns."""
        if self.F is None:
            return None, None
        c = np.linalg.lstsq(self.F, self.p.y - z, rcond=None)[0]
        C = c[:self.n_skip] if self.n_skip else None
        c0 = float(c[self.n_skip]) if self.p.intercept else None
        return C, c0
