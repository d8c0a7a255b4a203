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
"""
from __future__ import annotations

import csv
import difflib
import errno
import hashlib
import io
import math
import os
import stat
import tomllib
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Sequence

import numpy as np

from . import synthetic
from .errors import InvalidProblemError
# the one memory estimate and cap, shared with the Python API (re-exported here)
from .memory import (DEFAULT_MAX_MEMORY, estimate_memory, max_memory_default,  # noqa: F401
                     memory_cap_mb)

SCHEMA = 1
TASKS = ("fit", "lasso", "compress")
SOURCES = ("sklearn", "npz", "csv", "synthetic")
#: scikit-learn loaders allowed by name: (N, d, D) with D = classes for classification sets
SKLEARN_DATASETS: dict[str, tuple[int, int, int]] = {
    "diabetes": (442, 10, 1), "linnerud": (20, 3, 3), "iris": (150, 4, 3),
    "wine": (178, 13, 3), "breast_cancer": (569, 30, 2), "digits": (1797, 64, 10),
}
DICTIONARY_KINDS = ("data", "sphere", "knots", "patterns", "gated", "adaptive")
LOSSES = ("squared", "logistic", "softmax")
CERTIFICATES = ("none", "dictionary", "continuous")
MAX_FILE_BYTES = 1 << 20
MAX_DICTIONARY = 1_000_000
MAX_SAMPLES = 10_000_000
MAX_DATA_FILE_BYTES = 2 * 2**30
MAX_CSV_BYTES = 200 * 2**20

_TOP_KEYS = ("schema", "name", "task", "data", "dictionary", "network", "model", "solver",
             "verify")
_DATA_KEYS = {"sklearn": ("source", "name", "standardize", "max_samples", "seed"),
              "npz": ("source", "path", "standardize", "max_samples", "seed"),
              "csv": ("source", "path", "targets", "delimiter", "standardize", "max_samples",
                      "seed"),
              "synthetic": ("source", "generator", "params", "standardize", "max_samples",
                            "seed")}
_ALL_DATA_KEYS = tuple(sorted({k for keys in _DATA_KEYS.values() for k in keys}))
_DICT_KEYS = ("kind", "size", "seed")
_NET_KEYS = ("path", "layer")
_MODEL_KEYS = ("loss", "lam", "lam_ratio", "skip", "eps")
_SOLVER_KEYS = ("name", "time_limit", "options")
_VERIFY_KEYS = ("reduce_support", "certificate")


class ProblemFileError(InvalidProblemError):
    """An invalid problem file: ``str(err)`` is ``"file: field: message"``.

    Attributes
    ----------
    file : str
        The problem file as the user named it.
    field : str
        The offending field, dotted (``"model.lam"``), or ``"file"`` / ``"toml"``.
    message : str
        What is wrong and how to fix it.
    """

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(f"{self.file}: {field}: {message}")

    def __reduce__(self):  # keep the three attributes through pickling (process pools, Dask)
        return (type(self), (self.file, self.field, self.message))


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` table."""

    source: str
    name: str | None = None
    path: str | None = None
    resolved: Path | None = None
    generator: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    targets: int | tuple[str, ...] = 1
    delimiter: str = ","
    standardize: bool = False
    max_samples: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class DictionarySpec:
    """The ``[dictionary]`` table (fit, and lasso without a Phi array)."""

    kind: str = "data"
    size: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class NetworkSpec:
    """The ``[network]`` table (compress)."""

    path: str
    layer: int | str = 1
    resolved: Path | None = None


@dataclass(frozen=True)
class ModelSpec:
    """The ``[model]`` table."""

    loss: str = "squared"
    lam: float | None = None
    lam_ratio: float | None = None
    skip: bool | str = True
    eps: float = 0.0


@dataclass(frozen=True)
class SolverSpec:
    """The ``[solver]`` table."""

    name: str = "AUTO"
    time_limit: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifySpec:
    """The ``[verify]`` table."""

    reduce_support: bool = True
    certificate: str = "dictionary"


@dataclass(frozen=True)
class ProblemSpec:
    """A validated problem file.

    ``file`` is the path as the user named it (used in every message), ``folder`` the folder
    that data paths are relative to, ``sha256`` the hash of the file's bytes.
    """

    file: str
    folder: Path
    sha256: str
    schema: int
    name: str
    task: str
    data: DataSpec
    model: ModelSpec
    solver: SolverSpec
    verify: VerifySpec
    dictionary: DictionarySpec | None = None
    network: NetworkSpec | None = None


@dataclass
class ProblemData:
    """Arrays of a problem, ready for its task.

    X : (N, d) inputs or None (lasso with a Phi array and no X); Y : (N, D') targets / labels
    (None only for compress without Y); Phi : (N, K) features (lasso from npz) or None;
    weights, biases : the network's arrays (compress) or None; network : the checked
    :class:`nnlasso.MLP` (compress) or None; N, d, D : sizes (D = the number of
    outputs of the program: classes for softmax); K : dictionary / feature count estimate;
    memory : the memory estimate in bytes.
    """

    X: np.ndarray | None
    Y: np.ndarray | None
    Phi: np.ndarray | None
    N: int
    d: int
    D: int
    K: int
    memory: int
    weights: list[np.ndarray] | None = None
    biases: list[np.ndarray] | None = None
    network: Any = None


# --------------------------------------------------------------------------------------------
# pure validation
# --------------------------------------------------------------------------------------------

def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


