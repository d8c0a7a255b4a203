"""The ``nnlasso`` command line: ``solve``, ``batch`` and ``validate`` problem files.

Exit codes: 0 when every problem succeeded (status optimal or optimal_inaccurate), 1 when any
failed (their records are written all the same), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Sequence

from . import __version__
from .batch import OK_STATUSES, TIME_KEYS, BatchUsageError, expand_paths, run_batch, \
    run_isolated, run_problem
from .tasks import get_task


# --------------------------------------------------------------------------------------------
# formatting (pure)
# --------------------------------------------------------------------------------------------

def safe_text(text: str) -> str:
    """``text`` with control and formatting characters escaped (``\\x9b``, ``\\u202e``): names
    and paths from problem files cannot move the cursor or reorder a terminal's text."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float) and spec:
        return format(value, spec)
    return safe_text(str(value))


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """The batch summary: problem, status, N, neurons -> kept, bound, holds, gap, time.

    "neurons -> kept" reads K_active -> K_reduced for a fit or lasso problem (active neurons of
    the solution -> after support reduction) and K_dictionary -> K_reduced for a compression
    problem (hidden units of the trained network -> of the compressed one).
    """
    head = ("problem", "status", "N", "neurons -> kept", "bound", "holds", "gap", "time")
    rows = [head]
    for r in records:
        first = get_task(r.get("task")).neurons_before(r)
        K = f"{_fmt(first)} -> {_fmt(r.get('K_reduced'))}" \
            if r.get("K_active") is not None else "-"
        total = (r.get("times") or {}).get("total")
        rows.append((safe_text(str(r.get("problem"))), safe_text(str(r.get("status"))), _fmt(r.get("N")), K,
                     _fmt(r.get("width_bound")), _fmt(r.get("width_bound_holds")),
                     _fmt(r.get("gap"), ".2e"),
                     _fmt(total, ".1f") + ("s" if total is not None else "")))
    widths = [max(len(row[j]) for row in rows) for j in range(len(head))]
    right = {2, 4, 6, 7}
    lines = []
    for i, row in enumerate(rows):
        cells = [c.rjust(w) if j in right else c.ljust(w)
                 for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_record(r: dict[str, Any]) -> str:
    """A readable multi-line report of one record."""
    solver = _fmt(r.get("solver"))
    if r.get("inner") and r.get("inner") != r.get("solver"):
        solver += f" -> {_fmt(r['inner'])}"
    if r.get("fallback"):
        solver += f" (fallback {_fmt(r['fallback'])})"
    lines = [f"problem      {_fmt(r.get('problem'))}  ({_fmt(r.get('file'))})",
             f"task         {_fmt(r.get('task'))}   status {_fmt(r.get('status'))}   solver "
             f"{solver}"]
    if r.get("error"):
        lines.append(f"error        {safe_text(str(r['error']))}")
    if r.get("N") is not None:
        lines.append(f"data         N = {r['N']}, d = {r['d']}, D = {r['D']}")
    if r.get("K_dictionary") is not None:
        holds = {True: "holds", False: "DOES NOT HOLD", None: "-"}[r.get("width_bound_holds")]
        lines.append(f"neurons      {get_task(r.get('task')).neurons_text(r, _fmt)}   width "
                     f"bound {_fmt(r['width_bound'])} ({holds})")
    if r.get("objective") is not None:
        lines.append(f"objective    {r['objective']:.10g}   dual "
                     f"{_fmt(r.get('dual_objective'), '.10g')}   gap {_fmt(r.get('gap'), '.3e')} (relative "
                     f"{_fmt(r.get('rel_gap'), '.3e')})")
    cert = r.get("certificate")
    if cert:
        state = "certified" if cert.get("certified") else "not certified"
        extra = "" if cert.get("exact") is None else (
            ", exact" if cert["exact"] else ", lower bound only")
        lines.append(f"certificate  {cert.get('kind')}: max |eta| / lam = "
                     f"{_fmt(cert.get('max_ratio'), '.6f')} ({state}{extra})")
    times = r.get("times") or {}
    lines.append("times        " + "  ".join(f"{k} {times.get(k, 0.0):.2f}s" for k in TIME_KEYS))
    if r.get("solution_file"):
        lines.append(f"solution     {r['solution_file']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------

def _mb(args: argparse.Namespace) -> int | None:
    return None if args.max_memory is None else int(args.max_memory * 2**20)


def _check_environment(args: argparse.Namespace) -> None:
    """Usage errors that do not depend on the problems: ``NNLASSO_MAX_MEMORY_MB``."""
    if args.max_memory is None:
        from .errors import InvalidProblemError
        from .spec import max_memory_default
        try:
            max_memory_default()
        except InvalidProblemError as exc:
            raise BatchUsageError(str(exc)) from None


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send everything written to file descriptor 1 (Python prints and the solvers' native
    logs alike) to stderr, so that stdout carries only what the command prints afterwards."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _solve_record(args: argparse.Namespace) -> dict[str, Any]:
    from .batch.records import _clean, _error_text, empty_record
    from .spec import ProblemFileError, load_problem
    try:
        try:
            spec = load_problem(args.file, max_memory=_mb(args))
            has_limit = spec.solver.time_limit is not None
        except ProblemFileError:
            has_limit = False  # run_problem writes the error record
        if args.timeout is not None or has_limit:
            return run_isolated(args.file, args.file, timeout=args.timeout, max_memory=_mb(args),
                                save_solutions=args.save_solutions)
        return run_problem(args.file, max_memory=_mb(args), save_solutions=args.save_solutions)
    except Exception as exc:  # noqa: BLE001 - the command prints a record, never a traceback
        rec = empty_record(args.file)
        rec["error"] = _error_text(args.file, exc)
        return _clean(rec)


def _cmd_solve(args: argparse.Namespace) -> int:
    if args.save_solutions is not None:
        from .batch.runner import _check_folder
        args.save_solutions = _check_folder(args.save_solutions, "--save-solutions")
    if args.json:
        with _stdout_to_stderr():           # solver logs (verbose = true) must not break JSON
            rec = _solve_record(args)
        print(json.dumps(rec, allow_nan=False))
    else:
        rec = _solve_record(args)
        print(format_record(rec))
    return 0 if rec["status"] in OK_STATUSES else 1


def _cmd_validate(args: argparse.Namespace) -> int:
    from .spec import ProblemFileError, load_data, load_problem
    try:
        files = expand_paths(args.files)
    except BatchUsageError as exc:
        print(f"nnlasso validate: error: {exc}", file=sys.stderr)
        return 2
    bad = 0
    for f in files:
        try:
            spec = load_problem(f, max_memory=_mb(args))
            data = load_data(spec, max_memory=_mb(args))
        except ProblemFileError as exc:
            bad += 1
            print(f"INVALID  {safe_text(str(exc))}")
            continue
        except Exception as exc:  # noqa: BLE001 - still a clean line naming the field
            from .batch.records import _error_text
            bad += 1
            print(f"INVALID  {safe_text(_error_text(f, exc))}")
            continue
        extra = get_task(spec.task).describe(data)
        print(f"ok       {safe_text(f)}: {spec.task} [{spec.data.source}] N = {data.N}, d = {data.d}, "
              f"D = {data.D}{extra}, ~{data.memory / 2**20:.0f} MiB")
    return 1 if bad else 0


def _dask_executor(args: argparse.Namespace):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise BatchUsageError("--executor dask needs dask.distributed: pip install "
                              "'nnlasso[dask]'") from None
    cluster = None
    try:
        if args.scheduler:
            client = Client(args.scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=args.jobs, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise BatchUsageError(f"--scheduler: cannot connect to {args.scheduler!r} ({exc})"
                              ) from None
    return client, cluster


def _cmd_batch(args: argparse.Namespace) -> int:
    if args.scheduler and args.executor != "dask":
        print("nnlasso batch: error: --scheduler needs --executor dask", file=sys.stderr)
        return 2
    if args.retry_failed and not args.resume:
        print("nnlasso batch: error: --retry-failed needs --resume", file=sys.stderr)
        return 2
    client = cluster = None
    try:
        executor = None
        if args.executor == "dask":
            client, cluster = _dask_executor(args)
            executor = client.get_executor()
        records = run_batch(args.paths, args.out, jobs=args.jobs, executor=executor,
                            resume=args.resume, retry_failed=args.retry_failed,
                            timeout=args.timeout,
                            save_solutions=args.save_solutions, max_memory=_mb(args))
    except BatchUsageError as exc:
        print(f"nnlasso batch: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    print(format_table(records))
    failed = [r for r in records if r.get("status") not in OK_STATUSES]
    print(f"\n{len(records)} problem(s): {len(records) - len(failed)} ok, {len(failed)} failed; "
          f"records in {safe_text(str(args.out))}")
    for r in failed:
        print(f"  {r.get('status')}: {safe_text(str(r.get('error')))}")
    return 1 if failed else 0


def _positive_float(text: str) -> float:
    try:
        val = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not val > 0 or val == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return val


def _timeout(text: str) -> float:
    from .batch import MAX_TIMEOUT
    val = _positive_float(text)
    if val > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMEOUT:g} seconds (about 115 days), "
                                         f"got {text!r}; omit --timeout for no limit")
    return val


def _positive_int(text: str) -> int:
    try:
        val = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if val < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return val


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``nnlasso``."""
    parser = argparse.ArgumentParser(
        prog="nnlasso", description="Solve problem files (TOML, schema 1) of nnlasso.")
    parser.add_argument("--version", action="version", version=f"nnlasso {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-memory", type=_positive_float, metavar="MB",
                       help="refuse problems whose memory estimate exceeds MB (default: "
                            "$NNLASSO_MAX_MEMORY_MB or 4096)")

    def solving(p: argparse.ArgumentParser, timeout_help: str, save_help: str) -> None:
        """The options of the commands that solve: --timeout, --save-solutions, --max-memory."""
        p.add_argument("--timeout", type=_timeout, metavar="S", help=timeout_help)
        p.add_argument("--save-solutions", metavar="DIR", help=save_help)
        common(p)

    p = sub.add_parser("solve", help="solve one problem file and print a report")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the JSON record instead")
    solving(p, "time limit in seconds (run in a worker process)",
            "write the solution arrays (npz)")
    p.set_defaults(func=_cmd_solve)

    p = sub.add_parser("batch", help="run problem files / folders, one JSON record each")
    p.add_argument("paths", nargs="+", metavar="PATH", help="problem files or folders of them")
    p.add_argument("--out", default="results.jsonl", help="results file (JSON lines; default "
                                                          "%(default)s)")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="problems run in parallel (default 1)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local worker processes (default) or a Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    p.add_argument("--resume", action="store_true",
                   help="skip problems that already have a record in the results file "
                        "(any status)")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --resume: run again the problems whose record is an error or "
                        "a timeout")
    solving(p, "per-problem time limit in seconds", "write solution arrays (npz) here")
    p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("validate", help="check problem files and their data without solving")
    p.add_argument("files", nargs="+", metavar="FILE")
    common(p)
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 a problem failed, 2 usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:       # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        _check_environment(args)
        return args.func(args)
    except BatchUsageError as exc:
        print(f"nnlasso {args.command}: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
