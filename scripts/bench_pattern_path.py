"""Benchmark: the lam path of the pattern programs (nnlasso.pattern_path) vs one cold solve.

Problem: the gates of scripts/bench_patterns.py (diabetes, X and y standardized, N = 442,
d = 10; ``sample_patterns(X, n, seed=0)`` with pyscnn's strict thresholds, ``strict_gates``),
no skip, the penalized bias (Pilanci-Ergen), the gated program and the cone-constrained one.
For each program, in the same run:

- ``path``: :func:`nnlasso.pattern_path` over ``--n-lams`` values geometric from ``--lam-hi``
  down to ``--lam-lo`` (absolute lam, unaveraged loss; default 20 values 1.0 ... 0.001), one
  row per lam: wall and CPU seconds, working-set rounds, initial blocks of the warm start
  (``start``) and how many of them the sequential screening added (``screened``), final
  working blocks and cone rows, neurons, objective, nnlasso's certified relative gap, status;
- ``cold``: one :func:`nnlasso.solve_patterns` at ``--ref-lam`` (default 0.01), the issue's "one
  solve", and the ratio path total / cold (wall and CPU);
- with ``--cold-all``, also a cold solve at every lam of the path (rounds, and the relative
  difference of the objectives, path vs cold).

Run e.g. ``OMP_NUM_THREADS=1 python scripts/bench_pattern_path.py --programs gated,cone
--n-gated 1000 --n-cone 200``; docs/benchmarks.md ("lam path of the pattern programs") has the
measured table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_patterns import load_diabetes_std, strict_gates

from nnlasso.patterns import pattern_path, sample_patterns, solve_patterns


def gates_patterns(X: np.ndarray, n: int) -> np.ndarray:
    """The benchmark's patterns: strict thresholds of sample_patterns(X, n, seed=0)'s gates."""
    _, G, h = sample_patterns(X, n, seed=0)
    proj, t = strict_gates(X, G, h)
    return (proj - t > 0).T


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def run(programs=("gated", "cone"), n_gated: int = 1000, n_cone: int = 200, n_lams: int = 20,
        lam_hi: float = 1.0, lam_lo: float = 1e-3, ref_lam: float = 0.01,
        cold_all: bool = False, verbose: bool = True, path_working_set="auto",
        cold_working_set="auto", screen: bool = True, warm_solver: str = "newton",
        cold: bool = True) -> list[dict]:
    """One dict per program: the path rows, the cold solve and the ratios."""
    X, y = load_diabetes_std()
    lams = np.geomspace(lam_hi, lam_lo, n_lams)
    out = []
    for program in programs:
        cone = program == "cone"
        pats = gates_patterns(X, n_gated if not cone else n_cone)
        kw = dict(cone=cone, bias="penalized", skip=None)
        if cold:
            one, cw, cc = _timed(lambda: solve_patterns(X, y, ref_lam, pats, **kw,
                                                        working_set=cold_working_set))
        else:
            one, cw, cc = None, float("nan"), float("nan")
        sols, pw, pc = _timed(lambda: pattern_path(X, y, lams, pats, **kw,
                                                   working_set=path_working_set,
                                                   screen=screen, warm_solver=warm_solver))
        rows = []
        for lam, s in zip(lams, sols):
            wsi = s.info.get("working_set", {})
            row = dict(lam=float(lam), wall=s.times["total"], rounds=wsi.get("rounds", 1),
                       start=s.info["path"]["start_blocks"],
                       screened=s.info["path"]["screened"], blocks=wsi.get("blocks", 0),
                       rows=wsi.get("rows", 0), neurons=s.n_active, objective=s.objective,
                       rel_gap=s.rel_gap, status=s.status, cpu=s.info["path"]["cpu"],
                       compile=s.times["compile"], solve=s.times["solve"],
                       dual=s.times["dual"],
                       round_blocks=[h["blocks"] for h in wsi.get("history", [])],
                       round_rows=[h["rows"] for h in wsi.get("history", [])],
                       round_solve=[round(h["solve"], 2) for h in wsi.get("history", [])],
                       newton=s.info["path"].get("newton"))
            if cold_all:
                c = solve_patterns(X, y, lam, pats, **kw, working_set=cold_working_set)
                row["cold_rounds"] = c.info["working_set"]["rounds"]
                row["cold_wall"] = c.times["total"]
                row["obj_diff"] = (s.objective - c.objective) / abs(c.objective)
                row["cold_rel_gap"] = c.rel_gap
            rows.append(row)
            if verbose:
                print(program, row, file=sys.stderr, flush=True)
        res = dict(program=program, n_patterns=int(pats.shape[0]), lams=lams.tolist(),
                   rows=rows, path_wall=pw, path_cpu=pc, cold_wall=cw, cold_cpu=cc,
                   cold_rounds=one.info["working_set"]["rounds"] if one else 0,
                   cold_rel_gap=one.rel_gap if one else float("nan"),
                   cold_status=one.status if one else "-", ratio_wall=pw / cw,
                   ratio_cpu=pc / cc, warm_solver=warm_solver)
        out.append(res)
        if verbose:
            print(format_program(res), flush=True)
    return out


def format_program(res: dict) -> str:
    """Markdown table of one program's path and its summary line."""
    cold_cols = "cold_rounds" in res["rows"][0]
    head = ("| lam | time s | CPU s | solve s | cert s | rounds | start blocks (screened) | "
            "blocks | cone rows | neurons | objective | rel gap | status |"
            + (" cold rounds | obj rel diff |" if cold_cols else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in res["rows"]:
        line = (f"| {r['lam']:.4g} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                f"{r['solve'] + r['compile']:.2f} | {r['dual']:.2f} | {r['rounds']} | "
                f"{r['start']} "
                f"({r['screened']}) | {r['blocks']} | {r['rows']} | {r['neurons']} | "
                f"{r['objective']:.10g} | {r['rel_gap']:.1e} | {r['status']} |")
        if cold_cols:
            line += f" {r['cold_rounds']} | {r['obj_diff']:.1e} |"
        lines.append(line)
    lines.append(
        f"\n{res['program']}, {res['n_patterns']} patterns: path of {len(res['rows'])} values "
        f"{res['path_wall']:.1f} s wall / {res['path_cpu']:.1f} s CPU; one cold solve at the "
        f"reference lam {res['cold_wall']:.1f} s wall / {res['cold_cpu']:.1f} s CPU "
        f"({res['cold_rounds']} rounds, rel gap {res['cold_rel_gap']:.1e}, "
        f"{res['cold_status']}); ratio {res['ratio_wall']:.2f} wall, {res['ratio_cpu']:.2f} CPU")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", default="gated,cone", help="comma list of gated, cone")
    ap.add_argument("--n-gated", type=int, default=1000)
    ap.add_argument("--n-cone", type=int, default=200)
    ap.add_argument("--n-lams", type=int, default=20)
    ap.add_argument("--lam-hi", type=float, default=1.0)
    ap.add_argument("--lam-lo", type=float, default=1e-3)
    ap.add_argument("--ref-lam", type=float, default=0.01, help="lam of the cold solve")
    ap.add_argument("--cold-all", action="store_true",
                    help="also a cold solve at every lam of the path")
    ap.add_argument("--path-working-set", default="auto", choices=["auto", "on", "off"],
                    help="working_set of the path's solves")
    ap.add_argument("--cold-working-set", default="auto", choices=["auto", "on", "off"],
                    help="working_set of the cold solves")
    ap.add_argument("--no-screen", action="store_true",
                    help="pattern_path(screen=False): warm start from the previous set only")
    ap.add_argument("--warm-solver", default="newton", choices=["newton", "ip"],
                    help="pattern_path(warm_solver=...): the face Newton point first, or the "
                         "interior-point loop only")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold solve")
    ap.add_argument("--out", default=None, help="also write the results as JSON to this file")
    a = ap.parse_args(argv)
    ws = {"auto": "auto", "on": True, "off": False}
    res = run(tuple(a.programs.split(",")), a.n_gated, a.n_cone, a.n_lams, a.lam_hi, a.lam_lo,
              a.ref_lam, a.cold_all, path_working_set=ws[a.path_working_set],
              cold_working_set=ws[a.cold_working_set], screen=not a.no_screen,
              warm_solver=a.warm_solver, cold=not a.no_cold)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
