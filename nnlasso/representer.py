"""Verification of weight-decay solutions: width bounds, support reduction, certificates.

This module makes the representer-theorem statements of docs/math.md checkable and
constructive.

**Width bounds.** With P the orthogonal projector onto the complement of the free affine
columns A = [X 1] (skip), [1] (intercept only) or none, and r_aff = rank(A):

* one output (D = 1):  some optimal solution has K <= N - r_aff active neurons;
* D outputs:           K <= rank(P Phi) * rank(P Psi) <= N^2,  Psi = Y for (MIN) and the
  squared loss (Psi = the fitted values for the other losses).

Numerical ranks are scale aware: rank(P M) = #{singular values of P M > max(m, n) * eps * |M|_F}
with eps = 2.2e-16 the double-precision machine epsilon and |M|_F the Frobenius norm of the
*unprojected* M (the rounding level of the projection; see :func:`projected_rank`). With no
affine part this is the NumPy / LAPACK rule up to |M|_F >= s_1.

**Support reduction** (:func:`reduce_support`). Write the network part of a solution as atoms
with weights c_k = |V_k| > 0, unit directions e_k = V_k / |V_k| and features phi_k. The fit only
sees P Phi V (the affine part absorbs the rest), i.e. sum_k c_k a_k with
a_k = vec((P phi_k) e_k^T). While the a_k are dependent take alpha != 0 with sum_k alpha_k a_k = 0
and sum_k alpha_k >= 0 (flip the sign), step c <- c - t alpha with
t = min_{alpha_k > 0} c_k / alpha_k, and drop the zeros: the fit is unchanged, sum_k c_k does not
increase, and at most dim span{a_k} atoms remain (Caratheodory).

**Certificates** (:func:`certify`). With q = -grad L at the fit, projected onto the complement of
the affine columns, eta(w, b) = sum_n q_n relu(w . x_n - b) in R^D. The solution is optimal over
all neurons (|w| = 1, b in R) iff sup_{w, b} |eta(w, b)|_2 <= lam; q / max(1, sup / lam) is then
a feasible point of the infinite-width dual and certifies the gap P - Dual. For fixed w the sup
over b is attained at some b = w . x_n (eta is piecewise linear in b with kinks at the data and
constant below min_n w . x_n when sum_n q_n = 0), so the sup is a maximum over "anchors" n of the
positively homogeneous function

    eta_n(w) = sum_m q_m relu(w . (x_m - x_n))     over the unit sphere.

Exact methods: d = 1 (w = +-1), d = 2 (arcs of the central arrangement around each anchor) and
small N, d (regions of the central arrangement: max of a linear function over a polyhedral cone
intersected with the ball = the norm of the projection onto the cone, one NNLS each). Larger
problems give a lower bound (sampling + projected ascent), flagged ``exact=False``.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg as sla
from scipy.optimize import linprog, nnls

from ._validation import affine_basis, as_matrix, check_lam, skip_matrix
from .dictionary import NeuronDictionary, sample_neurons
from .duality import affine_columns, gaps, project_out
from .errors import InvalidProblemError
from .losses import get_loss
from .solution import Solution, active_set
from ._logging import progress

logger = logging.getLogger(__name__)

_EPS = float(np.finfo(float).eps)


def _small_blas():
    """BLAS limited to one thread: reduction and certificates make many small dense calls, for
    which a multi-threaded BLAS only adds synchronization (and, on a loaded machine, spinning
    that made a 60 x 500 SVD take a second). Shared with the native solver (nnlasso.prox)."""
    from .prox import _single_thread
    return _single_thread()

__all__ = ["Certificate", "ColumnGenerationReport", "ColumnGenerationResult", "EtaSup",
           "ReducedNetwork", "WidthReport", "affine_rank", "certify", "certify_dictionary",
           "certify_residual", "check_width", "column_generation", "dual_residual", "eta",
           "numerical_rank", "projected_rank", "reduce_network", "reduce_support", "sup_eta",
           "sup_over_bias", "width_bound"]


# =============================================================================================
# numerical ranks and width bounds
# =============================================================================================

def _rank_from_singular_values(s: np.ndarray, shape: tuple[int, ...],
                               rtol: float | None = None) -> int:
    if s.size == 0 or not s[0] > 0:
        return 0
    tol = s[0] * (max(shape) * _EPS if rtol is None else rtol)
    return int(np.count_nonzero(s > tol))


def numerical_rank(M: np.ndarray, rtol: float | None = None) -> int:
    """Numerical rank #{i : s_i > tol} of ``M`` (m x n) with singular values s_1 >= s_2 >= ...

    ``tol = s_1 * max(m, n) * eps`` by default (the NumPy / LAPACK convention: scale aware, a
    matrix and its multiples have the same rank), or ``s_1 * rtol`` when ``rtol`` is given.
    """
    M = np.asarray(M, dtype=float)
    if M.size == 0:
        return 0
    return _rank_from_singular_values(np.linalg.svd(M, compute_uv=False), M.shape, rtol)


def projected_rank(M: np.ndarray, basis: np.ndarray) -> int:
    """Numerical rank of P M, P = I - U U^T (U an orthonormal basis of the affine columns).

    Singular values of P M count when above max(m, n) * eps * |M|_F: the scale is that of the
    unprojected M, since projecting leaves rounding noise of size ~eps |M| that must not count
    (for instance when the affine columns already span the features on the data). Without
    affine columns this is :func:`numerical_rank` with |M|_F in place of s_1.
    """
    M = np.asarray(M, dtype=float)
    if M.size == 0:
        return 0
    s = np.linalg.svd(project_out(M, basis), compute_uv=False)
    scale = float(np.linalg.norm(M))
    if s.size == 0 or not scale > 0:
        return 0
    return int(np.count_nonzero(s > max(M.shape) * _EPS * scale))


def _skip_parts(skip: Any, N: int) -> tuple[np.ndarray | None, bool, np.ndarray, np.ndarray]:
    """(X_skip, intercept, A = [X 1], orthonormal basis of col(A)) for a ``skip`` argument."""
    if skip is True:
        raise InvalidProblemError("skip=True is ambiguous here: pass the (N, d) inputs X for "
                                  "C x + c0, 'intercept' for c0 only, or None")
    X_skip, intercept = skip_matrix(skip, N)
    return X_skip, intercept, affine_columns(X_skip, intercept, N), affine_basis(X_skip,
                                                                                 intercept, N)


def affine_rank(skip: Any, N: int) -> int:
    """r_aff = rank([X 1]) for ``skip=X``, 1 for ``"intercept"``, 0 for None (numerical rank)."""
    return int(_skip_parts(skip, N)[3].shape[1])


def width_bound(Phi: Any, Y: Any, *, skip: Any = None) -> int:
    """Width bound of the representer theorem (docs/math.md, "Width bounds").

    One output (D = 1):   bound = N - r_aff.
    D > 1 outputs:        bound = rank(P Phi) * rank(P Y)  (<= N^2),

    where r_aff = rank([X 1]) with ``skip=X``, 1 with ``"intercept"``, 0 with None, and P is
    the orthogonal projector onto the complement of those affine columns. Ranks are numerical
    ranks (:func:`projected_rank`: singular values of P M above max(m, n) * eps * |M|_F). Some
    optimal solution has at most ``bound`` active neurons; :func:`reduce_support` builds one.

    Parameters
    ----------
    Phi : (N, K) features.   Y : (N, D) or (N,) targets (Psi for (MIN)).
    skip : the (N, d) inputs X, "intercept" or None.
    """
    Phi = as_matrix(Phi, "Phi")
    N = Phi.shape[0]
    Yarr = as_matrix(Y, "Y", allow_1d=True)
    if Yarr.shape[0] != N:
        raise InvalidProblemError(f"Y: has {Yarr.shape[0]} rows but Phi has {N}")
    basis = _skip_parts(skip, N)[3]
    if Yarr.shape[1] == 1:
        return int(N - basis.shape[1])
    return int(projected_rank(Phi, basis) * projected_rank(Yarr, basis))


@dataclass
class WidthReport:
    """Result of :func:`check_width`.

    Attributes
    ----------
    K : active neurons of the solution (|V_k| > active_tol * max_j |V_j|).
    bound : N - r_aff (D = 1) or rank_Phi * rank_Psi (D > 1).
    holds : K <= bound.
    N, D : samples and outputs.   r_aff : rank of the free affine columns.
    rank_Phi : rank(P Phi) (for D = 1 a sharper, data-dependent bound).
    rank_Psi : rank(P Psi) (None for D = 1).   psi : which matrix Psi was ("Y" or "fitted").
    """

    K: int
    bound: int
    holds: bool
    N: int
    D: int
    r_aff: int
    rank_Phi: int
    rank_Psi: int | None
    psi: str
    rank_rule: str = "s_i(P M) > max(m, n) * eps * |M|_F"

    @property
    def ranks(self) -> dict[str, int | None]:
        return {"r_aff": self.r_aff, "rank_Phi": self.rank_Phi, "rank_Psi": self.rank_Psi}

    def __str__(self) -> str:
        formula = "N - r_aff" if self.D == 1 else "rank(P Phi) * rank(P Psi)"
        rows = [("active neurons K", str(self.K)),
                (f"bound ({formula})", str(self.bound)),
                ("holds (K <= bound)", "yes" if self.holds else "NO (run reduce_support)"),
                ("samples N", str(self.N)), ("outputs D", str(self.D)),
                ("r_aff = rank of affine part", str(self.r_aff)),
                ("rank(P Phi)", str(self.rank_Phi))]
        if self.rank_Psi is not None:
            rows.append((f"rank(P Psi), Psi = {self.psi}", str(self.rank_Psi)))
        rows.append(("numerical rank rule", self.rank_rule))
        w = max(len(a) for a, _ in rows)
        lines = ["width check (representer theorem)"] + [f"  {a:<{w}}  {b}" for a, b in rows]
        return "\n".join(lines)


def _solution_fit(sol: Solution, Phi: np.ndarray, X_skip: np.ndarray | None) -> np.ndarray:
    return sol.fitted(Phi, X_skip) if sol.skip_coef is not None else sol.fitted(Phi)


def check_width(sol: Solution, Phi: Any, *, skip: Any = None, Y: Any = None) -> WidthReport:
    """Compare the active neurons of ``sol`` with the representer-theorem width bound.

    For D = 1 the bound is N - r_aff. For D > 1 it is rank(P Phi) * rank(P Psi) with Psi = Y
    when ``Y`` is given and the problem is (MIN) or the squared loss, and Psi = the solution's
    fitted values otherwise (for the logistic / softmax losses the optimal directions lie in the
    row space of the fit, not of the labels). A solution above the bound is no contradiction
    (the bound is an existence statement): :func:`reduce_support` brings it under the bound.
    """
    Phi = as_matrix(Phi, "Phi")
    N = Phi.shape[0]
    if Phi.shape[1] != sol.V.shape[0]:
        raise InvalidProblemError(f"Phi: has {Phi.shape[1]} columns but the solution has "
                                  f"{sol.V.shape[0]} neurons (rows of V); pass the feature "
                                  "matrix the solution was computed on")
    X_skip, _, _, basis = _skip_parts(skip, N)
    rank_Phi = projected_rank(Phi, basis)
    r_aff = basis.shape[1]
    D = sol.D
    rank_Psi = None
    psi = "-"
    if D == 1:
        bound = N - r_aff
    else:
        use_y = Y is not None and (sol.problem == "min_norm" or sol.loss == "squared")
        if use_y:
            Psi = as_matrix(Y, "Y", allow_1d=True)
            psi = "Y"
        else:
            Psi = _solution_fit(sol, Phi, X_skip)
            psi = "fitted"
        rank_Psi = projected_rank(Psi, basis)
        bound = rank_Phi * rank_Psi
    K = int(sol.n_active)
    return WidthReport(K=K, bound=int(bound), holds=K <= bound, N=N, D=D, r_aff=r_aff,
                       rank_Phi=rank_Phi, rank_Psi=rank_Psi, psi=psi)


# =============================================================================================
# support reduction
# =============================================================================================

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
    sum(alpha) >= 0, and one step removes at least one atom. Returns the new weights (at most
    m nonzero) and the number of steps. Small atoms (an interior-point answer's near-zeros)
    are absorbed exactly into the others instead of being dropped.
    """
    m, K = G.shape
    c = c.astype(float).copy()
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
            if np.linalg.norm(GB @ x - a) > dep_tol * np.linalg.norm(a):
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
        ry = int(np.count_nonzero(sy > max(Ycand.shape) * _EPS * max(yscale, sy[:1].sum())))
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
    r = int(np.count_nonzero(s > max(at.PPhi.shape) * _EPS * at.scale))
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
    m = _rank_from_singular_values(sg, Gfull.shape)
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
    from .duality import lasso_dual
    from .lasso import certified_status
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
    from .duality import min_norm_dual
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
    Wu, bu = W / norms[:, None], b / norms
    Vn = V * norms[:, None]
    Phi = np.maximum(X @ Wu.T - bu, 0.0)
    N, D = X.shape[0], V.shape[1]
    skip = X if skip_coef is not None else ("intercept" if intercept is not None else None)
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
    a = np.sqrt(np.linalg.norm(red.V[act], axis=1))      # |w| = 1 -> balance: scale by sqrt|v|
    return ReducedNetwork(W=Wu[act] * a[:, None], b=bu[act] * a, V=red.V[act] / a[:, None],
                          skip_coef=red.skip_coef, intercept=red.intercept, solution=red)


