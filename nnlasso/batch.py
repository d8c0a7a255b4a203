"""Batch runner: problem files in, one JSON record per problem out (docs/records.md).

* :func:`run_problem` runs one problem file in this process and always returns a record
  (``status = "error"`` with ``error = "file: field: message"`` when anything goes wrong).
* :func:`run_isolated` runs one problem in a *worker subprocess*
  (``python -m nnlasso.batch --serve``), so that a time limit can be enforced by killing the
  worker (status ``"timeout"``) and a crash of the solver cannot take the batch down. Workers
  are reused between problems (the import of CVXPY is paid once per worker) and exit on their
  own when their parent dies. Plain subprocesses also work inside daemonic processes (Dask
  workers, multiprocessing pools).
* :func:`run_batch` expands folders to their ``*.toml`` files, runs the problems on ``jobs``
  local workers or on any :class:`concurrent.futures.Executor` (e.g. Dask's
  ``Client.get_executor()``), appends each record to the results file as soon as it is known
  (fsync; the file is never truncated, is refused unless it is a results file, and is locked
  against a second batch), and with ``resume=True`` skips problems whose sha256 and resolved
  path already have a record (removing a cut-off last line left by a killed run).
"""
from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import hashlib
import json
import math
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import tomllib
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: results files are not locked
    fcntl = None

from .errors import InvalidProblemError, SolverError
from .memory import memory_cap
from .spec import ProblemData, ProblemFileError, ProblemSpec, load_data, load_problem, \
    read_problem_bytes

RECORD_KEYS = ("problem", "file", "path", "sha256", "task", "status", "error", "N", "d", "D",
               "K_dictionary", "K_active", "K_reduced", "width_bound", "width_bound_holds",
               "objective", "dual_objective", "gap", "rel_gap", "certificate", "solver", "inner",
               "fallback", "loss", "lam", "lam_max", "times",
               "nnlasso_version")
TIME_KEYS = ("load", "build", "compile", "solve", "verify", "total")
STATUSES = ("optimal", "optimal_inaccurate", "infeasible", "error", "timeout")
OK_STATUSES = ("optimal", "optimal_inaccurate")
#: relative tolerance of the dictionary certificate: certified iff max_ratio <= 1 + CERT_TOL
CERT_TOL = 1e-4

#: the largest time limit accepted (seconds, about 115 days; the same as [solver] time_limit)
MAX_TIMEOUT = 1e7

_READY = "NNLASSO-READY"
_PREFIX = "NNLASSO-RECORD "


class BatchUsageError(ValueError):
    """A usage error of the runner (no such path, no problem files, bad results file)."""


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------

def _version() -> str:
    import nnlasso
    return nnlasso.__version__


def resolved_path(file: str | os.PathLike) -> str:
    """A problem file's identity: its absolute path with the folder's symbolic links resolved
    (the file name itself is kept: a link in another folder reads its data from there).

    Independent of the working directory, so ``--resume`` from another folder recognizes the
    records; never raises (a link loop keeps its own name).
    """
    absolute = os.path.abspath(os.fspath(file))
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def empty_record(file: str, *, sha256: str | None = None, problem: str | None = None,
                 task: str | None = None) -> dict[str, Any]:
    """A record with every field of :data:`RECORD_KEYS` (docs/records.md), unknown values None."""
    rec: dict[str, Any] = {k: None for k in RECORD_KEYS}
    rec.update(problem=problem or Path(file).stem, file=file, path=resolved_path(file),
               sha256=sha256, task=task,
               status="error", times={k: 0.0 for k in TIME_KEYS}, nnlasso_version=_version())
    return rec


