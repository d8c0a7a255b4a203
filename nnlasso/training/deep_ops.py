"""The DeepReLUNet trainers' arithmetic: blocks, forward pass, gradients, the balance step and the prox maps of the deep path form."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .mlp_ops import _loss_and_grad



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


