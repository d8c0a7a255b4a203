"""The pattern program on fixed data (:class:`PatternProgram`): restricted solves, the evaluation of a
point and nnlasso's certificate; the working-set loop is inherited from
:class:`~nnlasso.patterns.working_set.WorkingSetLoop` (the rule is in
:func:`nnlasso.patterns.solve_patterns`, Notes)."""
from __future__ import annotations

import logging
import time

import cvxpy as cp
import numpy as np
import scipy.sparse as sps
from scipy.optimize import nnls

from .. import backends
from ..affine import orthonormal_basis
from ..duality import dual_point, relative_gap, scaled_dual_value
from ..errors import SolverError
from .cone_projection import ConeProjection, project_cones
from .working_set import WorkingSetLoop

logger = logging.getLogger(__package__)   # "nnlasso.patterns": the documented logger name


def _repair_equality(w: np.ndarray, mu: np.ndarray, s: np.ndarray,
                     xnorm: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Make 1^T (a + S mu) = 0 exact by the cheapest move of mu >= 0 (None if impossible)."""
    e = float(np.sum(w))
    if abs(e) <= 64 * np.finfo(float).eps * float(np.sum(np.abs(w)) + np.sum(mu)):
        return w, mu                    # zero up to the rounding of the sums
    # raising mu_n changes the sum by s_n: use a row with s_n = -sign(e) (smallest |x_n|)
    cand = np.flatnonzero(s == -np.sign(e))
    if cand.size:
        n = cand[np.argmin(xnorm[cand])]
        mu = mu.copy()
        mu[n] += abs(e)
        w = w.copy()
        w[n] += s[n] * abs(e)
        return w, mu
    # else lower mu on rows with s_n = sign(e), proportionally
    rows = np.flatnonzero((s == np.sign(e)) & (mu > 0))
    tot = float(np.sum(mu[rows]))
    if tot >= abs(e) and tot > 0:
        mu = mu.copy()
        w = w.copy()
        f = abs(e) / tot
        w[rows] -= s[rows] * mu[rows] * f
        mu[rows] *= 1.0 - f
        return w, mu
    return None


class _BlockColumns:
    """The (N, B) matrix of the blocks' columns, built from the boolean patterns D (N, P) only
    where it is indexed: ``signed_mask`` gives sigma_k D_{p(k)}[n] (``PatternProgram.Mk``),
    otherwise the cone rows' signs 2 D_{p(k)}[n] - 1 (``PatternProgram.Sg``).

    ``A[:, ks]``, ``A[rows, ks]`` (paired when both are arrays, as NumPy's fancy indexing),
    ``A[:, k]`` return float64 arrays of the indexed entries only; ``np.asarray(A)`` builds
    the whole (N, B) matrix (16 MB per 1000 x 1000 entries; avoid it at scale).
    """

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, D: np.ndarray, bpat: np.ndarray, bsign: np.ndarray, signed_mask: bool):
        self.D, self.bpat, self.bsign, self.signed_mask = D, bpat, bsign, signed_mask
        self.shape = (D.shape[0], bpat.size)

    def __getitem__(self, key):
        r, c = key if isinstance(key, tuple) else (key, slice(None))
        cols = self.bpat[c]
        if isinstance(c, slice) and not isinstance(r, slice):
            v = self.D[r][..., cols]              # rows r, every column of the slice
        else:
            v = self.D[r, cols]
        if self.signed_mask:
            return v * self.bsign[c]
        return 2.0 * v - 1.0

    def __array__(self, dtype=None, copy=None):
        out = self[:, :]
        return out if dtype is None else out.astype(dtype)

    def __mul__(self, other):
        return np.asarray(self) * other

    __rmul__ = __mul__

    @property
    def T(self) -> np.ndarray:
        return np.asarray(self).T


class PatternProgram(WorkingSetLoop):
    """The pattern program of :func:`~nnlasso.patterns.solve_patterns` on fixed data:
    restricted solves, the evaluation of a point, nnlasso's certificate, and the working-set
    loop.

    ``PatternProgram(X, T, lam, loss, M, bpat, bsign, *, cone, bias, X_skip, intercept,
    lin_block, solver, tol, options)``: inputs X (N, d), encoded targets T (N, 1)
    (``loss.encode(y).T``), a :class:`~nnlasso.losses.Loss`, the patterns M (P, N), and
    blocks k = 0..B-1 with pattern ``bpat[k]`` and sign ``bsign[k]`` (+1, or -1 for the primed
    blocks); ``lin_block`` adds the unconstrained linear block of the all-one pattern.
    ``Mk`` (N, B) holds sigma_k D_k[n], ``Sg`` (N, B) the signs (2 D_k - 1)[n] of the cone rows.

    To certify any point theta (B, d+1) (for instance a :class:`PatternSolution`'s
    ``np.hstack([U, beta[:, None]])``)::

        ev = prog.evaluate({"th": theta, "C": None, "c0": None, "ulin": None})
        cert = prog.certify(ev["zfit"], mu0)          # mu0 (B, N): multipliers to start from
        prog.rel_gap(ev["objective"], cert["dual"])   # nnlasso.duality.relative_gap

    ``certify`` re-solves the multipliers of the blocks whose given ones do not make their
    ratio <= 1 by one batched projection onto their cones (:meth:`cone_multipliers`;
    ``nnls_mask`` restricts that to some blocks). :meth:`nnls_multipliers` computes the same
    minimum block by block with scipy's NNLS (the tests' reference).
    """

    # working-set rule (see solve_patterns, Notes)
    n_rows_init = 24        # cone rows per entering block: the least-slack rows of its direction
    near_tol = 1e-3         # rows re-added to a block with violations: slack < near_tol |theta|
    viol_tol = 1e-8         # a cone row is violated when its slack < -viol_tol |xl_n| max|theta|
    complement = True       # fit of blocks with |D_k| > N/2 through the complement pattern
    zero_tol = 1e-6         # a working block is zero when |theta_k| <= zero_tol max|theta|
    prune_below = 0.999     # zero working blocks with ratio < prune_below leave the working set
    row_cap = 10            # at most row_cap rows added per block and round (least slack first)
    row_keep = 1e-2         # rows of a nonzero block with slack > row_keep |theta_k| are dropped
    entry_nnz = 2_000_000   # fit nonzeros of the blocks entering in one round (None: no cap)

    def __init__(self, X, T, lam, lossobj, M, bpat, bsign, *, cone, bias, X_skip, intercept,
                 lin_block, solver, tol, options):
        N, d = X.shape
        self.X, self.T, self.y, self.lam, self.loss = X, T, T[:, 0], lam, lossobj
        self.N, self.d, self.e = N, d, d + 1
        self.Xl = np.hstack([X, -np.ones((N, 1))])
        self.xln = np.linalg.norm(self.Xl, axis=1)
        self.xnorm = np.linalg.norm(X, axis=1)
        self.cone, self.bias, self.unpen = cone, bias, bias == "unpenalized"
        self.Xc = X if self.unpen else self.Xl          # |Xc^T w_k| <= lam in the dual
        self.rho = 1e4 * max(1.0, float(np.max(np.abs(X))))
        self.XlR = np.hstack([X, -self.rho * np.ones((N, 1))])
        self.bpat, self.bsign, self.B = bpat, bsign, bpat.size
        # the patterns as one boolean (N, P) array (1 byte an entry); Mk and Sg are views of it
        # that build only the columns they are asked for (the (N, B) float64 arrays were 16 B
        # an entry for B = 2P cone blocks: 320 MB at N = 5000, P = 2000)
        self.D = np.ascontiguousarray(np.asarray(M, dtype=bool).T)     # (N, P)
        self.Mk = _BlockColumns(self.D, bpat, bsign, signed_mask=True)
        self.Sg = _BlockColumns(self.D, bpat, bsign, signed_mask=False) if cone else None
        self.X_skip, self.intercept, self.lin_block = X_skip, intercept, lin_block
        free = []
        if X_skip is not None:
            free.append(X_skip)
        if intercept:
            free.append(np.ones((N, 1)))
        if self.unpen and not cone:
            free.append(self.D.astype(np.float64))
        self.Qf = orthonormal_basis(np.hstack(free)) if free else None
        self.solver, self.tol, self.options = solver, tol, options
        self.user_options = dict(options or {})    # the caller's (self.options may add to them)
        self.failure_retries = 0    # restricted solves re-made after a solver failure
        self._first_cache = None    # _first_rows()
        self._proj_cache = None     # cone_multipliers(): every block's last projection

    # ---- restricted program ---------------------------------------------------------------
    def solve(self, blocks: np.ndarray, rows: list | None) -> dict:
        """Solve the program over the blocks ``blocks`` (all others fixed at 0) with, for the
        j-th of them, only the cone rows ``rows[j]`` (all N rows when ``rows`` is None).

        Returns the full-size block values ``th`` (B, d+1), the multipliers ``mu`` (B, N) of
        the included rows in the original row scaling (0 on every other row), the free part
        and the solver's status and timings.
        """
        blocks = np.asarray(blocks, dtype=np.intp)
        N, d, e, m = self.N, self.d, self.e, blocks.size
        compress = self.compressed_fit(m)
        if m < self.B:      # a restricted program (the one program: _build's dense estimate)
            self._check_program_memory(blocks, compress)
        # fit: a block with |D_k| > N/2 enters as sigma_k (Xl theta_k - (I - D_k) Xl theta_k),
        # the first term collected in one shared variable s = sum sigma_k theta_k (e entries):
        # the fit operator then has sum_k min(|D_k|, N - |D_k|) (d+1) nonzeros, and the
        # interior-point factorization's dense updates shrink accordingly (not needed when the
        # fit is compressed: its R factor is dense either way)
        Mk = self.Mk[:, blocks]
        comp = (np.abs(Mk).sum(axis=0) > N / 2 if self.complement and not compress
                else np.zeros(m, dtype=bool))
        Mk = np.where(comp[None, :], Mk - self.bsign[blocks][None, :], Mk)
        rn, ck = np.nonzero(Mk)
        vals = Mk[rn, ck][:, None] * self.Xl[rn]
        A = sps.csr_matrix((vals.ravel(), (np.repeat(rn, e),
                                           (ck[:, None] * e + np.arange(e)[None, :]).ravel())),
                           shape=(N, m * e))
        theta = cp.Variable(m * e)
        Th = cp.reshape(theta, (m, e), order="C")
        penalty = cp.sum(cp.norm(Th[:, :d] if self.unpen else Th, 2, axis=1))
        z = A @ theta
        constraints = []
        if np.any(comp):
            jc = np.flatnonzero(comp)
            E = sps.csr_matrix((np.repeat(self.bsign[blocks][jc], e),
                                (np.tile(np.arange(e), jc.size),
                                 (jc[:, None] * e + np.arange(e)[None, :]).ravel())),
                               shape=(e, m * e))
            s_var = cp.Variable(e)
            constraints.append(s_var == E @ theta)
            z = z + self.Xl @ s_var
        Cv = c0 = ulin = None
        if self.lin_block:
            ulin = cp.Variable(d)
            z = z + self.X @ ulin
            penalty = penalty + cp.norm(ulin, 2)
        if self.X_skip is not None:
            Cv = cp.Variable(self.X_skip.shape[1])
            z = z + self.X_skip @ Cv
        if self.intercept:
            c0 = cp.Variable()
            z = z + c0
        loss_expr = None
        if compress:
            # the squared loss through the thin QR of the fit's columns (see compressed_fit)
            cols, parts = [A], [theta]
            for var, col in ((ulin, self.X), (Cv, self.X_skip),
                             (c0, None if c0 is None else np.ones((N, 1)))):
                if var is not None:
                    cols.append(col)
                    parts.append(cp.reshape(var, (1,), order="C") if var.ndim == 0 else var)
            R, qy, rest = self._fit_qr(cols)
            w = parts[0] if len(parts) == 1 else cp.hstack(parts)
            loss_expr = 0.5 * cp.sum_squares(R @ w - qy) + 0.5 * rest ** 2
        con, rr, jj = None, None, None
        if self.cone:
            if rows is None:
                rr, jj = np.tile(np.arange(N), m), np.repeat(np.arange(m), N)
            else:
                rr = (np.concatenate([np.asarray(r, dtype=np.intp) for r in rows]) if m
                      else np.zeros(0, dtype=np.intp))
                jj = np.repeat(np.arange(m), [len(r) for r in rows])
            L = rr.size
            if L:
                # rows scaled to unit norm |xl_n| (better conditioned); mu is scaled back below
                gv = (self.Sg[rr, blocks[jj]] / self.xln[rr])[:, None] * self.Xl[rr]
                G = sps.csr_matrix((gv.ravel(), (np.repeat(np.arange(L), e),
                                                 (jj[:, None] * e + np.arange(e)).ravel())),
                                   shape=(L, m * e))
                con = G @ theta >= 0
                constraints.append(con)
        if loss_expr is None:
            loss_expr = self.loss.expr(z, self.y)
        prob = cp.Problem(cp.Minimize(loss_expr + self.lam * penalty), constraints)
        opts = self.options
        if self.solver == "CLARABEL" and "direct_solve_method" not in self.user_options and (
                compress or (getattr(self.loss, "name", None) == "squared"
                             and min(N, self.fit_columns(m)) >= self.dense_fit_rows)):
            # the squared loss's KKT system has a dense min(N, c) square block: Clarabel's
            # supernodal faer factorization (measured, CPU time of one solve, same iterations:
            # N = 5000, 50 blocks compressed 3.2 s against QDLDL's 5.8 s; N = 1000, 60 blocks,
            # c = 1281 > N, not compressed: 4.7 s against QDLDL's 35.8 s); QDLDL stays for the
            # other restricted programs (diabetes, N = 442, many cone rows: 2x faster)
            opts = {**opts, "direct_solve_method": "faer"}
        info = self._solve_cvxpy(prob, theta, opts)
        info["compressed"] = compress
        info["fit_rows"] = self.fit_columns(m) if compress else N
        if theta.value is None:
            raise SolverError(f"{self.solver} returned no solution (status "
                              f"{info['cvxpy_status']}); try solver='SCS', fewer patterns or a "
                              "larger lam")
        th = np.zeros((self.B, e))
        th[blocks] = np.asarray(theta.value, dtype=float).reshape(m, e)
        mu = np.zeros((self.B, N)) if self.cone else None
        if con is not None and con.dual_value is not None:
            dv = np.asarray(con.dual_value, dtype=float).reshape(-1)
            mu[blocks[jj], rr] = np.maximum(dv, 0.0) / self.xln[rr]
        return {"th": th, "mu": mu,
                "C": None if Cv is None else np.asarray(Cv.value, dtype=float).reshape(-1),
                "c0": None if c0 is None else float(c0.value),
                "ulin": None if ulin is None else np.asarray(ulin.value, dtype=float).reshape(-1),
                **info}

    #: the squared loss's fit is compressed (:meth:`compressed_fit`) when its columns number
    #: at most this fraction of N (measured at N = 5000, d = 20, CPU time of one restricted
    #: solve: 50 blocks, c = 1091: 3.2 s compressed (faer) against 19.2 s; 200 blocks,
    #: c = 4241: 171 s compressed, of which 10 s CVXPY compilation)
    compress_ratio = 1.0

    #: the squared loss's restricted programs factor with faer (CLARABEL) from this size of
    #: their dense part min(N, c) on (compressed ones always)
    dense_fit_rows = 1000

    def fit_columns(self, m: int) -> int:
        """Columns of the restricted program's fit with ``m`` working blocks: m (d+1) plus the
        free columns (linear block, skip, intercept)."""
        free = (self.d if self.lin_block else 0) + (self.X_skip.shape[1] if self.X_skip is not
                                                     None else 0) + int(bool(self.intercept))
        return m * self.e + free

    def compressed_fit(self, m: int) -> bool:
        """Whether the restricted program with ``m`` blocks writes its squared loss through the
        thin QR of its fit columns F (N, c), c = :meth:`fit_columns` <= ``compress_ratio`` N
        (default N):

            1/2 |F w - y|^2 = 1/2 |R w - Q^T y|^2 + 1/2 |(I - Q Q^T) y|^2,    F = Q R,

        so that the program's residual has c entries instead of N and the interior-point
        factorization's dense part is c by c instead of N by c (the objective and the
        certificate are still computed from the full fit, in :meth:`evaluate`)."""
        return (getattr(self.loss, "name", None) == "squared" and self.compress_ratio is not None
                and self.fit_columns(m) <= self.compress_ratio * self.N)

    def _check_program_memory(self, blocks: np.ndarray, compress: bool) -> None:
        """The memory guard for one restricted program (the working set grows past the entry
        budget that :func:`nnlasso.memory.estimate_working_set_memory` counts in advance):
        the same estimate with this program's fit nonzeros (compressed: its c x c R and the
        dense (N, c) fit), against the cap; raises :class:`~nnlasso.InvalidProblemError`."""
        from ..memory import check_working_set_memory
        c = self.fit_columns(blocks.size)
        nnz = c * (c + 1) // 2 if compress else int(self.block_fit_nnz(blocks).sum())
        check_working_set_memory(self.N, self.D.shape[1], self.B, cone=self.cone, fit_nnz=nnz,
                                 fit_cols=c if compress else 0, what="patterns",
                                 fix=f"the restricted program of {blocks.size} working blocks "
                                     "is too large; raise lam or pass fewer patterns")

    def _fit_qr(self, cols: list) -> tuple[sps.csr_matrix, np.ndarray, float]:
        """R (c, c, upper triangular, sparse), Q^T y and |(I - Q Q^T) y| of F = [cols] = Q R,
        from one Householder QR of [F, y] (Q is never formed; any rank of F)."""
        from scipy.linalg import qr
        c = sum(col.shape[1] for col in cols)
        Fy = np.empty((self.N, c + 1), order="F")
        j = 0
        for col in cols:
            k = col.shape[1]
            Fy[:, j:j + k] = col.toarray() if sps.issparse(col) else col
            j += k
        Fy[:, c] = self.y
        Ry = qr(Fy, mode="r", overwrite_a=True, check_finite=False)[0]   # (min(N, c+1), c+1)
        k = min(self.N, c)                          # c >= N: R is N x c, y in the range of Q
        rest = float(abs(Ry[c, c])) if self.N > c else 0.0
        return sps.csr_matrix(np.triu(Ry[:k, :c])), Ry[:k, c].copy(), rest

    def _solve_cvxpy(self, prob: cp.Problem, theta: cp.Variable,
                     options: dict | None = None) -> dict:
        """One restricted solve; when the solver fails (CVXPY's SolverError, e.g. Clarabel's
        "InsufficientProgress") or returns no point, solve once more with the backend's
        failure-retry options (:meth:`nnlasso.backends.Adapter.failure_retry_options`:
        CLARABEL's ``max_step_fraction`` 0.9), unless the user's options set them.
        ``options`` (default ``self.options``) are those of the first attempt. The returned
        info has ``failure_retry`` True when that retry was made; its times include the failed
        attempt."""
        options = self.options if options is None else options
        t0 = time.perf_counter()
        err = None
        try:
            info = backends.solve_cvxpy(prob, self.solver, self.tol, options)
            if theta.value is not None and info["status"] not in backends.UNUSABLE:
                return {**info, "failure_retry": False}
        except SolverError as exc:
            err, info = exc, None
        backend = backends.ADAPTERS.get(self.solver)
        opts = None if backend is None else backend.failure_retry_options(options)
        if opts is None:
            if err is not None:
                raise err
            return {**info, "failure_retry": False}
        logger.debug("pattern program: %s failed (%s); solving once more with %s",
                     self.solver, err if err is not None else info["cvxpy_status"],
                     {k: opts[k] for k in backend.failure_retry})
        spent = time.perf_counter() - t0
        self.failure_retries += 1
        info = backends.solve_cvxpy(prob, self.solver, self.tol, opts)
        return {**info, "solve": info["solve"] + spent, "failure_retry": True}

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(self, res: dict) -> dict:
        """Fit z, block norms, objective (recomputed in NumPy) and the largest cone violation.

        Only the nonzero blocks are multiplied out, in column chunks of at most
        :attr:`chunk_entries` entries: ``pre`` (N, B) is Xl theta_k (0 for zero blocks),
        ``max_violation`` the largest -(2 D_k - 1)[n] xl_n . theta_k and ``max_row_violation``
        the same divided by |xl_n| (0 without cones)."""
        th = res["th"]
        N = self.N
        nz = np.flatnonzero(np.any(th != 0, axis=1))
        pre = np.zeros((N, self.B))
        zfit = np.zeros(N)
        viol = rel_viol = 0.0
        for sl in self._chunks(nz.size):
            ks = nz[sl]
            pk = self.Xl @ th[ks].T                            # (N, m)
            pre[:, ks] = pk
            zfit += np.sum(self.Mk[:, ks] * pk, axis=1)
            if self.cone:
                sp = self.Sg[:, ks] * pk
                viol = max(viol, float(-np.min(sp)))
                rel_viol = max(rel_viol, float(-np.min(sp / self.xln[:, None])))
        if res["C"] is not None:
            zfit = zfit + self.X_skip @ res["C"]
        if res["c0"] is not None:
            zfit = zfit + res["c0"]
        if res["ulin"] is not None:
            zfit = zfit + self.X @ res["ulin"]
        bnorm = np.linalg.norm(th[:, :self.d] if self.unpen else th, axis=1)
        lin_norm = 0.0 if res["ulin"] is None else float(np.linalg.norm(res["ulin"]))
        data_loss = float(self.loss.value(zfit[:, None], self.T))
        objective = float(data_loss + self.lam * (np.sum(bnorm) + lin_norm))
        return {"zfit": zfit, "bnorm": bnorm, "lin_norm": lin_norm, "data_loss": data_loss,
                "objective": objective, "max_violation": max(0.0, viol),
                "max_row_violation": max(0.0, rel_viol), "pre": pre}

    #: entries of one (N, m) float64 work array of :meth:`evaluate` / :meth:`block_ratios`
    chunk_entries = 1 << 17

    def _chunks(self, m: int):
        """Slices of range(m) with at most ``chunk_entries / N`` columns each."""
        step = max(1, self.chunk_entries // max(1, self.N))
        for i in range(0, m, step):
            yield slice(i, min(m, i + step))

    # ---- certificate ----------------------------------------------------------------------
    def dual_point(self, zfit: np.ndarray) -> np.ndarray:
        """q = -grad L(z), projected onto the orthogonal complement of the free columns."""
        return dual_point(self.loss, zfit[:, None], self.T, self.Qf)[:, 0]

    #: rows of the first reduced NNLS of :meth:`nnls_multipliers` (and rows added per pass)
    nnls_rows = 64

    def nnls_multipliers(self, k: int, a: np.ndarray, rows: np.ndarray | None = None,
                         stop_below: float | None = None) -> tuple[np.ndarray | None, float]:
        """Best multipliers of block k for w = a + s mu: min_{mu >= 0} |Xl^T w| (penalized) or
        |X^T w|^2 + rho^2 (1^T w)^2 then the exact repair of 1^T w = 0 (unpenalized); returns
        them and the ratio |Xc^T w| / lam.

        The NNLS min_{mu >= 0} |c + G mu|, c = Xr^T a, G = Xr^T diag(s) (d+1 by N), is solved
        over a subset R of the N rows, grown until mu is optimal over all of them: R starts
        with ``rows`` (e.g. the support of earlier multipliers) and the :attr:`nnls_rows` rows
        of most negative partial derivative g_n = s_n xr_n . c at mu = 0; after each NNLS on R
        (scipy's Lawson-Hanson) the KKT condition s_n xr_n . (c + G mu) >= 0 is checked on
        every row and up to :attr:`nnls_rows` violating rows are added. At most d+1 rows carry
        an optimal mu (Caratheodory), so R stays small; the minimum is that of the NNLS over all
        N rows (to the KKT tolerance 1e-10 |xr_n| |c + G mu|), at O(N (d+1)) per pass instead of
        Lawson-Hanson's O(N (d+1)^2) per added row on the whole matrix.

        ``stop_below``: stop at the first pass whose ratio is <= it (any mu >= 0 gives a valid
        dual point; the certificate only needs ratio <= 1), so the ratio returned is then an
        upper bound of the minimum; above it, it is the minimum.
        """
        s = self.Sg[:, k]
        Xr = self.XlR if self.unpen else self.Xl
        cache: dict = {}

        def ratio_of(mu: np.ndarray) -> float:
            if cache.get("mu") is not mu:
                w, mu_w = a + s * mu, mu
                rep = _repair_equality(w, mu, s, self.xnorm) if self.unpen else (w, mu)
                r = np.inf if rep is None else float(np.linalg.norm(self.Xc.T @ rep[0])) / self.lam
                cache.update(mu=mu_w, used=None if rep is None else rep[1], r=r)
            return cache["r"]

        done = None if stop_below is None else (lambda mu: ratio_of(mu) <= stop_below)
        mu = self._nnls_rows(Xr, s, Xr.T @ a, rows, done)
        if mu is None or not np.isfinite(ratio_of(mu)):
            return None, np.inf
        return cache["used"], cache["r"]

    def _nnls_rows(self, Xr: np.ndarray, s: np.ndarray, c: np.ndarray,
                   rows: np.ndarray | None, done=None) -> np.ndarray | None:
        """argmin_{mu >= 0} |c + Xr^T (s * mu)| by row generation (see nnls_multipliers);
        returns early, with the current mu, when ``done(mu)`` is true after a pass."""
        N = Xr.shape[0]
        Gt = Xr * s[:, None]                                  # (N, e): rows s_n xr_n
        gn = np.linalg.norm(Gt, axis=1)
        g = Gt @ c
        c_norm = float(np.linalg.norm(c))
        m = self.nnls_rows
        if N <= 2 * m:
            R = np.arange(N)
        else:
            first = np.argpartition(g, m - 1)[:m]
            R = np.union1d(first[g[first] < 0], [] if rows is None else rows).astype(np.intp)
        mu = np.zeros(N)
        for _ in range(N):
            if R.size:
                try:
                    muR = nnls(Gt[R].T, -c, maxiter=50 * R.size + 100)[0]
                except RuntimeError:  # pragma: no cover - nnls iteration limit
                    return None
                mu = np.zeros(N)
                mu[R] = muR
                r = c + Gt[R].T @ muR
            else:
                r = c
            rn = float(np.linalg.norm(r))
            if rn <= 1e-12 * c_norm or (done is not None and done(mu)):
                return mu                                     # |c + G mu| = 0 to rounding
            g = Gt @ r
            bad = g < -1e-10 * gn * rn
            bad[R] = False
            if not np.any(bad):
                return mu
            cand = np.flatnonzero(bad)
            if cand.size > m:
                cand = cand[np.argpartition(g[cand], m - 1)[:m]]
            R = np.union1d(R, cand)
        return mu  # pragma: no cover - R grows every pass, at most N passes

    _nnls = nnls_multipliers   # the former private name

    def block_ratios(self, q: np.ndarray, mu0: np.ndarray | None, need_below: float = 1.0,
                     nnls_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """r_k = min over the candidates of |Xc^T w_k| / lam, w_k = sigma_k D_k q + S_k mu_k.

        Gated: mu = 0 and r_k is exact. Cones: the candidate ``mu0[k]`` (repaired to satisfy
        the bias equality when unpenalized), and, when its ratio exceeds ``need_below`` (and
        ``nnls_mask[k]``, if given, is true), the exact NNLS multipliers of all those blocks at
        once (:meth:`cone_multipliers`, the projection onto the block's cone); returns the
        ratios and the multipliers used.

        Computed without an (N, B) array: the products of the blocks with mu_k = 0 are one
        product per pattern, D^T [q * Xl, |q|] (P, d+2), in column chunks; the blocks with
        mu_k != 0 are formed in chunks of :attr:`chunk_entries` entries; the bias repair
        (:func:`_repair_equality`) is a rank-one update of Xl^T w_k.
        """
        if not self.cone:
            A = self._pattern_products(q, self.Xc)[0]
            return np.linalg.norm(A, axis=1)[self.bpat] / self.lam, None
        mu = np.array(mu0, dtype=float, copy=True)
        V, absw = self._cone_products(q, mu)                   # (B, d+1) = Xl^T w_k, |w_k|_1
        if self.unpen:
            r = self._repaired_ratios(q, mu, V, absw)
        else:
            r = np.linalg.norm(V, axis=1) / self.lam
        need = r > need_below
        if nnls_mask is not None:
            need &= nnls_mask
        ks = np.flatnonzero(need)
        if ks.size:
            mu2, r2 = self.cone_multipliers(q, ks, stop_below=need_below)
            better = r2 < r[ks]
            r[ks[better]] = r2[better]
            mu[ks[better]] = mu2[better]
        return r, mu

    #: entries (blocks x N) of one call of :func:`project_cones` in :meth:`cone_multipliers`
    projection_entries = 1 << 22

    def cone_multipliers(self, q: np.ndarray, blocks: np.ndarray,
                         stop_below: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The best multipliers of the blocks ``blocks`` (the ones :meth:`nnls_multipliers`
        computes one block at a time), all at once by :func:`project_cones`: returns mu (b, N)
        and the ratios |Xc^T w_k| / lam of w_k = sigma_k D_k q + S_k mu_k.

        Penalized: min_{mu >= 0} |Xl^T w_k| = |P_K(c_k)|, c_k = sigma_k Xl^T D_k q, K_k the
        block's cone; the ratio is the projection's ``bound`` / lam, |c_k + Xl^T (S_k mu_k)|
        for the returned mu_k >= 0, so it is a valid dual constraint value whether or not the
        projection converged, and the smallest one (|P_K(c_k)| / lam) when it did.
        Unpenalized: the same with Xr = [X, -rho 1] (min |X^T w|^2 + rho^2 (1^T w)^2), then the
        exact repair of 1^T w = 0 (:meth:`_repaired_ratios`). Blocks are taken in chunks of
        :attr:`projection_entries` / N; each block's projection starts from its active set of
        the previous call (kept for all blocks: 3 B (d+1)^2 floats).

        ``stop_below``: a block's projection stops as soon as its ratio is <= it (``stop``
        of :func:`project_cones`; the certificate only needs ratio <= 1), so the ratio
        returned is then an upper bound of the minimum; above it, it is the minimum.
        Unpenalized, the threshold is lowered by the most the repair can add
        (1 + max|x_n| / rho), and a block the repair still leaves above ``stop_below`` is
        solved again exactly.
        """
        blocks = np.asarray(blocks, dtype=np.intp)
        N = self.N
        Xr = self.XlR if self.unpen else self.Xl
        if self._proj_cache is None:        # the blocks' last active sets: the warm starts
            self._proj_cache = ConeProjection.empty(Xr, self.B)
        A, Aabs = self._pattern_products(q, Xr)                # (P, e): Xr^T D_p q, |D_p q|_1
        stop = None
        if stop_below is not None:
            # unpenalized: |X^T w| <= |Xr^T w| and the one-row repair adds at most
            # |1^T w| |x_n| <= |Xr^T w| max|x_n| / rho; blocks it still leaves above
            # stop_below are solved again without the early exit (below)
            shrink = 1.0 + (float(np.max(self.xnorm)) / self.rho if self.unpen else 0.0)
            stop = stop_below * self.lam * (1.0 - 1e-12) / shrink
        mu = np.zeros((blocks.size, N))
        r = np.empty(blocks.size)
        step = max(1, self.projection_entries // max(1, N))
        for i0 in range(0, blocks.size, step):
            ks = blocks[i0:i0 + step]
            C = A[self.bpat[ks]] * self.bsign[ks][:, None]
            Sk = np.where(self.D[:, self.bpat[ks]], np.int8(1), np.int8(-1))   # = Sg[:, ks]
            res = project_cones(Xr, Sk, C, warm=self._proj_cache.take(ks), stop=stop)
            mu_k, r_k = self._projection_ratios(q, ks, C, Aabs, res)
            if self.unpen and stop is not None:
                redo = np.flatnonzero((r_k > stop_below) & ~res.converged)
                if redo.size:
                    res2 = project_cones(Xr, Sk[:, redo], C[redo], warm=res.take(redo))
                    res.put(redo, res2)
                    mu_k[redo], r_k[redo] = self._projection_ratios(q, ks[redo], C[redo],
                                                                    Aabs, res2)
            self._proj_cache.put(ks, res)
            mu[i0:i0 + ks.size], r[i0:i0 + ks.size] = mu_k, r_k
        return mu, r

    def _projection_ratios(self, q: np.ndarray, ks: np.ndarray, C: np.ndarray,
                           Aabs: np.ndarray, res: ConeProjection) -> tuple[np.ndarray, np.ndarray]:
        """The multipliers (b, N) of the projections ``res`` of the blocks ``ks`` (points C)
        and their ratios (see :meth:`cone_multipliers`)."""
        rows = np.arange(ks.size)[:, None]
        valid = res.idx >= 0
        idx = np.where(valid, res.idx, 0)
        mu_k = np.zeros((ks.size, self.N))
        mu_k[np.broadcast_to(rows, idx.shape)[valid], idx[valid]] = res.mu[valid]
        if not self.unpen:
            return mu_k, res.bound / self.lam
        # Xl^T w_k (Xl = Xr with its last column divided by rho) and |w_k|_1
        s_act = np.where(valid, res._sg, 0.0)
        V = C + np.einsum("bj,bjm->bm", res.mu * s_act, self.XlR[idx])
        V[:, -1] /= self.rho
        a_act = self.D[idx, self.bpat[ks][:, None]] * q[idx] * self.bsign[ks][:, None]
        absw = (Aabs[self.bpat[ks]]
                + np.sum(np.where(valid, np.abs(a_act + s_act * res.mu) - np.abs(a_act), 0.0),
                         axis=1))
        return mu_k, self._repaired_ratios(q, mu_k, V, absw, blocks=ks)

    def _pattern_products(self, q: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """D_p^T (q * Y) (P, cols of Y) and D_p^T |q| (P,) for every pattern p, in chunks."""
        P = self.D.shape[1]
        QY = np.hstack([q[:, None] * Y, np.abs(q)[:, None]])
        out = np.empty((P, QY.shape[1]))
        for sl in self._chunks(P):
            out[sl] = self.D[:, sl].T.astype(np.float64) @ QY
        return out[:, :-1], out[:, -1]

    def _cone_products(self, q: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Xl^T w_k (B, d+1) and sum_n |w_k[n]| (B,) for w_k = sigma_k D_k q + S_k mu_k."""
        A, Aabs = self._pattern_products(q, self.Xl)
        V = A[self.bpat] * self.bsign[:, None]
        absw = Aabs[self.bpat].copy()
        nzm = np.flatnonzero(np.any(mu != 0, axis=1))
        for sl in self._chunks(nzm.size):
            ks = nzm[sl]
            W = self.Mk[:, ks] * q[:, None] + self.Sg[:, ks] * mu[ks].T    # (N, m)
            V[ks] = W.T @ self.Xl
            absw[ks] = np.sum(np.abs(W), axis=0)
        return V, absw

    def _repaired_ratios(self, q: np.ndarray, mu: np.ndarray, V: np.ndarray,
                         absw: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
        """|X^T w_k| / lam after :func:`_repair_equality` of every block (mu updated in place):
        the cheapest move is one row, the smallest-|x_n| row n with (2 D_k - 1)[n] = -sign(e_k),
        e_k = 1^T w_k = -(Xl^T w_k)[d]; blocks where no such row exists take the general
        repair on w_k formed explicitly. ``blocks``: the blocks of the rows of mu, V, absw
        (default all B)."""
        d = self.d
        kk = np.arange(self.B) if blocks is None else np.asarray(blocks, dtype=np.intp)
        bpat = self.bpat[kk]
        first_in, first_out = self._first_rows()
        e = -V[:, d]
        tol = 64 * np.finfo(float).eps * (absw + np.sum(mu, axis=1))
        move = np.abs(e) > tol
        # (2 D_k - 1)[n] = -sign(e): a row inside the pattern when e < 0, outside when e > 0
        n_k = np.where(e < 0, first_in[bpat], first_out[bpat])
        one = np.flatnonzero(move & (n_k >= 0))
        U = V[:, :d].copy()
        if one.size:
            n1 = n_k[one]
            s1 = -np.sign(e[one])
            mu[one, n1] += np.abs(e[one])
            U[one] += (s1 * np.abs(e[one]))[:, None] * self.X[n1]
        r = np.linalg.norm(U, axis=1) / self.lam
        for i in np.flatnonzero(move & (n_k < 0)):
            k = kk[i]
            s = self.Sg[:, k]
            rep = _repair_equality(self.Mk[:, k] * q + s * mu[i], mu[i], s, self.xnorm)
            if rep is None:
                r[i] = np.inf
            else:
                mu[i] = rep[1]
                r[i] = float(np.linalg.norm(self.X.T @ rep[0])) / self.lam
        return r

    def _first_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Per pattern p, the row of smallest |x_n| (first by index among equal norms) inside
        D_p and outside it (-1 if none): the rows :func:`_repair_equality` moves first."""
        if self._first_cache is None:
            order = np.argsort(self.xnorm, kind="stable")
            Do = self.D[order]                                  # (N, P) bool
            fi, fo = np.argmax(Do, axis=0), np.argmax(~Do, axis=0)
            self._first_cache = (np.where(Do.any(axis=0), order[fi], -1),
                                 np.where((~Do).any(axis=0), order[fo], -1))
        return self._first_cache

    def certify(self, zfit: np.ndarray, mu0: np.ndarray | None,
                nnls_mask: np.ndarray | None = None, q: np.ndarray | None = None) -> dict:
        """nnlasso's dual point at the fit ``zfit`` over ALL blocks and rows: q, the ratios, the
        multipliers, t = 1 / max(1, max ratio) and the dual value -sum L*(-t q) (``nnls_mask``:
        see :meth:`block_ratios`; any multipliers give a valid dual point). ``q``: another
        candidate instead of the fit's q = -grad L(zfit) (any q with -q in the domain of L*,
        e.g. SSNAL's dual iterate -u: the dual value is a lower bound all the same)."""
        if q is None:
            q = self.dual_point(zfit)
        ratios, mu = self.block_ratios(q, mu0, nnls_mask=nnls_mask)
        dual_ratio = float(np.max(ratios)) if self.B else 0.0
        if self.lin_block:
            dual_ratio = max(dual_ratio, float(np.linalg.norm(self.X.T @ q)) / self.lam)
        dual = scaled_dual_value(self.loss, q[:, None], self.T, dual_ratio)
        return {"q": q, "ratios": ratios, "mu": mu, "dual_ratio": dual_ratio, "dual": dual}

    @staticmethod
    def rel_gap(objective: float, dual: float) -> float:
        """nnlasso's relative gap (:func:`nnlasso.duality.relative_gap`)."""
        return relative_gap(objective, dual)


#: the former private names, kept for code that uses them
_Program = PatternProgram
