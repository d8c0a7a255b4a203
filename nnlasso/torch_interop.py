"""PyTorch interoperability (optional: ``pip install 'nnlasso[torch]'``); torch imported lazily.

* :func:`deep_from_torch` (``DeepReLUNet.from_torch``): a torch model as a
  :class:`~nnlasso.deep.DeepReLUNet`, float64 copies of its weights.
* :func:`to_torch`: a DeepReLUNet as an ``nn.Sequential`` of :class:`ReLUBlock` modules.
* :func:`prox_step_torch`: the proximal step of :func:`nnlasso.train_prox` applied in place to
  a torch model, to call after each ``optimizer.step()``.

Accepted models: an ``nn.Sequential`` (nested Sequentials are flattened) of ``nn.Linear``,
``nn.ReLU`` and :class:`ReLUBlock` modules (``ReLUBlock(d, K, D, skip=True)``: a residual block
``out(relu(inp(z))) + skip(z)``, a DeepReLUNet block with its linear skip). Consecutive
``Linear`` layers are multiplied out; the Linears between two ReLU layers become the linear
bottleneck: two or more of them keep the given factorization (the first ones form the block's
``V``, the last one the next block's ``W``), a single one (a plain MLP) is split by its SVD as in
:meth:`DeepReLUNet.from_mlp`. A Linear right before or after a ReLUBlock is folded into that
block (its skip included). Anything else (other activations, custom residual modules whose
``forward`` cannot be read) is refused with :class:`~nnlasso.InvalidProblemError`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidProblemError

__all__ = ["ReLUBlock", "deep_from_torch", "prox_step_torch", "to_torch"]

_CLASSES: dict[str, Any] = {}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise InvalidProblemError("PyTorch is not installed; pip install 'nnlasso[torch]' (or "
                                  "torch itself) to convert or train torch models") from None
    return torch


def _relu_block_class() -> Any:
    """The :class:`ReLUBlock` nn.Module class (defined on first use, when torch is imported)."""
    if "ReLUBlock" not in _CLASSES:
        torch = _torch()
        nn = torch.nn

        class ReLUBlock(nn.Module):
            """A DeepReLUNet block as a torch module: ``out(relu(inp(z))) + skip(z)``.

            ``inp = Linear(d, K)`` (the ReLU layer, weight ``W``, bias ``-b``), ``out =
            Linear(K, D)`` (weight ``V^T``, bias the intercept ``c``), ``skip = Linear(d, D,
            bias=False)`` (weight ``C^T``) or None.
            """

            def __init__(self, d: int, K: int, D: int, skip: bool = True,
                         dtype: Any = None) -> None:
                super().__init__()
                self.inp = nn.Linear(d, K, dtype=dtype)
                self.out = nn.Linear(K, D, dtype=dtype)
                self.skip = nn.Linear(d, D, bias=False, dtype=dtype) if skip else None

            def forward(self, z: Any) -> Any:
                y = self.out(torch.relu(self.inp(z)))
                return y if self.skip is None else y + self.skip(z)

        _CLASSES["ReLUBlock"] = ReLUBlock
    return _CLASSES["ReLUBlock"]


def __getattr__(name: str) -> Any:
    if name == "ReLUBlock":
        return _relu_block_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def _flatten(model: Any, nn: Any) -> list:
    if isinstance(model, nn.Sequential):
        return [m for child in model for m in _flatten(child, nn)]
    return [model]


def _ops(model: Any) -> list[tuple]:
    """The model as ("lin", M, m) (z -> M z + m), ("relu",) and ("block", W, b, V, C, c) ops."""
    torch = _torch()
    nn = torch.nn
    Block = _relu_block_class()
    if not isinstance(model, (nn.Sequential, nn.Linear, Block)):
        raise InvalidProblemError(f"model: expected an nn.Sequential of Linear, ReLU and "
                                  f"nnlasso ReLUBlock modules, got {type(model).__name__}")
    ops: list[tuple] = []
    for i, m in enumerate(_flatten(model, nn)):
        if isinstance(m, nn.Linear):
            M = _np(m.weight)
            ops.append(("lin", M, np.zeros(M.shape[0]) if m.bias is None else _np(m.bias)))
        elif isinstance(m, nn.ReLU):
            ops.append(("relu",))
        elif isinstance(m, Block):
            W, Vt = _np(m.inp.weight), _np(m.out.weight)
            b = -_np(m.inp.bias) if m.inp.bias is not None else np.zeros(W.shape[0])
            c = _np(m.out.bias) if m.out.bias is not None else np.zeros(Vt.shape[0])
            C = None if m.skip is None else _np(m.skip.weight).T
            ops.append(("block", W, b, Vt.T.copy(), C, c))
        elif isinstance(m, (nn.Identity, nn.Flatten, nn.Dropout)):
            continue                              # the identity at inference (flat inputs)
        else:
            raise InvalidProblemError(
                f"model: layer {i} is {type(m).__name__}; only Linear, ReLU and nnlasso "
                "ReLUBlock (nnlasso.torch_interop.ReLUBlock) are supported (wrap a residual "
                "block z + f(z) as a ReLUBlock with skip=True)")
    return ops


def _compose(outer: tuple, inner: tuple | None) -> tuple:
    """``outer o inner`` for affine maps ("lin", M, m)."""
    if inner is None:
        return outer
    return ("lin", outer[1] @ inner[1], outer[1] @ inner[2] + outer[2])


def _svd_split(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``M = A B`` balanced by the thin SVD (rank by ``max(shape) * eps``, at least 1):
    returns ``(V, Wn)`` with ``V = B^T`` (K_l, r) and ``Wn = A`` (K_{l+1}, r)."""
    P, s, Qt = np.linalg.svd(M, full_matrices=False)
    r = max(int(np.sum(s > max(M.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0))), 1)
    sq = np.sqrt(s[:r])
    return (sq[:, None] * Qt[:r]).T, P[:, :r] * sq[None, :]