class _Table:
    """Typed access to one TOML table, with errors naming the dotted field."""

    def __init__(self, file: str, prefix: str, table: Any, allowed: Sequence[str]) -> None:
        self.file, self.prefix = file, prefix
        if not isinstance(table, dict):
            raise ProblemFileError(file, prefix or "(top level)",
                                   f"expected a table [{prefix}], got {_type_name(table)} "
                                   f"(write it as a [{prefix}] section)")
        self.table = table
        for key in table:
            if key not in allowed:
                where = f"[{prefix}]" if prefix else "the top level"
                raise ProblemFileError(file, self.name(key),
                                       f"unknown key in {where}; {_did_you_mean(key, allowed)}"
                                       f"allowed keys: {', '.join(allowed)}")

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, message: str) -> ProblemFileError:
        return ProblemFileError(self.file, self.name(key), message)

    def has(self, key: str) -> bool:
        return key in self.table

    def str(self, key: str, default: Any = None, *, required: bool = False,
            choices: Sequence[str] | None = None, fix: str = "") -> Any:
        if key not in self.table:
            if required:
                raise self.error(key, f"missing ({fix or 'add it'})")
            return default
        val = self.table[key]
        if not isinstance(val, str):
            raise self.error(key, f"expected a string, got {_type_name(val)} {val!r}"
                                  + (f" (one of {', '.join(choices)})" if choices else
                                     f" (write it in quotes: {key} = \"...\")"))
        if choices is not None and val not in choices:
            raise self.error(key, f"unknown value {val!r}; {_did_you_mean(val, choices)}"
                                  f"choose one of {', '.join(choices)}")
        return val

    def bool(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        val = self.table[key]
        if not isinstance(val, bool):
            raise self.error(key, f"expected true or false, got {_type_name(val)} {val!r} "
                                  f"(write {key} = true or {key} = false, without quotes)")
        return val

    def int(self, key: str, default: Any, lo: int, hi: int, *, fix: str = "") -> Any:
        if key not in self.table:
            return default
        val = self.table[key]
        if not isinstance(val, int) or isinstance(val, bool):
            raise self.error(key, f"expected an integer, got {_type_name(val)} {val!r} "
                                  f"(write a whole number without quotes, e.g. {key} = {lo})")
        if val < lo or val > hi:
            raise self.error(key, f"{val} is out of range [{lo}, {hi}] ("
                                  + (fix or f"give a value between {lo} and {hi}") + ")")
        return val

    def number(self, key: str, default: Any, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False, fix: str = "") -> Any:
        if key not in self.table:
            return default
        val = self.table[key]
        if not isinstance(val, (int, float)) or isinstance(val, bool):
            raise self.error(key, f"expected a number, got {_type_name(val)} {val!r} "
                                  f"(write a number without quotes, e.g. {key} = 0.1)")
        try:
            val = float(val)
        except OverflowError:
            raise self.error(key, f"the integer {_short(val)} is too large for a floating-point "
                                  "number" + (f" ({fix})" if fix else " (give a smaller value)")
                             ) from None
        if not math.isfinite(val):
            raise self.error(key, f"must be finite, got {val!r}" + (f" ({fix})" if fix else ""))
        bad_lo = lo is not None and (val <= lo if lo_open else val < lo)
        bad_hi = hi is not None and (val >= hi if hi_open else val > hi)
        if bad_lo or bad_hi:
            rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}" \
                  f"{']' if hi is not None and not hi_open else ')'}"
            raise self.error(key, f"{val!r} is out of range {rng} ("
                                  + (fix or f"give a value in {rng}") + ")")
        return val


def _short(val: Any) -> str:
    text = str(val)
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} digits)"


def _type_name(val: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(val), type(val).__name__)


