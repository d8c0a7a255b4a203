"""Compression of a trained ReLU layer through its convex reformulation (docs/math.md).

Take hidden layer ``l`` of an :class:`~nnlasso.networks.MLP`
(``h_l = relu(W_l h_{l-1} - b_l)``, biases subtracted) and training inputs X (N rows).

1. **Rebalance** the network (:meth:`MLP.rebalance`: same function, weight decay
   non-increasing) and **normalize** the layer's input rows, ``|W_l[k]| = 1``, moving the scale
   into the outgoing columns. The outgoing weights are then ``V_out = W_{l+1}^T`` (K, D) and the
   layer's balanced weight decay is its path norm ``sum_k |V_out[k, :]|_2``.
2. **Features.** ``Phi = h_l(X)`` (N, K) and ``Psi = Phi V_out`` (N, D): the next layer's
   pre-activation *minus its bias* (for the last hidden layer: the logits minus the output bias).
3. **Convex program** over the layer's own neurons (one of)

   ======== ===================================================================================
   exact    min sum_k |V_k|_2  s.t.  Phi V = Psi                             (MIN, eps = 0)
   eps      min sum_k |V_k|_2  s.t.  |Phi V + 1 c - Psi|_F <= eps |Psi|_F    (MIN, eps > 0)
   lam      min 1/2 |Psi - Phi V - 1 c|_F^2 + lam sum_k |V_k|_2               (penalized)
   label    min sum_n L(y_n, (Phi V + 1 c)_n) + lam sum_k |V_k|_2             (label-aware MTL)
   ======== ===================================================================================

   ``L`` is the network's own loss (softmax cross-entropy for a multiclass classifier, logistic
   for a binary one, 1/2 |y - z|^2 for a regressor) on the *true labels*; "label" is offered
   only for the last hidden layer. With an MLPClassifier trained by scikit-learn with weight
   decay ``alpha`` on one hidden layer, ``lam = alpha`` makes "label" the network's own training
   objective (times N) restricted to the trained hidden neurons: sklearn minimizes
   ``(1/N) sum CE + alpha / (2N) sum |W|^2`` and, at a balanced network,
   ``1/2 sum |W|^2 = sum_k |w_k| |v_k|``.
4. **Support reduction** (:func:`nnlasso.representer.reduce_support`, the constructive proof of
   the width bound): same fit, penalty not increased, at most ``rank(P Phi) rank(P Psi)``
   neurons. It is skipped when the surviving features are linearly independent (then the atoms
   ``vec(e_k (P phi_k)^T)`` are independent and nothing can be removed).
5. **Refit** (``refit=True``, not for "label"): the surviving outgoing weights (and the free
   next bias) are corrected by least squares on Psi,
   ``[V_S; c] <- [V_S; c] + pinv([Phi_S 1]) (Psi - Phi_S V_S - 1 c)``, the least-squares
   solution closest to the program's point: it removes the penalty's shrinkage (lam), can only
   lower the residual (eps: the deviation stays <= eps) and makes the exact mode exact to
   rounding.
6. The narrower MLP deletes the removed neurons from both adjacent matrices
   (:meth:`MLP.remove_neurons`) and is rebalanced again.

**The next layer's bias (the skip).** In the *exact* mode it is fixed (``Psi`` excludes it, no
intercept variable): any feasible V reproduces the next layer's pre-activation on X, so every
later layer and the outputs are unchanged on X (to the solver's rounding, then to machine
precision after the refit). In the *eps* and *lam* modes the next bias is free by default
(``intercept=None`` -> True; an unpenalized intercept ``c``, the new bias is ``b_{l+1} - c``):
the mean contribution of removed neurons moves into the bias at no cost. In the *label* mode
the output bias is the program's unpenalized intercept ("intercept" skip), refitted with V.

**Exactness is on X only.** The exact mode keeps ``Phi V = Psi`` on the rows of X. When the
features of X have full column rank (N > K and no neuron dead or duplicated on X) the only
solution is the trained V itself and nothing is removed; otherwise removed neurons may still be
active on other inputs, so outputs on test data can move (reported as
``test_max_output_change``).

Layout: ``report`` (:class:`CompressionReport`, :class:`CompressionPath`), ``inputs`` (checks and
the prepared layer), ``solvers`` (the programs, width bounds, reduction, refit), ``evaluation``
(scores), ``api`` (:func:`compress_layer`, :func:`compress_network`, :func:`compression_path`).
"""
from __future__ import annotations

from .report import CompressionPath, CompressionReport
from .solvers import EFFECTIVE_RTOL
from .api import EXACT_RTOL, compress, compress_layer, compress_network, compression_path

__all__ = ["CompressionReport", "CompressionPath", "compress_layer", "compress", "compress_network",
           "compression_path"]
