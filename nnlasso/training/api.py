"""The public trainers: train_prox, train_weight_decay, train_lasso, train_group_lasso."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, Union

from ..networks import MLP
from .loop import _train

if TYPE_CHECKING:
    from ..deep import DeepReLUNet

__all__ = ["train_group_lasso", "train_lasso", "train_prox", "train_weight_decay"]


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
    debias : float in [0, 1)
        Fraction of the epochs spent in the final **debias phase** (default 0.2; 0 turns it
        off: constant ``lr`` and the penalty throughout). With ``E_d = round(debias * epochs)``
        (at most ``epochs - 1``) and ``E_p = epochs - E_d``, epochs ``1 .. E_p`` take the
        penalized steps at the constant step size ``lr``; epochs ``E_p + 1 .. epochs`` take
        plain loss steps (no prox: the penalty is off) with the step size annealed by a cosine,
        ``lr_j = lr/2 (1 + cos(pi j / E_d))`` for the ``j``-th debias epoch (``j = 0 .. E_d -
        1``), and every penalized weight that is exactly zero when the phase starts is held at
        zero (the support the penalty selected is kept: dead neurons stay dead, a lasso's zero
        entries stay zero). The phase refits the surviving weights without the penalty's
        shrinkage (as the relaxed lasso does for the lasso). With a validation split, it starts
        from the best network seen so far, and early stopping during the penalized phase moves
        on to the debias phase instead of ending training.

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
               patience: int | None = 20, verbose: bool = False, debias: float = 0.2) -> Any:
    """Train an MLP or a DeepReLUNet by proximal gradient on the deep path form of weight decay.

    Minimizes ``sum_n loss(f(x_n), y_n) + lam/2 * C(theta)``, ``C(theta) = 1/2 |W_1|_F^2 +
    1/2 |W_L|_F^2 + sum_l sum_k |w_k^(l)|_2 |v_k^(l)|_2`` (the deep path form of weight decay;
    module docstring): after each mini-batch step of size ``lr_e`` the proximal map of
    ``lr_e * lam / N`` times the penalty rebalances every neuron and soft-thresholds its path
    magnitude ``m_k = |w_k| |v_k|``, ``m_k <- max(0, m_k - lr_e lam / (2N))``, so whole neurons
    reach exactly zero. The procedure, ``E`` = ``epochs``, ``E_d = round(debias E)``:

    1. epochs ``1 .. E - E_d``: Adam (or SGD) step of size ``lr_e = lr`` on the mean loss of a
       mini-batch, then the prox above;
    2. epochs ``E - E_d + 1 .. E`` (the debias phase): the same loss steps without the prox,
       ``lr_e = lr/2 (1 + cos(pi j / E_d))`` in the ``j``-th of them (``j = 0 .. E_d - 1``), the
       zero neurons held at zero: the surviving neurons are refit without the shrinkage.

    Dead neurons are removed at the end. ``debias=0`` is the plain proximal gradient with a
    constant step. On digits (128 hidden neurons, 100 epochs, ``lr=3e-3``, batch 32) the debias
    phase is what brings proximal training within 1 point of unregularized training with a
    third of the neurons (docs/prox_vs_weight_decay.md).
    """
    return _train("prox", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose,
                  debias=debias)


def train_weight_decay(X: Any, y: Any, hidden_sizes: Architecture, lam: float, *,
                       loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                       lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                       optimizer: str = "adam", patience: int | None = 20,
                       verbose: bool = False, debias: float = 0.2) -> Any:
    """Train an MLP or a DeepReLUNet with plain weight decay, the baseline of :func:`train_prox`.

    Minimizes ``sum_n loss(f(x_n), y_n) + lam * 1/2 sum_l |W_l|_F^2`` (biases unpenalized; for a
    DeepReLUNet ``1/2 sum_l |W_l|^2 + |V_l|^2``, skips and intercepts unpenalized) by the same
    mini-batch steps, each followed by the exact prox of the weight decay,
    ``W_l <- W_l / (1 + lr * lam / N)`` (decoupled weight decay), and the same schedule: the
    last ``debias`` fraction of the epochs without the penalty, ``lr`` annealed by a cosine
    (:func:`train_prox`). Same parameters and return value as :func:`train_prox`; neurons are
    removed only if they are exactly dead.
    """
    return _train("wd", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose,
                  debias=debias)


def train_lasso(X: Any, y: Any, hidden_sizes: Sequence[int] | MLP, lam: float, *,
                loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                optimizer: str = "adam", patience: int | None = 20,
                verbose: bool = False, debias: float = 0.2) -> MLP:
    """Train an MLP with the lasso (l1) penalty on its weights, ``lam * sum_l |W_l|_1``.

    Proximal gradient: the same mini-batch steps as :func:`train_prox`, each followed by the
    exact prox, entrywise soft-thresholding ``W <- sign(W) max(|W| - lr lam / N, 0)`` (biases
    unpenalized), and the same debias phase (the zero entries held at zero). Same parameters
    and return value as :func:`train_prox` (MLPs only).
    """
    return _train("lasso", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose, debias=debias)


def train_group_lasso(X: Any, y: Any, hidden_sizes: Sequence[int] | MLP, lam: float, *,
                      loss: str = "softmax", epochs: int = 100, batch_size: int = 64,
                      lr: float = 1e-3, seed: Any = 0, X_val: Any = None, y_val: Any = None,
                      optimizer: str = "adam", patience: int | None = 20,
                      verbose: bool = False, debias: float = 0.2) -> MLP:
    """Train an MLP with the group-lasso penalty ``lam * sum_l sum_k |W_l[:, k]|_2``.

    The groups are the outgoing weights of every input and hidden unit (column k of ``W_l``;
    Scardapane, Comminiello, Hussain, Uncini, "Group sparse regularization for deep neural
    networks", 2017). Proximal gradient: the same mini-batch steps as :func:`train_prox`, each
    followed by the exact prox, group soft-thresholding
    ``W[:, k] <- W[:, k] max(0, 1 - lr lam / (N |W[:, k]|))``; a hidden neuron whose outgoing
    column is zero is removed; the same debias phase (the zero columns held at zero). Same
    parameters and return value as :func:`train_prox` (MLPs only).
    """
    return _train("group_lasso", X, y, hidden_sizes, lam, loss=loss, epochs=epochs,
                  batch_size=batch_size, lr=lr, seed=seed, X_val=X_val, y_val=y_val,
                  optimizer=optimizer, patience=patience, verbose=verbose, debias=debias)


for _fn in (train_prox, train_weight_decay, train_lasso, train_group_lasso):
    _fn.__doc__ = (_fn.__doc__ or "").rstrip() + "\n" + _ARGS_DOC
del _fn