def deep_from_torch(model: Any) -> Any:
    """A torch model (module docstring) as a :class:`~nnlasso.deep.DeepReLUNet` (float64).

    The function equals the model's (up to its floating-point precision); the output is 2-D.
    """
    from .deep import DeepReLUNet
    from .networks import ShallowReLUNet

    blocks: list[list] = []                  # [W, b, V, C, c]
    pend: tuple | None = None                # affine map applied to the current linear units
    open_: tuple | None = None               # (W, b) of a ReLU layer awaiting its outputs
    outs: list[tuple] = []                   # Linears after the open ReLU layer

    def close(next_relu: bool) -> tuple | None:
        """Finish the open ReLU layer with its output Linears; return the next pending map."""
        nonlocal open_, outs
        if not outs:
            raise InvalidProblemError("model: a ReLU layer must be followed by an nn.Linear "
                                      "(its output weights)")
        W, b = open_
        nxt = None
        if next_relu and len(outs) == 1:          # a plain MLP: split the hidden-to-hidden map
            _, M, m = outs[0]
            V, Wn = _svd_split(M)
            c = np.zeros(V.shape[1])
            nxt = ("lin", Wn, m)
        else:
            use = outs[:-1] if next_relu else outs
            comp = None
            for op in use:
                comp = _compose(op, comp)
            V, c = comp[1].T.copy(), comp[2]
            nxt = outs[-1] if next_relu else None
        blocks.append([W, b, V, None, c])
        open_, outs = None, []
        return nxt

    for op in _ops(model):
        if op[0] == "lin":
            if open_ is not None:
                outs.append(op)
            else:
                pend = _compose(op, pend)
        elif op[0] == "relu":
            if open_ is not None:
                pend = close(next_relu=True)
            if pend is None:
                raise InvalidProblemError("model: a ReLU must follow an nn.Linear (its input "
                                          "weights)")
            open_, pend, outs = (pend[1], -pend[2]), None, []
        else:
            if open_ is not None:
                close(next_relu=False)
            _, W, b, V, C, c = op
            if pend is not None:                  # block(M z + m): fold the Linear in
                _, M, m = pend
                b = b - W @ m
                if C is not None:
                    c = c + C.T @ m
                    C = M.T @ C
                W = W @ M
                pend = None
            blocks.append([W, b, V, C, c])
    if open_ is not None:
        close(next_relu=False)
    elif pend is not None:
        if not blocks:
            raise InvalidProblemError("model: has no ReLU layer (a linear model); a DeepReLUNet "
                                      "needs at least one")
        _, M, m = pend                            # out -> M out + m, folded into the last block
        last = blocks[-1]
        last[2] = last[2] @ M.T
        if last[3] is not None:
            last[3] = last[3] @ M.T
        last[4] = M @ last[4] + m
    if not blocks:
        raise InvalidProblemError("model: has no ReLU layer")
    try:
        return DeepReLUNet([ShallowReLUNet(*p) for p in blocks])
    except InvalidProblemError as exc:
        raise InvalidProblemError(f"model: its layers do not chain ({exc})") from None


def to_torch(deep: Any, dtype: Any = None) -> Any:
    """A DeepReLUNet as an ``nn.Sequential`` of :class:`ReLUBlock` (``dtype`` default float64).

    Missing intercepts become zero biases; a block without a skip gets ``skip=None``.
    """
    torch = _torch()
    Block = _relu_block_class()
    dtype = torch.float64 if dtype is None else dtype
    mods = []
    for blk in deep.blocks:
        m = Block(blk.d, blk.n_neurons, blk.D, skip=blk.skip_coef is not None, dtype=dtype)
        with torch.no_grad():
            m.inp.weight.copy_(torch.from_numpy(blk.W))
            m.inp.bias.copy_(torch.from_numpy(-blk.b))
            m.out.weight.copy_(torch.from_numpy(blk.V.T.copy()))
            m.out.bias.copy_(torch.from_numpy(np.zeros(blk.D) if blk.intercept is None
                                              else blk.intercept))
            if blk.skip_coef is not None:
                m.skip.weight.copy_(torch.from_numpy(blk.skip_coef.T.copy()))
        mods.append(m)
    return torch.nn.Sequential(*mods)


