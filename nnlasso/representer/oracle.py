"""The neuron oracle of column generation in d >= 3: batched ascent (a lower bound on sup |eta|)
and a branch-and-bound upper bound (a certificate).

With q the dual residual, g(w) = max_b |eta(w, b)|_2, eta(w, b) = sum_n q_n relu(w . x_n - b).

**Lower bound** (:func:`ascent_sup`): ``n_samples`` random unit directions, projected ascent of
g on the sphere from the best ``n_starts`` of them and from the warm starts (the active neurons
of the current fit and last round's candidates), all directions advanced together: one sort of
the projections per direction and iteration (rows layout, so the sort is along contiguous
memory), the trial steps of all directions evaluated in one batch.

**Upper bound** (:func:`eta_upper_bound`). For a spherical cap {|w| = 1, |w - w0| <= r} and any
b, with p_n = w0 . x_n, A(b) = sum_{p_n > b} x_n q_n^T (the gradient of eta(., b) at w0) and
w - w0 = t - s w0 (t orthogonal to w0, |t| <= r, 0 <= s = |w - w0|^2 / 2 <= r^2 / 2):

    |eta(w, b)| <= |eta(w0, b)| + r |(I - w0 w0^T) A(b)|_F + (r^2 / 2) |A(b)^T w0|
                   + r sum_{n : |p_n - b| <= r |x_n|} |q_n| |x_n|

(a point changes side of the hyperplane only if |p_n - b| <= |(w - w0) . x_n| <= r |x_n|, and
then moves eta by at most |q_n| r |x_n| beyond the linear term). Between two consecutive sorted
projections A(b) is constant and eta(w0, .) affine, so the max over b is a max over N + 1
intervals (O(N log N) per cap). The sphere is covered by the 2d faces of the cube, each cut into
boxes, a box mapped to the cap around its normalized centre with r = 2 sin(theta / 2),
theta = arcsin(|h| / |c|) (h: half-widths, c: centre on the face). Branch and bound bisects
every box whose bound exceeds max(target, (1 + rel) * best value found) until none is left (then
U = the largest bound of the discarded boxes is a certified upper bound on sup g) or the time /
box budget is spent (then U is the largest bound of all remaining boxes, still certified). The
bound is first order in r away from critical points and second order at them, so the work
grows like (1 / r)^(d - 1): practical in d = 3 and small N, hopeless in d = 5 at N = 800 (a
budget of seconds leaves U / lam far above 1, and that is what is reported).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def profile(X: np.ndarray, Q: np.ndarray, W: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row w of W: g(w) = max_b |eta(w, b)|, the maximizing b and eta there.

    eta(w, p_(i)) = sum_{l > i} q_(l) (p_(l) - p_(i)) with p_(1) <= ... <= p_(N) the sorted
    projections (prefix sums). Returns ``(values (S,), b (S,), eta (S, D))``.
    """
    P = W @ X.T                                               # (S, N)
    order = np.argsort(P, axis=1)
    Ps = np.take_along_axis(P, order, axis=1)
    rows = np.arange(W.shape[0])
    if Q.shape[1] == 1:                                       # one output: 2-D arrays
        qs = Q[:, 0][order]
        cq = np.cumsum(qs, axis=1)
        cqp = np.cumsum(qs * Ps, axis=1)
        E = (cqp[:, -1:] - cqp) - Ps * (cq[:, -1:] - cq)
        i = np.argmax(np.abs(E), axis=1)
        e = E[rows, i]
        return np.abs(e), Ps[rows, i], e[:, None]
    Qs = Q[order]                                             # (S, N, D)
    cq = np.cumsum(Qs, axis=1)
    cqp = np.cumsum(Qs * Ps[..., None], axis=1)
    E = (cqp[:, -1:] - cqp) - Ps[..., None] * (cq[:, -1:] - cq)
    nrm = np.sqrt(np.einsum("snk,snk->sn", E, E))
    i = np.argmax(nrm, axis=1)
    return nrm[rows, i], Ps[rows, i], E[rows, i]


def _gradient(X: np.ndarray, Q: np.ndarray, W: np.ndarray, b: np.ndarray,
              e: np.ndarray) -> np.ndarray:
    """d|eta(w, b)| / dw at b fixed: sum_{w . x_n > b} x_n (q_n . e / |e|), rows (S, d)."""
    act = (W @ X.T) > b[:, None]                              # (S, N)
    u = e / np.maximum(np.linalg.norm(e, axis=1), np.finfo(float).tiny)[:, None]
    return (act * (u @ Q.T)) @ X                              # (S, d)


