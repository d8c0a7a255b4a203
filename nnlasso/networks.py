"""ReLU networks: shallow networks with a skip connection and deep MLPs.

**Bias convention (read this first).** nnlasso *subtracts* biases, as in docs/math.md::

    shallow:  f(x) = sum_k v_k relu(w_k . x - b_k) + C^T x + c0
    deep:     h_0 = x,  h_l = relu(W_l h_{l-1} - b_l)  (l < L),  out = W_L h_{L-1} - b_L

scikit-learn and PyTorch *add* the bias (``x @ coef + intercept``): :meth:`MLP.from_sklearn` and
:meth:`MLP.from_torch` convert with ``b = -intercept``, and the ``.npz`` files of
:meth:`MLP.save` / :meth:`MLP.load` store nnlasso's (subtracted) ``b``. Weight matrices have
shape ``(n_out, n_in)`` (PyTorch's layout, the transpose of scikit-learn's ``coefs_``).

**Neural balance** (docs/math.md). relu is positively 1-homogeneous, so scaling a hidden
neuron's input weights (and bias) by ``a > 0`` and its output weights by ``1 / a`` keeps the
function. Weight decay ``WD = 1/2 sum_k (|w_k|^2 + |v_k|^2)`` is at least the path norm
``PN = sum_k |w_k| |v_k|``, with equality iff every neuron is balanced (``|w_k| = |v_k|``); the
gap is ``1/2 sum_k (|w_k| - |v_k|)^2``. ``bias="penalized"`` uses ``|(w_k, b_k)|`` in place of
``|w_k|`` everywhere (the "regularized bias" convention).
"""
from __future__ import annotations

import re
import zipfile
from numbers import Integral
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._validation import as_matrix, refuse_complex
from .dictionary import cluster_rows
from .errors import InvalidProblemError

__all__ = ["ShallowReLUNet", "MLP", "relu"]

_BIAS_MODES = ("unpenalized", "penalized")
_OUT_ACTIVATIONS = ("identity", "logistic", "softmax")


def relu(Z: np.ndarray) -> np.ndarray:
    """``max(Z, 0)`` elementwise."""
    return np.maximum(Z, 0.0)


def _check_bias(bias: str) -> bool:
    """Return True for the penalized-bias convention, False for the unpenalized one."""
    if bias not in _BIAS_MODES:
        raise InvalidProblemError(f"bias: unknown value {bias!r}; use 'unpenalized' (the "
                                  "Parhi-Nowak convention, default) or 'penalized'")
    return bias == "penalized"


def _float_array(A: Any, name: str, ndim: int) -> np.ndarray:
    """A finite float64 copy of ``A`` with ``ndim`` dimensions (empty axes allowed)."""
    refuse_complex(A, name)
    try:
        arr = np.array(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"{name}: cannot be read as a numeric array ({exc})") from None
    if arr.ndim != ndim:
        raise InvalidProblemError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidProblemError(f"{name}: contains NaN or infinite values")
    return arr


def _check_inputs(X: Any, d: int) -> np.ndarray:
    """Validate network inputs ``X`` (N, d); a 1-D ``X`` is accepted when d = 1."""
    X = as_matrix(X, "X", allow_1d=(d == 1))
    if X.shape[1] != d:
        raise InvalidProblemError(f"X: has {X.shape[1]} columns but the network has d = {d} "
                                  f"inputs; pass X of shape (N, {d})")
    return X


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


# =============================================================================================
# shallow networks
# =============================================================================================

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


# =============================================================================================
# deep networks
# =============================================================================================

