"""Training ReLU networks in NumPy: proximal-gradient training and its baselines.

The trainers minimize, over an MLP ``h_l = relu(W_l h_{l-1} - b_l)``, ``out = W_L h_{L-1} - b_L``
(biases subtracted, as everywhere in nnlasso), the **summed** loss plus ``lam`` times a penalty,
in nnlasso's scaling (``lam = N * alpha`` for a mean loss with ``alpha``)::

    train_weight_decay:  sum_n loss(f(x_n), y_n) + lam * 1/2 sum_l |W_l|_F^2
    train_prox:          sum_n loss(f(x_n), y_n) + lam/2 * C(theta),
        C(theta) = 1/2 |W_1|_F^2 + 1/2 |W_L|_F^2 + sum_l sum_k |w_k^(l)|_2 |v_k^(l)|_2
    train_lasso:         sum_n loss(f(x_n), y_n) + lam * sum_l |W_l|_1          (entrywise)
    train_group_lasso:   sum_n loss(f(x_n), y_n) + lam * sum_l sum_k |W_l[:, k]|_2

(``w_k^(l)`` row k of ``W_l``, ``v_k^(l)`` column k of ``W_{l+1}``, :meth:`MLP.deep_regularizer`;
the group lasso's groups are the outgoing weights of every input and hidden unit, Scardapane et
al. 2017). At a balanced network ``C = 2 WD``, so weight decay and the path form agree there and
``lam`` means the same thing in both. Biases are unpenalized.

One step of any trainer: a mini-batch Adam (or plain SGD) step of size ``lr`` on the mean loss
(the summed loss divided by N), then the proximal map of ``lr * alpha`` (``alpha = lam / N``)
times the penalty:

* weight decay: ``W_l <- W_l / (1 + lr * alpha)`` (the prox of ``lr alpha/2 |W|^2``);
* lasso: entrywise soft-thresholding ``W <- sign(W) max(|W| - lr alpha, 0)``;
* group lasso: ``W[:, k] <- W[:, k] max(0, 1 - lr alpha / |W[:, k]|)``;
* proximal training ("A better way to decay", Yang et al., OPT 2022): the squared end terms as
  above with ``alpha / 2``; every hidden neuron rebalanced (``w_k, b_k`` times ``a``, ``v_k``
  divided by ``a``, ``a = sqrt(|v_k| / |w_k|)``, the function unchanged); then the prox of
  ``lr alpha/2 |w_k| |v_k|`` with the input weights held at unit norm, i.e. group
  soft-thresholding of the neuron's path magnitude ``m_k = |w_k| |v_k|``:
  ``m_k <- max(0, m_k - lr alpha / 2)``, applied as the balanced scaling
  ``(w_k, b_k, v_k) *= sqrt(m_k' / m_k)``. Neurons whose magnitude reaches 0 are dead for good
  (their gradient is 0) and are removed from the returned MLP.

**Deep networks.** ``train_prox`` and ``train_weight_decay`` also train a
:class:`~nnlasso.deep.DeepReLUNet` (pass it instead of ``hidden_sizes``: it is the initial
network and fixes the architecture, :meth:`DeepReLUNet.random` makes one), blocks
``f_l(z) = V_l^T relu(W_l z - b_l) + C_l^T z + c_l``. Weight decay penalizes ``W_l, V_l``; the
path form is :meth:`DeepReLUNet.deep_regularizer`, whose neurons are the ReLU neurons (input
weights ``w_k`` = row k of ``W_l``, output weights ``v_k`` = row k of ``V_l``) and the linear
bottleneck units j between blocks l and l+1 (input weights ``u_j = V_l[:, j]``, output weights
``w_j = W_{l+1}[:, j]``); skips ``C_l``, intercepts ``c_l`` and biases are unpenalized. The
proximal step: ``W_1`` and ``V_L`` divided by ``1 + lr alpha/2``; one balancing sweep (each ReLU
neuron as above; each bottleneck unit ``z_j -> a z_j``, i.e. ``V_l[:, j], C_l[:, j], c_l[j]``
times ``a`` and ``W_{l+1}[:, j], C_{l+1}[j, :]`` divided by it, ``a = sqrt(|w_j| / |u_j|)``);
then, in the order ReLU layer 1, bottleneck 1, ReLU layer 2, ..., the magnitude ``m = |in| |out|``
of every neuron soft-thresholded by ``lr alpha / 2`` through its penalized weights
(``(w_k, b_k, v_k)`` resp. ``(u_j, w_j)`` times ``sqrt(m' / m)``; the skip weights of a
bottleneck unit are kept, so its skip-to-skip path is unpenalized and the ReLU-to-ReLU piece
``w_j u_j^T`` of ``W_{l+1} V_l^T`` is soft-thresholded in Frobenius norm). Dead neurons are
removed at the end (:meth:`DeepReLUNet.drop_dead`).

Progress (one line per epoch) goes to the ``"nnlasso.training"`` logger (``verbose=True``
shows it on stderr).
"""
from __future__ import annotations

