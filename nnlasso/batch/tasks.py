"""One problem in this process (:func:`run_problem`); the task's own runner is in
:mod:`nnlasso.tasks`."""
from __future__ import annotations

import hashlib
import os
import re
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from ..memory import memory_cap
from ..spec import ProblemSpec, load_data, load_problem, read_problem_bytes
from ..tasks import TASKS
from ..tasks.common import solver_name
from .records import OK_STATUSES, STATUSES, _clean, _error_text, empty_record, resolved_path


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
    if isinstance(doc.get("task"), str) and doc["task"] in TASKS:
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
        rec.update(problem=spec.name, task=spec.task, solver=solver_name(spec))
        data = load_data(spec, max_memory=max_memory)
        rec.update(N=data.N, d=data.d, D=data.D)
        rec["times"]["load"] = time.perf_counter() - t_start
        with memory_cap(max_memory):      # the API's guard applies the same cap
            arrays = TASKS[spec.task].run(spec, data, rec)
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
