"""Support reduction: the constructive (Caratheodory) proof of the width bound.

Atoms a_k = vec((P phi_k) e_k^T) with weights c_k = |V_k| > 0; while they are dependent, step along
a null vector alpha (sum alpha >= 0) until an atom vanishes. The fit is unchanged, sum c_k does not
increase and at most dim span{a_k} atoms remain.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.optimize import linprog

from .._validation import as_matrix
from ..affine import project_out, skip_of
from ..dictionary import NeuronDictionary
from ..duality import certified_status, gaps
from ..errors import InvalidProblemError
from ..losses import get_loss
from ..networks.shallow import ShallowReLUNet
from ..solution import Solution, active_set
from .width import (_EPS, _skip_parts, _small_blas, _solution_fit, projected_rank,
                    rank_from_singular_values)


def _orient(alpha: np.ndarray, prefer: int) -> np.ndarray:
    """Sign of the null vector with sum(alpha) >= 0 (ties: alpha[prefer] > 0)."""
    s = float(alpha.sum())
    scale = float(np.abs(alpha).sum())
    if abs(s) <= 64 * _EPS * scale:
        return alpha if alpha[prefer] > 0 else -alpha
    return alpha if s > 0 else -alpha


def _null_step(c: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """c - t alpha with t = min_{alpha_k > 0} c_k / alpha_k; the minimizers are set to 0."""
    pos = alpha > 0
    ratios = np.full(c.shape, np.inf)
    ratios[pos] = c[pos] / alpha[pos]
    t = float(ratios.min())
    out = c - t * alpha
    # the blocking atoms (and any atom that rounding pushed to <= 0) are removed
    out[ratios <= t * (1 + 4 * _EPS)] = 0.0
    out[out < 0] = 0.0                      # rounding only: c_k - t alpha_k with ratio ~ t
    return out


def _caratheodory(G: np.ndarray, c: np.ndarray, dep_tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Null-space (Caratheodory) reduction of sum_k c_k G[:, k] with c >= 0.

    ``G`` (m, K) has full row rank m. Atoms are inserted in decreasing order of c into an
    independent set B; an atom in span(B) gives the null vector alpha = (x, -1) of
    [G_B, a_j] (x from an LU solve when |B| = m, least squares otherwise), oriented so that
    sum(alpha) >= 0, and one step removes at least one atom. An atom counts as dependent when
    its residual against span(B) is at most ``dep_tol`` times the largest atom's norm. Returns
    the new weights (at most m nonzero) and the number of steps. Small atoms (an interior-point answer's near-zeros)
    are absorbed exactly into the others instead of being dropped.
    """
    m, K = G.shape
    c = c.astype(float).copy()
    # the dependence test is relative to the largest atom, so that a rounding-level atom (a
    # neuron whose projected features vanish, |a| ~ eps) counts as dependent and is absorbed
    # instead of entering B (a basis of such atoms is singular: NaN weights)
    gscale = float(np.linalg.norm(G, axis=0).max(initial=0.0))
    B: list[int] = []
    lu = None
    steps = 0
    for j in np.argsort(-c, kind="stable"):
        if c[j] <= 0:
            continue
        a = G[:, j]
        if len(B) < m:
            if not B:
                B.append(int(j))
                continue
            GB = G[:, B]
            x, *_ = np.linalg.lstsq(GB, a, rcond=None)
            if np.linalg.norm(GB @ x - a) > dep_tol * max(np.linalg.norm(a), gscale):
                B.append(int(j))
                lu = None
                continue
        else:
            if lu is None:
                lu = sla.lu_factor(G[:, B], check_finite=False)
            x = sla.lu_solve(lu, a, check_finite=False)
        cand = B + [int(j)]
        alpha = _orient(np.append(x, -1.0), prefer=len(B))
        cw = _null_step(c[cand], alpha)
        steps += 1
        c[cand] = cw
        newB = [k for k in cand if c[k] > 0]
        if newB != B:
            lu = None
        B = newB
    return c, steps


