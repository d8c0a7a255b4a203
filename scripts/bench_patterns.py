"""Benchmark: the activation-pattern programs on diabetes, nnlasso vs pyscnn and adelie.

Problem (all three libraries solve the same program): sklearn's diabetes, X and y standardized
(N = 442, d = 10); gates (g_i, h_i) from ``nnlasso.sample_patterns(X, n, seed=0)``; no skip;
the Pilanci-Ergen bias convention (a ones column appended to X, bias inside the group norm),
which is what pyscnn solves; objective in nnlasso's scaling (unaveraged loss)

    1/2 |y - z|^2 + lam * sum_blocks |(u_i, beta_i)|_2,

gated (z = sum_i D_i [X 1] theta_i) and cone-constrained (two blocks per pattern, (2D_i - I)
[X 1] theta_i >= 0). pyscnn minimizes 1/(2N) |y - z|^2 + lam_s * penalty, so it gets
lam_s = lam / N (and ``unitize_data=False``, float64); its objective is recomputed in nnlasso's
scaling from its returned weights (the convex program's value, D-masked; an AL point may still
violate the cone constraints slightly).

Columns: time (median over ``repeats``, wall clock, includes model building), objective,
active neurons (blocks with norm > 1e-6 * max), gap = objective - nnlasso's certified dual
value at the same lam and gates (for pyscnn rows too: nnlasso's dual bound is valid for any
point), rel_gap = gap / objective. pyscnn's solvers run with their default settings (R-FISTA:
max_iters=10000, tol=1e-6; AL: defaults; CVXPYSolver with ECOS).

Wall-clock limit: each pyscnn row (all its repeats) runs in a child process (this script with
the hidden ``--scnn-child`` arguments, which rebuilds the same data and gates from the seed) and
is killed after ``--row-limit`` seconds (default 600; ``--cone-row-limit`` for the cone rows;
``--row-limit 0`` runs pyscnn in-process without a limit). A killed row reports time = the
limit, no objective, and the note "did not finish in S s". nnlasso rows run in-process.

Pattern counts: the issue asks for 1000 gates; the default run uses 300 gated patterns and 30
cone-constrained ones (column P) so that it stays within ~10 minutes with pyscnn on 2 cores.
Pass ``--n-gated 1000 --n-cone 1000`` to measure the full size. Measured 2026-11-26 that way
(``--repeats 1 --row-limit 600``, shared 2-core machine; docs/benchmarks.md, "1000 sampled
patterns, the lam grid", has the table): gated, lam 0.1 / 0.01 / 0.001, nnlasso 3.8-5.5 s (rel
gap <= 3e-10), pyscnn CVXPY-ECOS 35-41 s (7.0-10.7x, same accuracy), R-FISTA (default tol)
5.5-58 s stopping at rel gap 8e-3 to 0.29; cone, nnlasso working set 58-81 s (rel gap 2e-11,
2e-9, and 1.1e-6 at lam 0.001, 1.0e-7 since the final-solve retry), CVXPY-ECOS 396-509 s
(5.7-7.5x, rel gap 1.7e-7 to 7e-5), AL killed at 600 s at lam 0.1 and 0.01 and stopped at rel
gap 0.40 after 277 s at lam 0.001. (Earlier, once, at lam 0.1: R-FISTA with tol 1e-8 416 s,
rel gap 1.7e-3.)

The 1000 cone-pattern case of issue 7 (nnlasso only, lam = 0.01)::

    python scripts/bench_patterns.py --programs cone --n-cone 1000 --lams 0.01 --no-scnn \
        --repeats 1

Measured 2026-11-26 (2 cores, shared, load average ~1.3, one run each): the working-set solve
(``working_set="auto"``, on at this size) 65.2 s (91.3 s on 2026-11-23 under more load),
objective 1.70359399801, certified rel gap 2.0e-9, 355 neurons, 9 restricted solves, final
working set 387 of 2000 blocks with 21959 of 884000 cone rows; the one-shot CVXPY-Clarabel
program (``--working-set off``) 144.5 s, stopped at rel gap 1.2e-6 (optimal_inaccurate). At
400 patterns the two are even (46.2 vs 49.3 s), at 200 the one-shot is faster at lam = 0.01
(19.0 vs 26.0 s) and slower at lam = 1 (15.6 vs 9.6 s); docs/benchmarks.md has the table.

adelie rows (``pip install adelie``, 1.1.52 measured; optional, like pyscnn: rows say "adelie
not installed" without it, ``--no-adelie`` leaves them out). adelie solves the same programs as a
group lasso on ``adelie.matrix.convex_relu(Z, D)`` with Z = [X 1] and D (N, P) the same gates:
gated, columns [D_1 Z ... D_P Z], P groups; cone, columns [Y, -Y], 2P groups, each with its
group constraint (2 D_i - I) Z theta >= 0 (``adelie.constraint.linear(A, 0, inf)``). Mapping:
``adelie.grpnet`` with ``glm.gaussian(y)`` (weights 1/N), unit penalty factors (adelie's default
is sqrt(group size)), ``intercept=False``, ``alpha=1`` minimizes
(1/N) (1/2 |y - z|^2 - 1/2 |y|^2) + lam_a sum_g |theta_g|, i.e. nnlasso's objective / N up to a
constant when **lam_a = lam / N** (``adelie_lam``; verified by
tests/test_bench_patterns.py::test_adelie_lam_mapping_on_a_tiny_program: on a 40-point,
20-gate case both solve, adelie's point at lam / N is certified by nnlasso's dual to rel gap
<= 1e-6, for both programs, and lam_a = lam gives a point > 1e-2 off). Rows
"program:method:tol" (``--adelie-rows``; default gated path at tol 1e-7 and 1e-10, cone at one
lam and along the path at tol 1e-7): method ``lam`` is one grpnet call at lam_a, ``path`` a
100-value geometric path from adelie's lmda_max down to lam_a (warm starts, adelie's intended
use), tol its coordinate-descent tolerance. Each row's objective is recomputed in nnlasso's
scaling from adelie's coefficients, its gap taken against nnlasso's certified dual value at the
same lam and gates (as for pyscnn); a cone point that violates its constraints by more than
1e-6 (relative, nnlasso's status threshold) says so in the note (its objective is then not that
of a feasible point). adelie rows run in a child process (``--adelie-child``) under the same
wall-clock limits as the pyscnn rows; when adelie's solver fails (it logs the error and returns
the values found before it, e.g. "pinball: max iterations reached" in its constrained solver)
the row reports the time to the failure and adelie's message. In every child the libraries are
imported before the clock starts (pyscnn's torch import, ~8 s on the loaded machine, was inside
the timed region of the pyscnn rows before 2026-11-28).

Run ``python scripts/bench_patterns.py``; ``run()`` returns the rows as dicts for
``scripts/bench.py``.
"""
from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nnlasso.patterns import sample_patterns, solve_patterns

