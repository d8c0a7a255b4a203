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

Every fact about one solver lives in its :class:`Adapter` (:data:`ADAPTERS`): the Python package,
the cones it takes, the map of its statuses onto nnlasso's, the mapping of nnlasso's ``tol``
onto its options, the options of its one retry and of its linear-system factorization. The
policies that pick a solver for nnlasso (``"auto"`` per program, the backend that finishes a
stalled native solve) are the constants below. Every module solves a CVXPY problem through
:func:`solve_cvxpy` and names solvers only through the user's ``solver=`` value and ``"auto"``.
"""
from __future__ import annotations

import importlib.util
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, NamedTuple

from .errors import InvalidProblemError, SolverError

SUPPORTED = ("CLARABEL", "SCS", "OSQP", "ECOS")
#: ``solver="auto"``: the first installed of these (every program but (MIN); see the docstring)
AUTO_ORDER = ("CLARABEL", "ECOS", "SCS")
#: ``solve_min_norm(..., solver="auto")``: SCS first, CLARABEL when SCS fails or its point is
#: not certified. Equality form (eps = 0), diabetes features 442 x K with Psi = Phi V of a few
#: neurons (2-core machine under load, wall seconds, both certified): K = 500, D = 3: SCS 2.2 s
#: vs CLARABEL 6.4 s; K = 1000, D = 5: SCS 17.6 s (rel gap 7e-10) vs CLARABEL 124.6 s
#: ("optimal_inaccurate", rel gap 1.3e-6); K <= 200: both 0.2-0.5 s. Tolerance form: measured
#: (2-core machine under load; wall / CPU seconds; same certified objective): digits layer
#: N = 1257, K = 256, D = 10, eps = 0.05: SCS 16.6 s, CLARABEL 35.0 and 59.9 s; eps = 0.01:
#: SCS 11.5 s, CLARABEL 42.7 s; a (128, 64) digits network, eps = 0.05 per layer: layer 1 SCS
#: 27.0 s vs CLARABEL 155.7 s (131.3 s rerun), layer 2 9.0 s vs 18.0 s; 120 x 40 teacher
#: layer: both 0.1-0.3 s. CLARABEL's certified gaps were also larger (1e-7..9e-7 against
#: SCS's 1e-9..1e-8). Tolerance form by size (scripts/bench_min_norm_eps.py, an MLP's hidden
#: layer, eps = 0.05, BLAS pinned to one thread, medians of 3): N x width 200 x 16 .. 2000 x 64
#: within 10 ms of each other, 600 x 256 and 2000 x 256 SCS 0.30 / 0.49 s vs CLARABEL 0.53 /
#: 0.73 s: no size rule (docs/benchmarks.md).
MIN_NORM_AUTO_ORDER = ("SCS", "CLARABEL")
#: the backend that finishes a working set on which the native restricted solver stalled
#: (nearly collinear columns; see :func:`nnlasso.lasso.solve._solve_working_set`)
STALL_FALLBACK = "CLARABEL"
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
#: importing this module, e.g. to check a solver name in a problem file, does not import CVXPY).
#: CVXPY already brings each solver's own statuses to these names (Clarabel's "AlmostSolved" is
#: "optimal_inaccurate", its "MaxIterations" "user_limit"), so every adapter starts from it.
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
#: nnlasso statuses after which a backend's point is not used
UNUSABLE = ("error", "infeasible")
#: the cones an adapter may take beyond linear constraints and quadratic objectives
CONES = ("soc", "exp")


def _clarabel_tolerance(tol: float) -> dict[str, Any]:
    # kept tight: relaxing to tol (the polish does the last digits when nnlasso's gap misses
    # tol) saved 10-30 % of the solve, but leaves ~1e-6 relative dust on rows that are zero
    # at the optimum whenever the gap is already below tol (no polish then)
    t = max(tol * 1e-3, 1e-14)
    return {"tol_gap_abs": t, "tol_gap_rel": t, "tol_feas": t, "tol_ktratio": 1e-8,
            "max_iter": 500}


def _scs_tolerance(tol: float) -> dict[str, Any]:
    return {"eps_abs": tol, "eps_rel": tol, "max_iters": 200_000}


def _osqp_tolerance(tol: float) -> dict[str, Any]:
    return {"eps_abs": tol, "eps_rel": tol, "polish": True, "max_iter": 200_000}


def _ecos_tolerance(tol: float) -> dict[str, Any]:
    t = max(tol * 1e-2, 1e-13)
    return {"abstol": t, "reltol": t, "feastol": t, "max_iters": 500}


@dataclass(frozen=True)
class Adapter:
    """What nnlasso knows about one CVXPY backend.

    Attributes
    ----------
    name : CVXPY's name of the solver.
    package : the Python package CVXPY drives it through (looked up without importing CVXPY).
    cones : the cones it takes among :data:`CONES` ("soc": group norms, the cone constraints of
        the pattern programs; "exp": the logistic and softmax losses); every adapter takes
        linear constraints and quadratic objectives.
    tolerance : nnlasso's ``tol`` (a target relative duality gap) -> the solver's options.
    install : how to install it when it is missing.
    status_map : CVXPY status -> nnlasso status ("optimal", "optimal_inaccurate",
        "infeasible", "error"); a status it does not list is "error".
    retry : options of one more solve of a program whose answer stopped short of ``tol`` (None:
        no retry); a key the user set is never overridden.
    failure_retry : options of one more solve of a program on which the solver failed (None: no
        retry); a key the user set is never overridden.
    factorization : ``(option, for repeated restricted solves, for one-shot solves)``: the
        solver's choice of linear-system factorization (None: the solver's default).
    """

    name: str
    package: str
    cones: frozenset[str]
    tolerance: Callable[[float], dict[str, Any]]
    install: str = ""
    status_map: Mapping[str, str] = field(default_factory=lambda: STATUS_MAP)
    retry: Mapping[str, Any] | None = None
    failure_retry: Mapping[str, Any] | None = None
    factorization: tuple[str, str, str] | None = None

    def takes(self, cone: str) -> bool:
        """Whether the solver takes the cone ``cone`` (one of :data:`CONES`)."""
        if cone not in CONES:
            raise ValueError(f"cone: expected one of {CONES}, got {cone!r}")
        return cone in self.cones

    def options(self, tol: float) -> dict[str, Any]:
        """The solver's options for nnlasso's tolerance ``tol``."""
        return self.tolerance(tol)

    def status(self, cvxpy_status: str | None) -> str:
        """nnlasso's status for CVXPY's ``cvxpy_status``."""
        return self.status_map.get(cvxpy_status, "error")

    def retry_options(self, options: Mapping[str, Any]) -> dict[str, Any] | None:
        """``options`` with the retry's settings, or None when there is no retry to make (the
        solver has none, or ``options`` already set one of its keys)."""
        return _with_retry(options, self.retry)

    def failure_retry_options(self, options: Mapping[str, Any]) -> dict[str, Any] | None:
        """``options`` with the settings of the retry of a failed solve, or None when there is
        no retry to make (the solver has none, or ``options`` already set one of its keys)."""
        return _with_retry(options, self.failure_retry)

    def factorization_options(self, options: Mapping[str, Any], repeated: bool
                              ) -> dict[str, Any]:
        """``options`` with the factorization for repeated (working-set) or one-shot solves,
        unless the user chose one."""
        out = dict(options)
        if self.factorization is not None and self.factorization[0] not in out:
            key, many, once = self.factorization
            out[key] = many if repeated else once
        return out


def _with_retry(options: Mapping[str, Any], retry: Mapping[str, Any] | None
                ) -> dict[str, Any] | None:
    if retry is None or any(k in options for k in retry):
        return None
    return {**options, **retry}


#: one adapter per supported backend, in the order of :data:`SUPPORTED`
ADAPTERS: dict[str, Adapter] = {a.name: a for a in (
    Adapter("CLARABEL", "clarabel", frozenset({"soc", "exp"}), _clarabel_tolerance,
            install="pip install clarabel",
            # Clarabel stopped "AlmostSolved" on the final restricted pattern program (seen at
            # small lam: 1000 cone patterns, lam = 0.001, certified gap 1.1e-6): the same
            # program with 100x smaller static regularization reached 1.0e-7 in one more solve
            retry={"static_regularization_constant": 1e-10},
            # Clarabel stopped "InsufficientProgress" (a CVXPY SolverError) at gap 7.8e-4 on a
            # restricted logistic cone pattern program (breast cancer, 30 patterns, lam = 0.01);
            # with the interior-point step capped at 0.9 of the way to the cone boundary it
            # solved (rel gap 2.7e-9)
            failure_retry={"max_step_fraction": 0.9},
            # measured (diabetes patterns, 326 blocks, 26k cone rows): QDLDL 4.2 s, faer 8.6 s
            # for the same 39 iterations; faer is kept for one-shot programs, where it was
            # measured faster
            factorization=("direct_solve_method", "qdldl", "faer")),
    Adapter("SCS", "scs", frozenset({"soc", "exp"}), _scs_tolerance, install="pip install scs"),
    Adapter("OSQP", "osqp", frozenset(), _osqp_tolerance, install="pip install osqp"),
    Adapter("ECOS", "ecos", frozenset({"soc", "exp"}), _ecos_tolerance,
            install="pip install nnlasso[ecos]"),
)}
#: solver name -> the Python package CVXPY drives it through
_PACKAGES = {a.name: a.package for a in ADAPTERS.values()}
#: the backends installed with nnlasso itself (its dependencies), in the order of SUPPORTED
BUNDLED = ("CLARABEL", "SCS", "OSQP")


def adapter(solver: str) -> Adapter:
    """The :class:`Adapter` of the CVXPY solver ``solver`` (a canonical name, see
    :func:`resolve`)."""
    try:
        return ADAPTERS[solver]
    except KeyError:
        raise SolverError(f"solver: no CVXPY backend named {solver!r}; "
                          f"supported: {list(SUPPORTED)}") from None


def alternatives(cone: str) -> str:
    """The bundled backends that take ``cone``, for messages: "CLARABEL or SCS"."""
    return " or ".join(n for n in BUNDLED if ADAPTERS[n].takes(cone))


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


def auto_order(program: str = "default") -> list[str]:
    """The installed backends that ``solver="auto"`` tries, in order, for ``program``:
    "default" (:data:`AUTO_ORDER`; the first one solves) or "min_norm"
    (:data:`MIN_NORM_AUTO_ORDER`; the next takes over when one fails or is not certified)."""
    orders = {"default": AUTO_ORDER, "min_norm": MIN_NORM_AUTO_ORDER}
    if program not in orders:
        raise ValueError(f"program: expected one of {sorted(orders)}, got {program!r}")
    have = installed()
    return [s for s in orders[program] if s in have]


def stall_fallback() -> str | None:
    """The backend that finishes a stalled native restricted solve (:data:`STALL_FALLBACK`), or
    None when it is not installed."""
    return STALL_FALLBACK if STALL_FALLBACK in installed() else None


def resolve(solver: str, *, is_qp: bool = True, native: bool = False,
            size: ProblemSize | None = None, cones: Iterable[str] = ()) -> str:
    """Return the canonical name of ``solver`` or raise with the list of installed ones.

    Parameters
    ----------
    solver : str
        A solver name (case-insensitive), ``"prox"`` (the native solver) or ``"auto"``.
    is_qp : bool
        Whether the program is a QP; otherwise the solver must take second-order cones
        (:meth:`Adapter.takes`), which rules out OSQP.
    native : bool
        Whether the program is the penalized lasso, which the native solver ``"PROX"`` solves.
    size : ProblemSize, optional
        With ``native``, lets ``"auto"`` choose the native solver for large programs
        (:func:`choose`).
    cones : iterable of str
        The cones of :data:`CONES` the program needs besides those that ``is_qp`` implies,
        e.g. ``loss.cones`` (``("exp",)`` for the logistic and softmax losses): a solver that
        lacks one is refused, and ``"auto"`` skips it.
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
    cones = tuple(cones)
    if name == "AUTO":
        for cand in AUTO_ORDER:
            if cand in have and all(ADAPTERS[cand].takes(c) for c in cones):
                return cand
        if cones and any(c in have for c in AUTO_ORDER):
            raise SolverError(f"solver='auto': none of the installed {AUTO_ORDER} takes the "
                              f"{_cone_phrase(cones)} this program needs; install "
                              f"{alternatives(cones[0])}")
        raise SolverError(f"solver='auto': none of {AUTO_ORDER} is installed; "
                          f"{ADAPTERS[AUTO_ORDER[0]].install}")
    if name not in SUPPORTED:
        extra = ["prox", "auto"] if native else ["auto"]
        raise SolverError(f"solver: unknown solver {solver!r}; installed: {have + extra}")
    if name not in have:
        raise SolverError(f"solver: {name} is not installed ({ADAPTERS[name].install}); "
                          f"installed: {have}")
    if not is_qp and not ADAPTERS[name].takes("soc"):
        raise SolverError(f"solver: {name} solves only quadratic programs (squared loss, one "
                          f"output, no groups); use {alternatives('soc')} for this program")
    for cone in cones:
        if not ADAPTERS[name].takes(cone):
            raise SolverError(f"solver: {name} does not take the {_cone_phrase((cone,))} this "
                              f"program needs; use {alternatives(cone)} (or solver='auto')")
    return name


