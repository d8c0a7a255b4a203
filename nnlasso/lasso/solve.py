"""(MTL) solvers: :func:`solve_lasso`, :func:`lasso_path` (with the sequential strong rule),
:func:`lam_max`; the CVXPY and native working-set routes and the exact power-of-two rescaling."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Iterable

import numpy as np

from .. import backends, prox
from .._validation import as_matrix, check_lam
from ..duality import lam_max_value
from ..errors import InvalidProblemError, SolverError
from ..losses import Loss
from ..programs import GroupStructure, LassoProgram, build_lasso
from ..solution import Solution
from .problem import LassoProblem, _as_requested


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
    run = backends.solve_cvxpy(
        prog.problem, solver, tol, options, warm_start=warm,
        require=[B for B, _ in prog.blocks.values()],
        unusable="without a usable solution; use solver='auto' or 'prox' (nnlasso's native "
                 "solver, which handles badly scaled data and huge lam), or rescale the data "
                 "(features and targets of order 1)")
    new_prog = getattr(getattr(prog.problem, "_cache", None), "param_prog", None)
    run["compiled"] = new_prog is not param_prog
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


def _cvxpy_inner(prob: LassoProblem, name: str, lam: float, options: dict | None,
                 refine_epochs: int = 20_000, refine_newton: int = 200) -> prox.InnerSolver:
    """A restricted solver for the working-set loop that uses a CVXPY backend.

    The reduced program (the working set's columns, its groups) is built and solved by the
    backend; the answer is then refined by the native solver on the same columns, since the
    loop's tolerances are nnlasso's gaps, which interior-point answers may miss by a few digits
    (at most ``refine_epochs`` coordinate-descent epochs, or ``refine_newton`` proximal-Newton
    iterations for logistic / softmax: the stall fallback, whose columns made the native solver
    stall, takes a few dozen).
    """
    data = prob.native_data()
    native = prox.native_inner(data, max_epochs=refine_epochs, max_newton=refine_newton)

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


def _solve_working_set(prob: LassoProblem, lam: float, name: str, options: dict | None,
                       active_tol: float, t_start: float, V0: np.ndarray | None = None,
                       c0: np.ndarray | None = None, ws0: np.ndarray | None = None,
                       correlations: prox.PathCorrelations | None = None
                       ) -> tuple[Solution, prox.WorkingSetResult]:
    """solve_lasso's working-set path: the native solver, or a CVXPY backend on working sets.

    The native inner solver can stall on nearly collinear columns (a 100 x 68 column-generation
    dictionary at small lam: coordinate descent at rel gap 1e-3 after 5000 epochs). The loop
    detects the stall in bounded work (:func:`nnlasso.prox.bcd_gram`: the restricted gap must
    halve every few dozen epochs) and hands the working set at once to the CVXPY backend
    :data:`nnlasso.backends.STALL_FALLBACK` on the same columns (``fallback``), which finishes
    the solve; ``info["fallback"]`` then records it.
    """
    loop_opts, backend_opts = _native_options(name, options)
    native = name == backends.NATIVE
    inner = None if native else _cvxpy_inner(prob, name, lam, backend_opts)
    stall = backends.stall_fallback() if native else None
    fallback = None if stall is None else _cvxpy_inner(prob, stall, lam, None, prox.STALL_EPOCHS,
                                                       prox.NEWTON_STALL_ITERS)
    res = prox.working_set_solve(prob.native_data(), lam, tol=prob.tol, V0=V0, c0=c0, ws0=ws0,
                                 inner=inner, correlations=correlations, fallback=fallback,
                                 **loop_opts)
    extra: dict = {}
    t_loop = res.times["total"]
    if res.switched_at is not None:
        extra["fallback"] = {"inner": stall, "switched_at": res.switched_at,
                             "reason": "the native restricted solve stalled"}
    elif res.fallback_error is not None:
        extra["fallback"] = {"inner": stall, "switched_at": None,
                             "reason": "the native restricted solve stalled",
                             "failed": res.fallback_error}
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
    Y : (N, D) or (N,) targets; labels in {0,1}/{-1,+1} for "logistic" and "hinge", integers
        for "softmax".
    lam : regularization > 0 (scikit-learn's alpha is lam / N).
    loss : a name of the registry :data:`nnlasso.losses.LOSSES` ("squared" 1/2|y - z|^2,
        "logistic", "softmax", "hinge" max(0, 1 - y z)) or a :class:`nnlasso.losses.Loss`;
        summed over samples (formulas: docs/math.md, "Losses and their scaling"). A loss that
        is not smooth (the hinge) is solved by a CVXPY backend; "prox" refuses it.
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
    prob = LassoProblem(Phi, Y, loss, skip, groups, weights, tol)
    is_qp = prob.loss.name == "squared" and prob.T.shape[1] == 1 and prob.groups.singletons
    name = backends.resolve(solver, is_qp=is_qp, native=True, size=prob.size,
                            cones=prob.loss.cones)
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


def _native_rescue(prob: LassoProblem, lam: float, name: str, exc: SolverError, active_tol: float,
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
    prob = LassoProblem(Phi, Y, loss, skip, groups, weights, tol)
    is_qp = prob.loss.name == "squared" and prob.T.shape[1] == 1 and prob.groups.singletons
    name = backends.resolve(solver, is_qp=is_qp, native=True, size=prob.size,
                            cones=prob.loss.cones)
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


def _path_working_set(prob: LassoProblem, lam_list: list[float], name: str,
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
    prob = LassoProblem(as_matrix(Phi, "Phi") * a, _scaled_targets(Y, b), loss, skip, groups,
                    weights)
    return lam_max_value(prob.Phi, prob.T, prob.loss, prob.A, prob.groups.ids,
                         prob.groups.weights) / (a * b)