def _clean(value: Any) -> Any:
    """JSON-safe copy: NumPy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _error_text(file: str, exc: BaseException) -> str:
    """``"file: field: message"`` for any exception raised while running a problem."""
    if isinstance(exc, ProblemFileError):
        return str(exc)
    if isinstance(exc, SolverError):
        return f"{file}: solver: {str(exc).removeprefix('solver: ')}"
    if isinstance(exc, InvalidProblemError):
        msg = str(exc)
        if msg.startswith("NNLASSO_MAX_MEMORY_MB:"):
            return f"{file}: memory: {msg}"
        for prefix in ("solver options:", "options:"):   # the backends / the native solver
            if msg.startswith(prefix):
                return f"{file}: solver.options: {msg[len(prefix):].strip()}"
        head, sep, rest = msg.partition(":")
        if sep and head.strip() in ("eps", "lam", "lam_ratio", "skip", "loss"):
            return f"{file}: model.{head.strip()}: {rest.strip()}"
        return f"{file}: model: {msg}"
    if isinstance(exc, ImportError):
        return (f"{file}: task: {exc} (this nnlasso installation lacks a part the task needs; "
                "reinstall nnlasso or choose another task / dictionary kind)")
    if isinstance(exc, MemoryError):
        return (f"{file}: memory: out of memory (lower dictionary.size or data.max_samples, or "
                "lower --max-memory so the estimate refuses it up front)")
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return (f"{file}: internal: {type(exc).__name__}: {exc}{where} (unexpected; please report "
            "it with the problem file)")


# --------------------------------------------------------------------------------------------
# tasks (through the public API)
# --------------------------------------------------------------------------------------------

def _api(name: str) -> Any:
    """``nnlasso.<name>``, or an ImportError saying that this installation lacks it."""
    import nnlasso
    fn = getattr(nnlasso, name, None)
    if fn is None:
        raise ImportError(f"nnlasso.{name} is not available in this nnlasso installation")
    return fn


def _dictionary_certificate(sol: Any, Phi: np.ndarray, Y: np.ndarray, X: np.ndarray | None,
                            skip: Any, loss: str) -> dict[str, Any]:
    """max_k |Phi_k^T q|_2 / lam over the dictionary, q the dual residual of the fit."""
    from . import representer
    Z = sol.fitted(Phi, X if sol.skip_coef is not None else None)
    Q = representer.dual_residual(Z, Y, loss=loss, skip=skip)[0]
    c = representer.certify_dictionary(Phi, Q, sol.lam, tol=CERT_TOL)
    return {"kind": "dictionary", "max_ratio": float(c.max_ratio), "certified": bool(c.certified)}


def _continuous_certificate(fit: Any) -> dict[str, Any]:
    from . import representer
    c = representer.certify(fit, kind="continuous", tol=CERT_TOL)
    return {"kind": "continuous", "max_ratio": float(c.max_ratio), "certified": bool(c.certified),
            "exact": bool(c.exact), "gap": None if c.gap is None else float(c.gap)}


def _verify(spec: ProblemSpec, sol: Any, Phi: np.ndarray, skip: Any, rec: dict,
            Y: np.ndarray, X: np.ndarray | None, fit: Any = None) -> Any:
    """Width bound, support reduction and certificate per ``[verify]``; fills ``rec``."""
    from . import representer
    final = sol
    if spec.verify.reduce_support:
        final = representer.reduce_support(sol, Phi, skip=skip, Y=Y)
        rec["K_reduced"] = int(final.n_active)
    report = representer.check_width(final, Phi, skip=skip, Y=Y)
    rec["width_bound"] = int(report.bound)
    rec["width_bound_holds"] = bool(report.holds)
    cert = spec.verify.certificate
    if cert == "dictionary":
        rec["certificate"] = _dictionary_certificate(sol, Phi, Y, X, skip, spec.model.loss)
    elif cert == "continuous":
        rec["certificate"] = _continuous_certificate(fit)
    return final


def _solver_name(spec: ProblemSpec) -> str:
    """The record's ``solver``: the name asked for ("auto" in lower case, see docs/records.md)."""
    return "auto" if spec.solver.name.upper() == "AUTO" else spec.solver.name


def _fill_solution(rec: dict, sol: Any) -> None:
    rec.update(status=sol.status, D=int(sol.V.shape[1]), K_dictionary=int(sol.V.shape[0]),
               K_active=int(sol.n_active), objective=sol.objective,
               dual_objective=sol.dual_objective, gap=sol.gap, rel_gap=sol.rel_gap,
               solver=sol.solver, inner=getattr(sol, "inner", None),
               fallback=getattr(sol, "fallback", None))
    for key in ("compile", "solve"):
        rec["times"][key] = float(sol.times.get(key, 0.0))


