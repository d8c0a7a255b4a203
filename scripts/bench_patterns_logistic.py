"""Benchmark: the activation-pattern programs with the logistic loss (issue 14, breast cancer).

Problem: scikit-learn's breast cancer data (N = 569, d = 30), every column standardized (mean
0, std 1), labels 0/1 as given (``loss="logistic"`` encodes them as -1/+1); the gates of
``sample_patterns(X, 1000, seed=0)`` (``--patterns``; duplicates removed);
``solve_patterns(X, y, lam, pats, loss="logistic", cone=..., bias="penalized", skip=None)``
(the convention of the diabetes benchmark, ``scripts/bench_patterns.py``) with its defaults
otherwise (solver "auto", tol 1e-8, ``working_set="auto"``), for the gated program and the
cone-constrained one at every lam of ``--lams``.

Each case runs in a child process (this script with ``--child``) with ``OMP_NUM_THREADS=1``
(and the other BLAS thread variables) killed after ``--limit`` seconds of wall clock. The
child reports wall time, CPU time of the process (``time.process_time()``), working-set
rounds, objective, nnlasso's certified relative gap, status, neurons (active blocks) and the
solve's time split; it logs the rounds to stderr (a killed case still says how far it got).

``--kwargs JSON`` passes extra keyword arguments to ``solve_patterns`` (e.g.
``'{"solver": "CLARABEL"}'``), the same for every case, so that two variants can be run in the
same batch; ``--parallel 2`` runs two children at a time (same load for both).

    OMP_NUM_THREADS=1 python scripts/bench_patterns_logistic.py --limit 600
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time

import numpy as np

PROGRAMS = ("gated", "cone")
LAMS = (0.1, 0.01, 0.001)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "RAYON_NUM_THREADS")


def load_breast_cancer_std() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer data, columns standardized; labels 0/1 (float)."""
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X, y.astype(float)


