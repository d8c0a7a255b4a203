"""Problem files (schema 1, TOML): parsing, validation and data sources.

A problem file describes one convex problem: where the data come from, which task to run
(``fit``, ``lasso`` or ``compress``), the model (loss, lam or lam_ratio, skip), the solver and
what to verify. docs/problem-files.md documents the full schema for users. Three steps, kept
apart:

* :func:`parse_problem` -- pure validation of the parsed TOML document (no file system);
* :func:`load_problem`  -- reads the file, parses it, resolves and checks the data paths
  (relative to the file's folder, never outside it) and the memory estimate when the data size
  is known without reading the data;
* :func:`load_data`     -- reads / generates the arrays (sklearn, npz, csv, synthetic), checks
  them (numeric, finite, shapes), subsamples, standardizes, and refuses problems whose memory
  estimate exceeds the cap *before* any feature matrix is allocated.

Every error is a :class:`ProblemFileError` whose message reads
``"file: field: what is wrong (how to fix it)"``.

Data conventions
----------------
* ``sklearn``: ``name`` is one of :data:`SKLEARN_DATASETS` (loaders shipped with scikit-learn,
  never a network fetcher). Classification sets give integer labels.
* ``npz``: read with ``allow_pickle=False`` (object or pickled arrays are refused). Arrays
  ``X`` and ``Y`` for ``fit`` and ``compress`` (``Y`` optional for compress); ``Phi`` and ``Y``
  plus an optional ``X`` (the skip inputs) for ``lasso``. Other array names are errors.
* ``csv``: numbers only, comma separated (``delimiter`` to change), blank lines and lines
  starting with ``#`` ignored, an optional header row (detected when a cell of the first row is
  not a number). The last ``targets`` columns (default 1) are Y, the others X; ``targets`` may
  also be a list of header names.
* ``synthetic``: ``generator`` in :data:`nnlasso.synthetic.GENERATORS` with ``params``.

``standardize = true`` scales each input column to zero mean and unit variance and, for the
squared loss (not for compress), each target column too. ``max_samples`` keeps a seeded random
subset (``seed``, default 0) before standardizing.

Keys of note
------------
``data.targets`` and ``data.delimiter`` (csv), ``data.seed`` (the subsample's seed),
``model.skip = "intercept"`` (c0 only; classification data are often separable by C x alone,
which makes lam_max = 0). ``[solver] name`` defaults to "auto" (the library's own choice per
program, as in the Python API). ``[verify] certificate`` defaults to "dictionary"
("none" for compress); "continuous" is for fit only.

Memory
------
The estimate is ``8 * (N * K * (1 + 3 D) + N * (d + D))`` bytes: the N x K float64 feature matrix
plus the solver's copy of the problem data for D outputs (K = dictionary size, N + 1 for knots,
2 (d + 1) x size for patterns / gated, Phi's columns for lasso, the widest hidden layer for
compress). The cap is :data:`DEFAULT_MAX_MEMORY` unless ``max_memory`` (bytes) is passed or the
environment variable ``NNLASSO_MAX_MEMORY_MB`` is set.

Layout
------
``schema`` (constants, :class:`ProblemFileError`, the spec dataclasses), ``tables`` (typed TOML
tables, did-you-mean), ``parse`` (:func:`parse_problem`, the memory check), ``files`` (safe
file reading, data paths, :func:`load_problem`), ``data`` (:func:`load_data`), ``network``
(a trained network's npz, for compress).
"""
from __future__ import annotations

from typing import Any

# the one memory estimate and cap, shared with the Python API (re-exported here)
from ..memory import DEFAULT_MAX_MEMORY, estimate_memory, max_memory_default, memory_cap_mb
from .data import load_data
from .files import (load_problem, open_regular, read_capped, read_problem_bytes,
                    resolve_data_path)
from .parse import check_memory, feature_count, parse_problem
from .schema import (CERTIFICATES, DICTIONARY_KINDS, LOSSES, MAX_CSV_BYTES, MAX_DATA_FILE_BYTES,
                     MAX_DICTIONARY, MAX_FILE_BYTES, MAX_SAMPLES, SCHEMA, SKLEARN_DATASETS,
                     SOURCES, DataSpec, DictionarySpec, ModelSpec, NetworkSpec,
                     ProblemData, ProblemFileError, ProblemSpec, SolverSpec, VerifySpec)
# the allowed keys of each table (tests/test_docs.py checks docs/problem-files.md against them)
from .schema import (_ALL_DATA_KEYS, _DATA_KEYS, _DICT_KEYS, _MODEL_KEYS,  # noqa: F401
                     _NET_KEYS, _SOLVER_KEYS, _TOP_KEYS, _VERIFY_KEYS)

__all__ = ["CERTIFICATES", "DEFAULT_MAX_MEMORY", "DICTIONARY_KINDS", "LOSSES", "MAX_CSV_BYTES",
           "MAX_DATA_FILE_BYTES", "MAX_DICTIONARY", "MAX_FILE_BYTES", "MAX_SAMPLES", "SCHEMA",
           "SKLEARN_DATASETS", "SOURCES", "TASKS", "DataSpec", "DictionarySpec", "ModelSpec",
           "NetworkSpec", "ProblemData", "ProblemFileError", "ProblemSpec", "SolverSpec",
           "VerifySpec", "check_memory", "estimate_memory", "feature_count", "load_data",
           "load_problem", "max_memory_default", "memory_cap_mb", "open_regular", "parse_problem",
           "read_capped", "read_problem_bytes", "resolve_data_path"]


def __getattr__(name: str) -> Any:
    """``TASKS``: the names of the registered tasks (:data:`nnlasso.tasks.TASKS`), in order."""
    if name == "TASKS":
        from ..tasks import TASKS
        return tuple(TASKS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
