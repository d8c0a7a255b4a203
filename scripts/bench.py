"""nnlasso's benchmark of record (issue 7): problem A, a lambda path, a large case, patterns.

Problem A (multitask lasso over a ReLU dictionary):
    N = 1000 points x ~ N(0, I_5) (d = 5); K = 2000 ReLU features sampled from the data
    (``nnlasso.sample_neurons(method="data")``: w uniform on the sphere, b = w . x_m for a random
    data point); D = 10 outputs Y = relu-teacher (5 random data-sampled neurons, Gaussian output
    weights) + 0.1 N(0, 1) noise; skip = "intercept" (an unpenalized c0: every peer fits an
    intercept); lam = 0.1 lam_max.

Every row reports the wall time (median of ``--repeats`` runs, all rows in one process and one
run), its ratio to nnlasso's native solver, the time in units of one product Phi^T R (N x K by
N x D, the cost of reading the data once: "products"), the objective in nnlasso's scaling
(1/2 |Y - Phi V - 1 c0|^2 + lam sum_k |V_k|_2; scikit-learn-style alpha = lam / N) and the
relative duality gap that nnlasso certifies for that row's V (nnlasso's own dual point, the
same for every row). JIT-compiled peers (skglm, celer) and nnlasso's optional numba kernel are
warmed up once before timing. One-shot rows (the naive CVXPY formulations and CLARABEL on the
full dictionary) run once, in a subprocess with a wall-clock limit (``--limit``, default 60 s:
CVXPY's compilation of the full dictionary is not covered by the solvers' time limits); a row
killed at the limit reports the limit as a lower bound.

The large case (N = K = 10^4, D = 10) runs in a subprocess so that its peak resident memory
(``resource.getrusage``) is its own. Pattern rows come from ``scripts/bench_patterns.py``.

"solver='auto' against the best explicit choice" times auto, CLARABEL on the full program,
CLARABEL on working sets and prox on a grid of problems (the stalled 100 x 68 column-generation
dictionary, small and mid squared programs, problem A, logistic and softmax).

"Defaults on a plain install" times each entry point's default call against its explicit
choices, and the default solve_lasso on the A-sized and mid problems against a naive
CVXPY-Clarabel formulation (one-shot, capped at --limit) and skglm (tol 1e-8); it runs in two
child processes, "plain" (NNLASSO_NUMBA=0: nnlasso's code path without numba, as after the
README's plain install) and "numba" (nnlasso's optional compiled kernel).

Usage:  python scripts/bench.py [--quick] [--repeats R] [--limit S] [--json out.json]
                                [--no-patterns] [--no-peers] [--no-grid] [--no-defaults]
        python scripts/bench.py --defaults [--quick]   # only the grid and the defaults
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

import nnlasso as nl
from nnlasso.lasso import LassoProblem

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------
# problems and measurement helpers
# ---------------------------------------------------------------------------------------------

def problem_a(N: int = 1000, d: int = 5, K: int = 2000, D: int = 10, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Phi, Y) of problem A (see the module docstring)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    Phi = nl.sample_neurons(X, K, method="data", seed=seed + 1).features(X)
    teacher = nl.sample_neurons(X, 5, method="data", seed=seed + 2).features(X)
    Y = teacher @ rng.standard_normal((5, D)) + 0.1 * rng.standard_normal((N, D))
    return X, np.ascontiguousarray(Phi), Y


def product_time(Phi: np.ndarray, D: int, repeats: int = 15) -> float:
    """Median time of one product Phi^T R with R (N, D)."""
    R = np.random.default_rng(0).standard_normal((Phi.shape[0], D))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        Phi.T @ R
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(median wall time, last result) of ``repeats`` calls."""
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


class Certifier:
    """nnlasso's objective and relative gap for any (V, intercept) of problem A."""

    def __init__(self, Phi: np.ndarray, Y: np.ndarray, lam: float, skip: Any = "intercept"):
        self.prob = LassoProblem(Phi, Y, "squared", skip, None, None, 1e-8)
        self.lam = lam

    def __call__(self, V: np.ndarray) -> tuple[float, float]:
        _, primal, dual, _ = self.prob.certify(np.asarray(V, float), None, self.lam)
        return primal, (primal - dual) / max(abs(primal), abs(dual))


# ---------------------------------------------------------------------------------------------
# problem A rows
# ---------------------------------------------------------------------------------------------

def naive_cvxpy(Phi: np.ndarray, Y: np.ndarray, lam: float, solver: str, limit: float
                ) -> np.ndarray:
    """The textbook CVXPY formulation on the full dictionary (no QR, no working sets)."""
    import cvxpy as cp
    K, D = Phi.shape[1], Y.shape[1]
    V = cp.Variable((K, D))
    c = cp.Variable((1, D))
    obj = 0.5 * cp.sum_squares(Y - Phi @ V - np.ones((Phi.shape[0], 1)) @ c) \
        + lam * cp.sum(cp.norm(V, 2, axis=1))
    opts = {"time_limit": limit} if solver == "CLARABEL" else {"time_limit_secs": limit}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cp.Problem(cp.Minimize(obj)).solve(solver=solver, **opts)
    return np.zeros((K, D)) if V.value is None else V.value


