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

``solver="auto"`` for the penalized lasso (:func:`choose`) picks PROX when

* squared loss: K D > ``AUTO_SQ_KD`` (100) or N K > ``AUTO_SQ_NK`` (10 000);
* logistic / softmax: N K D > ``AUTO_EXP_NKD`` (6 000);
* never for a loss that is not smooth (the hinge): the native solver refuses it;

and otherwise the first installed of CLARABEL, ECOS, SCS (tiny programs: an interior-point
solve of the full program costs 0.1-0.3 s there, and the native loop may stall on their nearly
collinear columns, e.g. the 100 x 68 column-generation dictionary at lam = 0.01 that the
benchmark's grid holds). The crossover was measured on a plain install (no numba: the native
solver's pure-NumPy path), 2-core machine under load ~10, medians of 3, tol 1e-8,
skip="intercept", at lam = 0.1 and 0.01 lam_max; time of PROX / time of CLARABEL:

=========================  ===========  ===========
program (N x K x D)        0.1 lam_max  0.01 lam_max
=========================  ===========  ===========
squared 100 x 68 x 1       0.44         3.23
squared 60 x 30 x 3        0.68         1.28
squared 300 x 50 x 2       0.37         0.43
squared 100 x 100 x 2      0.90         1.12
squared 100 x 150 x 1      0.45         1.87
squared 200 x 40 x 3       1.07         1.73
squared 200 x 100 x 1      0.03         0.11
squared 1000 x 50 x 3      0.05         0.15
logistic 100 x 30          2.31         7.96
logistic 300 x 100         0.23         1.60
logistic 200 x 200         0.28         0.84
logistic 600 x 60          0.38         0.98
softmax 60 x 30 x 3        1.17         5.29
softmax 100 x 80 x 3       1.64         0.67
softmax 200 x 50 x 3       0.39         2.40
softmax 300 x 30 x 4       0.40         0.63
=========================  ===========  ===========

Larger programs only widen the native solver's lead (CLARABEL on the full N = 1000, K = 2000,
D = 10 program does not finish compiling in 60 s; PROX takes 0.5 s). Every other program
((MIN), or when no size is given) uses CLARABEL, then ECOS, then SCS, whichever is installed
first. ``scripts/bench.py`` re-measures "auto" against the best explicit choice on its grid.

Whatever the backend, nnlasso certifies the answer with its own duality gap and, when that gap
exceeds ``tol``, polishes the point with the native solver (:func:`nnlasso.prox.polish`).
"""
from __future__ import annotations

import importlib.util
import time
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import InvalidProblemError, SolverError

SUPPORTED = ("CLARABEL", "SCS", "OSQP", "ECOS")
AUTO_ORDER = ("CLARABEL", "ECOS", "SCS")
NATIVE = "PROX"
AUTO_SQ_KD = 100
AUTO_SQ_NK = 10_000
AUTO_EXP_NKD = 6_000


class ProblemSize(NamedTuple):
    """Size of a penalized lasso program, for ``solver="auto"``."""

    N: int
    K: int
    D: int
    loss: str


def choose(size: ProblemSize) -> str | None:
    """The native solver's name when ``size`` is large by the rule of the module docstring.

    Squared loss: K D > AUTO_SQ_KD or N K > AUTO_SQ_NK; logistic / softmax: N K D >
    AUTO_EXP_NKD (crossovers measured without numba, see the table of the module docstring).
    Never for a loss the native solver refuses (:func:`nnlasso.prox.supports`: not smooth).
    """
    from .losses import LOSSES
    from .prox import supports
    cls = LOSSES.get(size.loss)
    if cls is not None and not supports(cls()):
        return None  # a loss the native solver refuses (not smooth): a CVXPY backend
    if size.loss == "squared":
        large = size.K * size.D > AUTO_SQ_KD or size.N * size.K > AUTO_SQ_NK
    else:
        large = size.N * size.K * size.D > AUTO_EXP_NKD
    return NATIVE if large else None

if TYPE_CHECKING:
    import cvxpy as cp

#: CVXPY status -> nnlasso status (the values of cvxpy.OPTIMAL, ...; spelled out so that
#: importing this module, e.g. to check a solver name in a problem file, does not import CVXPY)
STATUS_MAP = {
    "optimal": "optimal",
    "optimal_inaccurate": "optimal_inaccurate",
    "infeasible": "infeasible",
    "infeasible_inaccurate": "infeasible",
    "unbounded": "error",
    "unbounded_inaccurate": "error",
    "user_limit": "optimal_inaccurate",
    "solver_error": "error",
}
#: solver name -> the Python package CVXPY drives it through
_PACKAGES = {"CLARABEL": "clarabel", "SCS": "scs", "OSQP": "osqp", "ECOS": "ecos"}


def installed() -> list[str]:
    """The solvers of :data:`SUPPORTED` that CVXPY can use on this machine.

    Once CVXPY is imported its own list decides; before, the solver packages are looked up
    without importing them (so checking a problem file does not pay CVXPY's import time).
    """
    import sys
    mod = sys.modules.get("cvxpy")
    # another thread may be importing CVXPY right now: use it only once fully initialized
    if mod is not None and not getattr(getattr(mod, "__spec__", None), "_initializing", False) \
            and hasattr(mod, "installed_solvers"):
        have = set(mod.installed_solvers())
        return [s for s in SUPPORTED if s in have]
    return [s for s in SUPPORTED if importlib.util.find_spec(_PACKAGES[s]) is not None]


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
    iterates: the interior-point solvers get a tighter tolerance than ``tol``, and when nnlasso's
    gap still exceeds ``tol``, :meth:`nnlasso.lasso.LassoProblem.finish` polishes the point natively.
    """
    if solver == "CLARABEL":
        # kept tight: relaxing to tol (the polish does the last digits when nnlasso's gap misses
        # tol) saved 10-30 % of the solve, but leaves ~1e-6 relative dust on rows that are zero
        # at the optimum whenever the gap is already below tol (no polish then)
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
    import cvxpy as cp
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
        raise SolverError(f"{solver} failed: {exc}; rescale the data (features and targets of "
                          "order 1) or try another solver (solver='SCS'; for the penalized lasso "
                          "solver='auto' or 'prox', nnlasso's native solver)") from exc
    except TypeError as exc:  # an option the solver does not know
        raise InvalidProblemError(f"solver options: {exc}; see the {solver} documentation") from exc
    total = time.perf_counter() - t0
    compile_t = float(problem.compilation_time or 0.0)
    status = STATUS_MAP.get(problem.status, "error")
    return {"status": status, "cvxpy_status": problem.status, "compile": compile_t,
            "solve": max(total - compile_t, 0.0)}
