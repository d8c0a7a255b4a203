""":func:`run_batch`: expanding paths, resuming, scheduling on workers or an executor."""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import InvalidProblemError
from ..spec import ProblemFileError, read_problem_bytes
from .records import BatchUsageError, MAX_TIMEOUT, OK_STATUSES, _clean, empty_record, resolved_path
from .workers import WorkerPool, _serve, run_isolated
from .results import _ResultsFile

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
        The file is locked for the whole batch (:mod:`nnlasso.batch.filelock`: ``flock`` on
        POSIX, ``msvcrt.locking`` on Windows): a second batch on the same file is refused with
        :class:`BatchUsageError`.
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
        from ..spec import max_memory_default
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
