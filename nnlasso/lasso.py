"""Public solvers: :func:`solve_lasso`, :func:`lasso_path`, :func:`lam_max`, :func:`solve_min_norm`.

(MTL)  min_{V, C, c0} sum_n L(y_n, (Phi V + X C + 1 c0)_n) + lam sum_g omega_g |V_g|_F
(MIN)  min_{V, C, c0} sum_k |V_k|_2  s.t.  Phi V + X C + 1 c0 = Psi
                                     (or |Phi V + X C + 1 c0 - Psi|_F <= eps |Psi|_F)

Losses are summed, never averaged: scikit-learn's Lasso / MultiTaskLasso with ``alpha``
correspond to lam = N * alpha.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Iterable, Sequence

import numpy as np

from . import backends, prox
from ._validation import as_matrix, check_lam, check_positive, check_rows, skip_matrix
from .duality import (affine_columns, fit_affine, gaps, lam_max_value, lasso_dual,
                      min_norm_dual, penalty, project_out)
from .errors import InvalidProblemError, SolverError
from .losses import Loss, Targets, get_loss
from .memory import CVXPY_EXP_CONE_FACTOR, check_memory
from .programs import GroupStructure, LassoProgram, build_lasso, build_min_norm
from .solution import Solution, active_set


def _groups(groups: Any, weights: Any, K: int) -> GroupStructure:
    """Normalize ``groups`` (labels per row, or a list of disjoint index arrays) and weights."""
    if groups is None:
        ids = np.arange(K)
    elif isinstance(groups, (list, tuple)) and groups and np.ndim(groups[0]) == 1:
        ids = np.full(K, -1)
        for g, idx in enumerate(groups):
            idx = np.asarray(idx, dtype=int)
            if idx.size == 0 or idx.min() < 0 or idx.max() >= K:
                raise InvalidProblemError(f"groups[{g}]: indices must lie in 0..{K - 1}")
            if np.any(ids[idx] >= 0):
                raise InvalidProblemError(f"groups[{g}]: overlaps an earlier group; groups must be "
                                          "disjoint")
            ids[idx] = g
        if np.any(ids < 0):
            raise InvalidProblemError(f"groups: rows {np.flatnonzero(ids < 0)[:5].tolist()} belong to "
                                      "no group; every row of V needs a group (use singletons)")
    else:
        labels = np.asarray(groups)
        if labels.shape != (K,):
            raise InvalidProblemError(f"groups: expected one label per column of Phi ({K}), got "
                                      f"shape {labels.shape}")
        _, ids = np.unique(labels, return_inverse=True)
    G = int(ids.max()) + 1
    if weights is None:
        w = np.ones(G)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != (G,):
            raise InvalidProblemError(f"weights: expected {G} group weights, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise InvalidProblemError("weights: group weights must be positive and finite; put "
                                      "unpenalized columns in the skip instead")
    return GroupStructure(ids.astype(np.intp), w)


class _Problem:
    """Validated (MTL) data shared by solve_lasso and lasso_path."""

    def __init__(self, Phi, Y, loss, skip, groups, weights, tol=1e-8):
        self.tol = check_positive(tol, "tol", upper=1.0)
        self.Phi = as_matrix(Phi, "Phi")
        N, K = self.Phi.shape
        self.loss: Loss = get_loss(loss)
        Yarr = np.asarray(Y)
        if Yarr.ndim == 0 or Yarr.shape[0] != N:
            raise InvalidProblemError(f"Y: has {Yarr.shape[0] if Yarr.ndim else 0} rows but Phi has "
                                      f"{N}; both need one row per sample")
        if self.loss.name == "squared":
            as_matrix(Yarr, "Y", allow_1d=True)
        elif Yarr.dtype.kind == "f" and not np.all(np.isfinite(Yarr)):
            raise InvalidProblemError("Y: contains NaN or infinite labels")
        self.targets: Targets = self.loss.encode(Yarr)
        self.T = self.targets.T
        self.X_skip, self.intercept = skip_matrix(skip, N)
        self.A = affine_columns(self.X_skip, self.intercept, N)
        U, s, _ = np.linalg.svd(self.A, full_matrices=False) if self.A.shape[1] else (
            np.zeros((N, 0)), np.zeros(0), None)
        self.basis = U[:, s > (s[0] * max(self.A.shape) * 1e-15 if s.size else 0)]
        self.groups = _groups(groups, weights, K)

    def program(self, lam: float) -> LassoProgram:
        return build_lasso(self.Phi, self.T, self.loss, self.X_skip, self.intercept,
                           self.groups, lam)

    @property
    def size(self) -> backends.ProblemSize:
        N, K = self.Phi.shape
        return backends.ProblemSize(N, K, self.T.shape[1], self.loss.name)

    def check_program_memory(self, name: str) -> None:
        """The memory guard (:mod:`nnlasso.memory`) before the full CVXPY program is built."""
        N, K = self.Phi.shape
        d = 0 if self.X_skip is None else self.X_skip.shape[1]
        D = self.T.shape[1]
        exp_cones = self.loss.name in ("logistic", "softmax")
        fix = (f"the full program through {name} is that large; use solver='auto' or 'prox' "
               "(the native solver works on a few columns at a time) or working_set=True, or "
               "fewer columns / samples")
        if self.loss.name == "softmax" and D > 50:
            fix += (f"; D = {D} classes: if the labels are really numbers, fit a regression "
                    "(loss='squared', ConvexReLURegressor)")
        check_memory(N, d, D, K, what="solver", fix=fix,
                     factor=CVXPY_EXP_CONE_FACTOR if exp_cones else 1.0)

    def native_data(self) -> prox.LassoData:
        """The problem in the form of the native solver (built once, caches shared)."""
        if getattr(self, "_native", None) is None:
            self._native = prox.LassoData(self.Phi, self.T, self.loss, self.basis,
                                          self.groups.ids, self.groups.weights)
        return self._native

    def affine_from_basis(self, c: np.ndarray) -> np.ndarray:
        """Coefficients B on the affine columns A with A B = U c (U the orthonormal basis).

        B = A^+ U c, the minimum-norm least-squares solution; the (p, r) map A^+ U is computed
        once per problem (one ``lstsq``, whose LAPACK call costs milliseconds even for p = 1)
        and reused by every solve of a path.
        """
        if self.A.shape[1] == 0:
            return np.zeros((0, self.T.shape[1]))
        if getattr(self, "_affine_map", None) is None:
            self._affine_map = np.linalg.lstsq(self.A, self.basis, rcond=None)[0]
        return self._affine_map @ c

    def certify(self, V: np.ndarray, B: np.ndarray | None, lam: float
                ) -> tuple[np.ndarray, float, float, float]:
        """Refit the free affine part; return (B, primal, dual, kkt_ratio) by nnlasso's dual."""
        rows = np.flatnonzero(np.any(V != 0, axis=1))
        offset = self.Phi[:, rows] @ V[rows] if rows.size < 0.5 * V.shape[0] else self.Phi @ V
        B = fit_affine(self.loss, self.T, offset, self.A, B0=B)
        Z = offset + self.A @ B
        primal = self.loss.value(Z, self.T) + lam * penalty(V, self.groups.ids,
                                                            self.groups.weights)
        dual, _, ratio = lasso_dual(self.Phi, self.T, Z, self.loss, lam, self.basis,
                                    self.groups.ids, self.groups.weights)
        return B, primal, dual, ratio

    #: V is "negligible" when max_k |phi_k| |V_k| <= zero_rel * |T|_F (then V = 0 is tried)
    zero_rel = 1e-6

    def zero_if_better(self, V: np.ndarray, lam: float, primal: float
                       ) -> tuple[np.ndarray, float, float, float] | None:
        """The certificate of V = 0 when V is negligible and V = 0 is at least as good.

        At lam >= lam_max the optimum is V = 0, but a solver returns rounding noise (|V| ~
        1e-14..1e-9), which the relative active rule |V_k| > active_tol max_j |V_j| would
        call active. When every neuron's contribution |phi_k| |V_k| is below
        ``zero_rel`` |T|_F, the zero point (with its refitted affine part) is certified too and
        replaces V if its objective is not larger (relative 1e-12) and its gap is within tol.
        """
        rows = np.flatnonzero(np.any(V != 0, axis=1))
        if rows.size == 0:
            return None
        contrib = np.linalg.norm(self.Phi[:, rows], axis=0) * np.linalg.norm(V[rows], axis=1)
        if float(np.max(contrib)) > self.zero_rel * max(float(np.linalg.norm(self.T)), 1e-300):
            return None
        cert = self.certify(np.zeros_like(V), None, lam)
        _, rel0 = gaps(cert[1], cert[2])
        if cert[1] <= primal + 1e-12 * abs(primal) and rel0 <= self.tol:
            return cert
        return None

    def polish(self, V: np.ndarray, B: np.ndarray | None, lam: float
               ) -> tuple[np.ndarray, np.ndarray, prox.WorkingSetResult]:
        """Native working-set refinement of a backend's point (see :func:`nnlasso.prox.polish`)."""
        c0 = self.basis.T @ (self.A @ B) if B is not None and B.size else None
        res = prox.polish(self.native_data(), V, lam, tol=self.tol, c0=c0)
        return res.V, self.affine_from_basis(res.c), res

    def finish(self, V: np.ndarray, B: np.ndarray | None, lam: float, status: str, solver: str,
               times: dict, active_tol: float, info: dict | None = None,
               polish: bool = True,
               certificate: tuple[np.ndarray, float, float, float] | None = None) -> Solution:
        """Polish the free affine part, recompute the objective and nnlasso's duality gap.

        When the certified relative gap exceeds ``tol`` (interior-point answers are accurate to
        ~1e-6..1e-9 in nnlasso's gap, which is first order in the primal error) and ``polish`` is
        true, the point is refined by the native solver on a working set
        (:func:`nnlasso.prox.polish`) and the refined point is kept if its objective is not
        larger: ``info["polished"]`` says whether it was, ``times["polish"]`` what it cost.

        ``certificate`` = (B, primal, dual, kkt_ratio) skips the recomputation when the caller
        already evaluated nnlasso's dual point over the full dictionary at exactly this point
        (the native working-set loop ends with that check).
        """
        t0 = time.perf_counter()
        if certificate is None:
            B, primal, dual, ratio = self.certify(V, B, lam)
        else:
            B, primal, dual, ratio = certificate
        gap, rel = gaps(primal, dual)
        t_polish = 0.0
        polished = False
        extra_polish: dict = {}
        if polish and rel > self.tol and status in ("optimal", "optimal_inaccurate"):
            tp = time.perf_counter()
            V2, B2, res = self.polish(V, B, lam)
            B2, primal2, dual2, ratio2 = self.certify(V2, B2, lam)
            if primal2 <= primal:
                V, B, primal, dual, ratio = V2, B2, primal2, dual2, ratio2
                gap, rel = gaps(primal, dual)
                polished = True
            extra_polish = {"polish": res.info()}
            t_polish = time.perf_counter() - tp
        snapped = False
        if status in ("optimal", "optimal_inaccurate"):
            zero = self.zero_if_better(V, lam, primal)
            if zero is not None:
                V, (B, primal, dual, ratio) = np.zeros_like(V), zero
                gap, rel = gaps(primal, dual)
                snapped = True
        status = certified_status(status, rel, self.tol)
        skip_coef = intercept = None
        p = 0 if self.X_skip is None else self.X_skip.shape[1]
        if self.X_skip is not None:
            skip_coef = B[:p]
        if self.intercept:
            intercept = B[p]
        times = dict(times)
        times["gap"] = time.perf_counter() - t0 - t_polish
        if polish:
            times["polish"] = t_polish
        times["total"] = times.get("total", 0.0) + times["gap"] + t_polish
        extra = {"kkt_ratio": ratio, "was_1d": self.targets.was_1d}
        if snapped:
            extra["snapped_to_zero"] = True
        if polish:
            extra["polished"] = polished
            extra.update(extra_polish)
        if self.targets.classes is not None:
            extra["classes"] = self.targets.classes
        extra.update(info or {})
        return Solution(V=V, skip_coef=skip_coef, intercept=intercept, objective=primal,
                        dual_objective=dual, gap=gap, rel_gap=rel,
                        active=active_set(V, active_tol), status=status, solver=solver,
                        times=times, lam=lam, loss=self.loss.name, active_tol=active_tol,
                        info=extra, inner=solver, fallback=_fallback_name(extra))


