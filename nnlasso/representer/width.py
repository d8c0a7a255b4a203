"""Numerical ranks and the width bound of the representer theorem (docs/math.md, "Width bounds").

With P the orthogonal projector onto the complement of the free affine columns A = [X 1] (skip),
[1] (intercept only) or none, and r_aff = rank(A): one output (D = 1) has an optimal solution with
K <= N - r_aff active neurons; D outputs one with K <= rank(P Phi) * rank(P Psi).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_matrix
from ..affine import affine_basis, affine_columns, affine_rank, project_out, skip_parts  # noqa: F401
from ..errors import InvalidProblemError
from ..solution import Solution


_EPS = float(np.finfo(float).eps)


def _small_blas():
    """BLAS limited to one thread: reduction and certificates make many small dense calls, for
    which a multi-threaded BLAS only adds synchronization (and, on a loaded machine, spinning
    that made a 60 x 500 SVD take a second). Shared with the native solver (nnlasso.prox)."""
    from ..prox import _single_thread
    return _single_thread()


def rank_from_singular_values(s: np.ndarray, shape: tuple[int, ...], *,
                              scale: float | None = None, rtol: float | None = None) -> int:
    """The numerical-rank rule of nnlasso (width bounds, support reduction, compression).

    With s_1 >= s_2 >= ... the singular values of an m x n matrix,

        rank = #{i : s_i > tol},   tol = rtol * scale,   rtol = max(m, n) * eps by default,

    eps = 2.2e-16 the double-precision machine epsilon and ``scale`` = s_1 by default (the NumPy /
    LAPACK convention: a matrix and its multiples have the same rank). For a projected matrix
    P M pass ``scale = |M|_F`` of the *unprojected* M: projecting leaves rounding noise of size
    ~eps |M| that must not count. ``rtol`` gives a coarser rank (the effective ranks of
    :class:`nnlasso.compress.CompressionReport`: ``rtol = 1e-2``). 0 for an empty or zero s.
    """
    if s.size == 0 or not s[0] > 0:
        return 0
    ref = float(s[0]) if scale is None else float(scale)
    if not ref > 0:
        return 0
    tol = (max(shape) * _EPS if rtol is None else rtol) * ref
    return int(np.count_nonzero(s > tol))


def numerical_rank(M: np.ndarray, rtol: float | None = None) -> int:
    """Numerical rank #{i : s_i > tol} of ``M`` (m x n) with singular values s_1 >= s_2 >= ...

    ``tol = s_1 * max(m, n) * eps`` by default (the NumPy / LAPACK convention: scale aware, a
    matrix and its multiples have the same rank), or ``s_1 * rtol`` when ``rtol`` is given
    (:func:`rank_from_singular_values`).
    """
    M = np.asarray(M, dtype=float)
    if M.size == 0:
        return 0
    return rank_from_singular_values(np.linalg.svd(M, compute_uv=False), M.shape, rtol=rtol)


def projected_singular_values(M: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, float]:
    """(singular values of P M, |M|_F), P = I - U U^T (U = ``basis``, orthonormal columns).

    The pair :func:`rank_from_singular_values` needs for rank(P M) (``scale=|M|_F``); one SVD,
    with single-threaded BLAS (many small SVDs: threads only add synchronization).
    """
    M = np.asarray(M, dtype=float)
    if M.size == 0:
        return np.zeros(0), 0.0
    with _small_blas():
        s = np.linalg.svd(project_out(M, basis), compute_uv=False)
    return s, float(np.linalg.norm(M))


def projected_rank(M: np.ndarray, basis: np.ndarray) -> int:
    """Numerical rank of P M, P = I - U U^T (U an orthonormal basis of the affine columns).

    Singular values of P M count when above max(m, n) * eps * |M|_F: the scale is that of the
    unprojected M, since projecting leaves rounding noise of size ~eps |M| that must not count
    (for instance when the affine columns already span the features on the data). Without
    affine columns this is :func:`numerical_rank` with |M|_F in place of s_1.
    """
    M = np.asarray(M, dtype=float)
    s, scale = projected_singular_values(M, basis)
    return rank_from_singular_values(s, M.shape, scale=scale)


def bound_from_ranks(N: int, r_aff: int, rank_Phi: int, rank_Psi: int | None) -> int:
    """The width bound of the representer theorem from the ranks (the one formula).

    One output (``rank_Psi`` None or the fit has one column): min(N - r_aff, rank(P Phi));
    D > 1 outputs: rank(P Phi) * rank(P Psi). Callers pass ``rank_Psi=None`` for D = 1.
    """
    if rank_Psi is None:
        return int(min(N - r_aff, rank_Phi))
    return int(rank_Phi * rank_Psi)


def _skip_parts(skip: Any, N: int) -> tuple[np.ndarray | None, bool, np.ndarray, np.ndarray]:
    """(X_skip, intercept, A = [X 1], orthonormal basis of col(A)) for a ``skip`` argument."""
    X_skip, intercept = skip_parts(skip, N)
    return X_skip, intercept, affine_columns(X_skip, intercept, N), affine_basis(X_skip,
                                                                                 intercept, N)


def width_bound(Phi: Any, Y: Any, *, skip: Any = None) -> int:
    """Width bound of the representer theorem (docs/math.md, "Width bounds").

    One output (D = 1):   bound = min(N - r_aff, rank(P Phi))   (N - r_aff for any dictionary).
    D > 1 outputs:        bound = rank(P Phi) * rank(P Y)  (<= N^2),

    where r_aff = rank([X 1]) with ``skip=X``, 1 with ``"intercept"``, 0 with None, and P is
    the orthogonal projector onto the complement of those affine columns (the formula is
    :func:`bound_from_ranks`). Ranks are numerical ranks (:func:`projected_rank`: singular values
    of P M above max(m, n) * eps * |M|_F, :func:`rank_from_singular_values`). Some optimal
    solution has at most ``bound`` active neurons; :func:`reduce_support` builds one.

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
    rank_Psi = None if Yarr.shape[1] == 1 else projected_rank(Yarr, basis)
    return bound_from_ranks(N, basis.shape[1], projected_rank(Phi, basis), rank_Psi)