class MLP:
    """Deep ReLU network ``h_l = relu(W_l h_{l-1} - b_l)``, linear last layer (bias subtracted).

    Parameters
    ----------
    weights : sequence of L arrays
        ``W_l`` of shape ``(n_l, n_{l-1})`` with ``n_0 = d`` inputs and ``n_L = D`` outputs.
        Hidden layers ``1 .. L-1`` (1-based, as everywhere in nnlasso) may have width 0.
    biases : sequence of L arrays
        ``b_l`` of shape ``(n_l,)``, **subtracted** (``b = -intercept`` for sklearn / torch).
    out_activation : {"identity", "logistic", "softmax"} or None
        Applied by :meth:`predict_proba` (classifiers) / :meth:`predict`. None: "identity"
        without ``classes``; with ``classes``, "logistic" for one output (binary, like
        scikit-learn) and "softmax" for several.
    classes : array or None
        Class labels of a classifier (scikit-learn's ``classes_``): 2 labels for one logistic
        output, D labels for softmax (multiclass) or D logistic outputs (multilabel).

    The arrays are stored read-only; every transforming method returns a new MLP.
    """

    def __init__(self, weights: Sequence[Any], biases: Sequence[Any], *,
                 out_activation: str | None = None, classes: Any = None) -> None:
        Ws, bs = _check_layers(weights, biases)
        self.weights = tuple(_readonly(W) for W in Ws)
        self.biases = tuple(_readonly(b) for b in bs)
        # C-contiguous (n_in, n_out) copies: x @ W^T in the same memory layout as sklearn's coefs_
        self._Wt = tuple(_readonly(np.ascontiguousarray(W.T)) for W in Ws)
        self.out_activation, self.classes = _check_output(out_activation, classes,
                                                          self.n_outputs)

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number L of weight layers (hidden layers + the output layer)."""
        return len(self.weights)

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Widths of the hidden layers 1 .. L-1."""
        return tuple(int(W.shape[0]) for W in self.weights[:-1])

    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.weights[-1].shape[0])

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def __repr__(self) -> str:
        kind = f", classes={len(self.classes)}" if self.is_classifier else ""
        return (f"MLP(d={self.n_inputs}, hidden={list(self.hidden_sizes)}, D={self.n_outputs}, "
                f"out_activation={self.out_activation!r}{kind})")

    def _new(self, Ws: Sequence[np.ndarray], bs: Sequence[np.ndarray]) -> "MLP":
        return MLP(Ws, bs, out_activation=self.out_activation, classes=self.classes)

    def _check_layer(self, layer: Any, *, output_ok: bool = False) -> int:
        """Validate a 1-based hidden-layer index (or the output layer L if ``output_ok``)."""
        top = self.n_layers if output_ok else self.n_layers - 1
        if isinstance(layer, bool) or not isinstance(layer, Integral) or not 1 <= layer <= top:
            what = "layers" if output_ok else "hidden layers"
            rng = f"1..{top}" if top >= 1 else "none"
            raise InvalidProblemError(f"layer: {layer!r} is out of range; this MLP has {what} "
                                      f"{rng} (1-based; hidden sizes {list(self.hidden_sizes)})")
        return int(layer)

    # -- evaluation ------------------------------------------------------------------------------
    def _run(self, X: Any, stop: int, *, activate_last: bool) -> np.ndarray:
        """Pre-activation of layer ``stop`` (1-based), or its relu when ``activate_last``."""
        H = _check_inputs(X, self.n_inputs)
        for l in range(stop):
            Z = H @ self._Wt[l]
            Z -= self.biases[l]
            if l < stop - 1 or activate_last:
                np.maximum(Z, 0.0, out=Z)
            H = Z
        return H

    def forward(self, X: Any) -> np.ndarray:
        """Raw outputs (logits for classifiers) ``W_L h_{L-1} - b_L``, always (N, D)."""
        return self._run(X, self.n_layers, activate_last=False)

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw outputs / logits; (N,) for one output, else (N, D)."""
        out = self.forward(X)
        return out[:, 0] if self.n_outputs == 1 else out

    def pre_activation(self, X: Any, layer: int) -> np.ndarray:
        """``W_l h_{l-1} - b_l`` for layer ``l`` in 1..L (L: the raw outputs), shape (N, n_l)."""
        layer = self._check_layer(layer, output_ok=True)
        return self._run(X, layer, activate_last=False)

    def hidden_features(self, X: Any, layer: int) -> np.ndarray:
        """Post-activation ``h_l = relu(W_l h_{l-1} - b_l)`` of hidden layer ``l`` (1-based)."""
        layer = self._check_layer(layer)
        return self._run(X, layer, activate_last=True)

    def layer_input(self, X: Any, layer: int) -> np.ndarray:
        """The input ``h_{l-1}`` of layer ``l`` in 1..L (``X`` itself for l = 1)."""
        layer = self._check_layer(layer, output_ok=True)
        if layer == 1:
            return _check_inputs(X, self.n_inputs)
        return self._run(X, layer - 1, activate_last=True)

    def _probabilities(self, Z: np.ndarray) -> np.ndarray:
        """The output activation, computed exactly as scikit-learn does."""
        if self.out_activation == "logistic":
            from scipy.special import expit
            return expit(Z)
        if self.out_activation == "softmax":
            P = np.exp(Z - Z.max(axis=1)[:, np.newaxis])
            P /= P.sum(axis=1)[:, np.newaxis]
            return P
        return Z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, n_classes) as scikit-learn's MLPClassifier.

        Binary (one logistic output p): columns ``[1 - p, p]``; softmax: the softmax of the
        logits; multilabel: the D logistic outputs.
        """
        if not self.is_classifier:
            raise InvalidProblemError("predict_proba: this MLP is a regressor (no classes); "
                                      "build it with classes=... or use predict()")
        P = self._probabilities(self.forward(X))
        if self.n_outputs == 1:
            p = P.ravel()
            return np.vstack([1 - p, p]).T
        return P

    def predict(self, X: Any) -> np.ndarray:
        """Predictions like scikit-learn: labels for classifiers, outputs for regressors.

        Regression: the outputs (after ``out_activation``), (N,) for one output. Binary:
        ``classes[p > 0.5]``; softmax: ``classes[argmax p]``; multilabel: the 0/1 indicator
        matrix ``p > 0.5``.
        """
        P = self._probabilities(self.forward(X))
        if not self.is_classifier:
            return P[:, 0] if self.n_outputs == 1 else P
        if self.n_outputs == 1:
            return self.classes[np.asarray(P.ravel() > 0.5, dtype=int)]
        if self.out_activation == "softmax":
            return self.classes.take(P.argmax(axis=1), mode="clip")
        return np.asarray(P > 0.5, dtype=int)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy for classifiers, R^2 (``sklearn.metrics.r2_score``) for regressors."""
        pred = self.predict(X)
        if self.is_classifier:
            from sklearn.metrics import accuracy_score
            return float(accuracy_score(y, pred))
        from sklearn.metrics import r2_score
        return float(r2_score(y, pred))

    # -- norms -----------------------------------------------------------------------------------
    def in_norms(self, layer: int, bias: str = "unpenalized") -> np.ndarray:
        """Norms of the hidden neurons' inputs: rows of ``W_l`` (with ``b_l`` if penalized)."""
        layer = self._check_layer(layer)
        return _row_norms(self.weights[layer - 1], self.biases[layer - 1], _check_bias(bias))

    def out_norms(self, layer: int) -> np.ndarray:
        """Norms of the hidden neurons' outputs: columns of ``W_{l+1}``."""
        layer = self._check_layer(layer)
        return np.linalg.norm(self.weights[layer], axis=0)

    def weight_decay(self, bias: str = "unpenalized") -> float:
        """``1/2 sum_l |W_l|_F^2`` (+ ``1/2 sum_{l<L} |b_l|^2`` with bias="penalized").

        The output bias ``b_L`` is never penalized.
        """
        return _weight_decay(self.weights, self.biases, _check_bias(bias))

    def path_norm(self) -> float:
        """The l1 path norm ``1^T |W_L| ... |W_1| 1``.

        The sum over all input-to-output paths of the product of the absolute weights along the
        path (biases excluded). For one hidden layer and one output it is
        ``sum_k |v_k| |w_k|_1`` (l1 norm of ``w_k``, unlike :meth:`ShallowReLUNet.path_norm`,
        which uses the l2 norm); see :meth:`layer_path_norm` for the l2 per-layer version.
        """
        v = np.ones(self.n_inputs)
        for W in self.weights:
            v = np.abs(W) @ v
        return float(np.sum(v))

    def layer_path_norm(self, layer: int, bias: str = "unpenalized") -> float:
        """``sum_k |in_k|_2 |out_k|_2`` over the neurons of hidden layer ``layer``."""
        return float(np.sum(self.in_norms(layer, bias) * self.out_norms(layer)))

    def deep_regularizer(self) -> float:
        """The deep path form of weight decay ``C(theta)``.

        ``C = 1/2 sum_k |w_k^(1)|^2 + 1/2 sum_k |v_k^(L)|^2 + sum_l sum_k |w_k^(l)|_2 |v_k^(l)|_2``
        over the hidden layers l, where ``w_k^(l)`` is row k of ``W_l`` and ``v_k^(l)`` column k
        of ``W_{l+1}`` (the first sum over the rows of ``W_1``, the second over the columns of
        ``W_L``; biases unpenalized). At a balanced network (:meth:`rebalance`) every
        ``|W_l|_F^2`` is the same, and ``C = |theta|^2 = 2 * weight_decay()``.
        """
        reg = 0.5 * (float(np.sum(self.weights[0] ** 2)) + float(np.sum(self.weights[-1] ** 2)))
        for l in range(1, self.n_layers):
            reg += self.layer_path_norm(l)
        return reg

    def max_log_imbalance(self, bias: str = "unpenalized") -> float:
        """``max |log(|in_k| / |out_k|)|`` over all hidden neurons.

        inf if a neuron is dead, 0 if there are no hidden neurons.
        """
        return _max_log_ratio(self.weights, self.biases, _check_bias(bias))

    # -- transformations (function unchanged) ----------------------------------------------------
    def drop_dead(self) -> "MLP":
        """Remove hidden neurons with an all-zero input row or an all-zero output column.

        A neuron with ``W_l[k] = 0`` outputs the constant ``relu(-b_l[k])``; its contribution
        ``W_{l+1}[:, k] relu(-b_l[k])`` is folded into the next bias
        (``b_{l+1} -= W_{l+1}[:, k] relu(-b_l[k])``), so the function is unchanged. Repeats
        until no dead neuron is left (removals can kill neurons in adjacent layers).
        """
        Ws = [W.copy() for W in self.weights]
        bs = [b.copy() for b in self.biases]
        changed = True
        while changed:
            changed = False
            for l in range(self.n_layers - 1):
                in_zero = np.all(Ws[l] == 0, axis=1)
                out_zero = np.all(Ws[l + 1] == 0, axis=0)
                dead = in_zero | out_zero
                if not np.any(dead):
                    continue
                const = in_zero & ~out_zero
                if np.any(const):
                    bs[l + 1] = bs[l + 1] - Ws[l + 1][:, const] @ relu(-bs[l][const])
                keep = ~dead
                Ws[l], bs[l], Ws[l + 1] = Ws[l][keep], bs[l][keep], Ws[l + 1][:, keep]
                changed = True
        return self._new(Ws, bs)

    def rebalance(self, tol: float = 1e-10, max_sweeps: int = 10_000,
                  bias: str = "unpenalized", *, return_info: bool = False
                  ) -> "MLP | tuple[MLP, dict]":
        """Balance every hidden neuron by sweeps of exact coordinate minimization.

        Dead neurons are dropped first (:meth:`drop_dead`). A sweep visits the hidden layers in
        order and scales each neuron ``k`` of layer ``l`` by ``a_k = sqrt(|out_k| / |in_k|)``:
        row ``k`` of ``W_l`` and ``b_l[k]`` times ``a_k``, column ``k`` of ``W_{l+1}`` divided by
        ``a_k`` (neurons of one layer do not interact, so they are updated together). Each step
        minimizes the weight decay exactly over that neuron's log-scale (a convex function), so
        the weight decay never increases; sweeps stop when
        ``max |log(|in_k| / |out_k|)| < tol``. The function is unchanged.

        Returns
        -------
        net : MLP
            The balanced network (like :meth:`ShallowReLUNet.rebalance`).
        info : dict, only with ``return_info=True`` (then ``(net, info)`` is returned)
            ``sweeps``, ``weight_decay`` (list: after dropping dead neurons, then after each
            sweep; non-increasing), ``weight_decay_before`` (of ``self``), ``max_log_ratio``,
            ``converged``, ``dropped`` (number of dead neurons removed).
        """
        pen = _check_bias(bias)
        if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, Integral) or max_sweeps < 0:
            raise InvalidProblemError(f"max_sweeps: must be an integer >= 0, got {max_sweeps!r}")
        if not tol > 0:
            raise InvalidProblemError(f"tol: must be > 0, got {tol!r}")
        net = self.drop_dead()
        Ws = [W.copy() for W in net.weights]
        bs = [b.copy() for b in net.biases]
        history = [net.weight_decay(bias)]
        sweeps = 0
        ratio = _max_log_ratio(Ws, bs, pen)
        while ratio >= tol and sweeps < max_sweeps:
            for l in range(net.n_layers - 1):
                a = np.sqrt(np.linalg.norm(Ws[l + 1], axis=0) / _row_norms(Ws[l], bs[l], pen))
                Ws[l] *= a[:, None]
                bs[l] *= a
                Ws[l + 1] /= a[None, :]
            sweeps += 1
            history.append(_weight_decay(Ws, bs, pen))
            ratio = _max_log_ratio(Ws, bs, pen)
        out = net._new(Ws, bs)
        info = {"sweeps": sweeps, "weight_decay": history,
                "weight_decay_before": self.weight_decay(bias), "max_log_ratio": ratio,
                "converged": bool(ratio < tol),
                "dropped": sum(self.hidden_sizes) - sum(net.hidden_sizes)}
        return (out, info) if return_info else out

    def normalized_layer(self, layer: int) -> "MLP":
        """The same function with unit-norm input rows in hidden layer ``layer``.

        ``(W_l[k], b_l[k]) /= |W_l[k]|`` and ``W_{l+1}[:, k] *= |W_l[k]|`` (relu is
        1-homogeneous). Rows that are zero are left as they are (use :meth:`drop_dead`).
        """
        layer = self._check_layer(layer)
        Ws, bs = list(self.weights), list(self.biases)
        n = np.linalg.norm(Ws[layer - 1], axis=1)
        s = np.where(n > 0, n, 1.0)
        Ws[layer - 1] = Ws[layer - 1] / s[:, None]
        bs[layer - 1] = bs[layer - 1] / s
        Ws[layer] = Ws[layer] * s[None, :]
        return self._new(Ws, bs)

    def remove_neurons(self, layer: int, keep: Any, out_weights: Any = None,
                       next_bias: Any = None) -> "MLP":
        """A narrower MLP keeping only neurons ``keep`` of hidden layer ``layer``.

        Rows of ``W_l`` / entries of ``b_l`` and columns of ``W_{l+1}`` not in ``keep`` are
        deleted. ``out_weights`` (shape ``(n_{l+1}, len(keep))``) replaces the outgoing weights
        of the kept neurons, and ``next_bias`` (shape ``(n_{l+1},)``, subtracted) replaces
        ``b_{l+1}``. ``keep`` is a list of indices (in the order wanted) or a boolean mask.
        """
        layer = self._check_layer(layer)
        width = self.hidden_sizes[layer - 1]
        idx = _keep_indices(keep, width)
        Ws, bs = list(self.weights), list(self.biases)
        Ws[layer - 1], bs[layer - 1] = Ws[layer - 1][idx], bs[layer - 1][idx]
        n_next = Ws[layer].shape[0]
        if out_weights is None:
            Ws[layer] = Ws[layer][:, idx]
        else:
            Wo = _float_array(out_weights, "out_weights", 2)
            if Wo.shape != (n_next, idx.size):
                raise InvalidProblemError(f"out_weights: expected shape ({n_next}, {idx.size}), "
                                          f"got {Wo.shape}")
            Ws[layer] = Wo
        if next_bias is not None:
            nb = _float_array(np.atleast_1d(next_bias), "next_bias", 1)
            if nb.shape != (n_next,):
                raise InvalidProblemError(f"next_bias: expected shape ({n_next},), got {nb.shape}")
            bs[layer] = nb
        return self._new(Ws, bs)

    def to_shallow(self) -> ShallowReLUNet:
        """A one-hidden-layer MLP as a :class:`ShallowReLUNet` (no linear skip)."""
        if self.n_layers != 2:
            raise InvalidProblemError(f"to_shallow: needs exactly one hidden layer, this MLP has "
                                      f"{self.n_layers - 1}")
        V = self.weights[1].T
        return ShallowReLUNet(self.weights[0], self.biases[0],
                              V[:, 0] if self.n_outputs == 1 else V, None, -self.biases[1])

    # -- I/O -------------------------------------------------------------------------------------
    @classmethod
    def from_sklearn(cls, est: Any) -> "MLP":
        """Convert a fitted ``MLPRegressor`` / ``MLPClassifier`` with ``activation="relu"``.

        ``W_l = coefs_[l-1].T`` and ``b_l = -intercepts_[l-1]`` (sklearn adds its intercepts);
        the output activation and ``classes_`` are kept, so :meth:`predict` equals the
        estimator's ``predict`` exactly and :meth:`predict_proba` its ``predict_proba`` (for
        estimators fitted on float64 data).
        """
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        if not isinstance(est, (MLPClassifier, MLPRegressor)):
            raise InvalidProblemError(f"from_sklearn: expected a fitted MLPRegressor or "
                                      f"MLPClassifier, got {type(est).__name__}")
        if not hasattr(est, "coefs_"):
            raise InvalidProblemError("from_sklearn: the estimator is not fitted; call "
                                      "est.fit(X, y) first")
        if est.activation != "relu":
            raise InvalidProblemError(
                f"from_sklearn: the estimator uses activation={est.activation!r}, but nnlasso "
                "handles ReLU networks only (weight decay is a lasso because relu is "
                "1-homogeneous); refit with activation='relu'")
        weights = [np.asarray(C, dtype=np.float64).T for C in est.coefs_]
        biases = [-np.asarray(c, dtype=np.float64) for c in est.intercepts_]
        if isinstance(est, MLPClassifier):
            return cls(weights, biases, out_activation=est.out_activation_,
                       classes=np.asarray(est.classes_))
        return cls(weights, biases, out_activation="identity")

    @classmethod
    def from_torch(cls, module: Any, *, out_activation: str | None = None,
                   classes: Any = None) -> "MLP":
        """Convert a PyTorch ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers (or one Linear).

        The layers must alternate ``Linear, ReLU, Linear, ..., Linear``. Weights are copied to
        float64 (``W_l = linear.weight``, ``b_l = -linear.bias``). The outputs are the module's
        outputs (logits); pass ``classes`` to get a classifier.
        """
        try:
            from torch import nn
        except ImportError:
            raise InvalidProblemError("from_torch: PyTorch is not installed; pip install torch")
        if isinstance(module, nn.Linear):
            layers = [module]
        elif isinstance(module, nn.Sequential):
            layers = list(module)
        else:
            raise InvalidProblemError(f"from_torch: expected an nn.Sequential of Linear and ReLU "
                                      f"layers, got {type(module).__name__}")
        weights, biases = [], []
        for i, m in enumerate(layers):
            want = nn.Linear if i % 2 == 0 else nn.ReLU
            if not isinstance(m, want):
                raise InvalidProblemError(
                    f"from_torch: layer {i} is {type(m).__name__}, expected {want.__name__}; "
                    "only Linear, ReLU, Linear, ..., Linear (alternating) is supported")
            if want is nn.Linear:
                W = m.weight.detach().cpu().double().numpy().copy()
                b = (np.zeros(W.shape[0]) if m.bias is None
                     else -m.bias.detach().cpu().double().numpy())
                weights.append(W)
                biases.append(b)
        if not layers or not isinstance(layers[-1], nn.Linear):
            raise InvalidProblemError("from_torch: the module must end with an nn.Linear "
                                      "(the output layer)")
        return cls(weights, biases, out_activation=out_activation, classes=classes)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` file: ``W1, b1, W2, b2, ...`` (``b`` subtracted) and, as plain
        (non-object) arrays, ``out_activation`` and, for classifiers, ``classes``."""
        arrays: dict[str, np.ndarray] = {}
        for l, (W, b) in enumerate(zip(self.weights, self.biases), start=1):
            arrays[f"W{l}"], arrays[f"b{l}"] = np.asarray(W), np.asarray(b)
        arrays["out_activation"] = np.array(self.out_activation)
        if self.classes is not None:
            arrays["classes"] = _plain_classes(self.classes)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "MLP":
        """Read a file written by :meth:`save` (or any ``.npz`` with ``W1, b1, ...``).

        Loaded with ``allow_pickle=False``; missing or misnumbered arrays, unknown arrays, shape
        mismatches between layers and NaN raise :class:`InvalidProblemError` naming the file and
        the array.
        """
        path = Path(path)
        data = _read_npz(path)
        try:
            Ws, bs = _layers_from_arrays(data)
            out_act = None
            if "out_activation" in data:
                oa = data["out_activation"]
                if oa.ndim != 0 or oa.dtype.kind not in "US":
                    raise InvalidProblemError("out_activation: expected a 0-d string array")
                out_act = str(oa)
            classes = data.get("classes")
            if classes is not None and classes.ndim != 1:
                raise InvalidProblemError(f"classes: expected a 1-D array, got shape "
                                          f"{classes.shape}")
            return cls(Ws, bs, out_activation=out_act, classes=classes)
        except InvalidProblemError as exc:
            raise InvalidProblemError(f"{path}: {exc}") from None


# =============================================================================================
# MLP helpers
# =============================================================================================

def _row_norms(W: np.ndarray, b: np.ndarray, penalized: bool) -> np.ndarray:
    """``|W[k]|`` or ``|(W[k], b[k])|`` per row."""
    if penalized:
        return np.sqrt(np.sum(W ** 2, axis=1) + b ** 2)
    return np.linalg.norm(W, axis=1)


def _weight_decay(Ws: Sequence[np.ndarray], bs: Sequence[np.ndarray], penalized: bool) -> float:
    """``1/2 sum_l |W_l|_F^2`` (+ hidden biases squared if penalized)."""
    wd = sum(float(np.sum(W ** 2)) for W in Ws)
    if penalized:
        wd += sum(float(np.sum(b ** 2)) for b in bs[:-1])
    return 0.5 * wd


def _max_log_ratio(Ws: Sequence[np.ndarray], bs: Sequence[np.ndarray], penalized: bool) -> float:
    """``max |log(|in_k| / |out_k|)|`` over the hidden neurons; inf if some norm is 0."""
    worst = 0.0
    for l in range(len(Ws) - 1):
        a, v = _row_norms(Ws[l], bs[l], penalized), np.linalg.norm(Ws[l + 1], axis=0)
        if a.size == 0:
            continue
        if np.any(a == 0) or np.any(v == 0):
            return float("inf")
        worst = max(worst, float(np.max(np.abs(np.log(a) - np.log(v)))))
    return worst


def _check_layers(weights: Sequence[Any], biases: Sequence[Any]
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate the layer arrays: shapes chain, biases match, all finite."""
    if isinstance(weights, np.ndarray) or isinstance(biases, np.ndarray):
        raise InvalidProblemError("weights, biases: pass lists of arrays, one per layer")
    weights, biases = list(weights), list(biases)
    if not weights:
        raise InvalidProblemError("weights: an MLP needs at least one layer")
    if len(weights) != len(biases):
        raise InvalidProblemError(f"weights, biases: {len(weights)} weight matrices but "
                                  f"{len(biases)} bias vectors")
    Ws = [_float_array(W, f"W{l}", 2) for l, W in enumerate(weights, start=1)]
    bs = [_float_array(np.atleast_1d(b), f"b{l}", 1) for l, b in enumerate(biases, start=1)]
    if Ws[0].shape[1] == 0:
        raise InvalidProblemError(f"W1: needs at least one input column, got shape {Ws[0].shape}")
    if Ws[-1].shape[0] == 0:
        raise InvalidProblemError(f"W{len(Ws)}: needs at least one output row, got shape "
                                  f"{Ws[-1].shape}")
    for l, (W, b) in enumerate(zip(Ws, bs), start=1):
        if b.shape != (W.shape[0],):
            raise InvalidProblemError(f"b{l}: expected shape ({W.shape[0]},) to match W{l} "
                                      f"{W.shape}, got {b.shape}")
        if l > 1 and W.shape[1] != Ws[l - 2].shape[0]:
            raise InvalidProblemError(f"W{l}: has {W.shape[1]} columns but W{l - 1} has "
                                      f"{Ws[l - 2].shape[0]} rows (W_l has shape (n_out, n_in))")
    return Ws, bs


def _check_output(out_activation: str | None, classes: Any, D: int
                  ) -> tuple[str, np.ndarray | None]:
    """Validate the output activation and the class labels."""
    if out_activation is None:
        out_activation = "identity" if classes is None else ("logistic" if D == 1 else "softmax")
    if out_activation not in _OUT_ACTIVATIONS:
        raise InvalidProblemError(f"out_activation: unknown value {out_activation!r}; use one of "
                                  f"{', '.join(_OUT_ACTIVATIONS)}")
    if out_activation == "softmax" and D < 2:
        raise InvalidProblemError("out_activation='softmax' needs at least 2 outputs; use "
                                  "'logistic' for a binary classifier with one output")
    if classes is None:
        if out_activation != "identity":
            classes = np.arange(2 if D == 1 else D)
        return out_activation, classes
    if out_activation == "identity":
        raise InvalidProblemError("classes: a classifier needs out_activation 'logistic' (one "
                                  "output, or multilabel) or 'softmax' (multiclass)")
    classes = np.asarray(classes)
    want = 2 if D == 1 else D
    if classes.ndim != 1 or classes.shape[0] != want:
        raise InvalidProblemError(f"classes: expected {want} labels for {D} output(s) with "
                                  f"out_activation={out_activation!r}, got shape {classes.shape}")
    if np.unique(classes).size != classes.size:
        raise InvalidProblemError("classes: labels must be distinct")
    return out_activation, _readonly(classes.copy())


def _keep_indices(keep: Any, width: int) -> np.ndarray:
    """Indices from a list of indices or a boolean mask, validated against ``width``."""
    k = np.asarray(keep)
    if k.dtype == bool:
        if k.shape != (width,):
            raise InvalidProblemError(f"keep: boolean mask of shape {k.shape}, expected ({width},)")
        return np.flatnonzero(k)
    if k.size and not np.issubdtype(k.dtype, np.integer):
        raise InvalidProblemError(f"keep: expected integer indices or a boolean mask, got "
                                  f"dtype {k.dtype}")
    k = k.astype(np.intp).reshape(-1)
    if k.size and (k.min() < 0 or k.max() >= width):
        raise InvalidProblemError(f"keep: indices must lie in [0, {width})")
    if np.unique(k).size != k.size:
        raise InvalidProblemError("keep: indices must be distinct")
    return k


def _plain_classes(classes: np.ndarray) -> np.ndarray:
    """Class labels as a non-object array (numbers, booleans or strings) for ``np.savez``."""
    arr = np.asarray(classes)
    if arr.dtype != object:
        return arr
    if all(isinstance(c, str) for c in arr):
        return arr.astype(str)
    raise InvalidProblemError("save: class labels of mixed / object type cannot be stored "
                              "without pickles; use numeric or string labels")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, loaded without pickles."""
    if not path.is_file():
        raise InvalidProblemError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            return {k: f[k] for k in f.files}
    except (AttributeError, TypeError):  # np.load returned a plain array (a .npy file)
        raise InvalidProblemError(f"{path}: not an .npz archive (expected arrays W1, b1, ...)") \
            from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidProblemError(f"{path}: cannot be read as an .npz archive without pickles "
                                  f"({exc})") from None


def _layers_from_arrays(data: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``W1, b1, ..., WL, bL`` from a dict of arrays, with clear errors."""
    found: dict[str, dict[int, np.ndarray]] = {"W": {}, "b": {}}
    for key, arr in data.items():
        m = re.fullmatch(r"([Wb])([0-9]+)", key)
        if m:
            found[m.group(1)][int(m.group(2))] = arr
        elif key not in ("out_activation", "classes"):
            raise InvalidProblemError(f"{key}: unknown array; expected W1, b1, W2, b2, ... "
                                      "(and optionally out_activation, classes)")
    L = len(found["W"])
    if L == 0:
        raise InvalidProblemError("W1: missing (expected arrays W1, b1, W2, b2, ...)")
    for kind in ("W", "b"):
        for l in range(1, L + 1):
            if l not in found[kind]:
                raise InvalidProblemError(f"{kind}{l}: missing (layers are numbered 1..{L})")
        extra = sorted(set(found[kind]) - set(range(1, L + 1)))
        if extra:
            raise InvalidProblemError(f"{kind}{extra[0]}: misnumbered (layers are numbered "
                                      f"1..{L} without gaps)")
    for kind in ("W", "b"):
        for l in range(1, L + 1):
            if found[kind][l].dtype.kind not in "fiub":
                raise InvalidProblemError(f"{kind}{l}: expected a numeric array, got dtype "
                                          f"{found[kind][l].dtype}")
    return ([found["W"][l] for l in range(1, L + 1)], [found["b"][l] for l in range(1, L + 1)])