def _fallback_name(info: dict) -> str | None:
    """The backend named by ``info["fallback"]`` (a dict with "inner", or a name), or None."""
    fb = info.get("fallback")
    if isinstance(fb, dict):
        return fb.get("inner")
    return fb if isinstance(fb, str) else None


def requested_name(solver: Any, resolved: str) -> str:
    """The solver name a result reports as asked for: "auto", else the canonical name."""
    return "auto" if isinstance(solver, str) and solver.upper() == "AUTO" else resolved


def _as_requested(sol: Solution, solver: Any) -> Solution:
    """``sol`` with ``solver`` set to the name the caller asked for (``inner`` keeps the
    backend that did the work)."""
    sol.solver = requested_name(solver, sol.inner or sol.solver)
    return sol


def certified_status(solver_status: str, rel_gap: float, tol: float) -> str:
    """nnlasso's status from its own certificate.

    "optimal" when nnlasso's relative duality gap is within ``max(tol, 1e-6)`` (whatever the
    solver said about its internal accuracy), "optimal_inaccurate" when the solver returned a
    point whose certified gap is larger; "infeasible" / "error" are kept.
    """
    if solver_status not in ("optimal", "optimal_inaccurate"):
        return solver_status
    return "optimal" if rel_gap <= max(tol, 1e-6) else "optimal_inaccurate"


