"""nnlasso's native first-order solver of the multitask / group lasso, and its working-set loop.

The program is (MTL) of :mod:`nnlasso.lasso`,

    P(V, c) = sum_n L(t_n, (Phi V + U c)_n) + lam * sum_g omega_g |V_g|_F,

where U (N, r) is an orthonormal basis of the free affine columns A = [X 1] (A B = U c).

Inner solvers (on a working set W of groups, the columns Phi_W):

* squared loss: **block coordinate descent** on the Gram matrix of the projected features.
  The affine part is eliminated exactly: with P = I - U U^T, min_c 1/2 |T - Phi V - U c|^2 =
  1/2 |P T - P Phi V|^2, so the inner problem is a plain group lasso in G = (P Phi_W)^T P Phi_W,
  C = (P Phi_W)^T P T. A block update is the **group soft-threshold**

      V_g <- S(V_g + (C - G V)_g / L_g, lam omega_g / L_g),   S(z, tau) = max(0, 1 - tau/|z|_F) z,

  with L_g = lambda_max(G_gg) (|P phi_k|^2 for single neurons), accelerated by Anderson
  extrapolation of the epochs (kept only when it lowers the objective) and finished by Newton
  steps on the support.
* logistic / softmax: **FISTA** with gradient-based adaptive restart (O'Donoghue & Candes) on
  (V, c), step 1/L with L = loss.smooth_constant * |[Phi_W  alpha U]|_2^2 (power iterations, a
  safety factor and a backtracking guard); the affine coefficients c are rescaled by alpha =
  |Phi_W|_2 so that both blocks have the same curvature scale, and refitted exactly (damped
  Newton, :func:`nnlasso.duality.fit_affine`) at every gap check.

Stopping rule: nnlasso's own relative duality gap (the dual point of
:func:`nnlasso.duality.lasso_dual`: Q = -grad L projected out of col(U), clipped into the domain
of L*, scaled by s = max(1, max_g |Phi_g^T Q|_F / (lam omega_g))), checked every few epochs.

Outer **working-set loop** (:func:`working_set_solve`): start from the groups with the largest
KKT ratio rho_g = |Phi_g^T Q|_F / (lam omega_g) at the starting point, solve the restricted
problem, check the KKT conditions of the full problem with one product Phi^T Q, add the
violators (rho_g > 1) and repeat with warm starts until the *full* problem's relative gap is
<= tol. **Gap-safe screening** (Ndiaye, Fercoq, Gramfort & Salmon, JMLR 2017) discards groups
that are provably zero at the optimum: the dual is (1/L_s)-strongly concave (L_s the loss's
smoothness constant), so the dual optimum lies in the ball of radius

    r = sqrt(2 L_s gap)

around the feasible dual point theta = Q / s, and group g is inactive whenever

    |Phi_g^T theta|_F + r |P Phi_g|_F < lam omega_g.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from threadpoolctl import ThreadpoolController

from .duality import fit_affine, group_norms, project_out
from .losses import Loss

#: largest restricted problem (variables) solved by proximal Newton (explicit Hessian); FISTA
#: above it
PROX_NEWTON_MAX_VARS = 2500

#: relative threshold below which a projected column is treated as lying in the affine span
_DEAD = 1e-13

#: Gram BCD stall window (epochs) without / with the numba kernel: a restricted solve whose
#: relative gap does not halve within this many epochs is declared stalled (see bcd_gram)
STALL_EPOCHS = 60
STALL_EPOCHS_COMPILED = 300

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


# ---------------------------------------------------------------------------------------------
# problem data
# ---------------------------------------------------------------------------------------------

@dataclass
class LassoData:
    """(MTL) data in the form the native solver uses.

    Parameters
    ----------
    Phi : (N, K) features.    T : (N, D) encoded targets.    loss : the data-fitting loss.
    basis : (N, r) orthonormal basis U of the free affine columns (r = 0 without skip).
    ids : (K,) group of each row of V.    weights : (G,) group weights omega_g > 0.
    """

    Phi: np.ndarray
    T: np.ndarray
    loss: Loss
    basis: np.ndarray
    ids: np.ndarray
    weights: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_groups(self) -> int:
        return int(self.weights.size)

    @property
    def squared(self) -> bool:
        return self.loss.name == "squared"

    @property
    def identity_groups(self) -> bool:
        """Each row of V is its own group, in order (ids = 0..K-1)."""
        if "identity" not in self._cache:
            self._cache["identity"] = bool(self.ids.size == self.n_groups and np.array_equal(
                self.ids, np.arange(self.ids.size)))
        return self._cache["identity"]

    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if "order" not in self._cache:
            order = np.argsort(self.ids, kind="stable")
            counts = np.bincount(self.ids, minlength=self.n_groups)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            self._cache.update(order=order, counts=counts, starts=starts)
        return self._cache["order"], self._cache["counts"], self._cache["starts"]

    def columns(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns of the given groups and, for each column, its position in ``groups``."""
        groups = np.asarray(groups, dtype=np.intp)
        if self.identity_groups:
            return groups, np.arange(groups.size)
        order, counts, starts = self._index()
        sizes = counts[groups]
        first = np.repeat(np.cumsum(sizes) - sizes, sizes)
        idx = np.repeat(starts[groups], sizes) + (np.arange(int(sizes.sum())) - first)
        return order[idx], np.repeat(np.arange(groups.size), sizes)

    def gram_cache(self) -> "GramCache":
        """The data's :class:`GramCache` (squared loss), created on first use."""
        if "gram" not in self._cache:
            self._cache["gram"] = GramCache(self)
        return self._cache["gram"]

    @property
    def TP(self) -> np.ndarray:
        """P T: the targets with the affine part projected out (squared loss)."""
        if "TP" not in self._cache:
            self._cache["TP"] = project_out(self.T, self.basis)
        return self._cache["TP"]

    @property
    def group_col_norms(self) -> np.ndarray:
        """|P Phi_g|_F per group (an upper bound of the spectral norm used by screening)."""
        if "gnorms" not in self._cache:
            sq = np.einsum("nk,nk->k", self.Phi, self.Phi)
            if self.basis.shape[1]:
                UtPhi = self.basis.T @ self.Phi
                sq = np.maximum(sq - np.einsum("rk,rk->k", UtPhi, UtPhi), 0.0)
            self._cache["gnorms"] = np.sqrt(np.bincount(self.ids, weights=sq,
                                                        minlength=self.n_groups))
        return self._cache["gnorms"]


class GramCache:
    """Projected columns P phi_k, their Gram matrix and P Phi^T P T, for the columns met so far.

    Shared by the outer iterations of one solve and by the solves of a lambda path (it depends
    on the data only); reset when it would exceed ``max_cols`` columns.
    """

    def __init__(self, data: "LassoData", max_cols: int = 5000):
        self.d, self.max_cols = data, max_cols
        self.reset()

    def reset(self) -> None:
        N, D = self.d.T.shape
        self.cols = np.zeros(0, dtype=np.intp)
        self.PPhi = np.zeros((N, 0))
        self.G = np.zeros((0, 0))
        self.C = np.zeros((0, D))
        self.tT = float(np.sum(self.d.TP * self.d.TP))

    def positions(self, cols: np.ndarray) -> np.ndarray:
        """Positions of ``cols`` in the cache (extending it first)."""
        new = np.setdiff1d(cols, self.cols)
        if new.size:
            if self.cols.size + new.size > self.max_cols:
                self.reset()
                new = np.unique(cols)
            Pn = project_out(self.d.Phi[:, new], self.d.basis)
            cross = self.PPhi.T @ Pn
            self.G = np.block([[self.G, cross], [cross.T, Pn.T @ Pn]])
            self.C = np.vstack([self.C, Pn.T @ self.d.TP])
            self.PPhi = np.hstack([self.PPhi, Pn])
            self.cols = np.concatenate([self.cols, new])
        order = np.argsort(self.cols)
        return order[np.searchsorted(self.cols, cols, sorter=order)]

    def projected(self, cols: np.ndarray) -> np.ndarray:
        """P Phi[:, cols]."""
        pos = self.positions(cols)  # may replace self.PPhi: index it afterwards
        return self.PPhi[:, pos]

    def gram(self, cols: np.ndarray, local_ids: np.ndarray, tau: np.ndarray) -> GramProblem:
        """The restricted problem on ``cols`` in Gram form."""
        pos = self.positions(cols)
        return GramProblem(self.G[np.ix_(pos, pos)], self.C[pos], self.tT, local_ids, tau)


