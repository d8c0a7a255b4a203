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

Layout: ``records`` (record keys, statuses, record helpers), ``tasks`` (:func:`run_problem`;
each task's runner is in :mod:`nnlasso.tasks`), ``workers`` (worker subprocesses,
:func:`run_isolated`), ``results`` (the results file, :func:`read_results`), ``runner``
(:func:`run_batch`). ``python -m nnlasso.batch --serve`` is the worker protocol
(``__main__``).
"""
from __future__ import annotations

from ..tasks.common import CERT_TOL
from .records import (MAX_TIMEOUT, OK_STATUSES, RECORD_KEYS, STATUSES, TIME_KEYS,
                      BatchUsageError, empty_record, resolved_path)
from .results import read_results
from .runner import expand_paths, run_batch
from .tasks import run_problem
from .workers import WorkerPool, run_isolated, shutdown_workers

__all__ = ["CERT_TOL", "MAX_TIMEOUT", "OK_STATUSES", "RECORD_KEYS", "STATUSES", "TIME_KEYS",
           "BatchUsageError", "WorkerPool", "empty_record", "expand_paths", "read_results",
           "resolved_path", "run_batch", "run_isolated", "run_problem", "shutdown_workers"]
