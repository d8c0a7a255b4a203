"""Neuron dictionaries: fixed first-layer neurons whose output weights a convex program chooses.

A dictionary holds K neurons ``(w_k, b_k)`` with unit-norm input weights ``|w_k|_2 = 1`` and the
feature map (docs/math.md, note the **minus** sign in front of the bias)

.. math::

    \\Phi[n, k] = \\sigma(w_k \\cdot x_n - b_k),

where ``sigma`` is the activation. For a positively 1-homogeneous activation
(``sigma(a z) = a sigma(z)`` for ``a > 0``: relu and leaky relu) a neuron ``(w, b, v)`` equals
``(w / |w|, b / |w|, v |w|)``, so fixing unit directions loses nothing and weight decay on the
output weights becomes the group lasso ``lam * sum_k |V[k, :]|_2``. The truncated power
``relu(z)^p`` is ``p``-homogeneous; for ``p != 1`` weight decay is *not* a group lasso, and
:meth:`NeuronDictionary.require_group_lasso` says so.

Samplers: :func:`sample_neurons` (random hyperplanes through the data, or spread over its range)
and :func:`knot_neurons` (d = 1: knots at the data points, exact for the 1D problem).
"""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from ._validation import as_matrix, check_seed
from .errors import InvalidProblemError

__all__ = ["ACTIVATIONS", "NeuronDictionary", "sample_neurons", "knot_neurons", "cluster_rows"]

#: Activations understood by :class:`NeuronDictionary`.
ACTIVATIONS = ("relu", "leaky_relu", "relu_power")