def _check_relpath(file: str, fieldname: str, raw: Any) -> str:
    """Lexical checks of a data path: a relative path that does not leave the folder."""
    if not isinstance(raw, str) or not raw.strip():
        raise ProblemFileError(file, fieldname, f"expected a relative path string, got "
                                                f"{_type_name(raw)} {raw!r}")
    if "\x00" in raw:
        raise ProblemFileError(file, fieldname, "contains a NUL character (give a plain path)")
    if (PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).is_absolute()
            or PureWindowsPath(raw).drive or raw.startswith("~") or raw.startswith("\\")):
        raise ProblemFileError(file, fieldname, f"absolute path {raw!r} refused (give a path "
                                                "relative to the problem file's folder)")
    norm = os.path.normpath(raw.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        raise ProblemFileError(file, fieldname, f"path {raw!r} leaves the problem file's folder "
                                                "(keep data inside that folder, no '..')")
    return raw


def parse_problem(doc: dict[str, Any], *, file: str, folder: Path | str = ".",
                  sha256: str = "", max_memory: int | None = None) -> ProblemSpec:
    """Validate a parsed TOML document (pure: no file system access).

    Parameters
    ----------
    doc : dict
        The output of :func:`tomllib.loads`.
    file : str
        The file name used in error messages.
    folder : path
        The folder data paths are relative to (stored, not accessed).
    sha256 : str
        Hash of the file's bytes (stored).
    max_memory : int, optional
        Memory cap in bytes (default :func:`max_memory_default`), applied when the data size is
        known from the file alone (sklearn, synthetic).

    Returns
    -------
    ProblemSpec

    Raises
    ------
    ProblemFileError
        On the first problem found.
    """
    top = _Table(file, "", doc, _TOP_KEYS)
    if not top.has("schema"):
        raise top.error("schema", f"missing (add schema = {SCHEMA} at the top of the file)")
    schema = top.table["schema"]
    if not isinstance(schema, int) or isinstance(schema, bool) or schema != SCHEMA:
        raise top.error("schema", f"unsupported schema {schema!r}; this nnlasso reads schema "
                                  f"{SCHEMA} (set schema = {SCHEMA})")
    stem = Path(file).stem
    name = top.str("name", stem)
    if not name.strip() or len(name) > 200 or not name.isprintable():
        bad = next((c for c in name if not c.isprintable()), None)
        raise top.error("name", "must be 1 to 200 printable characters" + (
            f", found the control or formatting character U+{ord(bad):04X}" if bad else "")
            + " (give a plain name)")
    task = top.str("task", required=True, choices=TASKS,
                   fix=f"add task = \"fit\" (one of {', '.join(TASKS)})")

    # [data]
    if not top.has("data"):
        raise top.error("data", "missing [data] section (add one with source = \"sklearn\", "
                                "\"npz\", \"csv\" or \"synthetic\")")
    raw_data = top.table["data"]
    pre = _Table(file, "data", raw_data, _ALL_DATA_KEYS)
    source = pre.str("source", required=True, choices=SOURCES,
                     fix=f"add source = one of {', '.join(SOURCES)}")
    dt = _Table(file, "data", raw_data, _DATA_KEYS[source])
    data_kw: dict[str, Any] = {"source": source,
                               "standardize": dt.bool("standardize", False),
                               "max_samples": dt.int("max_samples", None, 2, MAX_SAMPLES),
                               "seed": dt.int("seed", 0, 0, 2**63 - 1)}
    if source == "sklearn":
        data_kw["name"] = dt.str("name", required=True, choices=tuple(SKLEARN_DATASETS),
                                 fix=f"add name = one of {', '.join(SKLEARN_DATASETS)}")
    elif source in ("npz", "csv"):
        if not dt.has("path"):
            raise dt.error("path", f"missing (add path = \"data/file.{source}\", relative to "
                                   "the problem file's folder)")
        data_kw["path"] = _check_relpath(file, "data.path", dt.table["path"])
        suffix = Path(data_kw["path"]).suffix.lower()
        if suffix != f".{source}":
            other = "npz" if source == "csv" else "csv"
            raise dt.error("path", f"expected a .{source} file for source = {source!r}, got "
                                   f"{data_kw['path']!r} (point path at a .{source} file, or "
                                   f"set source = {other!r} if it is one)")
        if source == "csv":
            data_kw["delimiter"] = dt.str("delimiter", ",")
            if len(data_kw["delimiter"]) != 1 or data_kw["delimiter"] in "\"\r\n" \
                    or data_kw["delimiter"].isalnum() or data_kw["delimiter"] in ".-+":
                raise dt.error("delimiter", f"invalid delimiter {data_kw['delimiter']!r} (use "
                                            "one character such as \",\" or \";\")")
            targets = dt.table.get("targets", 1)
            if isinstance(targets, list):
                if not targets or not all(isinstance(t, str) and t for t in targets):
                    raise dt.error("targets", "expected a count or a non-empty list of header "
                                              "names")
                data_kw["targets"] = tuple(targets)
            else:
                data_kw["targets"] = dt.int("targets", 1, 1, 10_000)
    else:
        gen = dt.str("generator", required=True, choices=tuple(synthetic.GENERATORS),
                     fix=f"add generator = one of {', '.join(synthetic.GENERATORS)}")
        params = dt.table.get("params", {})
        if not isinstance(params, dict):
            raise dt.error("params", f"expected a table, got {_type_name(params)} (write "
                                     "params = { n = 200, seed = 0 })")
        try:
            data_kw["params"] = synthetic.check_params(gen, params)
        except KeyError as exc:
            key, msg = exc.args
            allowed = list(synthetic.GENERATORS[gen][1])
            raise ProblemFileError(file, f"data.params.{key}",
                                   f"{msg}; {_did_you_mean(key, allowed)}allowed: "
                                   f"{', '.join(allowed)}") from None
        except ValueError as exc:
            key, msg = exc.args
            raise ProblemFileError(file, f"data.params.{key}", msg) from None
        data_kw["generator"] = gen
    data = DataSpec(**data_kw)

    # [dictionary] / [network]
    dictionary = network = None
    if task == "compress":
        if top.has("dictionary"):
            raise top.error("dictionary", "compress problems use the trained network's neurons "
                                          "(remove [dictionary])")
        if not top.has("network"):
            raise top.error("network", "missing [network] section (add path = \"nets/mlp.npz\" "
                                       "and layer = 1)")
        nt = _Table(file, "network", top.table["network"], _NET_KEYS)
        if not nt.has("path"):
            raise nt.error("path", "missing (add path = \"nets/mlp.npz\")")
        npath = _check_relpath(file, "network.path", nt.table["path"])
        if Path(npath).suffix.lower() != ".npz":
            raise nt.error("path", f"expected a .npz file, got {npath!r} (save the network "
                                   "with nnlasso.MLP.save or np.savez)")
        layer = nt.table.get("layer", 1)
        if layer != "all":
            layer = nt.int("layer", 1, 1, 1000, fix="a hidden layer, 1-based, or \"all\"")
        network = NetworkSpec(path=npath, layer=layer)
    else:
        if top.has("network"):
            raise top.error("network", f"only compress problems take a network (remove "
                                       f"[network] or set task = \"compress\")")
        if top.has("dictionary") or task == "fit":
            dc = _Table(file, "dictionary", top.table.get("dictionary", {}), _DICT_KEYS)
            kinds = DICTIONARY_KINDS if task == "fit" else ("data", "sphere", "knots")
            dictionary = DictionarySpec(
                kind=dc.str("kind", "data", choices=kinds),
                size=dc.int("size", 2000, 1, MAX_DICTIONARY,
                            fix="use a few hundred to a few thousand neurons"),
                seed=dc.int("seed", 0, 0, 2**63 - 1))

    # [model]
    if task != "compress" and not top.has("model"):
        raise top.error("model", "missing [model] section (add lam_ratio = 0.05 or lam = ...)")
    mt = _Table(file, "model", top.table.get("model", {}), _MODEL_KEYS)
    loss = mt.str("loss", "squared", choices=LOSSES)
    lam = mt.number("lam", None, lo=0.0, lo_open=True,
                    fix="lam must be > 0; or use lam_ratio = 0.05 for a fraction of lam_max")
    lam_ratio = mt.number("lam_ratio", None, lo=0.0, hi=1.0, lo_open=True,
                          fix="a fraction of lam_max in (0, 1], e.g. 0.05")
    if lam is not None and lam_ratio is not None:
        raise mt.error("lam", "both lam and lam_ratio are given (keep exactly one of them)")
    if lam is None and lam_ratio is None and task != "compress":
        raise mt.error("lam", "neither lam nor lam_ratio is given (add exactly one, e.g. "
                              "lam_ratio = 0.05)")
    skip: Any = mt.table.get("skip", True)
    if mt.has("skip") and task == "compress":
        raise mt.error("skip", "compress problems keep the network's own biases (remove skip)")
    if not isinstance(skip, bool) and skip != "intercept":
        raise mt.error("skip", f"expected true (C x + c0), \"intercept\" (c0 only) or false, "
                               f"got {_type_name(skip)} {skip!r}")
    if mt.has("eps") and task != "compress":
        raise mt.error("eps", "only compress problems take eps (remove it)")
    eps = mt.number("eps", 0.0, lo=0.0, hi=1.0, hi_open=True,
                    fix="a relative residual tolerance in [0, 1), e.g. eps = 0.01")
    if task == "compress":
        if loss != "squared":
            raise mt.error("loss", "compress problems keep the layer's outputs (squared "
                                   "residual); remove loss")
        if (lam is not None or lam_ratio is not None) and eps > 0:
            raise mt.error("eps", "eps (constrained form) and lam / lam_ratio (penalized form) "
                                  "exclude each other; keep one")
    model = ModelSpec(loss=loss, lam=lam, lam_ratio=lam_ratio, skip=skip, eps=eps)

    # [solver]
    st = _Table(file, "solver", top.table.get("solver", {}), _SOLVER_KEYS)
    sname = st.str("name", "auto")
    from .backends import resolve
    from .errors import SolverError
    try:
        # compress programs are min-norm / group programs (SOCP); the activation-pattern
        # programs (patterns, gated) have cone blocks: neither is a QP nor a penalized lasso
        pattern_fit = dictionary is not None and dictionary.kind in ("patterns", "gated")
        concrete = resolve(sname, is_qp=loss == "squared" and task != "compress"
                           and not pattern_fit,
                           native=task != "compress" and not pattern_fit)
    except SolverError as exc:
        raise st.error("name", str(exc).removeprefix("solver: ")) from None
    time_limit = st.number("time_limit", None, lo=0.0, hi=1e7, lo_open=True,
                           fix="seconds, e.g. time_limit = 300")
    options = st.table.get("options", {})
    if not isinstance(options, dict):
        raise st.error("options", f"expected a table, got {_type_name(options)} (write "
                                  "options = { max_iter = 200 })")
    for key, val in options.items():
        if not isinstance(val, (bool, int, float, str)):
            raise ProblemFileError(file, f"solver.options.{key}",
                                   f"expected a number, string or boolean, got "
                                   f"{_type_name(val)} (solver settings are flat: "
                                   f"options = {{ {key} = 100 }})")
    if options and task == "compress":
        raise st.error("options", "compress problems do not pass solver options (remove them)")
    if options and sname.upper() == "AUTO":
        key = next(iter(options))
        raise ProblemFileError(file, f"solver.options.{key}",
                               "options need a named solver: with name = \"auto\" (the default) "
                               "the solver is chosen by problem size, and each solver has its "
                               "own options (set name = \"CLARABEL\", \"SCS\", ... or \"prox\")")
    _check_solver_options(file, concrete, options)
    solver = SolverSpec(name=sname.upper(), time_limit=time_limit, options=dict(options))

    # [verify]
    vt = _Table(file, "verify", top.table.get("verify", {}), _VERIFY_KEYS)
    default_cert = "none" if task == "compress" else "dictionary"
    certs = ("none",) if task == "compress" else (
        CERTIFICATES if task == "fit" else ("none", "dictionary"))
    cert = vt.str("certificate", default_cert, choices=CERTIFICATES)
    if cert not in certs:
        raise vt.error("certificate", f"{cert!r} is not available for task = {task!r} (use "
                                      f"{' or '.join(repr(c) for c in certs)})")
    reduce = vt.bool("reduce_support", True)
    if task == "compress" and not reduce:
        raise vt.error("reduce_support", "compression always reduces the layer to a support "
                                         "within the width bound (that is what it does); "
                                         "remove reduce_support or set it to true")
    verify = VerifySpec(reduce_support=reduce, certificate=cert)

    spec = ProblemSpec(file=file, folder=Path(folder), sha256=sha256, schema=SCHEMA, name=name,
                       task=task, data=data, model=model, solver=solver, verify=verify,
                       dictionary=dictionary, network=network)
    _check_static(spec, max_memory)
    return spec


#: options of the native solver (``name = "prox"``): name -> (type, smallest value)
_NATIVE_OPTIONS: dict[str, tuple[type, int | None]] = {"p0": (int, 1), "max_outer": (int, 1),
                                                       "screen": (bool, None)}


def _check_solver_options(file: str, solver: str, options: dict[str, Any]) -> None:
    """Refuse solver options that the solve would refuse, naming ``solver.options.<key>``.

    Non-finite numbers and integers beyond 64 bits are refused outright. The native solver
    (PROX) takes only ``p0``, ``max_outer`` (integers >= 1) and ``screen`` (a boolean). Each
    option of a CVXPY solver is tried, alone, on a two-variable quadratic program with that
    solver (a few milliseconds), so unknown names, wrong types and out-of-range values are
    reported by the solver itself, before any data is read.
    """
    for key, val in options.items():
        fld = f"solver.options.{key}"
        if isinstance(val, float) and not math.isfinite(val):
            raise ProblemFileError(file, fld, f"must be finite, got {val!r} (a float literal "
                                              "too large for a double overflows to inf; give a "
                                              "smaller value)")
        if isinstance(val, int) and not isinstance(val, bool) and abs(val) >= 2**63:
            raise ProblemFileError(file, fld, f"the integer {_short(val)} is out of range (solver "
                                              "settings are at most 64-bit integers)")
    if solver == "PROX":
        for key, val in options.items():
            fld = f"solver.options.{key}"
            if key not in _NATIVE_OPTIONS:
                raise ProblemFileError(file, fld,
                                       f"unknown option for solver 'prox'; "
                                       f"{_did_you_mean(key, list(_NATIVE_OPTIONS))}it takes "
                                       f"{', '.join(_NATIVE_OPTIONS)} (remove {key})")
            kind, lo = _NATIVE_OPTIONS[key]
            if kind is bool and not isinstance(val, bool):
                raise ProblemFileError(file, fld, f"expected true or false, got "
                                                  f"{_type_name(val)} {val!r} ({key} = true)")
            if kind is int and (not isinstance(val, int) or isinstance(val, bool) or val < lo):
                raise ProblemFileError(file, fld, f"expected an integer >= {lo}, got "
                                                  f"{_type_name(val)} {val!r} (e.g. {key} = 10)")
        return
    for key, val in options.items():
        message = _try_cvxpy_option(solver, key, val)
        if message is not None:
            raise ProblemFileError(file, f"solver.options.{key}",
                                   f"refused by {solver}: {message} (see the {solver} "
                                   f"documentation for its settings, or remove {key})")


def _try_cvxpy_option(solver: str, key: str, val: Any) -> str | None:
    """Solve a tiny QP with ``solver`` and the one option ``key = val``; the error or None."""
    import contextlib
    import warnings

    import cvxpy as cp
    if key == "verbose":               # logging only: nnlasso keeps stdout clean itself
        return None if isinstance(val, bool) else f"expected true or false, got {val!r}"
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - 1.0)))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            prob.solve(solver=solver, **{key: val})
    except Exception as exc:  # noqa: BLE001 - any refusal of the option by the solver
        text = " ".join(str(exc).split())
        if not text or text.isdigit():           # e.g. OSQP's bare status code
            text = f"invalid value {val!r}"
        return text[:200]
    return None


