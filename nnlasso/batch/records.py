"""Record layout, statuses and the helpers that build and clean records."""
from __future__ import annotations

import math
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidProblemError, SolverError
from ..spec import ProblemFileError

RECORD_KEYS = ("problem", "file", "path", "sha256", "task", "status", "error", "N", "d", "D",
               "K_dictionary", "K_active", "K_reduced", "width_bound", "width_bound_holds",
               "objective", "dual_objective", "gap", "rel_gap", "certificate", "solver", "inner",
               "fallback", "loss", "lam", "lam_max", "times",
               "nnlasso_version")
TIME_KEYS = ("load", "build", "compile", "solve", "verify", "total")
STATUSES = ("optimal", "optimal_inaccurate", "infeasible", "error", "timeout")
OK_STATUSES = ("optimal", "optimal_inaccurate")

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