def _values(prog: LassoProgram) -> tuple[np.ndarray, np.ndarray | None]:
    """V and the stacked affine coefficients [C; c0] from a solved program."""
    V = prog.V_value()
    parts = [v.value for v in (prog.C, prog.c0) if v is not None]
    B = np.vstack(parts) if parts else None
    return V, B


def _solve_program(prog: LassoProgram, solver: str, tol: float, options: dict | None,
                   warm: bool) -> dict:
    cache_before = getattr(prog.problem, "_cache", None)
    param_prog = getattr(cache_before, "param_prog", None)
    run = backends.solve(prog.problem, solver, tol, options, warm_start=warm)
    new_prog = getattr(getattr(prog.problem, "_cache", None), "param_prog", None)
    run["compiled"] = new_prog is not param_prog
    if run["status"] in ("error", "infeasible") or any(
            B.value is None for B, _ in prog.blocks.values()):
        raise SolverError(f"{solver} returned status {run['cvxpy_status']!r} without a usable "
                          "solution; use solver='auto' or 'prox' (nnlasso's native solver, which "
                          "handles badly scaled data and huge lam), or rescale the data "
                          "(features and targets of order 1)")
    return run


#: options of the native solver (``solver="prox"``), passed through ``options=``
NATIVE_OPTIONS = ("p0", "screen", "max_outer")


def _native_options(name: str, options: dict | None) -> tuple[dict, dict | None]:
    """Split ``options`` into the working-set loop's options and the backend's options."""
    opts = dict(options or {})
    loop = {k: opts.pop(k) for k in NATIVE_OPTIONS if k in opts}
    if name == backends.NATIVE and opts:
        raise InvalidProblemError(f"options: unknown option(s) {sorted(opts)} for solver='prox'; "
                                  f"it takes {list(NATIVE_OPTIONS)}")
    return loop, opts


