"""Benchmark: the activation-pattern programs at scale (issue 14, "Scale").

Problem: a synthetic ReLU teacher, ``nnlasso.synthetic.relu_teacher(n=N, d=d, width=5,
noise=0.1, seed=0)`` (inputs uniform on [-1, 1]^d, 5 teacher neurons plus an affine part,
Gaussian noise 0.1); the logistic cases use the same generator with ``labels="binary"`` (the
noisy teacher output thresholded at its median). Gates from ``sample_patterns(X, P, seed=0)``
(duplicates removed). ``solve_patterns`` with its defaults (skip = C x + c0, CLARABEL, tol 1e-8,
``working_set="auto"``), the gated program (``cone=False``, penalized bias) and the
cone-constrained one (``cone=True``, unpenalized bias).

lam: ``lam = frac * lam_max`` with lam_max the gated program's own: the smallest lam at which
every block of the gated program is zero, max_i |[X, -1]^T D_i q0|_2 with q0 = -grad L at the
best affine (skip-only) fit, i.e. the ratio of nnlasso's certificate at the zero network
(``PatternProgram.certify`` with lam = 1). The same lam is used for the cone program (its own
lam_max is at most this one plus the effect of the unpenalized bias).

Each case runs in a child process (this script with ``--child``) killed after ``--limit``
seconds of wall clock, so that one case cannot hang the run. The child reports wall time,
CPU time (user + system of the process, all threads), peak resident memory
(``getrusage(RUSAGE_SELF).ru_maxrss``, which includes the interpreter and the imported
libraries: ``rss_base`` is the same figure measured after the imports and the data, before the
solve), optionally the tracemalloc peak of the solve (``--tracemalloc``: Python and NumPy
allocations, not CVXPY's or Clarabel's native buffers; it slows the solve), working-set rounds,
objective, nnlasso's certified relative gap, status and active neurons. Before the solve the
child also computes the size of the working set's first restricted program (``first_blocks``,
``first_fit_nnz``, ``first_rows``: :func:`first_round_size`, outside the timed region) and logs
the rounds to stderr, so that a killed or failed case still says how far it got.

The child runs under ``--max-memory-mb`` (default 8192, the issue's 8 GiB): its address space
is limited to that (an allocation beyond it fails the case instead of swapping the machine) and
nnlasso's memory guard gets the same cap (``NNLASSO_MAX_MEMORY_MB``; its default, 4 GiB,
refuses N = 5000 with 2000 patterns on its dense estimate).

With the environment variable ``BENCH_PATTERNS_LOG`` set to a file name, the child also
appends its round lines to that file as they happen (to follow a long case).

``--certify N:d:P`` times nnlasso's certificate of the cone program alone
(:func:`time_certificate`; set ``NNLASSO_MAX_MEMORY_MB`` above the guard's estimate).

Run ``OMP_NUM_THREADS=1 python scripts/bench_patterns_scale.py`` for the default cases (the
N = 5000, d = 20, 2000-pattern ones); ``--cases`` selects others, as
``loss:program:N:d:P:frac`` items, e.g. ``squared:gated:5000:20:2000:0.05``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time

import numpy as np

DEFAULT_CASES = ("squared:gated:5000:20:2000:0.05", "squared:cone:5000:20:2000:0.05",
                 "logistic:gated:5000:20:2000:0.05", "logistic:cone:5000:20:2000:0.05")


def parse_case(text: str) -> dict:
    """``loss:program:N:d:P:frac`` -> dict (loss squared|logistic, program gated|cone)."""
    parts = text.split(":")
    if len(parts) != 6 or parts[0] not in ("squared", "logistic") or \
            parts[1] not in ("gated", "cone"):
        raise ValueError(f"case {text!r}: expected loss:program:N:d:P:frac, e.g. "
                         "squared:gated:5000:20:2000:0.05")
    return {"loss": parts[0], "program": parts[1], "N": int(parts[2]), "d": int(parts[3]),
            "P": int(parts[4]), "frac": float(parts[5])}


def make_problem(loss: str, N: int, d: int, P: int, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (N, d), targets (N,) (labels {0, 1} for the logistic loss) and the sampled patterns."""
    from nnlasso.patterns import sample_patterns
    from nnlasso.synthetic import relu_teacher
    X, Y = relu_teacher(n=N, d=d, width=5, noise=0.1, seed=seed,
                        labels="binary" if loss == "logistic" else "none")
    y = np.asarray(Y, dtype=float).reshape(-1)
    pats = sample_patterns(X, P, seed=seed)[0]
    return X, y, pats


def gated_lam_max(X: np.ndarray, y: np.ndarray, pats: np.ndarray, loss: str) -> float:
    """The gated program's lam_max (penalized bias, skip C x + c0): the largest block ratio of
    nnlasso's certificate at the zero network with lam = 1."""
    from nnlasso.patterns.solve import _prepare
    from nnlasso.patterns.program import PatternProgram
    pb = _prepare(X, y, 1.0, pats, loss, True, False, None)
    P = pb["M"].shape[0]
    prog = PatternProgram(pb["X"], pb["T"], 1.0, pb["loss"], pb["M"], np.arange(P),
                          np.ones(P), cone=False, bias=pb["bias"], X_skip=pb["X_skip"],
                          intercept=pb["intercept"], lin_block=False, solver="CLARABEL",
                          tol=1e-8, options={})
    return float(prog.certify(np.zeros(X.shape[0]), None)["dual_ratio"])