# =============================================================================================
# certificates: eta and its supremum
# =============================================================================================

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
    Q = lossobj.clip(project_out(Q0, basis), T)
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
    from .dictionary import cluster_rows
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
        k = _rank_from_singular_values(s, U.shape)
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


# =============================================================================================
# certificates
# =============================================================================================

@dataclass
class Certificate:
    """Optimality certificate of a shallow fit over a neuron class.

    Attributes
    ----------
    max_ratio : sup |eta| / lam: the true sup when ``exact``, else a lower bound
        (``kind="dictionary"``: max_k |Phi_k^T q|_2 / lam over the dictionary).
    upper_ratio : a certified upper bound on the sup / lam (= max_ratio when exact; inf if none).
    exact : max_ratio is the true supremum.
    certified : upper_ratio <= 1 + tol: the fit is a global optimum over all neurons (to the gap).
    argmax : (w, b) of the most violating neuron (dictionary: (w, b) if known, else None).
    gap, rel_gap : duality gap of the infinite-width problem at the dual point
        q / max(1, upper_ratio) (None when no upper bound is known).
    dual_objective, objective : the two sides of the gap.
    kind : "continuous" or "dictionary".   method : "d1" | "arcs" | "patterns" | "sampling" |
        "dictionary".   tol : the tolerance used.
    details : skip-condition residual, sum_n q_n, the dictionary ratio, counts, times.
    """

    max_ratio: float
    exact: bool
    certified: bool
    argmax: tuple[np.ndarray, float] | None
    gap: float | None
    kind: str
    method: str
    upper_ratio: float = float("inf")
    rel_gap: float | None = None
    dual_objective: float | None = None
    objective: float | None = None
    tol: float = 1e-6
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (the results-file ``certificate`` entry)."""
        out: dict[str, Any] = {"kind": self.kind, "method": self.method,
                               "max_ratio": float(self.max_ratio), "exact": bool(self.exact),
                               "certified": bool(self.certified)}
        if np.isfinite(self.upper_ratio):
            out["upper_ratio"] = float(self.upper_ratio)
        if self.gap is not None:
            out["gap"], out["rel_gap"] = float(self.gap), float(self.rel_gap)
        return out

    def __str__(self) -> str:
        what = "sup |eta| / lam" if self.kind == "continuous" else "max_k |Phi_k^T q| / lam"
        rows = [("kind / method", f"{self.kind} / {self.method}"),
                (what, f"{self.max_ratio:.9g} ({'exact' if self.exact else 'lower bound'})"),
                ("certified upper bound", f"{self.upper_ratio:.9g}"),
                ("certified (<= 1 + tol)", f"{'yes' if self.certified else 'no'} "
                                           f"(tol={self.tol:g})")]
        if self.argmax is not None:
            w, b = self.argmax
            rows.append(("argmax neuron (w, b)",
                         f"w={np.array2string(np.asarray(w), precision=4)}, b={b:.6g}"))
        if self.gap is not None:
            rows.append(("infinite-width gap", f"{self.gap:.3g} (rel {self.rel_gap:.3g})"))
        for key in ("skip_residual", "sum_q", "dictionary_ratio", "time"):
            if key in self.details:
                val = self.details[key]
                rows.append((key, f"{val:.3g}" if isinstance(val, float) else str(val)))
        w = max(len(a) for a, _ in rows)
        return "\n".join(["optimality certificate"] + [f"  {a:<{w}}  {b}" for a, b in rows])


def certify_dictionary(Phi: Any, Q: Any, lam: float, *, tol: float = 1e-6,
                       dictionary: NeuronDictionary | None = None) -> Certificate:
    """Dictionary certificate max_k |Phi_k^T q|_2 / lam (<= 1 + tol: optimal over the dictionary).

    ``Q`` is the dual residual (:func:`dual_residual`). Exact by construction (a finite max).
    """
    Phi = as_matrix(Phi, "Phi")
    Q = np.asarray(Q, dtype=float).reshape(Phi.shape[0], -1)
    lam = check_lam(lam)
    norms = np.linalg.norm(Phi.T @ Q, axis=1)
    k = int(np.argmax(norms)) if norms.size else 0
    ratio = float(norms[k] / lam) if norms.size else 0.0
    argmax = None
    if dictionary is not None and norms.size:
        argmax = (dictionary.W[k].copy(), float(dictionary.b[k]))
    return Certificate(max_ratio=ratio, exact=True, certified=ratio <= 1 + tol, argmax=argmax,
                       gap=None, kind="dictionary", method="dictionary", upper_ratio=ratio,
                       tol=tol, details={"argmax_index": k})


def certify_residual(X: Any, Q: Any, lam: float, *, T: Any = None, loss: str = "squared",
                     objective: float | None = None, skip: Any = None, exact: bool | None = None,
                     tol: float = 1e-6, n_samples: int = 4000, seed: Any = 0, n_top: int = 5,
                     max_patterns: int = 60_000, starts: Any = None
                     ) -> tuple[Certificate, EtaSup | None]:
    """Continuous certificate from a dual residual Q (the core of :func:`certify`).

    Checks sum_n q_n = 0 (else sup |eta| = +inf: near-affine neurons with b -> -inf; the dual
    point used for the gap is then projected onto sum q = 0, which the infinite-width dual
    requires); computes sup |eta| (see :func:`sup_eta`; ``exact=True`` demands an exact method,
    ``False`` forces sampling); the gap uses q / max(1, upper_ratio) when ``T`` and
    ``objective`` are given. Returns the certificate and the raw :class:`EtaSup`.
    """
    t0 = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    Q = np.asarray(Q, dtype=float).reshape(N, -1)
    lam = check_lam(lam)
    lossobj = get_loss(loss)
    sum_q = float(np.linalg.norm(Q.sum(axis=0)))
    qscale = max(float(np.abs(Q).sum()), np.finfo(float).tiny)
    balanced = sum_q <= 1e-9 * qscale
    Qc = Q if balanced else Q - Q.mean(axis=0)
    if exact is False:
        method = "sampling"
    else:
        method = "auto"
        if exact and d >= 3 and _pattern_count_estimate(N, d) > max_patterns:
            raise InvalidProblemError(
                f"exact=True: the pattern enumeration would visit about "
                f"{_pattern_count_estimate(N, d):,} sign vectors (N={N}, d={d}), above "
                f"max_patterns={max_patterns:,}; raise max_patterns or use exact=None (a lower "
                "bound)")
        if exact and Q.shape[1] > 1 and d >= 3:
            method = "patterns"
    sup = sup_eta(X, Qc, method=method, n_samples=n_samples, seed=seed, n_top=n_top,
                  max_patterns=max_patterns, starts=starts)
    if balanced:
        max_ratio, upper = sup.value / lam, sup.upper / lam
        is_exact = sup.exact
    else:
        max_ratio, upper, is_exact = float("inf"), float("inf"), True
    # the dual point: q (projected onto sum q = 0 if needed) scaled into feasibility
    gap = rel = dual = None
    if T is not None and objective is not None and np.isfinite(sup.upper):
        Ts = np.asarray(T, dtype=float).reshape(N, -1)
        dual = float(lossobj.dual_value(Qc / max(1.0, sup.upper / lam), Ts))
        if np.isfinite(dual):          # -inf: the centred q left the loss's dual domain
            gap, rel = gaps(float(objective), dual)
        else:
            dual = None
    certified = bool(np.isfinite(upper) and upper <= 1 + tol)
    details = {"sum_q": sum_q, "time": time.perf_counter() - t0, **sup.info}
    cert = Certificate(max_ratio=float(max_ratio), exact=bool(is_exact), certified=certified,
                       argmax=(np.asarray(sup.w, dtype=float), float(sup.b)), gap=gap,
                       kind="continuous", method=sup.method, upper_ratio=float(upper),
                       rel_gap=rel, dual_objective=dual, objective=objective, tol=tol,
                       details=details)
    return cert, sup


def certify(fit: Any, *, exact: bool | None = None, tol: float = 1e-6, n_samples: int = 4000,
            seed: Any = 0, kind: str = "continuous", max_patterns: int = 60_000) -> Certificate:
    """Certificate of a :class:`~nnlasso.shallow.ShallowFit` over all neurons (or its dictionary).

    q = -grad L at the fit of the (MTL) solution over the fit's dictionary (``fit.solution``;
    the network ``fit.net`` is its active part, and for the pattern programs q comes from the
    network), projected onto the complement of the affine columns
    (``details["skip_residual"]`` reports how far the unprojected q was from satisfying the skip
    conditions sum q_n = 0, sum q_n x_n = 0). ``kind="continuous"``: max_ratio =
    sup_{|w|=1, b} |eta(w, b)| / lam, exact for d = 1, d = 2 and small N in low d (``exact=None``
    picks; ``True`` insists; ``False`` samples); ``certified`` = upper_ratio <= 1 + tol; ``gap`` =
    objective - Dual(q / max(1, upper_ratio)) is the certified gap of the infinite-width problem.
    ``kind="dictionary"``: max_k |Phi_k^T q| / lam over the fit's dictionary.
    """
    if not all(hasattr(fit, a) for a in ("X", "Y", "lam", "loss", "skip", "objective")):
        raise InvalidProblemError(f"fit: expected the ShallowFit returned by fit_shallow (or "
                                  f"fit_patterns), got {type(fit).__name__}; for a Solution of "
                                  "solve_lasso use certify_dictionary(Phi, Q, lam)")
    X = as_matrix(fit.X, "fit.X", allow_1d=True)
    skip = X if fit.skip == "linear" else fit.skip
    Z = _certified_fit(fit, X)
    Q, T, res = dual_residual(Z, fit.Y, loss=fit.loss, skip=skip)
    dic_cert = None
    if getattr(fit, "dictionary", None) is not None and fit.dictionary.K:
        Phi = fit.Phi if getattr(fit, "Phi", None) is not None else fit.dictionary.features(X)
        dic_cert = certify_dictionary(Phi, Q, fit.lam, tol=tol, dictionary=fit.dictionary)
    if kind == "dictionary":
        if dic_cert is None:
            raise InvalidProblemError("fit: has no dictionary to certify against")
        dic_cert.details["skip_residual"] = res
        return dic_cert
    if kind != "continuous":
        raise InvalidProblemError(f"kind: unknown value {kind!r}; use 'continuous' or "
                                  "'dictionary'")
    cert, _ = certify_residual(X, Q, fit.lam, T=T, loss=fit.loss, objective=float(fit.objective),
                               skip=skip, exact=exact, tol=tol, n_samples=n_samples, seed=seed,
                               max_patterns=max_patterns)
    cert.details["skip_residual"] = res
    if dic_cert is not None:
        cert.details["dictionary_ratio"] = dic_cert.max_ratio
    return cert


def _certified_fit(fit: Any, X: np.ndarray) -> np.ndarray:
    """Outputs of the point being certified: the dictionary solution when there is one.

    ``fit.net`` leaves out rows below the solution's active_tol; those rows move the residual
    by about active_tol and so could move a 1e-6 certificate, while the solution itself is what
    (MTL) returned and what the duality gap speaks about.
    """
    sol, Phi = getattr(fit, "solution", None), getattr(fit, "Phi", None)
    if isinstance(sol, Solution) and Phi is not None and np.shape(Phi)[1] == sol.K:
        return np.asarray(sol.fitted(Phi, X), dtype=float)
    return np.asarray(fit.net.predict(X), dtype=float).reshape(X.shape[0], -1)


# =============================================================================================
# column generation
# =============================================================================================

@dataclass
class ColumnGenerationReport:
    """Rounds of :func:`column_generation`.

    rounds : number of solves.   certified : the last round's certificate holds.
    max_ratio, upper_ratio, exact : of the last round.   history : one dict per round (K, active,
    objective, max_ratio, added, times).   certificate : the last :class:`Certificate`.
    """

    rounds: int
    certified: bool
    max_ratio: float
    upper_ratio: float
    exact: bool
    history: list[dict]
    certificate: Certificate | None
    time: float = 0.0


class ColumnGenerationResult(NamedTuple):
    """``(dictionary, solution, report)`` of :func:`column_generation`."""

    dictionary: NeuronDictionary
    solution: Solution
    report: ColumnGenerationReport


def column_generation(X: Any, Y: Any, lam: float, *, loss: str = "squared", skip: Any = True,
                      n_init: int = 50, max_rounds: int = 50, tol: float = 1e-6,
                      n_add: int = 5, solver: str = "auto", solver_tol: float = 1e-8,
                      seed: Any = 0, exact: bool | None = None, n_samples: int = 4000,
                      dictionary: NeuronDictionary | None = None, prune: bool = True,
                      verbose: bool = False) -> ColumnGenerationResult:
    """Column generation for the infinite-width problem min over all neurons (|w| = 1, b).

    Start from ``n_init`` sampled data neurons (or ``dictionary``); each round solves (MTL) over
    the current dictionary, computes q and sup |eta| (:func:`sup_eta`), and adds up to ``n_add``
    distinct violating neurons (local maxima of |eta| per anchor / region / ascent start with
    ratio > 1 + tol) until upper_ratio <= 1 + tol (certified) or no violating neuron is new or
    ``max_rounds`` is reached. With ``prune`` neurons inactive for three rounds are dropped
    (keeping the solve small; the objective still decreases since the active set is kept).
    In d <= 2 (and small N, d with patterns) a certified result is the global optimum of the
    weight-decay (RTV2) problem with a free skip.

    Oracle: exact in d = 1, 2 (and d >= 3 when the pattern enumeration is small); otherwise the
    sampling oracle, ``n_samples`` random directions plus projected ascent on |eta| from the
    best 12 of them *and* from every active neuron of the current fit and the last round's
    argmax (warm starts), candidates taken from the ascent end points. Its value is a lower
    bound on sup |eta| / lam, so such a run never reports ``certified``.

    Stopping rule: stop after the first round in which (a) the certificate holds
    (``upper_ratio <= 1 + tol``, exact oracle only), or (b) the oracle returns no violating
    neuron (ratio > 1 + tol) that is not already in the dictionary, or (c) ``max_rounds`` is
    reached. Under (b) with the sampling oracle the fit is optimal over its dictionary and no
    violation was found, but it is not certified; read ``report.max_ratio`` (a lower bound).

    Parameters
    ----------
    skip : True / "linear" (C x + c0), the inputs X, "intercept" or None / False.
    tol : certificate tolerance (ratio <= 1 + tol); ``solver_tol`` is the solver's.
    verbose : log one progress line per round (and a summary) at INFO on the logger
        ``"nnlasso.representer"``, shown on stderr unless the application has configured
        logging; without it the same lines go out at DEBUG. Nothing is printed to stdout.
    solver : as in :func:`nnlasso.solve_lasso`; with "prox" each round's working-set loop is
        warm-started from the previous round. The default "auto" solves each round with
        CLARABEL: column generation adds neurons next to the current argmax, so its
        dictionaries are small and nearly collinear, where the native coordinate descent
        stalls (a 100 x 68 dictionary: CLARABEL 0.03 s, the native loop minutes before its
        fallback).

    Returns
    -------
    ColumnGenerationResult ``(dictionary, solution, report)``.
    """
    t_start = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    lam = check_lam(lam)
    if skip is True or (isinstance(skip, str) and skip == "linear"):
        skip_arg: Any = X
    elif skip is False:
        skip_arg = None
    else:
        skip_arg = skip
    X_skip, _, _, _ = _skip_parts(skip_arg, N)
    dic = dictionary if dictionary is not None else sample_neurons(X, max(int(n_init), 1),
                                                                   method="data", seed=seed)
    tol = float(tol)
    history: list[dict] = []
    from . import backends
    warm = isinstance(solver, str) and solver.upper() == backends.NATIVE
    round_solver = solver
    if isinstance(solver, str) and solver.upper() == "AUTO":
        round_solver = backends.resolve("auto")          # CLARABEL (see the docstring)
    with progress(logger, verbose) as level:
        dic, sol, cert, rounds = _column_rounds(
            X, Y, lam, dic, loss, skip_arg, X_skip, max_rounds, tol, n_add, round_solver,
            solver_tol,
            seed, exact, n_samples, prune, warm, history, level)
        report = ColumnGenerationReport(rounds=rounds, certified=cert.certified,
                                        max_ratio=cert.max_ratio, upper_ratio=cert.upper_ratio,
                                        exact=cert.exact, history=history, certificate=cert,
                                        time=time.perf_counter() - t_start)
        state = "certified" if cert.certified else "NOT certified"
        logger.log(level, "column generation %s after %d round(s): K=%d, objective=%.10g, "
                   "sup|eta|/lam=%.6f", state, rounds, dic.K, sol.objective, cert.max_ratio)
    from .lasso import requested_name
    sol.solver = requested_name(solver, sol.inner or sol.solver)
    return ColumnGenerationResult(dic, sol, report)


def _column_rounds(X: np.ndarray, Y: Any, lam: float, dic: NeuronDictionary, loss: str,
                   skip_arg: Any, X_skip: Any, max_rounds: int, tol: float, n_add: int,
                   solver: str, solver_tol: float, seed: Any, exact: bool | None,
                   n_samples: int, prune: bool, warm: bool, history: list[dict],
                   level: int) -> tuple[NeuronDictionary, Solution, Certificate, int]:
    """The rounds of :func:`column_generation`; one progress line per round at ``level``."""
    from . import backends
    from .lasso import solve_lasso
    from .memory import check_memory
    D_out = get_loss(loss).encode(np.asarray(Y)).T.shape[1]
    idle = np.zeros(dic.K, dtype=int)
    sol = None
    cert = None
    rounds = 0
    V_prev: np.ndarray | None = None
    c_prev: np.ndarray | None = None
    for rounds in range(1, max_rounds + 1):
        t0 = time.perf_counter()
        check_memory(X.shape[0], X.shape[1], D_out, dic.K, what="dictionary",
                     fix="lower n_init, n_add or max_rounds, or use fewer samples")
        Phi = dic.features(X)
        if warm:
            # nnlasso's working-set loop, warm-started from the previous round (new rows = 0)
            from .lasso import _Problem, _solve_working_set
            prob = _Problem(Phi, Y, loss, skip_arg, None, None, solver_tol)
            sol, res_ws = _solve_working_set(prob, lam, backends.NATIVE, None, 1e-6, t0, V0=V_prev,
                                             c0=c_prev)
            c_prev = res_ws.c
        else:
            sol = solve_lasso(Phi, Y, lam, loss=loss, skip=skip_arg, solver=solver,
                              tol=solver_tol)
        t_solve = time.perf_counter() - t0
        Z = _solution_fit(sol, Phi, X_skip)
        Q, T, res = dual_residual(Z, Y, loss=loss, skip=skip_arg)
        # warm starts of the (sampling) oracle: the active neurons and the last argmax
        starts = dic.W[sol.active]
        if cert is not None:
            starts = np.vstack([starts, cert.argmax[0].reshape(1, -1)])
        cert, sup = certify_residual(X, Q, lam, T=T, loss=loss, objective=sol.objective,
                                     skip=skip_arg, exact=exact, tol=tol, n_samples=n_samples,
                                     seed=None if seed is None else hash((seed, rounds)) % 2**32,
                                     n_top=n_add, starts=starts)
        cert.details["skip_residual"] = res
        Wc, bc, vc = sup.candidates
        viol = vc / lam > 1 + tol
        Wc, bc = Wc[viol], bc[viol]
        if Wc.shape[0]:
            wb_old = np.column_stack([dic.W, dic.b])
            scale = 1.0 + np.abs(dic.b).max(initial=0.0)
            new = [i for i in range(Wc.shape[0])
                   if np.min(np.abs(wb_old - np.append(Wc[i], bc[i])).max(axis=1),
                             initial=np.inf) > 1e-10 * scale]
            Wc, bc = Wc[new], bc[new]
        rec = {"round": rounds, "K": dic.K, "active": sol.n_active,
               "objective": float(sol.objective), "rel_gap": float(sol.rel_gap),
               "max_ratio": cert.max_ratio, "upper_ratio": cert.upper_ratio,
               "exact": cert.exact, "added": int(Wc.shape[0]), "solve_time": t_solve,
               "certificate_time": float(cert.details.get("time", 0.0))}
        history.append(rec)
        logger.log(level, "column generation round %3d  K=%5d  active=%4d  objective=%.10g  "
                   "sup|eta|/lam=%.6f%s  added=%d  (%.2fs + %.2fs)", rounds, dic.K,
                   sol.n_active, sol.objective, cert.max_ratio,
                   "" if cert.exact else " (lower bound)", Wc.shape[0], rec["solve_time"],
                   rec["certificate_time"])
        if cert.certified or Wc.shape[0] == 0 or rounds == max_rounds:
            break                  # (the dictionary returned is the one ``sol`` was solved on)
        Vk = sol.V
        if prune:
            idle = np.where(np.isin(np.arange(dic.K), sol.active), 0, idle + 1)
            keep = idle < 3
            if not np.all(keep):
                dic, idle, Vk = dic.subset(keep), idle[keep], Vk[keep]
        dic = dic.append(Wc, bc)
        idle = np.concatenate([idle, np.zeros(Wc.shape[0], dtype=int)])
        V_prev = np.vstack([Vk, np.zeros((Wc.shape[0], Vk.shape[1]))])
    assert sol is not None and cert is not None
    return dic, sol, cert, rounds
