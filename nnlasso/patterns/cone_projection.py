"""Batched exact Euclidean projection onto the activation-pattern cones (:func:`project_cones`).

Block k of the cone program has the polyhedral cone

    K_k = {v in R^m : A_k v >= 0},   A_k = diag(s_k) Xl,   s_k = S[:, k] in {-1, +1}^N,

(Xl = [X, -1], s_k = 2 d_k - 1 for the pattern d_k). The Euclidean projection of a point c onto
K_k is, by Moreau's decomposition (K_k's polar cone is {-A_k^T mu : mu >= 0}),

    P_K(c) = c + A_k^T mu*,   mu* = argmin_{mu >= 0} |c + A_k^T mu|_2,               (NNLS)

so ANY mu >= 0 gives the upper bound |P_K(c)| <= |c + A_k^T mu| (and |P_K(c)| = max{c^T v :
v in K_k, |v| <= 1}, the cone program's dual constraint). At the solution the active rows S
(mu*_S > 0) satisfy A_S P_K(c) = 0 and P_K(c) is the orthogonal projection of c onto the face's
span {v : A_S v = 0}: 1/2 |P_K(c)|^2 is C^1 with gradient P_K(c) and generalized Hessian the
projector onto that span (:meth:`ConeProjection.face_projector`, :meth:`ConeProjection.face_basis`).

All blocks share Xl; only the row signs differ, so every slack check of all unconverged blocks
is one product (V Xl^T) o S^T (B x N), and the small per-block systems are solved as stacks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from .._validation import as_matrix
from ..errors import InvalidProblemError

__all__ = ["ConeProjection", "project_cones"]

#: default relative tolerance of the optimality test (see :func:`project_cones`)
DEFAULT_TOL = 1e-10
#: an entering row whose component orthogonal to the active rows' span is below this (unit
#: rows) is numerically dependent: the block goes to the exact fallback
_DEP_TOL = 1e-11
#: the rounding floor of the optimality test, relative to |C[k]|
_ROUND = 1e-14
#: from the third iteration on, at most this many unconverged blocks (and at most 1/8 of the
#: call's) go to scipy's nnls (about 1 ms each at N = 442, m = 11) rather than on with the
#: batched iterations (about 0.5-1 ms each, however few blocks they serve)
_TAIL = 4


@dataclass
class ConeProjection:
    """The projections of :func:`project_cones` (B blocks, m = Xl.shape[1]).

    Attributes
    ----------
    P : (B, m) array
        P[k] = c_k - Q_k Q_k^T c_k, the projection of C[k] onto the span of block k's face
        {v : A_S v = 0} (S = its active rows); it is P_K(C[k]) when ``converged[k]``.
    norm : (B,) array
        |P[k]|.
    bound : (B,) array
        |C[k] + Xl^T (S[:, k] * mu_k)| for the returned multipliers mu_k >= 0 (``idx``, ``mu``):
        always a valid upper bound of |P_K(C[k])| (Moreau), converged or not.
    idx : (B, m) int array
        The active rows of each block (indices into Xl's rows) in the order they entered, -1
        padded; ``n_active[k]`` of them.
    mu : (B, m) array
        Their multipliers (> 0) in the scaling of the given Xl (0 on the padding): the full
        multiplier vector of block k is mu_k[idx[k, j]] = mu[k, j].
    n_active : (B,) int array
        |S_k|.
    viol : (B,) array
        max(0, -min_n S[n, k] (xl_n . P[k]) / |xl_n|): the largest violation of a unit cone
        row at P[k] (<= tol |P[k]| + 1e-14 |C[k]| when converged).
    converged : (B,) bool array
        The optimality test (see :func:`project_cones`) holds.
    n_iter : int
        Outer iterations (rows added) of the batched active-set method.
    n_fallback : int
        Blocks re-solved by scipy.optimize.nnls on all N rows.
    """

    P: np.ndarray
    norm: np.ndarray
    bound: np.ndarray
    idx: np.ndarray
    mu: np.ndarray
    n_active: np.ndarray
    viol: np.ndarray
    converged: np.ndarray
    n_iter: int = 0
    n_fallback: int = 0
    # the active sets' factorization (reused by a warm start): rows j < n_active of _Qr[k]
    # are an orthonormal basis of the span of the unit active rows a_j = _sg[k, j] xl_idx /
    # |xl_idx|, A_S^T = Q R (_R), _Ri[k] = R^{-T} (transposed); _Xl the rows it was computed for
    _Qr: np.ndarray = field(default=None, repr=False)
    _Ri: np.ndarray = field(default=None, repr=False)
    _R: np.ndarray = field(default=None, repr=False)
    _sg: np.ndarray = field(default=None, repr=False)
    _Xl: np.ndarray = field(default=None, repr=False)

    def _blocks(self, blocks: Any) -> np.ndarray:
        B = self.P.shape[0]
        if blocks is None:
            return np.arange(B)
        ks = np.asarray(blocks)
        if ks.dtype == bool:
            if ks.shape != (B,):
                raise InvalidProblemError(f"blocks: a boolean mask needs shape ({B},), got "
                                          f"{ks.shape}")
            return np.flatnonzero(ks)
        ks = ks.astype(np.intp).ravel()
        if ks.size and (ks.min() < -B or ks.max() >= B):
            raise InvalidProblemError(f"blocks: indices must be in [0, {B}), got {blocks!r}")
        return ks

    def face_projector(self, blocks: Any = None) -> np.ndarray:
        """(b, m, m): I - Q_k Q_k^T, the orthogonal projector onto {v : A_S v = 0} of each
        block (``blocks``: indices or a boolean mask; None = all). It is the generalized Hessian
        of 1/2 |P_K(c)|^2 at c (and P[k] = H_k C[k])."""
        ks = self._blocks(blocks)
        Qr = self._Qr[ks]
        m = Qr.shape[-1]
        return np.eye(m)[None] - np.swapaxes(Qr, 1, 2) @ Qr

    def face_basis(self, blocks: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """An orthonormal basis of each face's span {v : A_S v = 0}.

        Returns
        -------
        U : (b, m, m) array
            U[i][:, :dim[i]] is an orthonormal basis of block ``blocks[i]``'s face span, the
            other columns are 0 (so U[i] U[i]^T is the face projector).
        dim : (b,) int array
            m - rank(A_S).
        """
        ks = self._blocks(blocks)
        Qr = self._Qr[ks]                        # rows: orthonormal (the active rows' span) or 0
        m = Qr.shape[-1]
        live = np.linalg.norm(Qr, axis=2) > 0.5
        rank = live.sum(axis=1)
        Qr = np.take_along_axis(Qr, np.argsort(~live, axis=1, kind="stable")[:, :, None], axis=1)
        # a complete QR of [q_1 .. q_rank 0 ..]: its last m - rank columns span the complement
        E, _ = np.linalg.qr(np.swapaxes(Qr, 1, 2), mode="complete")
        dim = m - rank
        order = (np.arange(m)[None, :] + rank[:, None]) % m             # face directions first
        U = np.take_along_axis(E, order[:, None, :], axis=2)
        U *= (np.arange(m)[None, :] < dim[:, None])[:, None, :]
        return U, dim

    def take(self, blocks: Any) -> ConeProjection:
        """The result restricted to some blocks (e.g. as ``warm`` for a call on those blocks
        only: ``project_cones(Xl, S[:, blocks], C[blocks], warm=res.take(blocks))``)."""
        ks = self._blocks(blocks)
        return ConeProjection(P=self.P[ks], norm=self.norm[ks], bound=self.bound[ks],
                              idx=self.idx[ks], mu=self.mu[ks], n_active=self.n_active[ks],
                              viol=self.viol[ks], converged=self.converged[ks],
                              n_iter=self.n_iter, n_fallback=self.n_fallback,
                              _Qr=self._Qr[ks], _Ri=self._Ri[ks], _R=self._R[ks],
                              _sg=self._sg[ks], _Xl=self._Xl)

    def put(self, blocks: Any, res: ConeProjection) -> None:
        """Write the result ``res`` of a call on the blocks ``blocks`` into this one (in place),
        e.g. to keep one warm start for all blocks while calls touch subsets of them."""
        ks = self._blocks(blocks)
        for name in ("P", "norm", "bound", "idx", "mu", "n_active", "viol", "converged", "_Qr",
                     "_Ri", "_R", "_sg"):
            getattr(self, name)[ks] = getattr(res, name)

    @classmethod
    def empty(cls, Xl: np.ndarray, B: int) -> ConeProjection:
        """A result with empty active sets for B blocks of the rows Xl (P = 0, bound = inf,
        not converged): a neutral ``warm`` to :meth:`put` results into."""
        Xl = as_matrix(Xl, "Xl")
        m = Xl.shape[1]
        return cls(P=np.zeros((B, m)), norm=np.zeros(B), bound=np.full(B, np.inf),
                   idx=np.full((B, m), -1, dtype=np.intp), mu=np.zeros((B, m)),
                   n_active=np.zeros(B, dtype=np.intp), viol=np.full(B, np.inf),
                   converged=np.zeros(B, dtype=bool), _Qr=np.zeros((B, m, m)),
                   _Ri=np.zeros((B, m, m)), _R=np.zeros((B, m, m)), _sg=np.zeros((B, m)),
                   _Xl=Xl)


def _check_inputs(Xl: Any, S: Any, C: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Xl = as_matrix(Xl, "Xl")
    N, m = Xl.shape
    try:
        Sa = np.asarray(S)
    except (TypeError, ValueError) as exc:      # pragma: no cover - ragged input
        raise InvalidProblemError(f"S: cannot be read as an array ({exc})") from None
    if Sa.ndim != 2 or Sa.shape[0] != N:
        raise InvalidProblemError(f"S: expected shape (N, B) = ({N}, B) with one row per row of "
                                  f"Xl, got {Sa.shape}")
    B = Sa.shape[1]
    if Sa.dtype == bool or not np.issubdtype(Sa.dtype, np.number):
        raise InvalidProblemError("S: expected the row signs +1/-1 (int8 or float), got dtype "
                                  f"{Sa.dtype}; pass 2 * D - 1 for a 0/1 pattern matrix D")
    if Sa.size and not np.all(np.abs(Sa) == 1):
        raise InvalidProblemError("S: every entry must be +1 or -1 (NaN, 0 and other values are "
                                  "not row signs); pass 2 * D - 1 for a 0/1 pattern matrix D")
    try:
        Ca = np.asarray(C, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"C: cannot be read as a numeric array ({exc})") from None
    if Ca.ndim != 2 or Ca.shape != (B, m):
        raise InvalidProblemError(f"C: expected shape (B, m) = ({B}, {m}) (one point per column "
                                  f"of S, one entry per column of Xl), got {Ca.shape}")
    if not np.all(np.isfinite(Ca)):
        raise InvalidProblemError("C: contains NaN or infinite values; pass finite points")
    return Xl, Sa, Ca


def _most(ks: np.ndarray, B: int) -> bool:
    """Whether the blocks ``ks`` are more than half of all B: a product over all blocks
    then indexed costs less than gathering their (m, m) factors first (a fancy-indexed copy
    of (2000, 11, 11) takes ~1.8 ms, the product over all 0.2 ms)."""
    return 2 * ks.size > B


class _State:
    """Per-block active sets with an orthonormal basis of their rows (Gram-Schmidt, one
    re-orthogonalization): a_j = sg_j Xn[idx_j] (unit rows) = sum_i R[i, j] q_i, A_S^T = Q R;
    ``Rit`` = R^{-T} (lower triangular, 0 on the padding), so the least-squares multipliers of
    the set, argmin_z |c + A_S^T z|, are z = -R^{-1} Q^T c."""

    def __init__(self, Xn: np.ndarray, C: np.ndarray):
        B, m = C.shape
        self.Xn, self.C, self.m = Xn, C, m
        self.k = np.zeros(B, dtype=np.intp)
        self.idx = np.full((B, m), -1, dtype=np.intp)
        self.sg = np.zeros((B, m))
        self.Qr = np.zeros((B, m, m))           # row j = q_j
        self.R = np.zeros((B, m, m))            # column j = the coordinates of a_j in Q
        self.Rit = np.zeros((B, m, m))          # R^{-T}: row j = column j of R^{-1}
        self.rq = np.zeros((B, m))              # Q^T c
        self.mu = np.zeros((B, m))              # multipliers of the unit rows, > 0 on the set

    def append(self, ks: np.ndarray, rows: np.ndarray,
               signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add row ``rows[i]`` with sign ``signs[i]`` to block ``ks[i]``.

        Returns rho, the norm of the new row's component orthogonal to the block's earlier rows
        (the new R diagonal), and the least-squares multipliers of the enlarged sets computed
        from those of the old sets (``mu``, which must be them): with R_new = [[R, r], [0, rho]],
        z_new = -rq_new / rho and z = mu - z_new R^{-1} r.
        """
        a = signs[:, None] * self.Xn[rows]                                  # (b, m)
        Qr = self.Qr[ks]
        r = np.einsum("bjm,bm->bj", Qr, a)
        w = a - np.einsum("bjm,bj->bm", Qr, r)
        r2 = np.einsum("bjm,bm->bj", Qr, w)                                 # re-orthogonalize
        w -= np.einsum("bjm,bj->bm", Qr, r2)
        r += r2
        rho = np.linalg.norm(w, axis=1)
        safe = np.where(rho > 0, rho, 1.0)
        q = w / safe[:, None]
        kk = self.k[ks]
        ib = np.arange(ks.size)
        t = np.einsum("bji,bj->bi", self.Rit[ks], r)                        # R^{-1} r
        cq = np.einsum("bm,bm->b", q, self.C[ks])
        znew = -cq / safe
        z = self.mu[ks] - znew[:, None] * t
        z[ib, kk] = znew
        col = -t / safe[:, None]
        col[ib, kk] = 1.0 / safe
        r[ib, kk] = rho
        self.Qr[ks, kk] = q
        self.R[ks, :, kk] = r
        self.Rit[ks, kk] = col
        self.rq[ks, kk] = cq
        self.idx[ks, kk] = rows
        self.sg[ks, kk] = signs
        self.mu[ks, kk] = 0.0
        self.k[ks] = kk + 1
        return rho, z

    def lsq(self, ks: np.ndarray) -> np.ndarray:
        """z = argmin |c + A_S^T z| on each block's set: -R^{-1} Q^T c (0 on the padding)."""
        if _most(ks, self.k.size):
            return -np.einsum("bji,bj->bi", self.Rit, self.rq)[ks]
        return -np.einsum("bji,bj->bi", self.Rit[ks], self.rq[ks])

    def rebuild(self, ks: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Keep the entries ``keep`` (b, m) of the blocks ``ks`` (in order, with their mu), by
        :meth:`delete` of the others one per block at a time. Returns the mask of the blocks
        where a row was numerically dependent (none: deletions keep the factorization)."""
        keep = keep.copy()
        ar = np.arange(self.m)[None, :]
        sub = np.arange(ks.size)
        while sub.size:
            drop = (ar < self.k[ks[sub]][:, None]) & ~keep[sub]
            has = np.any(drop, axis=1)
            sub = sub[has]
            if sub.size == 0:
                break
            pos = np.argmax(drop[has], axis=1)
            self.delete(ks[sub], pos)
            src = np.minimum(ar + (ar >= pos[:, None]), self.m - 1)
            keep[sub] = np.take_along_axis(keep[sub], src, axis=1)
        return np.zeros(ks.size, dtype=bool)

    def delete(self, ks: np.ndarray, pos: np.ndarray) -> None:
        """Remove position ``pos[i]`` from block ``ks[i]``'s set, keeping A_S^T = Q R: with
        column p of R removed (R' = R E, upper Hessenberg from p on), Givens rotations G on the
        row pairs (j, j+1), j = p..k-2, make G R' = [R''; 0]; then Q'' = Q G^T, Q''^T c = G Q^T c
        and R''^{-1} = E^T R^{-1} G^T (row p of R^{-1} removed, the same rotations on its
        column pairs), the last position dropped."""
        m = self.m
        ar = np.arange(m)[None, :]
        k = self.k[ks]
        src = np.minimum(ar + (ar >= pos[:, None]), m - 1)              # new j <- old src[j]
        live = ar < (k - 1)[:, None]                                    # positions kept
        # rows j of W = [R | Q^T | R^{-T} | Q^T c]: every rotation is one pair of row updates
        W = np.concatenate([np.take_along_axis(self.R[ks], src[:, None, :], axis=2),
                            self.Qr[ks],
                            np.take_along_axis(self.Rit[ks], src[:, None, :], axis=2),
                            self.rq[ks][:, :, None]], axis=2)
        W[:, :, :m] *= live[:, None, :]
        W[:, :, 2 * m:3 * m] *= live[:, None, :]
        G = np.empty((pos.size, 2, 2))
        for j in range(int(pos.min()), int(k.max()) - 1):
            ia = np.flatnonzero((pos <= j) & (j < k - 1))
            XY = W[ia, j:j + 2]                                 # rows j, j+1: (na, 2, 3m+1)
            a, b = XY[:, 0, j], XY[:, 1, j]
            h = np.hypot(a, b)                  # > 0: R's diagonal is >= _DEP_TOL
            if not np.all(h > 0):               # (a singular R: no rotation there)
                h, a = np.where(h > 0, h, 1.0), np.where(h > 0, a, 1.0)
            g = G[:ia.size]
            np.divide(a, h, out=g[:, 0, 0])
            np.divide(b, h, out=g[:, 0, 1])
            g[:, 1, 0] = -g[:, 0, 1]
            g[:, 1, 1] = g[:, 0, 0]
            W[ia, j:j + 2] = g @ XY
        W *= live[:, :, None]
        self.R[ks] = W[:, :, :m]
        self.Qr[ks] = W[:, :, m:2 * m]
        self.Rit[ks] = W[:, :, 2 * m:3 * m]
        self.rq[ks] = W[:, :, 3 * m]
        self.idx[ks] = np.where(live, np.take_along_axis(self.idx[ks], src, axis=1), -1)
        self.sg[ks] = np.take_along_axis(self.sg[ks], src, axis=1) * live
        self.mu[ks] = np.take_along_axis(self.mu[ks], src, axis=1) * live
        self.k[ks] = k - 1

    def reset(self, ks: np.ndarray) -> None:
        """Empty the sets of the blocks ``ks``."""
        self.k[ks] = 0
        self.idx[ks] = -1
        for arr in (self.Qr, self.R, self.Rit, self.rq, self.sg, self.mu):
            arr[ks] = 0.0

    def append_rows(self, ks: np.ndarray, idx: np.ndarray, sg: np.ndarray, mu: np.ndarray,
                    nt: np.ndarray) -> np.ndarray:
        """Append the first ``nt[i]`` rows ``idx[i]`` (signs ``sg[i]``, multipliers ``mu[i]``)
        to block ``ks[i]`` in order, dropping numerically dependent ones; returns the mask of
        the blocks where one was dropped."""
        dep = np.zeros(ks.size, dtype=bool)
        for j in range(int(nt.max()) if ks.size else 0):
            sel = np.flatnonzero(nt > j)
            rho = self.append(ks[sel], idx[sel, j], sg[sel, j])[0]
            kk = self.k[ks[sel]] - 1
            self.mu[ks[sel], kk] = mu[sel, j]
            bad = rho <= _DEP_TOL
            if np.any(bad):                     # drop the dependent row again
                b = sel[bad]
                self.k[ks[b]] -= 1
                kb = self.k[ks[b]]
                self.Qr[ks[b], kb] = 0.0
                self.R[ks[b], :, kb] = 0.0
                self.Rit[ks[b], kb] = 0.0
                self.rq[ks[b], kb] = 0.0
                self.idx[ks[b], kb] = -1
                self.sg[ks[b], kb] = 0.0
                self.mu[ks[b], kb] = 0.0
                dep[b] = True
        return dep

    def face_point(self, ks: np.ndarray | None = None) -> np.ndarray:
        """c - Q Q^T c of the blocks ``ks`` (None: all)."""
        if ks is None or _most(ks, self.k.size):
            V = self.C - np.einsum("bj,bjm->bm", self.rq, self.Qr)
            return V if ks is None else V[ks]
        return self.C[ks] - np.einsum("bj,bjm->bm", self.rq[ks], self.Qr[ks])


def _positive_lsq(st: _State, ks: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Make mu the least-squares multipliers of each block's set, all > 0, by Lawson-Hanson's
    interpolation steps from the current mu >= 0 towards the sets' least-squares multipliers
    ``z`` (rows whose multiplier reaches 0 leave the set). Returns a mask (over all blocks) of
    the blocks that made no progress (numerical trouble: fall back)."""
    stuck = np.zeros(st.k.size, dtype=bool)
    todo = ks
    for _ in range(st.m + 1):
        if todo.size == 0:
            return stuck
        valid = np.arange(st.m)[None, :] < st.k[todo][:, None]
        neg = valid & (z <= 0)
        bad = np.any(neg, axis=1)
        good = todo[~bad]
        st.mu[good] = np.where(valid[~bad], z[~bad], 0.0)
        if not np.any(bad):
            return stuck
        b = todo[bad]
        zb, mub, negb, vb = z[bad], st.mu[b], neg[bad], valid[bad]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(negb, mub / (mub - zb), np.inf)
        j = np.argmin(frac, axis=1)
        alpha = np.clip(frac[np.arange(b.size), j], 0.0, 1.0)
        mun = mub + alpha[:, None] * (zb - mub)
        mun[np.arange(b.size), j] = 0.0
        keep = vb & (mun > 0)
        # a row that entered with mu = 0 and leaves at once (alpha = 0) cycles: give up on it
        none_moved = alpha <= 0.0
        stuck[b[none_moved]] = True
        st.mu[b] = np.where(vb, mun, 0.0)
        dep = st.rebuild(b, keep)
        stuck[b[dep]] = True
        todo = b[~none_moved & ~dep]
        z = st.lsq(todo)
    stuck[todo] = True
    return stuck


def _warm_start(st: _State, warm: Any, Xl: np.ndarray, St: np.ndarray,
                live: np.ndarray) -> None:
    """Start from the active sets (and their factorizations) of ``warm``; blocks whose active
    rows have other signs in S start from the empty set."""
    B, m = st.mu.shape
    N = Xl.shape[0]
    if (not isinstance(warm, ConeProjection) or warm._Qr is None or warm.idx.shape != (B, m)
            or warm._Xl.shape != Xl.shape or not np.array_equal(warm._Xl, Xl)):
        raise InvalidProblemError("warm: expected the ConeProjection of an earlier call with "
                                  f"the same Xl ({N}, {m}) and the same number of blocks "
                                  f"(B = {B}); pass warm=None")
    valid = warm.idx >= 0
    same = np.all(~valid | (warm._sg == np.take_along_axis(St, np.maximum(warm.idx, 0),
                                                            axis=1)), axis=1)
    wk = live[same[live] & (warm.n_active[live] > 0)]
    if _most(wk, B):
        # most blocks start warm: copy everything and empty the others (a fancy-indexed
        # copy of the (B, m, m) factors costs ~7x a plain one)
        np.copyto(st.idx, warm.idx)
        np.copyto(st.sg, warm._sg)
        np.copyto(st.k, warm.n_active)
        np.copyto(st.Qr, warm._Qr)
        np.copyto(st.Rit, warm._Ri)
        np.copyto(st.R, warm._R)
        cold = np.ones(B, dtype=bool)
        cold[wk] = False
        st.reset(np.flatnonzero(cold))
        np.einsum("bjm,bm->bj", st.Qr, st.C, out=st.rq)
    else:
        st.idx[wk] = warm.idx[wk]
        st.sg[wk] = warm._sg[wk]
        st.k[wk] = warm.n_active[wk]
        st.Qr[wk] = warm._Qr[wk]
        st.Rit[wk] = warm._Ri[wk]
        st.R[wk] = warm._R[wk]
        st.rq[wk] = np.einsum("bjm,bm->bj", st.Qr[wk], st.C[wk])
    _warm_sets(st, wk)


def _warm_sets(st: _State, ks: np.ndarray) -> None:
    """A start from earlier active sets: drop the rows whose least-squares multiplier is not
    positive until all are (each pass drops at least one row), mu = those multipliers."""
    todo = ks[st.k[ks] > 0]
    while todo.size:
        z = st.lsq(todo)
        valid = np.arange(st.m)[None, :] < st.k[todo][:, None]
        bad = np.any(valid & (z <= 0), axis=1)
        st.mu[todo[~bad]] = np.where(valid[~bad], z[~bad], 0.0)
        b = todo[bad]
        if b.size:
            st.rebuild(b, valid[bad] & (z[bad] > 0))
        todo = b[st.k[b] > 0]


#: entries of one (blocks x N) slack array of :func:`_most_violated`
_SLACK_ENTRIES = 1 << 21


def _most_violated(V: np.ndarray, Xn: np.ndarray, St: np.ndarray, idx: np.ndarray,
                   active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each block ``active[i]`` at the point V[i]: the row of least unit slack
    s_n (xn_n . V[i]) outside its set, and that slack (in chunks of :data:`_SLACK_ENTRIES`)."""
    N = Xn.shape[0]
    j = np.empty(active.size, dtype=np.intp)
    tmin = np.empty(active.size)
    step = max(1, _SLACK_ENTRIES // max(1, N))
    for i0 in range(0, active.size, step):
        ks = active[i0:i0 + step]
        T = V[i0:i0 + step] @ Xn.T
        T *= St[ks]                                                          # unit slacks
        ik = idx[ks]
        rr, cc = np.nonzero(ik >= 0)
        T[rr, ik[rr, cc]] = np.inf                                           # the set's rows
        jj = np.argmin(T, axis=1)
        j[i0:i0 + ks.size] = jj
        tmin[i0:i0 + ks.size] = T[np.arange(ks.size), jj]
    return j, tmin


def project_cones(Xl: Any, S: Any, C: Any, warm: ConeProjection | None = None, *,
                  tol: float = DEFAULT_TOL, max_iter: int | None = None,
                  stop: Any = None) -> ConeProjection:
    """Project C[k] onto K_k = {v : S[:, k] * (Xl v) >= 0} for every block k, exactly.

    Solves, for every k at once, the NNLS dual of the projection

        min_{mu >= 0} |C[k] + Xl^T (S[:, k] * mu)|_2,   P_K(C[k]) = C[k] + Xl^T (S[:, k] * mu*),

    by Lawson-Hanson's active-set method vectorized over the blocks: on the unit rows
    a_n = s_n xl_n / |xl_n|, each iteration adds to every unconverged block its most violated
    row (most negative slack a_n . v of v = c - Q Q^T c, the projection of c onto the current
    face's span, one (b, m) x (m, N) product for all blocks), updates the least-squares
    multipliers z = -R^{-1} Q^T c of all those blocks at once (A_S^T = Q R kept by
    Gram-Schmidt with re-orthogonalization, so v is accurate even for nearly parallel rows;
    R^{-1} by the block-inverse formula) and, when a multiplier would turn negative, takes
    Lawson-Hanson's interpolation step and drops the row (Givens rotations on R, Q, R^{-1}).
    Blocks not converged after ``max_iter`` iterations, whose entering row is numerically
    dependent on the active ones (near-duplicate patterns, cones with an almost empty
    interior), or the last few slow ones, are re-solved by scipy.optimize.nnls on all N rows.

    Parameters
    ----------
    Xl : (N, m) array
        The shared rows (in the pattern program Xl = [X, -1]); zero rows are no constraint.
    S : (N, B) array of +1 / -1 (int8 or float)
        S[:, k] = the row signs of block k's cone (2 d_k - 1 for the pattern d_k); int8 is
        the fastest (it is copied once as int8 (B, N)).
    C : (B, m) array
        The points to project.
    warm : ConeProjection, optional
        An earlier result for the same Xl and S (any C): its active sets are the start (rows
        whose least-squares multiplier is not positive at the new C leave first). The answer
        does not depend on it, only the work does.
    tol : float
        Optimality test on the unit rows: block k is converged when its set's multipliers are
        > 0 (complementarity holds by construction: A_S P = 0) and
        min_n s_n (xl_n . P[k]) / |xl_n| >= -(tol |P[k]| + 1e-14 |C[k]|) (primal feasibility,
        relative to the projection itself, down to ~50 times the rounding of P = c - Q Q^T c:
        so badly scaled rows such as [X, -1e4] keep the accuracy of the small components).
    max_iter : int, optional
        Cap on the outer iterations (default 4 m + 20).
    stop : float or (B,) array, optional
        Early exit for callers that only need |P_K(C[k])| <= stop[k] shown (a dual
        certificate): block k stops as soon as its iterate's |c + A^T mu| <= stop[k] (every
        Lawson-Hanson iterate has mu >= 0, and |c + A^T mu| decreases along them); it is then
        not ``converged``, its ``viol`` is NaN and ``bound`` (<= stop[k] up to rounding) is
        still valid. Blocks with |P_K(C[k])| > stop[k] are solved exactly. Default: none.

    Returns
    -------
    ConeProjection
        ``P``, ``norm``, ``bound`` (always a valid upper bound of |P_K(C[k])|), the active
        rows ``idx`` and multipliers ``mu`` per block, ``viol``, ``converged``, and the face
        projector / basis (:meth:`ConeProjection.face_projector`,
        :meth:`ConeProjection.face_basis`).

    Raises
    ------
    InvalidProblemError
        Shapes that do not match, NaN / inf, signs other than +1 / -1, a ``warm`` of another
        problem.
    """
    Xl, S, C = _check_inputs(Xl, S, C)
    N, m = Xl.shape
    B = C.shape[0]
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"tol: expected a number >= 0, got {tol!r}") from None
    if not np.isfinite(tol) or tol < 0:
        raise InvalidProblemError(f"tol: expected a finite number >= 0, got {tol!r}")
    max_iter = 4 * m + 20 if max_iter is None else int(max_iter)
    if stop is not None:
        try:
            stop = np.broadcast_to(np.asarray(stop, dtype=np.float64), (B,))
        except (TypeError, ValueError):
            raise InvalidProblemError(f"stop: expected a number or one per block ({B}), got "
                                      f"{np.shape(stop)}") from None
        if np.any(np.isnan(stop)):
            raise InvalidProblemError("stop: contains NaN; pass numbers (stop < 0 for a block, "
                                      "or stop=None for all: no early exit)")
    xn = np.linalg.norm(Xl, axis=1)
    Xn = Xl / np.where(xn > 0, xn, 1.0)[:, None]
    St = np.ascontiguousarray(S.T, dtype=np.int8)                            # (B, N)
    cn = np.linalg.norm(C, axis=1)
    st = _State(Xn, C)
    viol = np.zeros(B)
    converged = np.zeros(B, dtype=bool)
    fallback = np.zeros(B, dtype=bool)
    live = np.flatnonzero(cn > 0)
    converged[cn == 0] = True                                                # P = 0
    if warm is not None:
        _warm_start(st, warm, Xl, St, live)
    active = live[~fallback[live]]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if active.size == 0:
            n_iter -= 1
            break
        if n_iter > 2 and active.size <= min(_TAIL, live.size // 8):   # a few slow blocks
            fallback[active] = True
            n_iter -= 1
            break
        V = st.face_point(active)
        if stop is not None:
            early = np.linalg.norm(V, axis=1) <= stop[active]
            if np.any(early):
                viol[active[early]] = np.nan
                active, V = active[~early], V[~early]
                if active.size == 0:
                    break
        j, tmin = _most_violated(V, Xn, St, st.idx, active)
        ok = tmin >= -(tol * np.linalg.norm(V, axis=1) + _ROUND * cn[active])
        viol[active[ok]] = np.maximum(0.0, -tmin[ok])
        converged[active[ok]] = True
        ks, rows = active[~ok], j[~ok]
        full = st.k[ks] >= m                   # a violated row with A_S of rank m: rounding
        fallback[ks[full]] = True
        ks, rows = ks[~full], rows[~full]
        rho, z = st.append(ks, rows, St[ks, rows].astype(np.float64))
        dep = rho <= _DEP_TOL
        fallback[ks[dep]] = True
        fallback |= _positive_lsq(st, ks[~dep], z[~dep])
        active = ks[~fallback[ks]]
    else:
        fallback[active] = True
    fb = np.flatnonzero(fallback & ~converged)
    for k in fb:
        _nnls_block(st, int(k), St[k].astype(np.float64), tol, cn[k], viol, converged)
    # outputs
    P = st.face_point()
    norm = np.linalg.norm(P, axis=1)
    valid = st.idx >= 0
    ii = np.where(valid, st.idx, 0)
    mu = np.where(valid, st.mu / np.where(valid, xn[ii], 1.0), 0.0)
    mu = np.where(valid & (st.mu > 0), mu, 0.0)
    W = C + np.einsum("bj,bjm->bm", mu * st.sg, Xl[ii])
    bound = np.linalg.norm(W, axis=1)
    return ConeProjection(P=P, norm=norm, bound=bound, idx=st.idx, mu=mu,
                          n_active=st.k.copy(), viol=viol, converged=converged,
                          n_iter=n_iter, n_fallback=int(fb.size), _Qr=st.Qr, _Ri=st.Rit, _R=st.R,
                          _sg=st.sg, _Xl=Xl)


def _nnls_block(st: _State, k: int, s: np.ndarray, tol: float, cn: float, viol: np.ndarray,
                converged: np.ndarray) -> None:
    """Block k by scipy.optimize.nnls on all N rows (exact Lawson-Hanson); keeps the current
    set when nnls fails."""
    m, N = st.m, s.size
    A = s[:, None] * st.Xn                                                   # (N, m) unit rows
    try:
        mu_all = nnls(A.T, -st.C[k], maxiter=max(1000, 50 * N))[0]
    except RuntimeError:                # iteration limit: keep the active-set iterate
        return
    sup = np.flatnonzero(mu_all > 0)
    if sup.size > m:                    # keep the m largest (the bound stays valid)
        sup = sup[np.argsort(-mu_all[sup])[:m]]
    ks = np.array([k])
    st.reset(ks)
    st.append_rows(ks, sup[None, :], s[sup][None, :], mu_all[sup][None, :],
                   np.array([sup.size]))
    v = st.face_point(ks)[0]
    t = float(np.min(A @ v)) if N else 0.0
    viol[k] = max(0.0, -t)
    converged[k] = (viol[k] <= tol * np.linalg.norm(v) + _ROUND * cn
                    and bool(np.all(st.mu[k, :st.k[k]] > 0)))
