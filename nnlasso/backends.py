"""CVXPY backends: solver choice, tolerance options, status map and timings.

nnlasso builds its programs with CVXPY and solves them with one of CVXPY's conic / QP solvers:

======== ============================================================ =========================
name     programs                                                     installed with
======== ============================================================ =========================
CLARABEL every program (SOCP, exponential cone); the default           nnlasso (dependency)
SCS      every program (first-order, lower accuracy)                   nnlasso (dependency)
OSQP     quadratic programs only: squared loss, one output, no groups  nnlasso (dependency)
ECOS     SOCP and exponential cone                                     ``pip install nnlasso[ecos]``

PROX     the penalized lasso only (solve_lasso, lasso_path): nnlasso's   nnlasso (native)
         native working-set solver, :mod:`nnlasso.prox`
======== ============================================================ =========================

``solver="auto"`` for the penalized lasso (:func:`choose`): PROX when the program is large,
that is when any of

* the dictionary has more than ``AUTO_K`` groups-times-outputs (K D > 2000),
* the loss is logistic / softmax and N D > ``AUTO_EXP`` (800 exponential cones),
* the features have more than ``AUTO_NK`` entries (N K > 2 * 10^5),

and otherwise the first installed of CLARABEL, ECOS, SCS (an interior-point solve of a small
program followed by the native polish is exact and fast). Every other program ((MIN), or when no
size is given) uses CLARABEL, then ECOS, then SCS, whichever is installed first.

Whatever the backend, nnlasso certifies the answer with its own duality gap and, when that gap
exceeds ``tol``, polishes the point with the native solver (:func:`nnlasso.prox.polish`).
"""
from __future__ import annotations

import time
import warnings
from typing import Any, NamedTuple

import cvxpy as cp

from .errors import InvalidProblemError, SolverError

SUPPORTED = ("CLARABEL", "SCS", "OSQP", "ECOS")
AUTO_ORDER = ("CLARABEL", "ECOS", "SCS")
NATIVE = "PROX"
AUTO_K = 2000
AUTO_EXP = 800
AUTO_NK = 200_000


class ProblemSize(NamedTuple):
    """Size of a penalized lasso program, for ``solver="auto"``."""

    N: int
    K: int
    D: int
    loss: str


def choose(size: ProblemSize) -> str | None:
    """The native solver's name when ``size`` is large by the rule of the module docstring."""
    if (size.K * size.D > AUTO_K or size.N * size.K > AUTO_NK
            or (size.loss != "squared" and size.N * size.D > AUTO_EXP)):
        return NATIVE
    return None

#: CVXPY status -> nnlasso status
STATUS_MAP = {
    cp.OPTIMAL: "optimal",
    cp.OPTIMAL_INACCURATE: "optimal_inaccurate",
    cp.INFEASIBLE: "infeasible",
    cp.INFEASIBLE_INACCURATE: "infeasible",
    cp.UNBOUNDED: "error",
    cp.UNBOUNDED_INACCURATE: "error",
    cp.USER_LIMIT: "optimal_inaccurate",
    cp.SOLVER_ERROR: "error",
}


def installed() -> list[str]:
    """The solvers of :data:`SUPPORTED` that CVXPY can use on this machine."""
    have = set(cp.installed_solvers())
    return [s for s in SUPPORTED if s in have]


def resolve(solver: str, *, is_qp: bool = True, native: bool = False,
            size: ProblemSize | None = None) -> str:
    """Return the canonical name of ``solver`` or raise with the list of installed ones.

    Parameters
    ----------
    solver : str
        A solver name (case-insensitive), ``"prox"`` (the native solver) or ``"auto"``.
    is_qp : bool
        Whether the program is a QP (only then may OSQP be used).
    native : bool
        Whether the program is the penalized lasso, which the native solver ``"PROX"`` solves.
    size : ProblemSize, optional
        With ``native``, lets ``"auto"`` choose the native solver for large programs
        (:func:`choose`).
    """
    if not isinstance(solver, str):
        raise SolverError(f"solver: expected a name, got {solver!r}; installed: {installed()}")
    name = solver.upper()
    have = installed()
    if name == NATIVE:
        if not native:
            raise SolverError("solver: 'prox' (nnlasso's native solver) solves only the penalized "
                              f"lasso (solve_lasso, lasso_path); installed: {have + ['auto']}")
        return NATIVE
    if name == "AUTO" and native and size is not None and choose(size):
        return NATIVE
    if name == "AUTO":
        for cand in AUTO_ORDER:
            if cand in have:
                return cand
        raise SolverError(f"solver='auto': none of {AUTO_ORDER} is installed; "
                          "pip install clarabel")
    if name not in SUPPORTED:
        extra = ["prox", "auto"] if native else ["auto"]
        raise SolverError(f"solver: unknown solver {solver!r}; installed: {have + extra}")
    if name not in have:
        hint = "pip install nnlasso[ecos]" if name == "ECOS" else f"pip install {name.lower()}"
        raise SolverError(f"solver: {name} is not installed ({hint}); installed: {have}")
    if name == "OSQP" and not is_qp:
        raise SolverError("solver: OSQP solves only quadratic programs (squared loss, one output, "
                          "no groups); use CLARABEL or SCS for this program")
    return name


def tolerance_options(solver: str, tol: float) -> dict[str, Any]:
    """Map nnlasso's tolerance ``tol`` (a target relative duality gap) onto solver options.

    nnlasso's gap is evaluated at a dual point built from the primal fit, so it is first order in
    the primal error while the solvers' own gaps are measured on their internal (exact) dual
    iterates: the interior-point solvers therefore get a tighter tolerance than ``tol``.
    """
    if solver == "CLARABEL":
        t = max(tol * 1e-3, 1e-14)
        return {"tol_gap_abs": t, "tol_gap_rel": t, "tol_feas": t, "tol_ktratio": 1e-8,
                "max_iter": 500}
    if solver == "SCS":
        return {"eps_abs": tol, "eps_rel": tol, "max_iters": 200_000}
    if solver == "OSQP":
        return {"eps_abs": tol, "eps_rel": tol, "polish": True, "max_iter": 200_000}
    if solver == "ECOS":
        t = max(tol * 1e-2, 1e-13)
        return {"abstol": t, "reltol": t, "feastol": t, "max_iters": 500}
    return {}


def solve(problem: cp.Problem, solver: str, tol: float, options: dict | None = None,
          warm_start: bool = False) -> dict[str, Any]:
    """Solve a CVXPY problem; return ``{"status", "cvxpy_status", "compile", "solve"}``.

    Raises :class:`SolverError` when the solver crashes or returns no solution.
    """
    opts = tolerance_options(solver, tol)
    opts.update(options or {})
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # nnlasso certifies the result with its own duality gap (see Solution.status)
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            warnings.filterwarnings("ignore", message='"polish" is deprecated')
            problem.solve(solver=solver, warm_start=warm_start, **opts)
    except cp.error.SolverError as exc:
        raise SolverError(f"{solver} failed: {exc}; try solver='SCS' or rescale the data") from exc
    except TypeError as exc:  # an option the solver does not know
        raise InvalidProblemError(f"solver options: {exc}; see the {solver} documentation") from exc
    total = time.perf_counter() - t0
    compile_t = float(problem.compilation_time or 0.0)
    status = STATUS_MAP.get(problem.status, "error")
    return {"status": status, "cvxpy_status": problem.status, "compile": compile_t,
            "solve": max(total - compile_t, 0.0)}