def peer_rows(Phi: np.ndarray, Y: np.ndarray, lam: float, repeats: int, quick: bool
              ) -> list[tuple[str, Callable[[], np.ndarray], int]]:
    """(label, solve -> V, repeats) for the scikit-learn-style peers (alpha = lam / N)."""
    N = Phi.shape[0]
    alpha = lam / N
    rows: list[tuple[str, Callable[[], np.ndarray], int]] = []
    from sklearn.linear_model import MultiTaskLasso as SkMTL
    for tol in (1e-4, 1e-8):
        rows.append((f"scikit-learn MultiTaskLasso tol={tol:g}",
                     lambda tol=tol: SkMTL(alpha=alpha, tol=tol, max_iter=100_000)
                     .fit(Phi, Y).coef_.T, repeats if tol > 1e-6 or quick else 1))
    try:
        from skglm import MultiTaskLasso as SgMTL
        for tol in (1e-4, 1e-8):
            rows.append((f"skglm MultiTaskLasso tol={tol:g}",
                         lambda tol=tol: SgMTL(alpha=alpha, tol=tol, max_iter=1000)
                         .fit(Phi, Y).coef_.T, repeats))
    except ImportError:
        pass
    try:
        from celer.homotopy import mtl_path
        for tol in (1e-4, 1e-8):
            rows.append((f"celer MultiTaskLasso tol={tol:g}",
                         lambda tol=tol: celer_mtl(mtl_path, Phi, Y, alpha, tol), repeats))
    except ImportError:
        pass
    return rows


def celer_mtl(mtl_path: Callable, Phi: np.ndarray, Y: np.ndarray, alpha: float, tol: float
              ) -> np.ndarray:
    """celer's MultiTaskLasso with an intercept, as its estimator's ``fit`` does it (centered,
    Fortran-ordered data, then ``mtl_path`` at one alpha): celer 0.7's estimator class calls a
    scikit-learn API removed in scikit-learn 1.6+, so the solver is called directly."""
    Xc = np.asfortranarray(Phi - Phi.mean(0))
    Yc = np.asfortranarray(Y - Y.mean(0))
    _, coefs, _ = mtl_path(Xc, Yc, alphas=[alpha], tol=tol, max_iter=100)
    W = coefs[..., 0]
    return W.T if W.shape[0] == Y.shape[1] else W


def bench_problem_a(args: argparse.Namespace, X: np.ndarray, Phi: np.ndarray, Y: np.ndarray
                    ) -> dict:
    """All rows of problem A, in one run."""
    lam = 0.1 * nl.lam_max(Phi, Y, skip="intercept")
    cert = Certifier(Phi, Y, lam)
    t_prod = product_time(Phi, Y.shape[1])
    rows: list[dict] = []

    def add(label: str, t: float, V: np.ndarray, note: str = "") -> None:
        obj, rel = cert(V)
        active = int(np.sum(np.linalg.norm(V, axis=1) > 1e-6 * max(np.abs(V).max(), 1e-300)))
        rows.append(dict(method=label, time_s=t, products=t / t_prod, objective=obj,
                         rel_gap=rel, active=active, note=note))
        print(f"  {label:44s} {t:9.3f} s  obj {obj:.10g}  rel gap {rel:9.2e}  {note}",
              file=sys.stderr, flush=True)

    def solve_nl(solver: str, **kw: Any) -> nl.Solution:
        return nl.solve_lasso(Phi, Y, lam, skip="intercept", solver=solver, tol=1e-8, **kw)

    # warm-ups (numba kernels of nnlasso, skglm and celer; JIT time is not solve time)
    solve_nl("prox")
    peers = [] if args.no_peers else peer_rows(Phi, Y, lam, args.repeats, args.quick)
    for label, fn, _ in peers:
        if "skglm" in label or "celer" in label:
            fn()
    t, sol = timed(lambda: solve_nl("prox"), args.repeats)
    add("nnlasso prox (tol 1e-8)", t, sol.V,
        f"{sol.info['working_set']['n_products']} products, ws {sol.info['working_set']['ws_sizes']}")
    t, sol = timed(lambda: solve_nl("auto"), args.repeats)
    add(f"nnlasso auto (-> {sol.solver})", t, sol.V)
    t, sol = timed(lambda: solve_nl("CLARABEL", working_set=True), args.repeats)
    add("nnlasso CLARABEL on working sets", t, sol.V,
        f"ws {sol.info['working_set']['ws_sizes']}")
    for label, fn, reps in peers:
        t, V = timed(fn, reps)
        add(label, t, V, "" if reps == args.repeats else f"{reps} run")
    kinds = ["nnlasso-CLARABEL"] + ([] if args.quick or args.no_peers else
                                    ["naive-CLARABEL", "naive-SCS"])
    labels = {"nnlasso-CLARABEL": "nnlasso CLARABEL, full dictionary (+polish)",
              "naive-CLARABEL": "naive CVXPY CLARABEL", "naive-SCS": "naive CVXPY SCS"}
    for kind in kinds:
        t, V, note = one_shot(kind, args, Phi.shape, Y.shape[1])
        if V is None:
            rows.append(dict(method=labels[kind], time_s=t, products=t / t_prod,
                             objective=float("nan"), rel_gap=float("nan"), active=0, note=note))
            print(f"  {labels[kind]:44s} > {t:7.1f} s  {note}", file=sys.stderr, flush=True)
        else:
            add(labels[kind], t, V, note)
    base = rows[0]["time_s"]
    for r in rows:
        r["ratio"] = r["time_s"] / base
    return dict(lam=lam, product_s=t_prod, rows=rows)