#: what each cone of :data:`CONES` is, for messages
_CONE_USES = {"soc": "second-order cone (group norms, cone constraints)",
              "exp": "exponential cone (the logistic and softmax losses)"}


def _cone_phrase(cones: tuple[str, ...]) -> str:
    return " and the ".join(_CONE_USES.get(c, c) for c in cones)


def option_error(solver: str, key: str, val: Any) -> str | None:
    """Why ``solver`` refuses the option ``key = val``, or None when it takes it.

    The option is tried alone on a two-variable quadratic program (a few milliseconds), so
    unknown names, wrong types and out-of-range values are reported by the solver itself.
    """
    import contextlib
    import io

    import cvxpy as cp
    if key == "verbose":               # logging only: nnlasso keeps stdout clean itself
        return None if isinstance(val, bool) else f"expected true or false, got {val!r}"
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1.0)))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            prob.solve(solver=solver, **{key: val})
    except Exception as exc:  # noqa: BLE001 - any refusal of the option by the solver
        text = " ".join(str(exc).split())
        if not text or text.isdigit():           # e.g. OSQP's bare status code
            text = f"invalid value {val!r}"
        return text[:200]
    return None


def tolerance_options(solver: str, tol: float) -> dict[str, Any]:
    """Map nnlasso's tolerance ``tol`` (a target relative duality gap) onto solver options
    (:meth:`Adapter.options`; ``{}`` for a name without an adapter).

    nnlasso's gap is evaluated at a dual point built from the primal fit, so it is first order in
    the primal error while the solvers' own gaps are measured on their internal (exact) dual
    iterates: the interior-point solvers get a tighter tolerance than ``tol``, and when nnlasso's
    gap still exceeds ``tol``, :meth:`nnlasso.lasso.LassoProblem.finish` polishes the point natively.
    """
    a = ADAPTERS.get(solver)
    return {} if a is None else a.options(tol)