def prox_step_torch(model: Any, lam: float, lr: float, *, n_samples: int = 1) -> list[int]:
    """The proximal step of :func:`nnlasso.train_prox`, in place on a torch model.

    Call it after each ``optimizer.step()`` on the loss: it applies the proximal map of
    ``t/2 * C(theta)`` with ``t = lr * lam / n_samples`` (the deep path form, module docstring
    of :mod:`nnlasso.training`): the end layers divided by ``1 + t/2``, every neuron rebalanced
    (the function unchanged), then each neuron's path magnitude ``|w_k| |v_k|`` soft-thresholded
    by ``t/2``, so whole neurons reach exactly zero. With the loss a mean over the data and
    ``lam`` in nnlasso's summed scaling, pass ``n_samples = N``; with ``n_samples = 1``, ``lam``
    is the weight relative to the loss the optimizer minimizes. ``train_prox``'s debias phase
    is up to the caller's loop: for the last epochs stop calling this step, anneal the
    optimizer's step size, and keep the dead neurons' weights at zero (e.g. multiply them by
    the mask of the neurons alive when the phase starts after every ``optimizer.step()``).

    Parameters
    ----------
    model : nn.Sequential
        Alternating ``Linear, ReLU, ..., Linear`` (an MLP), or a Sequential of
        :class:`ReLUBlock` modules (a DeepReLUNet with skips: ReLU neurons and bottleneck units
        both thresholded, skips and biases unpenalized).
    lam, lr : float
        Penalty weight and the step size of the optimizer's step.
    n_samples : int
        Divides ``lam`` (see above).

    Returns
    -------
    list of int
        The number of live (nonzero) neurons per hidden layer (MLP) or per block, then per
        bottleneck (ReLUBlocks). The optimizer's state (momentum) is not touched: a killed
        neuron can be revived by stale momentum and is thresholded again at the next step.
    """
    from .training import _Block, _deep_prox, _prox_path, _rebalance

    torch = _torch()
    nn = torch.nn
    Block = _relu_block_class()
    try:
        t = float(lr) * float(lam) / float(n_samples)
    except (TypeError, ValueError):
        t = float("nan")
    if not (np.isfinite(t) and t >= 0 and float(n_samples) > 0):
        raise InvalidProblemError(f"lam, lr, n_samples: need lam >= 0, lr > 0, n_samples > 0, "
                                  f"got {lam!r}, {lr!r}, {n_samples!r}")
    layers = _flatten(model, nn) if isinstance(model, nn.Sequential) else [model]
    if layers and all(isinstance(m, Block) for m in layers):
        blocks = []
        for m in layers:
            C = None if m.skip is None else _np(m.skip.weight).T.copy()
            blocks.append(_Block(_np(m.inp.weight), -_np(m.inp.bias), _np(m.out.weight).T.copy(),
                                 _np(m.out.bias), C))
        if t > 0:
            _deep_prox(blocks, "prox", t)
        with torch.no_grad():
            for m, B in zip(layers, blocks):
                dt = m.inp.weight.dtype
                m.inp.weight.copy_(torch.from_numpy(B.W).to(dt))
                m.inp.bias.copy_(torch.from_numpy(-B.b).to(dt))
                m.out.weight.copy_(torch.from_numpy(B.V.T.copy()).to(dt))
                m.out.bias.copy_(torch.from_numpy(B.c).to(dt))
                if m.skip is not None:
                    m.skip.weight.copy_(torch.from_numpy(B.C.T.copy()).to(dt))
        relu_ = [int(np.sum(np.any(B.W != 0, axis=1) & np.any(B.V != 0, axis=1)))
                 for B in blocks]
        neck = [int(np.sum(np.any(a.V != 0, axis=0) & np.any(b.W != 0, axis=0)))
                for a, b in zip(blocks[:-1], blocks[1:])]
        return relu_ + neck
    lins = [m for m in layers if isinstance(m, nn.Linear)]
    ok = (len(layers) >= 3 and len(layers) % 2 == 1
          and all(isinstance(m, nn.Linear if i % 2 == 0 else nn.ReLU)
                  for i, m in enumerate(layers))
          and all(m.bias is not None for m in lins))
    if not ok:
        raise InvalidProblemError("model: prox_step_torch needs an nn.Sequential of alternating "
                                  "Linear (with bias), ReLU, ..., Linear layers, or of nnlasso "
                                  "ReLUBlock modules")
    Ws = [_np(m.weight) for m in lins]
    bs = [-_np(m.bias) for m in lins]
    if t > 0:
        Ws[0] /= 1.0 + t / 2
        Ws[-1] /= 1.0 + t / 2
        _rebalance(Ws, bs)
        _prox_path(Ws, bs, t / 2)
    with torch.no_grad():
        for m, W, b in zip(lins, Ws, bs):
            m.weight.copy_(torch.from_numpy(W).to(m.weight.dtype))
            m.bias.copy_(torch.from_numpy(-b).to(m.bias.dtype))
    return [int(np.sum(np.any(W != 0, axis=1))) for W in Ws[:-1]]
