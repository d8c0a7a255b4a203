"""Benchmark: the cone pattern program by SSNAL (the default) against the interior-point loop.

Problem: the gates of scripts/bench_patterns.py (diabetes, X and y standardized, N = 442,
d = 10; ``sample_patterns(X, n, seed=0)`` with pyscnn's strict thresholds), the cone-constrained
program with the penalized bias and no skip, squared loss. For each lam, in the same run and in
alternating order: ``solve_patterns`` with its defaults (SSNAL from the zero network,
:mod:`nnlasso.patterns.augmented_lagrangian`) and with ``working_set=True`` (CVXPY-CLARABEL's
working-set loop). One row per (lam, method): CPU and wall seconds, Newton steps or rounds,
objective, nnlasso's certified relative gap, status; the CPU ratio loop / SSNAL.

Run: ``OMP_NUM_THREADS=1 python scripts/bench_cone_ssnal.py [--n 1000] [--lams 0.1,0.01,0.001]
[--no-loop]``; docs/benchmarks.md has the measured table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pattern_path import gates_patterns
from bench_patterns import load_diabetes_std

from nnlasso.patterns import solve_patterns


def run(n: int = 1000, lams=(0.1, 0.01, 0.001), loop: bool = True) -> list[dict]:
    """One dict per (lam, method)."""
    X, y = load_diabetes_std()
    pats = gates_patterns(X, n)
    kw = dict(cone=True, bias="penalized", skip=None)
    rows = []
    for lam in lams:
        for method in (["ssnal", "loop"] if loop else ["ssnal"]):
            w0, c0 = time.perf_counter(), time.process_time()
            s = solve_patterns(X, y, lam, pats, **kw,
                               working_set="auto" if method == "ssnal" else True)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            wsi = s.info["working_set"]
            rows.append(dict(lam=lam, method=method, inner=s.inner, cpu=cpu, wall=wall,
                             newton=wsi.get("newton"), rounds=wsi.get("rounds"),
                             objective=s.objective, rel_gap=s.rel_gap, status=s.status))
            print(rows[-1], flush=True)
    return rows


def table(rows: list[dict]) -> str:
    out = ["| lam | method | CPU s | wall s | Newton steps / rounds | objective | rel gap | "
           "status |", "|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        steps = r["newton"] if r["inner"] == "SSNAL" else r["rounds"]
        out.append(f"| {r['lam']:g} | {r['method']} ({r['inner']}) | {r['cpu']:.1f} | "
                   f"{r['wall']:.1f} | {steps} | {r['objective']:.10g} | {r['rel_gap']:.1e} | "
                   f"{r['status']} |")
    by = {}
    for r in rows:
        by.setdefault(r["lam"], {})[r["method"]] = r["cpu"]
    for lam, d in by.items():
        if "loop" in d:
            out.append(f"\nlam {lam:g}: loop / SSNAL CPU ratio {d['loop'] / d['ssnal']:.1f}")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="sampled patterns")
    ap.add_argument("--lams", default="0.1,0.01,0.001")
    ap.add_argument("--no-loop", action="store_true", help="SSNAL only")
    a = ap.parse_args(argv)
    rows = run(a.n, [float(v) for v in a.lams.split(",")], loop=not a.no_loop)
    print(table(rows))


if __name__ == "__main__":
    main()
