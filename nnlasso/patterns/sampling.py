"""Activation patterns 1[X g - h >= 0]: their count bound, exact enumeration and sampling."""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from .._validation import as_matrix, check_seed
from ..errors import InvalidProblemError

_RAY_TOL = 1e-9  # relative tolerance for "a lifted point lies on a hyperplane through a ray"


def pattern_count_bound(N: int, d: int) -> int:
    """Upper bound on the number of distinct patterns 1[X g - h >= 0] of N points in R^d.

    ``2 * sum_{k=0}^{d} C(N-1, k)``: the number of regions of a central arrangement of N
    hyperplanes in general position in R^{d+1} (the lifted points (x_n, -1)); attained for
    points in general position (no d+1 of them on a common affine hyperplane). The count
    includes the all-zero and the all-one pattern.
    """
    if N <= 0:
        return 1
    return 2 * sum(math.comb(N - 1, k) for k in range(0, d + 1))


def _unique_rows(P: np.ndarray) -> np.ndarray:
    """Distinct rows of a boolean matrix, in order of first appearance."""
    if P.shape[0] == 0:
        return P
    packed = np.packbits(P, axis=1)
    _, idx = np.unique(packed, axis=0, return_index=True)
    return P[np.sort(idx)]


def _reduce_rank(V: np.ndarray) -> np.ndarray:
    """Express the rows of V in an orthonormal basis of their span (keeps all inner products)."""
    _, s, Vt = np.linalg.svd(V, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return V[:, :0]
    r = int(np.sum(s > s[0] * max(V.shape) * np.finfo(float).eps * 10))
    return V @ Vt[:r].T


def _cells(V: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """Sign vectors (True = positive side) of all regions of the central arrangement {v_n . t = 0}.

    Every region of an essential central arrangement in R^m is a pointed cone, so it has an
    extreme ray; a ray is the null vector r of m-1 linearly independent v_n. The regions around
    +r and -r have the signs of V r off the set T = {n : v_n . r = 0} and, on T, the signs of a
    region of the local arrangement {v_n : n in T} (in r-perp). In general position T is the
    subset itself and every one of its 2^(m-1) sign vectors occurs; otherwise the local
    arrangement is enumerated by recursion. Rows of V must be nonzero.
    """
    M = V.shape[0]
    if M == 0:
        return np.zeros((1, 0), dtype=bool)
    V = _reduce_rank(V)
    m = V.shape[1]
    if m == 1:
        pos = V[:, 0] > 0
        return _unique_rows(np.vstack([pos, ~pos]))
    norms = np.linalg.norm(V, axis=1)
    k = m - 1
    bits = np.array(list(itertools.product([False, True], repeat=k)), dtype=bool)  # (2^k, k)
    out: list[np.ndarray] = []
    subsets = itertools.combinations(range(M), k)
    while True:
        S = np.array(list(itertools.islice(subsets, chunk)), dtype=np.intp)
        if S.size == 0:
            break
        _, s, Vt = np.linalg.svd(V[S], full_matrices=True)  # (C, k, m)
        ok = s[:, -1] > s[:, 0] * _RAY_TOL * 10
        S, r = S[ok], Vt[ok, -1, :]                       # r: (C, m) unit null vectors
        if S.shape[0] == 0:
            continue
        proj = r @ V.T                                    # (C, M)
        on = np.abs(proj) <= _RAY_TOL * norms[None, :]
        on[np.arange(S.shape[0])[:, None], S] = True
        simple = on.sum(axis=1) == k
        if np.any(simple):
            Ss, base = S[simple], proj[simple] > 0
            C = Ss.shape[0]
            for sign_base in (base, ~base):
                blk = np.repeat(sign_base[:, None, :], bits.shape[0], axis=1)  # (C, 2^k, M)
                blk[np.arange(C)[:, None, None], np.arange(bits.shape[0])[None, :, None],
                    Ss[:, None, :]] = bits[None, :, :]
                out.append(_unique_rows(blk.reshape(-1, M)))
        for c in np.flatnonzero(~simple):
            T = np.flatnonzero(on[c])
            loc = V[T] - np.outer(V[T] @ r[c], r[c])
            local = _cells(loc)
            for sgn in (1.0, -1.0):
                base = sgn * proj[c] > 0
                blk = np.repeat(base[None, :], local.shape[0], axis=0)
                blk[:, T] = local
                out.append(blk)
    if not out:
        return np.zeros((0, M), dtype=bool)
    return _unique_rows(np.vstack(out))


def enumerate_patterns(X: Any, *, max_patterns: int = 100_000,
                       keep_zero: bool = False) -> np.ndarray:
    """All distinct activation patterns 1[X g - h >= 0] over (g, h) in R^d x R, exactly.

    The patterns are the regions of the central arrangement of the lifted points
    z_n = (x_n, -1) in R^{d+1} (a pattern on a lower-dimensional face equals the pattern of a
    neighbouring region, since moving (g, h) along (0, -1) increases every z_n . (g, h)).
    Each region is found from an extreme ray: the null vector of d lifted points, both signs,
    with all 2^d sign choices on those d points (a recursion handles degenerate data with more
    than d points on a hyperplane through the ray). Cost O(C(N, d) 2^(d+1) N).

    Parameters
    ----------
    X : array (N, d)
        Data (duplicate rows are allowed).
    max_patterns : int
        Refuse (before enumerating) when the bound 2 sum_{k<=d} C(N-1, k) exceeds this.
    keep_zero : bool
        Keep the all-zero pattern (useless in the program: its blocks never touch the fit).

    Returns
    -------
    patterns : bool array (P, N)
        Row i is the pattern D_i. P = 2 sum_{k<=d} C(N-1, k) - 1 for points in general position
        (the -1: the all-zero pattern is left out unless ``keep_zero``). The all-one pattern is
        included.

    Raises
    ------
    InvalidProblemError
        When the bound exceeds ``max_patterns`` (use :func:`sample_patterns`).
    """
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    bound = pattern_count_bound(N, d)
    if bound > max_patterns:
        raise InvalidProblemError(
            f"enumerate_patterns: N={N}, d={d} can have up to {bound:,} activation patterns "
            f"(2 sum_{{k<=d}} C(N-1, k)), more than max_patterns={max_patterns:,}; use "
            "sample_patterns(X, n_patterns) (fit_patterns(..., n_patterns=1000)) or raise "
            "max_patterns")
    Z = np.hstack([X, -np.ones((N, 1))])
    pats = _cells(Z)
    if not keep_zero:
        pats = pats[pats.any(axis=1)]
    return np.ascontiguousarray(pats)


def sample_patterns(X: Any, n_patterns: int, *,
                    seed: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample activation patterns from hyperplanes through the data.

    Draws g uniform on the unit sphere S^{d-1} and h = g . x_m for a uniformly random data point
    m, so every hyperplane {x : g . x = h} cuts the data (point m is on it and counted as
    active: the pattern is 1[X g - h >= 0] with entry m forced to 1 against rounding).
    Duplicate patterns are removed (the first draw is kept), so P <= n_patterns; the all-zero
    pattern cannot occur.

    Returns
    -------
    patterns : bool array (P, N)
    G : array (P, d), unit gate directions g_i
    h : array (P,), thresholds h_i (pattern i = 1[X g_i - h_i >= 0])
    """
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    try:
        n = int(n_patterns)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"n_patterns: expected a positive integer, got "
                                  f"{n_patterns!r}") from None
    if n < 1 or n != n_patterns:
        raise InvalidProblemError(f"n_patterns: expected a positive integer, got {n_patterns!r}")
    rng = np.random.default_rng(check_seed(seed))
    G = rng.standard_normal((n, d))
    nrm = np.linalg.norm(G, axis=1)
    while np.any(nrm == 0):  # pragma: no cover - probability zero
        bad = nrm == 0
        G[bad] = rng.standard_normal((int(bad.sum()), d))
        nrm = np.linalg.norm(G, axis=1)
    G /= nrm[:, None]
    m = rng.integers(0, N, size=n)
    h = np.einsum("pd,pd->p", G, X[m])
    pats = (X @ G.T - h[None, :] >= 0).T
    pats[np.arange(n), m] = True
    packed = np.packbits(pats, axis=1)
    _, idx = np.unique(packed, axis=0, return_index=True)
    idx = np.sort(idx)
    return np.ascontiguousarray(pats[idx]), G[idx], h[idx]
