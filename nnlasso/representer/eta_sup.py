"""eta(w, b) = sum_n q_n relu(w . x_n - b) and its supremum over all neurons (|w| = 1, b in R).

Exact in d = 1 (w = +-1), d = 2 (arcs of the central arrangement per anchor) and small N, d
(regions of the arrangement, one NNLS each); otherwise a lower bound (sampling + projected ascent).
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from .._validation import as_matrix
from ..duality import dual_point
from ..errors import InvalidProblemError
from ..losses import get_loss
from .width import _skip_parts, _small_blas, rank_from_singular_values


def dual_residual(Z: Any, Y: Any, *, loss: str = "squared", skip: Any = None
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """The dual residual q of a fit: q = -grad L(Z), projected onto the complement of col([X 1]).

    Returns ``(Q, T, skip_residual)``: Q (N, D) (clipped into the loss's dual domain), the
    encoded targets T, and |A^T q0|_F / (|A|_F |q0|_F) for the unprojected q0, which vanishes
    when the affine part is optimal (the skip conditions sum_n q_n = 0, sum_n q_n x_n = 0).
    """
    lossobj = get_loss(loss)
    T = lossobj.encode(np.asarray(Y)).T
    Z = np.asarray(Z, dtype=float).reshape(T.shape[0], -1)
    _, _, A, basis = _skip_parts(skip, T.shape[0])
    Q0 = -lossobj.grad(Z, T)
    den = float(np.linalg.norm(A)) * float(np.linalg.norm(Q0))
    res = float(np.linalg.norm(A.T @ Q0)) / den if A.shape[1] and den > 0 else 0.0
    Q = dual_point(lossobj, Z, T, basis, neg_grad=Q0)
    return Q, T, res


def eta(X: Any, Q: Any, W: Any, b: Any) -> np.ndarray:
    """eta(w_j, b_j) = sum_n q_n relu(w_j . x_n - b_j) for each row of W: shape (J, D)."""
    X = as_matrix(X, "X", allow_1d=True)
    Q = np.asarray(Q, dtype=float).reshape(X.shape[0], -1)
    W = np.asarray(W, dtype=float).reshape(-1, X.shape[1])
    return np.maximum(X @ W.T - np.asarray(b, dtype=float).reshape(-1), 0.0).T @ Q


def _bias_profile(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|eta| at b = each data projection: P (N, c) projections, returns (|eta| (N, c), sorted P).

    With p_(1) <= ... <= p_(N) sorted, eta(w, p_(i)) = sum_{l > i} q_(l) (p_(l) - p_(i)) =
    suffix(q p)_{i+1} - p_(i) suffix(q)_{i+1}.
    """
    order = np.argsort(P, axis=0, kind="stable")
    Ps = np.take_along_axis(P, order, axis=0)
    Qs = Q[order]                                                 # (N, c, D)
    suf_q = np.cumsum(Qs[::-1], axis=0)[::-1]
    suf_qp = np.cumsum((Qs * Ps[..., None])[::-1], axis=0)[::-1]
    E = np.zeros_like(Qs)
    E[:-1] = suf_qp[1:] - Ps[:-1, :, None] * suf_q[1:]
    return np.linalg.norm(E, axis=2), Ps


def sup_over_bias(X: Any, Q: Any, W: Any, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """For each direction w_j (row of W), max over b of |eta(w_j, b)|_2 and the maximizing b.

    The maximum is over b in {w_j . x_n}: with p_(1) <= ... <= p_(N) the sorted projections
    and suffix sums, eta(w, p_(i)) = sum_{l > i} q_(l) p_(l) - p_(i) sum_{l > i} q_(l)
    (O(N log N) per direction). Below min p, eta is constant (= the value at min p) when
    sum q = 0; callers check that condition.
    """
    X = as_matrix(X, "X", allow_1d=True)
    Q = np.asarray(Q, dtype=float).reshape(X.shape[0], -1)
    W = np.asarray(W, dtype=float).reshape(-1, X.shape[1])
    J = W.shape[0]
    vals = np.zeros(J)
    bs = np.zeros(J)
    for s in range(0, J, chunk):
        nrm, Ps = _bias_profile(X @ W[s:s + chunk].T, Q)         # (N, c)
        i = np.argmax(nrm, axis=0)
        cols = np.arange(nrm.shape[1])
        vals[s:s + chunk] = nrm[i, cols]
        bs[s:s + chunk] = Ps[i, cols]
    return vals, bs


@dataclass
class EtaSup:
    """sup_{|w| = 1, b} |eta(w, b)|_2 and how it was obtained.

    value : the best value found (the sup when ``exact``).   upper : a certified upper bound
    (= value when exact, inf when none is known).   w, b : the maximizing neuron.
    exact : whether value is the true sup.   method : "d1" | "arcs" | "patterns" | "sampling".
    candidates : (W (k, d), b (k,), values (k,)): distinct good neurons, best first (local
    maxima per anchor / region / ascent start) for column generation.   info : counts, time.
    """

    value: float
    upper: float
    w: np.ndarray
    b: float
    exact: bool
    method: str
    candidates: tuple[np.ndarray, np.ndarray, np.ndarray]
    info: dict = field(default_factory=dict)


def _scale_tol(X: np.ndarray) -> float:
    return 1e-12 * max(float(np.abs(X - X.mean(axis=0)).max()), np.finfo(float).tiny)


def _top_candidates(W: np.ndarray, b: np.ndarray, v: np.ndarray, k: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to k distinct neurons (w, b) with the largest values (duplicates within 1e-9 merged)."""
    order = np.argsort(-v, kind="stable")
    keepW, keepb, keepv = [], [], []
    for i in order:
        if v[i] <= 0:
            break
        wb = np.append(W[i], b[i])
        if any(np.max(np.abs(wb - np.append(w2, b2))) <= 1e-9 * (1 + abs(b2))
               for w2, b2 in zip(keepW, keepb)):
            continue
        keepW.append(W[i])
        keepb.append(b[i])
        keepv.append(v[i])
        if len(keepv) >= k:
            break
    d = W.shape[1]
    return (np.array(keepW).reshape(-1, d), np.array(keepb, dtype=float),
            np.array(keepv, dtype=float))


def _sup_1d(X: np.ndarray, Q: np.ndarray, n_top: int) -> EtaSup:
    """Exact sup for d = 1: w = +1 and w = -1, b at every data point (O(N log N))."""
    W = np.array([[1.0], [-1.0]])
    nrm, Ps = _bias_profile(X @ W.T, Q)                           # (N, 2)
    Wc = np.repeat(W, X.shape[0], axis=0)
    bc = Ps.T.ravel()
    vc = nrm.T.ravel()
    i = int(np.argmax(vc))
    top = _top_candidates(Wc, bc, vc, max(n_top, 1))
    return EtaSup(value=float(vc[i]), upper=float(vc[i]), w=Wc[i], b=float(bc[i]), exact=True,
                  method="d1", candidates=top, info={"anchors": X.shape[0]})


def _sup_arcs(X: np.ndarray, Q: np.ndarray, n_top: int) -> EtaSup:
    """Exact sup for d = 2: arcs of the central arrangement {w : w . (x_m - x_n) = 0} per anchor.

    On an arc the active set S is fixed and eta_n(w) = G_S^T w with G_S = sum_{m in S}
    (x_m - x_n) q_m^T (2 x D); |eta|^2 = w^T M w, M = G_S G_S^T, is maximized over the arc at an
    endpoint or at the top eigenvector direction psi (mod pi) of M when it lies inside.
    """
    N, D = Q.shape
    tol = _scale_tol(X)
    best_v = np.zeros(N)
    best_t = np.zeros(N)
    n_arcs = 0
    for n in range(N):
        U = X - X[n]
        nz = np.linalg.norm(U, axis=1) > tol
        U, q = U[nz], Q[nz]
        M = U.shape[0]
        if M == 0:
            continue
        th = np.arctan2(U[:, 1], U[:, 0])
        enter = np.mod(th - np.pi / 2 + np.pi, 2 * np.pi) - np.pi
        leave = np.mod(th + np.pi / 2 + np.pi, 2 * np.pi) - np.pi
        init = enter > leave
        G0 = U[init].T @ q[init]                                   # (2, D)
        outer = U[:, :, None] * q[:, None, :]                     # (M, 2, D)
        ang = np.concatenate([enter, leave])
        dlt = np.concatenate([outer, -outer])
        order = np.argsort(ang, kind="stable")
        ang = ang[order]
        Garc = np.concatenate([G0[None], G0[None] + np.cumsum(dlt[order], axis=0)])
        lo = np.concatenate([[-np.pi], ang])
        hi = np.concatenate([ang, [np.pi]])
        m11 = np.einsum("ad,ad->a", Garc[:, 0], Garc[:, 0])
        m22 = np.einsum("ad,ad->a", Garc[:, 1], Garc[:, 1])
        m12 = np.einsum("ad,ad->a", Garc[:, 0], Garc[:, 1])
        psi = 0.5 * np.arctan2(2 * m12, m11 - m22)
        cands = np.stack([lo, hi, psi, psi + np.pi, psi - np.pi], axis=1)   # (arcs, 5)
        inside = np.ones_like(cands, dtype=bool)
        inside[:, 2:] = (cands[:, 2:] >= lo[:, None]) & (cands[:, 2:] <= hi[:, None])
        c, s = np.cos(cands), np.sin(cands)
        val = m11[:, None] * c * c + 2 * m12[:, None] * c * s + m22[:, None] * s * s
        val = np.where(inside, val, -np.inf)
        k = int(np.argmax(val))
        best_v[n] = math.sqrt(max(float(val.flat[k]), 0.0))
        best_t[n] = float(cands.flat[k])
        n_arcs += lo.size
    Wc = np.column_stack([np.cos(best_t), np.sin(best_t)])
    bc = np.einsum("nd,nd->n", Wc, X)
    i = int(np.argmax(best_v))
    top = _top_candidates(Wc, bc, best_v, max(n_top, 1))
    return EtaSup(value=float(best_v[i]), upper=float(best_v[i]), w=Wc[i], b=float(bc[i]),
                  exact=True, method="arcs", candidates=top, info={"arcs": n_arcs})


def _hyperplanes(Uk: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct hyperplanes {w : u . w = 0} of the rows of Uk (normals up to sign).

    Returns unit normals H (h, k), the hyperplane index of each row and its orientation
    sigma = +-1 (u_m = |u_m| sigma_m H[h_m]).
    """
    from ..dictionary import cluster_rows
    nrm = Uk / np.linalg.norm(Uk, axis=1, keepdims=True)
    rep, sgn = cluster_rows(nrm, tol, antipodal=True)
    reps = np.flatnonzero(rep == np.arange(rep.size))
    pos = {int(r): i for i, r in enumerate(reps)}
    return nrm[reps], np.array([pos[int(r)] for r in rep]), sgn


def _region_patterns(H: np.ndarray) -> list[np.ndarray]:
    """Sign vectors tau in {+-1}^h whose closed cones {w : tau_h H_h . w >= 0} cover R^k.

    The arrangement is essential (H spans R^k), so every region is a pointed cone with an
    extreme ray: the intersection line of k - 1 independent hyperplanes. For each such line and
    each of its two rays r, the hyperplanes not containing r get sign(H r) and those containing
    r take every combination (a superset of the regions; extra cones are harmless because on any
    cone of a sign vector eta equals its linear piece).
    """
    h, k = H.shape
    seen: dict[bytes, np.ndarray] = {}
    if k == 1:
        rays = [np.array([1.0]), np.array([-1.0])]
        combos: Any = [()]
    else:
        rays = []
        combos = itertools.combinations(range(h), k - 1)
    def add_ray(r: np.ndarray) -> None:
        v = H @ r
        zero = np.flatnonzero(np.abs(v) <= 1e-10)
        base = np.where(v > 0, 1, -1).astype(np.int8)
        for bits in itertools.product((1, -1), repeat=zero.size):
            tau = base.copy()
            tau[zero] = bits
            seen.setdefault(tau.tobytes(), tau)
    if k == 1:
        for r in rays:
            add_ray(r)
    else:
        for comb in combos:
            _, s, Vt = np.linalg.svd(H[list(comb)])
            if s.size < k - 1 or s[-1] <= 1e-10:
                continue
            r = Vt[-1]
            add_ray(r)
            add_ray(-r)
    return list(seen.values())


def _pattern_count_estimate(N: int, d: int) -> int:
    """Rough count of sign vectors of the pattern method: N * C(N-1, d-1) * 2^d."""
    return N * math.comb(max(N - 1, 0), max(d - 1, 0)) * 2 ** d


def _sup_patterns(X: np.ndarray, Q: np.ndarray, n_top: int) -> EtaSup:
    """Exact (D = 1) sup by enumerating the regions of the central arrangement per anchor.

    On the cone C = {w : tau_h H_h . w >= 0} eta_n(w) = g^T w (D = 1) with
    g = sum_{m active} u_m q_m, and max_{w in C, |w| <= 1} +-g . w = |Pi_C(+-g)| (Moreau:
    Pi_C(g) = g + A^T lam*, lam* = argmin_{lam >= 0} |A^T lam + g| with A = diag(tau) H: one NNLS,
    solved exactly by Lawson-Hanson). For D > 1 maximizing |G^T w| over C is nonconvex: the
    value is a lower bound (evaluated at Pi_C(+-g_j) and at the projected top singular
    directions), and the upper bound min(s_max(G), sqrt(sum_j max(|Pi_C g_j|,
    |Pi_C(-g_j)|)^2)) is certified; ``exact`` holds only if they coincide (to 1e-9).
    """
    N, d = X.shape
    D = Q.shape[1]
    tol = _scale_tol(X)
    best_v = np.zeros(N)
    best_w = np.zeros((N, d))
    upper = 0.0
    n_regions = 0
    for n in range(N):
        U = X - X[n]
        nz = np.linalg.norm(U, axis=1) > tol
        U, q = U[nz], Q[nz]
        if U.shape[0] == 0:
            continue
        _, s, Vt = np.linalg.svd(U, full_matrices=False)
        k = rank_from_singular_values(s, U.shape)
        Bsp = Vt[:k].T                                             # (d, k)
        Uk = U @ Bsp
        H, hidx, sig = _hyperplanes(Uk)
        for tau in _region_patterns(H):
            n_regions += 1
            act = sig * tau[hidx] > 0
            G = Uk[act].T @ q[act]                                 # (k, D)
            At = (tau[:, None] * H).T                              # (k, h): A^T
            cand_w = []
            ub_j = []
            for j in range(D):
                pj = []
                gn = float(np.linalg.norm(G[:, j]))
                for sg in (1.0, -1.0):
                    g = sg * G[:, j]
                    lam_, rn = nnls(At, -g)
                    pj.append(rn)
                    wv = g + At @ lam_
                    nw = float(np.linalg.norm(wv))
                    if rn > 1e-12 * gn and nw > 0:
                        cand_w.append(wv / nw)
                ub_j.append(max(pj))
            if D == 1:
                region_ub = ub_j[0]
            else:
                smax = float(np.linalg.norm(G, 2))
                region_ub = min(smax, float(np.sqrt(np.sum(np.square(ub_j)))))
                u1 = np.linalg.svd(G)[0][:, 0]
                for sg in (1.0, -1.0):
                    lam_, rn = nnls(At, -sg * u1)
                    wv = sg * u1 + At @ lam_
                    nw = float(np.linalg.norm(wv))
                    if rn > 1e-12 and nw > 0:
                        cand_w.append(wv / nw)
            upper = max(upper, region_ub)
            for wk in cand_w:
                # the true eta_n at the candidate (a valid lower bound whatever the rounding)
                v = float(np.linalg.norm(np.maximum(Uk @ wk, 0.0) @ q))
                if v > best_v[n]:
                    best_v[n], best_w[n] = v, Bsp @ wk
    bc = np.einsum("nd,nd->n", best_w, X)
    i = int(np.argmax(best_v))
    value = float(best_v[i])
    upper = max(upper, value)
    exact = D == 1 or upper - value <= 1e-9 * max(upper, np.finfo(float).tiny)
    top = _top_candidates(best_w, bc, best_v, max(n_top, 1))
    return EtaSup(value=value, upper=float(upper), w=best_w[i],
                  b=float(bc[i]), exact=bool(exact), method="patterns", candidates=top,
                  info={"regions": n_regions})


def _ascent(X: np.ndarray, Q: np.ndarray, w: np.ndarray, iters: int
            ) -> tuple[np.ndarray, float, float]:
    """Projected (Riemannian) ascent of sup_b |eta(w, b)| on the sphere from ``w``."""
    v, bb = sup_over_bias(X, Q, w[None])
    val, b = float(v[0]), float(bb[0])
    step = 0.5
    for _ in range(iters):
        z = X @ w - b
        act = z > 0
        G = X[act].T @ Q[act]                                      # d eta / d w (b fixed)
        e = (z[act, None] * Q[act]).sum(axis=0)
        ne = np.linalg.norm(e)
        if ne == 0:
            break
        grad = G @ (e / ne)
        rg = grad - (grad @ w) * w
        nr = np.linalg.norm(rg)
        if nr <= 1e-14 * max(np.linalg.norm(grad), 1e-300):
            break
        improved = False
        trials = [grad / np.linalg.norm(grad)] + [w + t * rg / nr for t in
                                                  (step, step / 4, step / 16, step / 64)]
        for wt in trials:
            wt = wt / np.linalg.norm(wt)
            v2, b2 = sup_over_bias(X, Q, wt[None])
            if v2[0] > val * (1 + 1e-13):
                w, val, b, improved = wt, float(v2[0]), float(b2[0]), True
                break
        if not improved:
            step /= 8
            if step < 1e-8:
                break
    return w, val, b


def _sup_sampling(X: np.ndarray, Q: np.ndarray, n_samples: int, seed: Any, n_top: int,
                  n_starts: int = 12, iters: int = 40, starts: np.ndarray | None = None
                  ) -> EtaSup:
    """Lower bound: random directions and normals of hyperplanes through d data points, then
    projected ascent from the best ``n_starts`` of them and from every direction of ``starts``
    (warm starts: column generation passes its active neurons and the last argmax)."""
    N, d = X.shape
    rng = np.random.default_rng(seed)
    half = max(n_samples // 2, 1)
    G = rng.standard_normal((half, d))
    Ws = [G / np.linalg.norm(G, axis=1, keepdims=True)]
    if N > d and d > 1:
        idx = np.array([rng.choice(N, size=d, replace=False) for _ in range(n_samples - half)])
        if idx.size:
            Dif = X[idx[:, 1:]] - X[idx[:, :1]]                      # (S, d-1, d)
            Nrm = np.linalg.svd(Dif)[2][:, -1]                       # normal of the hyperplane
            Nrm *= rng.choice([-1.0, 1.0], size=(Nrm.shape[0], 1))
            Ws.append(Nrm)
    W = np.vstack(Ws)
    W = W[np.linalg.norm(W, axis=1) > 0.5]
    vals, bs = sup_over_bias(X, Q, W)
    init = [W[i] for i in np.argsort(-vals)[:n_starts]]
    if starts is not None and len(starts):
        S = np.asarray(starts, dtype=float).reshape(-1, d)
        S = S[np.linalg.norm(S, axis=1) > 0]
        init += list(S / np.linalg.norm(S, axis=1, keepdims=True))
    aW, ab, av = [], [], []
    for w0 in init:
        w, v, b = _ascent(X, Q, np.array(w0, dtype=float), iters)
        aW.append(w)
        ab.append(b)
        av.append(v)
    aW_, ab_, av_ = np.array(aW).reshape(-1, d), np.array(ab, float), np.array(av, float)
    Wall, ball = np.vstack([W, aW_]), np.concatenate([bs, ab_])
    vall = np.concatenate([vals, av_])
    i = int(np.argmax(vall))
    # candidates: the ascent end points first (local maxima, one per start), then samples
    top = _top_candidates(aW_, ab_, av_, max(n_top, 1))
    if top[0].shape[0] < n_top:
        top = _top_candidates(Wall, ball, vall, max(n_top, 1))
    return EtaSup(value=float(vall[i]), upper=float("inf"), w=Wall[i], b=float(ball[i]),
                  exact=False, method="sampling", candidates=top,
                  info={"directions": int(W.shape[0]), "starts": len(init)})


def sup_eta(X: Any, Q: Any, *, method: str = "auto", n_samples: int = 4000, seed: Any = 0,
            n_top: int = 5, max_patterns: int = 60_000, starts: Any = None) -> EtaSup:
    """sup over |w| = 1, b in R of |eta(w, b)|_2, eta(w, b) = sum_n q_n relu(w . x_n - b).

    Assumes sum_n q_n = 0 (else the sup is +inf, via b -> -inf; :func:`certify_residual` checks).

    method : "auto" (d = 1: "d1"; d = 2: "arcs"; d >= 3: "patterns" when the estimated number
        of sign vectors N * C(N-1, d-1) * 2^d is at most ``max_patterns``, else "sampling"),
        "d1" (exact, d = 1), "arcs" (exact, d = 2, O(N^2 log N)), "patterns" (exact for D = 1,
        any d, small N; bounds for D > 1), "sampling" (lower bound: ``n_samples`` directions
        plus projected ascent).
    n_top : number of distinct candidate neurons returned for column generation.
    starts : "sampling" only: (S, d) directions to run the projected ascent from as well (warm
        starts, e.g. the active neurons of the current fit); candidates are taken from the
        ascent end points first.
    """
    t0 = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    Q = np.asarray(Q, dtype=float).reshape(N, -1)
    if method == "auto":
        if d == 1:
            method = "d1"
        elif d == 2:
            method = "arcs"
        elif _pattern_count_estimate(N, d) <= max_patterns:
            method = "patterns"
        else:
            method = "sampling"
    with _small_blas():
        out = _dispatch_sup(X, Q, method, d, n_samples, seed, n_top, starts)
    out.info["time"] = time.perf_counter() - t0
    return out


def _dispatch_sup(X: np.ndarray, Q: np.ndarray, method: str, d: int, n_samples: int,
                  seed: Any, n_top: int, starts: Any = None) -> EtaSup:
    if method == "d1":
        if d != 1:
            raise InvalidProblemError(f"method='d1' needs d = 1, X has d = {d}")
        out = _sup_1d(X, Q, n_top)
    elif method == "arcs":
        if d != 2:
            raise InvalidProblemError(f"method='arcs' needs d = 2, X has d = {d}")
        out = _sup_arcs(X, Q, n_top)
    elif method == "patterns":
        if d < 2:
            out = _sup_1d(X, Q, n_top)
        else:
            out = _sup_patterns(X, Q, n_top)
    elif method == "sampling":
        out = _sup_sampling(X, Q, n_samples, seed, n_top, starts=starts)
    else:
        raise InvalidProblemError(f"method: unknown value {method!r}; use 'auto', 'd1', 'arcs', "
                                  "'patterns' or 'sampling'")
    return out