def one_shot(kind: str, args: argparse.Namespace, shape: tuple[int, int], D: int
             ) -> tuple[float, np.ndarray | None, str]:
    """Run a full-dictionary CVXPY row once in a subprocess with a wall-clock limit.

    CVXPY's compilation of the full dictionary is not covered by the solvers' own time limits
    (and its memory grows with N K D), hence the subprocess. Returns (time, V or None, note).
    """
    import tempfile
    N, K = shape
    limit = args.limit
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "V.npy"
        cmd = [sys.executable, __file__, "--one-shot", kind, str(N), str(K), str(D), str(out),
               str(limit)]
        t0 = time.perf_counter()
        try:
            subprocess.run(cmd, check=True, timeout=limit, capture_output=True)
        except subprocess.TimeoutExpired:
            return limit, None, f"1 run, killed at the {limit:g} s wall-clock limit (lower bound)"
        t = time.perf_counter() - t0
        info = json.loads((Path(tmp) / "V.json").read_text())
        return info["time_s"], np.load(out), f"1 run, {info['note']} (process {t:.1f} s)"


def one_shot_child(kind: str, N: int, K: int, D: int, out: str, limit: float) -> None:
    """Child of :func:`one_shot`: rebuild problem A, solve, save V and the solve time."""
    X, Phi, Y = problem_a(N=N, K=K, D=D)
    lam = 0.1 * nl.lam_max(Phi, Y, skip="intercept")
    t0 = time.perf_counter()
    if kind == "nnlasso-CLARABEL":
        sol = nl.solve_lasso(Phi, Y, lam, skip="intercept", solver="CLARABEL", tol=1e-8,
                             options={"time_limit": limit})
        V, note = sol.V, f"status {sol.status}, polished {sol.info.get('polished')}"
    else:
        V, note = naive_cvxpy(Phi, Y, lam, kind.split("-")[1], limit), "naive formulation"
    t = time.perf_counter() - t0
    np.save(out, V)
    Path(out).with_suffix(".json").write_text(json.dumps({"time_s": t, "note": note}))


# ---------------------------------------------------------------------------------------------
# path and large case
# ---------------------------------------------------------------------------------------------

