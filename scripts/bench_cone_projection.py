"""Benchmark: :func:`nnlasso.patterns.project_cones`, the batched exact projection onto the
activation-pattern cones, and its share of the cone program's certificate.

Projection (``--what projection``): the cones of ``n`` sampled patterns, two blocks each
(B = 2n): diabetes (N = 442, m = d + 1 = 11, X and y standardized as in
``scripts/bench_patterns.py``) and breast cancer (N = 569, m = 31, X standardized). The points
are the cone program's c_k = s_k Xl^T D_k q with q the least-squares residual of y on X
(diabetes) or 0.1 N(0, 1) (breast cancer). Times are CPU seconds of this process (median of
``repeats``): cold (empty active sets), warm (the points moved by eps |c_k| in a random
direction, the cold call's active sets as the start) and unchanged points (warm, eps = 0).
Each warm result is checked against a cold call on the moved points (max |P - P_cold|).

Certificate (``--what certificate``): ``solve_patterns`` on the 1000-gate diabetes cone program
of ``scripts/bench_patterns.py`` (lam 0.01, penalized bias, no skip) with
``PatternProgram.block_ratios`` timed (CPU) in every certificate.

Run with single-threaded BLAS::

    OMP_NUM_THREADS=1 python scripts/bench_cone_projection.py --what projection
    OMP_NUM_THREADS=1 python scripts/bench_cone_projection.py --what certificate
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from nnlasso.patterns import project_cones, sample_patterns


def cone_data(name: str, n_patterns: int, seed: int = 0):
    """(Xl, S (N, B) int8, C (B, m)) of the cone program's blocks at a fixed dual point q."""
    rng = np.random.default_rng(seed)
    if name == "diabetes":
        from sklearn.datasets import load_diabetes
        X, y = load_diabetes(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        y = (y - y.mean()) / y.std()
        q = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        q -= q.mean()
    else:
        from sklearn.datasets import load_breast_cancer
        X = load_breast_cancer()["data"]
        X = (X - X.mean(0)) / X.std(0)
        q = 0.1 * rng.standard_normal(X.shape[0])
    N = X.shape[0]
    pats = sample_patterns(X, n_patterns, seed=seed)[0]                # (P, N) bool
    Xl = np.hstack([X, -np.ones((N, 1))])
    S = np.hstack([2 * pats.T - 1, 2 * pats.T - 1]).astype(np.int8)    # blocks theta, theta'
    A = (pats * q) @ Xl
    return Xl, S, np.vstack([A, -A])


def _cpu_median(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return float(np.median(times)), out


def run_projection(n_patterns: int = 1000, repeats: int = 5,
                   datasets: tuple[str, ...] = ("diabetes", "breast_cancer"),
                   eps: tuple[float, ...] = (1e-4, 1e-3, 1e-2)) -> list[dict]:
    """Rows: dataset, B, m, case ("cold" / "warm eps" / "unchanged"), cpu_ms, iterations,
    fallback blocks, max |P - P_cold| (warm rows)."""
    rows = []
    rng = np.random.default_rng(1)
    for name in datasets:
        Xl, S, C = cone_data(name, n_patterns)
        B, m = C.shape
        t, cold = _cpu_median(lambda: project_cones(Xl, S, C), repeats)
        rows.append(dict(dataset=name, B=B, m=m, case="cold", cpu_ms=1e3 * t,
                         iterations=cold.n_iter, fallback=cold.n_fallback, err=0.0))
        for e in (0.0,) + tuple(eps):
            C2 = C + e * rng.standard_normal(C.shape) * np.linalg.norm(C, axis=1, keepdims=True)
            t, res = _cpu_median(lambda: project_cones(Xl, S, C2, warm=cold), repeats)
            err = float(np.max(np.abs(res.P - project_cones(Xl, S, C2).P)))
            rows.append(dict(dataset=name, B=B, m=m, case="unchanged" if e == 0 else f"warm {e:g}",
                             cpu_ms=1e3 * t, iterations=res.n_iter, fallback=res.n_fallback,
                             err=err))
    return rows


def run_certificate(n_patterns: int = 1000, lam: float = 0.01) -> dict:
    """CPU of the whole cone solve and of its certificates (block_ratios), per call."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_patterns import load_diabetes_std, strict_gates

    from nnlasso.patterns import program, solve_patterns
    calls = []
    orig = program.PatternProgram.block_ratios

    def timed(self, *args, **kw):
        t0 = time.process_time()
        out = orig(self, *args, **kw)
        calls.append(time.process_time() - t0)
        return out

    X, y = load_diabetes_std()
    _, G, h = sample_patterns(X, n_patterns, seed=0)
    proj, t = strict_gates(X, G, h)
    pats = (proj - t > 0).T
    program.PatternProgram.block_ratios = timed
    try:
        t0 = time.process_time()
        sol = solve_patterns(X, y, lam, pats, cone=True, bias="penalized", skip=None)
        total = time.process_time() - t0
    finally:
        program.PatternProgram.block_ratios = orig
    return dict(total_cpu=total, certificate_cpu=float(np.sum(calls)), calls=calls,
                objective=sol.objective, rel_gap=sol.rel_gap,
                rounds=sol.info.get("working_set", {}).get("rounds"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", choices=("projection", "certificate"), default="projection")
    ap.add_argument("--n-patterns", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    if a.what == "projection":
        print(f"{'dataset':14s} {'B':>5s} {'m':>3s} {'case':>10s} {'CPU ms':>8s} {'iter':>5s} "
              f"{'fallback':>8s} {'|P-P_cold|':>10s}")
        for r in run_projection(a.n_patterns, a.repeats):
            print(f"{r['dataset']:14s} {r['B']:5d} {r['m']:3d} {r['case']:>10s} "
                  f"{r['cpu_ms']:8.1f} {r['iterations']:5d} {r['fallback']:8d} {r['err']:10.1e}")
    else:
        r = run_certificate(a.n_patterns)
        print(f"solve CPU {r['total_cpu']:.2f} s, certificates CPU {r['certificate_cpu']:.2f} s "
              f"in {len(r['calls'])} calls ({', '.join(f'{c:.2f}' for c in r['calls'])}); "
              f"objective {r['objective']:.10f}, rel gap {r['rel_gap']:.1e}, "
              f"{r['rounds']} rounds")


if __name__ == "__main__":
    main()