import logging
from numbers import Integral
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np

from ._logging import progress
from ._validation import as_matrix, check_positive, check_seed
from .errors import InvalidProblemError
from .networks import MLP

if TYPE_CHECKING:
    from .deep import DeepReLUNet

__all__ = ["train_group_lasso", "train_lasso", "train_prox", "train_weight_decay"]

_LOG = logging.getLogger("nnlasso.training")
_LOSSES = ("softmax", "logistic", "squared")

#: what the trainers accept as ``hidden_sizes``
Architecture = Union[Sequence[int], MLP, "DeepReLUNet"]

_ARGS_DOC = """
    Parameters
    ----------
    X : array (N, d)
        Inputs.
    y : array (N,) or (N, D)
        Class labels (``loss="softmax"``: 2 or more classes; ``"logistic"``: exactly 2) or
        targets (``"squared"``).
    hidden_sizes : sequence of int, MLP or DeepReLUNet
        Widths of the hidden layers at initialization (He-normal weights, zero biases), or an
        initial network whose weights training starts from and whose shapes are the
        architecture: an :class:`~nnlasso.networks.MLP`, or (``train_prox`` and
        ``train_weight_decay`` only) a :class:`~nnlasso.deep.DeepReLUNet` (skips and linear
        bottlenecks; a block's missing intercept starts at 0 and is trained, a missing skip stays
        absent). Its number of outputs must match the loss: the number of classes (softmax), 1
        (logistic) or the number of targets (squared).
    lam : float >= 0
        Penalty weight for the **summed** loss (``lam = N * alpha``).
    loss : {"softmax", "logistic", "squared"}
        ``softmax``: cross-entropy of the softmax of the outputs; ``logistic``: binary
        cross-entropy of one output; ``squared``: ``1/2 |f(x) - y|^2``.
    epochs, batch_size, lr : int, int, float
        Passes over the data, mini-batch size (capped at N), step size.
    seed : int, numpy Generator or None
        Initialization and shuffling.
    X_val, y_val : arrays or None
        A validation split: after each epoch its mean loss is computed, the best network seen
        is returned, and training stops after ``patience`` epochs without improvement
        (``patience=None``: never stop early).
    optimizer : {"adam", "sgd"}
        Adam (beta1 0.9, beta2 0.999) or plain SGD for the loss step.
    verbose : bool
        Log one line per epoch at INFO (shown on stderr) instead of DEBUG.

    Returns
    -------
    MLP or DeepReLUNet
        For sizes or an MLP: an MLP, a classifier (``out_activation`` softmax / logistic,
        ``classes``) or a regressor, with the dead neurons removed (``mlp.hidden_sizes`` is the
        number of surviving neurons). For a DeepReLUNet: a DeepReLUNet (dead neurons removed)
        whose :meth:`predict` gives the raw outputs (logits); class labels are
        ``np.unique(y)[argmax]`` (softmax) or ``np.unique(y)[output > 0]`` (logistic).
"""


def train_prox(X: Any, y: Any, hidden_sizes: Architecture, lam: float, *,
               loss: str = "softmax", epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
               seed: Any = 0, X_val: Any = None, y_val: Any = None, optimizer: str = "adam",
               patience: int | None = 20, verbose: bool = False) -> Any:
    """Train an MLP or a DeepReLUNet by proximal gradient on the deep path form of weight decay.

    Minimizes ``sum_n loss(f(x_n), y_n) + lam/2 * C(theta)`` (module docstring): after each
    mini-batch step, the proximal map soft-thresholds whole neurons, so training itself is
    sparse; dead neurons are removed at the end.
    """
    return _train("prox", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose)


