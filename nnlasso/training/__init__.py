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

**The debias phase** (every trainer, ``debias=0.2`` by default): the last
``E_d = round(debias * epochs)`` epochs take the loss steps only (no prox), with step sizes
``lr/2 (1 + cos(pi j / E_d))``, ``j = 0 .. E_d - 1``, and the penalized weights that are exactly
zero when the phase starts held at zero; the first ``epochs - E_d`` epochs use the constant
``lr``. The penalty selects the support (the neurons, the lasso's entries), the phase refits it
without the shrinkage; ``debias=0`` is plain proximal gradient at a constant step.

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
from .api import (Architecture, train_group_lasso, train_lasso, train_prox,
                  train_weight_decay)
from .deep_ops import (_Block, _deep_balance, _deep_forward, _deep_grads, _deep_prox,
                       _deep_prox_bottleneck, _deep_prox_relu, _magnitude_scale)
from .loop import _epoch_lrs, _train
from .mlp_ops import (_check_int, _forward, _grads, _loss_and_grad, _prox_group_columns,
                      _prox_lasso, _prox_path, _rebalance, _targets)
from .models import _DeepModel, _initial_model, _MLPModel

__all__ = ["train_group_lasso", "train_lasso", "train_prox", "train_weight_decay"]
