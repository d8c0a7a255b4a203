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

Usage:  python scripts/bench.py [--quick] [--repeats R] [--limit S] [--json out.json]
                                [--no-patterns] [--no-peers]
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
from nnlasso.lasso import _Problem

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
        self.prob = _Problem(Phi, Y, "squared", skip, None, None, 1e-8)
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
    shapes = [(50, 40, 3, 0.1), (100, 300, 5, 0.1), (200, 100, 1, 0.01), (300, 200, 3, 0.05)]
    if not quick:
        shapes += [(500, 1000, 5, 0.1), (1000, 2000, 10, 0.1)]
    for N, K, D, frac in shapes:
        X, Phi, Y = problem_a(N=N, K=K, D=D)
        lam = frac * nl.lam_max(Phi, Y, skip="intercept")
        name = {(500, 1000, 5): "mid", (1000, 2000, 10): "problem A"}.get((N, K, D), "squared")
        out.append(dict(name=name, Phi=Phi, Y=Y, lam=lam, loss="squared", skip="intercept",
                        shape=(N, K, D) if N * K * D > 1e6 else None, frac=frac))
    rng = np.random.default_rng(1)
    for loss, N, K, D in [("logistic", 300, 100, 1), ("softmax", 200, 50, 3),
                          ("logistic", 1000, 400, 1)][: 2 if quick else 3]:
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
    ``args.repeats``; the full CLARABEL program of the A-sized problems runs once in a
    subprocess with the wall-clock limit, since CVXPY's compilation is not covered by the
    solver's limit). ``ratio`` = auto / best of the three explicit choices.
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
        times, gapsd, inner = {}, {}, ""
        for label, solver, kw in [("auto", "auto", {}), ("prox", "prox", {}),
                                  ("CLARABEL ws", "CLARABEL", {"working_set": True})]:
            t, sol = timed(lambda: run(solver, **kw), args.repeats)
            times[label], gapsd[label] = t, sol.rel_gap
            if label == "auto":
                inner = getattr(sol, "inner", None) or sol.solver
                if sol.info.get("fallback"):
                    inner += " (fallback " + str(sol.info["fallback"].get("inner")) + ")"
        if p.get("shape"):
            t, V, note = one_shot("nnlasso-CLARABEL", args, p["shape"][:2], p["shape"][2])
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
                "scikit-learn", "skglm", "celer", "numba", "pyscnn"):
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
    size = dict(N=200, K=300, D=3) if args.quick else dict(N=1000, K=2000, D=10)
    res: dict[str, Any] = {"machine": machine(), "quick": args.quick}
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
    text = markdown(res)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    return res


if __name__ == "__main__":
    main()
