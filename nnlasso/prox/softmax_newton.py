"""Softmax: proximal Newton in the coordinates orthogonal to the ones vector."""
from __future__ import annotations

import numpy as np

from ..duality import fit_affine, group_norms, relative_gap
from ..losses import Loss
from .newton import NEWTON_STALL_ITERS, _model_step, _newton_layout, newton_stalled
from .ops import _compiled_epoch, restricted_gap


def _simplex_basis(D: int) -> np.ndarray:
    """Orthonormal basis B (D, D - 1) of {v in R^D : sum_a v_a = 0} (B^T 1 = 0, B^T B = I)."""
    B = np.linalg.svd(np.eye(D) - 1.0 / D)[0][:, :D - 1]
    return np.ascontiguousarray(B)


def _softmax_hessian_reduced(M: np.ndarray, P: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Hessian of W -> sum_n softmax-CE(t_n, (M W B^T)_n) w.r.t. vec(W), W (m, D - 1) row-major.

    H = sum_n (m_n m_n^T) kron B^T (diag(p_n) - p_n p_n^T) B, computed as
    sum_a (M^T diag(P[:, a]) M) kron (b_a b_a^T)  -  E^T E,   E[n, (i, a)] = M[n, i] (P B)[n, a],
    with b_a the a-th row of B.
    """
    N, m = M.shape
    D, Dr = B.shape
    E = (M[:, :, None] * (P @ B)[:, None, :]).reshape(N, m * Dr)
    H = -(E.T @ E)
    H4 = H.reshape(m, Dr, m, Dr)
    for a in range(D):
        A = M.T @ (P[:, a:a + 1] * M)
        H4 += A[:, None, :, None] * np.outer(B[a], B[a])[None, :, None, :]
    return H


def softmax_newton(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                   local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray,
                   tol: float, max_iter: int = 200, epochs: int = 30,
                   stall_iters: int | None = NEWTON_STALL_ITERS
                   ) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Proximal Newton for the softmax restricted problem, in coordinates off the ones vector.

    The softmax loss is invariant under z_n -> z_n + s 1, so f(Phi_W V + U c) does not change
    when a multiple of 1^T is added to any row of V or c, while |V_g|_F is smallest with the rows
    of V orthogonal to 1. Every minimizer therefore has V = W B^T, c = C B^T with B (D, D - 1) an
    orthonormal basis of 1^perp (:func:`_simplex_basis`), and |V_g|_F = |W_g|_F. The solver works
    on X = [W; C] ((k + r), D - 1), where the Hessian of the loss,

        H = sum_n (m_n m_n^T) kron B^T (diag(p_n) - p_n p_n^T) B,    M = [Phi_W  U],

    has no exact null directions (on near-separable data it is still badly conditioned:
    condition numbers ~1e9 occur). Each iteration forms g = M^T (P - T) B and H once
    (:func:`_softmax_hessian_reduced`) and then

    1. minimizes the local model <g, D> + 1/2 vec(D)^T H vec(D) + sum_g tau_g |X_g + D_g|_F by
       ``epochs`` block coordinate epochs (group soft-threshold, L_g = lambda_max(H_gg));
    2. if the model keeps the support S = {g : X_g != 0}, replaces that step by the Newton step
       of the objective restricted to S (smooth there), reusing H:
       (H_SS + blockdiag(tau_g / |X_g| (I - u_g u_g^T))) s = -(g_S + tau_g u_g),
       u_g = vec(X_g) / |X_g|; it converges quadratically once the support is identified;
    3. backtracks (Armijo on the true objective; the sufficient decrease is waived below
       1e-12 |f|, where the objective's rounding hides the decrease of the last Newton steps,
       which are then kept when they reduce the gradient norm on S).

    The relative gap of nnlasso's dual point (:func:`restricted_gap`, the affine part refitted
    by :func:`nnlasso.duality.fit_affine`) is checked after every step; the solve returns early
    when it stalls (:func:`nnlasso.prox.newton.newton_stalled`, window ``stall_iters``). Returns
    ``(V, c, iterations, rel_gap)`` in the original coordinates (rows of V orthogonal to 1).
    """
    k, r, D = Phi_W.shape[1], basis.shape[1], T.shape[1]
    if D < 2:
        raise ValueError("softmax_newton: needs D >= 2 classes")
    B = _simplex_basis(D)
    Dr = D - 1
    M, row_group, tau_all, blocks, var_blocks, flat, offs = _newton_layout(
        Phi_W, basis, local_ids, tau, Dr)
    m = tau.size
    n_rows = k + r
    kernel = _compiled_epoch()

    def pen(X: np.ndarray) -> float:
        return float(tau @ group_norms(X[:k], local_ids, m))

    def evaluate(X: np.ndarray) -> tuple[float, np.ndarray]:
        Z = (M @ X) @ B.T
        return loss.value(Z, T) + pen(X), Z

    def certificate(X: np.ndarray) -> tuple[np.ndarray, float]:
        Vf = X[:k] @ B.T
        off = Phi_W @ Vf
        cf = fit_affine(loss, T, off, basis, B0=X[k:] @ B.T) if r else np.zeros((0, D))
        X = np.vstack([X[:k], cf @ B])
        primal, gap = restricted_gap(loss, T, Phi_W, basis, off + basis @ cf, pen(X),
                                     local_ids, tau)
        return X, relative_gap(primal, primal - gap)

    def support_grad(X: np.ndarray, G: np.ndarray, S_rows: np.ndarray) -> np.ndarray:
        """Gradient of the objective restricted to the support rows (and the affine rows)."""
        out = G[S_rows].copy()
        nrm = group_norms(X[:k], local_ids, m)
        pen_rows = S_rows[S_rows < k]
        g_ids = local_ids[pen_rows]
        out[:pen_rows.size] += tau[g_ids][:, None] * X[pen_rows] / nrm[g_ids][:, None]
        return out

    X0 = np.vstack([np.asarray(V, float), np.asarray(c, float)]) @ B
    X, rel = certificate(X0)
    f, Z = evaluate(X)
    rels = [rel]
    it = 0
    while rel > tol and it < max_iter and not newton_stalled(rels, stall_iters):
        it += 1
        Pm = np.exp(Z - Z.max(axis=1, keepdims=True))
        Pm /= Pm.sum(axis=1, keepdims=True)
        G = M.T @ ((Pm - T) @ B)
        H = _softmax_hessian_reduced(M, Pm, B)
        # 1. the proximal-Newton model by block coordinate epochs
        x = X.ravel()
        delta = _model_step(H, G.ravel(), x, var_blocks, tau_all, flat, offs, kernel,
                            epochs).reshape(n_rows, Dr)
        norms = group_norms(X[:k], local_ids, m)
        S = np.flatnonzero(norms > 0)
        S_model = np.flatnonzero(group_norms(X[:k] + delta[:k], local_ids, m) > 0)
        Xn = None
        # 2. Newton on the support when the model keeps it
        if S.size and np.array_equal(S, S_model):
            Xn, fn, Zn = _support_newton_step(X, f, G, H, S, norms, k, r, Dr, local_ids, tau,
                                              evaluate, support_grad, M, T, B, m)
        # 3. otherwise the model's step, Armijo along it
        if Xn is None:
            if not np.any(delta):
                break
            decrease = float(G.ravel() @ delta.ravel()) + float(
                tau @ (group_norms(X[:k] + delta[:k], local_ids, m) - norms))
            t = 1.0
            while t > 1e-8:
                Xt = X + t * delta
                ft, Zt = evaluate(Xt)
                if ft <= f + 1e-4 * t * min(decrease, 0.0):
                    Xn, fn, Zn = Xt, ft, Zt
                    break
                t *= 0.5
            if Xn is None:
                break
        X, rel = certificate(Xn)
        f, Z = evaluate(X)
        rels.append(rel)
    return X[:k] @ B.T, X[k:] @ B.T, it, rel


def _support_newton_step(X, f, G, H, S, norms, k, r, Dr, local_ids, tau, evaluate, support_grad,
                         M, T, B, m):
    """Newton step of :func:`softmax_newton` on the support S (see there), or (None, ...).

    Groups whose Newton step would carry them radially through zero (<u_g, X_g + s_g> <= 0:
    their optimum is at zero, where the objective is not smooth) are set to zero and the Newton
    system is solved again for the others with that constraint, s_R = -(H_RR + Pen_RR)^{-1}
    (g_R - H_R0 X_0); at most three such rounds. Without it, one vanishing group forces tiny
    step sizes on all of them.
    """
    drop = np.zeros(0, dtype=np.intp)
    keep = S
    for _ in range(4):
        S_rows = np.concatenate([np.flatnonzero(np.isin(local_ids, keep)), k + np.arange(r)])
        idx = (S_rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
        Hs = H[np.ix_(idx, idx)]
        gs = support_grad(X, G, S_rows)
        if drop.size:
            d_rows = np.flatnonzero(np.isin(local_ids, drop))
            d_idx = (d_rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
            gs = gs - (H[np.ix_(idx, d_idx)] @ X[d_rows].ravel()).reshape(-1, Dr)
        sub = S_rows[S_rows < k]
        for g in keep:
            rows = np.flatnonzero(local_ids[sub] == g)
            vi = (rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
            u = X[sub[rows]].ravel() / norms[g]
            Hs[np.ix_(vi, vi)] += tau[g] / norms[g] * (np.eye(u.size) - np.outer(u, u))
        try:
            step = np.linalg.solve(Hs, -gs.ravel()).reshape(-1, Dr)
        except np.linalg.LinAlgError:
            return None, None, None
        if not np.all(np.isfinite(step)):
            return None, None, None
        Xs = X[sub] + step[:sub.size]
        radial = np.bincount(local_ids[sub], weights=np.einsum("ij,ij->i", Xs, X[sub]),
                             minlength=m)
        cross = keep[radial[keep] <= 0]
        if not drop.size:
            # groups for which zero satisfies the KKT condition of the local model with the
            # others fixed: |g_g - H_gg x_g| <= tau_g
            zero_ok = []
            for g in keep:
                rows = np.flatnonzero(local_ids == g)
                vi = (rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
                gz = G[rows].ravel() - H[np.ix_(vi, vi)] @ X[rows].ravel()
                if float(np.linalg.norm(gz)) <= tau[g]:
                    zero_ok.append(g)
            cross = np.union1d(cross, np.asarray(zero_ok, dtype=np.intp))
        if cross.size == 0 or cross.size == keep.size:
            break
        drop = np.union1d(drop, cross)
        keep = np.setdiff1d(keep, cross)
    base = X.copy()
    if drop.size:
        base[np.flatnonzero(np.isin(local_ids, drop))] = 0.0
    slope = float(np.sum(gs * step))
    gn0 = float(np.linalg.norm(support_grad(X, G, S_rows)))
    t = 1.0
    while t > 1e-6:
        Xt = base.copy()
        Xt[S_rows] += t * step
        ft, Zt = evaluate(Xt)
        if ft <= f + 1e-4 * t * min(slope, 0.0):
            return Xt, ft, Zt
        if ft <= f + 1e-12 * max(abs(f), 1.0) and not drop.size:
            # decrease below the objective's rounding: judge by the gradient on S
            Pt = np.exp(Zt - Zt.max(axis=1, keepdims=True))
            Pt /= Pt.sum(axis=1, keepdims=True)
            Gt = M.T @ ((Pt - T) @ B)
            if np.all(group_norms(Xt[:k], local_ids, m)[keep] > 0) and float(
                    np.linalg.norm(support_grad(Xt, Gt, S_rows))) < gn0:
                return Xt, ft, Zt
        t *= 0.5
    return None, None, None