_GROUP_LASSO_MSG = ("only degree-1 positively homogeneous activations (relu, leaky relu) turn "
                    "weight decay into the group lasso")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _as_neuron_arrays(W: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``W`` (K, d) and ``b`` (K,) as finite float64 arrays; K = 0 is allowed."""
    try:
        W = np.array(W, dtype=np.float64)
        b = np.array(b, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"W, b: cannot be read as numeric arrays ({exc})") from None
    if W.ndim == 1:
        W = W[:, None]                      # K neurons in one dimension
    if W.ndim != 2 or W.shape[1] == 0:
        raise InvalidProblemError(f"W: expected shape (K, d) with d >= 1, got {W.shape}")
    b = b.reshape(-1) if b.ndim == 0 else b
    if b.ndim != 1 or b.shape[0] != W.shape[0]:
        raise InvalidProblemError(f"b: expected shape ({W.shape[0]},) (one bias per row of W), "
                                  f"got {b.shape}")
    for name, arr in (("W", W), ("b", b)):
        if not np.all(np.isfinite(arr)):
            raise InvalidProblemError(f"{name}: contains NaN or infinite values")
    return W, b


def _check_activation(activation: str, alpha: float, degree: int) -> tuple[str, float, int]:
    """Validate the activation name and its parameters."""
    if activation not in ACTIVATIONS:
        raise InvalidProblemError(f"activation: unknown value {activation!r}; use one of "
                                  f"{', '.join(ACTIVATIONS)}")
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise InvalidProblemError(f"alpha: must be finite, got {alpha!r}")
    if activation != "leaky_relu" and alpha != 0.0:
        raise InvalidProblemError(f"alpha={alpha} is only meaningful for activation='leaky_relu'")
    if isinstance(degree, bool) or not isinstance(degree, Integral) or degree < 1:
        raise InvalidProblemError(f"degree: must be an integer >= 1, got {degree!r}")
    degree = int(degree)
    if activation != "relu_power" and degree != 1:
        raise InvalidProblemError(f"degree={degree} is only meaningful for "
                                  "activation='relu_power'")
    return activation, alpha, degree


def _check_count(n: Any, name: str) -> int:
    """Return ``n`` as an int >= 1 or raise."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise InvalidProblemError(f"{name}: must be an integer >= 1, got {n!r}")
    return int(n)


def cluster_rows(Z: np.ndarray, tol: float, *, antipodal: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clustering of the rows of ``Z`` that agree to ``tol`` in the max-norm.

    Row ``i`` joins the cluster of the first earlier representative ``r`` with
    ``max_j |Z[i, j] - Z[r, j]| <= tol`` (sign +1) or, if ``antipodal``, with
    ``max_j |Z[i, j] + Z[r, j]| <= tol`` (sign -1). Runs in O(K log K) with a k-d tree.

    Returns
    -------
    rep : (K,) int array
        Index of the representative of each row (``rep[r] == r`` for representatives).
    sign : (K,) array of +1 / -1
        +1 if the row is a duplicate of its representative, -1 if it is its antipode.
    """
    from scipy.spatial import cKDTree

    K = Z.shape[0]
    rep = np.arange(K)
    sign = np.ones(K)
    if K <= 1:
        return rep, sign
    tree = cKDTree(Z)
    same = tree.query_ball_point(Z, r=tol, p=np.inf)
    anti = tree.query_ball_point(-Z, r=tol, p=np.inf) if antipodal else [[] for _ in range(K)]
    assigned = np.zeros(K, dtype=bool)
    for i in range(K):
        if assigned[i]:
            continue
        assigned[i] = True
        for j in same[i]:
            if not assigned[j]:
                assigned[j], rep[j], sign[j] = True, i, 1.0
        for j in anti[i]:
            if not assigned[j]:
                assigned[j], rep[j], sign[j] = True, i, -1.0
    return rep, sign


# ---------------------------------------------------------------------------------------------
# the dictionary
# ---------------------------------------------------------------------------------------------

class NeuronDictionary:
    """K fixed neurons ``(w_k, b_k)`` with unit input weights and an activation.

    Features (minus-bias convention of docs/math.md)::

        features(X)[n, k] = sigma(w_k . x_n - b_k)

    with ``sigma`` one of

    * ``"relu"``: ``sigma(z) = max(z, 0)`` (homogeneity degree 1),
    * ``"leaky_relu"``: ``sigma(z) = max(z, 0) + alpha * min(z, 0)`` (degree 1),
    * ``"relu_power"``: ``sigma(z) = max(z, 0) ** degree`` (degree ``degree``).

    Parameters
    ----------
    W : array (K, d)
        Input weights. Rows are normalized on construction: ``(w, b) -> (w, b) / |w|_2``, which
        keeps the hyperplane ``w . x = b`` (and, for a 1-homogeneous activation, the feature up to
        the positive factor ``|w|``). Zero rows are rejected. A 1-D ``W`` means d = 1.
    b : array (K,)
        Biases (subtracted).
    activation : {"relu", "leaky_relu", "relu_power"}
    alpha : float
        Negative-side slope of the leaky relu.
    degree : int
        Exponent of the truncated power ``relu(z)^degree``.
    """

    def __init__(self, W: Any, b: Any, activation: str = "relu", alpha: float = 0.0,
                 degree: int = 1) -> None:
        W, b = _as_neuron_arrays(W, b)
        norms = np.linalg.norm(W, axis=1)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise InvalidProblemError(f"W: row(s) {zero[:10].tolist()} are zero; a neuron needs "
                                      "a nonzero direction w (drop these neurons)")
        self.activation, self.alpha, self.degree = _check_activation(activation, alpha, degree)
        self.W = W / norms[:, None]
        self.b = b / norms

    # -- basic properties ----------------------------------------------------------------------
    @property
    def K(self) -> int:
        """Number of neurons."""
        return int(self.W.shape[0])

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.W.shape[1])

    def __len__(self) -> int:
        return self.K

    def __repr__(self) -> str:
        extra = {"leaky_relu": f", alpha={self.alpha}",
                 "relu_power": f", degree={self.degree}"}.get(self.activation, "")
        return f"NeuronDictionary(K={self.K}, d={self.d}, activation={self.activation!r}{extra})"

    @property
    def homogeneity_degree(self) -> int:
        """``p`` with ``sigma(a z) = a^p sigma(z)`` for ``a > 0`` (1 for relu / leaky relu)."""
        return self.degree if self.activation == "relu_power" else 1

    def require_group_lasso(self, context: str = "fit_shallow") -> None:
        """Raise :class:`InvalidProblemError` unless weight decay here is a group lasso.

        For a p-homogeneous activation, rescaling ``(w, b, v) -> (a w, a b, v / a^p)`` keeps the
        neuron; minimizing ``1/2 (a^2 |w|^2 + |v|^2 / a^(2p))`` over ``a`` gives a multiple of
        ``|v|^(2/(p+1))``, which is the norm ``|v|`` (a group lasso) only for ``p = 1``.
        """
        if self.homogeneity_degree != 1:
            raise InvalidProblemError(
                f"{context}: activation {self.activation!r} with degree {self.degree} is "
                f"{self.homogeneity_degree}-homogeneous, but {_GROUP_LASSO_MSG}; use "
                "activation='relu' or 'leaky_relu'")

    # -- features ------------------------------------------------------------------------------
    def activate(self, Z: np.ndarray) -> np.ndarray:
        """Apply the activation elementwise to pre-activations ``Z``."""
        if self.activation == "relu":
            return np.maximum(Z, 0.0)
        if self.activation == "leaky_relu":
            return np.maximum(Z, 0.0) + self.alpha * np.minimum(Z, 0.0)
        return np.maximum(Z, 0.0) ** self.degree

    def pre_activation(self, X: Any) -> np.ndarray:
        """``X W^T - b``, shape (N, K); ``X`` is (N, d) (or (N,) when d = 1)."""
        X = as_matrix(X, "X", allow_1d=True)
        if X.shape[1] != self.d:
            raise InvalidProblemError(f"X: has {X.shape[1]} columns but the dictionary's neurons "
                                      f"have d = {self.d} inputs; pass X of shape (N, {self.d})")
        return X @ self.W.T - self.b

    def features(self, X: Any) -> np.ndarray:
        """Feature matrix ``Phi[n, k] = sigma(w_k . x_n - b_k)``, float64 of shape (N, K)."""
        return self.activate(self.pre_activation(X))

    # -- building dictionaries -----------------------------------------------------------------
    def _like(self, W: np.ndarray, b: np.ndarray) -> "NeuronDictionary":
        return NeuronDictionary(W, b, self.activation, self.alpha, self.degree)

    def subset(self, idx: Any) -> "NeuronDictionary":
        """The neurons ``idx`` (integer indices or a boolean mask of length K)."""
        idx = np.asarray(idx)
        if idx.dtype == bool and idx.shape != (self.K,):
            raise InvalidProblemError(f"idx: boolean mask of shape {idx.shape}, expected "
                                      f"({self.K},)")
        if idx.dtype != bool:
            idx = idx.astype(np.intp).reshape(-1)
            if idx.size and (idx.min() < -self.K or idx.max() >= self.K):
                raise InvalidProblemError(f"idx: indices must lie in [0, {self.K})")
        return self._like(self.W[idx], self.b[idx])

    def append(self, W: Any, b: Any) -> "NeuronDictionary":
        """A new dictionary with the neurons ``(W, b)`` (normalized the same way) appended."""
        W, b = _as_neuron_arrays(W, b)
        if W.shape[1] != self.d:
            raise InvalidProblemError(f"W: has {W.shape[1]} columns, the dictionary has "
                                      f"d = {self.d}")
        return self._like(np.vstack([self.W, W]), np.concatenate([self.b, b]))

    def concat(self, other: "NeuronDictionary") -> "NeuronDictionary":
        """This dictionary followed by ``other`` (same d and activation required)."""
        if not isinstance(other, NeuronDictionary):
            raise InvalidProblemError("concat: expected a NeuronDictionary")
        same = (other.activation, other.alpha, other.degree) == (self.activation, self.alpha,
                                                                  self.degree)
        if not same:
            raise InvalidProblemError(f"concat: activations differ ({self!r} vs {other!r})")
        return self.append(other.W, other.b)

    def unique(self, tol: float = 1e-9, antipodal: bool = True) -> "NeuronDictionary":
        """Remove duplicate neurons and, optionally, one of each antipodal pair.

        Neurons i and j are duplicates when ``max |(w_i, b_i) - (w_j, b_j)| <= tol`` and
        antipodal when ``max |(w_i, b_i) + (w_j, b_j)| <= tol``. For a relu,
        ``relu(z) - relu(-z) = z`` is affine (for a leaky relu,
        ``sigma(z) - sigma(-z) = (1 + alpha) z``), so with a free affine skip ``C x + c0`` the
        antipode adds nothing to the span of the features. The first neuron of each group is
        kept (order preserved). For ``relu_power`` with degree > 1 the difference is
        ``z^p``, not affine: ``antipodal=True`` is refused there.
        """
        if antipodal and self.homogeneity_degree != 1:
            raise InvalidProblemError(
                "unique(antipodal=True): antipodal neurons are affine-redundant only for degree-1 "
                "activations (relu(z) - relu(-z) = z); pass antipodal=False for relu_power")
        if not (np.isfinite(tol) and tol >= 0):
            raise InvalidProblemError(f"tol: must be a finite number >= 0, got {tol!r}")
        rep, _ = cluster_rows(np.column_stack([self.W, self.b]), tol, antipodal=antipodal)
        return self.subset(np.flatnonzero(rep == np.arange(self.K)))


# ---------------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------------

def _unit_directions(rng: np.random.Generator, K: int, d: int) -> np.ndarray:
    """K directions uniform on the sphere S^{d-1} (normalized standard Gaussians)."""
    G = rng.standard_normal((K, d))
    norms = np.linalg.norm(G, axis=1)
    while np.any(norms == 0):           # probability zero, but never divide by 0
        bad = norms == 0
        G[bad] = rng.standard_normal((int(bad.sum()), d))
        norms = np.linalg.norm(G, axis=1)
    return G / norms[:, None]


def sample_neurons(X: Any, n_neurons: int, *, method: str = "data", seed: Any = None,
                   activation: str = "relu", alpha: float = 0.0,
                   degree: int = 1) -> NeuronDictionary:
    """Random neurons adapted to the data ``X`` (N, d).

    Directions ``w = g / |g|`` with ``g ~ N(0, I_d)`` are uniform on the sphere S^{d-1}.
    Biases (subtracted: the feature is ``sigma(w . x - b)``):

    * ``method="data"``: ``b = w . x_m`` for a data point ``m`` drawn uniformly, so every
      hyperplane passes through a data point and cuts the data (no neuron is identically zero
      or affine on the data, unless the data lie on one side of it only at ``x_m``);
    * ``method="sphere"``: ``b ~ Uniform[min_n w . x_n, max_n w . x_n]``.

    Parameters
    ----------
    X : array (N, d) (or (N,) for d = 1)
    n_neurons : int >= 1
    method : {"data", "sphere"}
    seed : None, int or numpy.random.Generator
        Passed to :func:`numpy.random.default_rng`; equal seeds give equal dictionaries.
    activation, alpha, degree
        As in :class:`NeuronDictionary`.
    """
    X = as_matrix(X, "X", allow_1d=True)
    K = _check_count(n_neurons, "n_neurons")
    if method not in ("data", "sphere"):
        raise InvalidProblemError(f"method: unknown value {method!r}; use 'data' or 'sphere'")
    rng = np.random.default_rng(check_seed(seed))
    W = _unit_directions(rng, K, X.shape[1])
    P = X @ W.T                                         # (N, K) projections w_k . x_n
    if method == "data":
        m = rng.integers(0, X.shape[0], size=K)
        b = P[m, np.arange(K)]
    else:
        lo, hi = P.min(axis=0), P.max(axis=0)
        b = lo + (hi - lo) * rng.random(K)
    return NeuronDictionary(W, b, activation=activation, alpha=alpha, degree=degree)


def knot_neurons(x: Any, *, include_min: bool = True) -> NeuronDictionary:
    """1D relu neurons with knots at the data points: ``relu(x - t)`` for distinct data ``t``.

    ``w = +1`` and ``b = t`` for the distinct sorted values ``t_1 < ... < t_M`` of ``x``. The knot
    at the largest point ``t_M`` is dropped (its feature is identically 0 on the data). The knot
    at the smallest point gives ``relu(x - t_1) = x - t_1`` on the data: affine, hence redundant
    when the fit has a free skip ``C x + c0``; it is kept by default (``include_min=True``) so
    the dictionary also spans the piecewise-linear interpolants without a skip.

    Together with a skip this dictionary is exact for 1D weight decay training (docs/math.md,
    "One dimension: trend filtering"): the lasso over it is linear trend filtering on the uneven grid.

    Parameters
    ----------
    x : array (N,) or (N, 1)
    include_min : bool
        Keep the (affine on the data) knot at the smallest point.
    """
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[1] != 1:
        raise InvalidProblemError(f"x: knot_neurons is for d = 1, got shape {arr.shape} "
                                  f"(d = {arr.shape[1]}); use sample_neurons for d > 1")
    X = as_matrix(arr, "x", allow_1d=True)
    t = np.unique(X[:, 0])
    knots = t[:-1] if include_min else t[1:-1]
    if knots.size == 0:
        raise InvalidProblemError(f"x: has {t.size} distinct value(s); knot_neurons needs at "
                                  f"least {2 if include_min else 3}")
    return NeuronDictionary(np.ones((knots.size, 1)), knots)