def _check_static(spec: ProblemSpec, max_memory: int | None) -> None:
    """Checks that need the data's shape when it is known without reading data."""
    if spec.data.source == "sklearn":
        N, d, D = SKLEARN_DATASETS[spec.data.name]
    elif spec.data.source == "synthetic":
        N, d, D = synthetic.shape_of(spec.data.generator, spec.data.params)
        need, key = synthetic.memory_of(spec.data.generator, spec.data.params)
        cap = max_memory if max_memory is not None else max_memory_default()
        if need > cap:
            raise ProblemFileError(spec.file, f"data.params.{key}",
                                   f"generating this data set needs about {need / 2**30:.1f} GiB "
                                   f"(n = {N}, {key} = {spec.data.params[key]}), over the cap of "
                                   f"{cap / 2**30:.1f} GiB (lower n or {key}, or raise the cap "
                                   "with --max-memory)")
    else:
        return
    labels = spec.data.source == "sklearn" and spec.data.name not in ("diabetes", "linnerud") \
        or spec.data.source == "synthetic" and spec.data.params.get("labels", "none") != "none"
    if spec.model.loss in ("logistic", "softmax") and not labels:
        raise ProblemFileError(spec.file, "model.loss",
                               f"the {spec.model.loss} loss needs class labels, but this data "
                               "set has regression targets (use loss = \"squared\")")
    if spec.model.loss == "logistic" and D > 2 and spec.data.source == "sklearn":
        raise ProblemFileError(spec.file, "model.loss",
                               f"{spec.data.name!r} has {D} classes; the logistic loss takes two "
                               "(use loss = \"softmax\")")
    if spec.model.loss != "softmax" and labels:
        D = 1
    N = min(N, spec.data.max_samples or N)
    check_memory(spec, N, d, D, None, max_memory)


