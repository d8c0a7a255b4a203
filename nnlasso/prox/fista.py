"""Smooth losses: FISTA with gradient-based adaptive restart on (V, c)."""
from __future__ import annotations

import numpy as np

from ..duality import fit_affine, group_norms, relative_gap
from ..losses import Loss
from .newton import _newton_smooth, newton_stalled
from .ops import group_soft_threshold, restricted_gap

#: FISTA stall rule (the rule of :func:`nnlasso.prox.newton.newton_stalled` on the gaps of its
#: checks): a restricted solve whose relative gap has shrunk by less than 10 %
#: (FISTA_STALL_FACTOR) over the last FISTA_STALL_ITERS iterations, after at least
#: FISTA_STALL_WARMUP windows, returns as stalled, and the working-set loop hands the working
#: set to its fallback (CLARABEL). Softer than Newton's halving: before its support settles,
#: FISTA's gap can fall slowly for thousands of iterations and then collapse (a logistic
#: program, N = 200, 60 neurons: 0.32 -> 0.18 over 5000 iterations, converged at 9260, falling
#: by 20-25 % per 2000), while a stalled solve's gap creeps (nearly separable logistic: 2 %
#: per 2000 iterations; softmax on digits, 80 neurons: still 1e-2 after 20,000 iterations).
#: The trade-off is the fallback's cost: on another digits working set of 80 neurons (lam =
#: 1e-3 lam_max) the gap sat at 0.16 from 2500 to 10,500 iterations and then collapsed at
#: 10,740 (30 s CPU); the rule hands it over at 4220 (9.5 s), and CLARABEL's softmax program
#: (17,970 exponential cones) takes 102 s CPU there, so the native inner solver
#: (:func:`nnlasso.prox.working_set.native_inner`) passes ``stall_iters=None`` for softmax
FISTA_STALL_ITERS = 2000
FISTA_STALL_FACTOR = 0.9
FISTA_STALL_WARMUP = 2


def _spectral_norm(M: np.ndarray, iters: int = 30, seed: int = 0) -> float:
    """|M|_2 by power iterations on M^T M (an estimate from below; callers add a margin)."""
    if M.size == 0:
        return 0.0
    x = np.random.default_rng(seed).standard_normal(M.shape[1])
    x /= np.linalg.norm(x)
    s = 0.0
    for _ in range(iters):
        y = M.T @ (M @ x)
        ny = float(np.linalg.norm(y))
        if ny == 0:
            return 0.0
        s_new = np.sqrt(ny)
        x = y / ny
        if abs(s_new - s) <= 1e-6 * s_new:
            s = s_new
            break
        s = s_new
    return float(s)


def fista(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
          local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray, tol: float,
          max_iter: int = 20_000, check_every: int = 10, newton_every: int = 2,
          stall_iters: int | None = FISTA_STALL_ITERS
          ) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Accelerated proximal gradient with adaptive restart for min f(Phi_W V + U c) + pen(V).

    Every ``check_every`` iterations the gap is evaluated (at the iterate with its affine part
    refitted exactly, without disturbing the momentum); every ``newton_every`` checks, damped
    Newton steps on the support (:func:`_newton_smooth`) try to finish the last digits, which
    first-order steps reach only slowly on these ill-conditioned (and, for softmax, not strongly
    convex) problems. The solve returns early when it stalls: the gap of the checks has
    shrunk by less than 10 % over the last ``stall_iters`` iterations, after at least 2
    ``stall_iters`` (:func:`nnlasso.prox.newton.newton_stalled` on the checks, window
    ``stall_iters // check_every``, :data:`FISTA_STALL_FACTOR`, :data:`FISTA_STALL_WARMUP`;
    None or 0: never). Returns ``(V, c, iterations, rel_gap)``; c are the
    coefficients on U; rel_gap > tol means it stalled or ran out of iterations.
    """
    window = (stall_iters or 0) // max(check_every, 1)
    sigma = _spectral_norm(Phi_W)
    alpha = max(sigma, 1.0)
    Ua = alpha * basis
    sigma_all = _spectral_norm(np.hstack([Phi_W, Ua])) if basis.shape[1] else sigma
    Lip = max(loss.smooth_constant * 1.05 * sigma_all ** 2, 1e-12)
    m = tau.size

    def pen(Vx: np.ndarray) -> float:
        return float(tau @ group_norms(Vx, local_ids, m))

    def refit(Vx: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact affine coefficients (unscaled) and the fit."""
        off = Phi_W @ Vx
        if basis.shape[1]:
            cx = fit_affine(loss, T, off, basis, B0=cx)
        return cx, off + basis @ cx

    def certificate(Vx: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, float, float]:
        cx, Zr = refit(Vx, cx)
        primal, gap = restricted_gap(loss, T, Phi_W, basis, Zr, pen(Vx), local_ids, tau)
        return cx, primal, relative_gap(primal, primal - gap)

    V = np.array(V, dtype=float)
    c, primal, rel = certificate(V, np.array(c, dtype=float))
    if rel <= tol:
        return V, c, 0, rel
    rels = [rel]                        # the relative gap at the start and at every check
    c = c / alpha
    Zx = Phi_W @ V + Ua @ c
    fx = loss.value(Zx, T)
    Vy, cy, Zy = V.copy(), c.copy(), Zx.copy()
    t = 1.0
    it = n_checks = 0
    while it < max_iter:
        it += 1
        g = loss.grad(Zy, T)
        fy = loss.value(Zy, T)
        gV, gc = Phi_W.T @ g, Ua.T @ g
        while True:
            Vn = group_soft_threshold(Vy - gV / Lip, local_ids, tau / Lip)
            cn = cy - gc / Lip
            Zn = Phi_W @ Vn + Ua @ cn
            fn = loss.value(Zn, T)
            dV, dc = Vn - Vy, cn - cy
            quad = fy + float(np.sum(gV * dV) + np.sum(gc * dc)) + 0.5 * Lip * float(
                np.sum(dV * dV) + np.sum(dc * dc))
            if fn <= quad + 1e-12 * max(abs(fy), 1.0):
                break
            Lip *= 2.0
        if float(np.sum((Vy - Vn) * (Vn - V)) + np.sum((cy - cn) * (cn - c))) > 0 or fn > fx:
            t = 1.0  # adaptive restart: the momentum points uphill
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_new
        Vy = Vn + beta * (Vn - V)
        cy = cn + beta * (cn - c)
        Zy = Zn + beta * (Zn - Zx)
        V, c, Zx, fx, t = Vn, cn, Zn, fn, t_new
        if it % check_every:
            continue
        n_checks += 1
        c_ex, primal, rel = certificate(V, c * alpha)
        if rel <= tol:
            return V, c_ex, it, rel
        if n_checks % newton_every == 0:
            Vn, cn = _newton_smooth(loss, T, Phi_W, basis, local_ids, tau, V, c_ex)
            if Vn is not V:
                cn, primal_n, rel_n = certificate(Vn, cn)
                if primal_n <= primal:
                    V, c, rel = Vn, cn / alpha, rel_n
                    Zx = Phi_W @ V + Ua @ c
                    fx = loss.value(Zx, T)
                    Vy, cy, Zy, t = V.copy(), c.copy(), Zx.copy(), 1.0
                    if rel <= tol:
                        return V, cn, it, rel
        rels.append(rel)
        if newton_stalled(rels, window, FISTA_STALL_FACTOR, FISTA_STALL_WARMUP):
            break
    c_ex, _, rel = certificate(V, c * alpha)
    return V, c_ex, it, rel