def _lp_vertex(G: np.ndarray, c: np.ndarray) -> np.ndarray | None:
    """A vertex of {x >= 0 : G x = G c} minimizing sum x (HiGHS dual simplex), or None."""
    scale = float(np.abs(G).max()) or 1.0
    Gs = G / scale
    g = Gs @ c
    res = linprog(np.ones(G.shape[1]), A_eq=Gs, b_eq=g, bounds=(0, None), method="highs-ds",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    if res.status != 0 or res.x is None:
        return None
    x = np.asarray(res.x, dtype=float)
    x[x <= 1e-13 * max(float(x.max(initial=0.0)), 1e-300)] = 0.0
    return x


@dataclass
class _Atoms:
    S: np.ndarray          # indices of the rows of V that are atoms
    c: np.ndarray          # weights
    dirs: np.ndarray       # (|S|, D) unit directions (in the subspace R)
    PPhi: np.ndarray       # (N, |S|) projected features
    target: np.ndarray     # (N, D) projected network fit P Phi V Pi_R the atoms reproduce
    E: np.ndarray          # (D, r_dir) orthonormal basis of the direction subspace R
    scale: float           # |Phi_S|_F (unprojected): the rounding level of the projection
    r_feat: int            # numerical rank of the projected features

    @property
    def r_dir(self) -> int:
        return int(self.E.shape[1])


def _direction_basis(Z0: np.ndarray, Ycand: np.ndarray | None, budget: float,
                     yscale: float = 0.0) -> np.ndarray:
    """Orthonormal basis E (D, r) of output directions R with |Z0 - Z0 E E^T|_F <= budget.

    Candidates: the row space of Ycand = P Y (rank by :func:`numerical_rank`), then the
    truncated row space of Z0 = P Phi V; the smaller admissible one is used.
    """
    D = Z0.shape[1]
    best = np.eye(D)
    if D == 1:
        return best
    _, s, Vt = np.linalg.svd(Z0, full_matrices=False)
    tail = np.sqrt(np.maximum(np.cumsum((s ** 2)[::-1])[::-1], 0.0))   # tail[i] = |s[i:]|
    r = next((i for i in range(s.size) if tail[i] <= budget), s.size)
    best = Vt[:r].T
    if Ycand is not None:
        _, sy, Vy = np.linalg.svd(Ycand, full_matrices=False)
        ry = rank_from_singular_values(sy, Ycand.shape, scale=max(yscale, sy[:1].sum()))
        E = Vy[:ry].T
        if ry <= best.shape[1] and np.linalg.norm(Z0 - (Z0 @ E) @ E.T) <= budget:
            best = E
    return best


def _atoms(Phi: np.ndarray, V: np.ndarray, basis: np.ndarray, Ycand: np.ndarray | None,
           budget: float, yscale: float = 0.0) -> _Atoms:
    norms = np.linalg.norm(V, axis=1)
    S = np.flatnonzero(norms > 0)
    PPhi = project_out(Phi[:, S], basis)
    Z0 = PPhi @ V[S]
    E = _direction_basis(Z0, Ycand, budget, yscale)
    VR = (V[S] @ E) @ E.T
    c = np.linalg.norm(VR, axis=1)
    keep = c > 0
    S, c, VR, PPhi = S[keep], c[keep], VR[keep], PPhi[:, keep]
    dirs = VR / c[:, None]
    return _Atoms(S=S, c=c, dirs=dirs, PPhi=PPhi, target=PPhi @ VR, E=E,
                  scale=float(np.linalg.norm(Phi[:, S])), r_feat=0)


def _coordinates(at: _Atoms, rank_cap: int | None) -> np.ndarray:
    """Atoms a_k = e_k (x) P phi_k in coordinates of span{a_k}: (m, |S|), full row rank m."""
    if at.S.size == 0:
        return np.zeros((0, 0))
    U, s, _ = np.linalg.svd(at.PPhi, full_matrices=False)
    r = rank_from_singular_values(s, at.PPhi.shape, scale=at.scale)
    if rank_cap is not None:
        r = min(r, rank_cap)
    at.r_feat = r
    F = U[:, :r].T @ at.PPhi                                  # (r, |S|)
    D = at.dirs.shape[1]
    if D == 1:
        Gfull = F * at.dirs[:, 0]
    else:
        Ed = at.dirs @ at.E                                      # (|S|, r_dir) coordinates
        Gfull = (Ed[:, :, None] * F.T[:, None, :]).reshape(at.S.size, -1).T
    _, sg, Wt = np.linalg.svd(Gfull, full_matrices=False)
    m = rank_from_singular_values(sg, Gfull.shape)
    return sg[:m, None] * Wt[:m]


def _polish(at: _Atoms, c: np.ndarray, pen_limit: float) -> np.ndarray:
    """Re-solve the weights of the surviving atoms by least squares against the exact target.

    Removes the rounding drift of the reduction steps; kept only if the weights stay positive,
    the fit error does not grow and sum c stays <= ``pen_limit``.
    """
    keep = np.flatnonzero(c > 0)
    if keep.size == 0:
        return c
    M = np.stack([np.outer(at.PPhi[:, k], at.dirs[k]).ravel() for k in keep], axis=1)
    t = at.target.ravel()
    x, *_ = np.linalg.lstsq(M, t, rcond=None)
    err_old = np.linalg.norm(M @ c[keep] - t)
    err_new = np.linalg.norm(M @ x - t)
    if np.all(x > 0) and err_new <= err_old and x.sum() <= pen_limit:
        out = np.zeros_like(c)
        out[keep] = x
        return out
    return c


def _reduce_V(Phi: np.ndarray, V: np.ndarray, basis: np.ndarray, Ycand: np.ndarray | None,
              fit_scale: float, method: str, fit_tol: float, rank_cap: int | None,
              yscale: float = 0.0) -> tuple[np.ndarray, dict]:
    """Core of :func:`reduce_support`: new V (same shape) with the same P Phi V."""
    info: dict[str, Any] = {"method": method}
    pen0 = float(np.linalg.norm(V, axis=1).sum())
    at = _atoms(Phi, V, basis, Ycand, fit_tol * fit_scale, yscale)
    info["direction_rank"] = at.r_dir
    if at.S.size == 0:
        info.update(steps=0, span_dim=0, feature_rank=0)
        return np.zeros_like(V), info
    G = _coordinates(at, rank_cap)
    info["feature_rank"] = at.r_feat
    info["span_dim"] = int(G.shape[0])
    c = at.c
    steps = 0
    if G.shape[0] == 0:
        c_new = np.zeros_like(c)
    elif method == "lp":
        # the LP picks a vertex (support); its weights are then solved exactly on that support
        x = _lp_vertex(G, c)
        c_new = None
        if x is not None and 0 < np.count_nonzero(x) <= G.shape[0]:
            supp = np.flatnonzero(x)
            xs, *_ = np.linalg.lstsq(G[:, supp], G @ c, rcond=None)
            exact_fit = np.linalg.norm(G[:, supp] @ xs - G @ c) <= 1e-12 * np.linalg.norm(G @ c)
            if np.all(xs > 0) and exact_fit and xs.sum() <= c.sum() * (1 + 4 * _EPS):
                c_new = np.zeros_like(c)
                c_new[supp] = xs
        if c_new is None:
            info["lp_fallback"] = "nullspace"
            c_new, steps = _caratheodory(G, c)
    elif method == "nullspace":
        c_new, steps = _caratheodory(G, c)
    else:
        raise InvalidProblemError(f"method: unknown value {method!r}; use 'nullspace' or 'lp'")
    info["steps"] = steps
    c_new = _polish(at, c_new, min(pen0, float(at.c.sum())) * (1 + 1e-13))
    Vn = np.zeros_like(V)
    Vn[at.S] = c_new[:, None] * at.dirs
    return Vn, info


def reduce_support(sol: Any, Phi: Any, *, skip: Any = None, Y: Any = None,
                   method: str = "nullspace", fit_tol: float = 1e-10,
                   lam: float | None = None, loss: str | None = None) -> Any:
    """Support reduction (the constructive proof of the width bound).

    Atoms: c_k = |V_k Pi_R| > 0, directions e_k = V_k Pi_R / c_k, a_k = vec((P phi_k) e_k^T),
    where Pi_R projects onto a subspace R of output directions (D > 1): the row space of P Y
    (squared loss / (MIN)) or of the network fit P Phi V, truncated only while the fit moves by
    at most ``fit_tol * |fitted|_F`` (R = R^D when nothing can be dropped; D = 1: e_k = sign).
    Then (``method="nullspace"``) repeat: alpha != 0 with sum_k alpha_k a_k = 0, sum alpha >= 0;
    c <- c - t alpha, t = min_{alpha_k > 0} c_k / alpha_k; drop zeros. Null vectors come from
    exact solves against an independent set kept in coordinates of span{a_k} (an SVD basis, so
    that the final count is at most dim span{a_k} <= rank(P Phi) * dim R). ``method="lp"``
    instead takes a vertex of {c >= 0 : sum_k c_k a_k = fixed} minimizing sum c (HiGHS dual
    simplex), which can also lower the penalty. Either way the surviving weights are re-solved
    by least squares against the exact projected fit (rounding clean-up), the affine part is
    re-fitted exactly, and the objective and duality gap are recomputed by nnlasso.

    Tiny rows of an interior-point answer are not dropped (that would move the fit by up to
    K * active_tol * max|V_k| |phi_k|): they enter the reduction last and are absorbed exactly.

    Parameters
    ----------
    sol : a :class:`Solution` of (MTL) (``problem="lasso"``, singleton groups, unit weights) or
        (MIN) (``"min_norm"``), or a network-like result with attributes W, b, V, skip_coef,
        intercept (the activation-pattern program): then ``Phi`` is the inputs X and the result
        is a :class:`ReducedNetwork` (see :func:`reduce_network`).
    Phi : (N, K) features the solution was computed on.
    skip : the (N, d) inputs X, "intercept" or None, as passed to the solver.
    Y : the targets (Psi for (MIN)). With ``Y`` the objective and gap are recomputed from
        scratch; without it the loss is unchanged (same fit) and only the penalty is updated,
        the dual point (built from the fit) being the same.
    method : "nullspace" (default) or "lp".
    fit_tol : relative fit budget of the direction-subspace truncation (D > 1).
    lam, loss : only for network-like ``sol`` without these attributes.

    Returns
    -------
    Solution with at most the width bound's number of active neurons, the same fitted values
    (to rounding) and an objective not larger. ``info["reduction"]`` holds the counts, steps,
    span dimension, fit change and times.
    """
    if not isinstance(sol, Solution):
        if all(hasattr(sol, a) for a in ("W", "b", "V")):
            return reduce_network(sol.W, sol.b, sol.V, Phi,
                                  skip_coef=getattr(sol, "skip_coef", None),
                                  intercept=getattr(sol, "intercept", None), Y=Y,
                                  lam=getattr(sol, "lam", lam) if lam is None else lam,
                                  loss=loss or getattr(sol, "loss", "squared"),
                                  method=method, fit_tol=fit_tol)
        raise InvalidProblemError("sol: expected an nnlasso Solution or a network-like result "
                                  "with W, b, V")
    t0 = time.perf_counter()
    Phi = as_matrix(Phi, "Phi")
    N, K = Phi.shape
    if sol.V.shape[0] != K:
        raise InvalidProblemError(f"Phi: has {K} columns but the solution has {sol.V.shape[0]} "
                                  "rows of V; pass the features the solution was computed on")
    X_skip, intercept, A, basis = _skip_parts(skip, N)
    if (sol.skip_coef is not None) != (X_skip is not None) or \
            (sol.intercept is not None) != bool(intercept):
        raise InvalidProblemError("skip: does not match the solution's affine part (skip_coef / "
                                  "intercept); pass the skip used to solve")
    Z_old = _solution_fit(sol, Phi, X_skip)
    fit_scale = max(float(np.linalg.norm(Z_old)), np.finfo(float).tiny)
    T = None
    Ycand = None
    if Y is not None:
        if sol.problem == "min_norm" or sol.loss == "squared":
            T = as_matrix(Y, "Y", allow_1d=True)
            Ycand = project_out(T, basis)
        else:
            T = get_loss(sol.loss).encode(np.asarray(Y)).T
    # cap the feature rank at the bound's rank(P Phi) (same rule, whole dictionary)
    with _small_blas():
        rank_cap = projected_rank(Phi, basis)
    with _small_blas():
        V_new, info = _reduce_V(Phi, sol.V, basis, Ycand, fit_scale, method, fit_tol,
                                rank_cap, 0.0 if T is None else float(np.linalg.norm(T)))
    # exact affine re-fit: A B = (I - P)(Z_old - Phi V_new)
    p = A.shape[1]
    offset = Phi @ V_new
    B_new = np.linalg.lstsq(A, Z_old - offset, rcond=None)[0] if p else np.zeros((0, sol.D))
    Z_new = offset + A @ B_new
    pen_old = float(np.linalg.norm(sol.V, axis=1).sum())
    pen_new = float(np.linalg.norm(V_new, axis=1).sum())
    info.update(n_before=int(sol.n_active), n_nonzero_before=int(np.count_nonzero(
        np.linalg.norm(sol.V, axis=1))), penalty_before=pen_old, penalty_after=pen_new,
        fit_change=float(np.linalg.norm(Z_new - Z_old)) / fit_scale)
    if sol.problem == "min_norm":
        new = _min_norm_solution(sol, Phi, A, basis, V_new, B_new, Z_new,
                                 T if T is not None else Z_old, X_skip)
    elif T is not None:
        new = _lasso_solution(sol, Phi, T, basis, V_new, B_new, Z_new, X_skip)
    else:
        # same fit => same loss and the same nnlasso dual point; only the penalty changed
        lam_v = float("nan") if sol.lam is None else float(sol.lam)
        primal = float(sol.objective) - lam_v * (pen_old - pen_new)
        gap, rel = gaps(primal, float(sol.dual_objective))
        p_lin = 0 if X_skip is None else X_skip.shape[1]
        new = replace(sol, V=V_new, skip_coef=B_new[:p_lin] if X_skip is not None else None,
                      intercept=B_new[p_lin] if intercept else None, objective=primal, gap=gap,
                      rel_gap=rel, active=active_set(V_new, sol.active_tol), info=dict(sol.info))
    info["n_after"] = int(new.n_active)
    info["time"] = time.perf_counter() - t0
    new.info = dict(new.info)
    new.info["reduction"] = info
    new.times = dict(sol.times)
    new.times["reduce"] = info["time"]
    return new


def _lasso_solution(sol: Solution, Phi: np.ndarray, T: np.ndarray, basis: np.ndarray,
                    V: np.ndarray, B: np.ndarray, Z: np.ndarray,
                    X_skip: np.ndarray | None) -> Solution:
    """Re-certify an (MTL) point with nnlasso's dual (:func:`nnlasso.duality.lasso_dual`).

    The fit Z is kept exactly (no affine re-fit or refinement, which could move it): primal =
    sum_n L(y_n, z_n) + lam sum_k |V_k|, dual from q = -grad L(Z) projected and scaled.
    """
    from ..duality import lasso_dual
    lossobj = get_loss(sol.loss)
    lam = float(sol.lam)
    K = V.shape[0]
    primal = lossobj.value(Z, T) + lam * float(np.linalg.norm(V, axis=1).sum())
    dual, _, ratio = lasso_dual(Phi, T, Z, lossobj, lam, basis, np.arange(K), np.ones(K))
    gap, rel = gaps(primal, dual)
    info = dict(sol.info)
    info["kkt_ratio"] = ratio
    p = 0 if X_skip is None else X_skip.shape[1]
    return replace(sol, V=V, skip_coef=B[:p] if sol.skip_coef is not None else None,
                   intercept=B[p] if sol.intercept is not None else None, objective=primal,
                   dual_objective=dual, gap=gap, rel_gap=rel,
                   active=active_set(V, sol.active_tol),
                   status=certified_status(sol.status, rel, 1e-8), info=info)


def _min_norm_solution(sol: Solution, Phi: np.ndarray, A: np.ndarray, basis: np.ndarray,
                       V: np.ndarray, B: np.ndarray, Z: np.ndarray, Psi: np.ndarray,
                       X_skip: np.ndarray | None) -> Solution:
    """Re-certify a (MIN) solution: objective sum |V_k|, dual from the reduced support's KKT."""
    from ..duality import min_norm_dual
    primal = float(np.linalg.norm(V, axis=1).sum())
    nPsi = max(float(np.linalg.norm(Psi)), np.finfo(float).tiny)
    act = active_set(V, sol.active_tol)
    dual = float(sol.dual_objective)
    if act.size and sol.eps == 0:
        # KKT of (MIN): Phi_k^T L = V_k / |V_k| on the support, A^T L = 0: min-norm solution
        E = V[act] / np.linalg.norm(V[act], axis=1, keepdims=True)
        M = np.vstack([Phi[:, act].T, A.T])
        rhs = np.vstack([E, np.zeros((A.shape[1], V.shape[1]))])
        L = np.linalg.lstsq(M, rhs, rcond=None)[0]
        dual = max(dual, min_norm_dual(Phi, Psi, L, basis, sol.eps)[0])
    elif sol.eps > 0:
        dual = max(dual, min_norm_dual(Phi, Psi, Psi - Z, basis, sol.eps)[0])
    gap, rel = gaps(primal, dual)
    info = dict(sol.info)
    info["residual"] = float(np.linalg.norm(Z - Psi)) / nPsi
    p = 0 if X_skip is None else X_skip.shape[1]
    return replace(sol, V=V, skip_coef=B[:p] if sol.skip_coef is not None else None,
                   intercept=B[p] if sol.intercept is not None else None, objective=primal,
                   dual_objective=dual, gap=gap, rel_gap=rel, active=act, info=info)


@dataclass
class ReducedNetwork:
    """Support-reduced network: balanced neurons (W, b, V), the affine part and the Solution.

    ``solution`` is over the unit-normalized active neurons of the input (rows aligned with the
    input's neurons); W, b, V are the surviving neurons, rebalanced (|w_k| = |v_k|).
    """

    W: np.ndarray
    b: np.ndarray
    V: np.ndarray
    skip_coef: np.ndarray | None
    intercept: np.ndarray | None
    solution: Solution


def reduce_network(W: Any, b: Any, V: Any, X: Any, *, skip_coef: Any = None,
                   intercept: Any = None, Y: Any = None, lam: float | None = None,
                   loss: str = "squared", method: str = "nullspace",
                   fit_tol: float = 1e-10) -> ReducedNetwork:
    """Support reduction for a network f(x) = sum_k v_k relu(w_k . x - b_k) + C x + c0.

    Neurons are normalized (w, b, v) -> (w, b, v |w|) / (|w|, |w|, 1), which keeps f and turns
    the path norm sum_k |w_k| |v_k| into the group lasso penalty sum_k |v_k|; the features are
    relu(X w_k^T - b_k) of the normalized neurons. Used for the activation-pattern program's
    recovered network (docs/math.md: neurons w = u / sqrt|u|, b = beta / sqrt|u|, v = +-sqrt|u|).
    The skip argument is inferred: C given -> skip = X; only c0 -> "intercept"; else None.
    With ``Y`` and ``lam`` the objective loss + lam * path norm and its gap are recomputed.
    """
    X = as_matrix(X, "X", allow_1d=True)
    W = np.asarray(W, dtype=float).reshape(-1, X.shape[1])
    b = np.asarray(b, dtype=float).reshape(-1)
    V = np.asarray(V, dtype=float).reshape(W.shape[0], -1)
    norms = np.linalg.norm(W, axis=1)
    keep = norms > 0
    W, b, V, norms = W[keep], b[keep], V[keep], norms[keep]
    dic = NeuronDictionary(W, b)            # unit rows (w, b) / |w|_2 and their ReLU features
    Wu, bu = dic.W, dic.b
    Vn = V * norms[:, None]
    Phi = dic.features(X)
    N, D = X.shape[0], V.shape[1]
    skip = skip_of(X, skip_coef is not None, intercept is not None)
    C = None if skip_coef is None else np.asarray(skip_coef, dtype=float).reshape(X.shape[1], D)
    c0 = None if intercept is None else np.asarray(intercept, dtype=float).reshape(D)
    Z = Phi @ Vn + (0 if C is None else X @ C) + (0 if c0 is None else c0)
    pen = float(np.linalg.norm(Vn, axis=1).sum())
    lossobj = get_loss(loss)
    if Y is not None and lam is not None:
        T = lossobj.encode(np.asarray(Y)).T
        Bs = [M for M in (C, None if c0 is None else c0[None, :]) if M is not None]
        B = np.vstack(Bs) if Bs else np.zeros((0, D))
        empty = Solution(V=Vn, skip_coef=C, intercept=c0, objective=0.0, dual_objective=0.0,
                         gap=0.0, rel_gap=0.0, active=active_set(Vn), status="optimal",
                         solver="network", times={}, lam=float(lam), loss=lossobj.name)
        base = _lasso_solution(empty, Phi, T, _skip_parts(skip, N)[3], Vn, B, Z,
                               None if C is None else X)
    else:
        lam_v = float(lam) if lam is not None else float("nan")
        obj = lossobj.value(Z, lossobj.encode(np.asarray(Y)).T) + lam_v * pen \
            if Y is not None else float("nan")
        base = Solution(V=Vn, skip_coef=C, intercept=c0, objective=obj,
                        dual_objective=float("nan"), gap=float("nan"), rel_gap=float("nan"),
                        active=active_set(Vn), status="optimal", solver="network", times={},
                        lam=lam, loss=lossobj.name)
    red = reduce_support(base, Phi, skip=skip, Y=Y if lam is not None else None, method=method,
                         fit_tol=fit_tol)
    act = red.active
    net = ShallowReLUNet(Wu[act], bu[act], red.V[act]).rebalance()   # |w_k| = |v_k|
    return ReducedNetwork(W=net.W, b=net.b, V=net.V, skip_coef=red.skip_coef,
                          intercept=red.intercept, solution=red)
