"""Solve the activation-pattern program: :func:`solve_patterns` (given patterns) and
:func:`fit_patterns` (enumerated or sampled patterns)."""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from .. import backends
from .._validation import as_matrix, check_lam
from ..affine import skip_parts
from ..duality import certified_status, gaps
from ..errors import InvalidProblemError
from ..losses import get_loss
from .._logging import progress
from .dual_barrier import native_solver
from .program import PatternProgram
from .sampling import _unique_rows, enumerate_patterns, sample_patterns
from .solution import PatternSolution

logger = logging.getLogger(__package__)   # "nnlasso.patterns": the documented logger name


def _check_patterns(patterns: Any, N: int) -> np.ndarray:
    if isinstance(patterns, tuple) and len(patterns) == 3:
        raise InvalidProblemError("patterns: got a tuple of 3 items, as returned by "
                                  "sample_patterns (patterns, G, h); pass its first item: "
                                  "pats, G, h = sample_patterns(X, n); solve_patterns(X, Y, "
                                  "lam, pats)")
    try:
        arr = np.asarray(patterns)
    except ValueError as exc:
        raise InvalidProblemError(f"patterns: cannot be read as a (P, N) 0/1 array ({exc}); pass "
                                  "a boolean array, e.g. the first item of sample_patterns(X, n)"
                                  ) from None
    if arr.ndim == 1 and N == arr.size:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != N:
        raise InvalidProblemError(f"patterns: expected a (P, N) 0/1 array with N = {N} columns "
                                  f"(one per sample), got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.all(np.isin(arr, [0, 1])):
            raise InvalidProblemError("patterns: entries must be 0/1 (or booleans): row i is the "
                                      "activation pattern 1[X g_i - h_i >= 0]")
        arr = arr.astype(bool)
    arr = arr[arr.any(axis=1)]
    if arr.shape[0] == 0:
        raise InvalidProblemError("patterns: every pattern is all-zero (no block touches the fit); "
                                  "use enumerate_patterns(X) or sample_patterns(X, n)")
    return _unique_rows(np.ascontiguousarray(arr))


#: ``working_set="auto"`` uses the working-set loop when B N (cone rows; B (d+1) gated) exceeds this
_WS_AUTO_SIZE = 20_000



def solve_patterns(X: Any, Y: Any, lam: float, patterns: Any, *, loss: str = "squared",
                   skip: Any = True, cone: bool = True, bias: str | None = None,
                   solver: str = "auto", tol: float = 1e-8, options: dict | None = None,
                   active_tol: float = 1e-6, gates: tuple | None = None,
                   working_set: bool | str = "auto", max_rounds: int = 50,
                   verbose: bool = False) -> PatternSolution:
    """Solve the activation-pattern group lasso (cone-constrained or gated) for one output.

    Program (Xl = [X, -1], theta_k = (u_k, beta_k), block k has pattern D_{p(k)} and sign
    sigma_k = +1 / -1 for the primed blocks; F c the free affine part C x + c0)::

        min  sum_n L(y_n, z_n) + lam * sum_k |u_k|_2          (|theta_k|_2 if bias="penalized")
        z  = sum_k sigma_k D_{p(k)} Xl theta_k + F c
        s.t. (2 D_{p(k)} - I) Xl theta_k >= 0                 (cone=True only)

    It is built vectorized: theta is one variable (B, d+1) (B = 2P with cones, P gated), the fit
    is one sparse (N, B(d+1)) operator with entries D_{p(k)}[n] sigma_k Xl[n, j], the cone
    constraints one sparse block-diagonal inequality with entries (2D-1)[n, p(k)] Xl[n, j].

    **Duality gap (nnlasso's own).** The Lagrange dual is

        max_{q, mu >= 0}  -sum_n L*(-q_n)
        s.t. F^T q = 0,  and for every block k, with w_k = sigma_k D_k q + (2D_k - I) mu_k:
             |X^T w_k|_2 <= lam  and  1^T w_k = 0          (unpenalized bias)
             |Xl^T w_k|_2 <= lam                            (penalized bias)

    (mu_k = 0 without cones). nnlasso takes q = -grad L at the returned fit, projected onto
    the orthogonal complement of the free columns F (the skip [X 1] or [1]; for the gated
    program with unpenalized bias also every D_i 1, whose coefficients are free; with cones
    and unpenalized bias also 1 when the all-one pattern is present, since then u = 0,
    beta free is a free constant). For each block it takes the solver's multipliers of its
    cone constraints as mu_k, makes the bias equality exact by moving one mu_n (the cheapest
    feasible move), and, when that candidate violates |X^T w_k| <= lam, re-solves mu_k by a
    small nonnegative least-squares problem  min_{mu >= 0} |X^T w_k|^2 + rho^2 (1^T w_k)^2
    (rho = 1e4 max(1, max|X|)) followed by the same exact repair, keeping the better candidate.
    The bias equality thus holds up to floating-point rounding. Finally (q, mu) is scaled by
    t = 1 / max(1, max_k |X^T w_k| / lam), which keeps every equality and mu >= 0, and the dual
    value -sum L*(-t q) is a lower bound on the optimum over the given patterns. If some block
    admits no mu with the equality (cannot happen with a free intercept), the dual value is
    -inf and the gap inf.

    Parameters
    ----------
    X : array (N, d);  Y : array (N,) or (N, 1)
        Inputs and targets (labels in {0, 1} / {-1, +1} for ``loss="logistic"``).
    lam : float > 0
        Regularization, unaveraged loss (sum over samples, docs/math.md).
    patterns : bool array (P, N)
        Activation patterns (:func:`enumerate_patterns`, :func:`sample_patterns`); all-zero and
        duplicate rows are dropped.
    loss : "squared" | "logistic"
    skip : True (C x + c0, C on X), an (N, p) array (C on it, plus c0), "intercept" (c0) or None
    cone : bool
        Cone constraints (exact ReLU program) or the gated-ReLU relaxation.
    bias : "unpenalized" | "penalized" | None
        None: "unpenalized" with cones, "penalized" without (see the module docstring).
    solver, tol, options : backend solver name (CVXPY; the default "auto" is CLARABEL, since
        the native solver does not take cones or pattern blocks), tolerance, extra options. CLARABEL
        uses its multithreaded supernodal "faer" factorization unless ``options`` says otherwise.
        The gated logistic program with the penalized bias and ``skip=None`` is solved by
        nnlasso's own barrier method on its N-dimensional dual
        (:mod:`nnlasso.patterns.dual_barrier`) when ``solver`` and ``working_set`` are both
        "auto" (``inner`` "DUAL_BARRIER"); CLARABEL takes over if it cannot start or certify
        max(tol, 1e-6).
    active_tol : float
        Block k is a neuron iff its norm > active_tol * max norm.
    gates : optional (G, h) stored on the solution.
    working_set : True | False | "auto"
        Solve through the working-set loop below (True) or as one program over all blocks and
        all N cone rows (False). "auto" (default) uses the loop when B N > 20000 (cone) or
        B (d+1) > 20000 (gated), B the number of blocks.
    max_rounds : int
        Cap on the loop's restricted solves; when it stops early the certificate (over all
        blocks and rows) says so: the status is then not "optimal".
    verbose : bool
        Log one line per working-set round at INFO on the logger ``"nnlasso.patterns"``
        (shown on stderr unless the application has configured logging); without it the lines
        go out at DEBUG. Nothing is printed to stdout.

    Returns
    -------
    PatternSolution
        ``info["working_set"]`` holds the loop's rounds, final working blocks and rows, and a
        per-round history (blocks, rows, objective, rel_gap, added rows, violating blocks).

    Notes
    -----
    **Working set** (``working_set=True``). Most blocks are zero at the optimum and most of the
    N cone rows of a nonzero block are slack (measured on diabetes, 200 patterns, lam = 0.01:
    263 of 400 blocks nonzero, each with about 9 rows of 442 active), so the loop solves
    restricted programs with the same backend:

    1. q0 = the dual point of the zero network (-grad L(0), projected off the free columns);
       each block's ratio r_k = min_{mu >= 0} |Xc^T (sigma_k D_k q0 + S_k mu)| / lam (Xc = Xl
       penalized, X unpenalized; NNLS), i.e. |Proj_{K_k}(c_k)| / lam with c_k = sigma_k Xl^T
       D_k q0 and K_k = {theta : S_k Xl theta >= 0} for the penalized bias. The working set
       starts with the max(10, N/2) blocks of largest r_k > 1, most violated first, as many
       as bring at most 2e6 fit nonzeros min(|D_k|, N - |D_k|) (d+1) (at least one).
    2. An entering block k gets the 24 cone rows of least slack S_k Xl v_k / |xl_n| along its
       steepest feasible direction v_k = Xl^T (sigma_k D_k q + S_k mu_k) (the projection of
       c_k onto K_k), plus the support of mu_k.
    3. Solve the program restricted to the working blocks (all others 0) and their rows; for
       a block with |D_k| > N/2 the fit is written through the complement pattern, sigma_k
       (Xl theta_k - (I - D_k) Xl theta_k), with sum_k sigma_k theta_k one shared variable.
       With the squared loss and c = m (d+1) + (free columns) <= N fit columns F (m working
       blocks), the loss is written 1/2 |R w - Q^T y|^2 + 1/2 |(I - Q Q^T) y|^2 through the
       thin QR F = Q R (a residual of c entries instead of N; CLARABEL then factors with faer):
       measured at N = 5000, d = 20, 50 blocks, 7-8x less time per restricted solve.
    4. Rows: for every working block with a row of slack < -1e-8 |xl_n| max_j |theta_j|, add
       the rows of slack < 1e-3 |theta_k| |xl_n| (the violated ones included), at most 10
       per block and round, least slack first. Before the next round, the rows of a nonzero
       working block with slack > 1e-2 |theta_k| |xl_n| leave its program, each row at most
       once per block (a row dropped and re-added stays). Far rows only slow the interior
       point down (1000 cone patterns, lam = 0.01: 0.76-0.84x the CPU time of adding every
       near row and dropping none, 11 rounds instead of 9; docs/benchmarks.md).
    5. Blocks: nnlasso's certificate below, over ALL blocks and ALL rows (multipliers of the
       rows outside the program are 0 before the NNLS re-solve; the working blocks keep the
       solver's multipliers, re-solved by NNLS only in a round that added no row, i.e. one
       that may be the last). Working blocks that are zero (|theta_k| <= 1e-6 max) with
       r_k < 0.999 leave the set; the max(10, N/2) outside blocks with the largest r_k > 1
       enter, within the same budget of fit nonzeros as in 1.
    6. Stop when no row was added and either the certified relative gap is <= ``tol`` or no
       block violates (r_k <= 1 outside the set: the restricted optimum is then optimal for
       the full program, up to the solver's accuracy), or after ``max_rounds`` solves.
    7. If the certified gap is then above ``tol`` and CLARABEL reported the last restricted
       solve inaccurate, that program is solved once more with static regularization 1e-10
       and the point with the smaller certified gap is kept (``regularization_retry``).

    A restricted solve on which the backend fails (Clarabel's "InsufficientProgress", a CVXPY
    SolverError) is made once more with the adapter's failure-retry options (CLARABEL:
    ``max_step_fraction`` 0.9; ``failure_retries`` counts them); without the working set, an
    inaccurate solve whose certified gap exceeds ``tol`` is re-solved with them too and the
    point with the smaller certified gap is kept (``inaccurate_retry``). Options the user set
    are never overridden.

    A relaxed (row-restricted) program's optimum is only a lower bound and may be infeasible:
    the status is "optimal" only when the certified gap is within max(tol, 1e-6) and no cone
    row of any block is violated by more than 1e-6 |xl_n| max_k |theta_k|. CLARABEL runs the
    restricted programs with its QDLDL factorization (measured 2x faster than faer on them)
    unless ``options`` names a ``direct_solve_method``.

    Recovery: active block k gives w = u_k / sqrt(n_k), b = beta_k / sqrt(n_k),
    v = sigma_k sqrt(n_k) with n_k = |u_k| (|theta_k| for penalized bias); inactive blocks are
    dropped.

    The all-one pattern with cones and an unpenalized bias: its two blocks give
    X (u - u') - (beta - beta') with beta, beta' only bounded above, i.e. a linear term plus a
    *free constant* (an unbounded optimal set that interior-point solvers handle badly). The
    program therefore replaces them by a free intercept c0 and, when there is no linear skip
    (with one they are redundant and dropped), one unconstrained block X u_lin penalized by
    lam |u_lin| (no beta). Recovery: u_lin becomes the neuron w = u_lin / sqrt|u_lin|,
    b = min_n w . x_n (active on every sample), v = sqrt|u_lin|, with c0 += v b; without an
    output bias in the model (skip=None) the constant c0 becomes the neuron w = 0,
    b = -|c0|, v = sign(c0), which costs no path norm (it is the limit that the
    unpenalized-bias convention allows).
    """
    t_start = time.perf_counter()
    ctx = _build(X, Y, lam, patterns, loss=loss, skip=skip, cone=cone, bias=bias, solver=solver,
                 tol=tol, options=options, working_set=working_set)
    return _solve_built(ctx, active_tol=active_tol, gates=gates, max_rounds=max_rounds,
                        verbose=verbose, t_start=t_start, t_build=time.perf_counter() - t_start
                        )[0]


def _build(X: Any, Y: Any, lam: float, patterns: Any, *, loss: str, skip: Any, cone: bool,
           bias: str | None, solver: str, tol: float, options: dict | None,
           working_set: bool | str) -> dict:
    """The checked problem of :func:`solve_patterns` and its :class:`PatternProgram` (at
    ``lam``; the program's arrays do not depend on lam, ``prog.lam`` may be changed)."""
    pb = _prepare(X, Y, lam, patterns, loss, skip, cone, bias)
    X, T, lossobj, lam, bias, M = pb["X"], pb["T"], pb["loss"], pb["lam"], pb["bias"], pb["M"]
    N, d = X.shape
    P = M.shape[0]
    # second-order cones (not a QP), plus the loss's own cones (the exponential cone of the
    # logistic loss): a backend without them is refused, "auto" skips it
    solver_name = backends.resolve(solver, is_qp=False, cones=lossobj.cones)
    opts = dict(options or {})
    e = d + 1
    nb = 2 if cone else 1
    B = nb * P
    use_ws = _use_working_set(working_set, B * (N if cone else e))
    # the memory guard (nnlasso.memory) before anything of the problem's size is built: the
    # one program holds the dense blocks D_i [X, -1]; the working set the (N, B) arrays of
    # the certificate and a restricted program within the entry budget
    from ..memory import check_memory, check_working_set_memory
    fix = "pass fewer patterns (sample_patterns / n_patterns) or fewer samples"
    if use_ws:
        entry = PatternProgram.entry_nnz
        fit_nnz = min(B * (N // 2) * e, entry if entry is not None else B * N * e)
        fit_cols = 0
        if lossobj.name == "squared" and PatternProgram.compress_ratio is not None:
            # a compressed restricted program: dense fit columns (N, c) and its c x c R
            fit_cols = min(int(PatternProgram.compress_ratio * N), B * e + 2 * d + 1)
            fit_nnz = max(fit_nnz, fit_cols * (fit_cols + 1) // 2)
        check_working_set_memory(N, P, B, cone=bool(cone), fit_nnz=fit_nnz, fit_cols=fit_cols,
                                 what="patterns", fix=fix)
    else:
        check_memory(N, d, T.shape[1], B * e, what="patterns",
                     fix=fix + ", or solve by the working set (working_set=True)")
    bpat = np.tile(np.arange(P), nb)
    bsign = np.repeat(np.array([1.0, -1.0])[:nb], P)
    prog = PatternProgram(X, T, lam, lossobj, M, bpat, bsign, cone=bool(cone), bias=bias,
                          X_skip=pb["X_skip"], intercept=pb["intercept"],
                          lin_block=pb["lin_block"], solver=solver_name, tol=tol, options=opts)
    # the backend's factorization for repeated restricted solves or one program (measured:
    # nnlasso.backends.ADAPTERS)
    prog.options = backends.adapter(solver_name).factorization_options(opts, repeated=use_ws)
    return {"pb": pb, "prog": prog, "use_ws": use_ws, "solver": solver,
            "solver_name": solver_name, "bpat": bpat, "bsign": bsign, "P": P, "B": B,
            "cone": cone, "tol": tol, "opts": opts,
            "native": native_solver(solver, working_set, prog, use_ws)}


def _solve_built(ctx: dict, *, active_tol: float, gates: tuple | None, max_rounds: int,
                 verbose: bool, t_start: float, t_build: float, start: dict | None = None
                 ) -> tuple[PatternSolution, dict]:
    """Solve the built program ``ctx`` (:func:`_build`) at ``ctx["prog"].lam``: the working-set
    loop (from ``start``, see :meth:`PatternProgram.solve_working_set`) or the one program;
    returns the :class:`PatternSolution` and the final certificate (q, ratios, mu)."""
    pb, prog, use_ws, solver = ctx["pb"], ctx["prog"], ctx["use_ws"], ctx["solver"]
    solver_name, bpat, bsign, P, B = (ctx["solver_name"], ctx["bpat"], ctx["bsign"], ctx["P"],
                                      ctx["B"])
    cone, tol, lam, lossobj, bias = ctx["cone"], ctx["tol"], prog.lam, pb["loss"], pb["bias"]
    X, T, M = pb["X"], pb["T"], pb["M"]
    N, d = X.shape
    native = None
    if ctx.get("native") is not None:
        # a native solver of this program (nnlasso.patterns.dual_barrier) instead of CVXPY;
        # None when it cannot start (the CVXPY path below then solves it)
        with progress(logger, verbose) as level:
            native = ctx["native"](prog, max_rounds=max_rounds, level=level, start=start)
    if native is not None:
        res, ev, cert, ws_info = native
        t_dual = ws_info["total"] - ws_info["solve"]
        solver_name = ws_info["method"].upper()
    elif use_ws:
        with progress(logger, verbose) as level:
            res, ev, cert, ws_info = prog.solve_working_set(max_rounds=max_rounds,
                                                            level=level, start=start)
        t_dual = ws_info["total"] - ws_info["solve"] - ws_info["compile"]
        res = {**res, "compile": ws_info["compile"], "solve": ws_info["solve"]}
    else:
        res = prog.solve(np.arange(B), None)
        ws_info = {"rounds": 1, "blocks": B, "rows": B * N if cone else 0,
                   "failure_retries": prog.failure_retries, "inaccurate_retry": None}
        t_dual0 = time.perf_counter()
        ev = prog.evaluate(res)
        cert = prog.certify(ev["zfit"], res["mu"])
        rg = prog.rel_gap(ev["objective"], cert["dual"])
        t_dual = time.perf_counter() - t_dual0
        # an inaccurate solve whose certified gap misses tol: once more with the backend's
        # failure-retry options (CLARABEL: max_step_fraction 0.9; measured on breast cancer,
        # 5 cone patterns, logistic, lam = 0.1: rel gap 5.4e-4 -> 1.3e-8); the point with the
        # smaller certified gap is kept
        retry_opts = backends.adapter(solver_name).failure_retry_options(prog.options)
        if rg > tol and res["status"] != "optimal" and retry_opts is not None:
            prog.options, saved = retry_opts, prog.options
            try:
                res2 = prog.solve(np.arange(B), None)
            finally:
                prog.options = saved
            t_dual0 = time.perf_counter()
            ev2 = prog.evaluate(res2)
            cert2 = prog.certify(ev2["zfit"], res2["mu"])
            rg2 = prog.rel_gap(ev2["objective"], cert2["dual"])
            t_dual += time.perf_counter() - t_dual0
            ws_info["inaccurate_retry"] = {"rel_gap_before": rg, "rel_gap_after": rg2}
            res2 = {**res2, "compile": res["compile"] + res2["compile"],
                    "solve": res["solve"] + res2["solve"]}
            if rg2 < rg:
                res, ev, cert = res2, ev2, cert2
            else:
                res = {**res, "compile": res2["compile"], "solve": res2["solve"]}
        ws_info["failure_retries"] = prog.failure_retries
    th = res["th"]
    gap, rel_gap = gaps(ev["objective"], cert["dual"])
    net = _recover_network(X, res, ev, bsign, active_tol, pb["lin_block"], pb["const_neuron"])
    net_obj = _network_objective(X, T, lam, lossobj, net, bias, pb["X_skip"])
    status = certified_status(res["status"], rel_gap, tol)
    # the gap certifies a point only if it is feasible: a cone row violated by more than
    # 1e-6 |xl_n| max_k |theta_k| (a row left out of the working set) is not "optimal"
    scale = float(np.max(np.linalg.norm(th, axis=1))) if B else 0.0
    if cone and status == "optimal" and scale > 0 and B:
        rel_viol = ev["max_row_violation"] / scale
        if rel_viol > 1e-6:
            status = "optimal_inaccurate"
    from ..lasso import requested_name
    times = {"build": t_build, "compile": res["compile"], "solve": res["solve"],
             "dual": t_dual, "total": time.perf_counter() - t_start}
    sol = PatternSolution(
        W=net["W"], b=net["b"], V=net["V"], skip_coef=net["skip_coef"],
        intercept=net["intercept"], objective=ev["objective"], dual_objective=cert["dual"],
        gap=float(gap), rel_gap=rel_gap, status=status,
        solver=requested_name(solver, solver_name), inner=solver_name, times=times,
        n_patterns=P, cone=bool(cone), bias=bias, lam=lam, loss=lossobj.name, patterns=M,
        U=th[:, :d].copy(), beta=th[:, d].copy(), block_pattern=bpat,
        block_sign=bsign.astype(int), active=net["active"], fitted=ev["zfit"],
        network_objective=net_obj, max_violation=ev["max_violation"],
        dual_ratio=cert["dual_ratio"], gates=gates,
        info={"cvxpy_status": res["cvxpy_status"], "classes": pb["classes"],
              "data_loss": float(ev["data_loss"]), "working_set": ws_info})
    return sol, cert


def _prepare(X: Any, Y: Any, lam: float, patterns: Any, loss: str, skip: Any, cone: bool,
             bias: str | None) -> dict:
    """Checked inputs of :func:`solve_patterns`: X, encoded targets T (N, 1), the loss, lam,
    the bias convention, the skip (X_skip, intercept), the patterns M (P, N) and the all-one
    pattern's replacement (lin_block, const_neuron; see solve_patterns, Notes)."""
    lossobj = get_loss(loss)
    if lossobj.name == "softmax":
        raise InvalidProblemError("loss='softmax': the activation-pattern program is exact only "
                                  "for one output (D = 1); for several outputs the exact program "
                                  "is not a group lasso: use a neuron dictionary (fit_shallow with "
                                  "dictionary='data' or 'adaptive')")
    X = as_matrix(X, "X", allow_1d=True)
    N = X.shape[0]
    Yarr = np.asarray(Y)
    if Yarr.ndim == 2 and Yarr.shape[1] != 1:
        raise InvalidProblemError(f"Y: has {Yarr.shape[1]} outputs; the activation-pattern program "
                                  "is exact only for one output (D = 1): for D > 1 the exact "
                                  "program is not a group lasso, use a neuron dictionary "
                                  "(fit_shallow with dictionary='data' or 'adaptive')")
    if Yarr.ndim not in (1, 2):
        raise InvalidProblemError(f"Y: expected shape (N,) or (N, 1), got {Yarr.shape}")
    if Yarr.shape[0] != N:
        raise InvalidProblemError(f"Y: has {Yarr.shape[0]} rows but X has {N}")
    if lossobj.name == "squared":
        as_matrix(Yarr, "Y", allow_1d=True)
    targets = lossobj.encode(Yarr)
    lam = check_lam(lam)
    if bias is None:
        bias = "unpenalized" if cone else "penalized"
    if bias not in ("unpenalized", "penalized"):
        raise InvalidProblemError(f"bias: expected 'unpenalized' or 'penalized', got {bias!r}")
    X_skip, intercept = skip_parts(skip, N, X=X)
    M = _check_patterns(patterns, N)                       # (P, N)
    # unpenalized bias + cones: the all-one pattern's pair of blocks is an affine function with
    # a free constant (u = 0, beta free), so it is replaced by a free intercept plus, without a
    # linear skip, one unconstrained penalized linear block X u_lin (redundant with the skip)
    lin_block = const_neuron = False
    if cone and bias == "unpenalized" and np.any(M.all(axis=1)):
        M = M[~M.all(axis=1)]
        lin_block = X_skip is None
        const_neuron = not intercept
        intercept = True
    if M.shape[0] == 0:
        raise InvalidProblemError("patterns: only the all-one pattern was given; with an "
                                  "unpenalized bias it is an affine model (use the skip); pass "
                                  "more patterns")
    return {"X": X, "T": targets.T, "classes": targets.classes, "loss": lossobj, "lam": lam,
            "bias": bias, "X_skip": X_skip, "intercept": intercept, "M": M,
            "lin_block": lin_block, "const_neuron": const_neuron}


def _use_working_set(working_set: Any, size: int) -> bool:
    """The ``working_set`` argument: True, False, or "auto" (the loop when ``size``, the
    number of cone rows B N or gated entries B (d+1), exceeds _WS_AUTO_SIZE)."""
    if isinstance(working_set, str) and working_set == "auto":
        return size > _WS_AUTO_SIZE
    if isinstance(working_set, (bool, np.bool_)):
        return bool(working_set)
    raise InvalidProblemError(f"working_set: expected True, False or 'auto', got "
                              f"{working_set!r}")


def _recover_network(X: np.ndarray, res: dict, ev: dict, bsign: np.ndarray, active_tol: float,
                     lin_block: bool, const_neuron: bool) -> dict:
    """The balanced ReLU network of a program point (see solve_patterns, Notes: Recovery):
    W, b, V, skip_coef, intercept and the indices of the active blocks."""
    d = X.shape[1]
    th, Cval, c0val, ulv = res["th"], res["C"], res["c0"], res["ulin"]
    bnorm, lin_norm = ev["bnorm"], ev["lin_norm"]
    top = max(float(np.max(bnorm)) if th.shape[0] else 0.0, lin_norm)
    act = np.flatnonzero(bnorm > active_tol * top) if top > 0 else np.zeros(0, dtype=np.intp)
    sq = np.sqrt(bnorm[act])
    W_net = th[act, :d] / sq[:, None]
    b_net = th[act, d] / sq
    V_net = (bsign[act] * sq)[:, None]
    skip_coef = None if Cval is None else Cval.reshape(-1, 1).copy()
    icpt = None if c0val is None else np.array([c0val])
    extra_W, extra_b, extra_V = [], [], []
    if lin_block and top > 0 and lin_norm > active_tol * top:
        # relu(w . x - b) with b = min_n w . x_n is linear on the data: v (X w - b) = X u_lin - v b
        w_l = ulv / np.sqrt(lin_norm)
        b_l = float(np.min(X @ w_l))
        v_l = np.sqrt(lin_norm)
        extra_W.append(w_l)
        extra_b.append(b_l)
        extra_V.append(v_l)
        icpt[0] += v_l * b_l
    if const_neuron:
        # no output bias in the model: the free constant c is the neuron relu(0 . x + |c|) sign(c)
        c = float(icpt[0])
        icpt = None
        if c != 0.0:
            extra_W.append(np.zeros(d))
            extra_b.append(-abs(c))
            extra_V.append(np.sign(c))
    if extra_W:
        W_net = np.vstack([W_net, np.array(extra_W)])
        b_net = np.concatenate([b_net, np.array(extra_b)])
        V_net = np.vstack([V_net, np.array(extra_V)[:, None]])
    return {"W": W_net, "b": b_net, "V": V_net, "skip_coef": skip_coef, "intercept": icpt,
            "active": act}


def _network_objective(X: np.ndarray, T: np.ndarray, lam: float, lossobj: Any, net: dict,
                       bias: str, X_skip: np.ndarray | None) -> float:
    """Data loss of the recovered network (plain NumPy relu) + lam * its path norm."""
    W, b, V = net["W"], net["b"], net["V"]
    out = np.maximum(X @ W.T - b[None, :], 0.0) @ V[:, 0]
    if net["skip_coef"] is not None:
        out = out + X_skip @ net["skip_coef"][:, 0]
    if net["intercept"] is not None:
        out = out + net["intercept"][0]
    if bias == "penalized":
        wn = np.sqrt(np.sum(W ** 2, axis=1) + b ** 2)
    else:
        wn = np.linalg.norm(W, axis=1)
    return float(lossobj.value(out[:, None], T) + lam * np.sum(wn * np.abs(V[:, 0])))


def fit_patterns(X: Any, Y: Any, lam: float | None = None, *, lams: Any = None,
                 n_patterns: int | None = None, seed: Any = None, cone: bool = True,
                 max_patterns: int = 100_000, **kw: Any
                 ) -> PatternSolution | list[PatternSolution]:
    """Enumerate (``n_patterns=None``) or sample activation patterns, then :func:`solve_patterns`
    (``lam``) or the lam path :func:`~nnlasso.patterns.pattern_path` (``lams``) on them.

    Parameters
    ----------
    X, Y, lam : the training problem (see :func:`solve_patterns`).
    lams : sequence of float > 0, instead of ``lam``: solve the program for every value on the
        same patterns (warm-started working sets; :func:`~nnlasso.patterns.pattern_path`) and
        return a list of solutions in the order of ``lams``.
    n_patterns : None (all patterns, exact; refused above ``max_patterns``) or the number of
        sampled gates (:func:`sample_patterns`, duplicates removed).
    seed : seed of the sampler.
    cone : cone-constrained (exact ReLU) program or gated-ReLU relaxation.
    **kw : passed to :func:`solve_patterns` (loss, skip, bias, solver, tol, options, active_tol,
        working_set, max_rounds, verbose; with ``lams`` also ``screen``, ``warm_solver``).

    Returns
    -------
    PatternSolution (``lam``) or list of PatternSolution (``lams``; the pattern time is on the
    first solve of the path, the largest lam, as its build time).
    """
    if (lam is None) == (lams is None):
        raise InvalidProblemError("lam / lams: pass exactly one of them: lam (one solve) or lams "
                                  "(the lam path, e.g. lams=np.geomspace(1.0, 1e-3, 20))")
    Xm = as_matrix(X, "X", allow_1d=True)
    if lams is not None:
        from .path import _check_lams
        lams = _check_lams(lams)           # before the patterns are enumerated or sampled
    t0 = time.perf_counter()
    gates = None
    if n_patterns is None:
        pats = enumerate_patterns(Xm, max_patterns=max_patterns)
    else:
        pats, G, h = sample_patterns(Xm, n_patterns, seed=seed)
        gates = (G, h)
    t_pat = time.perf_counter() - t0
    if lams is not None:
        from .path import pattern_path
        sols = pattern_path(Xm, Y, lams, pats, cone=cone, gates=gates, **kw)
        first = next(s for s in sols if s.info["path"]["step"] == 0)
        first.times["patterns"] = t_pat
        first.times["total"] += t_pat
        return sols
    sol = solve_patterns(Xm, Y, lam, pats, cone=cone, gates=gates, **kw)
    sol.times["patterns"] = t_pat
    sol.times["total"] += t_pat
    return sol
