"""The models the training loop updates (an MLP's or a DeepReLUNet's arrays) and the initial model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidProblemError
from ..networks import MLP
from .deep_ops import _Block, _deep_forward, _deep_grads, _deep_prox
from .mlp_ops import (_check_int, _forward, _grads, _prox_group_columns, _prox_lasso, _prox_path,
                      _rebalance)

if TYPE_CHECKING:
    from ..deep import DeepReLUNet



# -- the models the loop trains ---------------------------------------------------------------

class _MLPModel:
    """An MLP's ``Ws + bs`` as the trained parameters."""

    def __init__(self, Ws: list[np.ndarray], bs: list[np.ndarray]) -> None:
        self.Ws, self.bs = Ws, bs
        self.params = Ws + bs
        self.penalized = list(range(len(Ws)))          # the weights (biases unpenalized)

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

    def restore(self, state: Any) -> None:
        for p, q in zip(self.params, state[0] + state[1]):
            p[...] = q

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
        self.penalized = [j for i in self._index for j in (i, i + 2)]   # every W and V

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

    def restore(self, state: Any) -> None:
        for p, q in zip(self.params, [a for B in state for a in B.arrays]):
            p[...] = q

    def result(self, state: Any, out_act: str, classes: np.ndarray | None,
               one_output: bool) -> "DeepReLUNet":
        from ..deep import DeepReLUNet
        from ..networks import _make_block

        blocks = state if state is not None else self.blocks
        L = len(blocks)
        return DeepReLUNet([_make_block(B.W, B.b, B.V, B.C, B.c, one_output and l == L - 1)
                            for l, B in enumerate(blocks)]).drop_dead()


def _initial_model(hidden_sizes: Any, kind: str, d: int, D: int, loss: str,
                   rng: np.random.Generator) -> tuple[Any, bool]:
    """(model, one_output) from sizes (He-normal init drawn from ``rng``) or a network."""
    from ..deep import DeepReLUNet

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