def train_weight_decay(X: Any, y: Any, hidden_sizes: Architecture, lam: float, *,
                       loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                       lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                       optimizer: str = "adam", patience: int | None = 20,
                       verbose: bool = False) -> Any:
    """Train an MLP or a DeepReLUNet with plain weight decay, the baseline of :func:`train_prox`.

    Minimizes ``sum_n loss(f(x_n), y_n) + lam * 1/2 sum_l |W_l|_F^2`` (biases unpenalized; for a
    DeepReLUNet ``1/2 sum_l |W_l|^2 + |V_l|^2``, skips and intercepts unpenalized) by the same
    mini-batch steps, each followed by the exact prox of the weight decay,
    ``W_l <- W_l / (1 + lr * lam / N)`` (decoupled weight decay). Same parameters and return
    value as :func:`train_prox`; neurons are removed only if they are exactly dead.
    """
    return _train("wd", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose)


def train_lasso(X: Any, y: Any, hidden_sizes: Sequence[int] | MLP, lam: float, *,
                loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                optimizer: str = "adam", patience: int | None = 20,
                verbose: bool = False) -> MLP:
    """Train an MLP with the lasso (l1) penalty on its weights, ``lam * sum_l |W_l|_1``.

    Proximal gradient: the same mini-batch steps as :func:`train_prox`, each followed by the
    exact prox, entrywise soft-thresholding ``W <- sign(W) max(|W| - lr lam / N, 0)`` (biases
    unpenalized). Same parameters and return value as :func:`train_prox` (MLPs only).
    """
    return _train("lasso", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose)


def train_group_lasso(X: Any, y: Any, hidden_sizes: Sequence[int] | MLP, lam: float, *,
                      loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                      lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                      optimizer: str = "adam", patience: int | None = 20,
                      verbose: bool = False) -> MLP:
    """Train an MLP with the group-lasso penalty ``lam * sum_l sum_k |W_l[:, k]|_2``.

    The groups are the outgoing weights of every input and hidden unit (column k of ``W_l``;
    Scardapane, Comminiello, Hussain, Uncini, "Group sparse regularization for deep neural
    networks", 2017). Proximal gradient: the same mini-batch steps as :func:`train_prox`, each
    followed by the exact prox, group soft-thresholding
    ``W[:, k] <- W[:, k] max(0, 1 - lr lam / (N |W[:, k]|))``; a hidden neuron whose outgoing
    column is zero is removed. Same parameters and return value as :func:`train_prox` (MLPs
    only).
    """
    return _train("group_lasso", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose)


for _fn in (train_prox, train_weight_decay, train_lasso, train_group_lasso):
    _fn.__doc__ = (_fn.__doc__ or "").rstrip() + "\n" + _ARGS_DOC
del _fn


# =============================================================================================
# internals
# =============================================================================================

def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidProblemError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def _targets(y: Any, loss: str, N: int, name: str, classes: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """(Y encoded as (N, D) floats, classes or None)."""
    y = np.asarray(y)
    if y.shape[:1] != (N,):
        raise InvalidProblemError(f"{name}: expected {N} rows to match the inputs, got shape "
                                  f"{y.shape}")
    if loss == "squared":
        Y = as_matrix(y, name, allow_1d=True)
        return Y, None
    if y.ndim != 1:
        raise InvalidProblemError(f"{name}: loss={loss!r} needs a 1-D array of class labels, "
                                  f"got shape {y.shape}")
    if classes is None:
        classes = np.unique(y)
        if loss == "logistic" and classes.size != 2:
            raise InvalidProblemError(f"{name}: loss='logistic' needs exactly 2 classes, got "
                                      f"{classes.size}; use loss='softmax' for more")
        if loss == "softmax" and classes.size < 2:
            raise InvalidProblemError(f"{name}: needs at least 2 classes, got {classes.size}")
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, classes.size - 1)
    if not np.all(classes[idx] == y):
        raise InvalidProblemError(f"{name}: contains labels not seen in the training labels "
                                  f"{list(classes)}")
    if loss == "logistic":
        return (idx == 1).astype(float)[:, None], classes
    return np.eye(classes.size)[idx], classes


