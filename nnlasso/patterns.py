"""Activation-pattern group lasso: the exact convex program of two-layer ReLU training (D = 1).

For data X (N, d), targets y (N,) and an activation pattern D_i = diag(1[X g_i - h_i >= 0]),
i = 1..P, every block (u, beta) in R^d x R contributes the pre-activation X u - beta 1 on the
samples of its pattern. With the lifted data Xl = [X, -1] (N, d+1) and theta = (u, beta):

    z = sum_i D_i Xl (theta_i - theta'_i) + C x + c0
    min  sum_n L(y_n, z_n) + lam * sum_i (|u_i|_2 + |u'_i|_2)                       (CONE)
    s.t. (2 D_i - I) Xl theta_i >= 0,   (2 D_i - I) Xl theta'_i >= 0

The cone constraints say that D_i really is the ReLU pattern of the neuron theta_i, so
D_i Xl theta_i = relu(Xl theta_i) and each nonzero block is the neuron

    w = u / sqrt|u|,  b = beta / sqrt|u|,  output weight v = +sqrt|u|   (-sqrt|u'| for theta'),

balanced (|w| = |v|) with |w| |v| = |u|: the penalty is the path norm and the recovered network
reproduces the objective exactly. With all patterns enumerated the program equals weight-decay
training of a two-layer ReLU network of any width >= the number of nonzero blocks; sampled
patterns give an upper bound. Dropping the constraints gives the **gated-ReLU relaxation**
(one block per pattern suffices there, since u - u' is free): a lower bound on (CONE) over the
same patterns, whose solution is a gated network 1[X g - h >= 0] (X u - beta), not a ReLU
network.

Bias conventions. ``bias="unpenalized"`` (Parhi-Nowak, the default of the cone program): only
|u| is penalized. ``bias="penalized"`` (Pilanci-Ergen / pyscnn): a ones column is appended to X
and the norm is |(u, beta)|_2. For the gated relaxation the unpenalized convention is
degenerate: a block with u = 0 adds the step function -beta D_i 1 at no cost, so with enough
patterns the data are interpolated for free; :func:`solve_patterns` therefore defaults to the
penalized bias when ``cone=False`` (pass ``bias="unpenalized"`` to get the degenerate relaxation
all the same).

Only one output is supported: for D > 1 outputs (or the softmax loss) the exact program is not a
group lasso any more; use a neuron dictionary (:func:`nnlasso.fit_shallow` with
``dictionary="data"`` or ``"adaptive"``).

The all-zero pattern is never used: its blocks do not touch the fit (D_i = 0), so their optimal
value is 0. :func:`enumerate_patterns` leaves it out (``keep_zero=True`` keeps it) and
:func:`solve_patterns` drops all-zero rows of the pattern matrix it is given.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps
from scipy.optimize import nnls

from . import backends
from ._validation import as_matrix, check_lam, check_seed, skip_matrix
from .errors import InvalidProblemError, SolverError
from .losses import get_loss
from ._logging import progress

logger = logging.getLogger(__name__)

__all__ = ["PatternSolution", "pattern_count_bound", "enumerate_patterns", "sample_patterns",
           "solve_patterns", "fit_patterns"]

_RAY_TOL = 1e-9  # relative tolerance for "a lifted point lies on a hyperplane through a ray"


# --------------------------------------------------------------------------------------------
# Patterns
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Solution
# --------------------------------------------------------------------------------------------

@dataclass
class PatternSolution:
    """Solution of the activation-pattern program (:func:`solve_patterns`).

    Attributes
    ----------
    W, b, V : arrays (K, d), (K,), (K, 1)
        The recovered network f(x) = sum_k V[k] relu(W[k] . x - b[k]) + skip_coef^T x +
        intercept: one neuron per active block (|u| > active_tol * max |u|), balanced, with
        sum_k |W[k]| |V[k]| = the program's penalty (penalized bias: |(W[k], b[k])| |V[k]|).
    skip_coef : array (d, 1) or None;  intercept : array (1,) or None
    objective : float
        sum_n L(y_n, z_n) + lam * penalty, recomputed in NumPy from the returned blocks.
    dual_objective, gap, rel_gap : float
        nnlasso's Lagrange dual value of a dual point it builds itself (see
        :func:`solve_patterns`), gap = objective - dual_objective, rel_gap = gap /
        max(|objective|, |dual_objective|).
    status : "optimal" when rel_gap <= max(tol, 1e-6), else the solver's status or
        "optimal_inaccurate".
    solver : the solver asked for ("auto" or a CVXPY name);  inner : the backend that solved
        the program (CLARABEL for "auto");  fallback : None (no backend takes over here)
    times : dict (build, compile, solve, dual, total; seconds)
    n_patterns : number of (nonzero) patterns used;  cone : whether the cone constraints were on
    bias : "unpenalized" | "penalized";  lam : float;  loss : str
    patterns : bool array (P, N)
    U, beta : arrays (B, d), (B,)
        Raw block variables (B = 2P with cones: rows P..2P-1 are the primed blocks; B = P
        gated). Block k has pattern ``block_pattern[k]`` and output sign ``block_sign[k]``.
    block_pattern, block_sign : int arrays (B,)
    active : int array, indices of the active blocks
    fitted : array (N,), the program's fit z
    network_objective : data loss of the recovered network (plain NumPy relu) + lam * its path
        norm. Equals ``objective`` up to the solver's constraint violation with cones; for the
        gated relaxation it is NOT guaranteed to (the gated fit need not be a ReLU network).
    max_violation : float, max_{i,n} of the negative part of (2 D_i - I) Xl theta_i (0 gated)
    dual_ratio : float, max_i |X^T w_i| / lam of the unscaled dual point (1 at the optimum)
    gates : (G, h) of sampled patterns, or None
    """

    W: np.ndarray
    b: np.ndarray
    V: np.ndarray
    skip_coef: np.ndarray | None
    intercept: np.ndarray | None
    objective: float
    dual_objective: float
    gap: float
    rel_gap: float
    status: str
    solver: str
    times: dict
    n_patterns: int
    cone: bool
    bias: str
    lam: float
    loss: str
    patterns: np.ndarray
    U: np.ndarray
    beta: np.ndarray
    block_pattern: np.ndarray
    block_sign: np.ndarray
    active: np.ndarray
    fitted: np.ndarray
    network_objective: float
    max_violation: float
    dual_ratio: float
    gates: tuple | None = None
    info: dict = field(default_factory=dict)
    inner: str | None = None
    fallback: str | None = None

    def __post_init__(self) -> None:
        if self.inner is None:
            self.inner = self.solver

    @property
    def n_active(self) -> int:
        """Number of neurons of the recovered network."""
        return int(self.W.shape[0])

    def predict(self, X: Any) -> np.ndarray:
        """Outputs (N, 1) of the recovered ReLU network (scores/logits for the logistic loss)."""
        X = as_matrix(X, "X", allow_1d=True)
        out = np.maximum(X @ self.W.T - self.b[None, :], 0.0) @ self.V
        if self.skip_coef is not None:
            out = out + X @ self.skip_coef
        if self.intercept is not None:
            out = out + self.intercept[None, :]
        return out

    def path_norm(self) -> float:
        """sum_k |w_k| |v_k| (penalized bias: sum_k |(w_k, b_k)| |v_k|)."""
        if self.bias == "penalized":
            wn = np.sqrt(np.sum(self.W ** 2, axis=1) + self.b ** 2)
        else:
            wn = np.linalg.norm(self.W, axis=1)
        return float(np.sum(wn * np.abs(self.V[:, 0])))

    def __repr__(self) -> str:
        kind = "cone" if self.cone else "gated"
        return (f"PatternSolution({kind}, {self.n_patterns} patterns, {self.n_active} neurons, "
                f"objective={self.objective:.10g}, gap={self.gap:.3g} (rel {self.rel_gap:.3g}), "
                f"status={self.status})")


# --------------------------------------------------------------------------------------------
# Program
# --------------------------------------------------------------------------------------------

def _check_patterns(patterns: Any, N: int) -> np.ndarray:
    if isinstance(patterns, tuple) and len(patterns) == 3:
        raise InvalidProblemError("patterns: got a tuple of 3 items, as returned by "
                                  "sample_patterns (patterns, G, h); pass its first item: "
                                  "pats, G, h = sample_patterns(X, n); solve_patterns(X, Y, "
                                  "lam, pats)")
    try:
        arr = np.asarray(patterns)
    except ValueError as exc:
        raise InvalidProblemError(f"patterns: cannot be read as a (P, N) 0/1 array ({exc}); pass "
                                  "a boolean array, e.g. the first item of sample_patterns(X, n)"
                                  ) from None
    if arr.ndim == 1 and N == arr.size:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != N:
        raise InvalidProblemError(f"patterns: expected a (P, N) 0/1 array with N = {N} columns "
                                  f"(one per sample), got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.all(np.isin(arr, [0, 1])):
            raise InvalidProblemError("patterns: entries must be 0/1 (or booleans): row i is the "
                                      "activation pattern 1[X g_i - h_i >= 0]")
        arr = arr.astype(bool)
    arr = arr[arr.any(axis=1)]
    if arr.shape[0] == 0:
        raise InvalidProblemError("patterns: every pattern is all-zero (no block touches the fit); "
                                  "use enumerate_patterns(X) or sample_patterns(X, n)")
    return _unique_rows(np.ascontiguousarray(arr))


def _skip_arg(skip: Any, X: np.ndarray) -> tuple[np.ndarray | None, bool]:
    if skip is True:
        return X, True
    return skip_matrix(skip, X.shape[0])


def _orth(F: np.ndarray) -> np.ndarray:
    if F.shape[1] == 0:
        return F
    Uf, s, _ = np.linalg.svd(F, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return F[:, :0]
    return Uf[:, s > s[0] * max(F.shape) * np.finfo(float).eps]


def _repair_equality(w: np.ndarray, mu: np.ndarray, s: np.ndarray,
                     xnorm: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Make 1^T (a + S mu) = 0 exact by the cheapest move of mu >= 0 (None if impossible)."""
    e = float(np.sum(w))
    if abs(e) <= 64 * np.finfo(float).eps * float(np.sum(np.abs(w)) + np.sum(mu)):
        return w, mu                    # zero up to the rounding of the sums
    # raising mu_n changes the sum by s_n: use a row with s_n = -sign(e) (smallest |x_n|)
    cand = np.flatnonzero(s == -np.sign(e))
    if cand.size:
        n = cand[np.argmin(xnorm[cand])]
        mu = mu.copy()
        mu[n] += abs(e)
        w = w.copy()
        w[n] += s[n] * abs(e)
        return w, mu
    # else lower mu on rows with s_n = sign(e), proportionally
    rows = np.flatnonzero((s == np.sign(e)) & (mu > 0))
    tot = float(np.sum(mu[rows]))
    if tot >= abs(e) and tot > 0:
        mu = mu.copy()
        w = w.copy()
        f = abs(e) / tot
        w[rows] -= s[rows] * mu[rows] * f
        mu[rows] *= 1.0 - f
        return w, mu
    return None