def _cvxpy_inner(prob: _Problem, name: str, lam: float, options: dict | None,
                 refine_epochs: int = 20_000) -> prox.InnerSolver:
    """A restricted solver for the working-set loop that uses a CVXPY backend.

    The reduced program (the working set's columns, its groups) is built and solved by the
    backend; the answer is then refined by the native solver on the same columns, since the
    loop's tolerances are nnlasso's gaps, which interior-point answers may miss by a few digits
    (at most ``refine_epochs`` coordinate-descent epochs: the stall fallback, whose columns made
    coordinate descent stall, takes a few dozen).
    """
    data = prob.native_data()
    native = prox.native_inner(data, max_epochs=refine_epochs)

    def solve(cols, local_ids, tau, V_W, c, tol):
        sub = GroupStructure(np.asarray(local_ids, dtype=np.intp), tau / lam)
        prog = build_lasso(prob.Phi[:, cols], prob.T, prob.loss, prob.X_skip, prob.intercept,
                           sub, lam)
        run = _solve_program(prog, name, tol, options, warm=False)
        V_new, B = _values(prog)
        c_new = prob.basis.T @ (prob.A @ B) if B is not None and B.size else c
        V_new, c_new, n, rel = native(cols, local_ids, tau, V_new, c_new, tol)
        return V_new, c_new, n + 1, rel
    return solve


def _solve_working_set(prob: _Problem, lam: float, name: str, options: dict | None,
                       active_tol: float, t_start: float, V0: np.ndarray | None = None,
                       c0: np.ndarray | None = None, ws0: np.ndarray | None = None,
                       correlations: prox.PathCorrelations | None = None
                       ) -> tuple[Solution, prox.WorkingSetResult]:
    """solve_lasso's working-set path: the native solver, or a CVXPY backend on working sets.

    The native inner solver can stall on nearly collinear columns (a 100 x 68 column-generation
    dictionary at small lam: coordinate descent at rel gap 1e-3 after 5000 epochs). The loop
    detects the stall in bounded work (:func:`nnlasso.prox.bcd_gram`: the restricted gap must
    halve every few dozen epochs) and hands the working set at once to CLARABEL on the same
    columns (``fallback``), which finishes the solve; ``info["fallback"]`` then records it.
    """
    loop_opts, backend_opts = _native_options(name, options)
    native = name == backends.NATIVE
    inner = None if native else _cvxpy_inner(prob, name, lam, backend_opts)
    fallback = _cvxpy_inner(prob, "CLARABEL", lam, None, prox.STALL_EPOCHS) if (
        native and "CLARABEL" in backends.installed()) else None
    res = prox.working_set_solve(prob.native_data(), lam, tol=prob.tol, V0=V0, c0=c0, ws0=ws0,
                                 inner=inner, correlations=correlations, fallback=fallback,
                                 **loop_opts)
    extra: dict = {}
    t_loop = res.times["total"]
    if res.switched_at is not None:
        extra["fallback"] = {"inner": "CLARABEL", "switched_at": res.switched_at,
                             "reason": "the native restricted solve stalled"}
    B = prob.affine_from_basis(res.c)
    status = "optimal" if res.converged else "optimal_inaccurate"
    times = {"build": 0.0, "compile": 0.0, "solve": t_loop,
             "total": time.perf_counter() - t_start}
    cert = (B, res.primal, res.dual, float(res.rho.max(initial=0.0))) if native else None
    sol = prob.finish(res.V, B, lam, status, name, times, active_tol,
                      {"working_set": res.info(), "compiled": False, **extra},
                      polish=not native, certificate=cert)
    return sol, res


#: feature / target scales outside [2**-SCALE_EXP, 2**SCALE_EXP] are brought to order one
SCALE_EXP = 24


def _power_of_two(M: np.ndarray) -> float:
    """1, or the power of two 2**-e with max|M| 2**-e of order one when max|M| is extreme."""
    top = float(np.max(np.abs(M))) if M.size else 0.0
    if top == 0.0 or 2.0 ** -SCALE_EXP <= top <= 2.0 ** SCALE_EXP:
        return 1.0
    return float(2.0 ** -np.round(np.log2(top)))


def _scales(Phi: Any, Y: Any, loss: str | Loss) -> tuple[float, float]:
    """(a, b): the exact power-of-two scales that bring Phi (and, squared loss, Y) to order one.

    (MTL) is equivariant under Phi -> a Phi, Y -> b Y (b only for the squared loss), lam -> a b
    lam: its solution is V' = (b / a) V with the affine part scaled by b and the objective,
    dual value and gap by b^2 (the relative gap and the active set are unchanged). Interior-point
    and first-order solvers are not scale invariant (features of order 1e50 made CLARABEL fail
    and the native solver overflow), so extreme data are solved at order one and mapped back;
    powers of two keep the scaling exact.
    """
    a = _power_of_two(as_matrix(Phi, "Phi"))
    squared = (loss.name if isinstance(loss, Loss) else str(loss).lower()) == "squared"
    b = _power_of_two(as_matrix(Y, "Y", allow_1d=True)) if squared else 1.0
    return a, b


def _scaled_targets(Y: Any, b: float) -> Any:
    """Y * b (Y unchanged when b = 1: labels keep their type)."""
    return Y if b == 1.0 else np.asarray(Y, dtype=np.float64) * b


def _unscale(sol: Solution, a: float, b: float, lam: float) -> Solution:
    """The Solution of the original problem from that of the problem scaled by (a, b)."""
    def back(M):
        return None if M is None else np.asarray(M) / b
    return replace(sol, V=sol.V * (a / b), skip_coef=back(sol.skip_coef),
                   intercept=back(sol.intercept), objective=sol.objective / b ** 2,
                   dual_objective=sol.dual_objective / b ** 2, gap=sol.gap / b ** 2, lam=lam,
                   info={**sol.info, "rescaled": {"features": a, "targets": b}})