def make_problem(n_patterns: int = 1000, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (569, 30), labels (569,) and the patterns of ``sample_patterns(X, n, seed)``."""
    from nnlasso.patterns import sample_patterns
    X, y = load_breast_cancer_std()
    return X, y, sample_patterns(X, n_patterns, seed=seed)[0]


def run_case(program: str, lam: float, n_patterns: int, kwargs: dict) -> dict:
    """Solve one case in this process and measure it (see the module docstring)."""
    from nnlasso.patterns import solve_patterns
    X, y, pats = make_problem(n_patterns)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s")   # the rounds, for a killed case
    load0 = os.getloadavg()[0]
    c0, w0 = time.process_time(), time.perf_counter()
    sol = solve_patterns(X, y, lam, pats, loss="logistic", cone=program == "cone",
                         bias="penalized", skip=None, verbose=True, **kwargs)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    ws = sol.info["working_set"]
    return {"program": program, "lam": lam, "n_patterns": int(sol.n_patterns),
            "kwargs": kwargs, "wall_s": wall, "cpu_s": cpu,
            "rounds": int(ws.get("rounds", 1)), "ws_blocks": int(ws.get("blocks", 0)),
            "ws_rows": int(ws.get("rows", 0)), "objective": float(sol.objective),
            "rel_gap": float(sol.rel_gap), "status": sol.status,
            "neurons": int(sol.W.shape[0]), "inner": sol.inner,
            "newton": ws.get("newton"),
            "times": {k: float(v) for k, v in sol.times.items()},
            "history": [{k: (float(v) if isinstance(v, (float, np.floating)) else v)
                         for k, v in h.items()} for h in ws.get("history", [])],
            "load": [load0, os.getloadavg()[0]]}


def _child_env() -> dict:
    env = dict(os.environ)
    for v in _THREAD_VARS:
        env[v] = "1"
    return env


def _start(program: str, lam: float, n_patterns: int, kwargs: dict) -> subprocess.Popen:
    cmd = [sys.executable, os.path.abspath(__file__), "--child",
           json.dumps({"program": program, "lam": lam, "n_patterns": n_patterns,
                       "kwargs": kwargs})]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_child_env())


def _finish(proc: subprocess.Popen, case: dict, limit: float, t0: float) -> dict:
    """Wait for a child (at most until t0 + limit), then its row; a killed or failed case has
    ``status`` "killed after S s" / "failed: ..." and NaN figures."""
    try:
        out, err = proc.communicate(timeout=max(0.0, t0 + limit - time.perf_counter()))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        log = (err or "").strip().splitlines()
        return {**case, "status": f"killed after {limit:g} s", "wall_s": float("nan"),
                "log": log[-20:]}
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        log = (err or "").strip().splitlines() or ["no output"]
        return {**case, "status": f"failed: {log[-1][:200]}",
                "wall_s": time.perf_counter() - t0, "log": log[-20:]}
    return json.loads(lines[-1])


def run_limited(cases: list[dict], limit: float, parallel: int = 1) -> list[dict]:
    """Every case (dicts with program, lam, n_patterns, kwargs) in a child process killed after
    ``limit`` seconds of wall clock, ``parallel`` children at a time; rows in the cases' order."""
    rows: list[dict | None] = [None] * len(cases)
    pending = list(range(len(cases)))
    running: list[tuple[int, subprocess.Popen, float]] = []
    while pending or running:
        while pending and len(running) < max(1, parallel):
            i = pending.pop(0)
            c = cases[i]
            running.append((i, _start(c["program"], c["lam"], c["n_patterns"], c["kwargs"]),
                            time.perf_counter()))
        i, proc, t0 = running.pop(0)
        rows[i] = _finish(proc, cases[i], limit, t0)
        r = rows[i]
        print(f"{r['program']} lam {r['lam']:g} {json.dumps(r.get('kwargs', {}))}: {r['status']}"
              + (f", wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, rounds {r['rounds']}, "
                 f"rel gap {r['rel_gap']:.1e}, times {r['times']}" if "objective" in r else ""),
              flush=True)
        for line in r.get("log", []):
            print("   ", line, flush=True)
    return rows  # type: ignore[return-value]


def format_table(rows: list[dict]) -> str:
    """Markdown table of the measured cases."""
    head = ("| program | lam | patterns | variant | wall (s) | CPU (s) | rounds | objective | "
            "rel gap | status | neurons |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        var = ", ".join(f"{k}={v}" for k, v in (r.get("kwargs") or {}).items()) or "default"
        if "objective" not in r:
            lines.append(f"| {r['program']} | {r['lam']:g} | {r['n_patterns']} | {var} | "
                         f"{r['wall_s']:.1f} | | | | | {r['status']} | |")
            continue
        lines.append(f"| {r['program']} | {r['lam']:g} | {r['n_patterns']} | {var} | "
                     f"{r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['rounds']} | "
                     f"{r['objective']:.10g} | {r['rel_gap']:.1e} | {r['status']} | "
                     f"{r['neurons']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", default=",".join(PROGRAMS), help="gated,cone")
    ap.add_argument("--lams", default=",".join(str(v) for v in LAMS))
    ap.add_argument("--patterns", type=int, default=1000, help="gates sampled (seed 0)")
    ap.add_argument("--limit", type=float, default=600.0, help="wall-clock limit per case (s)")
    ap.add_argument("--parallel", type=int, default=1, help="children at a time")
    ap.add_argument("--kwargs", action="append", default=None,
                    help="JSON dict of solve_patterns keyword arguments; repeat for variants "
                         "(each case runs once per variant)")
    ap.add_argument("--json", help="write the rows (with per-round histories) to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        c = json.loads(args.child)
        print(json.dumps(run_case(c["program"], c["lam"], c["n_patterns"], c["kwargs"])))
        return
    variants = [json.loads(k) for k in (args.kwargs or ["{}"])]
    cases = [{"program": p, "lam": float(lam), "n_patterns": args.patterns, "kwargs": kw}
             for p in args.programs.split(",") for lam in args.lams.split(",")
             for kw in variants]
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = run_limited(cases, args.limit, args.parallel)
    print(f"load average at end: {os.getloadavg()}", flush=True)
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