#: ``working_set="auto"`` uses the working-set loop when B N (cone rows; B (d+1) gated) exceeds this
_WS_AUTO_SIZE = 20_000


class _Program:
    """The pattern program of :func:`solve_patterns` on fixed data: restricted solves, the
    evaluation of a point, nnlasso's certificate, and the working-set loop.

    Blocks k = 0..B-1 have pattern ``bpat[k]`` and sign ``bsign[k]``; ``Mk`` (N, B) holds
    sigma_k D_k[n], ``Sg`` (N, B) the signs (2 D_k - 1)[n] of the cone rows.
    """

    # working-set rule (see solve_patterns, Notes)
    n_rows_init = 24        # cone rows per entering block: the least-slack rows of its direction
    near_tol = 1e-3         # rows re-added to a block with violations: slack < near_tol |theta|
    viol_tol = 1e-8         # a cone row is violated when its slack < -viol_tol |xl_n| max|theta|
    complement = True       # fit of blocks with |D_k| > N/2 through the complement pattern
    zero_tol = 1e-6         # a working block is zero when |theta_k| <= zero_tol max|theta|
    prune_below = 0.999     # zero working blocks with ratio < prune_below leave the working set

    def __init__(self, X, T, lam, lossobj, M, bpat, bsign, *, cone, bias, X_skip, intercept,
                 lin_block, solver, tol, options):
        N, d = X.shape
        self.X, self.T, self.y, self.lam, self.loss = X, T, T[:, 0], lam, lossobj
        self.N, self.d, self.e = N, d, d + 1
        self.Xl = np.hstack([X, -np.ones((N, 1))])
        self.xln = np.linalg.norm(self.Xl, axis=1)
        self.xnorm = np.linalg.norm(X, axis=1)
        self.cone, self.bias, self.unpen = cone, bias, bias == "unpenalized"
        self.Xc = X if self.unpen else self.Xl          # |Xc^T w_k| <= lam in the dual
        self.rho = 1e4 * max(1.0, float(np.max(np.abs(X))))
        self.XlR = np.hstack([X, -self.rho * np.ones((N, 1))])
        Mf = M.T.astype(np.float64)                     # (N, P)
        self.bpat, self.bsign, self.B = bpat, bsign, bpat.size
        self.Mk = Mf[:, bpat] * bsign[None, :]          # (N, B)
        self.Sg = (2.0 * Mf - 1.0)[:, bpat] if cone else None
        self.X_skip, self.intercept, self.lin_block = X_skip, intercept, lin_block
        free = []
        if X_skip is not None:
            free.append(X_skip)
        if intercept:
            free.append(np.ones((N, 1)))
        if self.unpen and not cone:
            free.append(Mf)
        self.Qf = _orth(np.hstack(free)) if free else None
        self.solver, self.tol, self.options = solver, tol, options

    # ---- restricted program ---------------------------------------------------------------
    def solve(self, blocks: np.ndarray, rows: list | None) -> dict:
        """Solve the program over the blocks ``blocks`` (all others fixed at 0) with, for the
        j-th of them, only the cone rows ``rows[j]`` (all N rows when ``rows`` is None).

        Returns the full-size block values ``th`` (B, d+1), the multipliers ``mu`` (B, N) of
        the included rows in the original row scaling (0 on every other row), the free part
        and the solver's status and timings.
        """
        blocks = np.asarray(blocks, dtype=np.intp)
        N, d, e, m = self.N, self.d, self.e, blocks.size
        # fit: a block with |D_k| > N/2 enters as sigma_k (Xl theta_k - (I - D_k) Xl theta_k),
        # the first term collected in one shared variable s = sum sigma_k theta_k (e entries):
        # the fit operator then has sum_k min(|D_k|, N - |D_k|) (d+1) nonzeros, and the
        # interior-point factorization's dense updates shrink accordingly
        Mk = self.Mk[:, blocks]
        comp = np.abs(Mk).sum(axis=0) > N / 2 if self.complement else np.zeros(m, dtype=bool)
        Mk = np.where(comp[None, :], Mk - self.bsign[blocks][None, :], Mk)
        rn, ck = np.nonzero(Mk)
        vals = Mk[rn, ck][:, None] * self.Xl[rn]
        A = sps.csr_matrix((vals.ravel(), (np.repeat(rn, e),
                                           (ck[:, None] * e + np.arange(e)[None, :]).ravel())),
                           shape=(N, m * e))
        theta = cp.Variable(m * e)
        Th = cp.reshape(theta, (m, e), order="C")
        penalty = cp.sum(cp.norm(Th[:, :d] if self.unpen else Th, 2, axis=1))
        z = A @ theta
        constraints = []
        if np.any(comp):
            jc = np.flatnonzero(comp)
            E = sps.csr_matrix((np.repeat(self.bsign[blocks][jc], e),
                                (np.tile(np.arange(e), jc.size),
                                 (jc[:, None] * e + np.arange(e)[None, :]).ravel())),
                               shape=(e, m * e))
            s_var = cp.Variable(e)
            constraints.append(s_var == E @ theta)
            z = z + self.Xl @ s_var
        Cv = c0 = ulin = None
        if self.lin_block:
            ulin = cp.Variable(d)
            z = z + self.X @ ulin
            penalty = penalty + cp.norm(ulin, 2)
        if self.X_skip is not None:
            Cv = cp.Variable(self.X_skip.shape[1])
            z = z + self.X_skip @ Cv
        if self.intercept:
            c0 = cp.Variable()
            z = z + c0
        con, rr, jj = None, None, None
        if self.cone:
            if rows is None:
                rr, jj = np.tile(np.arange(N), m), np.repeat(np.arange(m), N)
            else:
                rr = (np.concatenate([np.asarray(r, dtype=np.intp) for r in rows]) if m
                      else np.zeros(0, dtype=np.intp))
                jj = np.repeat(np.arange(m), [len(r) for r in rows])
            L = rr.size
            if L:
                # rows scaled to unit norm |xl_n| (better conditioned); mu is scaled back below
                gv = (self.Sg[rr, blocks[jj]] / self.xln[rr])[:, None] * self.Xl[rr]
                G = sps.csr_matrix((gv.ravel(), (np.repeat(np.arange(L), e),
                                                 (jj[:, None] * e + np.arange(e)).ravel())),
                                   shape=(L, m * e))
                con = G @ theta >= 0
                constraints.append(con)
        prob = cp.Problem(cp.Minimize(self.loss.expr(z, self.y) + self.lam * penalty),
                          constraints)
        info = backends.solve(prob, self.solver, self.tol, self.options)
        if theta.value is None:
            raise SolverError(f"{self.solver} returned no solution (status "
                              f"{info['cvxpy_status']}); try solver='SCS', fewer patterns or a "
                              "larger lam")
        th = np.zeros((self.B, e))
        th[blocks] = np.asarray(theta.value, dtype=float).reshape(m, e)
        mu = np.zeros((self.B, N)) if self.cone else None
        if con is not None and con.dual_value is not None:
            dv = np.asarray(con.dual_value, dtype=float).reshape(-1)
            mu[blocks[jj], rr] = np.maximum(dv, 0.0) / self.xln[rr]
        return {"th": th, "mu": mu,
                "C": None if Cv is None else np.asarray(Cv.value, dtype=float).reshape(-1),
                "c0": None if c0 is None else float(c0.value),
                "ulin": None if ulin is None else np.asarray(ulin.value, dtype=float).reshape(-1),
                **info}

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(self, res: dict) -> dict:
        """Fit z, block norms, objective (recomputed in NumPy) and the largest cone violation."""
        th = res["th"]
        pre = self.Xl @ th.T                                  # (N, B)
        zfit = np.sum(self.Mk * pre, axis=1)
        if res["C"] is not None:
            zfit = zfit + self.X_skip @ res["C"]
        if res["c0"] is not None:
            zfit = zfit + res["c0"]
        if res["ulin"] is not None:
            zfit = zfit + self.X @ res["ulin"]
        bnorm = np.linalg.norm(th[:, :self.d] if self.unpen else th, axis=1)
        lin_norm = 0.0 if res["ulin"] is None else float(np.linalg.norm(res["ulin"]))
        data_loss = float(self.loss.value(zfit[:, None], self.T))
        objective = float(data_loss + self.lam * (np.sum(bnorm) + lin_norm))
        max_violation = (float(max(0.0, -np.min(self.Sg * pre))) if self.cone and self.B
                         else 0.0)
        return {"zfit": zfit, "bnorm": bnorm, "lin_norm": lin_norm, "data_loss": data_loss,
                "objective": objective, "max_violation": max_violation, "pre": pre}

    # ---- certificate ----------------------------------------------------------------------
    def dual_point(self, zfit: np.ndarray) -> np.ndarray:
        """q = -grad L(z), projected onto the orthogonal complement of the free columns."""
        q = -self.loss.grad(zfit[:, None], self.T)[:, 0]
        if self.Qf is not None:
            q = q - self.Qf @ (self.Qf.T @ q)
        if self.loss.dual_value(q[:, None], self.T) == -np.inf:
            q = self.loss.clip(q[:, None], self.T)[:, 0]
        return q

    def _nnls(self, k: int, a: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Best multipliers of block k for w = a + s mu: min_{mu >= 0} |Xl^T w| (penalized) or
        |X^T w|^2 + rho^2 (1^T w)^2 then the exact repair of 1^T w = 0 (unpenalized)."""
        s = self.Sg[:, k]
        Xr = self.XlR if self.unpen else self.Xl
        try:
            mu = nnls(Xr.T * s[None, :], -(Xr.T @ a), maxiter=50 * self.N)[0]
        except RuntimeError:  # pragma: no cover - nnls iteration limit
            return None, np.inf
        w = a + s * mu
        if self.unpen:
            rep = _repair_equality(w, mu, s, self.xnorm)
            if rep is None:
                return None, np.inf
            w, mu = rep
        return mu, float(np.linalg.norm(self.Xc.T @ w)) / self.lam

    def block_ratios(self, q: np.ndarray, mu0: np.ndarray | None, need_below: float = 1.0,
                     nnls_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """r_k = min over the candidates of |Xc^T w_k| / lam, w_k = sigma_k D_k q + S_k mu_k.

        Gated: mu = 0 and r_k is exact. Cones: the candidate ``mu0[k]`` (repaired to satisfy
        the bias equality when unpenalized), and, when its ratio exceeds ``need_below`` (and
        ``nnls_mask[k]``, if given, is true), the NNLS multipliers of :meth:`_nnls`; returns the
        ratios and the multipliers used.
        """
        base = self.Mk * q[:, None]                            # (N, B): sigma D q
        if not self.cone:
            return np.linalg.norm(base.T @ self.Xc, axis=1) / self.lam, None
        mu = np.array(mu0, dtype=float, copy=True)
        Wm = base + self.Sg * mu.T
        if self.unpen:
            r = np.empty(self.B)
            for k in range(self.B):
                rep = _repair_equality(Wm[:, k], mu[k], self.Sg[:, k], self.xnorm)
                if rep is None:
                    r[k] = np.inf
                else:
                    mu[k] = rep[1]
                    r[k] = float(np.linalg.norm(self.X.T @ rep[0])) / self.lam
        else:
            r = np.linalg.norm(Wm.T @ self.Xl, axis=1) / self.lam
        need = r > need_below
        if nnls_mask is not None:
            need &= nnls_mask
        for k in np.flatnonzero(need):
            mu2, r2 = self._nnls(k, base[:, k])
            if mu2 is not None and r2 < r[k]:
                r[k], mu[k] = r2, mu2
        return r, mu

    def certify(self, zfit: np.ndarray, mu0: np.ndarray | None,
                nnls_mask: np.ndarray | None = None) -> dict:
        """nnlasso's dual point at the fit ``zfit`` over ALL blocks and rows: q, the ratios, the
        multipliers, t = 1 / max(1, max ratio) and the dual value -sum L*(-t q) (``nnls_mask``:
        see :meth:`block_ratios`; any multipliers give a valid dual point)."""
        q = self.dual_point(zfit)
        ratios, mu = self.block_ratios(q, mu0, nnls_mask=nnls_mask)
        dual_ratio = float(np.max(ratios)) if self.B else 0.0
        if self.lin_block:
            dual_ratio = max(dual_ratio, float(np.linalg.norm(self.X.T @ q)) / self.lam)
        if np.isfinite(dual_ratio):
            tscale = 1.0 / max(1.0, dual_ratio)
            dual = float(self.loss.dual_value(tscale * q[:, None], self.T))
        else:
            dual = -np.inf
        return {"q": q, "ratios": ratios, "mu": mu, "dual_ratio": dual_ratio, "dual": dual}

    @staticmethod
    def rel_gap(objective: float, dual: float) -> float:
        denom = max(abs(objective), abs(dual) if np.isfinite(dual) else 0.0,
                    np.finfo(float).tiny)
        return float((objective - dual) / denom)

    # ---- working set ----------------------------------------------------------------------
    def _entry_rows(self, ks: np.ndarray, q: np.ndarray, mu: np.ndarray) -> list:
        """Initial cone rows of entering blocks: the n_rows_init rows of least slack for the
        block's steepest feasible direction v_k = Xl^T (sigma_k D_k q + S_k mu_k) (for the
        penalized bias and NNLS multipliers, v_k is the projection of the gradient onto the
        block's cone), plus the support of mu_k."""
        Wm = self.Mk[:, ks] * q[:, None] + self.Sg[:, ks] * mu[ks].T      # (N, m)
        V = Wm.T @ self.Xl                                                # (m, e)
        slack = self.Sg[:, ks].T * (V @ self.Xl.T) / self.xln[None, :]    # (m, N)
        n0 = min(self.n_rows_init, self.N)
        out = []
        for j, k in enumerate(ks):
            sel = np.argpartition(slack[j], n0 - 1)[:n0] if n0 < self.N else np.arange(self.N)
            out.append(np.union1d(sel, np.flatnonzero(mu[k] > 0)))
        return out

    def solve_working_set(self, max_rounds: int = 50, level: int = logging.DEBUG
                          ) -> tuple[dict, dict, dict, dict]:
        """Block working set with cone-row generation (rule in :func:`solve_patterns`);
        one progress line per round on this module's logger at ``level``."""
        B, N = self.B, self.N
        t0 = time.perf_counter()
        # dual point of the zero network (exact residual of the free fit for the squared loss)
        q = self.dual_point(np.zeros(N))
        mu_cache = np.zeros((B, N)) if self.cone else None
        r, mu_cache = self.block_ratios(q, mu_cache)
        n_init = min(B, max(1, self.n_init_blocks()))
        order = np.argsort(-r, kind="stable")
        init = order[:n_init]
        init = init[r[init] > 1.0] if np.any(r[init] > 1.0) else order[:1]
        inW = np.zeros(B, dtype=bool)
        inW[init] = True
        rows: dict[int, np.ndarray] = {}
        if self.cone:
            rows.update(zip(init.tolist(), self._entry_rows(init, q, mu_cache)))
        hist, t_solve, t_compile = [], 0.0, 0.0
        rounds = 0
        while True:
            rounds += 1
            blocks = np.flatnonzero(inW)
            res = self.solve(blocks, [rows[k] for k in blocks] if self.cone else None)
            t_solve += res["solve"]
            t_compile += res["compile"]
            ev = self.evaluate(res)
            # -- cone rows: add violated rows (and the near-active rows of the same block)
            n_new_rows = 0
            if self.cone:
                th = res["th"][blocks]
                nrm = np.linalg.norm(th, axis=1)
                top = float(np.max(nrm)) if nrm.size else 0.0
                slack = self.Sg[:, blocks] * ev["pre"][:, blocks] / self.xln[:, None]  # (N, m)
                bad = slack < -self.viol_tol * top
                for j in np.flatnonzero(bad.any(axis=0)):
                    k = int(blocks[j])
                    near = np.flatnonzero(slack[:, j] < self.near_tol * nrm[j])
                    new = np.setdiff1d(near, rows[k], assume_unique=True)
                    n_new_rows += new.size
                    rows[k] = np.union1d(rows[k], new)
            # -- blocks: certificate over all blocks and rows
            # (the NNLS re-solve of the working blocks' multipliers only sharpens the bound:
            # it is done when the round may be the last, i.e. no cone row was added)
            cert, rg = self._certify_round(res, ev, inW, mu_cache, exact_inside=n_new_rows == 0)
            if self.cone:
                mu_cache = cert["mu"]
            out = np.flatnonzero(~inW & (cert["ratios"] > 1.0))
            hist.append({"blocks": int(blocks.size),
                         "rows": int(sum(rows[k].size for k in blocks)) if self.cone else 0,
                         "objective": ev["objective"], "rel_gap": rg,
                         "new_rows": int(n_new_rows), "violators": int(out.size),
                         "solve": res["solve"] + res["compile"]})
            logger.log(level, "pattern working set round %d: %d blocks, %d cone rows, "
                       "objective %.10g, rel gap %.2e, %d new rows, %d violating blocks "
                       "(%.2fs)", rounds, hist[-1]["blocks"], hist[-1]["rows"],
                       ev["objective"], rg, n_new_rows, out.size, hist[-1]["solve"])
            if n_new_rows == 0 and (rg <= self.tol or out.size == 0):
                break
            if rounds >= max_rounds:
                break
            # -- drop blocks that are zero and clearly inactive (they re-enter if they violate)
            drop = blocks[(ev["bnorm"][blocks] <= self.zero_tol * max(float(np.max(ev["bnorm"])),
                                                                      ev["lin_norm"]))
                          & (cert["ratios"][blocks] < self.prune_below)]
            if drop.size < blocks.size:
                inW[drop] = False
                for k in drop.tolist():
                    rows.pop(k, None)
            if out.size:
                add = out[np.argsort(-cert["ratios"][out], kind="stable")][:self.n_add_blocks()]
                inW[add] = True
                if self.cone:
                    rows.update(zip(add.tolist(), self._entry_rows(add, cert["q"], mu_cache)))
        retry = None
        if (rg > self.tol and res["status"] != "optimal" and self.solver == "CLARABEL"
                and "static_regularization_constant" not in self.options):
            # Clarabel stopped "AlmostSolved" on the final program (seen at small lam: 1000 cone
            # patterns, lam = 0.001, certified gap 1.1e-6): the same program with 100x smaller
            # static regularization reached 1.0e-7 in one more solve (~8 s there)
            saved = self.options
            self.options = {**saved, "static_regularization_constant": 1e-10}
            try:
                blocks = np.flatnonzero(inW)
                res2 = self.solve(blocks, [rows[k] for k in blocks] if self.cone else None)
            finally:
                self.options = saved
            t_solve += res2["solve"]
            t_compile += res2["compile"]
            ev2 = self.evaluate(res2)
            cert2, rg2 = self._certify_round(res2, ev2, inW, mu_cache)
            retry = {"rel_gap_before": rg, "rel_gap_after": rg2}
            if rg2 < rg:
                res, ev, cert = res2, ev2, cert2
        info = {"rounds": rounds, "blocks": int(inW.sum()),
                "rows": int(sum(r_.size for r_ in rows.values())) if self.cone else 0,
                "history": hist, "compile": t_compile, "solve": t_solve,
                "total": time.perf_counter() - t0, "regularization_retry": retry}
        return res, ev, cert, info

    def _certify_round(self, res: dict, ev: dict, inW: np.ndarray, mu_cache: np.ndarray | None,
                       exact_inside: bool = True) -> tuple[dict, float]:
        """Certificate of a restricted solve over all blocks and rows, and its relative gap
        (working blocks start from the solver's multipliers, the others from the cache).
        ``exact_inside=False`` keeps the solver's multipliers of the working blocks (no NNLS
        re-solve there): still a valid dual point, possibly a weaker bound."""
        mu0 = np.where(inW[:, None], res["mu"], mu_cache) if self.cone else None
        cert = self.certify(ev["zfit"], mu0, nnls_mask=None if exact_inside else ~inW)
        return cert, self.rel_gap(ev["objective"], cert["dual"])

    def n_init_blocks(self) -> int:
        return max(10, self.N // 2)

    def n_add_blocks(self) -> int:
        return max(10, self.N // 2)


def solve_patterns(X: Any, Y: Any, lam: float, patterns: Any, *, loss: str = "squared",
                   skip: Any = True, cone: bool = True, bias: str | None = None,
                   solver: str = "auto", tol: float = 1e-8, options: dict | None = None,
                   active_tol: float = 1e-6, gates: tuple | None = None,
                   working_set: bool | str = "auto", max_rounds: int = 50,
                   verbose: bool = False) -> PatternSolution:
    """Solve the activation-pattern group lasso (cone-constrained or gated) for one output.

    Program (Xl = [X, -1], theta_k = (u_k, beta_k), block k has pattern D_{p(k)} and sign
    sigma_k = +1 / -1 for the primed blocks; F c the free affine part C x + c0)::

        min  sum_n L(y_n, z_n) + lam * sum_k |u_k|_2          (|theta_k|_2 if bias="penalized")
        z  = sum_k sigma_k D_{p(k)} Xl theta_k + F c
        s.t. (2 D_{p(k)} - I) Xl theta_k >= 0                 (cone=True only)

    It is built vectorized: theta is one variable (B, d+1) (B = 2P with cones, P gated), the fit
    is one sparse (N, B(d+1)) operator with entries D_{p(k)}[n] sigma_k Xl[n, j], the cone
    constraints one sparse block-diagonal inequality with entries (2D-1)[n, p(k)] Xl[n, j].

    **Duality gap (nnlasso's own).** The Lagrange dual is

        max_{q, mu >= 0}  -sum_n L*(-q_n)
        s.t. F^T q = 0,  and for every block k, with w_k = sigma_k D_k q + (2D_k - I) mu_k:
             |X^T w_k|_2 <= lam  and  1^T w_k = 0          (unpenalized bias)
             |Xl^T w_k|_2 <= lam                            (penalized bias)

    (mu_k = 0 without cones). nnlasso takes q = -grad L at the returned fit, projected onto
    the orthogonal complement of the free columns F (the skip [X 1] or [1]; for the gated
    program with unpenalized bias also every D_i 1, whose coefficients are free; with cones
    and unpenalized bias also 1 when the all-one pattern is present, since then u = 0,
    beta free is a free constant). For each block it takes the solver's multipliers of its
    cone constraints as mu_k, makes the bias equality exact by moving one mu_n (the cheapest
    feasible move), and, when that candidate violates |X^T w_k| <= lam, re-solves mu_k by a
    small nonnegative least-squares problem  min_{mu >= 0} |X^T w_k|^2 + rho^2 (1^T w_k)^2
    (rho = 1e4 max(1, max|X|)) followed by the same exact repair, keeping the better candidate.
    The bias equality thus holds up to floating-point rounding. Finally (q, mu) is scaled by
    t = 1 / max(1, max_k |X^T w_k| / lam), which keeps every equality and mu >= 0, and the dual
    value -sum L*(-t q) is a lower bound on the optimum over the given patterns. If some block
    admits no mu with the equality (cannot happen with a free intercept), the dual value is
    -inf and the gap inf.

    Parameters
    ----------
    X : array (N, d);  Y : array (N,) or (N, 1)
        Inputs and targets (labels in {0, 1} / {-1, +1} for ``loss="logistic"``).
    lam : float > 0
        Regularization, unaveraged loss (sum over samples, docs/math.md).
    patterns : bool array (P, N)
        Activation patterns (:func:`enumerate_patterns`, :func:`sample_patterns`); all-zero and
        duplicate rows are dropped.
    loss : "squared" | "logistic"
    skip : True (C x + c0, C on X), an (N, p) array (C on it, plus c0), "intercept" (c0) or None
    cone : bool
        Cone constraints (exact ReLU program) or the gated-ReLU relaxation.
    bias : "unpenalized" | "penalized" | None
        None: "unpenalized" with cones, "penalized" without (see the module docstring).
    solver, tol, options : backend solver name (CVXPY; the default "auto" is CLARABEL, since
        the native solver does not take cones or pattern blocks), tolerance, extra options. CLARABEL
        uses its multithreaded supernodal "faer" factorization unless ``options`` says otherwise.
    active_tol : float
        Block k is a neuron iff its norm > active_tol * max norm.
    gates : optional (G, h) stored on the solution.
    working_set : True | False | "auto"
        Solve through the working-set loop below (True) or as one program over all blocks and
        all N cone rows (False). "auto" (default) uses the loop when B N > 20000 (cone) or
        B (d+1) > 20000 (gated), B the number of blocks.
    max_rounds : int
        Cap on the loop's restricted solves; when it stops early the certificate (over all
        blocks and rows) says so: the status is then not "optimal".
    verbose : bool
        Log one line per working-set round at INFO on the logger ``"nnlasso.patterns"``
        (shown on stderr unless the application has configured logging); without it the lines
        go out at DEBUG. Nothing is printed to stdout.

    Returns
    -------
    PatternSolution
        ``info["working_set"]`` holds the loop's rounds, final working blocks and rows, and a
        per-round history (blocks, rows, objective, rel_gap, added rows, violating blocks).

    Notes
    -----
    **Working set** (``working_set=True``). Most blocks are zero at the optimum and most of the
    N cone rows of a nonzero block are slack (measured on diabetes, 200 patterns, lam = 0.01:
    263 of 400 blocks nonzero, each with about 9 rows of 442 active), so the loop solves
    restricted programs with the same backend:

    1. q0 = the dual point of the zero network (-grad L(0), projected off the free columns);
       each block's ratio r_k = min_{mu >= 0} |Xc^T (sigma_k D_k q0 + S_k mu)| / lam (Xc = Xl
       penalized, X unpenalized; NNLS), i.e. |Proj_{K_k}(c_k)| / lam with c_k = sigma_k Xl^T
       D_k q0 and K_k = {theta : S_k Xl theta >= 0} for the penalized bias. The working set
       starts with the max(10, N/2) blocks of largest r_k > 1.
    2. An entering block k gets the 24 cone rows of least slack S_k Xl v_k / |xl_n| along its
       steepest feasible direction v_k = Xl^T (sigma_k D_k q + S_k mu_k) (the projection of
       c_k onto K_k), plus the support of mu_k.
    3. Solve the program restricted to the working blocks (all others 0) and their rows; for
       a block with |D_k| > N/2 the fit is written through the complement pattern, sigma_k
       (Xl theta_k - (I - D_k) Xl theta_k), with sum_k sigma_k theta_k one shared variable.
    4. Rows: for every working block with a row of slack < -1e-8 |xl_n| max_j |theta_j|, add
       the rows of slack < 1e-3 |theta_k| |xl_n| (the violated ones included).
    5. Blocks: nnlasso's certificate below, over ALL blocks and ALL rows (multipliers of the
       rows outside the program are 0 before the NNLS re-solve; the working blocks keep the
       solver's multipliers, re-solved by NNLS only in a round that added no row, i.e. one
       that may be the last). Working blocks that are zero (|theta_k| <= 1e-6 max) with
       r_k < 0.999 leave the set; the max(10, N/2) outside blocks with the largest r_k > 1
       enter.
    6. Stop when no row was added and either the certified relative gap is <= ``tol`` or no
       block violates (r_k <= 1 outside the set: the restricted optimum is then optimal for
       the full program, up to the solver's accuracy), or after ``max_rounds`` solves.
    7. If the certified gap is then above ``tol`` and CLARABEL reported the last restricted
       solve inaccurate, that program is solved once more with static regularization 1e-10
       and the point with the smaller certified gap is kept (``regularization_retry``).

    A relaxed (row-restricted) program's optimum is only a lower bound and may be infeasible:
    the status is "optimal" only when the certified gap is within max(tol, 1e-6) and no cone
    row of any block is violated by more than 1e-6 |xl_n| max_k |theta_k|. CLARABEL runs the
    restricted programs with its QDLDL factorization (measured 2x faster than faer on them)
    unless ``options`` names a ``direct_solve_method``.

    Recovery: active block k gives w = u_k / sqrt(n_k), b = beta_k / sqrt(n_k),
    v = sigma_k sqrt(n_k) with n_k = |u_k| (|theta_k| for penalized bias); inactive blocks are
    dropped.

    The all-one pattern with cones and an unpenalized bias: its two blocks give
    X (u - u') - (beta - beta') with beta, beta' only bounded above, i.e. a linear term plus a
    *free constant* (an unbounded optimal set that interior-point solvers handle badly). The
    program therefore replaces them by a free intercept c0 and, when there is no linear skip
    (with one they are redundant and dropped), one unconstrained block X u_lin penalized by
    lam |u_lin| (no beta). Recovery: u_lin becomes the neuron w = u_lin / sqrt|u_lin|,
    b = min_n w . x_n (active on every sample), v = sqrt|u_lin|, with c0 += v b; without an
    output bias in the model (skip=None) the constant c0 becomes the neuron w = 0,
    b = -|c0|, v = sign(c0), which costs no path norm (it is the limit that the
    unpenalized-bias convention allows).
    """
    t_start = time.perf_counter()
    lossobj = get_loss(loss)
    if lossobj.name == "softmax":
        raise InvalidProblemError("loss='softmax': the activation-pattern program is exact only "
                                  "for one output (D = 1); for several outputs the exact program "
                                  "is not a group lasso: use a neuron dictionary (fit_shallow with "
                                  "dictionary='data' or 'adaptive')")
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    Yarr = np.asarray(Y)
    if Yarr.ndim == 2 and Yarr.shape[1] != 1:
        raise InvalidProblemError(f"Y: has {Yarr.shape[1]} outputs; the activation-pattern program "
                                  "is exact only for one output (D = 1): for D > 1 the exact "
                                  "program is not a group lasso, use a neuron dictionary "
                                  "(fit_shallow with dictionary='data' or 'adaptive')")
    if Yarr.ndim not in (1, 2):
        raise InvalidProblemError(f"Y: expected shape (N,) or (N, 1), got {Yarr.shape}")
    if Yarr.shape[0] != N:
        raise InvalidProblemError(f"Y: has {Yarr.shape[0]} rows but X has {N}")
    if lossobj.name == "squared":
        as_matrix(Yarr, "Y", allow_1d=True)
    targets = lossobj.encode(Yarr)
    T = targets.T
    y = T[:, 0]
    lam = check_lam(lam)
    if bias is None:
        bias = "unpenalized" if cone else "penalized"
    if bias not in ("unpenalized", "penalized"):
        raise InvalidProblemError(f"bias: expected 'unpenalized' or 'penalized', got {bias!r}")
    X_skip, intercept = _skip_arg(skip, X)
    M = _check_patterns(patterns, N)                       # (P, N)
    # unpenalized bias + cones: the all-one pattern's pair of blocks is an affine function with
    # a free constant (u = 0, beta free), so it is replaced by a free intercept plus, without a
    # linear skip, one unconstrained penalized linear block X u_lin (redundant with the skip)
    lin_block = const_neuron = False
    if cone and bias == "unpenalized" and np.any(M.all(axis=1)):
        M = M[~M.all(axis=1)]
        lin_block = X_skip is None
        const_neuron = not intercept
        intercept = True
    M_used = M
    P = M.shape[0]
    solver_name = backends.resolve(solver, is_qp=False)  # second-order cones: not a QP
    opts = dict(options or {})
    user_method = "direct_solve_method" in opts

    if P == 0:
        raise InvalidProblemError("patterns: only the all-one pattern was given; with an "
                                  "unpenalized bias it is an affine model (use the skip); pass "
                                  "more patterns")
    e = d + 1
    nb = 2 if cone else 1
    B = nb * P
    # the memory guard (nnlasso.memory) before the blocks D_i [X, -1] are built
    from .memory import check_memory
    check_memory(N, d, T.shape[1], B * e, what="patterns",
                 fix="pass fewer patterns (sample_patterns / n_patterns) or fewer samples")
    bpat = np.tile(np.arange(P), nb)
    bsign = np.repeat(np.array([1.0, -1.0])[:nb], P)
    prog = _Program(X, T, lam, lossobj, M, bpat, bsign, cone=bool(cone), bias=bias,
                    X_skip=X_skip, intercept=intercept, lin_block=lin_block,
                    solver=solver_name, tol=tol, options=opts)
    if working_set == "auto":
        use_ws = B * (N if cone else e) > _WS_AUTO_SIZE
    elif isinstance(working_set, (bool, np.bool_)):
        use_ws = bool(working_set)
    else:
        raise InvalidProblemError(f"working_set: expected True, False or 'auto', got "
                                  f"{working_set!r}")
    if solver_name == "CLARABEL" and not user_method:
        # measured (diabetes, 326 blocks, 26k cone rows): QDLDL 4.2 s, faer 8.6 s for the same
        # 39 iterations; faer is kept for the one-shot program, where it was measured faster
        prog.options = {**opts, "direct_solve_method": "qdldl" if use_ws else "faer"}
    t_build = time.perf_counter() - t_start
    if use_ws:
        with progress(logger, verbose) as level:
            res, ev, cert, ws_info = prog.solve_working_set(max_rounds=max_rounds, level=level)
        t_dual = ws_info["total"] - ws_info["solve"] - ws_info["compile"]
        res = {**res, "compile": ws_info["compile"], "solve": ws_info["solve"]}
    else:
        res = prog.solve(np.arange(B), None)
        ws_info = {"rounds": 1, "blocks": B, "rows": B * N if cone else 0}
        t_dual0 = time.perf_counter()
        ev = prog.evaluate(res)
        cert = prog.certify(ev["zfit"], res["mu"])
        t_dual = time.perf_counter() - t_dual0
    th, Cval, c0val, ulv = res["th"], res["C"], res["c0"], res["ulin"]
    U, beta = th[:, :d].copy(), th[:, d].copy()
    zfit, bnorm, lin_norm = ev["zfit"], ev["bnorm"], ev["lin_norm"]
    data_loss, objective, max_violation = ev["data_loss"], ev["objective"], ev["max_violation"]
    dual, dual_ratio = cert["dual"], cert["dual_ratio"]
    gap = max(objective - dual, 0.0)      # rounding never makes a certificate negative (gaps)
    denom = max(abs(objective), abs(dual) if np.isfinite(dual) else 0.0, np.finfo(float).tiny)
    rel_gap = float(gap / denom)
    info = {"status": res["status"], "cvxpy_status": res["cvxpy_status"],
            "compile": res["compile"], "solve": res["solve"]}
    # ---- recovery -----------------------------------------------------------------------
    top = max(float(np.max(bnorm)) if B else 0.0, lin_norm)
    act = np.flatnonzero(bnorm > active_tol * top) if top > 0 else np.zeros(0, dtype=np.intp)
    sq = np.sqrt(bnorm[act])
    W_net = U[act] / sq[:, None]
    b_net = beta[act] / sq
    V_net = (bsign[act] * sq)[:, None]
    skip_coef = None if Cval is None else Cval.reshape(-1, 1).copy()
    icpt = None if c0val is None else np.array([c0val])
    extra_W, extra_b, extra_V = [], [], []
    if lin_block and top > 0 and lin_norm > active_tol * top:
        # relu(w . x - b) with b = min_n w . x_n is linear on the data: v (X w - b) = X u_lin - v b
        w_l = ulv / np.sqrt(lin_norm)
        b_l = float(np.min(X @ w_l))
        v_l = np.sqrt(lin_norm)
        extra_W.append(w_l)
        extra_b.append(b_l)
        extra_V.append(v_l)
        icpt[0] += v_l * b_l
    if const_neuron:
        # no output bias in the model: the free constant c is the neuron relu(0 . x + |c|) sign(c)
        c = float(icpt[0])
        icpt = None
        if c != 0.0:
            extra_W.append(np.zeros(d))
            extra_b.append(-abs(c))
            extra_V.append(np.sign(c))
    if extra_W:
        W_net = np.vstack([W_net, np.array(extra_W)])
        b_net = np.concatenate([b_net, np.array(extra_b)])
        V_net = np.vstack([V_net, np.array(extra_V)[:, None]])
    net_out = np.maximum(X @ W_net.T - b_net[None, :], 0.0) @ V_net[:, 0]
    if skip_coef is not None:
        net_out = net_out + X_skip @ skip_coef[:, 0]
    if icpt is not None:
        net_out = net_out + icpt[0]
    if bias == "penalized":
        wn = np.sqrt(np.sum(W_net ** 2, axis=1) + b_net ** 2)
    else:
        wn = np.linalg.norm(W_net, axis=1)
    net_obj = float(lossobj.value(net_out[:, None], T) + lam * np.sum(wn * np.abs(V_net[:, 0])))

    from .lasso import certified_status, requested_name
    status = certified_status(info["status"], rel_gap, tol)
    # the gap certifies a point only if it is feasible: a cone row violated by more than
    # 1e-6 |xl_n| max_k |theta_k| (a row left out of the working set) is not "optimal"
    scale = float(np.max(np.linalg.norm(th, axis=1))) if B else 0.0
    if cone and status == "optimal" and scale > 0 and B:
        rel_viol = float(max(0.0, -np.min(prog.Sg * ev["pre"] / prog.xln[:, None]))) / scale
        if rel_viol > 1e-6:
            status = "optimal_inaccurate"
    t_total = time.perf_counter() - t_start
    times = {"build": t_build, "compile": info["compile"], "solve": info["solve"],
             "dual": t_dual, "total": t_total}
    return PatternSolution(
        W=W_net, b=b_net, V=V_net, skip_coef=skip_coef, intercept=icpt, objective=objective,
        dual_objective=dual, gap=float(gap), rel_gap=rel_gap, status=status,
        solver=requested_name(solver, solver_name), inner=solver_name, times=times, n_patterns=P, cone=bool(cone), bias=bias, lam=lam, loss=lossobj.name,
        patterns=M_used, U=U, beta=beta, block_pattern=bpat, block_sign=bsign.astype(int),
        active=act, fitted=zfit, network_objective=net_obj, max_violation=max_violation,
        dual_ratio=dual_ratio, gates=gates,
        info={"cvxpy_status": info["cvxpy_status"], "classes": targets.classes,
              "data_loss": float(data_loss), "working_set": ws_info})


def fit_patterns(X: Any, Y: Any, lam: float, *, n_patterns: int | None = None, seed: Any = None,
                 cone: bool = True, max_patterns: int = 100_000, **kw: Any) -> PatternSolution:
    """Enumerate (``n_patterns=None``) or sample activation patterns, then :func:`solve_patterns`.

    Parameters
    ----------
    X, Y, lam : the training problem (see :func:`solve_patterns`).
    n_patterns : None (all patterns, exact; refused above ``max_patterns``) or the number of
        sampled gates (:func:`sample_patterns`, duplicates removed).
    seed : seed of the sampler.
    cone : cone-constrained (exact ReLU) program or gated-ReLU relaxation.
    **kw : passed to :func:`solve_patterns` (loss, skip, bias, solver, tol, options, active_tol,
        working_set, max_rounds, verbose).
    """
    Xm = as_matrix(X, "X", allow_1d=True)
    t0 = time.perf_counter()
    gates = None
    if n_patterns is None:
        pats = enumerate_patterns(Xm, max_patterns=max_patterns)
    else:
        pats, G, h = sample_patterns(Xm, n_patterns, seed=seed)
        gates = (G, h)
    t_pat = time.perf_counter() - t0
    sol = solve_patterns(Xm, Y, lam, pats, cone=cone, gates=gates, **kw)
    sol.times["patterns"] = t_pat
    sol.times["total"] += t_pat
    return sol