def ascend(X: np.ndarray, Q: np.ndarray, W0: np.ndarray, iters: int = 15,
           min_step: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected ascent of g on the unit sphere from every row of W0, all rows together.

    Each iteration tries, per direction, the normalized gradient (the maximizer of the linear
    piece) and the steps w + t rg / |rg| (rg the Riemannian gradient, t = 4 s and s / 2 for the
    direction's step s); the best trial is kept if it improves g, else s /= 8; a direction stops
    when s < ``min_step`` or its gradient vanishes. Returns ``(W, g(W), b)``: end points.
    """
    W = np.array(W0, dtype=float)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    S, d = W.shape
    val, b, e = profile(X, Q, W)
    step = np.full(S, 0.5)
    alive = val > 0
    factors = (4.0, 0.5)
    for _ in range(int(iters)):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        g = _gradient(X, Q, W[idx], b[idx], e[idx])
        rg = g - np.sum(g * W[idx], axis=1, keepdims=True) * W[idx]
        nr = np.linalg.norm(rg, axis=1)
        ng = np.linalg.norm(g, axis=1)
        ok = (ng > 0) & (nr > 1e-14 * ng)
        alive[idx[~ok]] = False
        idx, g, rg, nr, ng = idx[ok], g[ok], rg[ok], nr[ok], ng[ok]
        if idx.size == 0:
            break
        trials = [g / ng[:, None]] + [W[idx] + (f * step[idx] / nr)[:, None] * rg
                                      for f in factors]
        T = np.stack(trials, axis=1)                          # (s, 3, d)
        T /= np.linalg.norm(T, axis=2, keepdims=True)
        tv, tb, te = profile(X, Q, T.reshape(-1, d))
        tv = tv.reshape(idx.size, -1)
        j = np.argmax(tv, axis=1)
        best = tv[np.arange(idx.size), j]
        imp = best > val[idx] * (1 + 1e-13)
        ii = idx[imp]
        flat = np.flatnonzero(imp) * T.shape[1] + j[imp]
        W[ii] = T.reshape(-1, d)[flat]
        val[ii], b[ii], e[ii] = best[imp], tb[flat], te[flat]
        step[ii] = np.where(j[imp] == 1, step[ii] * factors[0], step[ii])
        nimp = idx[~imp]
        step[nimp] /= 8
        alive[nimp[step[nimp] < min_step]] = False
    return W, val, b


def distinct(W: np.ndarray, b: np.ndarray, v: np.ndarray, tol: float = 1e-7
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows (w, b), best value first, with near-duplicates (max-norm <= tol (1 + |b|)) merged."""
    order = np.argsort(-v, kind="stable")
    W, b, v = W[order], b[order], v[order]
    keep = np.ones(v.size, dtype=bool)
    for i in range(v.size):
        if keep[i]:
            close = (np.abs(W[i + 1:] - W[i]).max(axis=1, initial=0.0) <= tol) & \
                    (np.abs(b[i + 1:] - b[i]) <= tol * (1 + abs(b[i])))
            keep[i + 1:] &= ~close
    return W[keep], b[keep], v[keep]


def ascent_sup(X: np.ndarray, Q: np.ndarray, *, n_samples: int = 1000, n_starts: int = 32,
               starts: np.ndarray | None = None, seed: Any = None, iters: int = 15
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Lower bound on sup g: sampled directions, then :func:`ascend` from the best ``n_starts``
    of them and from every row of ``starts``. Returns the distinct end points ``(W, b, values)``
    best first (their first value is the lower bound) and counts."""
    N, d = X.shape
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((max(int(n_samples), 1), d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    v0, _, _ = profile(X, Q, G)
    init = [G[np.argsort(-v0, kind="stable")[:n_starts]]]
    if starts is not None and len(starts):
        S = np.asarray(starts, dtype=float).reshape(-1, d)
        S = S[np.linalg.norm(S, axis=1) > 0]
        init.append(S)
    W0 = np.vstack(init)
    W, v, b = ascend(X, Q, W0, iters=iters)
    W, b, v = distinct(W, b, v)
    return W, b, v, {"directions": int(G.shape[0]), "starts": int(W0.shape[0])}


# ---------------------------------------------------------------------------------------------
# branch and bound
# ---------------------------------------------------------------------------------------------

def cap_bounds(X: np.ndarray, Q: np.ndarray, W0: np.ndarray, r: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper bounds on max over the cap {|w| = 1, |w - w0| <= r} and b of |eta(w, b)|, per row.

    See the module docstring for the bound. Returns ``(upper (S,), g(w0) (S,), argmax b (S,))``.
    """
    N, d = X.shape
    D = Q.shape[1]
    S = W0.shape[0]
    P = W0 @ X.T                                              # (S, N)
    order = np.argsort(P, axis=1)
    Ps = np.take_along_axis(P, order, axis=1)
    Qs = Q[order]                                             # (S, N, D)
    cq = np.cumsum(Qs, axis=1)
    cqp = np.cumsum(Qs * Ps[..., None], axis=1)
    E = (cqp[:, -1:] - cqp) - Ps[..., None] * (cq[:, -1:] - cq)
    en = np.sqrt(np.einsum("snk,snk->sn", E, E))              # |eta(w0, p_(i))|, (S, N)
    rows = np.arange(S)
    i = np.argmax(en, axis=1)
    lower, blow = en[rows, i], Ps[rows, i]
    # interval j = 0..N: b in (p_(j-1), p_(j)); A_j = sum_{l >= j} x_(l) q_(l)^T
    XQ = X[order][..., :, None] * Qs[..., None, :]            # (S, N, d, D)
    A = np.zeros((S, N + 1, d, D))
    A[:, :N] = np.cumsum(XQ[:, ::-1], axis=1)[:, ::-1]
    Aw = np.einsum("sjdk,sd->sjk", A, W0)                     # (S, N+1, D)
    At = A - W0[:, None, :, None] * Aw[:, :, None, :]
    tang = np.sqrt(np.einsum("sjdk,sjdk->sj", At, At))
    rad = np.sqrt(np.einsum("sjk,sjk->sj", Aw, Aw))
    # |eta(w0, .)| is affine on each interval (constant on the two unbounded ones: sum q = 0)
    enp = np.concatenate([en[:, :1], en, np.zeros((S, 1))], axis=1)
    end = np.maximum(enp[:, :-1], enp[:, 1:])                 # (S, N+1)
    # points that may change side: p_n within R = r max|x_n| of the interval
    xn = np.linalg.norm(X, axis=1)
    R = r * xn.max() * (1 + 1e-9) + 1e-12 * (1 + np.abs(Ps).max(axis=1))
    wq = (np.linalg.norm(Q, axis=1) * xn)[order]              # (S, N)
    cum = np.concatenate([np.zeros((S, 1)), np.cumsum(wq, axis=1)], axis=1)
    # one searchsorted over all rows: shift row s by s * span so the flat array is sorted
    span = 4.0 * (np.abs(Ps).max() + R.max() + 1.0)
    off = (np.arange(S) * span)[:, None]
    flat = (Ps + off).ravel()
    lo_edge = np.concatenate([np.full((S, 1), -np.inf), Ps], axis=1) - R[:, None]
    hi_edge = np.concatenate([Ps, np.full((S, 1), np.inf)], axis=1) + R[:, None]
    lo_edge = np.maximum(lo_edge, -span / 2) + off
    hi_edge = np.minimum(hi_edge, span / 2) + off
    lo_i = np.searchsorted(flat, lo_edge.ravel(), side="left").reshape(S, N + 1) - rows[:, None] * N
    hi_i = np.searchsorted(flat, hi_edge.ravel(), side="right").reshape(S, N + 1) - rows[:, None] * N
    lo_i = np.clip(lo_i, 0, N)
    hi_i = np.clip(hi_i, 0, N)
    win = np.take_along_axis(cum, hi_i, axis=1) - np.take_along_axis(cum, lo_i, axis=1)
    bound = end + r[:, None] * (tang + win) + 0.5 * (r * r)[:, None] * rad
    return bound.max(axis=1), lower, blow


def _face_boxes(d: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cube-sphere boxes: face axis, face sign, centre on the face (d-1) and half-widths."""
    g = (np.arange(m) + 0.5) / m * 2 - 1
    grids = np.meshgrid(*([g] * (d - 1)), indexing="ij")
    U = np.stack([a.ravel() for a in grids], axis=1)
    n = U.shape[0]
    axis = np.repeat(np.arange(d), 2 * n)
    sign = np.tile(np.repeat([1.0, -1.0], n), d)
    return axis, sign, np.tile(U, (2 * d, 1)), np.full((2 * d * n, d - 1), 1.0 / m)


def _box_caps(axis: np.ndarray, sign: np.ndarray, U: np.ndarray, H: np.ndarray, d: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Unit centre w0 and chordal radius r with the box's image inside the cap (w0, r)."""
    full = np.empty((U.shape[0], d))
    for k in range(d):
        m = axis == k
        if np.any(m):
            full[np.ix_(m, [c for c in range(d) if c != k])] = U[m]
            full[m, k] = sign[m]
    na = np.linalg.norm(full, axis=1)
    rho = np.linalg.norm(H, axis=1)
    theta = np.arcsin(np.minimum(1.0, rho / na))
    r = np.where(rho < na, 2 * np.sin(theta / 2), 2.0)
    return full / na[:, None], r


@dataclass
class EtaBound:
    """Certified bracket lower <= sup_{|w| = 1, b} |eta(w, b)| <= upper.

    upper : certified upper bound.   lower : best value found (at (w, b)).   complete : the
    branch and bound ran to the end (upper <= max(target, (1 + rel) lower)) rather than out of
    budget.   info : boxes evaluated, time.
    """

    upper: float
    lower: float
    w: np.ndarray
    b: float
    complete: bool
    info: dict = field(default_factory=dict)


def eta_upper_bound(X: Any, Q: Any, *, target: float = 0.0, rel: float = 1e-3,
                    max_time: float = 5.0, max_boxes: int = 2_000_000, chunk: int = 128,
                    lower: float = 0.0) -> EtaBound:
    """Branch and bound for sup |eta| (module docstring): a certified upper bound.

    Boxes whose bound is <= max(target, (1 + rel) * best value found) are discarded; the rest
    are bisected along their widest side. ``target`` (e.g. lam (1 + tol)) lets a certificate
    stop as soon as the sup is known to be below it; ``lower`` a known value (e.g. from
    :func:`ascent_sup`) to prune with from the start. Requires d >= 2 and sum_n q_n = 0.
    """
    from .._validation import as_matrix
    t0 = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    Q = np.asarray(Q, dtype=float).reshape(N, -1)
    axis, sign, U, H = _face_boxes(d, 4 if d <= 4 else 2)
    best, wbest, bbest = float(lower), np.eye(d)[0], 0.0
    done_max = 0.0
    n_eval = 0
    complete = True
    while axis.size:
        W0, r = _box_caps(axis, sign, U, H, d)
        ub = np.empty(axis.size)
        for s in range(0, axis.size, chunk):
            ub[s:s + chunk], lo, bl = cap_bounds(X, Q, W0[s:s + chunk], r[s:s + chunk])
            j = int(np.argmax(lo))
            if lo[j] > best:
                best, wbest, bbest = float(lo[j]), W0[s + j].copy(), float(bl[j])
        n_eval += axis.size
        level = max(float(target), (1 + rel) * best)
        keep = ub > level
        done_max = max(done_max, float(ub[~keep].max(initial=0.0)))
        if not np.any(keep):
            break
        axis, sign, U, H = axis[keep], sign[keep], U[keep], H[keep]
        if n_eval + 2 * axis.size > max_boxes or time.perf_counter() - t0 > max_time:
            done_max = max(done_max, float(ub[keep].max()))
            complete = False
            break
        k = np.argmax(H, axis=1)
        rows = np.arange(axis.size)
        H = H.copy()
        H[rows, k] /= 2
        Ua, Ub = U.copy(), U.copy()
        Ua[rows, k] -= H[rows, k]
        Ub[rows, k] += H[rows, k]
        axis, sign = np.concatenate([axis, axis]), np.concatenate([sign, sign])
        U, H = np.vstack([Ua, Ub]), np.vstack([H, H])
    return EtaBound(upper=max(done_max, best), lower=best, w=wbest, b=bbest, complete=complete,
                    info={"boxes": n_eval, "time": time.perf_counter() - t0})
