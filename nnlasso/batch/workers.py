"""Worker subprocesses: the pool, isolation and time limits (:func:`run_isolated`)."""
from __future__ import annotations

import atexit
import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from .records import (BatchUsageError, MAX_TIMEOUT, _PREFIX, _READY, _clean, _error_text,
                      empty_record, resolved_path)
from ..tasks.common import solver_name
from .tasks import _read_spec, run_problem

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
    rec.update(problem=spec.name, task=spec.task, solver=solver_name(spec))
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
