"""Problem data of the native solver: :class:`LassoData`, the Gram cache of projected columns and
the cached path correlations (squared loss)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..duality import project_out
from ..losses import Loss
from .bcd import GramProblem
from .ops import _default_threads


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