LAMS = (0.1, 0.01, 0.001)
# adelie rows, "program:method:tol" (adelie_solve)
ADELIE_ROWS = ("gated:path:1e-7", "gated:path:1e-10", "cone:lam:1e-7", "cone:path:1e-7")
ADELIE_PATH = 100          # values of the "path" method: geometric from adelie's lmda_max to lam


def load_diabetes_std() -> tuple[np.ndarray, np.ndarray]:
    """Standardized diabetes data (X columns and y with mean 0, std 1)."""
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    return X, y


def strict_gates(X: np.ndarray, G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds t_i with 1[X g_i - t_i > 0] == 1[X g_i - h_i >= 0] (pyscnn uses a strict >).

    t_i is the midpoint between h_i and the largest projection below it.
    """
    P = X @ G.T                                               # (N, P)
    t = np.empty(G.shape[0])
    for i in range(G.shape[0]):
        below = P[:, i][P[:, i] < h[i] - 1e-12]
        t[i] = h[i] - 1.0 if below.size == 0 else 0.5 * (h[i] + below.max())
    return P, t


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _scnn_fit(X, y, G, gbias, lam, cone: bool, method: str) -> tuple[float, int]:
    """Run pyscnn; return its objective in nnlasso's scaling and its active neuron count."""
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU, ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL, RFISTA, CVXPYSolver

    N = X.shape[0]
    Gd = np.ascontiguousarray(G.T)
    if cone:
        model = ConvexReLU(Gd, c=1, bias=True, G_bias=gbias)
        solver = AL(model) if method == "AL" else CVXPYSolver(model, "ecos")
    else:
        model = ConvexGatedReLU(Gd, c=1, bias=True, G_bias=gbias)
        solver = (RFISTA(model) if method == "RFISTA"
                  else CVXPYSolver(model, "ecos"))
    if cone:
        # pyscnn 0.0.10: ConvexReLU.set_parameters asserts wrong shapes when bias=True; the
        # parameters it receives are [U1 (1,p,d), b1 (1,p), U2, b2]: store them unchecked
        model.set_parameters = lambda params: setattr(model, "parameters", params)
    out, _ = optimize_model(model, solver, Metrics(), X, y, regularizer=NeuronGL1(lam / N),
                            return_convex=True, unitize_data=False, dtype="float64")
    D = (X @ out.G + out.G_bias > 0).astype(float)
    Xa = np.hstack([X, np.ones((N, 1))])
    if cone:
        U1, b1, U2, b2 = [np.asarray(p)[0] for p in out.parameters]
        T1 = np.hstack([U1, b1[:, None]])
        T2 = np.hstack([U2, b2[:, None]])
        pred = np.sum(D * (Xa @ T1.T), axis=1) - np.sum(D * (Xa @ T2.T), axis=1)
        norms = np.concatenate([np.linalg.norm(T1, axis=1), np.linalg.norm(T2, axis=1)])
    else:
        U, b = np.asarray(out.parameters[0])[0], np.asarray(out.parameters[1])[0]
        Th = np.hstack([U, b[:, None]])
        pred = np.sum(D * (Xa @ Th.T), axis=1)
        norms = np.linalg.norm(Th, axis=1)
    obj = 0.5 * float(np.sum((y - pred) ** 2)) + lam * float(np.sum(norms))
    active = int(np.sum(norms > 1e-6 * norms.max())) if norms.size and norms.max() > 0 else 0
    return obj, active


def run(repeats: int = 3, n_gated: int = 300, n_cone: int = 30,
        lams: tuple[float, ...] = LAMS, scnn_cvxpy: bool = True,
        verbose: bool = False, programs: tuple[str, ...] = ("gated", "cone"),
        scnn: bool = True, working_set: Any = "auto", row_limit: float | None = 600.0,
        cone_row_limit: float | None = None, adelie: bool = True,
        adelie_rows: tuple[str, ...] = ADELIE_ROWS) -> list[dict]:
    """Measure the pattern programs; return one dict per (program, lam, implementation).

    Keys: program ("gated" | "cone"), n_patterns, lam, impl, time_s (median), objective (nnlasso
    scaling), active, gap, rel_gap, note. ``programs`` selects the programs, ``scnn=False``
    leaves pyscnn out, ``working_set`` is passed to :func:`nnlasso.solve_patterns`.

    Each pyscnn row (all its repeats) runs in a child process killed after ``row_limit``
    seconds of wall clock (``cone_row_limit`` for the cone program, default ``row_limit``); a
    killed row has time_s = the limit, objective/gap NaN, active 0 and the note "did not finish
    in S s". ``row_limit=None`` runs pyscnn in-process without a limit. nnlasso rows always run
    in-process.
    """
    X, y = load_diabetes_std()
    try:
        import scnn as _scnn  # noqa: F401
        have_scnn = scnn
    except ImportError:
        have_scnn = False
    rows: list[dict] = []
    for program, n_pat in (("gated", n_gated), ("cone", n_cone)):
        if program not in programs:
            continue
        cone = program == "cone"
        _, G, h = sample_patterns(X, n_pat, seed=0)
        proj, t = strict_gates(X, G, h)
        pats = (proj - t > 0).T
        for lam in lams:
            tm, sol = _median_time(lambda: solve_patterns(X, y, lam, pats, cone=cone,
                                                          bias="penalized", skip=None,
                                                          working_set=working_set), repeats)
            dual = sol.dual_objective
            wsi = sol.info.get("working_set", {})
            if sol.inner == "SSNAL":
                how = f"{wsi.get('newton')} Newton steps, {wsi.get('outer')} outer iterations"
            else:
                how = (f"{wsi.get('rounds', 1)} rounds, {wsi.get('blocks', 0)} blocks"
                       + (f", {wsi.get('rows', 0)} rows" if cone else ""))
            rows.append(dict(program=program, n_patterns=int(pats.shape[0]), lam=lam,
                             impl=f"nnlasso {sol.inner}", time_s=tm, objective=sol.objective,
                             active=sol.n_active, gap=sol.gap, rel_gap=sol.rel_gap,
                             note=f"status {sol.status}; {how}"))
            if verbose:
                print(rows[-1], file=sys.stderr, flush=True)
            if adelie:
                lim_a = cone_row_limit if cone and cone_row_limit is not None else row_limit
                for r in _adelie_rows(program, n_pat, int(pats.shape[0]), lam, dual,
                                      adelie_rows, repeats, lim_a, X, y, pats):
                    rows.append(r)
                    if verbose:
                        print(r, file=sys.stderr, flush=True)
            if not scnn:
                continue
            if not have_scnn:
                rows.append(dict(program=program, n_patterns=int(pats.shape[0]), lam=lam,
                                 impl="pyscnn", time_s=float("nan"), objective=float("nan"),
                                 active=0, gap=float("nan"), rel_gap=float("nan"),
                                 note="pyscnn not installed"))
                continue
            methods = ["AL"] if cone else ["RFISTA"]
            if scnn_cvxpy:
                methods.append("CVXPY-ECOS")
            limit = row_limit
            if cone and cone_row_limit is not None:
                limit = cone_row_limit
            for method in methods:
                note = ""
                if limit is None:
                    try:
                        tm, (obj, act) = _median_time(
                            lambda: _scnn_fit(X, y, G, -t, lam, cone, method), repeats)
                    except Exception as exc:  # report, keep benchmarking
                        tm, obj, act, note = (float("nan"), float("nan"), 0,
                                              f"failed: {exc}"[:80])
                else:
                    tm, obj, act, note = _scnn_row_limited(program, n_pat, lam, method,
                                                           repeats, limit)
                gap = obj - dual
                rows.append(dict(program=program, n_patterns=int(pats.shape[0]), lam=lam,
                                 impl=f"pyscnn {method}", time_s=tm, objective=obj, active=act,
                                 gap=gap, rel_gap=gap / abs(obj) if obj else float("nan"),
                                 note=note))
                if verbose:
                    print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _scnn_row_limited(program: str, n_pat: int, lam: float, method: str, repeats: int,
                      limit: float) -> tuple[float, float, int, str]:
    """Run one pyscnn row in a child process (this script, ``--scnn-child``) with a wall-clock
    limit; return (median time, objective, active, note).

    The child rebuilds the data and gates from the same seed (deterministic), so it solves the
    same program as the parent. On timeout the child is killed and the row reports the limit.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--scnn-child", program,
               str(n_pat), repr(lam), method, str(repeats), str(out)]
        try:
            proc = subprocess.run(cmd, timeout=limit, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return float(limit), float("nan"), 0, f"did not finish in {limit:g} s (killed)"
        if proc.returncode != 0 or not out.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return float("nan"), float("nan"), 0, f"failed: {last}"[:80]
        res = json.loads(out.read_text())
        return res["time_s"], res["objective"], res["active"], ""


def _scnn_child(program: str, n_pat: int, lam: float, method: str, repeats: int,
                out: str) -> None:
    """Child of :func:`_scnn_row_limited`: one pyscnn row, result written as JSON to ``out``."""
    X, y = load_diabetes_std()
    _, G, h = sample_patterns(X, n_pat, seed=0)
    _, t = strict_gates(X, G, h)
    import scnn.optimize  # noqa: F401  (torch and pyscnn imported before the clock starts)
    tm, (obj, act) = _median_time(
        lambda: _scnn_fit(X, y, G, -t, lam, program == "cone", method), repeats)
    Path(out).write_text(json.dumps({"time_s": tm, "objective": obj, "active": act}))


# ---- adelie rows ------------------------------------------------------------------------------
# adelie (pip install adelie; 1.1.52 measured) solves the same programs as a group lasso on its
# convex-ReLU matrix. The mapping to nnlasso's scaling (checked by tests/test_bench_patterns.py
# on a tiny case that both solve to a certified gap):
#   adelie.grpnet(ad.matrix.convex_relu(Z, D), ad.glm.gaussian(y), groups=..., penalty=ones,
#                 intercept=False, alpha=1) minimizes
#       sum_n (1/N) (-y_n eta_n + eta_n^2 / 2) + lam_a sum_g |beta_g|_2
#     = (1/N) (1/2 |y - eta|^2 - 1/2 |y|^2) + lam_a sum_g |beta_g|_2,
#   i.e. 1/N times nnlasso's objective minus a constant, with lam = N lam_a (``adelie_lam``).
# Z = [X 1] (bias inside the group norm, as in the pyscnn rows), D (N, P) the gates' masks.
# Gated: gated=True, columns [D_1 Z ... D_P Z], P groups of d+1. Cone: gated=False, columns
# [Y, -Y] (2P groups: theta_i then theta'_i) and, per group k, the constraint
# (2 D_{k mod P} - I) Z beta_k >= 0 as ad.constraint.linear(A_k, lower=0, upper=inf).
# adelie's penalty factors default to sqrt(group size): they are set to 1.



def adelie_lam(lam: float, N: int) -> float:
    """adelie's lambda for nnlasso's ``lam`` (unaveraged loss): lam_a = lam / N (module notes)."""
    return lam / N


def _adelie_problem(X: np.ndarray, y: np.ndarray, pats: np.ndarray, cone: bool) -> dict:
    """adelie's matrix, GLM, groups, unit penalty factors and (cone) group constraints for the
    pattern program with gates ``pats`` (P, N) bool; Z = [X 1]."""
    import adelie as ad
    N, d = X.shape
    e, P = d + 1, pats.shape[0]
    Z = np.asfortranarray(np.hstack([X, np.ones((N, 1))]))
    mask = np.asfortranarray(pats.T)
    nb = 2 if cone else 1
    prob = dict(X=ad.matrix.convex_relu(Z, mask, gated=not cone, copy=True),
                glm=ad.glm.gaussian(np.asarray(y, dtype=np.float64)),
                groups=np.arange(nb * P) * e, penalty=np.ones(nb * P))
    if cone:
        S = 2.0 * pats - 1.0                                   # (P, N)
        lo, hi = np.zeros(N), np.full(N, np.inf)
        prob["constraints"] = [ad.constraint.linear(np.ascontiguousarray(S[k % P][:, None] * Z),
                                                    lo, hi, copy=True)
                               for k in range(nb * P)]
    return prob


def adelie_solve(X: np.ndarray, y: np.ndarray, pats: np.ndarray, lam: float, cone: bool,
                 method: str = "path", tol: float = 1e-7, path_size: int = ADELIE_PATH
                 ) -> np.ndarray:
    """Solve the pattern program with adelie at nnlasso's ``lam``; return theta (B, d+1) in
    nnlasso's block order (cone: the P blocks theta_i, then the P blocks theta'_i).

    ``method="lam"``: one grpnet call at lam_a = :func:`adelie_lam` (lam, N) only;
    ``method="path"``: ``path_size`` values from adelie's lmda_max down to lam_a, geometric
    (warm starts along the path, adelie's intended use), theta of the last one. ``tol`` is
    grpnet's coordinate-descent tolerance; no early exit, no intercept, alpha = 1.
    """
    import adelie as ad
    N, d = X.shape
    lam_a = adelie_lam(lam, N)
    prob = _adelie_problem(X, y, pats, cone)
    kw = dict(intercept=False, early_exit=False, progress_bar=False, tol=tol, alpha=1.0,
              **{k: v for k, v in prob.items() if k not in ("X", "glm")})
    if method == "path":
        lmax = ad.grpnet(prob["X"], prob["glm"], lmda_path_size=1, **kw).lmda_max
        lp = np.geomspace(max(lmax, lam_a), lam_a, path_size)
    elif method == "lam":
        lp = np.array([lam_a])
    else:
        raise ValueError(f"method: expected 'path' or 'lam', got {method!r}")
    state = ad.grpnet(prob["X"], prob["glm"], lmda_path=lp, **kw)
    # adelie logs its solver's failure and returns the solutions found before it
    lm = np.asarray(state.lmdas)
    if lm.size == 0 or not np.isclose(lm[-1], lam_a, rtol=1e-12):
        msg = (state.error or "no message").replace("adelie_core solver: ", "").rstrip("!")
        last = f", last solved lam {lm[-1] * N:.3g}" if lm.size else ""
        raise RuntimeError(f"{msg} ({len(lm)} of {lp.size} lam values{last})")
    beta = np.asarray(state.betas[-1].toarray()).ravel()
    return beta.reshape(-1, d + 1)


def pattern_objective(X: np.ndarray, y: np.ndarray, pats: np.ndarray, lam: float,
                      theta: np.ndarray, cone: bool) -> tuple[float, int, float]:
    """nnlasso's objective 1/2 |y - z|^2 + lam sum_k |theta_k| of blocks theta (B, d+1) on
    Z = [X 1] (z = sum_i D_i Z theta_i [- sum_i D_i Z theta'_i]), the active count (norm >
    1e-6 max) and the largest relative cone violation max_{k,n} -(2D-1)_n z_n.theta_k / (|z_n|
    max_k |theta_k|) (0 when gated or feasible; nnlasso's status calls > 1e-6 infeasible)."""
    N = X.shape[0]
    P = pats.shape[0]
    Z = np.hstack([X, np.ones((N, 1))])
    Df = pats.T.astype(float)                                   # (N, P)
    pre = Z @ theta.T                                           # (N, B)
    sign = np.ones(theta.shape[0])
    if cone:
        sign[P:] = -1.0
    Dk = np.tile(Df, (1, theta.shape[0] // P)) * sign[None, :]
    pred = np.sum(Dk * pre, axis=1)
    norms = np.linalg.norm(theta, axis=1)
    obj = 0.5 * float(np.sum((y - pred) ** 2)) + lam * float(np.sum(norms))
    top = float(norms.max()) if norms.size else 0.0
    active = int(np.sum(norms > 1e-6 * top)) if top > 0 else 0
    viol = 0.0
    if cone and top > 0:
        S = np.tile(2.0 * Df - 1.0, (1, 2))
        viol = max(0.0, float(-np.min(S * pre / np.linalg.norm(Z, axis=1)[:, None]))) / top
    return obj, active, viol


def _adelie_rows(program: str, n_pat: int, n_used: int, lam: float, dual: float,
                 specs: tuple[str, ...], repeats: int, limit: float | None,
                 X: np.ndarray, y: np.ndarray, pats: np.ndarray) -> list[dict]:
    """The adelie rows of one (program, lam): one per spec "program:method:tol" of this
    program, each certified by nnlasso's dual value ``dual`` at the same lam and gates (gap =
    objective - dual). With a ``limit`` each row runs in a child process killed after
    ``limit`` s (as the pyscnn rows); ``limit=None`` runs in-process."""
    rows = []
    for spec in specs:
        prog_s, method, tol_s = spec.split(":")
        if prog_s != program:
            continue
        impl = f"adelie {method} tol={float(tol_s):g}"
        if importlib.util.find_spec("adelie") is None:
            tm, obj, act, viol, note = float("nan"), float("nan"), 0, 0.0, "adelie not installed"
        elif limit is None:
            try:
                tm, th = _median_time(lambda: adelie_solve(X, y, pats, lam, program == "cone",
                                                           method, float(tol_s)), repeats)
                obj, act, viol = pattern_objective(X, y, pats, lam, th, program == "cone")
                note = ""
            except Exception as exc:  # report, keep benchmarking
                tm, obj, act, viol, note = (float("nan"), float("nan"), 0, 0.0,
                                            f"adelie error: {exc}"[:120])
        else:
            tm, obj, act, viol, note = _adelie_row_limited(program, n_pat, lam, method,
                                                           float(tol_s), repeats, limit)
        if viol > 1e-6:
            note = (note + "; " if note else "") + f"cone violation {viol:.1e}"
        gap = obj - dual
        rows.append(dict(program=program, n_patterns=n_used, lam=lam, impl=impl, time_s=tm,
                         objective=obj, active=act, gap=gap,
                         rel_gap=gap / abs(obj) if obj else float("nan"), note=note))
    return rows


def _adelie_row_limited(program: str, n_pat: int, lam: float, method: str, tol: float,
                        repeats: int, limit: float) -> tuple[float, float, int, float, str]:
    """One adelie row in a child process (``--adelie-child``) killed after ``limit`` s; return
    (median time, objective, active, cone violation, note)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--adelie-child", program,
               str(n_pat), repr(lam), method, repr(tol), str(repeats), str(out)]
        try:
            proc = subprocess.run(cmd, timeout=limit, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return float(limit), float("nan"), 0, 0.0, f"did not finish in {limit:g} s (killed)"
        if proc.returncode != 0 or not out.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return float("nan"), float("nan"), 0, 0.0, f"failed: {last}"[:80]
        res = json.loads(out.read_text())
        if "error" in res:
            return (res["time_s"], float("nan"), 0, 0.0,
                    f"adelie error after {res['time_s']:.1f} s: {res['error']}"[:120])
        return res["time_s"], res["objective"], res["active"], res["violation"], ""


def _adelie_child(program: str, n_pat: int, lam: float, method: str, tol: float,
                  repeats: int, out: str) -> None:
    """Child of :func:`_adelie_row_limited`: the same data and gates from the seed, one adelie
    row, the result (or adelie's error message and the time to it) written as JSON."""
    X, y = load_diabetes_std()
    _, G, h = sample_patterns(X, n_pat, seed=0)
    proj, t = strict_gates(X, G, h)
    pats = (proj - t > 0).T
    cone = program == "cone"
    import adelie  # noqa: F401  (imported before the clock starts, as nnlasso is)
    t0 = time.perf_counter()
    try:
        tm, th = _median_time(lambda: adelie_solve(X, y, pats, lam, cone, method, tol), repeats)
    except Exception as exc:   # adelie's own failure (e.g. "pinball: max iterations reached")
        Path(out).write_text(json.dumps({"time_s": time.perf_counter() - t0,
                                         "error": str(exc).strip().splitlines()[-1]}))
        return
    obj, act, viol = pattern_objective(X, y, pats, lam, th, cone)
    Path(out).write_text(json.dumps({"time_s": tm, "objective": obj, "active": act,
                                     "violation": viol}))


def format_table(rows: list[dict]) -> str:
    head = (f"{'program':7} {'P':>5} {'lam':>6} {'impl':20} {'time s':>8} {'objective':>14} "
            f"{'active':>6} {'gap':>10} {'rel_gap':>9}  note")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['program']:7} {r['n_patterns']:5d} {r['lam']:6g} {r['impl']:20} "
                     f"{r['time_s']:8.2f} {r['objective']:14.8g} {r['active']:6d} "
                     f"{r['gap']:10.2e} {r['rel_gap']:9.1e}  {r['note']}")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-gated", type=int, default=300)
    ap.add_argument("--n-cone", type=int, default=30)
    ap.add_argument("--no-scnn-cvxpy", action="store_true")
    ap.add_argument("--no-scnn", action="store_true", help="nnlasso rows only")
    ap.add_argument("--programs", default="gated,cone", help="comma list of gated, cone")
    ap.add_argument("--lams", default=",".join(map(str, LAMS)), help="comma list of lam")
    ap.add_argument("--working-set", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--row-limit", type=float, default=600.0,
                    help="wall-clock limit (s) of one pyscnn row, run in a child process; "
                         "0 runs pyscnn in-process without a limit")
    ap.add_argument("--cone-row-limit", type=float, default=None,
                    help="limit of the cone program's pyscnn rows (default: --row-limit)")
    ap.add_argument("--no-adelie", action="store_true", help="leave the adelie rows out")
    ap.add_argument("--adelie-rows", default=",".join(ADELIE_ROWS),
                    help="comma list of program:method:tol (method 'path' or 'lam')")
    ap.add_argument("--adelie-child", nargs=7, help=argparse.SUPPRESS,
                    metavar=("PROGRAM", "P", "LAM", "METHOD", "TOL", "REPEATS", "OUT"))
    ap.add_argument("--scnn-child", nargs=6, help=argparse.SUPPRESS,
                    metavar=("PROGRAM", "P", "LAM", "METHOD", "REPEATS", "OUT"))
    args = ap.parse_args()
    if args.scnn_child:
        prog, n_p, lam_c, meth, reps, out_c = args.scnn_child
        _scnn_child(prog, int(n_p), float(lam_c), meth, int(reps), out_c)
        sys.exit(0)
    if args.adelie_child:
        prog, n_p, lam_c, meth, tol_c, reps, out_c = args.adelie_child
        _adelie_child(prog, int(n_p), float(lam_c), meth, float(tol_c), int(reps), out_c)
        sys.exit(0)
    ws = {"auto": "auto", "on": True, "off": False}[args.working_set]
    print(format_table(run(args.repeats, args.n_gated, args.n_cone,
                           lams=tuple(float(v) for v in args.lams.split(",")),
                           scnn_cvxpy=not args.no_scnn_cvxpy, verbose=True,
                           programs=tuple(args.programs.split(",")), scnn=not args.no_scnn,
                           working_set=ws, row_limit=args.row_limit or None,
                           cone_row_limit=args.cone_row_limit, adelie=not args.no_adelie,
                           adelie_rows=tuple(args.adelie_rows.split(",")))))