@dataclass
class WidthReport:
    """Result of :func:`check_width`.

    Attributes
    ----------
    K : active neurons of the solution (|V_k| > active_tol * max_j |V_j|).
    bound : min(N - r_aff, rank_Phi) (D = 1) or rank_Phi * rank_Psi (D > 1).
    holds : K <= bound.
    N, D : samples and outputs.   r_aff : rank of the free affine columns.
    rank_Phi : rank(P Phi).
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
        formula = "min(N - r_aff, rank(P Phi))" if self.D == 1 else "rank(P Phi) * rank(P Psi)"
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

    For D = 1 the bound is min(N - r_aff, rank(P Phi)). For D > 1 it is rank(P Phi) *
    rank(P Psi) with Psi = Y when ``Y`` is given and the problem is (MIN) or the squared loss,
    and Psi = the solution's fitted values otherwise (for the logistic / softmax losses the optimal directions lie in the
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
    if D > 1:
        use_y = Y is not None and (sol.problem == "min_norm" or sol.loss == "squared")
        if use_y:
            Psi = as_matrix(Y, "Y", allow_1d=True)
            psi = "Y"
        else:
            Psi = _solution_fit(sol, Phi, X_skip)
            psi = "fitted"
        rank_Psi = projected_rank(Psi, basis)
    bound = bound_from_ranks(N, r_aff, rank_Phi, rank_Psi)
    K = int(sol.n_active)
    return WidthReport(K=K, bound=int(bound), holds=K <= bound, N=N, D=D, r_aff=r_aff,
                       rank_Phi=rank_Phi, rank_Psi=rank_Psi, psi=psi)
