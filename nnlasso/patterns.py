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
import math
import time
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sps
from scipy.optimize import nnls

from . import backends
from ._validation import as_matrix, check_lam, skip_matrix
from .errors import InvalidProblemError, SolverError
from .losses import get_loss

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
    rng = np.random.default_rng(seed)
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
    solver : str;  times : dict (build, compile, solve, dual, total; seconds)
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
    arr = np.asarray(patterns)
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


def solve_patterns(X: Any, Y: Any, lam: float, patterns: Any, *, loss: str = "squared",
                   skip: Any = True, cone: bool = True, bias: str | None = None,
                   solver: str = "CLARABEL", tol: float = 1e-8, options: dict | None = None,
                   active_tol: float = 1e-6, gates: tuple | None = None) -> PatternSolution:
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
        Regularization, unaveraged loss (sum over samples, DESIGN §1).
    patterns : bool array (P, N)
        Activation patterns (:func:`enumerate_patterns`, :func:`sample_patterns`); all-zero and
        duplicate rows are dropped.
    loss : "squared" | "logistic"
    skip : True (C x + c0, C on X), an (N, p) array (C on it, plus c0), "intercept" (c0) or None
    cone : bool
        Cone constraints (exact ReLU program) or the gated-ReLU relaxation.
    bias : "unpenalized" | "penalized" | None
        None: "unpenalized" with cones, "penalized" without (see the module docstring).
    solver, tol, options : backend solver name (CVXPY), tolerance, extra options. CLARABEL
        uses its multithreaded supernodal "faer" factorization unless ``options`` says otherwise.
    active_tol : float
        Block k is a neuron iff its norm > active_tol * max norm.
    gates : optional (G, h) stored on the solution.

    Returns
    -------
    PatternSolution

    Notes
    -----
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
    if solver_name == "CLARABEL" and "direct_solve_method" not in opts:
        opts["direct_solve_method"] = "faer"

    if P == 0:
        raise InvalidProblemError("patterns: only the all-one pattern was given; with an "
                                  "unpenalized bias it is an affine model (use the skip); pass "
                                  "more patterns")
    e = d + 1
    Xl = np.hstack([X, -np.ones((N, 1))])
    nb = 2 if cone else 1
    B = nb * P
    bpat = np.tile(np.arange(P), nb)
    bsign = np.repeat(np.array([1.0, -1.0])[:nb], P)
    Mf = M.T.astype(np.float64)                             # (N, P)

    # fit operator: A[n, k*e + j] = sigma_k D_{p(k)}[n] Xl[n, j]
    Mk = Mf[:, bpat] * bsign[None, :]                       # (N, B)
    rows_n, cols_k = np.nonzero(Mk)
    vals = Mk[rows_n, cols_k][:, None] * Xl[rows_n]         # (nnz, e)
    A = sps.csr_matrix((vals.ravel(), (np.repeat(rows_n, e),
                                       (cols_k[:, None] * e + np.arange(e)[None, :]).ravel())),
                       shape=(N, B * e))
    theta = cp.Variable(B * e)
    Th = cp.reshape(theta, (B, e), order="C")
    pen_cols = Th[:, :d] if bias == "unpenalized" else Th
    penalty = cp.sum(cp.norm(pen_cols, 2, axis=1))
    z = A @ theta
    Cv = c0 = ulin = None
    if lin_block:
        ulin = cp.Variable(d)
        z = z + X @ ulin
        penalty = penalty + cp.norm(ulin, 2)
    if X_skip is not None:
        Cv = cp.Variable(X_skip.shape[1])
        z = z + X_skip @ Cv
    if intercept:
        c0 = cp.Variable()
        z = z + c0
    constraints = []
    con = None
    if cone:
        Sg = (2.0 * Mf - 1.0)[:, bpat]                       # (N, B)
        xln = np.linalg.norm(Xl, axis=1)                     # rows scaled to unit norm
        gv = (Sg.T[:, :, None] * (Xl / xln[:, None])[None, :, :]).ravel()   # (B, N, e)
        gr = np.repeat(np.arange(B * N), e)
        gc = np.tile((np.arange(B)[:, None, None] * e + np.arange(e)[None, None, :]),
                     (1, N, 1)).ravel()
        Gm = sps.csr_matrix((gv, (gr, gc)), shape=(B * N, B * e))
        con = Gm @ theta >= 0
        constraints.append(con)
    prob = cp.Problem(cp.Minimize(lossobj.expr(z, y) + lam * penalty), constraints)
    t_build = time.perf_counter() - t_start
    info = backends.solve(prob, solver_name, tol, opts)
    if theta.value is None:
        raise SolverError(f"{solver_name} returned no solution (status {info['cvxpy_status']}); "
                          "try solver='SCS', fewer patterns or a larger lam")
    t_dual0 = time.perf_counter()

    th = np.asarray(theta.value, dtype=float).reshape(B, e)
    U, beta = th[:, :d].copy(), th[:, d].copy()
    Cval = None if Cv is None else np.asarray(Cv.value, dtype=float).reshape(-1)
    c0val = None if c0 is None else float(c0.value)
    pre = Xl @ th.T                                          # (N, B)
    zfit = np.sum(Mk * pre, axis=1)
    if Cval is not None:
        zfit = zfit + X_skip @ Cval
    if c0val is not None:
        zfit = zfit + c0val
    bnorm = np.linalg.norm(U if bias == "unpenalized" else th, axis=1)
    ulv = None if ulin is None else np.asarray(ulin.value, dtype=float).reshape(-1)
    if ulv is not None:
        zfit = zfit + X @ ulv
    lin_norm = 0.0 if ulv is None else float(np.linalg.norm(ulv))
    data_loss = lossobj.value(zfit[:, None], T)
    objective = float(data_loss + lam * (np.sum(bnorm) + lin_norm))
    if cone:
        Sg = (2.0 * Mf - 1.0)[:, bpat]
        max_violation = float(max(0.0, -np.min(Sg * pre)))
    else:
        max_violation = 0.0

    # ---- dual point ---------------------------------------------------------------------
    q = -lossobj.grad(zfit[:, None], T)[:, 0]
    free = []
    if X_skip is not None:
        free.append(X_skip)
    if intercept:
        free.append(np.ones((N, 1)))
    if bias == "unpenalized" and not cone:
        free.append(Mf)
    if free:
        Qf = _orth(np.hstack(free))
        q = q - Qf @ (Qf.T @ q)
    if lossobj.dual_value(q[:, None], T) == -np.inf:
        q = lossobj.clip(q[:, None], T)[:, 0]
    ratios = np.zeros(B)
    feasible = True
    if not cone:
        Wt = (Mk * q[:, None]).T @ Xl                        # (B, e): Xl^T sigma D q
        ratios = np.linalg.norm(Wt[:, :d] if bias == "unpenalized" else Wt, axis=1) / lam
    else:
        mu_all = con.dual_value
        mu_all = (np.zeros((B, N)) if mu_all is None
                  else np.maximum(np.asarray(mu_all, dtype=float).reshape(B, N), 0.0)
                  / xln[None, :])
        Sg = (2.0 * Mf - 1.0)[:, bpat]
        xnorm = np.linalg.norm(X, axis=1)
        rho = 1e4 * max(1.0, float(np.max(np.abs(X))))
        XlR = np.hstack([X, -rho * np.ones((N, 1))])
        base = Mk * q[:, None]                               # (N, B): sigma D q
        Wmat = base + Sg * mu_all.T                          # (N, B)
        for k in range(B):
            s = Sg[:, k]
            cands = []
            w, mu = Wmat[:, k], mu_all[k]
            if bias == "unpenalized":
                rep = _repair_equality(w, mu, s, xnorm)
                if rep is not None:
                    cands.append(rep[0])
            else:
                cands.append(w)
            r0 = (np.linalg.norm(X.T @ cands[0] if bias == "unpenalized" else Xl.T @ cands[0])
                  / lam if cands else np.inf)
            if r0 > 1.0:
                Amat = (XlR if bias == "unpenalized" else Xl).T * s[None, :]
                rhs = -((XlR if bias == "unpenalized" else Xl).T @ base[:, k])
                try:
                    mu2 = nnls(Amat, rhs, maxiter=50 * N)[0]
                except RuntimeError:  # pragma: no cover - nnls iteration limit
                    mu2 = None
                if mu2 is not None:
                    w2 = base[:, k] + s * mu2
                    if bias == "unpenalized":
                        rep = _repair_equality(w2, mu2, s, xnorm)
                        if rep is not None:
                            cands.append(rep[0])
                    else:
                        cands.append(w2)
            if not cands:
                feasible = False
                ratios[k] = np.inf
                continue
            rs = [np.linalg.norm(X.T @ c if bias == "unpenalized" else Xl.T @ c) / lam
                  for c in cands]
            ratios[k] = min(rs)
    dual_ratio = float(np.max(ratios)) if B else 0.0
    if lin_block:
        dual_ratio = max(dual_ratio, float(np.linalg.norm(X.T @ q)) / lam)
    if feasible and np.isfinite(dual_ratio):
        tscale = 1.0 / max(1.0, dual_ratio)
        dual = float(lossobj.dual_value(tscale * q[:, None], T))
    else:
        dual = -np.inf
    gap = objective - dual
    denom = max(abs(objective), abs(dual) if np.isfinite(dual) else 0.0, np.finfo(float).tiny)
    rel_gap = float(gap / denom)
    t_dual = time.perf_counter() - t_dual0

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

    from .lasso import certified_status
    status = certified_status(info["status"], rel_gap, tol)
    t_total = time.perf_counter() - t_start
    times = {"build": t_build, "compile": info["compile"], "solve": info["solve"],
             "dual": t_dual, "total": t_total}
    return PatternSolution(
        W=W_net, b=b_net, V=V_net, skip_coef=skip_coef, intercept=icpt, objective=objective,
        dual_objective=dual, gap=float(gap), rel_gap=rel_gap, status=status, solver=solver_name,
        times=times, n_patterns=P, cone=bool(cone), bias=bias, lam=lam, loss=lossobj.name,
        patterns=M_used, U=U, beta=beta, block_pattern=bpat, block_sign=bsign.astype(int),
        active=act, fitted=zfit, network_objective=net_obj, max_violation=max_violation,
        dual_ratio=dual_ratio, gates=gates,
        info={"cvxpy_status": info["cvxpy_status"], "classes": targets.classes,
              "data_loss": float(data_loss)})


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
    **kw : passed to :func:`solve_patterns` (loss, skip, bias, solver, tol, options, active_tol).
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