class PathCorrelations:
    """Correlations Phi^T Q of squared-loss residuals from cached columns (lambda paths).

    With P = I - U U^T and the residual of a point supported on the columns W,
    Q = P T - (P Phi_W) V_W, the full-dictionary correlations are linear in V_W:

        Phi^T Q = a0 - M_W V_W,      a0 = Phi^T (P T)  (K, D),   M_W = Phi^T (P Phi_W)  (K, |W|).

    a0 is computed once and the columns of M for every column that is ever nonzero along the
    path (W in the formula can be restricted to the nonzero rows of V) are cached, so a full
    KKT check costs K |W| D flops instead of a product with Phi (N K D). A batch of new columns costs one product Phi^T (P Phi_new); it is filled up to
    ``batch`` columns with the uncached columns of largest KKT ratio at the last check (the
    likeliest entrants at the next values of lam), for the same read of Phi.

    Rounding is accounted for, not ignored: :meth:`correlations` returns with the computed
    ``corr`` a bound ``err_k >= |corr_k - Phi_k^T Q|_2`` (Q the residual array the caller
    forms from its own P Phi_W), from the standard bounds |fl(x^T y) - x^T y| <= gamma_n |x|^T |y|,
    gamma_n = n u / (1 - n u), and Cauchy-Schwarz:

        err_k = gamma_n |phi_k|_2 (|P T|_F + sum_{j in W} |phi_j|_2 |V_j|_2) + u |corr_k|_2,
        n = N + 2 |W| + 2 r + 6

    (|phi_j| >= |P phi_j| also covers the two independent projections of a column, here and in
    the caller's P Phi_W). The KKT ratios built from |corr_g| + err_g are upper bounds of the
    exact ones, so the dual point Q / s they give is feasible and its gap a certificate.

    The cache holds at most ``max_entries`` numbers (K |cache|); :meth:`ensure` returns False
    when a request would exceed it, and the caller then falls back to a product with Phi.
    """

    def __init__(self, data: LassoData, batch: int = 32, max_entries: int = 25_000_000):
        if not data.squared:
            raise ValueError("PathCorrelations: the squared loss only (its residual is linear "
                             "in V)")
        N, K = data.Phi.shape
        self.d, self.batch = data, int(batch)
        self.max_cols = int(min(K, max_entries // max(K, 1)))
        with _default_threads():
            self.a0 = data.Phi.T @ data.TP
        self.col_norms = np.sqrt(np.einsum("nk,nk->k", data.Phi, data.Phi))
        self.tp_norm = float(np.linalg.norm(data.TP))
        self.pos = np.full(K, -1, dtype=np.intp)
        self.M = np.zeros((K, 0))
        self.n_cols = 0
        self.hint: np.ndarray | None = None  # KKT ratios of the last check (prefetch order)
        self.pending_reads = 1  # reads of Phi not yet charged to a solve (a0)

    def take_reads(self) -> int:
        """Products with Phi made since the last call (charged to the caller's solve)."""
        n, self.pending_reads = self.pending_reads, 0
        return n

    def ensure(self, cols: np.ndarray) -> bool:
        """Cache the columns of M for ``cols`` (plus prefetched ones); False if over capacity."""
        missing = np.unique(cols[self.pos[cols] < 0])
        if missing.size == 0:
            return True
        if self.n_cols + missing.size > self.max_cols:
            return False
        new = self._with_prefetch(missing)
        Pn = project_out(self.d.Phi[:, new], self.d.basis)
        with _default_threads():
            Mn = self.d.Phi.T @ Pn
        self.pending_reads += 1
        self._append(new, Mn)
        return True

    def _with_prefetch(self, missing: np.ndarray) -> np.ndarray:
        """``missing`` plus uncached columns of largest last KKT ratio, up to ``batch`` columns."""
        room = min(self.batch, self.max_cols - self.n_cols) - missing.size
        if room <= 0 or self.hint is None:
            return missing
        ratio = self.hint[self.d.ids]  # a column's ratio is its group's
        ratio[self.pos >= 0] = -np.inf
        ratio[missing] = -np.inf
        room = min(room, int(np.count_nonzero(np.isfinite(ratio))))
        if room <= 0:
            return missing
        extra = np.argpartition(-ratio, room - 1)[:room]
        return np.concatenate([missing, extra[np.isfinite(ratio[extra])]])

    def _append(self, new: np.ndarray, Mn: np.ndarray) -> None:
        if self.n_cols + new.size > self.M.shape[1]:
            cap = min(self.max_cols, max(2 * self.M.shape[1], self.n_cols + new.size, 64))
            grown = np.zeros((self.M.shape[0], cap))
            grown[:, :self.n_cols] = self.M[:, :self.n_cols]
            self.M = grown
        self.M[:, self.n_cols:self.n_cols + new.size] = Mn
        self.pos[new] = np.arange(self.n_cols, self.n_cols + new.size)
        self.n_cols += new.size

    def correlations(self, cols: np.ndarray, V_W: np.ndarray, n_terms: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(corr, err): corr = a0 - M_W V_W ~ Phi^T Q (K, D) and the bound err (K,) (see above).

        The columns must be cached (:meth:`ensure`). ``n_terms`` (default ``cols.size``) is the
        number of columns the caller's residual was summed over, when it also had zero rows of
        V (they add nothing, but the bound counts them)."""
        if cols.size == 0:
            corr = self.a0.copy()
            S = 0.0
        else:
            corr = self.a0 - self.M[:, self.pos[cols]] @ V_W
            S = float(self.col_norms[cols] @ np.sqrt(np.einsum("kd,kd->k", V_W, V_W)))
        u = np.finfo(float).eps / 2
        w = max(cols.size, n_terms or 0)
        n = self.d.Phi.shape[0] + 2 * w + 2 * self.d.basis.shape[1] + 6
        gamma = n * u / (1.0 - n * u)
        err = gamma * self.col_norms * (self.tp_norm + S) + u * np.sqrt(
            np.einsum("kd,kd->k", corr, corr))
        return corr, err


def group_soft_threshold(Z: np.ndarray, local_ids: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Proximal map of sum_g tau_g |V_g|_F: S(z_g, tau_g) = max(0, 1 - tau_g / |z_g|_F) z_g."""
    norms = group_norms(Z, local_ids, tau.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > tau, 1.0 - tau / np.where(norms > 0, norms, 1.0), 0.0)
    return Z * scale[local_ids][:, None]


# ---------------------------------------------------------------------------------------------
# squared loss: Gram block coordinate descent
# ---------------------------------------------------------------------------------------------

@dataclass
class GramProblem:
    """Restricted squared-loss problem 1/2 |P T - P Phi_W V|^2 + sum_g tau_g |V_g|_F in Gram form.

    G = (P Phi_W)^T P Phi_W (k, k),  C = (P Phi_W)^T P T (k, D),  tT = |P T|_F^2;
    ``local_ids`` maps each of the k columns to its group 0..m-1 and ``tau`` = lam omega_g (m,).
    """

    G: np.ndarray
    C: np.ndarray
    tT: float
    local_ids: np.ndarray
    tau: np.ndarray

    def objective(self, V: np.ndarray, GV: np.ndarray | None = None) -> float:
        GV = self.G @ V if GV is None else GV
        r2 = max(self.tT - 2.0 * float(np.sum(V * self.C)) + float(np.sum(V * GV)), 0.0)
        return 0.5 * r2 + float(self.tau @ group_norms(V, self.local_ids, self.tau.size))

    def gap(self, V: np.ndarray) -> tuple[float, float]:
        """(primal, gap) at V with the scaled residual as dual point.

        With R = P T - P Phi_W V, corr = C - G V = (P Phi_W)^T R and s = max(1, max_g
        |corr_g| / tau_g):  gap = 1/2 |R|^2 (1 - 1/s)^2 + sum_g tau_g |V_g| - <corr, V> / s.
        """
        GV = self.G @ V
        corr = self.C - GV
        pen = float(self.tau @ group_norms(V, self.local_ids, self.tau.size))
        r2 = max(self.tT - 2.0 * float(np.sum(V * self.C)) + float(np.sum(V * GV)), 0.0)
        ratio = group_norms(corr, self.local_ids, self.tau.size) / self.tau
        s = max(1.0, float(ratio.max())) if ratio.size else 1.0
        gap = 0.5 * r2 * (1.0 - 1.0 / s) ** 2 + pen - float(np.sum(corr * V)) / s
        return 0.5 * r2 + pen, max(gap, 0.0)


def _block_lipschitz(G: np.ndarray, blocks: list[np.ndarray] | None) -> np.ndarray:
    if blocks is None:
        return np.diag(G).copy()
    return np.array([np.linalg.eigvalsh(G[np.ix_(b, b)])[-1] for b in blocks])


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


def _newton_support(prob: GramProblem, V: np.ndarray, blocks: list[np.ndarray] | None,
                    max_iter: int = 8) -> np.ndarray:
    """Newton steps on the support S = {g : V_g != 0}, other groups fixed at zero.

    On S the objective is smooth: gradient (G V - C)_S + tau_g V_g / |V_g|, Hessian
    kron(G_SS, I_D) + blockdiag(tau_g / |V_g| (I - u_g u_g^T)), u_g = vec(V_g) / |V_g|.
    Steps are damped by backtracking and kept only when the objective decreases; the result is
    then certified by the caller's duality gap, so a wrong support costs nothing but time.
    """
    m = prob.tau.size
    norms = group_norms(V, prob.local_ids, m)
    S = np.flatnonzero(norms > 0)
    if S.size == 0:
        return V
    D = V.shape[1]
    if blocks is None:
        cols = S
        sizes = np.ones(S.size, dtype=int)
    else:
        cols = np.concatenate([blocks[g] for g in S])
        sizes = np.array([blocks[g].size for g in S])
    n = cols.size * D
    if n > 600:
        return V
    G_SS = prob.G[np.ix_(cols, cols)]
    H0 = np.kron(G_SS, np.eye(D))
    f = prob.objective(V)
    offsets = np.concatenate([[0], np.cumsum(sizes * D)])
    for _ in range(max_iter):
        x = V[cols].ravel()
        grad = (prob.G[cols] @ V - prob.C[cols]).ravel()
        H = H0.copy()
        for j, g in enumerate(S):
            sl = slice(offsets[j], offsets[j + 1])
            xg = x[sl]
            ng = float(np.linalg.norm(xg))
            if ng == 0:
                return V
            u = xg / ng
            grad[sl] += prob.tau[g] * u
            H[sl, sl] += prob.tau[g] / ng * (np.eye(u.size) - np.outer(u, u))
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            return V
        t, improved = 1.0, False
        while t > 0.03:
            Vn = V.copy()
            Vn[cols] = (x - t * step).reshape(-1, D)
            fn = prob.objective(Vn)
            if fn < f:
                improved = True
                break
            t *= 0.5
        if not improved:
            return V
        V, f_old, f = Vn, f, fn
        if f_old - f <= 1e-15 * max(abs(f), 1.0):
            break
    return V


def bcd_gram(prob: GramProblem, V: np.ndarray, blocks: list[np.ndarray] | None, tol: float,
             max_epochs: int = 20_000, check_every: int | None = None, anderson: int = 5,
             newton_every: int = 1, stall_epochs: int | None = None
             ) -> tuple[np.ndarray, int, float]:
    """Block coordinate descent with Anderson extrapolation and support Newton steps.

    Parameters
    ----------
    prob : the restricted problem in Gram form.   V : (k, D) start (modified copy returned).
    blocks : None for single-column groups (column j is group j), else the local columns of
        each group.   tol : relative duality gap at which to stop.
    stall_epochs : progress window W (default :data:`STALL_EPOCHS`, or
        :data:`STALL_EPOCHS_COMPILED` with the numba kernel). The relative gap is measured at
        the start and every ``check_every`` epochs; the solve **stalls**, and returns at once,
        when, after at least 4 W epochs, the gap has not halved over the last W epochs
        (rel_t > rel_{t - W} / 2; the first epochs, before the support settles, may be slow
        on well-posed problems too). On nearly
        collinear columns (condition numbers 1e12 and beyond) coordinate descent keeps making
        progress of order 1e-4 per epoch; the caller then hands the working set to an
        interior-point solver (:func:`working_set_solve`'s ``fallback``) instead of spending
        thousands of epochs on it.

    Returns
    -------
    (V, epochs, rel_gap): rel_gap > tol means the solve stalled (or ran out of epochs).
    """
    V = np.array(V, dtype=float)
    L = _block_lipschitz(prob.G, blocks)
    live = np.flatnonzero(L > _DEAD * max(float(L.max()) if L.size else 0.0, 1e-300))
    dead = np.setdiff1d(np.arange(L.size), live)
    if dead.size:
        if blocks is None:
            V[dead] = 0.0
        else:
            for g in dead:
                V[blocks[g]] = 0.0
    invL = np.zeros_like(L)
    invL[live] = 1.0 / L[live]
    thr = prob.tau * invL
    corr = prob.C - prob.G @ V
    hist: list[np.ndarray] = [V.ravel().copy()]
    epoch = 0
    last_support = failed_support = np.zeros(0, dtype=np.intp)
    kernel = _compiled_epoch()
    if check_every is None:  # compiled epochs cost microseconds: check less often
        check_every = 10 if kernel is not None else 3
    if stall_epochs is None:
        stall_epochs = STALL_EPOCHS_COMPILED if kernel is not None else STALL_EPOCHS
    primal, gap = prob.gap(V)
    rel = gap / max(primal, 1e-300)
    if rel <= tol:  # a warm start that is already good enough (e.g. an interior-point answer)
        return V, 0, rel
    ref_epoch, ref_rel = 0, rel
    if kernel is not None:
        if blocks is None:
            flat, offs = np.arange(L.size), np.arange(L.size + 1)
        else:
            flat = np.concatenate(blocks).astype(np.int64)
            offs = np.concatenate([[0], np.cumsum([b.size for b in blocks])]).astype(np.int64)
        live64 = live.astype(np.int64)
    while epoch < max_epochs:
        epoch += 1
        if kernel is not None:
            kernel(prob.G, V, corr, invL, thr, flat, offs, live64)
        elif blocks is None:
            _epoch_singletons(prob.G, V, corr, invL, thr, live)
        else:
            _epoch_groups(prob.G, V, corr, invL, thr, blocks, live)
        hist.append(V.ravel().copy())
        if anderson and len(hist) == anderson + 1:
            V_acc = _anderson(hist, V.shape)
            if V_acc is not None and prob.objective(V_acc) < prob.objective(V):
                V = V_acc
                corr = prob.C - prob.G @ V
            hist = [V.ravel().copy()]
        if epoch % check_every == 0:
            primal, gap = prob.gap(V)
            rel = gap / max(primal, 1e-300)
            if rel <= tol:
                break
            if epoch - ref_epoch >= stall_epochs:
                if rel > 0.5 * ref_rel and epoch >= 4 * stall_epochs:
                    break  # stalled: less than a halving of the gap in stall_epochs epochs
                ref_epoch, ref_rel = epoch, rel
            support = np.flatnonzero(np.any(V != 0, axis=1))
            stable = np.array_equal(support, last_support)
            last_support = support
            if stable and epoch % (newton_every * check_every) == 0 and not np.array_equal(
                    support, failed_support):
                Vn = _newton_support(prob, V, blocks)
                if Vn is V:
                    failed_support = support
                else:
                    V = Vn
                    corr = prob.C - prob.G @ V
                    primal, gap = prob.gap(V)
                    rel = gap / max(primal, 1e-300)
                    if rel <= tol:
                        break
                    failed_support = support
                    hist = [V.ravel().copy()]
    return V, epoch, rel


def _anderson(hist: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray | None:
    """Anderson extrapolation sum_i c_i x_i with c = argmin |sum c_i (x_i - x_{i-1})|, sum c = 1."""
    X = np.array(hist)
    U = np.diff(X, axis=0)
    M = U @ U.T
    M += 1e-10 * (np.trace(M) + 1e-300) * np.eye(M.shape[0])
    try:
        c = np.linalg.solve(M, np.ones(M.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(c)) or c.sum() == 0:
        return None
    c /= c.sum()
    return (c @ X[1:]).reshape(shape)


# ---------------------------------------------------------------------------------------------
# smooth losses: FISTA with adaptive restart
# ---------------------------------------------------------------------------------------------

def _spectral_norm(M: np.ndarray, iters: int = 30, seed: int = 0) -> float:
    """|M|_2 by power iterations on M^T M (an estimate from below; callers add a margin)."""
    if M.size == 0:
        return 0.0
    x = np.random.default_rng(seed).standard_normal(M.shape[1])
    x /= np.linalg.norm(x)
    s = 0.0
    for _ in range(iters):
        y = M.T @ (M @ x)
        ny = float(np.linalg.norm(y))
        if ny == 0:
            return 0.0
        s_new = np.sqrt(ny)
        x = y / ny
        if abs(s_new - s) <= 1e-6 * s_new:
            s = s_new
            break
        s = s_new
    return float(s)


def restricted_gap(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                   Z: np.ndarray, pen: float, local_ids: np.ndarray, tau: np.ndarray
                   ) -> tuple[float, float]:
    """(primal, gap) of the restricted problem at the fit Z (dual point of lasso_dual)."""
    Q = loss.clip(project_out(-_loss_grad(loss, Z, T), basis), T)
    ratio = group_norms(Phi_W.T @ Q, local_ids, tau.size) / tau
    s = max(1.0, float(ratio.max())) if ratio.size else 1.0
    primal = _loss_value(loss, Z, T) + pen
    return primal, primal - loss.dual_value(Q / s, T)


def _loss_value(loss: Loss, Z: np.ndarray, T: np.ndarray) -> float:
    """loss.value(Z, T), with a lean NumPy path for softmax (scipy's logsumexp has a large
    per-call overhead that dominates small inner iterations)."""
    if loss.name == "softmax":
        zmax = Z.max(axis=1)
        lse = np.log(np.exp(Z - zmax[:, None]).sum(axis=1)) + zmax
        return float(lse.sum() - np.einsum("nd,nd->", T, Z))
    return loss.value(Z, T)


def _loss_grad(loss: Loss, Z: np.ndarray, T: np.ndarray) -> np.ndarray:
    """loss.grad(Z, T), with the same lean softmax path as :func:`_loss_value`."""
    if loss.name == "softmax":
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        return P - T
    return loss.grad(Z, T)


def _smoothness(loss: Loss) -> float:
    """Lipschitz constant of z_n -> grad L(t_n, z_n): 1 (squared), 1/4 (logistic), and 1/2
    for softmax (lambda_max(diag(p) - p p^T) <= 1/2, tighter than the Loss's generic bound)."""
    return 0.5 if loss.name == "softmax" else float(loss.smooth_constant)


def _loss_hessian(loss: Loss, Z: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Hessian of X -> sum_n L(t_n, (M X)_n) w.r.t. vec(X), X (m, D) flattened row-major.

    H[(i, a), (j, b)] = sum_n M[n, i] M[n, j] H_n[a, b] with H_n the per-sample Hessian:
    logistic h_n = s_n (1 - s_n) (D = 1); softmax H_n = diag(p_n) - p_n p_n^T.
    """
    if loss.name == "logistic":
        s = 1.0 / (1.0 + np.exp(-np.abs(Z[:, 0])))
        return M.T @ ((s * (1.0 - s))[:, None] * M)
    if loss.name == "squared":
        return np.kron(M.T @ M, np.eye(Z.shape[1]))
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    N, m = M.shape
    D = Z.shape[1]
    E = (M[:, :, None] * P[:, None, :]).reshape(N, m * D)
    H = -(E.T @ E)
    diag = (E.T @ M).reshape(m, D, m)                  # [i, a, j] = sum_n M_ni P_na M_nj
    H4 = H.reshape(m, D, m, D)
    for a in range(D):
        H4[:, a, :, a] += diag[:, a, :]
    return H


def _newton_smooth(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                   local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray,
                   max_iter: int = 10, max_size: int = 800) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton steps on the support S = {g : V_g != 0} and the affine part, others at zero.

    Variables X = [V_S; c] with M = [Phi_S U]; objective f(M X) + sum_{g in S} tau_g |V_g|_F,
    smooth on S; Hessian M-weighted loss Hessian (:func:`_loss_hessian`) plus
    tau_g / |V_g| (I - u_g u_g^T). Steps are kept only when they decrease the objective.
    """
    m_g = tau.size
    norms = group_norms(V, local_ids, m_g)
    S_cols = np.flatnonzero(norms[local_ids] > 0)
    D, r = V.shape[1], basis.shape[1]
    n = (S_cols.size + r) * D
    if S_cols.size == 0 or n > max_size:
        return V, c
    M = np.hstack([Phi_W[:, S_cols], basis])
    ids_S = local_ids[S_cols]
    groups_S = np.unique(ids_S)

    def objective(X: np.ndarray) -> tuple[float, np.ndarray]:
        Z = M @ X
        return _loss_value(loss, Z, T) + float(tau @ group_norms(X[:S_cols.size], ids_S, m_g)), Z

    X = np.vstack([V[S_cols], c])
    f, Z = objective(X)
    for _ in range(max_iter):
        grad = M.T @ _loss_grad(loss, Z, T)
        H = _loss_hessian(loss, Z, M)
        for g in groups_S:
            rows = np.flatnonzero(ids_S == g)
            idx = (rows[:, None] * D + np.arange(D)[None, :]).ravel()
            xg = X[rows].ravel()
            ng = float(np.linalg.norm(xg))
            if ng == 0:
                return V, c
            u = xg / ng
            grad[rows] += (tau[g] * u).reshape(rows.size, D)
            H[np.ix_(idx, idx)] += tau[g] / ng * (np.eye(u.size) - np.outer(u, u))
        H += 1e-12 * (np.trace(H) / n + 1e-300) * np.eye(n)
        try:
            step = np.linalg.solve(H, grad.ravel()).reshape(-1, D)
        except np.linalg.LinAlgError:
            break
        t, fn = 1.0, np.inf
        while t > 1e-6:
            Xn = X - t * step
            fn, Zn = objective(Xn)
            if fn < f:
                break
            t *= 0.5
        if not fn < f:
            break
        X, Z, f_old, f = Xn, Zn, f, fn
        if f_old - f <= 1e-15 * max(abs(f), 1.0):
            break
    V = V.copy()
    V[S_cols] = X[:S_cols.size]
    return V, X[S_cols.size:]


def fista(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
          local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray, tol: float,
          max_iter: int = 20_000, check_every: int = 10, newton_every: int = 2
          ) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Accelerated proximal gradient with adaptive restart for min f(Phi_W V + U c) + pen(V).

    Every ``check_every`` iterations the gap is evaluated (at the iterate with its affine part
    refitted exactly, without disturbing the momentum); every ``newton_every`` checks, damped
    Newton steps on the support (:func:`_newton_smooth`) try to finish the last digits, which
    first-order steps reach only slowly on these ill-conditioned (and, for softmax, not strongly
    convex) problems. Returns ``(V, c, iterations, rel_gap)``; c are the coefficients on U.
    """
    sigma = _spectral_norm(Phi_W)
    alpha = max(sigma, 1.0)
    Ua = alpha * basis
    sigma_all = _spectral_norm(np.hstack([Phi_W, Ua])) if basis.shape[1] else sigma
    Lip = max(_smoothness(loss) * 1.05 * sigma_all ** 2, 1e-12)
    m = tau.size

    def pen(Vx: np.ndarray) -> float:
        return float(tau @ group_norms(Vx, local_ids, m))

    def refit(Vx: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact affine coefficients (unscaled) and the fit."""
        off = Phi_W @ Vx
        if basis.shape[1]:
            cx = fit_affine(loss, T, off, basis, B0=cx)
        return cx, off + basis @ cx

    def certificate(Vx: np.ndarray, cx: np.ndarray) -> tuple[np.ndarray, float, float]:
        cx, Zr = refit(Vx, cx)
        primal, gap = restricted_gap(loss, T, Phi_W, basis, Zr, pen(Vx), local_ids, tau)
        return cx, primal, gap / max(abs(primal), 1e-300)

    V = np.array(V, dtype=float)
    c, primal, rel = certificate(V, np.array(c, dtype=float))
    if rel <= tol:
        return V, c, 0, rel
    c = c / alpha
    Zx = Phi_W @ V + Ua @ c
    fx = _loss_value(loss, Zx, T)
    Vy, cy, Zy = V.copy(), c.copy(), Zx.copy()
    t = 1.0
    it = n_checks = 0
    while it < max_iter:
        it += 1
        g = _loss_grad(loss, Zy, T)
        fy = _loss_value(loss, Zy, T)
        gV, gc = Phi_W.T @ g, Ua.T @ g
        while True:
            Vn = group_soft_threshold(Vy - gV / Lip, local_ids, tau / Lip)
            cn = cy - gc / Lip
            Zn = Phi_W @ Vn + Ua @ cn
            fn = _loss_value(loss, Zn, T)
            dV, dc = Vn - Vy, cn - cy
            quad = fy + float(np.sum(gV * dV) + np.sum(gc * dc)) + 0.5 * Lip * float(
                np.sum(dV * dV) + np.sum(dc * dc))
            if fn <= quad + 1e-12 * max(abs(fy), 1.0):
                break
            Lip *= 2.0
        if float(np.sum((Vy - Vn) * (Vn - V)) + np.sum((cy - cn) * (cn - c))) > 0 or fn > fx:
            t = 1.0  # adaptive restart: the momentum points uphill
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_new
        Vy = Vn + beta * (Vn - V)
        cy = cn + beta * (cn - c)
        Zy = Zn + beta * (Zn - Zx)
        V, c, Zx, fx, t = Vn, cn, Zn, fn, t_new
        if it % check_every:
            continue
        n_checks += 1
        c_ex, primal, rel = certificate(V, c * alpha)
        if rel <= tol:
            return V, c_ex, it, rel
        if n_checks % newton_every == 0:
            Vn, cn = _newton_smooth(loss, T, Phi_W, basis, local_ids, tau, V, c_ex)
            if Vn is not V:
                cn, primal_n, rel_n = certificate(Vn, cn)
                if primal_n <= primal:
                    V, c, rel = Vn, cn / alpha, rel_n
                    Zx = Phi_W @ V + Ua @ c
                    fx = _loss_value(loss, Zx, T)
                    Vy, cy, Zy, t = V.copy(), c.copy(), Zx.copy(), 1.0
                    if rel <= tol:
                        return V, cn, it, rel
    c_ex, _, rel = certificate(V, c * alpha)
    return V, c_ex, it, rel


def _model_step(H: np.ndarray, grad: np.ndarray, x: np.ndarray, var_blocks: list[np.ndarray],
                tau_all: np.ndarray, flat: np.ndarray, offs: np.ndarray, kernel: Any,
                epochs: int) -> np.ndarray:
    """Step x' - x minimizing the proximal-Newton model by block coordinate epochs.

    min_{x'} <grad, x' - x> + 1/2 (x' - x)^T H (x' - x) + sum_g tau_g |x'_g|_2, each block g
    updated by the group soft-threshold with step 1 / L_g, L_g = lambda_max(H_gg); blocks with
    L_g <= _DEAD max L are left alone (they do not touch the fit).
    """
    Lb = np.array([np.linalg.eigvalsh(H[np.ix_(b, b)])[-1] for b in var_blocks])
    live = np.flatnonzero(Lb > _DEAD * max(float(Lb.max()), 1e-300))
    invL = np.zeros_like(Lb)
    invL[live] = 1.0 / Lb[live]
    thr = tau_all * invL
    xn = x.copy()[:, None]
    corr = -grad[:, None]                       # minus the model gradient at xn = x
    live64 = live.astype(np.int64)
    # one variable per block, in order (one output, single-neuron groups): the scalar epoch
    scalar = kernel is None and flat.size == len(var_blocks) and np.array_equal(
        flat, np.arange(flat.size))
    for _ in range(epochs):
        if kernel is not None:
            kernel(H, xn, corr, invL, thr, flat, offs, live64)
        elif scalar:
            _epoch_singletons(H, xn, corr, invL, thr, live)
        else:
            _epoch_groups(H, xn, corr, invL, thr, var_blocks, live)
    return xn[:, 0] - x


def _newton_layout(Phi_W: np.ndarray, basis: np.ndarray, local_ids: np.ndarray,
                   tau: np.ndarray, width: int) -> tuple:
    """Block layout of a (proximal) Newton step on X = [V; c] with ``width`` columns.

    Rows of M = [Phi_W, basis] are the variables' rows; row j belongs to group
    ``row_group[j]`` (the m penalized groups, then one unpenalized block per affine row, weight
    ``tau_all`` = 0). In the row-major vectorization x = vec(X) (entry (j, t) at j * width + t)
    block g owns the entries ``var_blocks[g]``; ``flat`` concatenates them and ``offs`` are
    the block offsets, the layout of the compiled epoch kernel.

    Returns (M, row_group, tau_all, blocks, var_blocks, flat, offs).
    """
    r = basis.shape[1]
    M = np.hstack([Phi_W, basis])
    m = tau.size
    row_group = np.concatenate([local_ids, m + np.arange(r)])
    tau_all = np.concatenate([tau, np.zeros(r)])
    blocks = [np.flatnonzero(row_group == g) for g in range(m + r)]
    var_blocks = [(b[:, None] * width + np.arange(width)[None, :]).ravel() for b in blocks]
    flat = np.concatenate(var_blocks).astype(np.int64)
    offs = np.concatenate([[0], np.cumsum([b.size for b in var_blocks])]).astype(np.int64)
    return M, row_group, tau_all, blocks, var_blocks, flat, offs


def prox_newton(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray, tol: float,
                max_iter: int = 200, epochs: int = 30) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Proximal Newton for min f(Phi_W V + U c) + sum_g tau_g |V_g|_F (logistic, softmax).

    With X = [V; c], M = [Phi_W U], g = M^T grad f and H the Hessian (:func:`_loss_hessian`),
    each step minimizes the local model <g, X' - X> + 1/2 (X' - X)^T H (X' - X) + pen(V') by
    ``epochs`` block coordinate epochs (the group soft-threshold with L_g = lambda_max(H_gg);
    the affine rows are unpenalized blocks), then backtracks along X' - X (Armijo on the true
    objective). The relative gap is checked after every step. Returns (V, c, steps, rel_gap).
    """
    k, r, D = Phi_W.shape[1], basis.shape[1], T.shape[1]
    n_rows = k + r
    M, row_group, tau_all, blocks, var_blocks, flat, offs = _newton_layout(
        Phi_W, basis, local_ids, tau, D)
    m = tau.size
    kernel = _compiled_epoch()

    def objective(X: np.ndarray) -> float:
        return _loss_value(loss, M @ X, T) + float(tau @ group_norms(X[:k], local_ids, m))

    def certificate(X: np.ndarray) -> tuple[np.ndarray, float]:
        cx = fit_affine(loss, T, Phi_W @ X[:k], basis, B0=X[k:]) if r else X[k:]
        X = np.vstack([X[:k], cx])
        primal, gap = restricted_gap(loss, T, Phi_W, basis, M @ X, float(
            tau @ group_norms(X[:k], local_ids, m)), local_ids, tau)
        return X, gap / max(abs(primal), 1e-300)

    X, rel = certificate(np.vstack([np.asarray(V, float), np.asarray(c, float)]))
    it = 0
    while rel > tol and it < max_iter:
        it += 1
        Z = M @ X
        grad = (M.T @ _loss_grad(loss, Z, T)).ravel()
        H = _loss_hessian(loss, Z, M)
        x = X.ravel()
        delta = _model_step(H, grad, x, var_blocks, tau_all, flat, offs, kernel,
                            epochs).reshape(n_rows, D)
        if not np.any(delta):
            break
        f0 = objective(X)
        decrease = float(grad @ delta.ravel()) + float(
            tau @ (group_norms(X[:k] + delta[:k], local_ids, m) - group_norms(X[:k], local_ids, m)))
        t = 1.0
        while t > 1e-8:
            Xn = X + t * delta
            if objective(Xn) <= f0 + 1e-4 * t * min(decrease, 0.0):
                break
            t *= 0.5
        else:
            break
        support = np.flatnonzero(group_norms(X[:k], local_ids, m) > 0)
        X, rel = certificate(Xn)
        new_support = np.flatnonzero(group_norms(X[:k], local_ids, m) > 0)
        if rel > tol and np.array_equal(support, new_support):
            # support identified: Newton on it converges quadratically (the model's BCD epochs
            # only converge linearly on these ill-conditioned problems)
            Vn, cn = _newton_smooth(loss, T, Phi_W, basis, local_ids, tau, X[:k], X[k:])
            Xs, rel_s = certificate(np.vstack([Vn, cn]))
            if objective(Xs) <= objective(X):
                X, rel = Xs, rel_s
    return X[:k], X[k:], it, rel


# ---------------------------------------------------------------------------------------------
# softmax: proximal Newton in the coordinates orthogonal to the ones vector
# ---------------------------------------------------------------------------------------------

def _simplex_basis(D: int) -> np.ndarray:
    """Orthonormal basis B (D, D - 1) of {v in R^D : sum_a v_a = 0} (B^T 1 = 0, B^T B = I)."""
    B = np.linalg.svd(np.eye(D) - 1.0 / D)[0][:, :D - 1]
    return np.ascontiguousarray(B)


def _softmax_hessian_reduced(M: np.ndarray, P: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Hessian of W -> sum_n softmax-CE(t_n, (M W B^T)_n) w.r.t. vec(W), W (m, D - 1) row-major.

    H = sum_n (m_n m_n^T) kron B^T (diag(p_n) - p_n p_n^T) B, computed as
    sum_a (M^T diag(P[:, a]) M) kron (b_a b_a^T)  -  E^T E,   E[n, (i, a)] = M[n, i] (P B)[n, a],
    with b_a the a-th row of B.
    """
    N, m = M.shape
    D, Dr = B.shape
    E = (M[:, :, None] * (P @ B)[:, None, :]).reshape(N, m * Dr)
    H = -(E.T @ E)
    H4 = H.reshape(m, Dr, m, Dr)
    for a in range(D):
        A = M.T @ (P[:, a:a + 1] * M)
        H4 += A[:, None, :, None] * np.outer(B[a], B[a])[None, :, None, :]
    return H


def softmax_newton(loss: Loss, T: np.ndarray, Phi_W: np.ndarray, basis: np.ndarray,
                   local_ids: np.ndarray, tau: np.ndarray, V: np.ndarray, c: np.ndarray,
                   tol: float, max_iter: int = 200, epochs: int = 30
                   ) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Proximal Newton for the softmax restricted problem, in coordinates off the ones vector.

    The softmax loss is invariant under z_n -> z_n + s 1, so f(Phi_W V + U c) does not change
    when a multiple of 1^T is added to any row of V or c, while |V_g|_F is smallest with the rows
    of V orthogonal to 1. Every minimizer therefore has V = W B^T, c = C B^T with B (D, D - 1) an
    orthonormal basis of 1^perp (:func:`_simplex_basis`), and |V_g|_F = |W_g|_F. The solver works
    on X = [W; C] ((k + r), D - 1), where the Hessian of the loss,

        H = sum_n (m_n m_n^T) kron B^T (diag(p_n) - p_n p_n^T) B,    M = [Phi_W  U],

    has no exact null directions (on near-separable data it is still badly conditioned:
    condition numbers ~1e9 occur). Each iteration forms g = M^T (P - T) B and H once
    (:func:`_softmax_hessian_reduced`) and then

    1. minimizes the local model <g, D> + 1/2 vec(D)^T H vec(D) + sum_g tau_g |X_g + D_g|_F by
       ``epochs`` block coordinate epochs (group soft-threshold, L_g = lambda_max(H_gg));
    2. if the model keeps the support S = {g : X_g != 0}, replaces that step by the Newton step
       of the objective restricted to S (smooth there), reusing H:
       (H_SS + blockdiag(tau_g / |X_g| (I - u_g u_g^T))) s = -(g_S + tau_g u_g),
       u_g = vec(X_g) / |X_g|; it converges quadratically once the support is identified;
    3. backtracks (Armijo on the true objective; the sufficient decrease is waived below
       1e-12 |f|, where the objective's rounding hides the decrease of the last Newton steps,
       which are then kept when they reduce the gradient norm on S).

    The relative gap of nnlasso's dual point (:func:`restricted_gap`, the affine part refitted
    by :func:`nnlasso.duality.fit_affine`) is checked after every step. Returns
    ``(V, c, iterations, rel_gap)`` in the original coordinates (rows of V orthogonal to 1).
    """
    k, r, D = Phi_W.shape[1], basis.shape[1], T.shape[1]
    if D < 2:
        raise ValueError("softmax_newton: needs D >= 2 classes")
    B = _simplex_basis(D)
    Dr = D - 1
    M, row_group, tau_all, blocks, var_blocks, flat, offs = _newton_layout(
        Phi_W, basis, local_ids, tau, Dr)
    m = tau.size
    n_rows = k + r
    kernel = _compiled_epoch()

    def pen(X: np.ndarray) -> float:
        return float(tau @ group_norms(X[:k], local_ids, m))

    def evaluate(X: np.ndarray) -> tuple[float, np.ndarray]:
        Z = (M @ X) @ B.T
        return _loss_value(loss, Z, T) + pen(X), Z

    def certificate(X: np.ndarray) -> tuple[np.ndarray, float]:
        Vf = X[:k] @ B.T
        off = Phi_W @ Vf
        cf = fit_affine(loss, T, off, basis, B0=X[k:] @ B.T) if r else np.zeros((0, D))
        X = np.vstack([X[:k], cf @ B])
        primal, gap = restricted_gap(loss, T, Phi_W, basis, off + basis @ cf, pen(X),
                                     local_ids, tau)
        return X, gap / max(abs(primal), 1e-300)

    def support_grad(X: np.ndarray, G: np.ndarray, S_rows: np.ndarray) -> np.ndarray:
        """Gradient of the objective restricted to the support rows (and the affine rows)."""
        out = G[S_rows].copy()
        nrm = group_norms(X[:k], local_ids, m)
        pen_rows = S_rows[S_rows < k]
        g_ids = local_ids[pen_rows]
        out[:pen_rows.size] += tau[g_ids][:, None] * X[pen_rows] / nrm[g_ids][:, None]
        return out

    X0 = np.vstack([np.asarray(V, float), np.asarray(c, float)]) @ B
    X, rel = certificate(X0)
    f, Z = evaluate(X)
    it = 0
    while rel > tol and it < max_iter:
        it += 1
        Pm = np.exp(Z - Z.max(axis=1, keepdims=True))
        Pm /= Pm.sum(axis=1, keepdims=True)
        G = M.T @ ((Pm - T) @ B)
        H = _softmax_hessian_reduced(M, Pm, B)
        # 1. the proximal-Newton model by block coordinate epochs
        x = X.ravel()
        delta = _model_step(H, G.ravel(), x, var_blocks, tau_all, flat, offs, kernel,
                            epochs).reshape(n_rows, Dr)
        norms = group_norms(X[:k], local_ids, m)
        S = np.flatnonzero(norms > 0)
        S_model = np.flatnonzero(group_norms(X[:k] + delta[:k], local_ids, m) > 0)
        Xn = None
        # 2. Newton on the support when the model keeps it
        if S.size and np.array_equal(S, S_model):
            Xn, fn, Zn = _support_newton_step(X, f, G, H, S, norms, k, r, Dr, local_ids, tau,
                                              evaluate, support_grad, M, T, B, m)
        # 3. otherwise the model's step, Armijo along it
        if Xn is None:
            if not np.any(delta):
                break
            decrease = float(G.ravel() @ delta.ravel()) + float(
                tau @ (group_norms(X[:k] + delta[:k], local_ids, m) - norms))
            t = 1.0
            while t > 1e-8:
                Xt = X + t * delta
                ft, Zt = evaluate(Xt)
                if ft <= f + 1e-4 * t * min(decrease, 0.0):
                    Xn, fn, Zn = Xt, ft, Zt
                    break
                t *= 0.5
            if Xn is None:
                break
        X, rel = certificate(Xn)
        f, Z = evaluate(X)
    return X[:k] @ B.T, X[k:] @ B.T, it, rel


def _support_newton_step(X, f, G, H, S, norms, k, r, Dr, local_ids, tau, evaluate, support_grad,
                         M, T, B, m):
    """Newton step of :func:`softmax_newton` on the support S (see there), or (None, ...).

    Groups whose Newton step would carry them radially through zero (<u_g, X_g + s_g> <= 0:
    their optimum is at zero, where the objective is not smooth) are set to zero and the Newton
    system is solved again for the others with that constraint, s_R = -(H_RR + Pen_RR)^{-1}
    (g_R - H_R0 X_0); at most three such rounds. Without it, one vanishing group forces tiny
    step sizes on all of them.
    """
    drop = np.zeros(0, dtype=np.intp)
    keep = S
    for _ in range(4):
        S_rows = np.concatenate([np.flatnonzero(np.isin(local_ids, keep)), k + np.arange(r)])
        idx = (S_rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
        Hs = H[np.ix_(idx, idx)]
        gs = support_grad(X, G, S_rows)
        if drop.size:
            d_rows = np.flatnonzero(np.isin(local_ids, drop))
            d_idx = (d_rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
            gs = gs - (H[np.ix_(idx, d_idx)] @ X[d_rows].ravel()).reshape(-1, Dr)
        sub = S_rows[S_rows < k]
        for g in keep:
            rows = np.flatnonzero(local_ids[sub] == g)
            vi = (rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
            u = X[sub[rows]].ravel() / norms[g]
            Hs[np.ix_(vi, vi)] += tau[g] / norms[g] * (np.eye(u.size) - np.outer(u, u))
        try:
            step = np.linalg.solve(Hs, -gs.ravel()).reshape(-1, Dr)
        except np.linalg.LinAlgError:
            return None, None, None
        if not np.all(np.isfinite(step)):
            return None, None, None
        Xs = X[sub] + step[:sub.size]
        radial = np.bincount(local_ids[sub], weights=np.einsum("ij,ij->i", Xs, X[sub]),
                             minlength=m)
        cross = keep[radial[keep] <= 0]
        if not drop.size:
            # groups for which zero satisfies the KKT condition of the local model with the
            # others fixed: |g_g - H_gg x_g| <= tau_g
            zero_ok = []
            for g in keep:
                rows = np.flatnonzero(local_ids == g)
                vi = (rows[:, None] * Dr + np.arange(Dr)[None, :]).ravel()
                gz = G[rows].ravel() - H[np.ix_(vi, vi)] @ X[rows].ravel()
                if float(np.linalg.norm(gz)) <= tau[g]:
                    zero_ok.append(g)
            cross = np.union1d(cross, np.asarray(zero_ok, dtype=np.intp))
        if cross.size == 0 or cross.size == keep.size:
            break
        drop = np.union1d(drop, cross)
        keep = np.setdiff1d(keep, cross)
    base = X.copy()
    if drop.size:
        base[np.flatnonzero(np.isin(local_ids, drop))] = 0.0
    slope = float(np.sum(gs * step))
    gn0 = float(np.linalg.norm(support_grad(X, G, S_rows)))
    t = 1.0
    while t > 1e-6:
        Xt = base.copy()
        Xt[S_rows] += t * step
        ft, Zt = evaluate(Xt)
        if ft <= f + 1e-4 * t * min(slope, 0.0):
            return Xt, ft, Zt
        if ft <= f + 1e-12 * max(abs(f), 1.0) and not drop.size:
            # decrease below the objective's rounding: judge by the gradient on S
            Pt = np.exp(Zt - Zt.max(axis=1, keepdims=True))
            Pt /= Pt.sum(axis=1, keepdims=True)
            Gt = M.T @ ((Pt - T) @ B)
            if np.all(group_norms(Xt[:k], local_ids, m)[keep] > 0) and float(
                    np.linalg.norm(support_grad(Xt, Gt, S_rows))) < gn0:
                return Xt, ft, Zt
        t *= 0.5
    return None, None, None


# ---------------------------------------------------------------------------------------------
# the working-set loop
# ---------------------------------------------------------------------------------------------

#: signature of a restricted solver: (cols, local_ids, tau, V_W, c, tol) -> (V_W, c, iterations,
#: rel_gap), rel_gap the restricted problem's relative gap it reached (> tol: it stalled)
InnerSolver = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float],
                       tuple[np.ndarray, np.ndarray, int, float]]


@dataclass
class WorkingSetResult:
    """Result of :func:`working_set_solve`.

    V : (K, D) solution.   c : (r, D) affine coefficients on the basis U (A B = U c).
    primal, dual, gap, rel_gap : the full problem's certificate at V (nnlasso's dual point).
    rho : (G,) unscaled KKT ratios |Phi_g^T Q|_F / (lam omega_g) at V (all groups).
    converged : rel_gap <= tol.   n_outer : outer iterations.   n_inner : inner epochs /
    iterations in total.   n_products : full products Phi^T Q.   ws_sizes : working-set size per
    outer iteration.   n_screened, screened : groups discarded by gap-safe screening (provably
    zero at the optimum).   times : seconds.   switched_at : the outer iteration (1-based) at
    which the loop handed its restricted problems to the ``fallback`` inner solver, or None.
    """

    V: np.ndarray
    c: np.ndarray
    primal: float
    dual: float
    gap: float
    rel_gap: float
    rho: np.ndarray
    converged: bool
    n_outer: int
    n_inner: int
    n_products: int
    ws_sizes: list[int]
    n_screened: int
    times: dict[str, float]
    screened: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    switched_at: int | None = None

    def info(self) -> dict:
        """Diagnostics for ``Solution.info``."""
        return {"n_outer": self.n_outer, "n_inner": self.n_inner, "n_products": self.n_products,
                "ws_sizes": list(self.ws_sizes), "n_screened": self.n_screened,
                "ws_converged": self.converged, "switched_at": self.switched_at}


class _Loop:
    """State of the working-set loop (see :func:`working_set_solve`)."""

    def __init__(self, data: LassoData, lam: float, tol: float, screen: bool,
                 corr: PathCorrelations | None = None):
        self.d, self.lam, self.tol, self.screen = data, float(lam), float(tol), screen
        self.corr = corr if data.squared else None
        self.tau_all = self.lam * data.weights
        self.alive = np.ones(data.n_groups, dtype=bool)
        self.keep_groups = np.arange(data.n_groups)
        self.Phi_keep = data.Phi
        self.keep_local = data.ids
        self.compacted = False
        self.n_products = 0
        self.cache = data.gram_cache()

    # -- full-problem check --------------------------------------------------------------
    def check(self, cols: np.ndarray, V_W: np.ndarray, c: np.ndarray, full: bool = False
              ) -> dict:
        """Certificate of the (unscreened) full problem at V (nonzero only on ``cols``)."""
        d = self.d
        Phi_W = d.Phi[:, cols]
        if d.squared:
            Q = d.TP - self.projected(cols) @ V_W if cols.size else d.TP.copy()
            c = d.basis.T @ (d.T - Phi_W @ V_W) if d.basis.shape[1] else c
            primal = 0.5 * float(np.sum(Q * Q))
        else:
            off = Phi_W @ V_W
            if d.basis.shape[1]:
                c = fit_affine(d.loss, d.T, off, d.basis, B0=c)
            Z = off + d.basis @ c
            primal = d.loss.value(Z, d.T)
            Q = d.loss.clip(project_out(-d.loss.grad(Z, d.T), d.basis), d.T)
        pen = float(self.tau_all @ group_norms(self._scatter(cols, V_W), d.ids, d.n_groups)) \
            if cols.size else 0.0
        primal += pen
        rho = None if full else self._cached_ratios(cols, V_W)
        if rho is None:
            rho = self._product_ratios(Q, full)
        s = max(1.0, float(rho.max())) if rho.size else 1.0
        dual = d.loss.dual_value(Q / s, d.T)
        gap = primal - dual
        return {"primal": primal, "dual": dual, "gap": gap,
                "rel": gap / max(abs(primal), abs(dual), np.finfo(float).tiny), "rho": rho,
                "s": s, "c": c}

    def _cached_ratios(self, cols: np.ndarray, V_W: np.ndarray) -> np.ndarray | None:
        """KKT ratios from :class:`PathCorrelations` (upper bounds including rounding), or None
        when there is no cache or it is full."""
        if self.corr is None:
            return None
        nz = np.any(V_W != 0, axis=1)  # zero rows of V_W contribute nothing to Phi^T Q
        ok = self.corr.ensure(cols[nz])
        self.n_products += self.corr.take_reads()
        if not ok:
            return None
        corr, err = self.corr.correlations(cols[nz], V_W[nz], n_terms=cols.size)
        d = self.d
        err_g = np.sqrt(np.bincount(d.ids, weights=err * err, minlength=d.n_groups))
        rho = (group_norms(corr, d.ids, d.n_groups) + err_g) / self.tau_all
        self.corr.hint = rho
        return rho

    def _product_ratios(self, Q: np.ndarray, full: bool) -> np.ndarray:
        """KKT ratios |Phi_g^T Q|_F / (lam omega_g) by one product with (the kept part of) Phi."""
        d = self.d
        Phi_use = d.Phi if full else self.Phi_keep
        with _default_threads():
            corr = Phi_use.T @ Q
        self.n_products += 1
        if full or not self.compacted:
            rho = group_norms(corr, d.ids, d.n_groups) / self.tau_all
        else:
            rho = np.zeros(d.n_groups)
            rho[self.keep_groups] = group_norms(corr, self.keep_local,
                                                self.keep_groups.size) / self.tau_all[
                self.keep_groups]
        return rho

    def _scatter(self, cols: np.ndarray, V_W: np.ndarray) -> np.ndarray:
        V = np.zeros((self.d.Phi.shape[1], self.d.T.shape[1]))
        V[cols] = V_W
        return V

    # -- gap-safe screening --------------------------------------------------------------
    def screen_groups(self, chk: dict, ws: np.ndarray) -> np.ndarray:
        """Discard groups with |Phi_g^T theta| + r |P Phi_g| < lam omega_g; return the new ws."""
        if not self.screen or not np.isfinite(chk["gap"]) or chk["gap"] < 0:
            return ws
        r = np.sqrt(2.0 * self.d.loss.smooth_constant * max(chk["gap"], 0.0))
        score = chk["rho"] / chk["s"] + r * self.d.group_col_norms / self.tau_all
        newly = self.alive & (score < 1.0 - 1e-9)
        newly[ws] = False  # groups in the working set leave it only when their V is zero
        if not newly.any():
            return ws
        self.alive &= ~newly
        dead_frac = 1.0 - self.alive[self.keep_groups].mean()
        if self.corr is None and dead_frac > 0.5 and self.Phi_keep.shape[1] > 2000:
            self.keep_groups = np.flatnonzero(self.alive)
            cols, local = self.d.columns(self.keep_groups)
            self.Phi_keep = self.d.Phi[:, cols]
            self.keep_local = local
            self.compacted = True
        return ws

    def projected(self, cols: np.ndarray) -> np.ndarray:
        return self.cache.projected(cols)

    def gram(self, cols: np.ndarray, local_ids: np.ndarray, tau: np.ndarray) -> GramProblem:
        return self.cache.gram(cols, local_ids, tau)


def native_inner(data: LassoData, max_epochs: int = 20_000) -> InnerSolver:
    """The native restricted solver: Gram BCD (squared loss) or FISTA (logistic, softmax).

    ``max_epochs`` bounds the Gram BCD (a refinement of an interior-point answer needs few)."""
    def solve(cols, local_ids, tau, V_W, c, tol):
        if data.squared:
            prob = data.gram_cache().gram(cols, local_ids, tau)
            blocks = None if data.identity_groups else [np.flatnonzero(local_ids == g)
                                                        for g in range(tau.size)]
            V_W, n, rel = bcd_gram(prob, V_W, blocks, tol, max_epochs=max_epochs)
            return V_W, c, n, rel
        n_vars = (cols.size + data.basis.shape[1]) * data.T.shape[1]
        solver = prox_newton if n_vars <= PROX_NEWTON_MAX_VARS else fista
        if solver is prox_newton and data.loss.name == "softmax":
            solver = softmax_newton
        return solver(data.loss, data.T, data.Phi[:, cols], data.basis, local_ids, tau,
                      V_W, c, tol)
    return solve


def working_set_solve(data: LassoData, lam: float, *, tol: float = 1e-8,
                      V0: np.ndarray | None = None, c0: np.ndarray | None = None,
                      ws0: np.ndarray | None = None, p0: int = 10, inner: InnerSolver | None = None,
                      screen: bool = True, max_outer: int = 100, margin: float | None = None,
                      correlations: PathCorrelations | None = None,
                      fallback: InnerSolver | None = None) -> WorkingSetResult:
    """Solve (MTL) over the full dictionary by working sets, to relative gap ``tol``.

    Parameters
    ----------
    data : the problem (:class:`LassoData`).   lam : regularization.
    tol : target relative duality gap of the *full* problem.
    V0, c0 : warm start (V on all K rows; c on the affine basis).
    ws0 : initial working set (group indices); the groups with V0_g != 0 are always added, and
        when it is None the ``p0`` groups with the largest KKT ratio at the start are used.
    inner : restricted solver (default :func:`native_inner`); a CVXPY backend can be plugged in
        here (see :func:`nnlasso.lasso.solve_lasso` with ``working_set=True``). The continuous
        column generation reuses this loop by calling it on its growing dictionary with the
        previous solution (padded with zero rows) as ``V0``.
    screen : gap-safe screening (see the module docstring).
    margin : when given, the groups with KKT ratio rho_g > 1 - margin at the start join the
        initial working set (used by :func:`polish`).
    correlations : squared loss: a :class:`PathCorrelations` shared by the solves of a path;
        the full KKT checks then take Phi^T Q = a0 - M_W V_W from its cached columns instead of
        a product with Phi (the ratios are rounding-safe upper bounds, so every certificate is
        still over the full dictionary). Without it (the default) each check is one product.
    fallback : a second restricted solver (nnlasso.lasso passes CLARABEL on the working set)
        that takes over, for the rest of the solve, as soon as ``inner`` stalls: it returns a
        restricted gap above the tolerance it was given (:func:`bcd_gram` declares a stall when
        its gap stops halving, after a bounded number of epochs), or three outer iterations in
        a row lower the full gap by less than 10 %. The stalled working set is re-solved at once
        by the fallback, warm-started from the stalled point, and from then on every violator
        joins the working set at once (instead of at most doubling it: the fallback's cost
        depends little on the working set's size). Without it, the loop stops after
        three such outer iterations and returns the best point it has (not converged).

    Loop: check the full KKT / gap with one product Phi^T Q; stop when rel_gap <= tol; screen;
    add the violators (rho_g > 1, the largest first, at most doubling the working set); solve the
    restricted problem warm-started to a relative gap max(tol / 4, rel_gap / 10).
    """
    t_start = time.perf_counter()
    K, D = data.Phi.shape[1], data.T.shape[1]
    V = np.zeros((K, D)) if V0 is None else np.array(V0, dtype=float)
    c = np.zeros((data.basis.shape[1], D)) if c0 is None else np.array(c0, dtype=float)
    with _single_thread():
        return _working_set_loop(data, lam, tol, V, c, ws0, p0, inner, screen, max_outer,
                                 margin, t_start, correlations, fallback)


def _working_set_loop(d: LassoData, lam: float, tol: float, V: np.ndarray, c: np.ndarray,
                      ws0: np.ndarray | None, p0: int, inner: InnerSolver | None, screen: bool,
                      max_outer: int, margin: float | None, t_start: float,
                      correlations: PathCorrelations | None = None,
                      fallback: InnerSolver | None = None) -> WorkingSetResult:
    """Body of :func:`working_set_solve` (run with single-threaded BLAS but for Phi^T Q)."""
    K, D = d.Phi.shape[1], d.T.shape[1]
    loop = _Loop(d, lam, tol, screen, correlations)
    inner = native_inner(d) if inner is None else inner
    nz_groups = np.unique(d.ids[np.flatnonzero(np.any(V != 0, axis=1))])
    ws = np.union1d(nz_groups, np.asarray(ws0, dtype=np.intp)) if ws0 is not None else nz_groups
    cols, local = d.columns(ws)
    n_inner, sizes, n_outer, stalls = 0, [], 0, 0
    t_inner = 0.0
    switched_at = None
    chk: dict | None = None
    if ws0 is None or margin is not None:
        # no working set given (or one to complete): look at the KKT ratios first
        chk = loop.check(cols, V[cols], c)
        c = chk["c"]
        if ws0 is None:
            ws = _grow(ws, chk["rho"], loop.alive, max(p0 - ws.size, 1), force=True)
        if margin is not None:
            ws = np.union1d(ws, np.flatnonzero(chk["rho"] > 1.0 - margin))
    while n_outer < max_outer:
        if chk is None:
            tol_in = 0.25 * tol  # a given working set (a path's strong-rule set) is usually final
        else:
            if chk["rel"] <= tol:
                if not loop.compacted:
                    break
                chk = loop.check(cols, V[cols], c, full=True)
                if chk["rel"] <= tol:
                    break
                # screening fooled by round-off: start over
                loop = _Loop(d, lam, tol, False, correlations)
            ws = loop.screen_groups(chk, ws)
            # at most doubling the working set; once the fallback (an interior-point solve, whose
            # cost hardly depends on the working set's size) has taken over, every violator
            ws = _grow(ws, chk["rho"], loop.alive,
                       max(ws.size, p0) if switched_at is None else d.n_groups)
            tol_in = max(0.25 * tol, min(0.1 * chk["rel"], 1e-3))
            if switched_at is not None:
                tol_in = 0.25 * tol  # an interior-point solve costs about the same at any tol
        n_outer += 1
        sizes.append(int(ws.size))
        cols, local = d.columns(ws)
        tau = loop.tau_all[ws]
        t0 = time.perf_counter()
        V_W, c, n, rel_in = inner(cols, local, tau, V[cols], c, tol_in)
        if fallback is not None and switched_at is None and not rel_in <= tol_in:
            # the restricted solve stalled: hand this working set (and the later ones) to the
            # fallback at once, warm-started from the stalled point
            inner, switched_at = fallback, n_outer
            V_W, c, n2, rel_in = inner(cols, local, tau, V_W, c, tol_in)
            n += n2
        t_inner += time.perf_counter() - t0
        n_inner += n
        V = np.zeros((K, D))
        V[cols] = V_W
        prev_rel = np.inf if chk is None else chk["rel"]
        chk = loop.check(cols, V_W, c)
        c = chk["c"]
        keep = group_norms(V_W, local, ws.size) > 0
        ws = ws[keep | (chk["rho"][ws] > 1.0 - 1e-3)]
        cols, local = d.columns(ws)
        stalls = stalls + 1 if chk["rel"] > 0.9 * prev_rel else 0
        if stalls >= 3 and fallback is not None and switched_at is None:
            inner, switched_at, stalls = fallback, n_outer, 0
        elif stalls >= 3:
            break  # no progress: the gap is at the floor of floating point for this problem
    if chk is None:
        chk = loop.check(cols, V[cols], c)
    if loop.compacted:
        chk = loop.check(cols, V[cols], c, full=True)
    rho = chk["rho"]
    return WorkingSetResult(V=V, c=chk["c"], primal=chk["primal"], dual=chk["dual"],
                            gap=chk["gap"], rel_gap=chk["rel"], rho=rho,
                            converged=bool(chk["rel"] <= tol), n_outer=n_outer, n_inner=n_inner,
                            n_products=loop.n_products, ws_sizes=sizes,
                            n_screened=int((~loop.alive).sum()),
                            screened=np.flatnonzero(~loop.alive),
                            times={"inner": t_inner, "total": time.perf_counter() - t_start},
                            switched_at=switched_at)


def _grow(ws: np.ndarray, rho: np.ndarray, alive: np.ndarray, n_add: int,
          force: bool = False) -> np.ndarray:
    """Add up to ``n_add`` groups outside ``ws`` with the largest KKT ratio (> 1 unless force)."""
    cand = rho.copy()
    cand[ws] = -np.inf
    cand[~alive] = -np.inf
    n_add = int(min(n_add, np.count_nonzero(np.isfinite(cand))))
    if n_add <= 0:
        return ws
    top = np.argpartition(-cand, n_add - 1)[:n_add]
    top = top[cand[top] > (-np.inf if force else 1.0)]
    if force:
        top = top[cand[top] > 0]
    return np.union1d(ws, top)


def polish(data: LassoData, V: np.ndarray, lam: float, *, tol: float, c0: np.ndarray | None,
           margin: float = 0.1, active_rel: float = 1e-6) -> WorkingSetResult:
    """Refine a backend's point with the native solver on a working set.

    The working set holds the active groups (|V_g| > active_rel * max_h |V_h|; the others start
    at zero) and the groups whose KKT ratio at that point is within ``margin`` of the boundary
    (rho_g > 1 - margin); the loop then grows it with violators until the full gap is <= tol.
    """
    norms = group_norms(V, data.ids, data.n_groups)
    top = float(norms.max()) if norms.size else 0.0
    active = np.flatnonzero(norms > active_rel * top) if top > 0 else np.zeros(0, np.intp)
    V0 = np.zeros_like(V)
    cols, _ = data.columns(active)
    V0[cols] = V[cols]
    return working_set_solve(data, lam, tol=tol, V0=V0, c0=c0, ws0=active, margin=margin)
