"""Squared loss: block coordinate descent on the Gram matrix of the projected features."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..duality import group_norms, relative_gap
from .ops import _DEAD, _compiled_epoch, _epoch_groups, _epoch_singletons

#: Gram BCD stall window (epochs) without / with the numba kernel: a restricted solve whose
#: relative gap does not halve within this many epochs is declared stalled (see bcd_gram)
STALL_EPOCHS = 60
STALL_EPOCHS_COMPILED = 300


@dataclass
class GramProblem:
    """Restricted squared-loss problem 1/2 |P T - P Phi_W V|^2 + sum_g tau_g |V_g|_F in Gram form.

    G = (P Phi_W)^T P Phi_W (k, k),  C = (P Phi_W)^T P T (k, D),  tT = |P T|_F^2;
    ``local_ids`` maps each of the k columns to its group 0..m-1 and ``tau`` = lam omega_g (m,).
    """

    G: np.ndarray
    C: np.ndarray
    tT: float
    local_ids: np.ndarray
    tau: np.ndarray

    def objective(self, V: np.ndarray, GV: np.ndarray | None = None) -> float:
        GV = self.G @ V if GV is None else GV
        r2 = max(self.tT - 2.0 * float(np.sum(V * self.C)) + float(np.sum(V * GV)), 0.0)
        return 0.5 * r2 + float(self.tau @ group_norms(V, self.local_ids, self.tau.size))

    def gap(self, V: np.ndarray) -> tuple[float, float]:
        """(primal, gap) at V with the scaled residual as dual point.

        With R = P T - P Phi_W V, corr = C - G V = (P Phi_W)^T R and s = max(1, max_g
        |corr_g| / tau_g):  gap = 1/2 |R|^2 (1 - 1/s)^2 + sum_g tau_g |V_g| - <corr, V> / s.
        """
        GV = self.G @ V
        corr = self.C - GV
        pen = float(self.tau @ group_norms(V, self.local_ids, self.tau.size))
        r2 = max(self.tT - 2.0 * float(np.sum(V * self.C)) + float(np.sum(V * GV)), 0.0)
        ratio = group_norms(corr, self.local_ids, self.tau.size) / self.tau
        s = max(1.0, float(ratio.max())) if ratio.size else 1.0
        gap = 0.5 * r2 * (1.0 - 1.0 / s) ** 2 + pen - float(np.sum(corr * V)) / s
        return 0.5 * r2 + pen, max(gap, 0.0)


def _block_lipschitz(G: np.ndarray, blocks: list[np.ndarray] | None) -> np.ndarray:
    if blocks is None:
        return np.diag(G).copy()
    return np.array([np.linalg.eigvalsh(G[np.ix_(b, b)])[-1] for b in blocks])


def _newton_support(prob: GramProblem, V: np.ndarray, blocks: list[np.ndarray] | None,
                    max_iter: int = 8) -> np.ndarray:
    """Newton steps on the support S = {g : V_g != 0}, other groups fixed at zero.

    On S the objective is smooth: gradient (G V - C)_S + tau_g V_g / |V_g|, Hessian
    kron(G_SS, I_D) + blockdiag(tau_g / |V_g| (I - u_g u_g^T)), u_g = vec(V_g) / |V_g|.
    Steps are damped by backtracking and kept only when the objective decreases; the result is
    then certified by the caller's duality gap, so a wrong support costs nothing but time.
    """
    m = prob.tau.size
    norms = group_norms(V, prob.local_ids, m)
    S = np.flatnonzero(norms > 0)
    if S.size == 0:
        return V
    D = V.shape[1]
    if blocks is None:
        cols = S
        sizes = np.ones(S.size, dtype=int)
    else:
        cols = np.concatenate([blocks[g] for g in S])
        sizes = np.array([blocks[g].size for g in S])
    n = cols.size * D
    if n > 600:
        return V
    G_SS = prob.G[np.ix_(cols, cols)]
    H0 = np.kron(G_SS, np.eye(D))
    f = prob.objective(V)
    offsets = np.concatenate([[0], np.cumsum(sizes * D)])
    for _ in range(max_iter):
        x = V[cols].ravel()
        grad = (prob.G[cols] @ V - prob.C[cols]).ravel()
        H = H0.copy()
        for j, g in enumerate(S):
            sl = slice(offsets[j], offsets[j + 1])
            xg = x[sl]
            ng = float(np.linalg.norm(xg))
            if ng == 0:
                return V
            u = xg / ng
            grad[sl] += prob.tau[g] * u
            H[sl, sl] += prob.tau[g] / ng * (np.eye(u.size) - np.outer(u, u))
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            return V
        t, improved = 1.0, False
        while t > 0.03:
            Vn = V.copy()
            Vn[cols] = (x - t * step).reshape(-1, D)
            fn = prob.objective(Vn)
            if fn < f:
                improved = True
                break
            t *= 0.5
        if not improved:
            return V
        V, f_old, f = Vn, f, fn
        if f_old - f <= 1e-15 * max(abs(f), 1.0):
            break
    return V


def bcd_gram(prob: GramProblem, V: np.ndarray, blocks: list[np.ndarray] | None, tol: float,
             max_epochs: int = 20_000, check_every: int | None = None, anderson: int = 5,
             newton_every: int = 1, stall_epochs: int | None = None
             ) -> tuple[np.ndarray, int, float]:
    """Block coordinate descent with Anderson extrapolation and support Newton steps.

    Parameters
    ----------
    prob : the restricted problem in Gram form.   V : (k, D) start (modified copy returned).
    blocks : None for single-column groups (column j is group j), else the local columns of
        each group.   tol : relative duality gap at which to stop.
    stall_epochs : progress window W (default :data:`STALL_EPOCHS`, or
        :data:`STALL_EPOCHS_COMPILED` with the numba kernel). The relative gap is measured at
        the start and every ``check_every`` epochs; the solve **stalls**, and returns at once,
        when, after at least 4 W epochs, the gap has not halved over the last W epochs
        (rel_t > rel_{t - W} / 2; the first epochs, before the support settles, may be slow
        on well-posed problems too). On nearly
        collinear columns (condition numbers 1e12 and beyond) coordinate descent keeps making
        progress of order 1e-4 per epoch; the caller then hands the working set to an
        interior-point solver (:func:`working_set_solve`'s ``fallback``) instead of spending
        thousands of epochs on it.

    Returns
    -------
    (V, epochs, rel_gap): rel_gap > tol means the solve stalled (or ran out of epochs).
    """
    V = np.array(V, dtype=float)
    L = _block_lipschitz(prob.G, blocks)
    live = np.flatnonzero(L > _DEAD * max(float(L.max()) if L.size else 0.0, 1e-300))
    dead = np.setdiff1d(np.arange(L.size), live)
    if dead.size:
        if blocks is None:
            V[dead] = 0.0
        else:
            for g in dead:
                V[blocks[g]] = 0.0
    invL = np.zeros_like(L)
    invL[live] = 1.0 / L[live]
    thr = prob.tau * invL
    corr = prob.C - prob.G @ V
    hist: list[np.ndarray] = [V.ravel().copy()]
    epoch = 0
    last_support = failed_support = np.zeros(0, dtype=np.intp)
    kernel = _compiled_epoch()
    if check_every is None:  # compiled epochs cost microseconds: check less often
        check_every = 10 if kernel is not None else 3
    if stall_epochs is None:
        stall_epochs = STALL_EPOCHS_COMPILED if kernel is not None else STALL_EPOCHS
    primal, gap = prob.gap(V)
    rel = relative_gap(primal, primal - gap)
    if rel <= tol:  # a warm start that is already good enough (e.g. an interior-point answer)
        return V, 0, rel
    ref_epoch, ref_rel = 0, rel
    if kernel is not None:
        if blocks is None:
            flat, offs = np.arange(L.size), np.arange(L.size + 1)
        else:
            flat = np.concatenate(blocks).astype(np.int64)
            offs = np.concatenate([[0], np.cumsum([b.size for b in blocks])]).astype(np.int64)
        live64 = live.astype(np.int64)
    while epoch < max_epochs:
        epoch += 1
        if kernel is not None:
            kernel(prob.G, V, corr, invL, thr, flat, offs, live64)
        elif blocks is None:
            _epoch_singletons(prob.G, V, corr, invL, thr, live)
        else:
            _epoch_groups(prob.G, V, corr, invL, thr, blocks, live)
        hist.append(V.ravel().copy())
        if anderson and len(hist) == anderson + 1:
            V_acc = _anderson(hist, V.shape)
            if V_acc is not None and prob.objective(V_acc) < prob.objective(V):
                V = V_acc
                corr = prob.C - prob.G @ V
            hist = [V.ravel().copy()]
        if epoch % check_every == 0:
            primal, gap = prob.gap(V)
            rel = relative_gap(primal, primal - gap)
            if rel <= tol:
                break
            if epoch - ref_epoch >= stall_epochs:
                if rel > 0.5 * ref_rel and epoch >= 4 * stall_epochs:
                    break  # stalled: less than a halving of the gap in stall_epochs epochs
                ref_epoch, ref_rel = epoch, rel
            support = np.flatnonzero(np.any(V != 0, axis=1))
            stable = np.array_equal(support, last_support)
            last_support = support
            if stable and epoch % (newton_every * check_every) == 0 and not np.array_equal(
                    support, failed_support):
                Vn = _newton_support(prob, V, blocks)
                if Vn is V:
                    failed_support = support
                else:
                    V = Vn
                    corr = prob.C - prob.G @ V
                    primal, gap = prob.gap(V)
                    rel = relative_gap(primal, primal - gap)
                    if rel <= tol:
                        break
                    failed_support = support
                    hist = [V.ravel().copy()]
    return V, epoch, rel


def _anderson(hist: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray | None:
    """Anderson extrapolation sum_i c_i x_i with c = argmin |sum c_i (x_i - x_{i-1})|, sum c = 1."""
    X = np.array(hist)
    U = np.diff(X, axis=0)
    M = U @ U.T
    M += 1e-10 * (np.trace(M) + 1e-300) * np.eye(M.shape[0])
    try:
        c = np.linalg.solve(M, np.ones(M.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(c)) or c.sum() == 0:
        return None
    c /= c.sum()
    return (c @ X[1:]).reshape(shape)
