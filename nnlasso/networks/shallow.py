"""Shallow ReLU networks with a skip connection: :class:`ShallowReLUNet`
``f(x) = sum_k v_k relu(w_k . x - b_k) + C^T x + c0`` (balance, canonical form, TV2)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..dictionary import cluster_rows
from ..errors import InvalidProblemError
from .common import _check_bias, _check_inputs, _float_array, relu

if TYPE_CHECKING:
    from .mlp import MLP


class ShallowReLUNet:
    """Two-layer ReLU network with an unpenalized affine skip connection.

    ``f(x) = sum_k v_k relu(w_k . x - b_k) + skip_coef^T x + intercept`` (bias **subtracted**).

    Parameters
    ----------
    W : array (K, d)
        Input weights (rows not normalized; a 1-D array means d = 1). K = 0 is allowed.
    b : array (K,)
        Biases (subtracted).
    V : array (K, D) or (K,)
        Output weights. A 1-D ``V`` means one output, and :meth:`predict` then returns a 1-D
        array.
    skip_coef : array (d, D) or (d,) or None
        Linear skip ``C`` (None: no linear skip).
    intercept : array (D,), float or None
        Output bias ``c0`` (added).
    """

    def __init__(self, W: Any, b: Any, V: Any, skip_coef: Any = None,
                 intercept: Any = None) -> None:
        W = _float_array(W, "W", np.ndim(W) if np.ndim(W) in (1, 2) else 2)
        if W.ndim == 1:
            W = W[:, None]
        if W.shape[1] == 0:
            raise InvalidProblemError(f"W: expected shape (K, d) with d >= 1, got {W.shape}")
        K, d = W.shape
        b = _float_array(b, "b", 1)
        if b.shape != (K,):
            raise InvalidProblemError(f"b: expected shape ({K},), got {b.shape}")
        V = _float_array(V, "V", np.ndim(V) if np.ndim(V) in (1, 2) else 2)
        self._one_output = V.ndim == 1
        if V.ndim == 1:
            V = V[:, None]
        if V.shape[0] != K or V.shape[1] == 0:
            raise InvalidProblemError(f"V: expected shape ({K}, D) or ({K},), got {V.shape}")
        D = V.shape[1]
        self.W, self.b, self.V = W, b, V
        self.skip_coef = None if skip_coef is None else self._skip(skip_coef, d, D)
        self.intercept = None if intercept is None else self._icpt(intercept, D)

    @staticmethod
    def _skip(C: Any, d: int, D: int) -> np.ndarray:
        C = _float_array(C, "skip_coef", np.ndim(C) if np.ndim(C) in (1, 2) else 2)
        if C.ndim == 1 and D == 1:
            C = C[:, None]
        if C.shape != (d, D):
            raise InvalidProblemError(f"skip_coef: expected shape ({d}, {D}), got {C.shape}")
        return C

    @staticmethod
    def _icpt(c0: Any, D: int) -> np.ndarray:
        c0 = _float_array(np.atleast_1d(c0), "intercept", 1)
        if c0.shape != (D,):
            raise InvalidProblemError(f"intercept: expected shape ({D},), got {c0.shape}")
        return c0

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        """Number of hidden neurons K (zero neurons included)."""
        return int(self.W.shape[0])

    K = n_neurons

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.W.shape[1])

    @property
    def D(self) -> int:
        """Number of outputs."""
        return int(self.V.shape[1])

    def __repr__(self) -> str:
        return (f"ShallowReLUNet(K={self.n_neurons}, d={self.d}, D={self.D}, "
                f"skip={self.skip_coef is not None}, intercept={self.intercept is not None})")

    def _new(self, W: np.ndarray, b: np.ndarray, V: np.ndarray, C: np.ndarray | None,
             c0: np.ndarray | None) -> "ShallowReLUNet":
        """A net of the same output convention (1-D predictions when built with a 1-D V)."""
        return _make_block(W, b, V, C, c0, self._one_output)

    def _affine_parts(self) -> tuple[np.ndarray, np.ndarray]:
        C = np.zeros((self.d, self.D)) if self.skip_coef is None else self.skip_coef.copy()
        c0 = np.zeros(self.D) if self.intercept is None else self.intercept.copy()
        return C, c0

    # -- evaluation ------------------------------------------------------------------------------
    def hidden_features(self, X: Any) -> np.ndarray:
        """``relu(X W^T - b)``, shape (N, K)."""
        X = _check_inputs(X, self.d)
        return relu(X @ self.W.T - self.b)

    def _output(self, X: np.ndarray) -> np.ndarray:
        """``f(X)`` as an (N, D) array for inputs already checked (no 1-D squeeze)."""
        out = relu(X @ self.W.T - self.b) @ self.V
        if self.skip_coef is not None:
            out = out + X @ self.skip_coef
        if self.intercept is not None:
            out = out + self.intercept
        return out

    def predict(self, X: Any) -> np.ndarray:
        """``f(X)``: shape (N, D), or (N,) when the net was built with a 1-D ``V``."""
        out = self._output(_check_inputs(X, self.d))
        return out[:, 0] if self._one_output else out

    # -- norms -----------------------------------------------------------------------------------
    def in_norms(self, bias: str = "unpenalized") -> np.ndarray:
        """``|w_k|_2`` (or ``|(w_k, b_k)|_2`` with ``bias="penalized"``), shape (K,)."""
        if _check_bias(bias):
            return np.sqrt(np.sum(self.W ** 2, axis=1) + self.b ** 2)
        return np.linalg.norm(self.W, axis=1)

    def out_norms(self) -> np.ndarray:
        """``|v_k|_2``, shape (K,)."""
        return np.linalg.norm(self.V, axis=1)

    def path_norm(self, bias: str = "unpenalized") -> float:
        """Path norm ``PN = sum_k |w_k|_2 |v_k|_2`` (``|(w_k, b_k)|_2`` if bias="penalized")."""
        return float(np.sum(self.in_norms(bias) * self.out_norms()))

    def weight_decay(self, bias: str = "unpenalized") -> float:
        """``WD = 1/2 sum_k (|w_k|^2 + |v_k|^2)`` (plus ``b_k^2`` if bias="penalized").

        The skip connection is never penalized. ``WD >= PN`` with equality iff balanced.
        """
        return float(0.5 * np.sum(self.in_norms(bias) ** 2 + self.out_norms() ** 2))

    def is_balanced(self, tol: float = 1e-8, bias: str = "unpenalized") -> bool:
        """Whether ``| |in_k| - |v_k| | <= tol * max(1, |in_k|, |v_k|)`` for every neuron."""
        a, v = self.in_norms(bias), self.out_norms()
        return bool(np.all(np.abs(a - v) <= tol * np.maximum(1.0, np.maximum(a, v))))

    def rebalance(self, bias: str = "unpenalized") -> "ShallowReLUNet":
        """One-shot rebalancing: ``(w_k, b_k, v_k) -> (a_k w_k, a_k b_k, v_k / a_k)``.

        ``a_k = sqrt(|v_k| / |in_k|)`` (``in_k = w_k`` or ``(w_k, b_k)``) minimizes
        ``1/2 (a^2 |in_k|^2 + |v_k|^2 / a^2)``, so afterwards ``|in_k| = |v_k| =
        sqrt(|in_k| |v_k|)`` and ``WD = PN``. The function is unchanged (relu is
        1-homogeneous). A dead neuron (``in_k = 0`` or ``v_k = 0``) is zeroed: its contribution,
        the constant ``v_k relu(-b_k)`` when ``w_k = 0``, moves into the intercept. Neuron
        indices are kept.
        """
        a_in, a_out = self.in_norms(bias), self.out_norms()
        W, b, V = self.W.copy(), self.b.copy(), self.V.copy()
        C, c0 = self.skip_coef, self.intercept
        live = (a_in > 0) & (a_out > 0)
        dead = ~live
        if np.any(dead):
            zero_w = dead & np.all(W == 0, axis=1)
            const = relu(-b[zero_w]) @ V[zero_w]
            if np.any(const != 0):
                c0 = const if c0 is None else c0 + const
            W[dead], b[dead], V[dead] = 0.0, 0.0, 0.0
        a = np.sqrt(a_out[live] / a_in[live])
        W[live] *= a[:, None]
        b[live] *= a
        V[live] /= a[:, None]
        return self._new(W, b, V, C, c0)

    # -- canonical form, TV2 ---------------------------------------------------------------------
    def canonical(self, X: Any = None, tol: float = 1e-10) -> "ShallowReLUNet":
        """Canonical form: unit-norm neurons, merged duplicates and antipodes, no zero neurons.

        Each neuron is written ``v relu(w . x - b) = a relu(u . x - c)`` with ``u = w / |w|``,
        ``c = b / |w|`` and ``a = v |w|``. Then

        1. neurons with ``w = 0`` are the constant ``v relu(-b)``: moved into the intercept;
        2. neurons with equal ``(u, c)`` (to ``tol``, max-norm) merge by summing ``a``;
        3. antipodal neurons ``(-u, -c)`` merge into ``(u, c)`` through
           ``relu(-z) = relu(z) - z``: their ``a`` is added and the affine part
           ``a (u' . x - c')`` moves into the skip; the orientation kept is the one whose
           largest-magnitude coordinate of ``u`` is positive (``u = +1`` for d = 1);
        4. neurons with ``|a| <= tol * max_j |a_j|`` are dropped;
        5. if ``X`` is given, neurons affine on the data (``u . x_n - c >= 0`` for all n, up to
           ``tol`` relative) move into the skip, and neurons zero on the data
           (``u . x_n - c <= 0`` for all n) are dropped.

        The function is unchanged (everywhere without ``X``, on the rows of ``X`` with it), up
        to ``tol``-sized merges. The skip and intercept are created if needed. Neurons are sorted
        lexicographically by ``(u, c)``.
        """
        if not (np.isfinite(tol) and tol >= 0):
            raise InvalidProblemError(f"tol: must be a finite number >= 0, got {tol!r}")
        C, c0 = self._affine_parts()
        used_skip, used_icpt = self.skip_coef is not None, self.intercept is not None
        norms = np.linalg.norm(self.W, axis=1)
        zero_w = norms == 0
        if np.any(zero_w):
            const = relu(-self.b[zero_w]) @ self.V[zero_w]
            if np.any(const != 0):
                c0 += const
                used_icpt = True
        keep = ~zero_w
        n = norms[keep]
        U, c, A = self.W[keep] / n[:, None], self.b[keep] / n, self.V[keep] * n[:, None]

        U, c, A, C, c0, anti = _merge_neurons(U, c, A, C, c0, tol)
        used_skip |= anti
        used_icpt |= anti
        scale = np.max(np.linalg.norm(self.V, axis=1) * norms) if self.n_neurons else 0.0
        big = np.linalg.norm(A, axis=1) > tol * scale
        U, c, A = U[big], c[big], A[big]

        if X is not None:
            X = _check_inputs(X, self.d)
            Z = X @ U.T - c
            zscale = tol * np.maximum(1.0, np.max(np.abs(Z), axis=0, initial=0.0))
            zero_on_data = np.max(Z, axis=0, initial=-np.inf) <= zscale
            affine = (np.min(Z, axis=0, initial=np.inf) >= -zscale) & ~zero_on_data
            if np.any(affine):
                C += U[affine].T @ A[affine]
                c0 -= c[affine] @ A[affine]
                used_skip = used_icpt = True
            rest = ~(affine | zero_on_data)
            U, c, A = U[rest], c[rest], A[rest]

        order = np.lexsort(np.column_stack([U, c]).T[::-1]) if len(c) else np.arange(0)
        return self._new(U[order], c[order], A[order], C if used_skip else None,
                         c0 if used_icpt else None)

    def tv2(self, tol: float = 1e-10) -> float:
        """Second-order total variation ``|f''|_M`` of a d = 1 network (docs/math.md).

        ``f'' = sum_k v_k |w_k| delta(x - t_k)`` with knots ``t_k = b_k / w_k`` (for either sign
        of ``w_k``: antipodal neurons merge via ``relu(-z) = relu(z) - z``), so

            TV2 = sum over distinct knots t of | sum_{k: t_k = t} v_k |w_k| |

        (Euclidean norm of the vector sum for D > 1). Knots closer than
        ``tol * max(1, |t|)`` count as one; neurons with ``w_k = 0`` are constants.
        """
        if self.d != 1:
            raise InvalidProblemError(f"tv2: defined for d = 1 inputs, this net has d = {self.d};"
                                      " use rtv2() for the multivariate (Radon) version")
        w = self.W[:, 0]
        nz = w != 0
        t = self.b[nz] / w[nz]
        A = self.V[nz] * np.abs(w[nz])[:, None]
        if t.size == 0:
            return 0.0
        order = np.argsort(t, kind="stable")
        t, A = t[order], A[order]
        new_group = np.diff(t) > tol * np.maximum(1.0, np.abs(t[1:]))
        group = np.concatenate([[0], np.cumsum(new_group)])
        sums = np.zeros((int(group[-1]) + 1, A.shape[1]))
        np.add.at(sums, group, A)
        return float(np.sum(np.linalg.norm(sums, axis=1)))

    def rtv2(self, X: Any = None, tol: float = 1e-10) -> float:
        """Radon-domain TV2 (representational cost) ``sum_j |a_j|_2`` of :meth:`canonical`.

        The canonical form has unit-norm neurons with output weights ``a_j``; for d = 1 this
        equals :meth:`tv2`. With ``X``, neurons affine or zero on the data are not counted.
        """
        return float(np.sum(np.linalg.norm(self.canonical(X, tol).V.reshape(-1, self.D), axis=1)))

    def to_mlp(self) -> "MLP":
        """The same function as a one-hidden-layer :class:`MLP` (requires no linear skip)."""
        if self.skip_coef is not None and np.any(self.skip_coef != 0):
            raise InvalidProblemError("to_mlp: this net has a nonzero linear skip C x, which an "
                                      "MLP cannot represent; call canonical() or drop the skip")
        from .mlp import MLP
        c0 = np.zeros(self.D) if self.intercept is None else self.intercept
        return MLP([self.W, self.V.T], [self.b, -c0])


def _make_block(W: np.ndarray, b: np.ndarray, V: np.ndarray, C: np.ndarray | None,
                c0: np.ndarray | None, one_output: bool) -> ShallowReLUNet:
    """A ShallowReLUNet from 2-D ``V`` and ``C``, built with 1-D ones when ``one_output``."""
    if one_output:
        return ShallowReLUNet(W, b, V[:, 0], None if C is None else C[:, 0], c0)
    return ShallowReLUNet(W, b, V, C, c0)


def _orientation(U: np.ndarray) -> np.ndarray:
    """+1 / -1 per row: the sign of the row's first largest-magnitude coordinate."""
    j = np.argmax(np.abs(U), axis=1)
    s = np.sign(U[np.arange(len(U)), j])
    s[s == 0] = 1.0
    return s


def _merge_neurons(U: np.ndarray, c: np.ndarray, A: np.ndarray, C: np.ndarray, c0: np.ndarray,
                   tol: float) -> tuple[np.ndarray, ...]:
    """Merge equal and antipodal unit neurons ``a relu(u . x - c)`` (see canonical)."""
    if len(c) == 0:
        return U, c, A, C, c0, False
    rep, sign = cluster_rows(np.column_stack([U, c]), tol, antipodal=True)
    reps = np.flatnonzero(rep == np.arange(len(c)))
    s = _orientation(U[reps])
    pos = np.empty(len(c), dtype=np.intp)
    pos[reps] = np.arange(len(reps))
    target = pos[rep]
    rel = sign * s[target]                  # +1: same orientation as the target, -1: antipode
    A_new = np.zeros((len(reps), A.shape[1]))
    np.add.at(A_new, target, A)
    anti = rel < 0
    if np.any(anti):                        # a relu(z) = a relu(-z) + a z
        C = C + U[anti].T @ A[anti]
        c0 = c0 - c[anti] @ A[anti]
    return U[reps] * s[:, None], c[reps] * s, A_new, C, c0, bool(np.any(anti))