def solve_lasso(Phi: np.ndarray, Y: np.ndarray, lam: float, *, loss: str | Loss = "squared",
                skip: Any = None, groups: Any = None, weights: Any = None,
                solver: str = "auto", tol: float = 1e-8, active_tol: float = 1e-6,
                options: dict | None = None, working_set: bool = False) -> Solution:
    """Solve the multitask / group lasso with an unpenalized affine skip.

    min_{V, C, c0} sum_n L(y_n, (Phi V + X C + 1 c0)_n) + lam * sum_g omega_g |V_g|_F

    Parameters
    ----------
    Phi : (N, K) features (for neurons: Phi[n, k] = relu(w_k . x_n - b_k)).
    Y : (N, D) or (N,) targets; labels in {0,1}/{-1,+1} for "logistic", integers for "softmax".
    lam : regularization > 0 (scikit-learn's alpha is lam / N).
    loss : "squared" (1/2|y - z|^2), "logistic" or "softmax"; summed over samples.
    skip : the (N, d) inputs X for C x + c0, "intercept" for c0 only, or None.
    groups : None (each row of V its own group: the neuron penalty), one label per row, or a
        list of disjoint index arrays covering all rows.
    weights : positive group weights omega_g (default 1).
    solver : "auto" (default: nnlasso's native working-set solver when the program is large,
        CLARABEL on the full program when it is small, by the rules of
        :mod:`nnlasso.backends`), "prox" (the native solver, :mod:`nnlasso.prox`), or a CVXPY
        solver that then solves the full program: "CLARABEL", "SCS", "OSQP" (squared loss,
        D = 1, no groups), "ECOS".
    tol : target relative duality gap (nnlasso's own); also sets the solver's tolerance. A
        backend answer whose gap exceeds it is polished by the native solver.
    active_tol : relative threshold of the active set.
    options : passed through to the solver; for "prox" (and ``working_set``) the loop's options
        ``p0`` (initial working-set size), ``screen`` (gap-safe screening), ``max_outer``.
    working_set : with a CVXPY solver, solve the program on working sets (the native loop with
        that backend as its restricted solver) instead of on the full dictionary.

    Returns
    -------
    Solution
        with the objective and duality gap computed by nnlasso (never taken from the solver).
    """
    t_start = time.perf_counter()
    lam = check_lam(lam)
    a, b = _scales(Phi, Y, loss)
    if a != 1.0 or b != 1.0:
        sol = solve_lasso(as_matrix(Phi, "Phi") * a, _scaled_targets(Y, b), lam * a * b,
                          loss=loss, skip=skip, groups=groups, weights=weights, solver=solver,
                          tol=tol, active_tol=active_tol, options=options,
                          working_set=working_set)
        return _unscale(sol, a, b, lam)
    prob = _Problem(Phi, Y, loss, skip, groups, weights, tol)
    is_qp = prob.loss.name == "squared" and prob.T.shape[1] == 1 and prob.groups.singletons
    name = backends.resolve(solver, is_qp=is_qp, native=True, size=prob.size)
    if name == backends.NATIVE or working_set:
        sol = _solve_working_set(prob, lam, name, options, active_tol, t_start)[0]
        return _as_requested(sol, solver)
    prob.check_program_memory(name)
    try:
        prog = prob.program(lam)
        run = _solve_program(prog, name, tol, options, warm=False)
    except SolverError as exc:
        return _as_requested(_native_rescue(prob, lam, name, exc, active_tol, t_start), solver)
    V, B = _values(prog)
    times = {"build": prog.build_time, "compile": run["compile"], "solve": run["solve"],
             "total": time.perf_counter() - t_start}
    sol = prob.finish(V, B, lam, run["status"], name, times, active_tol, {"qr_reduced": prog.qr})
    return _as_requested(sol, solver)


def _native_rescue(prob: _Problem, lam: float, name: str, exc: SolverError, active_tol: float,
                   t_start: float) -> Solution:
    """The penalized lasso after a CVXPY backend failed on it, solved by the native solver.

    Interior-point solvers fail on badly scaled programs (features or targets ~1e10, lam >=
    1e10 lam_max: "infeasible", "unbounded" or a crash) that the native working-set solver
    solves, since it works on the data as given and certifies its answer with nnlasso's gap.
    The Solution keeps ``inner`` = the failed backend and records ``fallback`` = "PROX", the
    failure in ``info["fallback"]``.
    """
    try:
        sol = _solve_working_set(prob, lam, backends.NATIVE, None, active_tol, t_start)[0]
    except SolverError:
        raise exc from None
    record = {"inner": backends.NATIVE, "failed": name, "error": str(exc)}
    if "fallback" in sol.info:
        record["native"] = sol.info["fallback"]
    sol.info["fallback"] = record
    sol.inner, sol.fallback = name, backends.NATIVE
    return sol


