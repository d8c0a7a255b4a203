"""Deep ReLU networks: :class:`MLP` ``h_l = relu(W_l h_{l-1} - b_l)``, linear last layer (bias
subtracted); the conversions and ``.npz`` I/O are in :mod:`nnlasso.networks.io`."""
from __future__ import annotations

from numbers import Integral
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidProblemError
from .common import _OUT_ACTIVATIONS, _check_bias, _check_inputs, _float_array, _readonly, relu
from .io import _MLPIO
from .shallow import ShallowReLUNet


class MLP(_MLPIO):
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
