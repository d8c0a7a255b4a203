"""Smooth losses: proximal Newton (explicit Hessian) and damped Newton steps on the support."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..duality import fit_affine, group_norms, relative_gap
from ..losses import Loss
from .ops import _DEAD, _compiled_epoch, _epoch_groups, _epoch_singletons, restricted_gap

#: largest restricted problem (variables) solved by proximal Newton (explicit Hessian); FISTA
#: above it
PROX_NEWTON_MAX_VARS = 2500

#: proximal-Newton stall window (iterations): a restricted solve whose relative gap has not
#: halved over the last NEWTON_STALL_ITERS iterations, after at least 4 x as many, returns as
#: stalled (see :func:`newton_stalled`); the working-set loop then hands the working set to its
#: fallback (CLARABEL)
NEWTON_STALL_ITERS = 25


def newton_stalled(rels: list[float], window: int | None, factor: float = 0.5,
                   warmup: int = 4) -> bool:
    """The stall rule of the (proximal) Newton inner solvers, on the relative gaps ``rels``
    (``rels[i]`` after iteration i, ``rels[0]`` at the start).

    Stalled when at least ``warmup`` * ``window`` iterations ran and the gap has not shrunk by
    ``factor`` over the last ``window``: rel_t > factor * rel_{t - window} (Newton: halving,
    after 4 windows; FISTA, :mod:`nnlasso.prox.fista`, applies it to its checks with its own
    ``factor`` and ``warmup``). Newton's linear phase (before the support and the
    curvature settle) can be long on well-posed programs too (softmax on digits, N = 1797: the
    gap 0.99 -> 0.5 in 70 iterations, then quadratic convergence within a few more), hence the
    4 ``window`` = 100 iterations before the first test. On nearly separable logistic data with
    many correlated neurons (a ReLU teacher's labels, N = 300, d = 2, 2000 "data" neurons, lam =
    1e-3 lam_max) the gap instead creeps 1 -> 0.23 over the 200-iteration cap (3 s for 20
    columns, which CLARABEL solves in 0.2 s), or sits still. ``window`` None or 0: never.
    """
    if not window:
        return False
    t = len(rels) - 1
    return t >= warmup * window and rels[t] > factor * rels[t - window]


def _newton_smooth(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                   local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray,
                   max_iter: int = 10, max_size: int = 800) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton steps on the support S = {g : V_g != 0} and the affine part, others at zero.

    Variables X = [V_S; c] with M = [Phi_S U]; objective f(M X) + sum_{g in S} tau_g |V_g|_F,
    smooth on S; Hessian M-weighted loss Hessian (``loss.hessian``) plus
    tau_g / |V_g| (I - u_g u_g^T). Steps are kept only when they decrease the objective.
    """
    m_g = tau.size
    norms = group_norms(V, local_ids, m_g)
    S_cols = np.flatnonzero(norms[local_ids] > 0)
    D, r = V.shape[1], basis.shape[1]
    n = (S_cols.size + r) * D
    if S_cols.size == 0 or n > max_size:
        return V, c
    M = np.hstack([Phi_W[:, S_cols], basis])
    ids_S = local_ids[S_cols]
    groups_S = np.unique(ids_S)

    def objective(X: np.ndarray) -> tuple[float, np.ndarray]:
        Z = M @ X
        return loss.value(Z, T) + float(tau @ group_norms(X[:S_cols.size], ids_S, m_g)), Z

    X = np.vstack([V[S_cols], c])
    f, Z = objective(X)
    for _ in range(max_iter):
        grad = M.T @ loss.grad(Z, T)
        H = loss.hessian(Z, T, M)
        for g in groups_S:
            rows = np.flatnonzero(ids_S == g)
            idx = (rows[:, None] * D + np.arange(D)[None, :]).ravel()
            xg = X[rows].ravel()
            ng = float(np.linalg.norm(xg))
            if ng == 0:
                return V, c
            u = xg / ng
            grad[rows] += (tau[g] * u).reshape(rows.size, D)
            H[np.ix_(idx, idx)] += tau[g] / ng * (np.eye(u.size) - np.outer(u, u))
        H += 1e-12 * (np.trace(H) / n + 1e-300) * np.eye(n)
        try:
            step = np.linalg.solve(H, grad.ravel()).reshape(-1, D)
        except np.linalg.LinAlgError:
            break
        t, fn = 1.0, np.inf
        while t > 1e-6:
            Xn = X - t * step
            fn, Zn = objective(Xn)
            if fn < f:
                break
            t *= 0.5
        if not fn < f:
            break
        X, Z, f_old, f = Xn, Zn, f, fn
        if f_old - f <= 1e-15 * max(abs(f), 1.0):
            break
    V = V.copy()
    V[S_cols] = X[:S_cols.size]
    return V, X[S_cols.size:]