def lasso_path(Phi: np.ndarray, Y: np.ndarray, lams: Iterable[float], *,
               loss: str | Loss = "squared", skip: Any = None, groups: Any = None,
               weights: Any = None, solver: str = "auto", tol: float = 1e-8,
               active_tol: float = 1e-6, options: dict | None = None,
               working_set: bool = False) -> list[Solution]:
    """Solve (MTL) for each lam in ``lams`` (in the given order; decreasing is best).

    CVXPY backends: the problem is built and compiled once with lam as a ``cp.Parameter``; each
    later solve only updates the parameter and warm-starts from the previous solution. Each
    Solution's ``info["compiled"]`` says whether that solve compiled the problem (only the first
    does).

    ``solver="prox"`` (or ``working_set=True``): each solve is warm-started from the previous
    solution and its working set starts from the **sequential strong rule** (Tibshirani et al.,
    2012): group g enters when |Phi_g^T Q(lam_prev)|_F >= omega_g (2 lam - lam_prev), plus the
    previous active groups; the KKT check of the full problem adds whatever the rule missed.
    For the squared loss the checks take Phi^T Q = Phi^T P T - (Phi^T P Phi_W) V_W from cached
    columns (:class:`nnlasso.prox.PathCorrelations`) rather than a product with Phi, with a
    rounding bound added to every KKT ratio: each value is still certified by a duality gap
    over the full dictionary. ``info["working_set"]["n_products"]`` counts the reads of Phi.
    """
    lam_list = [check_lam(v, "lams") for v in np.atleast_1d(np.asarray(list(lams), dtype=float))]
    if not lam_list:
        raise InvalidProblemError("lams: pass at least one value")
    a, b = _scales(Phi, Y, loss)
    if a != 1.0 or b != 1.0:
        sols = lasso_path(as_matrix(Phi, "Phi") * a, _scaled_targets(Y, b),
                          [lam * a * b for lam in lam_list], loss=loss, skip=skip,
                          groups=groups, weights=weights, solver=solver, tol=tol,
                          active_tol=active_tol, options=options, working_set=working_set)
        return [_unscale(s, a, b, lam) for s, lam in zip(sols, lam_list)]
    prob = _Problem(Phi, Y, loss, skip, groups, weights, tol)
    is_qp = prob.loss.name == "squared" and prob.T.shape[1] == 1 and prob.groups.singletons
    name = backends.resolve(solver, is_qp=is_qp, native=True, size=prob.size)
    if name == backends.NATIVE or working_set:
        return [_as_requested(s, solver)
                for s in _path_working_set(prob, lam_list, name, options, active_tol)]
    prob.check_program_memory(name)
    prog = prob.program(lam_list[0])
    out = []
    for i, lam in enumerate(lam_list):
        t0 = time.perf_counter()
        prog.lam.value = lam
        try:
            run = _solve_program(prog, name, tol, options, warm=i > 0)
        except SolverError as exc:
            out.append(_as_requested(_native_rescue(prob, lam, name, exc, active_tol, t0),
                                     solver))
            continue
        V, B = _values(prog)
        times = {"build": prog.build_time if i == 0 else 0.0, "compile": run["compile"],
                 "solve": run["solve"], "total": time.perf_counter() - t0}
        out.append(_as_requested(prob.finish(V, B, lam, run["status"], name, times, active_tol,
                                             {"compiled": run["compiled"], "qr_reduced": prog.qr}),
                                 solver))
    return out


def strong_rule(rho: np.ndarray, lam_prev: float, lam: float, n_keep: int | None = None
                ) -> np.ndarray:
    """Groups kept by the sequential strong rule at ``lam`` from the KKT ratios at ``lam_prev``.

    Group g is kept when |Phi_g^T Q(lam_prev)|_F >= omega_g (2 lam - lam_prev), i.e.
    rho_g lam_prev >= 2 lam - lam_prev (Tibshirani et al., 2012). With ``n_keep``, only the
    ``n_keep`` kept groups of largest rho_g are returned.
    """
    strong = np.flatnonzero(rho * lam_prev >= 2.0 * lam - lam_prev)
    if n_keep is not None and strong.size > n_keep:
        strong = strong[np.argsort(-rho[strong], kind="stable")[:n_keep]]
    return strong


def _path_working_set(prob: _Problem, lam_list: list[float], name: str,
                      options: dict | None, active_tol: float) -> list[Solution]:
    """lasso_path by warm-started working sets seeded by the sequential strong rule.

    Squared loss: a :class:`nnlasso.prox.PathCorrelations` shared by the solves makes each full
    KKT check a product with the cached columns Phi^T P Phi_j of the groups that were ever
    nonzero (plus prefetched ones) instead of a product with Phi; so an extra outer iteration
    is cheap, and the strong-rule set (hundreds of groups on correlated ReLU dictionaries, of
    which a few enter) is cut to its p0 + 2 |nonzero| groups of largest KKT ratio; the check
    adds whatever that misses. Other losses: one product per check, and the same cut of the
    strong set (the whole set, 256 groups at one step of a softmax path on digits with 300
    neurons, made the native inner solver run 20,000 iterations: 197 s against 11 s cold).
    """
    out: list[Solution] = []
    V = c = rho = None
    lam_prev = None
    ids = prob.groups.ids
    corr = prox.PathCorrelations(prob.native_data()) if prob.loss.name == "squared" else None
    p0 = int((options or {}).get("p0", 10))
    for lam in lam_list:
        t0 = time.perf_counter()
        ws0 = None
        if rho is not None and lam_prev is not None:
            nz = np.unique(ids[np.flatnonzero(np.any(V != 0, axis=1))])
            n_keep = p0 + 2 * nz.size
            ws0 = np.union1d(strong_rule(rho, lam_prev, lam, n_keep), nz)
        sol, res = _solve_working_set(prob, lam, name, options, active_tol, t0, V0=V, c0=c,
                                      ws0=ws0, correlations=corr)
        out.append(sol)
        V, c, rho, lam_prev = res.V, res.c, res.rho, lam
    return out