def first_round_size(X: np.ndarray, y: np.ndarray, pats: np.ndarray, loss: str, lam: float,
                     cone: bool) -> dict:
    """Size of the working set's first restricted program (rule 1 of solve_patterns, Notes):
    the blocks with ratio > 1 at the zero network (at most ``n_init_blocks()``, within
    ``within_entry_budget``), their fit
    nonzeros sum_k min(|D_k|, N - |D_k|) (d+1) and, with cones, their entry rows (24 each
    plus the support of the multipliers)."""
    from nnlasso.patterns.solve import _build
    prog = _build(X, y, lam, pats, loss=loss, skip=True, cone=cone, bias=None, solver="auto",
                  tol=1e-8, options=None, working_set=True)["prog"]
    q = prog.dual_point(np.zeros(prog.N))
    r, mu = prog.block_ratios(q, np.zeros((prog.B, prog.N)) if cone else None)
    order = np.argsort(-r, kind="stable")[:min(prog.B, max(1, prog.n_init_blocks()))]
    init = order[r[order] > 1.0] if np.any(r[order] > 1.0) else order[:1]
    init = prog.within_entry_budget(init)
    size = prog.D[:, prog.bpat[init]].sum(axis=0)
    out = {"first_blocks": int(init.size),
           "first_fit_nnz": int(np.minimum(size, prog.N - size).sum() * prog.e),
           "violators_at_zero": int(np.sum(r > 1.0))}
    if cone:
        out["first_rows"] = int(sum(x.size for x in prog._entry_rows(init, q, mu)))
    return out


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


def run_case(case: dict, tracemalloc_on: bool = False) -> dict:
    """Solve one case in this process and measure it (see the module docstring)."""
    from nnlasso.patterns import solve_patterns
    X, y, pats = make_problem(case["loss"], case["N"], case["d"], case["P"])
    t0 = time.perf_counter()
    lam_max = gated_lam_max(X, y, pats, case["loss"])
    t_lam_max = time.perf_counter() - t0
    lam = case["frac"] * lam_max
    t0 = time.perf_counter()
    first = first_round_size(X, y, pats, case["loss"], lam, case["program"] == "cone")
    first["first_round_size_s"] = time.perf_counter() - t0
    print(json.dumps({"first_round": first}), file=sys.stderr, flush=True)
    rss_base = _rss_mib()
    if tracemalloc_on:
        import tracemalloc
        tracemalloc.start()
    load0 = os.getloadavg()[0]
    c0, w0 = time.process_time(), time.perf_counter()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s")   # the rounds, for a killed case
    if os.environ.get("BENCH_PATTERNS_LOG"):                # and, as they happen, to a file
        fh = logging.FileHandler(os.environ["BENCH_PATTERNS_LOG"])
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logging.getLogger().addHandler(fh)
    sol = solve_patterns(X, y, lam, pats, loss=case["loss"], cone=case["program"] == "cone",
                         verbose=True)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    load1 = os.getloadavg()[0]
    tm_peak = None
    if tracemalloc_on:
        tm_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    ws = sol.info["working_set"]
    return {**case, "n_patterns": int(sol.n_patterns), "lam": lam, "lam_max": lam_max,
            "t_lam_max": t_lam_max, "wall_s": wall, "cpu_s": cpu, "rss_peak_mib": _rss_mib(),
            "rss_base_mib": rss_base, "tracemalloc_peak_mib": tm_peak,
            "rounds": int(ws["rounds"]), "ws_blocks": int(ws["blocks"]), "ws_rows": int(ws["rows"]),
            "objective": float(sol.objective), "rel_gap": float(sol.rel_gap),
            "status": sol.status, "neurons": int(sol.W.shape[0]),
            "times": {k: float(v) for k, v in sol.times.items()},
            "history": ws.get("history", []), "load": [load0, load1], **first}


def _first_round_of(log: list[str]) -> dict:
    for line in log:
        if line.startswith('{"first_round"'):
            return json.loads(line)["first_round"]
    return {}


def time_certificate(N: int, d: int, P: int, frac: float = 0.05,
                     fit_fracs: tuple[float, ...] = (0.5, 0.9)) -> list[dict]:
    """nnlasso's certificate of the cone program alone (squared loss, lam = frac lam_max), over
    all blocks and rows with multipliers started from zero, at the fits z = f * (the noiseless
    teacher's output) for f in ``fit_fracs``: wall and CPU time, blocks with ratio > 1, the
    largest ratio and the peak RSS so far."""
    from nnlasso.patterns.solve import _build
    from nnlasso.synthetic import relu_teacher
    X, y, pats = make_problem("squared", N, d, P)
    F = relu_teacher(n=N, d=d, width=5, noise=0.0, seed=0)[1][:, 0]
    lam = frac * gated_lam_max(X, y, pats, "squared")
    prog = _build(X, y, lam, pats, loss="squared", skip=True, cone=True, bias=None,
                  solver="auto", tol=1e-8, options=None, working_set=True)["prog"]
    out = []
    for f in fit_fracs:
        c0, w0 = time.process_time(), time.perf_counter()
        cert = prog.certify(f * F, np.zeros((prog.B, N)))
        out.append({"N": N, "d": d, "B": prog.B, "fit_frac": f,
                    "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                    "above_1": int(np.sum(cert["ratios"] > 1.0)),
                    "max_ratio": float(cert["dual_ratio"]), "rss_peak_mib": _rss_mib()})
    return out


