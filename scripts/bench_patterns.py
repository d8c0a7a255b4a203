"""Benchmark: activation-pattern programs on diabetes, nnlasso vs pyscnn on the same gates.

Problem (both libraries solve the same program): sklearn's diabetes, X and y standardized
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

Run ``python scripts/bench_patterns.py``; ``run()`` returns the rows as dicts for
``scripts/bench.py``.
"""
from __future__ import annotations

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
        cone_row_limit: float | None = None) -> list[dict]:
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
            how = (f"{wsi.get('rounds', 1)} rounds, {wsi.get('blocks', 0)} blocks"
                   + (f", {wsi.get('rows', 0)} rows" if cone else ""))
            rows.append(dict(program=program, n_patterns=int(pats.shape[0]), lam=lam,
                             impl="nnlasso CLARABEL", time_s=tm, objective=sol.objective,
                             active=sol.n_active, gap=sol.gap, rel_gap=sol.rel_gap,
                             note=f"status {sol.status}; {how}"))
            if verbose:
                print(rows[-1], file=sys.stderr, flush=True)
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
    tm, (obj, act) = _median_time(
        lambda: _scnn_fit(X, y, G, -t, lam, program == "cone", method), repeats)
    Path(out).write_text(json.dumps({"time_s": tm, "objective": obj, "active": act}))


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
    ap.add_argument("--scnn-child", nargs=6, help=argparse.SUPPRESS,
                    metavar=("PROGRAM", "P", "LAM", "METHOD", "REPEATS", "OUT"))
    args = ap.parse_args()
    if args.scnn_child:
        prog, n_p, lam_c, meth, reps, out_c = args.scnn_child
        _scnn_child(prog, int(n_p), float(lam_c), meth, int(reps), out_c)
        sys.exit(0)
    ws = {"auto": "auto", "on": True, "off": False}[args.working_set]
    print(format_table(run(args.repeats, args.n_gated, args.n_cone,
                           lams=tuple(float(v) for v in args.lams.split(",")),
                           scnn_cvxpy=not args.no_scnn_cvxpy, verbose=True,
                           programs=tuple(args.programs.split(",")), scnn=not args.no_scnn,
                           working_set=ws, row_limit=args.row_limit or None,
                           cone_row_limit=args.cone_row_limit)))
