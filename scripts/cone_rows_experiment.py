"""What drives the working-set rounds of the cone program (issue 14; docs/benchmarks.md,
"Issue 14 [4/6] (2026-11-28, helper cone)").

The benchmark's problem (diabetes standardized, ``sample_patterns(X, P, seed=0)``'s gates as in
``scripts/bench_patterns.py``, ``solve_patterns(X, y, lam, pats, cone=True, bias="penalized",
skip=None)``'s program) is solved by ``PatternProgram.solve_working_set`` with one change of
the first working set or of a rule, and the rounds, the final working set and the CPU time of
the process (``time.process_time()``; run with ``OMP_NUM_THREADS=1``) are printed. Every
variant ends with nnlasso's certificate over all blocks and rows, unchanged.

    python scripts/cone_rows_experiment.py main --save opt.npz      # the loop as it is
    python scripts/cone_rows_experiment.py oracle-set --oracle opt.npz
    python scripts/cone_rows_experiment.py oracle-blocks --oracle opt.npz [--gate-k 40]
    python scripts/cone_rows_experiment.py gate-rows --gate-k 40
    python scripts/cone_rows_experiment.py ridge-start --n-init 400
    python scripts/cone_rows_experiment.py no-prune

Variants:

- ``main``: the loop as it is; ``--save`` writes its final working blocks, rows, theta and mu.
- ``oracle-set``: start from the final working blocks AND rows of ``--oracle`` (the floor: the
  cost of one restricted solve of the final program plus its certificate).
- ``oracle-blocks``: start from the final working blocks of ``--oracle`` with the entry rows of
  the rule (or, with ``--gate-k K``, the K rows nearest the gate's hyperplane instead).
- ``gate-rows``: the loop from the zero network, an entering block's rows = the rule's 24 rows
  and the K rows nearest the hyperplane of the gate its pattern came from
  (|xl_n . (g, t)| / (|xl_n| |(g, t)|) smallest; the gates are known here, not to
  ``solve_patterns``).
- ``ridge-start``: the first blocks = the ``--n-init`` largest ratios at the dual point
  q = a (K + a I)^-1 y of kernel ridge regression on the gated features,
  K = (Xl Xl^T) o (D D^T), a = 1e-3 trace(K) / N (instead of q0 = y).
- ``no-prune``: zero working blocks never leave the working set.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_patterns import load_diabetes_std, strict_gates  # noqa: E402

from nnlasso.patterns import sample_patterns  # noqa: E402
from nnlasso.patterns.solve import _build  # noqa: E402


def problem(lam: float, n_patterns: int):
    X, y = load_diabetes_std()
    _, G, h = sample_patterns(X, n_patterns, seed=0)
    proj, t = strict_gates(X, G, h)
    pats = (proj - t > 0).T
    ctx = _build(X, y, lam, pats, loss="squared", skip=None, cone=True, bias="penalized",
                 solver="auto", tol=1e-6, options=None, working_set=True)
    return ctx["prog"], np.hstack([G, t[:, None]])


def gate_rows(prog, gth: np.ndarray, K: int) -> np.ndarray:
    """(K, P): per pattern, the K rows nearest its gate's hyperplane (angle)."""
    d = np.abs(prog.Xl @ gth.T) / prog.xln[:, None] / np.linalg.norm(gth, axis=1)[None, :]
    return np.argsort(d, axis=0)[:K]