def _model_step(H: np.ndarray, grad: np.ndarray, x: np.ndarray, var_blocks: list[np.ndarray],
                tau_all: np.ndarray, flat: np.ndarray, offs: np.ndarray, kernel: Any,
                epochs: int) -> np.ndarray:
    """Step x' - x minimizing the proximal-Newton model by block coordinate epochs.

    min_{x'} <grad, x' - x> + 1/2 (x' - x)^T H (x' - x) + sum_g tau_g |x'_g|_2, each block g
    updated by the group soft-threshold with step 1 / L_g, L_g = lambda_max(H_gg); blocks with
    L_g <= _DEAD max L are left alone (they do not touch the fit).
    """
    Lb = np.array([np.linalg.eigvalsh(H[np.ix_(b, b)])[-1] for b in var_blocks])
    live = np.flatnonzero(Lb > _DEAD * max(float(Lb.max()), 1e-300))
    invL = np.zeros_like(Lb)
    invL[live] = 1.0 / Lb[live]
    thr = tau_all * invL
    xn = x.copy()[:, None]
    corr = -grad[:, None]                       # minus the model gradient at xn = x
    live64 = live.astype(np.int64)
    # one variable per block, in order (one output, single-neuron groups): the scalar epoch
    scalar = kernel is None and flat.size == len(var_blocks) and np.array_equal(
        flat, np.arange(flat.size))
    for _ in range(epochs):
        if kernel is not None:
            kernel(H, xn, corr, invL, thr, flat, offs, live64)
        elif scalar:
            _epoch_singletons(H, xn, corr, invL, thr, live)
        else:
            _epoch_groups(H, xn, corr, invL, thr, var_blocks, live)
    return xn[:, 0] - x


def _newton_layout(Phi_W: np.ndarray, basis: np.ndarray, local_ids: np.ndarray,
                   tau: np.ndarray, width: int) -> tuple:
    """Block layout of a (proximal) Newton step on X = [V; c] with ``width`` columns.

    Rows of M = [Phi_W, basis] are the variables' rows; row j belongs to group
    ``row_group[j]`` (the m penalized groups, then one unpenalized block per affine row, weight
    ``tau_all`` = 0). In the row-major vectorization x = vec(X) (entry (j, t) at j * width + t)
    block g owns the entries ``var_blocks[g]``; ``flat`` concatenates them and ``offs`` are
    the block offsets, the layout of the compiled epoch kernel.

    Returns (M, row_group, tau_all, blocks, var_blocks, flat, offs).
    """
    r = basis.shape[1]
    M = np.hstack([Phi_W, basis])
    m = tau.size
    row_group = np.concatenate([local_ids, m + np.arange(r)])
    tau_all = np.concatenate([tau, np.zeros(r)])
    blocks = [np.flatnonzero(row_group == g) for g in range(m + r)]
    var_blocks = [(b[:, None] * width + np.arange(width)[None, :]).ravel() for b in blocks]
    flat = np.concatenate(var_blocks).astype(np.int64)
    offs = np.concatenate([[0], np.cumsum([b.size for b in var_blocks])]).astype(np.int64)
    return M, row_group, tau_all, blocks, var_blocks, flat, offs


