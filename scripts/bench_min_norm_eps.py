"""SCS vs CLARABEL on the tolerance-constrained min-norm program (MIN, eps > 0), by size.

The program is the one ``compress_layer(mlp, 1, X, eps=eps)`` solves for the hidden layer of
a one-hidden-layer regressor (``solve_min_norm(Phi, Psi, eps=eps, skip="intercept")``, Phi the
layer's N x width ReLU features on X, Psi its N x 1 output):

    min sum_k |V_k|_2  s.t.  |Phi V + 1 c0 - Psi|_F <= eps |Psi|_F.

The networks are scikit-learn ``MLPRegressor`` fits (seed 0) of y = sin(x1) + x2 x3 on
x ~ N(0, I_5), as in the "Defaults on a plain install" row of scripts/bench.py. For each size
the three calls (``solver="auto"``: the order of ``backends.min_norm_order``, SCS first, or
CLARABEL first when width > N, the next one when the first is not certified; ``"SCS"``;
``"CLARABEL"``), warmed up once on a tiny program, run ``--repeats`` times, interleaved (call order rotated each repeat, so that a
change of the machine's load hits every call alike), all in one process; the table gives the
median wall time of the whole call, the median of the backend's own solve time
(``Solution.times["solve"]``), the backend "auto" ended on and the largest certified relative
gap (nnlasso's own). Run it with ``OPENBLAS_NUM_THREADS=1`` on a loaded machine: the wall time
of these small programs is otherwise dominated by multi-threaded QR / SVD calls waiting for
busy cores (1.5-1.8 s each for a 600 x 65 matrix at load 8 on 2 cores).

Usage:  python scripts/bench_min_norm_eps.py [--sizes 200x16,600x64,...] [--eps 0.05]
                                             [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from typing import Any

import numpy as np

import nnlasso as nl

DEFAULT_SIZES = "200x16,600x64,600x256,2000x64,2000x256"
CALLS = ("auto", "SCS", "CLARABEL")


def layer_program(N: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(Phi, Psi): the hidden layer's ReLU features and the network's output on N points."""
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 5))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPRegressor(hidden_layer_sizes=(width,), max_iter=300, random_state=0).fit(X, y)
    Phi = np.maximum(X @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)
    Psi = Phi @ mlp.coefs_[1] + mlp.intercepts_[1]
    return Phi, Psi


def measure(sizes: list[tuple[int, int]], eps: float, repeats: int) -> list[dict[str, Any]]:
    rows = []
    Phi0, Psi0 = layer_program(50, 4)                # warm-up: imports, CVXPY's first compile
    for call in CALLS:
        nl.solve_min_norm(Phi0, Psi0, eps=eps, skip="intercept", solver=call)
    for N, width in sizes:
        Phi, Psi = layer_program(N, width)
        times: dict[str, list[float]] = {c: [] for c in CALLS}
        solve: dict[str, list[float]] = {c: [] for c in CALLS}
        gaps: dict[str, float] = {}
        backend = None
        for r in range(repeats):
            order = CALLS[r % 3:] + CALLS[:r % 3]
            for call in order:
                t0 = time.perf_counter()
                sol = nl.solve_min_norm(Phi, Psi, eps=eps, skip="intercept", solver=call)
                times[call].append(time.perf_counter() - t0)
                # the backend's own time (the SCS-then-CLARABEL "auto": both, when it fell back)
                solve[call].append(float(sol.times["solve"]))
                gaps[call] = max(gaps.get(call, 0.0), float(sol.rel_gap))
                if call == "auto":
                    backend = sol.fallback or sol.inner
        row = {"N": N, "width": width, "eps": eps, "auto_backend": backend,
               **{f"{c}_median": statistics.median(times[c]) for c in CALLS},
               **{f"{c}_times": times[c] for c in CALLS},
               **{f"{c}_solve_median": statistics.median(solve[c]) for c in CALLS},
               **{f"{c}_rel_gap": gaps[c] for c in CALLS}}
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def format_row(r: dict[str, Any]) -> str:
    ratio = r["auto_median"] / min(r["SCS_median"], r["CLARABEL_median"])
    return (f"| {r['N']} x {r['width']} | {r['auto_median']:.3f} | {r['auto_backend']} | "
            f"{r['SCS_median']:.3f} | {r['CLARABEL_median']:.3f} | {ratio:.2f} | "
            f"{r['SCS_solve_median']:.3f} | {r['CLARABEL_solve_median']:.3f} | "
            f"{r['auto_rel_gap']:.1e} / {r['SCS_rel_gap']:.1e} / {r['CLARABEL_rel_gap']:.1e} |")


HEADER = ("| N x width | auto (s) | auto's backend | SCS (s) | CLARABEL (s) | auto / best | "
          "SCS solve (s) | CLARABEL solve (s) | max rel gap auto / SCS / CLARABEL |\n"
          "|---|---:|---|---:|---:|---:|---:|---:|---|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="N x width pairs, comma separated")
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="write the raw figures here")
    args = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(HEADER, flush=True)
    rows = measure(sizes, args.eps, args.repeats)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