def feature_count(spec: ProblemSpec, N: int, d: int, K: int | None = None) -> int:
    """Effective number of feature columns used by the memory estimate."""
    if spec.task == "compress" or spec.dictionary is None:
        return int(K or 1)
    kind, size = spec.dictionary.kind, spec.dictionary.size
    if kind == "knots":
        return N + 1
    if kind in ("patterns", "gated"):
        return 2 * size * (d + 1)
    return size


def check_memory(spec: ProblemSpec, N: int, d: int, D: int, K: int | None,
                 max_memory: int | None = None) -> int:
    """Return the memory estimate or raise :class:`ProblemFileError` when over the cap."""
    cap = max_memory if max_memory is not None else max_memory_default()
    Keff = feature_count(spec, N, d, K)
    need = estimate_memory(N, d, D, Keff)
    if need > cap:
        if spec.dictionary is not None and spec.task != "compress":
            fld = "dictionary.size"
            fix = "lower dictionary.size or data.max_samples"
        elif spec.task == "lasso":
            fld, fix = "data.path", "use fewer samples or features (data.max_samples)"
        else:
            fld, fix = "data.max_samples", "set data.max_samples lower"
        raise ProblemFileError(spec.file, fld,
                               f"needs about {need / 2**30:.1f} GiB (N = {N}, K = {Keff}, "
                               f"D = {D}), over the cap of {cap / 2**30:.1f} GiB ({fix}, or "
                               "raise the cap with --max-memory)")
    return need


# --------------------------------------------------------------------------------------------
# file system
# --------------------------------------------------------------------------------------------

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _os_error(display: str, fieldname: str, what: str, exc: OSError) -> ProblemFileError:
    if exc.errno == errno.ELOOP:
        return ProblemFileError(display, fieldname, f"{what} is a symbolic link loop (too many "
                                                    "levels of links; point it at a real file)")
    return ProblemFileError(display, fieldname, f"cannot read {what} ({exc.strerror or exc}; "
                                                "check the path)")


