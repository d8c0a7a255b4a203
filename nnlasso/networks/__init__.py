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

Layout: :mod:`.common` (relu, validation), :mod:`.shallow` (ShallowReLUNet), :mod:`.mlp` (MLP),
:mod:`.io` (MLP.from_sklearn / from_torch / save / load).
"""
from __future__ import annotations

from .common import (_BIAS_MODES, _OUT_ACTIVATIONS, _check_bias, _check_inputs, _float_array,
                     _readonly, relu)
from .mlp import (MLP, _check_layers, _check_output, _keep_indices, _max_log_ratio, _row_norms,
                  _weight_decay)
from .shallow import ShallowReLUNet, _make_block, _merge_neurons, _orientation
from .io import _layers_from_arrays, _plain_classes, _read_npz

__all__ = ["ShallowReLUNet", "MLP", "relu"]