def _forward(Ws: list, bs: list, X: np.ndarray) -> tuple[list, np.ndarray]:
    """Hidden activations [X, h_1, ..., h_{L-1}] and the raw outputs."""
    Hs = [X]
    for W, b in zip(Ws[:-1], bs[:-1]):
        Hs.append(np.maximum(Hs[-1] @ W.T - b, 0.0))
    return Hs, Hs[-1] @ Ws[-1].T - bs[-1]


def _loss_and_grad(loss: str, out: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss over the rows and its gradient with respect to the outputs."""
    n = out.shape[0]
    if loss == "squared":
        R = out - Y
        return 0.5 * float(np.sum(R ** 2)) / n, R / n
    if loss == "logistic":
        z = out[:, 0]
        val = np.logaddexp(0.0, z) - Y[:, 0] * z
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        return float(np.mean(val)), ((p - Y[:, 0]) / n)[:, None]
    Z = out - out.max(axis=1, keepdims=True)
    logsum = np.log(np.sum(np.exp(Z), axis=1, keepdims=True))
    P = np.exp(Z - logsum)
    return float(-np.sum(Y * (Z - logsum))) / n, (P - Y) / n


def _grads(Ws: list, bs: list, X: np.ndarray, Y: np.ndarray, loss: str
           ) -> tuple[float, list, list]:
    Hs, out = _forward(Ws, bs, X)
    val, G = _loss_and_grad(loss, out, Y)
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        gW[l] = G.T @ Hs[l]
        gb[l] = -G.sum(axis=0)
        if l > 0:
            G = (G @ Ws[l]) * (Hs[l] > 0)
    return val, gW, gb


def _rebalance(Ws: list, bs: list) -> None:
    """One sweep of neuron balancing, in place (neurons with a zero norm are left alone)."""
    for l in range(len(Ws) - 1):
        a_in = np.linalg.norm(Ws[l], axis=1)
        a_out = np.linalg.norm(Ws[l + 1], axis=0)
        ok = (a_in > 0) & (a_out > 0)
        a = np.ones_like(a_in)
        a[ok] = np.sqrt(a_out[ok] / a_in[ok])
        Ws[l] *= a[:, None]
        bs[l] *= a
        Ws[l + 1] /= a[None, :]


def _prox_path(Ws: list, bs: list, t: float) -> None:
    """Soft-threshold each hidden neuron's path magnitude ``|w_k| |v_k|`` by ``t``, in place."""
    for l in range(len(Ws) - 1):
        m = np.linalg.norm(Ws[l], axis=1) * np.linalg.norm(Ws[l + 1], axis=0)
        s = np.zeros_like(m)
        big = m > t
        s[big] = np.sqrt((m[big] - t) / m[big])
        Ws[l] *= s[:, None]
        bs[l] *= s
        Ws[l + 1] *= s[None, :]


def _prox_lasso(W: np.ndarray, t: float) -> None:
    """Entrywise soft-thresholding ``W <- sign(W) max(|W| - t, 0)``, in place."""
    np.copyto(W, np.sign(W) * np.maximum(np.abs(W) - t, 0.0))


def _prox_group_columns(W: np.ndarray, t: float) -> None:
    """Group soft-thresholding of every column: ``W[:, k] *= max(0, 1 - t / |W[:, k]|)``."""
    n = np.linalg.norm(W, axis=0)
    s = np.zeros_like(n)
    big = n > t
    s[big] = 1.0 - t / n[big]
    W *= s[None, :]


# -- deep networks ----------------------------------------------------------------------------

class _Block:
    """Trainable arrays of one DeepReLUNet block: ``V^T relu(W z - b) + C^T z + c`` (V, C 2-D)."""

    __slots__ = ("W", "b", "V", "c", "C")

    def __init__(self, W: np.ndarray, b: np.ndarray, V: np.ndarray, c: np.ndarray,
                 C: np.ndarray | None) -> None:
        self.W, self.b, self.V, self.c, self.C = W, b, V, c, C

    @property
    def arrays(self) -> list[np.ndarray]:
        return [self.W, self.b, self.V, self.c] + ([] if self.C is None else [self.C])

    def copy(self) -> "_Block":
        return _Block(self.W.copy(), self.b.copy(), self.V.copy(), self.c.copy(),
                      None if self.C is None else self.C.copy())


def _deep_forward(blocks: Sequence[_Block], X: np.ndarray
                  ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Block inputs ``[Z_1 = X, ..., Z_L]``, ReLU features ``[H_1, ..., H_L]``, outputs."""
    Zs, Hs = [X], []
    for B in blocks:
        Z = Zs[-1]
        H = np.maximum(Z @ B.W.T - B.b, 0.0)
        out = H @ B.V + B.c
        if B.C is not None:
            out = out + Z @ B.C
        Hs.append(H)
        Zs.append(out)
    return Zs[:-1], Hs, Zs[-1]


def _deep_grads(blocks: Sequence[_Block], X: np.ndarray, Y: np.ndarray, loss: str
                ) -> tuple[float, list[np.ndarray]]:
    """Mean loss and its gradients, in the order of ``[a for B in blocks for a in B.arrays]``."""
    Zs, Hs, out = _deep_forward(blocks, X)
    val, G = _loss_and_grad(loss, out, Y)
    per_block: list[list[np.ndarray]] = [[] for _ in blocks]
    for l in range(len(blocks) - 1, -1, -1):
        B, Z, H = blocks[l], Zs[l], Hs[l]
        gV = H.T @ G
        gc = G.sum(axis=0)
        dP = (G @ B.V.T) * (H > 0)
        gW = dP.T @ Z
        gb = -dP.sum(axis=0)
        per_block[l] = [gW, gb, gV, gc]
        if B.C is not None:
            per_block[l].append(Z.T @ G)
        if l > 0:
            G_prev = dP @ B.W
            if B.C is not None:
                G_prev = G_prev + G @ B.C.T
            G = G_prev
    return val, [g for gs in per_block for g in gs]


def _deep_balance(blocks: Sequence[_Block], min_magnitude: float = 0.0) -> None:
    """One balancing sweep, in place, the function unchanged (module docstring).

    Each ReLU neuron ``(w_k, b_k, v_k) -> (a w_k, a b_k, v_k / a)``, ``a = sqrt(|v_k| / |w_k|)``;
    then each bottleneck unit ``z_j -> a z_j`` (``V_l[:, j], C_l[:, j], c_l[j]`` times ``a``,
    ``W_{l+1}[:, j], C_{l+1}[j, :]`` divided by ``a``), ``a = sqrt(|W_{l+1}[:, j]| /
    |V_l[:, j]|)``. Neurons with a zero side are left alone, and so are bottleneck units whose
    magnitude ``|V_l[:, j]| |W_{l+1}[:, j]|`` is ``<= min_magnitude`` (the prox zeroes their
    penalized weights anyway; rescaling them would only let the scale of their unpenalized skip
    weights drift, step after step, as they are revived by a gradient step and killed again).
    """
    for B in blocks:
        n_in, n_out = np.linalg.norm(B.W, axis=1), np.linalg.norm(B.V, axis=1)
        ok = (n_in > 0) & (n_out > 0)
        a = np.ones_like(n_in)
        a[ok] = np.sqrt(n_out[ok] / n_in[ok])
        B.W *= a[:, None]
        B.b *= a
        B.V /= a[:, None]
    for left, right in zip(blocks[:-1], blocks[1:]):
        n_in, n_out = np.linalg.norm(left.V, axis=0), np.linalg.norm(right.W, axis=0)
        ok = (n_in > 0) & (n_out > 0) & (n_in * n_out > min_magnitude)
        a = np.ones_like(n_in)
        a[ok] = np.sqrt(n_out[ok] / n_in[ok])
        left.V *= a[None, :]
        left.c *= a
        if left.C is not None:
            left.C *= a[None, :]
        right.W /= a[None, :]
        if right.C is not None:
            right.C /= a[:, None]


def _magnitude_scale(m: np.ndarray, t: float) -> np.ndarray:
    """``sqrt(max(m - t, 0) / m)`` (0 where ``m <= t``): the balanced scaling of the prox."""
    s = np.zeros_like(m)
    big = m > t
    s[big] = np.sqrt((m[big] - t) / m[big])
    return s


def _deep_prox_relu(B: _Block, t: float) -> None:
    """Soft-threshold each ReLU neuron's magnitude ``|w_k| |v_k|`` by ``t``, in place."""
    s = _magnitude_scale(np.linalg.norm(B.W, axis=1) * np.linalg.norm(B.V, axis=1), t)
    B.W *= s[:, None]
    B.b *= s
    B.V *= s[:, None]


def _deep_prox_bottleneck(left: _Block, right: _Block, t: float) -> None:
    """Soft-threshold each bottleneck unit's ``|V_l[:, j]| |W_{l+1}[:, j]|`` by ``t`` (skips kept)."""
    s = _magnitude_scale(np.linalg.norm(left.V, axis=0) * np.linalg.norm(right.W, axis=0), t)
    left.V *= s[None, :]
    right.W *= s[None, :]


def _deep_prox(blocks: Sequence[_Block], kind: str, t: float) -> None:
    """The proximal map of ``t`` times the penalty (``t = lr * alpha``), in place."""
    if kind == "wd":
        for B in blocks:
            B.W /= 1.0 + t
            B.V /= 1.0 + t
        return
    blocks[0].W /= 1.0 + t / 2
    blocks[-1].V /= 1.0 + t / 2
    _deep_balance(blocks, t / 2)
    for l, B in enumerate(blocks):
        _deep_prox_relu(B, t / 2)
        if l + 1 < len(blocks):
            _deep_prox_bottleneck(B, blocks[l + 1], t / 2)


# -- the models the loop trains ---------------------------------------------------------------

class _MLPModel:
    """An MLP's ``Ws + bs`` as the trained parameters."""

    def __init__(self, Ws: list[np.ndarray], bs: list[np.ndarray]) -> None:
        self.Ws, self.bs = Ws, bs
        self.params = Ws + bs

    def grads(self, X: np.ndarray, Y: np.ndarray, loss: str) -> tuple[float, list]:
        val, gW, gb = _grads(self.Ws, self.bs, X, Y, loss)
        return val, gW + gb

    def outputs(self, X: np.ndarray) -> np.ndarray:
        return _forward(self.Ws, self.bs, X)[1]

    def prox(self, kind: str, t: float, m1: list[np.ndarray]) -> None:
        Ws, bs = self.Ws, self.bs
        if kind == "wd":
            for W in Ws:
                W /= 1.0 + t
        elif kind in ("lasso", "group_lasso"):
            for l, W in enumerate(Ws):
                _prox_lasso(W, t) if kind == "lasso" else _prox_group_columns(W, t)
                m1[l][W == 0] = 0.0                      # no stale momentum on zeroed weights
        else:
            Ws[0] /= 1.0 + t / 2
            Ws[-1] /= 1.0 + t / 2
            _rebalance(Ws, bs)
            _prox_path(Ws, bs, t / 2)
            for l in range(len(Ws) - 1):       # the dead stay dead
                dead = ~np.any(Ws[l] != 0, axis=1)
                if np.any(dead):
                    m1[l][dead] = 0.0
                    m1[len(Ws) + l][dead] = 0.0
                    m1[l + 1][:, dead] = 0.0

    def alive(self) -> str:
        return str([int(np.sum(np.any(W != 0, axis=1))) for W in self.Ws[:-1]])

    def snapshot(self) -> Any:
        return [W.copy() for W in self.Ws], [b.copy() for b in self.bs]

    def result(self, state: Any, out_act: str, classes: np.ndarray | None,
               one_output: bool) -> MLP:
        Ws, bs = state if state is not None else (self.Ws, self.bs)
        return MLP(Ws, bs, out_activation=out_act, classes=classes).drop_dead()


class _DeepModel:
    """A DeepReLUNet's blocks (``W, b, V, c[, C]`` each) as the trained parameters."""

    def __init__(self, blocks: list[_Block]) -> None:
        self.blocks = blocks
        self.params = [a for B in blocks for a in B.arrays]
        self._index = []                      # per block: position of its W in params
        i = 0
        for B in blocks:
            self._index.append(i)
            i += len(B.arrays)

    def grads(self, X: np.ndarray, Y: np.ndarray, loss: str) -> tuple[float, list]:
        return _deep_grads(self.blocks, X, Y, loss)

    def outputs(self, X: np.ndarray) -> np.ndarray:
        return _deep_forward(self.blocks, X)[2]

    def prox(self, kind: str, t: float, m1: list[np.ndarray]) -> None:
        _deep_prox(self.blocks, kind, t)
        if kind == "wd":
            return
        for l, B in enumerate(self.blocks):          # no stale momentum on killed neurons
            i = self._index[l]
            dead = ~np.any(B.W != 0, axis=1) & ~np.any(B.V != 0, axis=1)
            if np.any(dead):
                m1[i][dead] = 0.0
                m1[i + 1][dead] = 0.0
                m1[i + 2][dead] = 0.0
            if l + 1 < len(self.blocks):
                nxt = self.blocks[l + 1]
                dead = ~np.any(B.V != 0, axis=0) & ~np.any(nxt.W != 0, axis=0)
                if np.any(dead):
                    m1[i + 2][:, dead] = 0.0
                    m1[self._index[l + 1]][:, dead] = 0.0

    def alive(self) -> str:
        relu_ = [int(np.sum(np.any(B.W != 0, axis=1) & np.any(B.V != 0, axis=1)))
                 for B in self.blocks]
        neck = [int(np.sum(np.any(a.V != 0, axis=0) & np.any(b.W != 0, axis=0)))
                for a, b in zip(self.blocks[:-1], self.blocks[1:])]
        return f"{relu_}, bottlenecks {neck}" if neck else str(relu_)

    def snapshot(self) -> Any:
        return [B.copy() for B in self.blocks]

    def result(self, state: Any, out_act: str, classes: np.ndarray | None,
               one_output: bool) -> "DeepReLUNet":
        from .deep import DeepReLUNet
        from .networks import _make_block

        blocks = state if state is not None else self.blocks
        L = len(blocks)
        return DeepReLUNet([_make_block(B.W, B.b, B.V, B.C, B.c, one_output and l == L - 1)
                            for l, B in enumerate(blocks)]).drop_dead()


def _initial_model(hidden_sizes: Any, kind: str, d: int, D: int, loss: str,
                   rng: np.random.Generator) -> tuple[Any, bool]:
    """(model, one_output) from sizes (He-normal init drawn from ``rng``) or a network."""
    from .deep import DeepReLUNet

    name = {"prox": "train_prox", "wd": "train_weight_decay", "lasso": "train_lasso",
            "group_lasso": "train_group_lasso"}[kind]
    want = {"softmax": "the number of classes", "logistic": "1 (logistic loss)",
            "squared": "the number of targets"}[loss]
    if isinstance(hidden_sizes, DeepReLUNet):
        net = hidden_sizes
        if kind not in ("prox", "wd"):
            raise InvalidProblemError(f"hidden_sizes: {name} trains MLPs only; pass hidden "
                                      "sizes or an MLP, or train a DeepReLUNet with train_prox "
                                      "/ train_weight_decay")
        if net.n_inputs != d or net.n_outputs != D:
            raise InvalidProblemError(
                f"hidden_sizes: the initial DeepReLUNet maps R^{net.n_inputs} -> "
                f"R^{net.n_outputs}, but X has {d} columns and the outputs must be {want} ({D})")
        blocks = []
        for blk in net.blocks:
            c = np.zeros(blk.D) if blk.intercept is None else blk.intercept.copy()
            C = None if blk.skip_coef is None else blk.skip_coef.copy()
            blocks.append(_Block(blk.W.copy(), blk.b.copy(), blk.V.copy(), c, C))
        return _DeepModel(blocks), net.blocks[-1]._one_output
    if isinstance(hidden_sizes, MLP):
        mlp = hidden_sizes
        if mlp.n_inputs != d or mlp.n_outputs != D:
            raise InvalidProblemError(
                f"hidden_sizes: the initial MLP maps R^{mlp.n_inputs} -> R^{mlp.n_outputs}, but "
                f"X has {d} columns and the outputs must be {want} ({D})")
        if mlp.n_layers < 2:
            raise InvalidProblemError("hidden_sizes: the initial MLP has no hidden layer")
        return _MLPModel([W.copy() for W in mlp.weights],
                         [b.copy() for b in mlp.biases]), False
    if isinstance(hidden_sizes, (str, bytes)):
        raise InvalidProblemError(f"hidden_sizes: expected a list of positive integers, got "
                                  f"{hidden_sizes!r}")
    try:
        sizes = [_check_int(h, "hidden_sizes", 1) for h in hidden_sizes]
    except TypeError:
        raise InvalidProblemError(f"hidden_sizes: expected a list of positive integers, an MLP "
                                  f"or a DeepReLUNet, got {hidden_sizes!r}") from None
    if not sizes:
        raise InvalidProblemError("hidden_sizes: needs at least one hidden layer, e.g. [64]")
    dims = [d] + sizes + [D]
    Ws = [rng.normal(size=(dims[i + 1], dims[i])) * np.sqrt(2.0 / dims[i])
          for i in range(len(dims) - 1)]
    bs = [np.zeros(dims[i + 1]) for i in range(len(dims) - 1)]
    return _MLPModel(Ws, bs), False


def _train(kind: str, X: Any, y: Any, hidden_sizes: Any, lam: Any, *, loss: str,
           epochs: Any, batch_size: Any, lr: Any, seed: Any, X_val: Any, y_val: Any,
           optimizer: str, patience: Any, verbose: bool) -> Any:
    if loss not in _LOSSES:
        raise InvalidProblemError(f"loss: unknown value {loss!r}; use one of "
                                  f"{', '.join(_LOSSES)}")
    if optimizer not in ("adam", "sgd"):
        raise InvalidProblemError(f"optimizer: unknown value {optimizer!r}; use 'adam' or 'sgd'")
    X = as_matrix(X, "X")
    N, d = X.shape
    if N == 0:
        raise InvalidProblemError("X: has no rows; pass at least one training example")
    Y, classes = _targets(y, loss, N, "y")
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        lam = float("nan")
    if not (np.isfinite(lam) and lam >= 0):
        raise InvalidProblemError(f"lam: must be a finite number >= 0 (for the summed loss, "
                                  f"lam = N * alpha), got {lam!r}")
    epochs = _check_int(epochs, "epochs", 1)
    batch = min(_check_int(batch_size, "batch_size", 1), N)
    lr = check_positive(lr, "lr", example="1e-3")
    if patience is not None:
        patience = _check_int(patience, "patience", 1)
    if (X_val is None) != (y_val is None):
        raise InvalidProblemError("X_val, y_val: pass both (a validation split) or neither")
    if X_val is not None:
        X_val = as_matrix(X_val, "X_val")
        if X_val.shape[1] != d:
            raise InvalidProblemError(f"X_val: has {X_val.shape[1]} columns, X has {d}")
        Y_val, _ = _targets(y_val, loss, X_val.shape[0], "y_val", classes)
        if Y_val.shape[1] != Y.shape[1]:
            raise InvalidProblemError(f"y_val: has {Y_val.shape[1]} targets, y has {Y.shape[1]}")
    rng = np.random.default_rng(check_seed(seed))
    model, one_output = _initial_model(hidden_sizes, kind, d, Y.shape[1], loss, rng)
    if loss == "squared" and np.ndim(y) == 1 and not isinstance(model, _MLPModel):
        one_output = True

    params = model.params
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    alpha = lam / N
    step = 0
    best, best_val, stale = None, np.inf, 0
    out_act = {"softmax": "softmax", "logistic": "logistic", "squared": "identity"}[loss]

    with progress(_LOG, verbose) as level:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(N)
            total = 0.0
            for start in range(0, N, batch):
                rows = order[start:start + batch]
                val, grads = model.grads(X[rows], Y[rows], loss)
                total += val * rows.size
                step += 1
                for i, (p, g) in enumerate(zip(params, grads)):
                    if optimizer == "sgd":
                        p -= lr * g
                        continue
                    m1[i] *= 0.9
                    m1[i] += 0.1 * g
                    m2[i] *= 0.999
                    m2[i] += 0.001 * g * g
                    p -= lr * (m1[i] / (1 - 0.9 ** step)) / (
                        np.sqrt(m2[i] / (1 - 0.999 ** step)) + 1e-8)
                if alpha > 0:
                    model.prox(kind, lr * alpha, m1)
            msg = f"epoch {epoch}: train loss {total / N:.4g}, alive {model.alive()}"
            if X_val is not None:
                vloss = _loss_and_grad(loss, model.outputs(X_val), Y_val)[0]
                msg += f", val loss {vloss:.4g}"
                if vloss < best_val:
                    best_val, stale = vloss, 0
                    best = model.snapshot()
                else:
                    stale += 1
            _LOG.log(level, msg)
            if not all(np.all(np.isfinite(p)) for p in params):
                raise InvalidProblemError(f"lr: training diverged at epoch {epoch} (non-finite "
                                          f"weights); lower lr (now {lr:g})")
            if patience is not None and X_val is not None and stale >= patience:
                _LOG.log(level, f"early stop at epoch {epoch}, best val loss {best_val:.4g}")
                break
    return model.result(best, out_act, classes, one_output)