def _run_fit(spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
    dic = spec.dictionary
    patterns = dic.kind in ("patterns", "gated")
    t0 = time.perf_counter()
    fit = _api("fit_shallow")(data.X, data.Y, lam=spec.model.lam, lam_ratio=spec.model.lam_ratio,
                              dictionary=dic.kind, n_neurons=dic.size, loss=spec.model.loss,
                              skip=spec.model.skip, solver=spec.solver.name, seed=dic.seed,
                              options=spec.solver.options or None,
                              n_patterns=dic.size if patterns else None)
    wall = time.perf_counter() - t0
    skip = {"linear": data.X, "intercept": "intercept"}.get(fit.skip)
    if fit.Phi is None:
        return _finish_pattern_fit(spec, data, fit, rec, wall, skip)
    sol = fit.solution
    _fill_solution(rec, sol)
    rec.update(loss=fit.loss, lam=float(fit.lam),
               lam_max=float(_api("lam_max")(fit.Phi, data.Y, loss=fit.loss, skip=skip)))
    rec["K_dictionary"] = int(fit.Phi.shape[1])
    rec["times"]["build"] = max(wall - rec["times"]["compile"] - rec["times"]["solve"], 0.0)
    t1 = time.perf_counter()
    final = _verify(spec, sol, fit.Phi, skip, rec, data.Y, data.X, fit=fit)
    rec["times"]["verify"] = time.perf_counter() - t1
    arrays = _solution_arrays(sol, "")
    arrays.update(_solution_arrays(final, "reduced_"))
    arrays.update(W=np.asarray(fit.dictionary.W), b=np.asarray(fit.dictionary.b))
    return arrays


def _finish_pattern_fit(spec: ProblemSpec, data: ProblemData, fit: Any, rec: dict, wall: float,
                        skip: Any) -> dict[str, np.ndarray]:
    """Record of an activation-pattern fit: verified on the recovered network's neurons."""
    from . import representer
    psol, net = fit.solution, fit.net
    times = dict(getattr(psol, "times", {}) or {})
    n_pat = getattr(psol, "n_patterns", None)
    rec.update(status=getattr(psol, "status", "optimal"), D=int(net.V.shape[1]),
               K_dictionary=int(2 * n_pat) if n_pat is not None else None,
               K_active=int(net.W.shape[0]), objective=getattr(psol, "objective", fit.objective),
               dual_objective=getattr(psol, "dual_objective", None),
               gap=getattr(psol, "gap", None), rel_gap=getattr(psol, "rel_gap", None),
               solver=getattr(psol, "solver", _solver_name(spec)),
               inner=getattr(psol, "inner", None), fallback=getattr(psol, "fallback", None),
               loss=fit.loss, lam=float(fit.lam))
    rec["times"]["compile"] = float(times.get("compile", 0.0))
    rec["times"]["solve"] = float(times.get("solve", 0.0))
    rec["times"]["build"] = max(wall - rec["times"]["compile"] - rec["times"]["solve"], 0.0)
    t1 = time.perf_counter()
    arrays = {"W": np.asarray(net.W), "b": np.asarray(net.b), "V": np.asarray(net.V)}
    K = rec["K_active"]
    if spec.verify.reduce_support and K > 0:
        red = representer.reduce_network(net.W, net.b, net.V, data.X, skip_coef=net.skip_coef,
                                         intercept=net.intercept, Y=data.Y, lam=fit.lam,
                                         loss=fit.loss)
        K = rec["K_reduced"] = int(red.W.shape[0])
        arrays.update(reduced_W=np.asarray(red.W), reduced_b=np.asarray(red.b),
                      reduced_V=np.asarray(red.V))
    elif spec.verify.reduce_support:
        rec["K_reduced"] = 0
    Phi = fit.dictionary.features(data.X) if fit.dictionary.K else np.zeros((data.N, 1))
    rec["width_bound"] = int(representer.width_bound(Phi, data.Y, skip=skip))
    rec["width_bound_holds"] = K <= rec["width_bound"]
    if spec.verify.certificate == "continuous":
        rec["certificate"] = _continuous_certificate(fit)
    elif spec.verify.certificate == "dictionary" and fit.dictionary.K:
        c = representer.certify(fit, kind="dictionary", tol=CERT_TOL)
        rec["certificate"] = {"kind": "dictionary", "max_ratio": float(c.max_ratio),
                              "certified": bool(c.certified)}
    rec["times"]["verify"] = time.perf_counter() - t1
    return arrays


def _run_lasso(spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
    import nnlasso as nl
    t0 = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    if data.Phi is not None:
        Phi = data.Phi
    else:
        dic_spec = spec.dictionary
        if dic_spec.kind == "knots":
            dic = nl.knot_neurons(data.X)
        else:
            dic = nl.sample_neurons(data.X, dic_spec.size, method=dic_spec.kind,
                                    seed=dic_spec.seed)
        Phi = dic.features(data.X)
        arrays.update(W=np.asarray(dic.W), b=np.asarray(dic.b))
    skip: Any = {True: data.X, False: None, "intercept": "intercept"}[spec.model.skip]
    lmax = nl.lam_max(Phi, data.Y, loss=spec.model.loss, skip=skip)
    lam = spec.model.lam
    if lam is None:
        lam = spec.model.lam_ratio * lmax
        if not lam > 0:
            raise ProblemFileError(spec.file, "model.lam_ratio",
                                   "lam_max is 0 (the skip alone fits the data exactly); give "
                                   "lam instead")
    prep = time.perf_counter() - t0
    sol = nl.solve_lasso(Phi, data.Y, lam, loss=spec.model.loss, skip=skip,
                         solver=spec.solver.name, options=spec.solver.options or None)
    _fill_solution(rec, sol)
    rec.update(loss=spec.model.loss, lam=float(lam), lam_max=float(lmax))
    rec["times"]["build"] = prep + float(sol.times.get("build", 0.0))
    t1 = time.perf_counter()
    Xs = data.X if spec.model.skip is True else None
    final = _verify(spec, sol, Phi, skip, rec, data.Y, Xs)
    rec["times"]["verify"] = time.perf_counter() - t1
    arrays.update(_solution_arrays(sol, ""))
    arrays.update(_solution_arrays(final, "reduced_"))
    return arrays


def _run_compress(spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
    from .compress import compress_layer, compress_network
    mlp = data.network if data.network is not None else _api("MLP").load(
        str(spec.network.resolved))
    kw = dict(eps=spec.model.eps, lam=spec.model.lam, lam_ratio=spec.model.lam_ratio,
              refit=True, solver=spec.solver.name)
    if spec.network.layer == "all":
        small, report = compress_network(mlp, data.X, "all", **kw)
        steps = list(report.steps)
    else:
        small, report = compress_layer(mlp, spec.network.layer, data.X, **kw)
        steps = [report]
    bounds = [s.bound for s in steps]
    objs = [s.objective for s in steps]
    gaps = [s.gap for s in steps]
    objective = None if any(o is None for o in objs) else float(sum(objs))
    gap = None if any(g is None for g in gaps) else float(sum(gaps))
    rec.update(status=report.status, D=int(data.weights[-1].shape[0]),
               K_dictionary=int(report.neurons_before), K_active=int(report.neurons_after),
               K_reduced=int(report.neurons_after),
               width_bound=None if any(b is None for b in bounds) else int(sum(bounds)),
               width_bound_holds=None if any(b is None for b in bounds) else all(
                   int(s.neurons_after) <= int(s.bound) for s in steps),
               objective=objective, gap=gap, solver=report.solver or _solver_name(spec),
               inner=report.inner, fallback=report.fallback, loss="squared",
               lam=steps[0].lam if len(steps) == 1 else None)
    if objective is not None and gap is not None:
        rec["dual_objective"] = objective - gap
        rec["rel_gap"] = gap / max(abs(objective), abs(objective - gap),
                                   np.finfo(float).tiny)
    times = report.times or {}
    rec["times"]["build"] = float(times.get("rebalance", 0.0) + times.get("features", 0.0))
    rec["times"]["solve"] = float(times.get("solve", 0.0))
    rec["times"]["verify"] = float(sum(times.get(k, 0.0) for k in ("reduce", "refit",
                                                                     "verify")))
    if report.verified is False:
        rec["status"] = "error"
        rec["error"] = (f"{spec.file}: model.eps: the compressed network does not keep the "
                        f"layer outputs within the tolerance (max output change "
                        f"{report.max_output_change:.3g}); use eps > 0 or lam_ratio")
    arrays = {}
    for i, (W, b) in enumerate(zip(small.weights, small.biases), 1):
        arrays[f"W{i}"], arrays[f"b{i}"] = np.asarray(W), np.asarray(b)
    arrays["max_output_change"] = np.array([np.nan if report.max_output_change is None
                                            else float(report.max_output_change)])
    return arrays


def _solution_arrays(sol: Any, prefix: str) -> dict[str, np.ndarray]:
    out = {f"{prefix}V": np.asarray(sol.V), f"{prefix}active": np.asarray(sol.active)}
    if sol.skip_coef is not None:
        out[f"{prefix}skip_coef"] = np.asarray(sol.skip_coef)
    if sol.intercept is not None:
        out[f"{prefix}intercept"] = np.asarray(sol.intercept)
    return out


_TASKS: dict[str, Callable[[ProblemSpec, ProblemData, dict], dict[str, np.ndarray]]] = {
    "fit": _run_fit, "lasso": _run_lasso, "compress": _run_compress}


def _solution_path(folder: str | os.PathLike, name: str, sha256: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "problem"
    return Path(folder) / f"{safe[:80]}-{sha256[:12]}.npz"


def _read_spec(path: str | os.PathLike, display: str, max_memory: int | None,
               rec: dict) -> ProblemSpec:
    """Read a problem file once, put its sha256 in ``rec`` and return the validated spec."""
    raw = read_problem_bytes(path, display)
    rec["sha256"] = hashlib.sha256(raw).hexdigest()
    try:
        return load_problem(path, display=display, max_memory=max_memory, raw=raw)
    except Exception:
        _fill_declared(raw, rec)
        raise


def _fill_declared(raw: bytes, rec: dict) -> None:
    """Best effort for the error record of an invalid file: the name and task it declares
    (when the TOML parses and they are valid), so failed problems can still be grouped."""
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except Exception:  # noqa: BLE001 - hostile text (deep nesting: RecursionError) keeps its
        return         # original error, which load_problem already named
    if isinstance(doc.get("task"), str) and doc["task"] in _TASKS:
        rec["task"] = doc["task"]
    name = doc.get("name")
    if isinstance(name, str) and 0 < len(name) <= 200 and name.isprintable():
        rec["problem"] = name


def run_problem(path: str | os.PathLike, *, display: str | None = None,
                max_memory: int | None = None,
                save_solutions: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run one problem file in this process and return its record (never raises).

    Parameters
    ----------
    path : path-like
        The problem file.
    display : str, optional
        How the file is named in the record and the messages (default ``str(path)``).
    max_memory : int, optional
        Memory cap in bytes (default: ``NNLASSO_MAX_MEMORY_MB`` or 4 GiB).
    save_solutions : path-like, optional
        Folder for an npz of the solution arrays (``V``, ``skip_coef``, ``intercept``,
        ``active``, the reduced ones with a ``reduced_`` prefix, the dictionary ``W``, ``b``;
        for compress the compressed network ``W1, b1, ...``); the record then has
        ``solution_file``.

    Returns
    -------
    dict
        The record (fields: :data:`RECORD_KEYS`, documented in docs/records.md).
    """
    t_start = time.perf_counter()
    display = str(path) if display is None else display
    rec = empty_record(display)
    rec["path"] = resolved_path(path)
    try:
        spec = _read_spec(path, display, max_memory, rec)
        rec.update(problem=spec.name, task=spec.task, solver=_solver_name(spec))
        data = load_data(spec, max_memory=max_memory)
        rec.update(N=data.N, d=data.d, D=data.D)
        rec["times"]["load"] = time.perf_counter() - t_start
        with memory_cap(max_memory):      # the API's guard applies the same cap
            arrays = _TASKS[spec.task](spec, data, rec)
        if rec["status"] not in STATUSES:
            rec["status"] = "error"
        if save_solutions is not None:
            target = _solution_path(save_solutions, spec.name, spec.sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, target)
            rec["solution_file"] = str(target)
        if rec["status"] not in OK_STATUSES and rec["error"] is None:
            rec["error"] = (f"{display}: solver: {spec.solver.name} returned status "
                            f"{rec['status']!r} (try another [solver] name or a larger lam)")
    except Exception as exc:  # every failure becomes a record
        rec["status"] = "error"
        rec["error"] = _error_text(display, exc)
    rec["times"]["total"] = time.perf_counter() - t_start
    return _clean(rec)


# --------------------------------------------------------------------------------------------
# worker subprocesses
# --------------------------------------------------------------------------------------------

class _Worker:
    """A ``python -m nnlasso.batch --serve`` subprocess answering one problem at a time."""

    def __init__(self, threads: int | None = None) -> None:
        env = dict(os.environ)
        if threads is not None:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                        "RAYON_NUM_THREADS"):
                env.setdefault(var, str(threads))
        self.threads = threads
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nnlasso.batch", "--serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            errors="replace", bufsize=1, start_new_session=True, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=30)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.ready = False
        with _REGISTRY_LOCK:
            _REGISTRY.add(self)

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _next(self, deadline: float | None) -> str | None | bool:
        """Next protocol line; None at EOF; False at the deadline."""
        while True:
            wait = None if deadline is None else min(deadline - time.monotonic(),
                                                     threading.TIMEOUT_MAX)
            if wait is not None and wait <= 0:
                return False
            try:
                line = self.lines.get(timeout=wait)
            except queue.Empty:
                return False
            if line is None or line.startswith((_READY, _PREFIX)):
                return line

    def start(self, timeout: float = 600.0) -> None:
        """Wait until the worker has imported nnlasso; raise RuntimeError if it cannot."""
        if self.ready:
            return
        line = self._next(time.monotonic() + timeout)
        if line != _READY:
            self.kill()
            raise RuntimeError(f"worker did not start ({self.tail()})")
        self.ready = True

    def request(self, req: dict[str, Any], timeout: float | None) -> dict | str:
        """Send one problem; return its record, ``"timeout"`` or ``"died"``."""
        self.start()
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return "died"
        line = self._next(None if timeout is None else time.monotonic() + timeout)
        if line is False:
            self.kill()
            return "timeout"
        if line is None:
            self.proc.wait()
            return "died"
        return json.loads(line[len(_PREFIX):])

    def tail(self) -> str:
        code = self.proc.poll()
        last = [s for s in self.stderr if s.strip()][-1:] or ["no output"]
        return f"exit code {code}; last stderr line: {last[0][:300]}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, AttributeError):
                self.proc.kill()
        self.proc.wait()
        self._forget()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.kill()
        self._forget()

    def _forget(self) -> None:
        with _REGISTRY_LOCK:
            _REGISTRY.discard(self)


_REGISTRY: set[_Worker] = set()
_REGISTRY_LOCK = threading.Lock()
_LOCAL = threading.local()


def shutdown_workers() -> None:
    """Stop every worker subprocess started by this process."""
    with _REGISTRY_LOCK:
        workers = list(_REGISTRY)
    for w in workers:
        w.close()


atexit.register(shutdown_workers)


class WorkerPool:
    """``jobs`` reusable worker subprocesses for a local batch."""

    def __init__(self, jobs: int, threads: int | None = None) -> None:
        self.threads = threads
        self.free: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(jobs):
            self.free.put(None)
        self.all: list[_Worker] = []
        self.lock = threading.Lock()

    def acquire(self) -> _Worker:
        w = self.free.get()
        if w is None or not w.alive():
            try:
                w = _Worker(self.threads)
            except OSError:
                self.free.put(None)
                raise
            with self.lock:
                self.all.append(w)
        return w

    def release(self, w: _Worker) -> None:
        self.free.put(w if w.alive() else None)

    def close(self) -> None:
        with self.lock:
            workers = list(self.all)
        for w in workers:
            w.close()


class _ThreadLocalPool:
    """One persistent worker per calling thread (used inside foreign executors such as Dask)."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads

    def acquire(self) -> _Worker:
        w = getattr(_LOCAL, "worker", None)
        if w is None or not w.alive() or w.threads != self.threads:
            if w is not None:
                w.close()
            w = _Worker(self.threads)
            _LOCAL.worker = w
        return w

    def release(self, w: _Worker) -> None:
        if not w.alive():
            _LOCAL.worker = None


def run_isolated(path: str | os.PathLike, display: str | None = None, *,
                 timeout: float | None = None, max_memory: int | None = None,
                 save_solutions: str | None = None, threads: int | None = None,
                 pool: Any = None) -> dict[str, Any]:
    """Run one problem in a worker subprocess, killed after its time limit.

    The problem file is validated here first (an invalid file gets its error record without a
    worker). The time limit is the smaller of ``timeout`` and the file's ``[solver] time_limit``.

    Parameters
    ----------
    path : path-like
        The problem file (absolute, or relative to this process's working directory).
    display : str, optional
        How the file is named in the record.
    timeout : float, optional
        Seconds; None means the file's own time limit or none.
    max_memory : int, optional
        Memory cap in bytes.
    save_solutions : str, optional
        Folder for the solution npz files.
    threads : int, optional
        BLAS / solver threads of the worker: sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
        ``MKL_NUM_THREADS`` and ``RAYON_NUM_THREADS`` unless they are already set. The batch
        runner uses 1 (parallelism across problems; threaded BLAS on the small dense matrices
        of these programs is slower, not faster).
    pool : WorkerPool, optional
        Where the worker comes from; default one persistent worker per calling thread.

    Returns
    -------
    dict
        The record, with status ``"timeout"`` when the limit was hit.
    """
    t_start = time.perf_counter()
    path = os.path.abspath(path)
    display = str(path) if display is None else display
    rec = empty_record(display)
    rec["path"] = resolved_path(path)
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise BatchUsageError(f"--timeout: must be in (0, {MAX_TIMEOUT:g}] seconds, got "
                              f"{timeout!r} (omit it for no limit)")
    try:
        spec = _read_spec(path, display, max_memory, rec)
    except Exception as exc:
        rec["error"] = _error_text(display, exc)
        rec["times"]["total"] = rec["times"]["load"] = time.perf_counter() - t_start
        return _clean(rec)
    rec.update(problem=spec.name, task=spec.task, solver=_solver_name(spec))
    limits = [t for t in (timeout, spec.solver.time_limit) if t is not None]
    limit = min(limits) if limits else None
    pool = pool if pool is not None else _ThreadLocalPool(threads)
    req = {"path": path, "display": display, "max_memory": max_memory,
           "save_solutions": None if save_solutions is None else os.path.abspath(save_solutions)}
    try:
        worker = pool.acquire()
    except OSError as exc:
        rec["error"] = f"{display}: runner: cannot start a worker process ({exc})"
        rec["times"]["total"] = time.perf_counter() - t_start
        return _clean(rec)
    try:
        worker.start()
        t_solve = time.perf_counter()
        out = worker.request(req, limit)
    except RuntimeError as exc:
        rec["error"] = f"{display}: runner: cannot start a worker process ({exc})"
        rec["times"]["total"] = time.perf_counter() - t_start
        return _clean(rec)
    finally:
        pool.release(worker)
    if isinstance(out, dict):
        return out
    elapsed = time.perf_counter() - t_solve
    rec["times"]["total"] = time.perf_counter() - t_start
    if out == "timeout":
        rec["status"] = "timeout"
        field = "solver.time_limit" if limit == spec.solver.time_limit else "timeout"
        rec["error"] = (f"{display}: {field}: stopped after {elapsed:.1f} s, the limit is "
                        f"{limit:g} s (raise [solver] time_limit or --timeout, or make the "
                        "problem smaller)")
    else:
        rec["error"] = (f"{display}: runner: the worker process died ({worker.tail()}); the "
                        "solver crashed or ran out of memory (lower dictionary.size)")
    return _clean(rec)


def _serve() -> int:
    """Worker main loop: one JSON request per stdin line, one record per stdout line."""
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)                      # stray prints (solver logs) go to stderr
    sys.stdout = sys.stderr
    parent = os.getppid()

    def watchdog() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    import cvxpy  # noqa: F401  -- pay the imports before announcing readiness
    import sklearn.datasets  # noqa: F401

    import nnlasso.compress, nnlasso.patterns, nnlasso.representer, nnlasso.shallow  # noqa: F401,E401
    proto.write(_READY + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        rec = run_problem(req["path"], display=req.get("display"),
                          max_memory=req.get("max_memory"),
                          save_solutions=req.get("save_solutions"))
        proto.write(_PREFIX + json.dumps(rec, allow_nan=False) + "\n")
    return 0


# --------------------------------------------------------------------------------------------
# results file
# --------------------------------------------------------------------------------------------

def _split_records(data: bytes) -> tuple[list[dict[str, Any]], int, bytes]:
    """Parse JSON lines: (records, number of bad complete lines, the unterminated tail)."""
    pieces = data.split(b"\n")
    tail = pieces.pop()                         # after the last newline: b"" or a cut-off line
    records, bad = [], 0
    for piece in pieces:
        if not piece.strip():
            continue
        try:
            rec = json.loads(piece.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            rec = None
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return records, bad, tail


def _is_record(rec: Any) -> bool:
    return isinstance(rec, dict) and "status" in rec and "problem" in rec


def read_results(out: str | os.PathLike, *, repair: bool = True) -> list[dict[str, Any]]:
    """Read a JSONL results file, dropping lines that are not complete JSON objects.

    A run killed while writing can leave a cut-off last line (no newline); with ``repair=True``
    that tail alone is removed in place, so the file stays valid JSONL for the next append, and
    only when no batch holds the file's lock (a running batch may be writing that line).
    Complete lines are never rewritten.
    """
    p = Path(out)
    if not p.exists():
        return []
    if not p.is_file():
        raise BatchUsageError(f"{out}: not a regular file (give a results file)")
    with open(p, "r+b" if repair else "rb") as fh:
        if repair and fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                repair = False                  # a batch is writing it: read only
        data = fh.read()
        records, _, tail = _split_records(data)
        if repair and tail.strip():
            os.ftruncate(fh.fileno(), len(data) - len(tail))
            os.fsync(fh.fileno())
    return records


class _ResultsFile:
    """The ``--out`` file of a batch: checked, locked, appended to (never truncated).

    Opening it refuses (:class:`BatchUsageError`) a path that is not a regular file (a folder,
    ``/dev/null``, a FIFO), an existing file that is not a results file (its first line is not a
    JSON record: e.g. a problem file), one of the batch's own problem files, a folder that
    cannot be created or written, a full file system, and a file that another batch holds (an
    exclusive :func:`fcntl.flock`, kept until :meth:`close`). A cut-off last line left by a
    killed run is removed; nothing else of the file is ever changed.
    """

    #: refuse to start when the results file's file system has less free space than this
    MIN_FREE = 1 << 20

    def __init__(self, out: str | os.PathLike, problem_files: Sequence[str]) -> None:
        self.name = os.fspath(out)
        name = self.name
        try:
            st = os.stat(name)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise BatchUsageError(f"--out: {name}: {exc.strerror or exc} (give a results file "
                                  "name)") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            from .spec import _kind_of
            raise BatchUsageError(f"--out: {name} is {_kind_of(st.st_mode)}, not a regular file "
                                  "(give a results file name, e.g. results.jsonl)")
        parent = os.path.dirname(os.path.abspath(name))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise BatchUsageError(f"--out: cannot create the folder {parent} "
                                  f"({exc.strerror or exc}; a part of the path is a file or not "
                                  "writable)") from None
        try:
            self.fd = os.open(name, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
                              | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise BatchUsageError(f"--out: cannot write {name} ({exc.strerror or exc}; choose "
                                  "a writable place)") from None
        try:
            self._check(problem_files, parent)
        except BaseException:
            os.close(self.fd)
            raise

    def _check(self, problem_files: Sequence[str], parent: str) -> None:
        name, fd = self.name, self.fd
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BatchUsageError(f"--out: {name} is not a regular file (give a results file)")
        for f in problem_files:
            try:
                fst = os.stat(f)
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
                raise BatchUsageError(f"--out: {name} is one of the problem files (give "
                                      "another results file name)")
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BatchUsageError(f"--out: {name} is in use by another nnlasso batch (wait for "
                                  "it to finish, or give another --out)") from None
        os.set_blocking(fd, True)
        data = os.pread(fd, st.st_size, 0) if st.st_size else b""
        records, bad, tail = _split_records(data)
        first = next((ln for ln in data.split(b"\n")[:-1] if ln.strip()), None)
        if first is not None:
            try:
                ok = _is_record(json.loads(first.decode("utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError):
                ok = False
            if not ok:
                raise BatchUsageError(f"--out: {name} exists and is not an nnlasso results file "
                                      "(its first line is not a JSON record); refusing to "
                                      "append to it: give another --out")
        if tail.strip() and not tail.lstrip().startswith(b"{"):
            raise BatchUsageError(f"--out: {name} exists and is not an nnlasso results file; "
                                  "refusing to append to it: give another --out")
        try:
            vfs = os.statvfs(parent)
            free = vfs.f_bavail * vfs.f_frsize
        except OSError:
            free = None
        if free is not None and free < self.MIN_FREE:
            raise BatchUsageError(f"--out: the file system of {parent} is full ({free} bytes "
                                  "free); free some space or write elsewhere")
        if tail.strip():                        # a record cut off by a killed run
            os.ftruncate(fd, len(data) - len(tail))
            os.fsync(fd)
        self.records = records

    def append(self, rec: dict[str, Any]) -> None:
        """Append one record (one line), flushed to disk."""
        data = (json.dumps(rec, allow_nan=False) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
        except OSError as exc:
            raise BatchUsageError(f"--out: writing {self.name} failed ({exc.strerror or exc}); "
                                  "the records written so far are kept: free space and run "
                                  "again with --resume") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)                   # releases the lock
            self.fd = -1


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Files as given, folders replaced by their ``*.toml`` files (sorted, not recursive).

    Raises
    ------
    BatchUsageError
        For a path that does not exist or a folder without problem files.
    """
    files: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            # every entry named *.toml, whatever its type: a folder, a FIFO or a broken link
            # gets its own error record rather than being skipped silently
            found = sorted(p.glob("*.toml"))
            if not found:
                raise BatchUsageError(f"{raw}: no *.toml problem files in this folder")
            files.extend(str(q) for q in found)
        elif p.exists() or p.is_symlink():
            files.append(str(p))
        else:
            raise BatchUsageError(f"{raw}: no such file or folder")
    if not files:
        raise BatchUsageError("no problem files given")
    return files


def _sha_of(path: str) -> str | None:
    try:
        return hashlib.sha256(read_problem_bytes(path)).hexdigest()
    except ProblemFileError:
        return None


def _record_key(rec: dict[str, Any]) -> tuple[str | None, str] | None:
    """``(sha256, path)`` of a record (``path`` from ``file`` for records of older versions)."""
    path = rec.get("path")
    if not isinstance(path, str):
        file = rec.get("file")
        if not isinstance(file, str):
            return None
        path = resolved_path(file)
    sha = rec.get("sha256")
    return (sha if isinstance(sha, str) else None, path)


def run_batch(paths: Sequence[str | os.PathLike], out: str | os.PathLike | None = None, *,
              jobs: int = 1, executor: cf.Executor | None = None, resume: bool = False,
              retry_failed: bool = False, timeout: float | None = None,
              save_solutions: str | os.PathLike | None = None,
              max_memory: int | None = None, progress: bool | None = None,
              on_record: Callable[[dict], None] | None = None) -> list[dict[str, Any]]:
    """Run problem files and append one JSON record per problem to ``out``.

    Parameters
    ----------
    paths : sequence of path-like
        Problem files and folders (a folder stands for its ``*.toml`` entries, sorted).
    out : path-like, optional
        The results file (JSON lines). Records are always *appended*: an existing results file
        is never truncated; a file that is not a results file (e.g. a problem file) is refused.
        The file is locked (:func:`fcntl.flock`) for the whole batch: a second batch on the
        same file is refused with :class:`BatchUsageError`.
    jobs : int
        Local worker processes run in parallel (ignored when ``executor`` is given).
    executor : concurrent.futures.Executor, optional
        Where to run the problems, e.g. ``distributed.Client(address).get_executor()``; each
        task starts its own worker subprocess on the executor's side, so files must be
        reachable there at the same paths (a shared file system).
    resume : bool
        Skip the problems that already have a record in ``out`` for the same bytes (sha256) and
        the same file (``path``: absolute, folder links resolved, so resuming from another
        working directory works). Every status counts as done, error and timeout included
        (the same bytes fail the same way); see ``retry_failed``. Two files with the same bytes
        in different folders, or under different names, are different problems.
    retry_failed : bool
        With ``resume``, run again the problems whose latest record is not optimal /
        optimal_inaccurate (errors, timeouts, crashed workers); a new record is appended.
    timeout : float, optional
        Per-problem time limit in seconds, at most :data:`MAX_TIMEOUT` (the smaller of this and
        ``[solver] time_limit``).
    save_solutions : path-like, optional
        Folder for solution npz files (created; must be writable).
    max_memory : int, optional
        Memory cap in bytes.
    progress : bool, optional
        Show a tqdm bar on stderr (default: only when stderr is a terminal).
    on_record : callable, optional
        Called with each new record as it is written.

    Returns
    -------
    list of dict
        One record per input file, in input order (resumed ones included).

    Raises
    ------
    BatchUsageError
        Before any problem runs: no problem files, bad ``jobs`` / ``timeout``, an unusable
        ``out`` or ``save_solutions``, an invalid ``NNLASSO_MAX_MEMORY_MB``; while running: a
        failed write of ``out`` (full disk).
    """
    files = expand_paths(paths)
    if jobs < 1:
        raise BatchUsageError(f"--jobs: must be >= 1, got {jobs}")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise BatchUsageError(f"--timeout: must be in (0, {MAX_TIMEOUT:g}] seconds, got "
                              f"{timeout!r} (omit it for no limit)")
    if max_memory is None:
        from .spec import max_memory_default
        try:
            max_memory_default()
        except InvalidProblemError as exc:
            raise BatchUsageError(str(exc)) from None
    save = None if save_solutions is None else _check_folder(save_solutions, "--save-solutions")
    results_file = None if out is None else _ResultsFile(out, files)
    try:
        previous: dict[tuple[str | None, str], dict] = {}
        if resume and results_file is not None:
            for r in results_file.records:
                key = _record_key(r)
                if key is not None:
                    previous[key] = r                     # the latest record of a problem wins
        results: list[dict | None] = [None] * len(files)
        todo: list[int] = []
        for i, f in enumerate(files):
            done = previous.get((_sha_of(f), resolved_path(f))) if previous else None
            if done is not None and not (retry_failed and done.get("status") not in OK_STATUSES):
                results[i] = done
            else:
                todo.append(i)
        if progress is None:
            progress = sys.stderr.isatty()
        from tqdm import tqdm
        bar = tqdm(total=len(files), initial=len(files) - len(todo), disable=not progress,
                   file=sys.stderr, unit="problem", dynamic_ncols=True)
        try:
            _run_todo(files, todo, results, results_file, bar, jobs=jobs, executor=executor,
                      timeout=timeout, max_memory=max_memory, save=save, on_record=on_record)
        finally:
            bar.close()
    finally:
        if results_file is not None:
            results_file.close()
    return [r for r in results if r is not None]


def _check_folder(folder: str | os.PathLike, option: str) -> str:
    """Create ``folder`` and check that a file can be written in it; its absolute path."""
    import tempfile
    path = os.path.abspath(folder)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise BatchUsageError(f"{option}: cannot write into {folder} ({exc.strerror or exc}; "
                              "give a writable folder)") from None
    return path


def _run_todo(files: list[str], todo: list[int], results: list, results_file: Any, bar: Any, *,
              jobs: int, executor: cf.Executor | None, timeout: float | None,
              max_memory: int | None, save: str | None,
              on_record: Callable[[dict], None] | None) -> None:
    if executor is None:
        own_pool = WorkerPool(jobs, threads=1)
        runner = cf.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="nnlasso")
        submit_kw: dict[str, Any] = {"pool": own_pool}
    else:
        runner, submit_kw = executor, {"threads": 1}
    futures = {runner.submit(run_isolated, os.path.abspath(files[i]), files[i],
                             timeout=timeout, max_memory=max_memory, save_solutions=save,
                             **submit_kw): i for i in todo}
    try:
        for fut in cf.as_completed(futures):
            i = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # the executor itself failed (e.g. a lost Dask worker)
                rec = empty_record(files[i], sha256=_sha_of(files[i]))
                rec["error"] = f"{files[i]}: runner: {type(exc).__name__}: {exc}"
                rec = _clean(rec)
            results[i] = rec
            if results_file is not None:
                results_file.append(rec)
            bar.update(1)
            bar.set_postfix_str(f"{rec['problem']}: {rec['status']}", refresh=False)
            if on_record is not None:
                on_record(rec)
    finally:
        if executor is None:
            own_pool.close()          # first: unblocks threads still waiting on a worker
            runner.shutdown(wait=True, cancel_futures=True)
        else:
            for fut in futures:
                fut.cancel()


def _main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--serve"]:
        return _serve()
    sys.stderr.write("usage: python -m nnlasso.batch --serve   (the worker protocol of "
                     "nnlasso batch; run problems with `nnlasso batch`)\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main())