def run(variant: str, lam: float = 0.01, patterns: int = 1000, gate_k: int | None = None,
        n_init: int = 400, oracle: dict | None = None) -> dict:
    """One variant (see the module docstring); ``oracle`` is the dict ``main --save`` writes.
    Returns the certified result, the loop's info and the CPU / wall time of the loop."""
    prog, gth = problem(lam, patterns)
    c0, w0 = time.process_time(), time.perf_counter()
    start = None
    if variant in ("oracle-set", "oracle-blocks"):
        start = {"blocks": oracle["blocks"]}
        if variant == "oracle-set":
            start["rows"] = oracle["rows"]
    if gate_k is not None:
        near = gate_rows(prog, gth, gate_k)
        rule = prog._entry_rows
        keep_rule = variant != "oracle-blocks"

        def entry(ks, q, mu):
            base = rule(ks, q, mu) if keep_rule else [np.flatnonzero(mu[k] > 0) for k in ks]
            return [np.union1d(base[j], near[:, prog.bpat[k]]) for j, k in enumerate(ks)]
        prog._entry_rows = entry
    if variant == "ridge-start":
        Dm = prog.D.astype(float)
        Km = (prog.Xl @ prog.Xl.T) * (Dm @ Dm.T)
        reg = 1e-3 * np.trace(Km) / prog.N
        q = reg * np.linalg.solve(Km + reg * np.eye(prog.N), prog.y)
        r, mu = prog.block_ratios(q, np.zeros((prog.B, prog.N)), need_below=0.0)
        start = {"blocks": np.argsort(-r, kind="stable")[:n_init], "q": q, "mu": mu}
    if variant == "no-prune":
        prog.prune_below = -np.inf
    res, ev, cert, info = prog.solve_working_set(start=start)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"res": res, "ev": ev, "cert": cert, "info": info, "cpu": cpu, "wall": wall,
            "rel_gap": prog.rel_gap(ev["objective"], cert["dual"])}


def save_working_set(path: str, blocks: np.ndarray, rows: dict) -> None:
    """The final working set as an .npz of plain arrays (no pickle): the blocks, the blocks
    with a row set (``keys``, empty sets included), their row counts and all rows in order."""
    keys = np.array(sorted(rows), dtype=np.intp)
    np.savez(path, blocks=np.asarray(blocks, dtype=np.intp), keys=keys,
             counts=np.array([len(rows[k]) for k in keys], dtype=np.intp),
             row=np.concatenate([np.asarray(rows[k], dtype=np.intp) for k in keys]
                                + [np.zeros(0, dtype=np.intp)]))


def load_working_set(path: str) -> dict:
    """What :func:`save_working_set` wrote (np.load with allow_pickle=False)."""
    with np.load(path, allow_pickle=False) as f:
        blocks, keys, counts, r = f["blocks"], f["keys"], f["counts"], f["row"]
    parts = np.split(r, np.cumsum(counts)[:-1]) if keys.size else []
    return {"blocks": blocks, "rows": {int(k): p for k, p in zip(keys, parts)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", choices=["main", "oracle-set", "oracle-blocks", "gate-rows",
                                        "ridge-start", "no-prune"])
    ap.add_argument("--lam", type=float, default=0.01)
    ap.add_argument("--patterns", type=int, default=1000)
    ap.add_argument("--gate-k", type=int, default=None)
    ap.add_argument("--n-init", type=int, default=400)
    ap.add_argument("--oracle", default=None, help="file written by 'main --save'")
    ap.add_argument("--save", default=None)
    a = ap.parse_args()
    oracle = None
    if a.oracle:
        oracle = load_working_set(a.oracle)
    out = run(a.variant, a.lam, a.patterns, a.gate_k, a.n_init, oracle)
    ev, info = out["ev"], out["info"]
    print(f"{a.variant} lam {a.lam:g} gate_k {a.gate_k}: CPU {out['cpu']:.1f} s, wall "
          f"{out['wall']:.1f} s, objective {ev['objective']:.11g}, rel gap "
          f"{out['rel_gap']:.1e}, rounds {info['rounds']}, final {info['blocks']} blocks / "
          f"{info['rows']} rows, largest row violation {ev['max_row_violation']:.1e}")
    for i, h in enumerate(info["history"], 1):
        print(f"  round {i}: {h['blocks']} blocks, {h['rows']} rows, objective "
              f"{h['objective']:.8f}, rel gap {h['rel_gap']:.2e}, {h['new_rows']} new rows, "
              f"{h['violators']} violating blocks, {h['solve']:.1f} s wall")
    if a.save:
        save_working_set(a.save, info["working_blocks"], info["working_rows"])


if __name__ == "__main__":
    main()
