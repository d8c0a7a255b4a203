"""Deep ReLU networks as compositions of vector-valued shallow networks.

A :class:`DeepReLUNet` is ``f = f_L o ... o f_1`` where each block is a
:class:`~nnlasso.networks.ShallowReLUNet` mapping ``R^{d_l} -> R^{d_{l+1}}``::

    f_l(z) = V_l^T relu(W_l z - b_l) + C_l^T z + c_l        (biases subtracted, as everywhere)

(``W_l``: (K_l, d_l) input weights, ``V_l``: (K_l, d_{l+1}) output weights, ``C_l``: (d_l,
d_{l+1}) the unpenalized linear skip, ``c_l`` the intercept). The outputs of a block are the
*linear neurons* (the bottleneck) between two ReLU layers: the weight matrix from the ReLU
layer of block l to the ReLU layer of block l+1 is the product ``W_{l+1} V_l^T`` of rank at most
``d_{l+1}``.

Regularizers (w_k^(l): row k of W_l; v_k^(l): row k of V_l, the output weights of ReLU neuron
k of block l; skips, intercepts and biases are never penalized):

* weight decay ``WD = 1/2 sum_l (|W_l|_F^2 + |V_l|_F^2)``;
* the deep path form ``C(theta) = 1/2 sum_k |w_k^(1)|^2 + 1/2 sum_k |v_k^(L)|^2 + sum over
  neurons |w_k| |v_k|``, the sum over the ReLU neurons and over the linear (bottleneck)
  neurons (:meth:`DeepReLUNet.deep_regularizer`).

At a balanced network (every ReLU neuron with ``|w_k| = |v_k|`` and every bottleneck factored
in balance, ``W_{l+1}^T W_{l+1} = V_l^T V_l``, which :meth:`DeepReLUNet.rebalance` produces)
``C = 2 WD``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InvalidProblemError
from .networks import MLP, ShallowReLUNet, _check_inputs, _make_block

__all__ = ["DeepReLUNet"]


def _block_arrays(block: ShallowReLUNet
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None,
                             np.ndarray | None]:
    """Copies of (W, b, V (2-D), skip (2-D) or None, intercept or None)."""
    C = None if block.skip_coef is None else block.skip_coef.copy()
    c0 = None if block.intercept is None else block.intercept.copy()
    return block.W.copy(), block.b.copy(), block.V.copy(), C, c0


class DeepReLUNet:
    """A composition of vector-valued shallow ReLU networks (skips and linear bottlenecks).

    ``f(x) = f_L(... f_1(x))`` with ``f_l(z) = V_l^T relu(W_l z - b_l) + C_l^T z + c_l``.

    Parameters
    ----------
    blocks : sequence of ShallowReLUNet
        Composed first to last: block l's number of outputs ``D`` must equal block l+1's number
        of inputs ``d``. :meth:`predict` returns a 1-D array when the last block was built with a
        1-D ``V``.
    """

    def __init__(self, blocks: Sequence[ShallowReLUNet]) -> None:
        if isinstance(blocks, ShallowReLUNet):
            blocks = [blocks]
        try:
            blocks = list(blocks)
        except TypeError:
            raise InvalidProblemError("blocks: expected a list of ShallowReLUNet, got "
                                      f"{type(blocks).__name__}") from None
        if not blocks:
            raise InvalidProblemError("blocks: a DeepReLUNet needs at least one block")
        for l, blk in enumerate(blocks, start=1):
            if not isinstance(blk, ShallowReLUNet):
                raise InvalidProblemError(f"blocks[{l - 1}]: expected a ShallowReLUNet, got "
                                          f"{type(blk).__name__}")
            if l > 1 and blk.d != blocks[l - 2].D:
                raise InvalidProblemError(
                    f"blocks[{l - 1}]: has d = {blk.d} inputs but blocks[{l - 2}] has "
                    f"D = {blocks[l - 2].D} outputs; consecutive blocks must chain")
        self.blocks: tuple[ShallowReLUNet, ...] = tuple(blocks)

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        """Number L of blocks (ReLU layers)."""
        return len(self.blocks)

    @property
    def n_inputs(self) -> int:
        return self.blocks[0].d

    @property
    def n_outputs(self) -> int:
        return self.blocks[-1].D

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Widths ``K_l`` of the ReLU layers."""
        return tuple(blk.n_neurons for blk in self.blocks)

    @property
    def bottleneck_sizes(self) -> tuple[int, ...]:
        """Widths ``d_{l+1}`` of the linear layers between consecutive blocks."""
        return tuple(blk.D for blk in self.blocks[:-1])

    @property
    def has_skips(self) -> bool:
        """Whether some block has a linear skip ``C_l``."""
        return any(blk.skip_coef is not None for blk in self.blocks)

    def __repr__(self) -> str:
        return (f"DeepReLUNet(d={self.n_inputs}, hidden={list(self.hidden_sizes)}, "
                f"bottlenecks={list(self.bottleneck_sizes)}, D={self.n_outputs}, "
                f"skips={self.has_skips})")

    # -- evaluation ------------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """``f(X)``: shape (N, D), or (N,) when the last block was built with a 1-D ``V``."""
        Z = _check_inputs(X, self.n_inputs)
        for blk in self.blocks:
            Z = blk._output(Z)
        return Z[:, 0] if self.blocks[-1]._one_output else Z

    # -- regularizers ----------------------------------------------------------------------------
    def weight_decay(self) -> float:
        """``WD = 1/2 sum_l (|W_l|_F^2 + |V_l|_F^2)``; skips, intercepts, biases unpenalized."""
        return float(sum(blk.weight_decay() for blk in self.blocks))

    def path_norms(self) -> list[float]:
        """Per block, the path norm ``sum_k |w_k^(l)|_2 |v_k^(l)|_2`` (a list of L floats)."""
        return [blk.path_norm() for blk in self.blocks]

    def deep_regularizer(self) -> float:
        """The deep path form of weight decay, ``C(theta)``.

        The network read as an MLP whose layers alternate ReLU neurons and linear (bottleneck)
        neurons, every neuron with its input weights ``w`` (a row of the matrix before it) and
        output weights ``v`` (a column of the matrix after it)::

            C = 1/2 |W_1|_F^2 + 1/2 |V_L|_F^2
                + sum_l sum_k |w_k^(l)|_2 |v_k^(l)|_2                 (ReLU neuron k of block l)
                + sum_{l<L} sum_j |V_l[:, j]|_2 |W_{l+1}[:, j]|_2     (bottleneck neuron j)

        (w_k^(l): row k of ``W_l``, v_k^(l): row k of ``V_l``; skips, intercepts and biases are
        unpenalized). At a balanced network (:meth:`rebalance`: every ReLU and bottleneck neuron
        balanced) ``C = 2 WD``; for a net from :meth:`from_mlp` without bottleneck terms this is
        :meth:`MLP.deep_regularizer`'s formula.
        """
        first, last = self.blocks[0], self.blocks[-1]
        reg = 0.5 * float(np.sum(first.W ** 2)) + 0.5 * float(np.sum(last.V ** 2))
        reg += sum(self.path_norms())
        for left, right in zip(self.blocks[:-1], self.blocks[1:]):
            reg += float(np.sum(np.linalg.norm(left.V, axis=0) * np.linalg.norm(right.W, axis=0)))
        return reg

    # -- rebalancing -----------------------------------------------------------------------------
    def rebalance(self, tol: float = 1e-12, max_sweeps: int = 1000) -> "DeepReLUNet":
        """Balance every ReLU neuron and every linear bottleneck; the function is unchanged.

        A sweep (1) rescales each ReLU neuron ``(w_k, b_k, v_k) -> (a w_k, a b_k, v_k / a)``
        with ``a = sqrt(|v_k| / |w_k|)`` (:meth:`ShallowReLUNet.rebalance`: dead neurons are
        zeroed, a constant moves into the intercept), then (2) changes the basis of each
        bottleneck ``z -> A z`` (``V_l, C_l, c_l`` of block l times ``A^T``; ``W_{l+1}`` times
        ``A^{-1}``, ``C_{l+1}`` by ``A^{-T}``) with ``A^T A = P^{-1} # Q`` (the matrix geometric
        mean, ``P = V_l^T V_l``, ``Q = W_{l+1}^T W_{l+1}``), the minimizer of
        ``1/2 (|W_{l+1} A^{-1}|^2 + |V_l A^T|^2)``, whose value is the nuclear norm
        ``|W_{l+1} V_l^T|_*``: a balanced factorization. A bottleneck where P or Q is singular
        (a direction used by only one side, where no minimizer exists) is left as it is.
        Each step minimizes the weight decay exactly over its variables, so the weight decay
        never increases; sweeps stop when it decreases by less than ``tol`` (relative).
        """
        if not (np.isfinite(tol) and tol > 0):
            raise InvalidProblemError(f"tol: must be a finite number > 0, got {tol!r}")
        parts = [list(_block_arrays(blk)) for blk in self.blocks]
        flags = [blk._one_output for blk in self.blocks]

        def wd() -> float:
            return 0.5 * sum(float(np.sum(p[0] ** 2) + np.sum(p[2] ** 2)) for p in parts)

        prev = wd()
        for _ in range(max_sweeps):
            for p in parts:
                blk = ShallowReLUNet(*p).rebalance()
                p[:] = list(_block_arrays(blk))
            for l in range(len(parts) - 1):
                _balance_bottleneck(parts[l], parts[l + 1])
            cur = wd()
            if prev - cur <= tol * max(prev, 1e-300):
                break
            prev = cur
        return DeepReLUNet([_make_block(*p, one) for p, one in zip(parts, flags)])

    def drop_dead(self) -> "DeepReLUNet":
        """Remove dead neurons; the function is unchanged.

        A ReLU neuron k of block l is dead when its input row ``W_l[k]`` or its output row
        ``V_l[k]`` is zero; with ``W_l[k] = 0`` it outputs the constant ``relu(-b_k)``, whose
        contribution ``V_l[k] relu(-b_k)`` moves into the intercept ``c_l``. A bottleneck unit j
        between blocks l and l+1 is dead when it has no input (``V_l[:, j] = 0`` and
        ``C_l[:, j] = 0``: it is the constant ``c_l[j]``, which moves into ``b_{l+1}`` (minus
        ``W_{l+1}[:, j] c_l[j]``) and ``c_{l+1}`` (plus ``C_{l+1}[j] c_l[j]``)) or no output
        (``W_{l+1}[:, j] = 0`` and ``C_{l+1}[j] = 0``). A bottleneck keeps at least one unit (an
        all-zero one if all are dead); the inputs and outputs of the network are never removed.
        Repeats until nothing changes (removals can kill neurons next to them).
        """
        parts = [list(_block_arrays(blk)) for blk in self.blocks]
        flags = [blk._one_output for blk in self.blocks]
        changed = True
        while changed:
            changed = False
            for p in parts:
                W, b, V, C, c0 = p
                in_zero, out_zero = ~np.any(W != 0, axis=1), ~np.any(V != 0, axis=1)
                dead = in_zero | out_zero
                if not np.any(dead):
                    continue
                const = in_zero & ~out_zero
                if np.any(const):
                    c0 = np.zeros(V.shape[1]) if c0 is None else c0
                    p[4] = c0 + V[const].T @ np.maximum(-b[const], 0.0)
                keep = ~dead
                p[0], p[1], p[2] = W[keep], b[keep], V[keep]
                changed = True
            for left, right in zip(parts[:-1], parts[1:]):
                V, C, c0 = left[2], left[3], left[4]
                W, Cn = right[0], right[3]
                in_zero = ~np.any(V != 0, axis=0)
                if C is not None:
                    in_zero &= ~np.any(C != 0, axis=0)
                out_zero = ~np.any(W != 0, axis=0)
                if Cn is not None:
                    out_zero &= ~np.any(Cn != 0, axis=1)
                dead = in_zero | out_zero
                if not np.any(dead):
                    continue
                const = in_zero & ~out_zero
                if c0 is not None and np.any(const & (c0 != 0)):
                    cj = np.where(const, c0, 0.0)
                    right[1] = right[1] - W @ cj
                    if Cn is not None:
                        right[4] = (np.zeros(Cn.shape[1]) if right[4] is None
                                    else right[4]) + cj @ Cn
                    left[4] = c0 = np.where(const, 0.0, c0)
                keep = ~dead
                if not np.any(keep):            # keep one all-zero unit: widths stay >= 1
                    keep[0] = True
                    touched = [a for a in (V[:, 0], W[:, 0],
                                           None if C is None else C[:, 0],
                                           None if Cn is None else Cn[0],
                                           None if c0 is None else c0[:1])
                               if a is not None and np.any(a != 0)]
                    if touched:
                        V, W = V.copy(), W.copy()
                        V[:, 0], W[:, 0] = 0.0, 0.0
                        if C is not None:
                            C = C.copy()
                            C[:, 0] = 0.0
                        if Cn is not None:
                            Cn = Cn.copy()
                            Cn[0] = 0.0
                        if c0 is not None:
                            c0 = c0.copy()
                            c0[0] = 0.0
                        left[2], left[3], left[4], right[0], right[3] = V, C, c0, W, Cn
                        changed = True
                    if keep.size == 1:
                        continue
                left[2] = V[:, keep]
                if C is not None:
                    left[3] = C[:, keep]
                if c0 is not None:
                    left[4] = c0[keep]
                right[0] = W[:, keep]
                if Cn is not None:
                    right[3] = Cn[keep]
                changed = True
        return DeepReLUNet([_make_block(*p, one) for p, one in zip(parts, flags)])

    @classmethod
    def random(cls, n_inputs: int, hidden_sizes: Sequence[int], n_outputs: int, *,
               bottlenecks: Sequence[int] | None = None, skips: bool | Sequence[bool] = False,
               seed: Any = 0) -> "DeepReLUNet":
        """A randomly initialized network (the starting point of :func:`nnlasso.train_prox`).

        Block l has ``hidden_sizes[l]`` ReLU neurons and ``bottlenecks[l]`` outputs (the last
        block ``n_outputs``; default bottleneck: the smaller of the two ReLU widths around it);
        ``W_l`` and ``V_l`` are He-normal (``N(0, 2 / fan_in)``), biases and intercepts 0, and a
        block with ``skips[l]`` (one bool for all) gets a zero linear skip ``C_l`` (trained,
        unpenalized).
        """
        from numbers import Integral

        from ._validation import check_seed

        def ints(vals: Any, name: str) -> list[int]:
            try:
                out = list(vals)
            except TypeError:
                raise InvalidProblemError(f"{name}: expected a list of positive integers, got "
                                          f"{vals!r}") from None
            for v in out:
                if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
                    raise InvalidProblemError(f"{name}: expected positive integers, got {v!r}")
            return [int(v) for v in out]

        (d,), (D,) = ints([n_inputs], "n_inputs"), ints([n_outputs], "n_outputs")
        K = ints(hidden_sizes, "hidden_sizes")
        if not K:
            raise InvalidProblemError("hidden_sizes: needs at least one ReLU layer, e.g. [64]")
        necks = ([min(a, b) for a, b in zip(K[:-1], K[1:])] if bottlenecks is None
                 else ints(bottlenecks, "bottlenecks"))
        if len(necks) != len(K) - 1:
            raise InvalidProblemError(f"bottlenecks: expected {len(K) - 1} widths (one between "
                                      f"consecutive ReLU layers), got {len(necks)}")
        sk = [bool(skips)] * len(K) if isinstance(skips, (bool, np.bool_)) else list(skips)
        if len(sk) != len(K):
            raise InvalidProblemError(f"skips: expected one bool per block ({len(K)}), got "
                                      f"{len(sk)}")
        rng = np.random.default_rng(check_seed(seed))
        dims = [d] + necks + [D]
        blocks = []
        for l, k in enumerate(K):
            W = rng.normal(size=(k, dims[l])) * np.sqrt(2.0 / dims[l])
            V = rng.normal(size=(k, dims[l + 1])) * np.sqrt(2.0 / k)
            C = np.zeros((dims[l], dims[l + 1])) if sk[l] else None
            blocks.append(ShallowReLUNet(W, np.zeros(k), V, C, np.zeros(dims[l + 1])))
        return cls(blocks)

    # -- conversions -----------------------------------------------------------------------------
    @classmethod
    def from_mlp(cls, mlp: MLP, rtol: float | None = None) -> "DeepReLUNet":
        """The MLP as a composition: one block per hidden ReLU layer, no skips.

        Block l has ``W = W_l, b = b_l`` (the MLP's layer l). Each hidden-to-hidden matrix
        ``W_{l+1} = P S Q^T`` (thin SVD, singular values ``<= rtol * s_max`` dropped; default
        ``rtol = max(shape) * eps``) is split across the bottleneck as the balanced
        factorization ``V_l^T = S^{1/2} Q^T`` and ``W_{l+1}^{block} = P S^{1/2}``; the last
        block's output weights are ``W_L^T`` with intercept ``-b_L`` (the raw outputs / logits of
        the MLP). The function equals ``mlp.forward``.
        """
        if not isinstance(mlp, MLP):
            raise InvalidProblemError(f"mlp: expected an nnlasso MLP, got {type(mlp).__name__}; "
                                      "use MLP.from_sklearn / MLP.from_torch first")
        if mlp.n_layers < 2:
            raise InvalidProblemError("mlp: has no hidden layer (a linear model); a "
                                      "DeepReLUNet needs at least one ReLU layer")
        Ws, bs = mlp.weights, mlp.biases
        blocks = []
        W_in = Ws[0].copy()
        for l in range(1, mlp.n_layers):
            if l == mlp.n_layers - 1:
                blocks.append(ShallowReLUNet(W_in, bs[l - 1], Ws[l].T.copy(), None, -bs[l]))
                break
            M = Ws[l]
            P, s, Qt = np.linalg.svd(M, full_matrices=False)
            cut = (max(M.shape) * np.finfo(float).eps) if rtol is None else float(rtol)
            r = int(np.sum(s > cut * (s[0] if s.size else 0.0))) if s.size else 0
            r = max(r, 1)
            sq = np.sqrt(s[:r])
            V = (sq[:, None] * Qt[:r]).T            # (K_l, r): V_l^T = S^1/2 Q^T
            blocks.append(ShallowReLUNet(W_in, bs[l - 1], V, None, None))
            W_in = P[:, :r] * sq[None, :]            # (K_{l+1}, r)
        return cls(blocks)

    @classmethod
    def from_torch(cls, model: Any) -> "DeepReLUNet":
        """A PyTorch model as a DeepReLUNet (float64 copies; PyTorch is an optional extra).

        ``model``: an ``nn.Sequential`` of ``nn.Linear``, ``nn.ReLU`` and
        :class:`nnlasso.torch_interop.ReLUBlock` (a block with its linear skip, the residual
        form ``out(relu(inp(z))) + skip(z)``). Consecutive Linears between ReLU layers are the
        linear bottleneck (kept as given); a single one (a plain MLP) is split by its SVD as in
        :meth:`from_mlp`; Linears next to a ReLUBlock are folded into it. The function equals
        the model's; see :mod:`nnlasso.torch_interop` (also ``to_torch``, ``prox_step_torch``).
        """
        from .torch_interop import deep_from_torch

        return deep_from_torch(model)

    def to_mlp(self, *, out_activation: str | None = None, classes: Any = None) -> MLP:
        """The same function as an :class:`~nnlasso.networks.MLP` (bottlenecks multiplied out).

        The MLP's layer l+1 is ``W_{l+1} V_l^T`` with bias ``b_{l+1} - W_{l+1} c_l``; its output
        layer is ``V_L^T`` with bias ``-c_L``. Blocks with a skip have no MLP form: raises
        InvalidProblemError.
        """
        skips = [l for l, blk in enumerate(self.blocks) if blk.skip_coef is not None]
        if skips:
            raise InvalidProblemError(
                f"to_mlp: blocks {skips} have a linear skip connection, which a plain MLP cannot "
                "represent; drop the skips (skip_coef=None) or keep the DeepReLUNet")
        Ws = [self.blocks[0].W.copy()]
        bs = [self.blocks[0].b.copy()]
        for l in range(len(self.blocks) - 1):
            blk, nxt = self.blocks[l], self.blocks[l + 1]
            c = np.zeros(blk.D) if blk.intercept is None else blk.intercept
            Ws.append(nxt.W @ blk.V.T)
            bs.append(nxt.b - nxt.W @ c)
        last = self.blocks[-1]
        Ws.append(last.V.T.copy())
        bs.append(-(np.zeros(last.D) if last.intercept is None else last.intercept))
        return MLP(Ws, bs, out_activation=out_activation, classes=classes)

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (no pickles): ``W{l}, b{l}, V{l}`` and, when present, ``C{l}``
        (skip) and ``c{l}`` (intercept) for blocks l = 1..L, and ``one_output``."""
        arrays: dict[str, np.ndarray] = {"one_output": np.array(self.blocks[-1]._one_output)}
        for l, blk in enumerate(self.blocks, start=1):
            arrays[f"W{l}"], arrays[f"b{l}"], arrays[f"V{l}"] = blk.W, blk.b, blk.V
            if blk.skip_coef is not None:
                arrays[f"C{l}"] = blk.skip_coef
            if blk.intercept is not None:
                arrays[f"c{l}"] = blk.intercept
        np.savez(Path(path), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "DeepReLUNet":
        """Read a file written by :meth:`save` (``allow_pickle=False``)."""
        path = Path(path)
        if not path.is_file():
            raise InvalidProblemError(f"{path}: file not found")
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (ValueError, OSError, EOFError, AttributeError, TypeError,
                zipfile.BadZipFile) as exc:
            raise InvalidProblemError(f"{path}: cannot be read as an .npz archive without "
                                      f"pickles ({exc})") from None
        L = 0
        while f"W{L + 1}" in data:
            L += 1
        if L == 0:
            raise InvalidProblemError(f"{path}: no array W1 (expected W1, b1, V1, ... as "
                                      "written by DeepReLUNet.save)")
        known = {"one_output"} | {f"{k}{l}" for l in range(1, L + 1) for k in "WbVCc"}
        extra = sorted(set(data) - known)
        if extra:
            raise InvalidProblemError(f"{path}: unknown array {extra[0]!r} (expected W1, b1, V1, "
                                      f"C1, c1, ... for blocks 1..{L})")
        one = bool(data["one_output"]) if "one_output" in data else False
        blocks = []
        try:
            for l in range(1, L + 1):
                for k in "bV":
                    if f"{k}{l}" not in data:
                        raise InvalidProblemError(f"{k}{l}: missing")
                blocks.append(_make_block(data[f"W{l}"], data[f"b{l}"], data[f"V{l}"],
                                          data.get(f"C{l}"), data.get(f"c{l}"),
                                          one and l == L))
            return cls(blocks)
        except InvalidProblemError as exc:
            raise InvalidProblemError(f"{path}: {exc}") from None


def _balance_bottleneck(left: list, right: list, cond: float = 1e12) -> None:
    """Balance the bottleneck between two blocks' arrays in place (see DeepReLUNet.rebalance)."""
    V, W = left[2], right[0]                  # V: (K_l, r), W: (K_{l+1}, r)
    P, Q = V.T @ V, W.T @ W
    ep, Up = np.linalg.eigh(P)
    eq = np.linalg.eigvalsh(Q)
    if ep.size == 0 or ep[0] <= ep[-1] / cond or eq[0] <= eq[-1] / cond or ep[-1] <= 0:
        return
    Ph = (Up * np.sqrt(ep)) @ Up.T            # P^{1/2}
    Pmh = (Up / np.sqrt(ep)) @ Up.T           # P^{-1/2}
    em, Um = np.linalg.eigh(Ph @ Q @ Ph)
    Mh = (Um * np.sqrt(np.maximum(em, 0.0))) @ Um.T
    B = Pmh @ Mh @ Pmh                        # B = A^T A = P^{-1} # Q
    eb, Ub = np.linalg.eigh((B + B.T) / 2)
    if eb[0] <= 0:
        return
    A = (Ub * np.sqrt(eb)) @ Ub.T             # symmetric A with A^T A = B
    Ainv = (Ub / np.sqrt(eb)) @ Ub.T
    left[2] = V @ A.T
    if left[3] is not None:
        left[3] = left[3] @ A.T
    if left[4] is not None:
        left[4] = left[4] @ A.T
    right[0] = W @ Ainv
    if right[3] is not None:
        right[3] = Ainv.T @ right[3]
