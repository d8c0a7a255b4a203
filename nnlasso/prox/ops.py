"""Shared kernels of the native solver: BLAS thread control, the group soft-threshold, the block
coordinate epochs (NumPy and numba) and the restricted gap (the calculus of the losses is theirs:
:mod:`nnlasso.losses`)."""
from __future__ import annotations

import os

import numpy as np

from threadpoolctl import ThreadpoolController

from ..duality import dual_point, group_norms
from ..losses import Loss

#: relative threshold below which a projected column is treated as lying in the affine span
_DEAD = 1e-13

_THREADS: list[tuple[ThreadpoolController, int]] = []


def _controller() -> tuple[ThreadpoolController, int]:
    if not _THREADS:
        ctl = ThreadpoolController()
        n = max([i["num_threads"] for i in ctl.info() if i.get("user_api") == "blas"] or [1])
        _THREADS.append((ctl, n))
    return _THREADS[0]


def _single_thread():
    """Context limiting BLAS to one thread: the inner solvers make many small dense calls, for
    which a multi-threaded BLAS only adds synchronization (and on a loaded machine, spinning)."""
    ctl, _ = _controller()
    return ctl.limit(limits=1, user_api="blas")


def _default_threads():
    """Context restoring BLAS's default thread count (for the big products Phi^T Q)."""
    ctl, n = _controller()
    return ctl.limit(limits=n, user_api="blas")


def group_soft_threshold(Z: np.ndarray, local_ids: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Proximal map of sum_g tau_g |V_g|_F: S(z_g, tau_g) = max(0, 1 - tau_g / |z_g|_F) z_g."""
    norms = group_norms(Z, local_ids, tau.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > tau, 1.0 - tau / np.where(norms > 0, norms, 1.0), 0.0)
    return Z * scale[local_ids][:, None]


def _epoch_singletons(G: np.ndarray, V: np.ndarray, corr: np.ndarray, invL: np.ndarray,
                      thr: np.ndarray, live: np.ndarray) -> None:
    """One cyclic pass of the single-neuron group soft-threshold (in place on V and corr).

    G is symmetric, so the contiguous row G[k] stands for the column G[:, k]. One output
    (D = 1) takes the scalar soft-threshold on Python floats, leaving one NumPy call (the
    update of corr) per changed coordinate: about 6x faster than the vector code below.
    """
    D = V.shape[1]
    if D == 1:
        v, c = V[:, 0], corr[:, 0]
        vl, il, tl = v.tolist(), invL.tolist(), thr.tolist()
        for k in live.tolist():
            vk = vl[k]
            z = vk + float(c[k]) * il[k]
            t = tl[k]
            if z > t:
                new = z - t
            elif z < -t:
                new = z + t
            elif vk == 0.0:
                continue
            else:
                new = 0.0
            if new != vk:
                c -= G[k] * (new - vk)
                vl[k] = new
        v[:] = vl
        return
    for k in live.tolist():
        vk = V[k]
        z = vk + corr[k] * invL[k]
        nz = float(np.sqrt(z @ z))
        if nz <= thr[k]:
            if not vk.any():
                continue
            new = np.zeros(D)
        else:
            new = z * (1.0 - thr[k] / nz)
        corr -= np.multiply.outer(G[k], new - vk)
        V[k] = new


def _epoch_groups(G: np.ndarray, V: np.ndarray, corr: np.ndarray, invL: np.ndarray,
                  thr: np.ndarray, blocks: list[np.ndarray], live: np.ndarray) -> None:
    """One cyclic pass of the block group soft-threshold over general groups (in place)."""
    for g in live:
        b = blocks[g]
        vg = V[b]
        z = vg + corr[b] * invL[g]
        nz = float(np.linalg.norm(z))
        if nz <= thr[g]:
            if not vg.any():
                continue
            new = np.zeros_like(vg)
        else:
            new = z * (1.0 - thr[g] / nz)
        corr -= G[:, b] @ (new - vg)
        V[b] = new


def _epoch_kernel_py(G: np.ndarray, V: np.ndarray, corr: np.ndarray, invL: np.ndarray,
                     thr: np.ndarray, flat: np.ndarray, offs: np.ndarray, live: np.ndarray
                     ) -> None:
    """Loop version of one BCD epoch over groups given as flat[offs[g]:offs[g+1]] (compiled
    by numba when it is installed; G is symmetric, so its rows are read instead of columns)."""
    K, D = corr.shape
    for idx in range(live.shape[0]):
        g = live[idx]
        a0, a1 = offs[g], offs[g + 1]
        s = a1 - a0
        Z = np.empty((s, D))
        nz2 = 0.0
        was_zero = True
        for i in range(s):
            c = flat[a0 + i]
            for a in range(D):
                z = V[c, a] + corr[c, a] * invL[g]
                Z[i, a] = z
                nz2 += z * z
                if V[c, a] != 0.0:
                    was_zero = False
        nz = np.sqrt(nz2)
        if nz <= thr[g]:
            if was_zero:
                continue
            scale = 0.0
        else:
            scale = 1.0 - thr[g] / nz
        for i in range(s):
            c = flat[a0 + i]
            for a in range(D):
                delta = Z[i, a] * scale - V[c, a]
                if delta != 0.0:
                    for j in range(K):
                        corr[j, a] -= G[c, j] * delta
                V[c, a] = Z[i, a] * scale


_KERNEL: list = []


def _compiled_epoch():
    """The numba-compiled epoch kernel, or None (numba is optional; set NNLASSO_NUMBA=0 to
    force the NumPy path)."""
    if not _KERNEL:
        kernel = None
        if os.environ.get("NNLASSO_NUMBA", "1") != "0":
            try:
                import numba
                kernel = numba.njit(cache=True, nogil=True)(_epoch_kernel_py)
            except Exception:  # numba missing or unusable: the NumPy path is exact too
                kernel = None
        _KERNEL.append(kernel)
    return _KERNEL[0]


def restricted_gap(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                   Z: np.ndarray, pen: float, local_ids: np.ndarray, tau: np.ndarray
                   ) -> tuple[float, float]:
    """(primal, gap) of the restricted problem at the fit Z (dual point of lasso_dual)."""
    Q = dual_point(loss, Z, T, basis)
    ratio = group_norms(Phi_W.T @ Q, local_ids, tau.size) / tau
    s = max(1.0, float(ratio.max())) if ratio.size else 1.0
    primal = loss.value(Z, T) + pen
    return primal, primal - loss.dual_value(Q / s, T)