def open_regular(path: str | os.PathLike, *, display: str, fieldname: str, what: str,
                 max_bytes: int) -> io.BufferedReader:
    """Open a regular file for reading, refusing every other kind of file *before* reading.

    Directories, FIFOs, devices (``/dev/zero``, ``/dev/urandom``), sockets and symbolic link
    loops are refused by type (:func:`os.stat`, ``S_ISREG``); the file is opened non-blocking
    (opening a FIFO never waits) and its type checked again on the open descriptor, so a file
    swapped between the two checks is refused too. Files larger than ``max_bytes`` are refused.

    Raises
    ------
    ProblemFileError
        ``display: fieldname: ...`` naming what the path is and what to give instead.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(display, fieldname, what, exc) from None
    for attempt in (st, None):
        if attempt is None:
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                             | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise _os_error(display, fieldname, what, exc) from None
            try:
                attempt = os.fstat(fd)
            except OSError as exc:
                os.close(fd)
                raise _os_error(display, fieldname, what, exc) from None
        else:
            fd = None
        if not stat.S_ISREG(attempt.st_mode):
            if fd is not None:
                os.close(fd)
            raise ProblemFileError(display, fieldname,
                                   f"{what} is {_kind_of(attempt.st_mode)}, not a regular file "
                                   "(give the path of an ordinary file)")
        if attempt.st_size > max_bytes:
            if fd is not None:
                os.close(fd)
            raise ProblemFileError(display, fieldname,
                                   f"{what} is {attempt.st_size} bytes, over the limit of "
                                   f"{max_bytes} bytes ({_SIZE_FIX.get(fieldname, 'give a smaller file')})")
    if getattr(os, "O_NONBLOCK", 0):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


_SIZE_FIX = {"file": "problem files are small TOML files; put data in npz/csv files",
             "data.path": "subsample it, or save large data as .npz",
             "network.path": "save the network's arrays only"}


def read_capped(fh: io.BufferedReader, max_bytes: int, *, display: str, fieldname: str,
                what: str) -> bytes:
    """Read at most ``max_bytes + 1`` bytes; refuse the file when there are more."""
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ProblemFileError(display, fieldname,
                               f"{what} is over the limit of {max_bytes} bytes "
                               f"({_SIZE_FIX.get(fieldname, 'give a smaller file')})")
    return data


def resolve_data_path(file: str, folder: Path, fieldname: str, raw: str) -> Path:
    """Resolve a data path inside ``folder``; refuse escapes (also through symlinks), symbolic
    link loops, and anything but a regular file (folders, FIFOs, devices) by type."""
    _check_relpath(file, fieldname, raw)
    try:
        base = folder.resolve()
        target = (base / raw).resolve()
    except (OSError, RuntimeError):          # Python < 3.13: RuntimeError on a symlink loop
        raise ProblemFileError(file, fieldname, f"{raw!r} is a symbolic link loop (point it at "
                                                "a real file)") from None
    if not target.is_relative_to(base):
        raise ProblemFileError(file, fieldname, f"path {raw!r} resolves to outside the problem "
                                                "file's folder (through a symlink or '..'); "
                                                "copy the data into that folder")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        raise ProblemFileError(file, fieldname, f"file not found: {raw!r} (relative to "
                                                f"{folder}); check the name") from None
    except OSError as exc:
        raise _os_error(file, fieldname, repr(raw), exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise ProblemFileError(file, fieldname, f"{raw!r} is {_kind_of(st.st_mode)}, not a "
                                                "regular file (give the path of a data file)")
    if st.st_size > MAX_DATA_FILE_BYTES:
        raise ProblemFileError(file, fieldname, f"{raw!r} is larger than "
                                                f"{MAX_DATA_FILE_BYTES >> 30} GiB (subsample it)")
    return target


def read_problem_bytes(path: str | os.PathLike, display: str | None = None) -> bytes:
    """Read a problem file's bytes, raising :class:`ProblemFileError`.

    Only regular files are read (directories, FIFOs, devices and link loops are refused by type
    before opening, see :func:`open_regular`), and at most :data:`MAX_FILE_BYTES` of them.
    """
    display = str(path) if display is None else display
    with open_regular(path, display=display, fieldname="file", what="the problem file",
                      max_bytes=MAX_FILE_BYTES) as fh:
        try:
            return read_capped(fh, MAX_FILE_BYTES, display=display, fieldname="file",
                               what="the problem file")
        except OSError as exc:
            raise _os_error(display, "file", "the problem file", exc) from None


def load_problem(path: str | os.PathLike, *, display: str | None = None,
                 max_memory: int | None = None, raw: bytes | None = None) -> ProblemSpec:
    """Read, parse and validate a problem file; resolve and check its data paths.

    Parameters
    ----------
    path : path-like
        The problem file.
    display : str, optional
        The name used in messages and records (default ``str(path)``).
    max_memory : int, optional
        Memory cap in bytes for the estimate (default :func:`max_memory_default`).
    raw : bytes, optional
        The file's bytes when already read (see :func:`read_problem_bytes`).

    Raises
    ------
    ProblemFileError
    """
    display = str(path) if display is None else display
    if raw is None:
        raw = read_problem_bytes(path, display)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemFileError(display, "file", f"is not UTF-8 text (byte {exc.start}); save it "
                                                "as UTF-8 TOML") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemFileError(display, "toml", f"syntax error: {exc} (fix the TOML syntax)"
                               ) from None
    except RecursionError:
        raise ProblemFileError(display, "toml", "nested too deeply (problem files need at most "
                                                "three levels of tables)") from None
    folder = Path(path).parent
    spec = parse_problem(doc, file=display, folder=folder, sha256=digest, max_memory=max_memory)
    data, network = spec.data, spec.network
    if data.path is not None:
        data = replace(data, resolved=resolve_data_path(display, folder, "data.path", data.path))
    if network is not None:
        network = replace(network, resolved=resolve_data_path(display, folder, "network.path",
                                                              network.path))
    return replace(spec, data=data, network=network)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------

def _npz_headers(spec: ProblemSpec, path: Path, fieldname: str,
                 text_ok: Sequence[str] = ()) -> dict[str, tuple]:
    """Read (shape, dtype) of every array of an npz file without loading the arrays.

    Object (pickled) arrays are refused; so are non-numeric ones except the names in
    ``text_ok`` (0-d strings such as an MLP's ``out_activation``).
    """
    out: dict[str, tuple] = {}
    try:
        with open_regular(path, display=spec.file, fieldname=fieldname, what="the file",
                          max_bytes=MAX_DATA_FILE_BYTES) as raw, zipfile.ZipFile(raw) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    raise ProblemFileError(spec.file, fieldname, f"member {name!r} is not a "
                                                                 ".npy array (save with np.savez)")
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                out[name[:-4]] = (tuple(shape), dtype)
    except ProblemFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ProblemFileError(spec.file, fieldname, f"not a valid .npz file ({exc}); save "
                                                     "arrays with numpy.savez") from None
    for name, (shape, dtype) in out.items():
        if dtype.hasobject:
            raise ProblemFileError(spec.file, fieldname, f"array {name!r} holds Python objects "
                                                         "(pickled data is refused; save numeric "
                                                         "arrays)")
        if name in text_ok and dtype.kind in "US" and len(shape) <= 1:
            continue
        if dtype.kind not in "biuf":
            raise ProblemFileError(spec.file, fieldname, f"array {name!r} has dtype {dtype}; "
                                                         "only real numbers are accepted")
    return out


def _load_npz(spec: ProblemSpec, path: Path, fieldname: str) -> dict[str, np.ndarray]:
    try:
        with open_regular(path, display=spec.file, fieldname=fieldname, what="the file",
                          max_bytes=MAX_DATA_FILE_BYTES) as raw, \
                np.load(raw, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        raise ProblemFileError(spec.file, fieldname, f"cannot read arrays ({exc}); save numeric "
                                                     "arrays with numpy.savez") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ProblemFileError(spec.file, fieldname, f"not a valid .npz file ({exc})") from None


def _parse_csv(spec: ProblemSpec, path: Path) -> tuple[np.ndarray, np.ndarray]:
    file, data = spec.file, spec.data
    what = f"the csv file (limit {MAX_CSV_BYTES >> 20} MiB: save large data as .npz)"
    with open_regular(path, display=file, fieldname="data.path", what=what,
                      max_bytes=MAX_CSV_BYTES) as fh:
        try:
            raw = read_capped(fh, MAX_CSV_BYTES, display=file, fieldname="data.path", what=what)
        except OSError as exc:
            raise _os_error(file, "data.path", "the csv file", exc) from None
    try:
        text = raw.decode("utf-8-sig")           # a leading byte order mark is not data
    except UnicodeDecodeError as exc:
        raise ProblemFileError(file, "data.path", f"cannot read the csv as UTF-8 text ({exc}); "
                                                  "save it as UTF-8") from None
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text), delimiter=data.delimiter)
    try:
        for lineno, row in enumerate(reader, 1):
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            rows.append([c.strip() for c in row])
            lines.append(lineno)
    except csv.Error as exc:
        raise ProblemFileError(file, "data.path", f"line {reader.line_num}: malformed csv ({exc}; "
                                                  "csv cells hold one number each, without "
                                                  "unbalanced quotes)") from None
    if not rows:
        raise ProblemFileError(file, "data.path", "the csv file has no data rows")

    def is_number(s: str) -> bool:
        try:
            float(s)
            return True
        except ValueError:
            return False

    header: list[str] | None = None
    if not all(is_number(c) for c in rows[0]):
        header, rows, lines = rows[0], rows[1:], lines[1:]
    if not rows:
        raise ProblemFileError(file, "data.path", "the csv file has a header but no data rows")
    width = len(header) if header is not None else len(rows[0])
    values = np.empty((len(rows), width))
    for i, (row, lineno) in enumerate(zip(rows, lines)):
        if len(row) != width:
            raise ProblemFileError(file, "data.path", f"line {lineno} has {len(row)} columns, "
                                                      f"expected {width} (make rows the same "
                                                      "length)")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ProblemFileError(file, "data.path",
                                       f"line {lineno}, column {j + 1}: {cell[:40]!r} is not a "
                                       "number (csv data must be numeric)") from None
    if isinstance(data.targets, tuple):
        if header is None:
            raise ProblemFileError(file, "data.targets", "target names need a header row (add "
                                                         "one, or give a count: targets = 1)")
        missing = [t for t in data.targets if t not in header]
        if missing:
            raise ProblemFileError(file, "data.targets",
                                   f"column {missing[0]!r} not in the header; "
                                   f"{_did_you_mean(missing[0], header)}columns: "
                                   f"{', '.join(header)}")
        ycols = [header.index(t) for t in data.targets]
    else:
        if data.targets >= width:
            raise ProblemFileError(file, "data.targets", f"{data.targets} target column(s) leave "
                                                         f"no input column ({width} columns)")
        ycols = list(range(width - data.targets, width))
    xcols = [j for j in range(width) if j not in ycols]
    return values[:, xcols], values[:, ycols]


def _finite(spec: ProblemSpec, fieldname: str, name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ProblemFileError(spec.file, fieldname, f"{name} has dtype {arr.dtype}; only real "
                                                     "numbers are accepted")
    if arr.size == 0:
        raise ProblemFileError(spec.file, fieldname, f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ProblemFileError(spec.file, fieldname, f"{name} contains {bad} NaN or infinite "
                                                     "value(s) (remove or impute them)")
    return arr


def _as_2d(spec: ProblemSpec, fieldname: str, name: str, arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ProblemFileError(spec.file, fieldname, f"{name} must be 1-D or 2-D, got shape "
                                                     f"{arr.shape}")
    return arr


def _standardize(A: np.ndarray) -> np.ndarray:
    mu = A.mean(axis=0)
    sd = A.std(axis=0)
    sd[sd <= 1e-12 * np.maximum(1.0, np.abs(mu))] = 1.0
    return (A - mu) / sd


def load_data(spec: ProblemSpec, *, max_memory: int | None = None) -> ProblemData:
    """Read or generate the problem's arrays and check them.

    Parameters
    ----------
    spec : ProblemSpec
        From :func:`load_problem` (paths resolved).
    max_memory : int, optional
        Memory cap in bytes (default :func:`max_memory_default`).

    Returns
    -------
    ProblemData

    Raises
    ------
    ProblemFileError
        For unreadable, non-numeric, non-finite or inconsistent data, a data set that does not
        suit the loss or the dictionary, or a memory estimate over the cap.
    """
    d_spec, file = spec.data, spec.file
    fld = "data.path" if d_spec.path is not None else (
        "data.name" if d_spec.source == "sklearn" else "data.generator")
    X: np.ndarray | None = None
    Y: np.ndarray | None = None
    Phi: np.ndarray | None = None
    if d_spec.source in ("npz", "csv") and d_spec.resolved is None:
        raise ProblemFileError(file, "data.path", "not resolved (load the spec with "
                                                  "load_problem)")
    if d_spec.source == "sklearn":
        from sklearn import datasets
        X, Y = getattr(datasets, f"load_{d_spec.name}")(return_X_y=True)
    elif d_spec.source == "synthetic":
        X, Y = synthetic.generate(d_spec.generator, d_spec.params)
    elif d_spec.source == "csv":
        X, Y = _parse_csv(spec, d_spec.resolved)
    else:
        headers = _npz_headers(spec, d_spec.resolved, fld)
        allowed = ("Phi", "Y", "X") if spec.task == "lasso" else ("X", "Y")
        for name in headers:
            if name not in allowed:
                raise ProblemFileError(file, fld, f"unexpected array {name!r}; "
                                                  f"{_did_you_mean(name, allowed)}a {spec.task} "
                                                  f"npz holds {', '.join(allowed)}")
        required = ("Phi", "Y") if spec.task == "lasso" else (
            ("X",) if spec.task == "compress" else ("X", "Y"))
        for name in required:
            if name not in headers:
                raise ProblemFileError(file, fld, f"missing array {name!r} (a {spec.task} npz "
                                                  f"needs {', '.join(required)})")
        shapes = {k: v[0] for k, v in headers.items()}
        n0 = shapes["Phi" if spec.task == "lasso" else "X"]
        if len(n0) == 0:
            raise ProblemFileError(file, fld, "arrays must have one row per sample")
        raw_bytes = sum(8 * math.prod(s) for s in shapes.values())
        cap = max_memory if max_memory is not None else max_memory_default()
        if raw_bytes > cap:
            raise ProblemFileError(file, fld, f"the arrays need {raw_bytes / 2**30:.1f} GiB, "
                                              f"over the cap of {cap / 2**30:.1f} GiB")
        arrays = _load_npz(spec, d_spec.resolved, fld)
        X, Y, Phi = arrays.get("X"), arrays.get("Y"), arrays.get("Phi")

    if Phi is not None:
        Phi = _as_2d(spec, fld, "Phi", _finite(spec, fld, "Phi", Phi)).astype(np.float64)
    if X is not None:
        X = _as_2d(spec, fld, "X", _finite(spec, fld, "X", X)).astype(np.float64)
    if Y is not None:
        Y = _finite(spec, fld, "Y", np.asarray(Y))
        if Y.ndim not in (1, 2):
            raise ProblemFileError(file, fld, f"Y must be 1-D or 2-D, got shape {Y.shape}")
    N = (Phi if Phi is not None else X).shape[0]
    for name, arr in (("X", X), ("Y", Y)):
        if arr is not None and arr.shape[0] != N:
            ref = "Phi" if Phi is not None else "X"
            raise ProblemFileError(file, fld, f"{name} has {arr.shape[0]} rows but {ref} has {N} "
                                              "(one row per sample in every array)")
    if N < 2:
        raise ProblemFileError(file, fld, f"only {N} sample(s); at least 2 are needed")

    if d_spec.max_samples is not None and N > d_spec.max_samples:
        rng = np.random.default_rng(d_spec.seed)
        idx = np.sort(rng.choice(N, size=d_spec.max_samples, replace=False))
        X = X[idx] if X is not None else None
        Y = Y[idx] if Y is not None else None
        Phi = Phi[idx] if Phi is not None else None
        N = d_spec.max_samples

    # loss / labels
    D = 1
    if Y is not None and spec.task != "compress":
        from .losses import get_loss
        try:
            enc = get_loss(spec.model.loss).encode(Y)
        except InvalidProblemError as exc:
            raise ProblemFileError(file, "model.loss", f"does not fit the data: {exc}") from None
        D = enc.T.shape[1]
        if spec.model.loss == "squared":
            Y = _as_2d(spec, fld, "Y", Y).astype(np.float64)
    if d_spec.standardize:
        if X is not None:
            X = _standardize(X)
        if Y is not None and spec.model.loss == "squared" and spec.task != "compress":
            Y = _standardize(Y)

    d = X.shape[1] if X is not None else 0
    if spec.task == "lasso" and Phi is None and X is None:
        raise ProblemFileError(file, fld, "lasso needs a Phi array or inputs X with a "
                                          "[dictionary]")
    if spec.task == "lasso" and Phi is None and spec.dictionary is None:
        raise ProblemFileError(file, "dictionary", "this lasso has no Phi array: add a "
                                                   "[dictionary] (kind = \"data\") to build the "
                                                   "features from X, or give Phi in an npz")
    if spec.task == "lasso" and Phi is not None and spec.dictionary is not None:
        raise ProblemFileError(file, "dictionary", "the npz gives Phi; remove [dictionary]")
    if spec.task == "lasso" and spec.model.skip is True and X is None:
        raise ProblemFileError(file, "model.skip", "skip = true needs an X array (the skip "
                                                   "inputs) in the npz; add X or set skip = "
                                                   "\"intercept\" or false")
    if spec.dictionary is not None and spec.dictionary.kind == "knots" and d != 1:
        raise ProblemFileError(file, "dictionary.kind", f"'knots' needs 1-D inputs, the data has "
                                                        f"d = {d} (use kind = \"data\")")
    weights = biases = network = None
    K = Phi.shape[1] if Phi is not None else None
    if spec.task == "compress":
        network = _load_network(spec, d, max_memory)
        weights, biases = list(network.weights), list(network.biases)
        D = weights[-1].shape[0]
        if spec.network.layer != "all" and spec.network.layer > len(weights) - 1:
            raise ProblemFileError(file, "network.layer",
                                   f"the network has {len(weights) - 1} hidden layer(s); layer "
                                   f"{spec.network.layer} does not exist (use a layer from 1 to "
                                   f"{len(weights) - 1}, or \"all\")")
        K = max(w.shape[0] for w in weights[:-1])
    if spec.solver.name == "OSQP" and D > 1 and spec.task != "compress":
        raise ProblemFileError(file, "solver.name", f"OSQP solves only quadratic programs, and "
                                                    f"these {D} outputs make the penalty a sum "
                                                    "of norms (use CLARABEL or SCS)")
    memory = check_memory(spec, N, d, D, K, max_memory)
    return ProblemData(X=X, Y=Y, Phi=Phi, N=N, d=d, D=D, K=feature_count(spec, N, d, K),
                       memory=memory, weights=weights, biases=biases, network=network)


def _load_network(spec: ProblemSpec, d: int, max_memory: int | None) -> Any:
    """Check a network npz (arrays W1, b1, ..., WL, bL with consistent shapes, optional
    ``out_activation`` and ``classes`` as written by :meth:`nnlasso.MLP.save`); return the
    :class:`nnlasso.MLP`."""
    file, fld = spec.file, "network.path"
    if spec.network.resolved is None:
        raise ProblemFileError(file, fld, "not resolved (load the spec with load_problem)")
    headers = _npz_headers(spec, spec.network.resolved, fld,
                           text_ok=("out_activation", "classes"))
    L = 0
    while f"W{L + 1}" in headers:
        L += 1
    # optional metadata written by nnlasso.MLP.save
    expected = {f"{p}{i}" for i in range(1, L + 1) for p in "Wb"} | {"out_activation",
                                                                      "classes"}
    for name in headers:
        if name not in expected:
            raise ProblemFileError(file, fld, f"unexpected array {name!r}; a network npz holds "
                                              "W1, b1, W2, b2, ... (consecutive layers)")
    if L < 2:
        raise ProblemFileError(file, fld, f"needs at least two layers (W1, b1, W2, b2), found "
                                          f"{L}")
    for i in range(1, L + 1):
        if f"b{i}" not in headers:
            raise ProblemFileError(file, fld, f"missing array 'b{i}'")
    cap = max_memory if max_memory is not None else max_memory_default()
    if sum(8 * math.prod(s) for s, dt in headers.values() if dt.kind in "biuf") > cap:
        raise ProblemFileError(file, fld, "the network's arrays are over the memory cap")
    arrays = _load_npz(spec, spec.network.resolved, fld)
    weights = [np.asarray(arrays[f"W{i}"], dtype=np.float64) for i in range(1, L + 1)]
    biases = [np.asarray(arrays[f"b{i}"], dtype=np.float64) for i in range(1, L + 1)]
    n_in = d
    for i, (W, b) in enumerate(zip(weights, biases), 1):
        _finite(spec, fld, f"W{i}", W)
        _finite(spec, fld, f"b{i}", b)
        if W.ndim != 2 or W.shape[1] != n_in:
            raise ProblemFileError(file, fld, f"W{i} has shape {W.shape}, expected (n_out, "
                                              f"{n_in}) (W_l is (n_out, n_in); layer 1 takes the "
                                              f"data's {d} inputs)")
        if b.shape != (W.shape[0],):
            raise ProblemFileError(file, fld, f"b{i} has shape {b.shape}, expected "
                                              f"({W.shape[0]},)")
        n_in = W.shape[0]
    out_act = arrays.get("out_activation")
    if out_act is not None and (out_act.ndim != 0 or out_act.dtype.kind not in "US"):
        raise ProblemFileError(file, fld, "out_activation must be a 0-d string array (save the "
                                          "network with nnlasso.MLP.save)")
    from .networks import MLP
    try:
        mlp = MLP(weights, biases, out_activation=None if out_act is None else str(out_act),
                  classes=arrays.get("classes"))
    except InvalidProblemError as exc:
        raise ProblemFileError(file, fld, f"{exc} (save the network with nnlasso.MLP.save)"
                               ) from None
    return mlp