def lam_max(Phi: np.ndarray, Y: np.ndarray, *, loss: str | Loss = "squared", skip: Any = None,
            groups: Any = None, weights: Any = None) -> float:
    """Smallest lam for which V = 0 is optimal.

    lam_max = max_g |Phi_g^T q0|_F / omega_g, with q0 = -grad L at the best skip-only fit (for the
    squared loss: the residual of the affine least-squares fit).
    """
    a, b = _scales(Phi, Y, loss)
    prob = _Problem(as_matrix(Phi, "Phi") * a, _scaled_targets(Y, b), loss, skip, groups,
                    weights)
    return lam_max_value(prob.Phi, prob.T, prob.loss, prob.A, prob.groups.ids,
                         prob.groups.weights) / (a * b)


#: ``solve_min_norm(..., solver="auto")``: SCS first, CLARABEL when SCS fails or its point is
#: not certified. Equality form (eps = 0), diabetes features 442 x K with Psi = Phi V of a few
#: neurons (2-core machine under load, wall seconds, both certified): K = 500, D = 3: SCS 2.2 s
#: vs CLARABEL 6.4 s; K = 1000, D = 5: SCS 17.6 s (rel gap 7e-10) vs CLARABEL 124.6 s
#: ("optimal_inaccurate", rel gap 1.3e-6); K <= 200: both 0.2-0.5 s. Tolerance form: measured (2-core machine under load; wall / CPU seconds; same
#: certified objective): digits layer N = 1257, K = 256, D = 10, eps = 0.05: SCS 16.6 s,
#: CLARABEL 35.0 and 59.9 s; eps = 0.01: SCS 11.5 s, CLARABEL 42.7 s; a (128, 64) digits
#: network, eps = 0.05 per layer: layer 1 SCS 27.0 s vs CLARABEL 155.7 s (131.3 s rerun),
#: layer 2 9.0 s vs 18.0 s; 120 x 40 teacher layer: both 0.1-0.3 s. CLARABEL's certified gaps
#: were also larger (1e-7..9e-7 against SCS's 1e-9..1e-8).
MIN_NORM_EPS_AUTO = ("SCS", "CLARABEL")


def _min_norm_auto(solver: Any, eps: float) -> list[str]:
    """The backends to try, in order, for (MIN) with ``solver`` (see MIN_NORM_EPS_AUTO)."""
    name = backends.resolve(solver, is_qp=False)
    if isinstance(solver, str) and solver.upper() == "AUTO":
        have = backends.installed()
        order = [s for s in MIN_NORM_EPS_AUTO if s in have]
        return order or [name]
    return [name]


def _min_norm_point(Phi: np.ndarray, Psi: np.ndarray, X_skip: np.ndarray | None,
                    intercept: bool, eps: float, name: str, tol: float,
                    options: dict | None) -> tuple:
    """Solve (MIN) with backend ``name``: (V, B, L, status, run, build_time), L the point the
    dual is built from (the equality multiplier, or the residual for eps > 0)."""
    prog = build_min_norm(Phi, Psi, X_skip, intercept, eps)
    run = backends.solve(prog.problem, name, tol, options)
    if run["status"] in ("error", "infeasible") or prog.V.value is None:
        raise SolverError(f"{name} returned status {run['cvxpy_status']!r} on the min-norm "
                          "program; try solver='SCS' or eps > 0")
    V = np.asarray(prog.V.value).reshape(Phi.shape[1], -1)
    parts = [v.value for v in (prog.C, prog.c0) if v is not None]
    A = affine_columns(X_skip, intercept, Phi.shape[0])
    B = np.vstack(parts) if parts else np.zeros((0, V.shape[1]))
    if eps == 0:
        L = np.asarray(prog.constraint.dual_value).reshape(-1, V.shape[1])
        if prog.Q is not None:
            L = prog.Q @ L
    else:
        L = Psi - Phi @ V - A @ B
    return V, B, L, run["status"], run, prog.build_time


def _min_norm_certificate(Phi: np.ndarray, Psi: np.ndarray, A: np.ndarray, V: np.ndarray,
                          B: np.ndarray, L: np.ndarray, eps: float, status: str, tol: float
                          ) -> tuple[float, float, float, float, float, str]:
    """nnlasso's certificate of a (MIN) point: (primal, dual, gap, rel, residual, status).

    The certified gap decides the status, as in solve_lasso, provided the point is feasible
    (relative residual within eps, up to 1e-6)."""
    nPsi = float(np.linalg.norm(Psi))
    basis = np.zeros((Phi.shape[0], 0)) if A.shape[1] == 0 else np.linalg.svd(
        A, full_matrices=False)[0][:, : np.linalg.matrix_rank(A)]
    resid = float(np.linalg.norm(Phi @ V + A @ B - Psi)) / max(nPsi, np.finfo(float).tiny)
    primal = float(np.sum(np.linalg.norm(V, axis=1)))
    dual, _ = min_norm_dual(Phi, Psi, L, basis, eps)
    gap, rel = gaps(primal, dual)
    if status in ("optimal", "optimal_inaccurate") and resid <= eps + 1e-6:
        status = certified_status(status, rel, tol)
    elif status == "optimal":
        status = "optimal_inaccurate"
    return primal, dual, gap, rel, resid, status