def run_limited(case: dict, limit: float, tracemalloc_on: bool = False,
                max_memory_mb: int | None = None, guard_mb: int | None = None) -> dict:
    """:func:`run_case` in a child process killed after ``limit`` seconds; a killed or failed
    case reports ``status`` "killed after S s" / "failed: ..." and NaN figures.
    ``max_memory_mb``: the child's address-space limit (RLIMIT_AS, so an allocation beyond it
    fails in the child instead of swapping the machine) and nnlasso's memory cap
    (``NNLASSO_MAX_MEMORY_MB``), unless ``guard_mb`` sets the latter."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child",
           ":".join(str(case[k]) for k in ("loss", "program", "N", "d", "P", "frac"))]
    if tracemalloc_on:
        cmd.append("--tracemalloc")
    env, pre = dict(os.environ), None
    if max_memory_mb is not None:
        env["NNLASSO_MAX_MEMORY_MB"] = str(int(max_memory_mb))
        cap = int(max_memory_mb) * 2**20

        def limit_memory() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        pre = limit_memory
    if guard_mb is not None:
        env["NNLASSO_MAX_MEMORY_MB"] = str(int(guard_mb))
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env,
                             preexec_fn=pre)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        log = err.strip().splitlines()
        return {**case, "status": f"killed after {limit:g} s", "wall_s": float("nan"),
                "log": log[-20:], **_first_round_of(log)}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        log = out.stderr.strip().splitlines() or ["no output"]
        return {**case, "status": f"failed: {log[-1][:200]}", "wall_s": time.perf_counter() - t0,
                "log": log[-20:], **_first_round_of(log)}
    return json.loads(lines[-1])


def format_table(rows: list[dict]) -> str:
    """Markdown table of the measured cases."""
    head = ("| loss | program | N | d | P | lam / lam_max | wall s | CPU s | peak RSS MiB "
            "(base) | rounds | objective | rel gap | status | neurons |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        if "objective" not in r:
            lines.append(f"| {r['loss']} | {r['program']} | {r['N']} | {r['d']} | {r['P']} | "
                         f"{r['frac']:g} | {r['wall_s']:.1f} | | | | | | {r['status']} | |")
            continue
        lines.append(
            f"| {r['loss']} | {r['program']} | {r['N']} | {r['d']} | {r['n_patterns']} | "
            f"{r['frac']:g} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['rss_peak_mib']:.0f} "
            f"({r['rss_base_mib']:.0f}) | {r['rounds']} | {r['objective']:.10g} | "
            f"{r['rel_gap']:.1e} | {r['status']} | {r['neurons']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES),
                    help="loss:program:N:d:P:frac items")
    ap.add_argument("--limit", type=float, default=900.0, help="wall-clock limit per case (s)")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--max-memory-mb", type=int, default=8192,
                    help="child's address-space limit and NNLASSO_MAX_MEMORY_MB (MiB; 0: none)")
    ap.add_argument("--guard-mb", type=int, default=None,
                    help="NNLASSO_MAX_MEMORY_MB of the child when it differs from --max-memory-mb "
                         "(the guard's estimate is that of the one-program solve)")
    ap.add_argument("--json", help="write the rows (with per-round histories) to this file")
    ap.add_argument("--certify", metavar="N:d:P",
                    help="time only the cone program's certificate (time_certificate) at this size")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.certify:
        N, d, P = (int(v) for v in args.certify.split(":"))
        for row in time_certificate(N, d, P):
            print(json.dumps(row), flush=True)
        return
    if args.child:
        print(json.dumps(run_case(parse_case(args.child), args.tracemalloc)))
        return
    rows = []
    for text in args.cases:
        r = run_limited(parse_case(text), args.limit, args.tracemalloc,
                        args.max_memory_mb or None, args.guard_mb)
        rows.append(r)
        hist = r.get("history", [])
        per_round = ", ".join(f"{h['blocks']}b/{h['rows']}r {h['solve']:.1f}s" for h in hist)
        print(f"{text}: {r['status']} wall {r['wall_s']:.1f} s"
              + (f", times {r['times']}, rounds [{per_round}]" if hist else ""), flush=True)
        for line in r.get("log", []) if not hist else []:
            print("   ", line, flush=True)
        if "first_blocks" in r:
            print("    first restricted program:", {k: v for k, v in r.items()
                                                    if k.startswith("first_")
                                                    or k == "violators_at_zero"}, flush=True)
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