def bench_path(args: argparse.Namespace, Phi: np.ndarray, Y: np.ndarray, n_lams: int = 20
               ) -> dict:
    """A 20-value path lam_max * geomspace(1, 0.1) against one solve at its last value."""
    lm = nl.lam_max(Phi, Y, skip="intercept")
    lams = lm * np.geomspace(1.0, 0.1, n_lams)
    t_one, one = timed(lambda: nl.solve_lasso(Phi, Y, lams[-1], skip="intercept",
                                              solver="prox"), args.repeats)
    t_path, path = timed(lambda: nl.lasso_path(Phi, Y, lams, skip="intercept", solver="prox"),
                         args.repeats)
    rows = [dict(method="nnlasso prox, one solve at 0.1 lam_max", time_s=t_one, ratio=1.0,
                 max_rel_gap=one.rel_gap, products=one.info["working_set"]["n_products"])]
    rows.append(dict(method=f"nnlasso prox lasso_path ({n_lams} values)", time_s=t_path,
                     ratio=t_path / t_one, max_rel_gap=max(s.rel_gap for s in path),
                     products=sum(s.info["working_set"]["n_products"] for s in path)))
    try:
        if args.no_peers:
            raise ImportError("peers not requested")
        from skglm import MultiTaskLasso as SgMTL
        N = Phi.shape[0]

        def skglm_path() -> None:
            est = SgMTL(alpha=lams[0] / N, tol=1e-8, warm_start=True, max_iter=1000)
            for lam in lams:
                est.alpha = lam / N
                est.fit(Phi, Y)
        t_sk, _ = timed(skglm_path, max(1, args.repeats // 2))
        rows.append(dict(method="skglm MultiTaskLasso tol=1e-8, warm-started path",
                         time_s=t_sk, ratio=t_sk / t_one, max_rel_gap=float("nan"),
                         products=float("nan")))
    except ImportError:
        pass
    return dict(rows=rows)


def large_case(n: int, D: int, seed: int = 0) -> dict:
    """Solve N = K = n, D outputs with the native solver; report time and peak memory."""
    t0 = time.perf_counter()
    X, Phi, Y = problem_a(N=n, K=n, D=D, seed=seed)
    t_build = time.perf_counter() - t0
    lam = 0.1 * nl.lam_max(Phi, Y, skip="intercept")
    t_prod = product_time(Phi, D, repeats=5)
    t0 = time.perf_counter()
    sol = nl.solve_lasso(Phi, Y, lam, skip="intercept", solver="prox", tol=1e-8)
    t = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB -> GiB (Linux)
    return dict(N=n, K=n, D=D, time_s=t, build_s=t_build, products=t / t_prod,
                objective=sol.objective, rel_gap=sol.rel_gap, active=sol.n_active,
                peak_rss_gib=peak, features_gib=Phi.nbytes / 2 ** 30, status=sol.status,
                ws=sol.info["working_set"])


def bench_large(n: int, D: int) -> dict:
    """Run :func:`large_case` in a fresh interpreter (its own peak RSS)."""
    out = subprocess.run([sys.executable, __file__, "--large-only", str(n), str(D)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# solver="auto" against the best explicit choice, on a grid of problems
# ---------------------------------------------------------------------------------------------

def stalled_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Phi, y) of the stalled case: the 100 x 68 dictionary that column generation builds
    for sin(3 x1) cos(2 x2) + noise at lam = 0.01 (nearly collinear neurons, on which
    coordinate descent stalls; tests/test_prox.py builds the same one)."""
    from nnlasso import representer as R
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (100, 2))
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + 0.05 * rng.normal(size=100)
    dic, _, _ = R.column_generation(X, y, 0.01, solver="CLARABEL", seed=0)
    return X, dic.features(X), y


def grid_problems(quick: bool) -> list[dict]:
    """The problems of the auto grid: name, Phi, Y, lam, loss, skip, and the problem_a shape
    (for a one-shot CLARABEL row in a subprocess) when the full program is large."""
    out = []
    X, Phi, y = stalled_problem()
    out.append(dict(name="stalled CG dictionary", Phi=Phi, Y=y, lam=0.01, loss="squared",
                    skip=X))
    shapes = [(50, 40, 3, 0.1)]
    if not quick:
        shapes += [(100, 300, 5, 0.1), (200, 100, 1, 0.01), (300, 200, 3, 0.05),
                   (500, 1000, 5, 0.1), (1000, 2000, 10, 0.1)]
    for N, K, D, frac in shapes:
        X, Phi, Y = problem_a(N=N, K=K, D=D)
        lam = frac * nl.lam_max(Phi, Y, skip="intercept")
        name = {(500, 1000, 5): "mid", (1000, 2000, 10): "problem A"}.get((N, K, D), "squared")
        out.append(dict(name=name, Phi=Phi, Y=Y, lam=lam, loss="squared", skip="intercept",
                        shape=(N, K, D) if N * K * D > 1e6 else None, frac=frac))
    rng = np.random.default_rng(1)
    for loss, N, K, D in [("logistic", 300, 100, 1), ("softmax", 200, 50, 3),
                          ("logistic", 1000, 400, 1)][: 1 if quick else 3]:
        X = rng.standard_normal((N, 5))
        Phi = nl.sample_neurons(X, K, method="data", seed=2).features(X)
        z = X @ rng.standard_normal((5, D)) + 0.5 * rng.standard_normal((N, D))
        Y = (z[:, 0] > 0).astype(int) if loss == "logistic" else np.argmax(z, axis=1)
        lam = 0.05 * nl.lam_max(Phi, Y, loss=loss, skip="intercept")
        out.append(dict(name=loss, Phi=Phi, Y=Y, lam=lam, loss=loss, skip="intercept"))
    return out


def bench_auto_grid(args: argparse.Namespace) -> dict:
    """solver="auto" against CLARABEL (full program), CLARABEL on working sets and prox.

    Each row times the four choices on one problem in this process (medians of
    ``args.repeats`` interleaved runs; the full CLARABEL program of the mid and A-sized
    problems runs once in a subprocess with a wall-clock limit of min(--limit, 30) s, since
    CVXPY's compilation is not covered by the solver's limit: a killed row counts as infinitely
    slow). ``ratio`` = auto / best of the three explicit choices.
    """
    rows = []
    for p in grid_problems(args.quick):
        Phi, Y, lam = p["Phi"], p["Y"], p["lam"]
        N, K = Phi.shape
        D = 1 if np.ndim(Y) == 1 or p["loss"] != "squared" else Y.shape[1]
        if p["loss"] == "softmax":
            D = int(np.max(Y)) + 1

        def run(solver: str, **kw: Any) -> nl.Solution:
            return nl.solve_lasso(Phi, Y, lam, loss=p["loss"], skip=p["skip"], solver=solver,
                                  tol=1e-8, **kw)
        run("prox")  # warm-up (numba, when installed and enabled)
        choices = [("auto", "auto", {}), ("prox", "prox", {}),
                   ("CLARABEL ws", "CLARABEL", {"working_set": True})]
        samples: dict[str, list[float]] = {c[0]: [] for c in choices}
        gapsd, inner = {}, ""
        for _ in range(args.repeats):  # interleaved: load drifts hit every choice alike
            for label, solver, kw in choices:
                t0 = time.perf_counter()
                sol = run(solver, **kw)
                samples[label].append(time.perf_counter() - t0)
                gapsd[label] = sol.rel_gap
                if label == "auto":
                    inner = _inner(sol)
        times = {k: statistics.median(v) for k, v in samples.items()}
        if p.get("shape"):
            one = argparse.Namespace(**{**vars(args), "limit": min(args.limit, 30.0)})
            t, V, note = one_shot("nnlasso-CLARABEL", one, p["shape"][:2], p["shape"][2])
            times["CLARABEL"] = t if V is not None else float("inf")
            gapsd["CLARABEL"] = float("nan")
        else:
            t, sol = timed(lambda: run("CLARABEL"), args.repeats)
            times["CLARABEL"], gapsd["CLARABEL"] = t, sol.rel_gap
        best_label = min(("CLARABEL", "CLARABEL ws", "prox"), key=lambda k: times[k])
        row = dict(problem=p["name"], loss=p["loss"], N=N, K=K, D=D, auto_inner=inner,
                   times=times, rel_gaps=gapsd, best=best_label,
                   ratio=times["auto"] / times[best_label])
        rows.append(row)
        print(f"  {p['name']:22s} {N}x{K}x{D} auto {times['auto']:.3f}s ({inner}) "
              f"CLARABEL {times['CLARABEL']:.3f} ws {times['CLARABEL ws']:.3f} "
              f"prox {times['prox']:.3f} -> ratio {row['ratio']:.2f}",
              file=sys.stderr, flush=True)
    return dict(rows=rows)


# ---------------------------------------------------------------------------------------------
# defaults on a plain install
# ---------------------------------------------------------------------------------------------

def _inner(sol: Any) -> str:
    """The backend that did a call's work (``inner``, and ``fallback`` when one took over)."""
    inner = getattr(sol, "inner", None) or getattr(sol, "solver", "?")
    fb = getattr(sol, "fallback", None)
    return f"{inner} (fallback {fb})" if fb else str(inner)


def _try(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """timed(fn), or (nan, the exception) when the explicit choice does not apply."""
    try:
        return timed(fn, reps)
    except Exception as exc:  # noqa: BLE001 - a choice that refuses the program is reported
        return float("nan"), exc


def default_entry_points(quick: bool) -> list[dict]:
    """Each entry point's default call and its explicit alternatives, on small standard data.

    Returns dicts with ``entry``, ``data``, ``default`` (callable -> result with .rel_gap and
    the backend), ``explicit`` [(label, callable)], ``gap`` (result -> rel gap).
    """
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.neural_network import MLPRegressor
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = (Xd - Xd.mean(0)) / Xd.std(0)
    yd = (yd - yd.mean()) / yd.std()
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = (Xb - Xb.mean(0)) / Xb.std(0)
    if quick:
        Xd, yd, Xb, yb = Xd[:100], yd[:100], Xb[:100], yb[:100]
    n_neu = 100 if quick else 500
    out: list[dict] = []

    def gap(r: Any) -> float:
        return float(r.rel_gap)

    out.append(dict(entry="fit_shallow", data=f"diabetes {Xd.shape[0]} x {Xd.shape[1]}, "
                    f"{n_neu} neurons, lam_ratio 0.05",
                    default=lambda: nl.fit_shallow(Xd, yd, lam_ratio=0.05, n_neurons=n_neu,
                                                   seed=0),
                    explicit=[(s, lambda s=s: nl.fit_shallow(Xd, yd, lam_ratio=0.05,
                                                             n_neurons=n_neu, seed=0, solver=s))
                              for s in ("prox", "CLARABEL")],
                    gap=gap, backend=lambda r: _inner(r.solution)))
    Phi = nl.sample_neurons(Xd, n_neu, method="data", seed=1).features(Xd)
    lm = nl.lam_max(Phi, yd, skip=Xd)
    lams = lm * np.geomspace(0.5, 0.02, 10)
    out.append(dict(entry="lasso_path", data=f"diabetes features {Phi.shape[0]} x {Phi.shape[1]},"
                    " 10 values 0.5..0.02 lam_max, skip = X",
                    default=lambda: nl.lasso_path(Phi, yd, lams, skip=Xd),
                    explicit=[("prox", lambda: nl.lasso_path(Phi, yd, lams, skip=Xd,
                                                            solver="prox")),
                              ("CLARABEL", lambda: nl.lasso_path(Phi, yd, lams, skip=Xd,
                                                                solver="CLARABEL"))],
                    gap=lambda r: max(s.rel_gap for s in r), backend=lambda r: _inner(r[-1])))
    reg = nl.ConvexReLURegressor
    clf = nl.ConvexReLUClassifier
    for name, est, X, y in (("ConvexReLURegressor.fit", reg, Xd, yd),
                            ("ConvexReLUClassifier.fit", clf, Xb, yb)):
        out.append(dict(entry=name, data=f"{'diabetes' if est is reg else 'breast cancer'} "
                        f"{X.shape[0]} x {X.shape[1]} (standardized)",
                        default=lambda est=est, X=X, y=y: est().fit(X, y),
                        explicit=[(s, lambda est=est, X=X, y=y, s=s: est(solver=s).fit(X, y))
                                  for s in ("prox", "CLARABEL")],
                        gap=lambda r: float(r.rel_gap_), backend=lambda r: _inner(r.fit_.solution)))
    rng = np.random.default_rng(0)
    Xm = rng.standard_normal((100 if quick else 600, 5))
    ym = np.sin(Xm[:, 0]) + Xm[:, 1] * Xm[:, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = nl.MLP.from_sklearn(MLPRegressor(hidden_layer_sizes=(64,), max_iter=300,
                                               random_state=0).fit(Xm, ym))
    for mode, kw in (("eps = 0.05", {"eps": 0.05}), ("lam_ratio = 0.01", {"lam_ratio": 0.01})):
        out.append(dict(entry=f"compress_layer ({mode})", data=f"64-unit layer, N = {len(Xm)}",
                        default=lambda kw=kw: nl.compress_layer(mlp, 1, Xm, **kw),
                        explicit=[(s, lambda kw=kw, s=s: nl.compress_layer(mlp, 1, Xm, solver=s,
                                                                            **kw))
                                  for s in ("CLARABEL", "prox")],
                        gap=lambda r: float(r[1].rel_gap if r[1].rel_gap is not None else
                                            float("nan")),
                        backend=lambda r: _inner(r[1])))
    Vt = np.zeros((Phi.shape[1], 3))
    Vt[rng.choice(Phi.shape[1], 8, replace=False)] = rng.standard_normal((8, 3))
    Psi = Phi @ Vt
    out.append(dict(entry="solve_min_norm", data=f"Psi = Phi V (8 neurons), Phi {Phi.shape[0]}"
                    f" x {Phi.shape[1]}, D = 3",
                    default=lambda: nl.solve_min_norm(Phi, Psi),
                    explicit=[(s, lambda s=s: nl.solve_min_norm(Phi, Psi, solver=s))
                              for s in ("CLARABEL", "SCS")],
                    gap=gap, backend=_inner))
    return out


def bench_defaults(args: argparse.Namespace) -> dict:
    """Default calls against the best explicit choice, and solve_lasso's default on the A-sized
    and mid problems against the explicit choices, a naive CVXPY-Clarabel formulation (capped
    at ``args.limit`` s) and skglm (tol 1e-8); every gap certified by nnlasso."""
    reps = args.repeats
    entries = []
    for e in default_entry_points(args.quick):
        e["default"]()  # warm-up (imports, numba when enabled)
        t_def, r_def = timed(e["default"], reps)
        best = (None, float("inf"), None)
        expl = {}
        for label, fn in e["explicit"]:
            t, r = _try(fn, 1 if label in ("CLARABEL", "SCS") else reps)
            expl[label] = t
            if np.isfinite(t) and t < best[1]:
                best = (label, t, r)
        row = dict(entry=e["entry"], data=e["data"], default_s=t_def,
                   default_backend=e["backend"](r_def), default_gap=e["gap"](r_def),
                   explicit=expl, best=best[0], best_s=best[1],
                   ratio=t_def / best[1] if best[0] else float("nan"))
        entries.append(row)
        print(f"  {row['entry']:32s} default {t_def:.3f}s ({row['default_backend']}) best "
              f"{best[0]} {best[1]:.3f}s ratio {row['ratio']:.2f}", file=sys.stderr, flush=True)
    lasso_rows = []
    shapes = [(100, 200, 3)] if args.quick else [(500, 1000, 5), (1000, 2000, 10)]
    for N, K, D in shapes:
        X, Phi, Y = problem_a(N=N, K=K, D=D)
        lam = 0.1 * nl.lam_max(Phi, Y, skip="intercept")
        cert = Certifier(Phi, Y, lam)
        nl.solve_lasso(Phi, Y, lam, skip="intercept")  # warm-up
        t_def, sol = timed(lambda: nl.solve_lasso(Phi, Y, lam, skip="intercept"), reps)
        row = dict(N=N, K=K, D=D, lam=lam, default_s=t_def, default_gap=cert(sol.V)[1],
                   default_backend=_inner(sol))
        t, s = timed(lambda: nl.solve_lasso(Phi, Y, lam, skip="intercept", solver="prox"), reps)
        row["prox_s"] = t
        t, s = timed(lambda: nl.solve_lasso(Phi, Y, lam, skip="intercept", solver="CLARABEL",
                                            working_set=True), reps)
        row["clarabel_ws_s"] = t
        if os.environ.get("NNLASSO_NUMBA") == "0":
            t, V, note = one_shot("naive-CLARABEL", args, (N, K), D)
            row["naive_s"], row["naive_done"] = t, V is not None
            row["naive_gap"] = cert(V)[1] if V is not None else float("nan")
        else:  # the naive formulation does not use numba: measured once, in the plain mode
            row["naive_s"], row["naive_done"], row["naive_gap"] = None, False, float("nan")
        try:
            from skglm import MultiTaskLasso as SgMTL
            fit = lambda: SgMTL(alpha=lam / N, tol=1e-8, max_iter=1000).fit(Phi, Y).coef_.T
            fit()  # JIT warm-up
            t, V = timed(fit, reps)
            row["skglm_s"], row["skglm_gap"] = t, cert(V)[1]
        except ImportError:
            row["skglm_s"] = row["skglm_gap"] = float("nan")
        lasso_rows.append(row)
        print(f"  solve_lasso {N}x{K}x{D}: default {t_def:.3f}s ({row['default_backend']}, gap "
              f"{row['default_gap']:.1e}) naive {row['naive_s'] or float('nan'):.1f}s skglm "
              f"{row['skglm_s']:.3f}s",
              file=sys.stderr, flush=True)
    from nnlasso import prox
    return dict(numba=prox._compiled_epoch() is not None, entries=entries, lasso=lasso_rows)


def bench_defaults_modes(args: argparse.Namespace) -> dict:
    """:func:`bench_defaults` once per mode, each in a child process: "plain" (numba disabled
    for nnlasso with NNLASSO_NUMBA=0: the code path of the README's plain install; it also runs
    :func:`bench_auto_grid`, whose target is the plain install) and "numba" (the optional
    compiled kernel, when numba is installed)."""
    import tempfile
    out = {}
    for mode in ("plain",) if args.quick else ("plain", "numba"):
        env = dict(os.environ, NNLASSO_NUMBA="0" if mode == "plain" else "1")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "defaults.json"
            cmd = [sys.executable, __file__, "--defaults-only", str(path),
                   "--repeats", str(args.repeats), "--limit", str(args.limit)]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--no-grid"] if args.no_grid else []
            print(f"defaults ({mode}) ...", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, env=env)
            out[mode] = json.loads(path.read_text())
            if args.json:  # keep each mode's figures as soon as they exist
                args.json.with_suffix(f".{mode}.json").write_text(path.read_text())
    return out


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def bench_compress(repeats: int = 3) -> dict:
    """Each compress_layer mode on the 256-unit digits layer (scripts/compress_digits.py).

    Trains the network as compress_digits.py does (``train_digits_mlp(0)``), then runs its
    ``bench_modes`` (exact, eps = 0.05, lam = 0.01 lam_max, label-aware softmax at lam = alpha
    with tol 1e-4) ``repeats`` times; per mode the median total time of compress_layer and the
    last run's neurons, rel gap (nnlasso's certificate) and test accuracy.
    """
    sys.path.insert(0, str(HERE))
    import compress_digits
    mlp, data, info = compress_digits.train_digits_mlp(0)
    runs = [compress_digits.bench_modes(0, mlp, data) for _ in range(repeats)]
    rows = []
    for i, r in enumerate(runs[-1]):
        times = [run[i]["time"] for run in runs]
        rows.append({"mode": r["mode"], "param": r["param"], "before": r["neurons_before"],
                     "after": r["neurons_after"], "time_s": float(np.median(times)),
                     "times": times, "rel_gap": r["rel_gap"], "solver": r["solver"],
                     "test_acc": (r["test_acc_before"], r["test_acc_after"])})
    return {"N": int(len(data["ytr"])), "train_s": info["train_time"], "rows": rows}


def machine() -> dict:
    """Machine, date and library versions."""
    import importlib.metadata as md
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        mem_gib = int(mem) / 2 ** 20
    except OSError:
        mem_gib = float("nan")
    versions = {}
    for pkg in ("nnlasso", "numpy", "scipy", "cvxpy", "clarabel", "scs", "ecos", "osqp",
                "scikit-learn", "skglm", "celer", "numba", "pyscnn", "adelie"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return dict(date=time.strftime("%Y-%m-%d %H:%M"), nproc=os.cpu_count(), cpu=cpu,
                memory_gib=round(mem_gib, 1), python=platform.python_version(),
                load_avg=load, versions=versions)


def markdown(res: dict) -> str:
    """The result tables in Markdown."""
    out = []
    a = res["problem_a"]
    out.append(f"Problem A: lam = {a['lam']:.6g}, one Phi^T R product = "
               f"{1e3 * a['product_s']:.2f} ms\n")
    out.append("| method | time (s) | ratio | products | objective | rel gap | active | note |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in a["rows"]:
        out.append(f"| {r['method']} | {r['time_s']:.3f} | {r['ratio']:.2f} | "
                   f"{r['products']:.0f} | {r['objective']:.10g} | {r['rel_gap']:.1e} | "
                   f"{r['active']} | {r['note']} |")
    p = res["path"]
    out.append("\nLambda path (lam_max * geomspace(1, 0.1, 20)):\n")
    out.append("| method | time (s) | ratio to one solve | max rel gap | products |")
    out.append("|---|---:|---:|---:|---:|")
    for r in p["rows"]:
        out.append(f"| {r['method']} | {r['time_s']:.3f} | {r['ratio']:.2f} | "
                   f"{r['max_rel_gap']:.1e} | {r['products']:.0f} |")
    L = res["large"]
    out.append("\nLarge case:\n")
    out.append("| N = K | D | time (s) | products | build (s) | peak RSS (GiB) | features (GiB) "
               "| rel gap | active |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out.append(f"| {L['N']} | {L['D']} | {L['time_s']:.2f} | {L['products']:.0f} | "
               f"{L['build_s']:.2f} | {L['peak_rss_gib']:.2f} | {L['features_gib']:.2f} | "
               f"{L['rel_gap']:.1e} | {L['active']} |")
    if res.get("patterns"):
        out.append("\nPattern programs (diabetes, scripts/bench_patterns.py):\n")
        out.append("| program | patterns | lam | implementation | time (s) | objective | rel gap "
                   "| active | note |")
        out.append("|---|---:|---:|---|---:|---:|---:|---:|---|")
        for r in res["patterns"]:
            out.append(f"| {r['program']} | {r['n_patterns']} | {r['lam']:g} | {r['impl']} | "
                       f"{r['time_s']:.3f} | {r['objective']:.8g} | {r['rel_gap']:.1e} | "
                       f"{r['active']} | {r.get('note', '')} |")
    if res.get("compress"):
        C = res["compress"]
        out.append(f"\nCompression of the 256-unit digits layer (N = {C['N']}, D = 10; "
                   "scripts/compress_digits.py), median of compress_layer's total time:\n")
        out.append("| mode | parameter | neurons | time (s) | rel gap | solver | test accuracy |")
        out.append("|---|---|---:|---:|---:|---|---:|")
        for r in C["rows"]:
            gap = "-" if r["rel_gap"] is None else f"{r['rel_gap']:.1e}"
            out.append(f"| {r['mode']} | {r['param']} | {r['before']} -> {r['after']} | "
                       f"{r['time_s']:.2f} | {gap} | {r['solver']} | "
                       f"{100 * r['test_acc'][0]:.2f}% -> {100 * r['test_acc'][1]:.2f}% |")
    out.append(markdown_defaults(res))
    return "\n".join(out)


def markdown_defaults(res: dict) -> str:
    """The tables of the auto grid and of 'Defaults on a plain install'."""
    out: list[str] = []
    if res.get("grid"):
        out.append("\nsolver=\"auto\" against the best explicit choice (times in s; ratio = auto / "
                   "best of CLARABEL, CLARABEL on working sets, prox):\n")
        out.append("| problem | N x K x D | auto | auto's backend | CLARABEL | CLARABEL ws | prox "
                   "| best | ratio | auto rel gap |")
        out.append("|---|---|---:|---|---:|---:|---:|---|---:|---:|")
        for r in res["grid"]["rows"]:
            t = r["times"]
            cl = "> limit" if not np.isfinite(t["CLARABEL"]) else f"{t['CLARABEL']:.3f}"
            out.append(f"| {r['problem']} ({r['loss']}) | {r['N']} x {r['K']} x {r['D']} | "
                       f"{t['auto']:.3f} | {r['auto_inner']} | {cl} | {t['CLARABEL ws']:.3f} | "
                       f"{t['prox']:.3f} | {r['best']} | {r['ratio']:.2f} | "
                       f"{r['rel_gaps']['auto']:.1e} |")
    for mode, d in (res.get("defaults") or {}).items():
        out.append(f"\nDefault calls, mode {mode} (nnlasso's numba kernel "
                   f"{'on' if d['numba'] else 'off'}); times in s, ratio = default / best "
                   "explicit:\n")
        out.append("| entry point | data | default | backend | rel gap | explicit | best | ratio |")
        out.append("|---|---|---:|---|---:|---|---:|---:|")
        for r in d["entries"]:
            ex = ", ".join(f"{k} {v:.3f}" if np.isfinite(v) else f"{k} n/a"
                           for k, v in r["explicit"].items())
            out.append(f"| {r['entry']} | {r['data']} | {r['default_s']:.3f} | "
                       f"{r['default_backend']} | {r['default_gap']:.1e} | {ex} | "
                       f"{r['best']} | {r['ratio']:.2f} |")
        out.append(f"\nsolve_lasso(Phi, Y, lam, skip=\"intercept\") with defaults, mode {mode}:\n")
        out.append("| N x K x D | default (s) | backend | rel gap | prox | CLARABEL ws | naive "
                   "CVXPY-Clarabel | speed-up vs naive | skglm tol 1e-8 | skglm rel gap | "
                   "default / skglm |")
        out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in d["lasso"]:
            if r["naive_s"] is None:
                naive, sp = "(plain mode's row)", "-"
            else:
                naive = (f"{r['naive_s']:.1f}" if r["naive_done"]
                         else f"> {r['naive_s']:.0f} (did not finish)")
                sp = ("" if r["naive_done"] else ">= ") + f"{r['naive_s'] / r['default_s']:.0f}x"
            out.append(f"| {r['N']} x {r['K']} x {r['D']} | {r['default_s']:.3f} | "
                       f"{r['default_backend']} | {r['default_gap']:.1e} | {r['prox_s']:.3f} | "
                       f"{r['clarabel_ws_s']:.3f} | {naive} | {sp} | {r['skglm_s']:.3f} | "
                       f"{r['skglm_gap']:.1e} | {r['default_s'] / r['skglm_s']:.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (seconds)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per row (median)")
    ap.add_argument("--limit", type=float, default=None, help="time limit of one-shot rows (s)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--no-patterns", action="store_true", help="skip the pattern rows")
    ap.add_argument("--no-compress", action="store_true",
                    help="skip the digits compression rows")
    ap.add_argument("--no-peers", action="store_true",
                    help="skip scikit-learn, skglm, celer and the naive CVXPY rows")
    ap.add_argument("--no-grid", action="store_true",
                    help="skip the grid of solver='auto' against the explicit choices")
    ap.add_argument("--no-defaults", action="store_true",
                    help="skip 'Defaults on a plain install' (two child processes)")
    ap.add_argument("--defaults", action="store_true",
                    help="run only the grid and 'Defaults on a plain install'")
    ap.add_argument("--defaults-only", type=Path, metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--large-only", nargs=2, type=int, metavar=("N", "D"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--one-shot", nargs=6, metavar=("KIND", "N", "K", "D", "OUT", "LIMIT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.large_only:
        print(json.dumps(large_case(*args.large_only)))
        return {}
    if args.one_shot:
        kind, N, K, D, out, limit = args.one_shot
        one_shot_child(kind, int(N), int(K), int(D), out, float(limit))
        return {}
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.limit = args.limit or (30.0 if args.quick else 60.0)
    if args.defaults_only:
        out = {}
        if not args.no_grid and os.environ.get("NNLASSO_NUMBA") == "0":
            print("auto grid (plain) ...", file=sys.stderr, flush=True)
            out["grid"] = bench_auto_grid(args)
        out.update(bench_defaults(args))
        args.defaults_only.write_text(json.dumps(out, default=float))
        return {}
    size = dict(N=200, K=300, D=3) if args.quick else dict(N=1000, K=2000, D=10)
    res: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    if args.defaults:
        res["defaults"] = bench_defaults_modes(args)
        if "grid" in res["defaults"].get("plain", {}):
            res["grid"] = res["defaults"]["plain"].pop("grid")
        text = markdown_defaults(res)
        print(text)
        if args.json:
            args.json.write_text(json.dumps(res, indent=1, default=float))
        return res
    print("problem A ...", file=sys.stderr, flush=True)
    X, Phi, Y = problem_a(**size)
    res["problem_a"] = bench_problem_a(args, X, Phi, Y)
    print("path ...", file=sys.stderr, flush=True)
    res["path"] = bench_path(args, Phi, Y)
    print("large case ...", file=sys.stderr, flush=True)
    res["large"] = bench_large(1000 if args.quick else 10_000, 3 if args.quick else 10)
    res["patterns"] = []
    if not (args.quick or args.no_patterns) and (HERE / "bench_patterns.py").exists():
        print("patterns ...", file=sys.stderr, flush=True)
        sys.path.insert(0, str(HERE))
        import bench_patterns
        res["patterns"] = bench_patterns.run(repeats=1, lams=(0.01,), scnn_cvxpy=False)
    res["compress"] = {}
    if not (args.quick or args.no_compress):
        print("digits compression ...", file=sys.stderr, flush=True)
        res["compress"] = bench_compress(min(args.repeats, 3))
    if not args.no_defaults:
        res["defaults"] = bench_defaults_modes(args)
        if "grid" in res["defaults"].get("plain", {}):
            res["grid"] = res["defaults"]["plain"].pop("grid")
    text = markdown(res)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    return res


if __name__ == "__main__":
    main()