def solve_min_norm(Phi: np.ndarray, Psi: np.ndarray, *, eps: float = 0.0, skip: Any = None,
                   solver: str = "auto", tol: float = 1e-9, active_tol: float = 1e-6,
                   options: dict | None = None) -> Solution:
    """Solve the min-norm program of a trained layer.

    min_{V, C, c0} sum_k |V[k, :]|_2   s.t.  Phi V + X C + 1 c0 = Psi              (eps = 0)
                                      or   |Phi V + X C + 1 c0 - Psi|_F <= eps |Psi|_F (eps > 0)

    The dual is max <L, Psi> - eps |Psi|_F |L|_F  s.t. |Phi_k^T L|_2 <= 1, X^T L = 0, 1^T L = 0;
    nnlasso builds L from the solver's multiplier (eps = 0) or from the residual direction
    (eps > 0), makes it feasible itself and reports the gap. ``info["residual"]`` is the relative
    constraint violation |Phi V + ... - Psi|_F / |Psi|_F of the returned point.

    ``solver``: "auto" (default; the native solver does not solve (MIN)) is SCS, with
    CLARABEL taking over (``fallback``) when SCS fails or its point is not certified within
    ``max(tol, 1e-6)`` (measured: :data:`MIN_NORM_EPS_AUTO`);
    or any installed CVXPY solver name, which then solves the program alone.
    """
    t_start = time.perf_counter()
    Phi = as_matrix(Phi, "Phi")
    Psi_arr = as_matrix(Psi, "Psi", allow_1d=True)
    was_1d = np.ndim(Psi) == 1
    check_rows(Phi.shape[0], Psi_arr, "Psi")
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"eps: must be a number in [0, 1), got {eps!r}") from None
    if not (0.0 <= eps < 1.0):
        raise InvalidProblemError(f"eps: relative tolerance must lie in [0, 1), got {eps}")
    N = Phi.shape[0]
    X_skip, intercept = skip_matrix(skip, N)
    A = affine_columns(X_skip, intercept, N)
    order = _min_norm_auto(solver, eps)
    check_memory(N, A.shape[1], Psi_arr.shape[1], Phi.shape[1], what="Phi",
                 fix="the min-norm program through CVXPY is that large; use fewer neurons "
                     "(columns of Phi) or samples")
    # feasibility of the equality form: Psi must lie in col([Phi A])
    M = np.hstack([Phi, A])
    Qm, sv, _ = np.linalg.svd(M, full_matrices=False)
    Qm = Qm[:, sv > sv[0] * max(M.shape) * np.finfo(float).eps]
    r = Psi_arr - Qm @ (Qm.T @ Psi_arr)
    nPsi = float(np.linalg.norm(Psi_arr))
    rel_r = float(np.linalg.norm(r)) / max(nPsi, np.finfo(float).tiny)
    if eps == 0 and rel_r > 1e-7:
        raise InvalidProblemError(f"Psi: is not in the span of Phi and the skip (relative residual "
                                  f"{rel_r:.2e}); the equality form is infeasible: use eps > 0 or "
                                  "the penalized form solve_lasso(Phi, Psi, lam)")
    if eps > 0 and rel_r >= eps:
        raise InvalidProblemError(f"eps: {eps} is below the best achievable relative residual "
                                  f"{rel_r:.3e}; increase eps")
    name, fallback, info_fb = order[0], None, None
    if nPsi == 0:
        V = np.zeros((Phi.shape[1], Psi_arr.shape[1]))
        B = np.zeros((A.shape[1], Psi_arr.shape[1]))
        cert = _min_norm_certificate(Phi, Psi_arr, A, V, B, np.zeros_like(Psi_arr), eps,
                                     "optimal", tol)
        run, build_time = {"compile": 0.0, "solve": 0.0}, 0.0
    else:
        if eps == 0:
            # drop the component of Psi outside the span (<= 1e-7 relative) so that the
            # reduced equality system is exactly consistent
            Psi_arr = Psi_arr - r
        best = None
        for i, cand in enumerate(order):
            try:
                V, B, L, st, run, build_time = _min_norm_point(Phi, Psi_arr, X_skip, intercept,
                                                               eps, cand, tol, options)
            except SolverError as exc:
                if i + 1 == len(order):
                    raise
                info_fb = {"inner": order[i + 1], "failed": cand, "error": str(exc)}
                continue
            cert = _min_norm_certificate(Phi, Psi_arr, A, V, B, L, eps, st, tol)
            if best is None or (cert[5] == "optimal" and best[1][5] != "optimal"):
                best = ((V, B, run, build_time), cert, cand)
            if cert[5] == "optimal" or i + 1 == len(order):
                break
            info_fb = {"inner": order[i + 1], "failed": cand,
                       "status": cert[5], "rel_gap": cert[3]}
        (V, B, run, build_time), cert, name = best
        fallback = name if name != order[0] else None
    primal, dual, gap, rel, resid, prog_status = cert
    p = 0 if X_skip is None else X_skip.shape[1]
    times = {"build": build_time, "compile": run["compile"], "solve": run["solve"],
             "total": time.perf_counter() - t_start}
    info = {"residual": resid, "span_residual": rel_r, "was_1d": was_1d}
    if info_fb is not None:
        info["fallback"] = info_fb
    return Solution(V=V, skip_coef=B[:p] if X_skip is not None else None,
                    intercept=B[p] if intercept else None, objective=primal,
                    dual_objective=dual, gap=gap, rel_gap=rel, active=active_set(V, active_tol),
                    status=prog_status, solver=requested_name(solver, order[0]), times=times,
                    lam=None, loss="squared", problem="min_norm", eps=eps, active_tol=active_tol,
                    info=info, inner=order[0] if fallback else name, fallback=fallback)