def solve_cvxpy(problem: cp.Problem, solver: str, tol: float, options: dict | None = None,
                warm_start: bool = False, *, require: Iterable[Any] = (),
                unusable: str | None = None) -> dict[str, Any]:
    """Solve a CVXPY problem; return ``{"status", "cvxpy_status", "compile", "solve"}``.

    Parameters
    ----------
    problem : the CVXPY problem.
    solver : a canonical CVXPY solver name (:func:`resolve`).
    tol : nnlasso's tolerance, mapped onto the solver's options (:func:`tolerance_options`).
    options : extra solver options (they override the tolerance mapping).
    warm_start : CVXPY's warm start (a problem solved again with new parameter values).
    require, unusable : with ``unusable``, raise :class:`SolverError`
        ``"{solver} returned status {cvxpy_status!r} {unusable}"`` when the status is one of
        :data:`UNUSABLE` or a variable of ``require`` has no value.

    Raises :class:`SolverError` when the solver crashes or returns no solution,
    :class:`InvalidProblemError` for an option the solver does not know.
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
    a = ADAPTERS.get(solver)
    status = a.status(problem.status) if a is not None else STATUS_MAP.get(problem.status, "error")
    if unusable is not None and (status in UNUSABLE or any(v.value is None for v in require)):
        raise SolverError(f"{solver} returned status {problem.status!r} {unusable}")
    return {"status": status, "cvxpy_status": problem.status, "compile": compile_t,
            "solve": max(total - compile_t, 0.0)}


#: the former name of :func:`solve_cvxpy`
solve = solve_cvxpy