def prox_newton(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray, tol: float,
                max_iter: int = 200, epochs: int = 30,
                stall_iters: int | None = NEWTON_STALL_ITERS
                ) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Proximal Newton for min f(Phi_W V + U c) + sum_g tau_g |V_g|_F (logistic, softmax).

    With X = [V; c], M = [Phi_W U], g = M^T grad f and H the Hessian (``loss.hessian``),
    each step minimizes the local model <g, X' - X> + 1/2 (X' - X)^T H (X' - X) + pen(V') by
    ``epochs`` block coordinate epochs (the group soft-threshold with L_g = lambda_max(H_gg);
    the affine rows are unpenalized blocks), then backtracks along X' - X (Armijo on the true
    objective). The relative gap is checked after every step; the solve returns early when it
    stalls (:func:`newton_stalled` with window ``stall_iters``). Returns (V, c, steps, rel_gap):
    rel_gap > tol means it stalled or ran out of iterations.
    """
    k, r, D = Phi_W.shape[1], basis.shape[1], T.shape[1]
    n_rows = k + r
    M, row_group, tau_all, blocks, var_blocks, flat, offs = _newton_layout(
        Phi_W, basis, local_ids, tau, D)
    m = tau.size
    kernel = _compiled_epoch()

    def objective(X: np.ndarray) -> float:
        return loss.value(M @ X, T) + float(tau @ group_norms(X[:k], local_ids, m))

    def certificate(X: np.ndarray) -> tuple[np.ndarray, float]:
        cx = fit_affine(loss, T, Phi_W @ X[:k], basis, B0=X[k:]) if r else X[k:]
        X = np.vstack([X[:k], cx])
        primal, gap = restricted_gap(loss, T, Phi_W, basis, M @ X, float(
            tau @ group_norms(X[:k], local_ids, m)), local_ids, tau)
        return X, relative_gap(primal, primal - gap)

    X, rel = certificate(np.vstack([np.asarray(V, float), np.asarray(c, float)]))
    rels = [rel]
    it = 0
    while rel > tol and it < max_iter and not newton_stalled(rels, stall_iters):
        it += 1
        Z = M @ X
        grad = (M.T @ loss.grad(Z, T)).ravel()
        H = loss.hessian(Z, T, M)
        x = X.ravel()
        delta = _model_step(H, grad, x, var_blocks, tau_all, flat, offs, kernel,
                            epochs).reshape(n_rows, D)
        if not np.any(delta):
            break
        f0 = objective(X)
        decrease = float(grad @ delta.ravel()) + float(
            tau @ (group_norms(X[:k] + delta[:k], local_ids, m) - group_norms(X[:k], local_ids, m)))
        t = 1.0
        while t > 1e-8:
            Xn = X + t * delta
            if objective(Xn) <= f0 + 1e-4 * t * min(decrease, 0.0):
                break
            t *= 0.5
        else:
            break
        support = np.flatnonzero(group_norms(X[:k], local_ids, m) > 0)
        X, rel = certificate(Xn)
        new_support = np.flatnonzero(group_norms(X[:k], local_ids, m) > 0)
        if rel > tol and np.array_equal(support, new_support):
            # support identified: Newton on it converges quadratically (the model's BCD epochs
            # only converge linearly on these ill-conditioned problems)
            Vn, cn = _newton_smooth(loss, T, Phi_W, basis, local_ids, tau, X[:k], X[k:])
            Xs, rel_s = certificate(np.vstack([Vn, cn]))
            if objective(Xs) <= objective(X):
                X, rel = Xs, rel_s
        rels.append(rel)
    return X[:k], X[k:], it, rel
