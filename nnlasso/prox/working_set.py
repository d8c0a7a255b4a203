"""The working-set loop over the full dictionary, with gap-safe screening, and :func:`polish`."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..duality import dual_point, fit_affine, group_norms, relative_gap
from ..errors import SolverError
from ..losses import Loss, require
from .bcd import GramProblem, bcd_gram
from .data import LassoData, PathCorrelations
from .fista import fista
from .newton import PROX_NEWTON_MAX_VARS, prox_newton
from .ops import _default_threads, _single_thread
from .softmax_newton import softmax_newton

#: what the native solver needs of a loss (:func:`nnlasso.losses.require`): FISTA's step and the
#: gap-safe screening radius use the smoothness constant, proximal Newton the Hessian
NEEDS = ("smooth_constant", "hessian")


#: how the native loop is named in a refusal (it runs for solver="prox" and working_set=True)
_WHO = "the native working-set loop (solver='prox', or working_set=True)"


def supports(loss: Loss) -> bool:
    """Whether the native solver can solve (MTL) with ``loss`` (it has every part of NEEDS)."""
    return all(getattr(loss, a, None) is not None for a in NEEDS)


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
    fallback_error : the fallback's SolverError when it failed (the loop then went on with the
    native inner solver), or None.
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
    fallback_error: str | None = None

    def info(self) -> dict:
        """Diagnostics for ``Solution.info``."""
        return {"n_outer": self.n_outer, "n_inner": self.n_inner, "n_products": self.n_products,
                "ws_sizes": list(self.ws_sizes), "n_screened": self.n_screened,
                "ws_converged": self.converged, "switched_at": self.switched_at,
                "fallback_error": self.fallback_error}


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
            Q = dual_point(d.loss, Z, d.T, d.basis)
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
                "rel": relative_gap(primal, dual), "rho": rho,
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


def native_inner(data: LassoData, max_epochs: int = 20_000, max_newton: int = 200
                 ) -> InnerSolver:
    """The native restricted solver: Gram BCD (squared loss), proximal Newton (logistic,
    softmax; :func:`prox_newton`, :func:`softmax_newton`) or FISTA (above
    :data:`PROX_NEWTON_MAX_VARS` variables).

    ``max_epochs`` bounds the Gram BCD and ``max_newton`` the (proximal) Newton iterations (a
    refinement of an interior-point answer needs few).
    A loss without a smoothness constant or a Hessian is refused (SolverError)."""
    require(data.loss, NEEDS, _WHO)
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
        if solver is fista:
            # softmax: no stall handover -- its fallback, CLARABEL with N x D exponential
            # cones, costs more than FISTA's remaining iterations (digits, 80 neurons:
            # 102 s against 21 s more of FISTA; see nnlasso.prox.fista)
            kw = {"stall_iters": None} if data.loss.name == "softmax" else {}
        else:
            kw = {"max_iter": max_newton}
        return solver(data.loss, data.T, data.Phi[:, cols], data.basis, local_ids, tau,
                      V_W, c, tol, **kw)
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
        three such outer iterations and returns the best point it has (not converged). The
        (proximal) Newton inner solvers of logistic / softmax declare a stall when their gap
        stops halving over 25 iterations (:func:`nnlasso.prox.newton.newton_stalled`), FISTA
        (above :data:`PROX_NEWTON_MAX_VARS` variables) when its gap shrinks by less than 10 %
        over 2000 iterations (:data:`nnlasso.prox.fista.FISTA_STALL_ITERS`). When the
        fallback raises :class:`~nnlasso.SolverError` (CLARABEL on nearly separable data at
        tiny lam), the native solver goes on and ``fallback_error`` keeps the message.

    Loop: check the full KKT / gap with one product Phi^T Q; stop when rel_gap <= tol; screen;
    add the violators (rho_g > 1, the largest first, at most doubling the working set); solve the
    restricted problem warm-started to a relative gap max(tol / 4, rel_gap / 10).

    Raises
    ------
    SolverError
        when the loss lacks a part of :data:`NEEDS` (a nonsmooth loss: use a CVXPY backend).
    """
    require(data.loss, NEEDS, _WHO)
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
    native = inner
    fallback_error: str | None = None
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
        try:
            V_W, c, n, rel_in = inner(cols, local, tau, V[cols], c, tol_in)
        except SolverError as exc:
            if inner is not fallback:
                raise
            # the fallback failed on a later working set: the native solver goes on
            inner, fallback, fallback_error = native, None, str(exc)
            V_W, c, n, rel_in = inner(cols, local, tau, V[cols], c, tol_in)
        if fallback is not None and switched_at is None and not rel_in <= tol_in:
            # the restricted solve stalled: hand this working set (and the later ones) to the
            # fallback at once, warm-started from the stalled point
            try:
                V_W2, c2, n2, rel2 = fallback(cols, local, tau, V_W, c, tol_in)
            except SolverError as exc:
                # e.g. CLARABEL on nearly separable logistic data at tiny lam: keep the native
                # point and solver (a result that is not certified beats no result)
                fallback, fallback_error = None, str(exc)
            else:
                inner, switched_at = fallback, n_outer
                V_W, c, rel_in = V_W2, c2, rel2
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
                            switched_at=switched_at, fallback_error=fallback_error)


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
