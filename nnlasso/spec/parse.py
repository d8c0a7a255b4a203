"""Pure validation of a parsed problem file (:func:`parse_problem`) and the memory check."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import backends, synthetic
from ..losses import get_loss
from ..memory import estimate_memory, max_memory_default
from .schema import (CERTIFICATES, LOSSES, MAX_SAMPLES, SCHEMA, SKLEARN_DATASETS, SOURCES,
                     _ALL_DATA_KEYS, _DATA_KEYS, _MODEL_KEYS, _SOLVER_KEYS, _TOP_KEYS,
                     _VERIFY_KEYS, DataSpec, DictionarySpec, ModelSpec, ProblemFileError,
                     ProblemSpec, SolverSpec, VerifySpec)
from .tables import _Table, _check_relpath, _did_you_mean, _short, _type_name

if TYPE_CHECKING:
    from ..tasks import Task

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
    from ..tasks import TASKS
    top = _Table(file, "", doc, _TOP_KEYS)
    name = _parse_header(file, top)
    names = tuple(TASKS)
    task = TASKS[top.str("task", required=True, choices=names,
                         fix=f"add task = \"fit\" (one of {', '.join(names)})")]
    data = _parse_data(file, top)
    dictionary, network = task.parse_structure(file, top)
    model = _parse_model(file, top, task)
    solver = _parse_solver(file, top, task, model, dictionary)
    verify = _parse_verify(file, top, task)
    spec = ProblemSpec(file=file, folder=Path(folder), sha256=sha256, schema=SCHEMA, name=name,
                       task=task.name, data=data, model=model, solver=solver, verify=verify,
                       dictionary=dictionary, network=network)
    _check_static(spec, max_memory)
    return spec


def _parse_header(file: str, top: _Table) -> str:
    """Check ``schema``; return ``name`` (default: the file's stem)."""
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
    return name


def _parse_data(file: str, top: _Table) -> DataSpec:
    """The ``[data]`` table: the keys of its source only."""
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
        data_kw.update(_parse_data_file(file, dt, source))
    else:
        data_kw.update(_parse_synthetic(file, dt))
    return DataSpec(**data_kw)


def _parse_data_file(file: str, dt: _Table, source: str) -> dict[str, Any]:
    """``path`` (and, for csv, ``delimiter`` and ``targets``) of an npz or csv source."""
    data_kw: dict[str, Any] = {}
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
    return data_kw


def _parse_synthetic(file: str, dt: _Table) -> dict[str, Any]:
    """``generator`` and its checked ``params`` of a synthetic source."""
    data_kw: dict[str, Any] = {}
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
    return data_kw


def _parse_model(file: str, top: _Table, task: Task) -> ModelSpec:
    """The ``[model]`` table: loss, lam or lam_ratio, skip, eps (as the task allows)."""
    if task.penalized and not top.has("model"):
        raise top.error("model", "missing [model] section (add lam_ratio = 0.05 or lam = ...)")
    mt = _Table(file, "model", top.table.get("model", {}), _MODEL_KEYS)
    loss = mt.str("loss", "squared", choices=LOSSES)
    lam = mt.number("lam", None, lo=0.0, lo_open=True,
                    fix="lam must be > 0; or use lam_ratio = 0.05 for a fraction of lam_max")
    lam_ratio = mt.number("lam_ratio", None, lo=0.0, hi=1.0, lo_open=True,
                          fix="a fraction of lam_max in (0, 1], e.g. 0.05")
    if lam is not None and lam_ratio is not None:
        raise mt.error("lam", "both lam and lam_ratio are given (keep exactly one of them)")
    if lam is None and lam_ratio is None and task.penalized:
        raise mt.error("lam", "neither lam nor lam_ratio is given (add exactly one, e.g. "
                              "lam_ratio = 0.05)")
    skip: Any = mt.table.get("skip", True)
    if mt.has("skip") and "skip" in task.model_forbids:
        raise mt.error("skip", task.model_forbids["skip"])
    if not isinstance(skip, bool) and skip != "intercept":
        raise mt.error("skip", f"expected true (C x + c0), \"intercept\" (c0 only) or false, "
                               f"got {_type_name(skip)} {skip!r}")
    if mt.has("eps") and "eps" in task.model_forbids:
        raise mt.error("eps", task.model_forbids["eps"])
    eps = mt.number("eps", 0.0, lo=0.0, hi=1.0, hi_open=True,
                    fix="a relative residual tolerance in [0, 1), e.g. eps = 0.01")
    task.check_model(mt, loss, lam, lam_ratio, eps)
    return ModelSpec(loss=loss, lam=lam, lam_ratio=lam_ratio, skip=skip, eps=eps)



def _parse_solver(file: str, top: _Table, task: Task, model: ModelSpec,
                  dictionary: DictionarySpec | None) -> SolverSpec:
    """The ``[solver]`` table: the name (resolved, so an unknown or absent solver is an error
    here), the time limit and the options (checked against the solver)."""
    st = _Table(file, "solver", top.table.get("solver", {}), _SOLVER_KEYS)
    sname = st.str("name", "auto")
    from ..backends import resolve
    from ..errors import SolverError
    try:
        # compress programs are min-norm / group programs (SOCP); the activation-pattern
        # programs (patterns, gated) have cone blocks: neither is a QP nor a penalized lasso
        pattern_fit = dictionary is not None and dictionary.kind in ("patterns", "gated")
        concrete = resolve(sname, is_qp=model.loss == "squared" and task.penalized
                           and not pattern_fit,
                           native=task.penalized and not pattern_fit,
                           cones=get_loss(model.loss).cones)
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
    if options and not task.penalized:
        raise st.error("options", "compress problems do not pass solver options (remove them)")
    if options and sname.upper() == "AUTO":
        key = next(iter(options))
        raise ProblemFileError(file, f"solver.options.{key}",
                               "options need a named solver: with name = \"auto\" (the default) "
                               "the solver is chosen by problem size, and each solver has its "
                               "own options (set name = \"CLARABEL\", \"SCS\", ... or \"prox\")")
    _check_solver_options(file, concrete, options)
    return SolverSpec(name=sname.upper(), time_limit=time_limit, options=dict(options))



def _parse_verify(file: str, top: _Table, task: Task) -> VerifySpec:
    """The ``[verify]`` table: reduce_support and the certificate (as the task allows)."""
    vt = _Table(file, "verify", top.table.get("verify", {}), _VERIFY_KEYS)
    default_cert, certs = task.default_certificate, task.certificates
    cert = vt.str("certificate", default_cert, choices=CERTIFICATES)
    if cert not in certs:
        raise vt.error("certificate", f"{cert!r} is not available for task = {task.name!r} (use "
                                      f"{' or '.join(repr(c) for c in certs)})")
    reduce = vt.bool("reduce_support", True)
    task.check_verify(vt, reduce)
    return VerifySpec(reduce_support=reduce, certificate=cert)


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
        message = backends.option_error(solver, key, val)
        if message is not None:
            raise ProblemFileError(file, f"solver.options.{key}",
                                   f"refused by {solver}: {message} (see the {solver} "
                                   f"documentation for its settings, or remove {key})")


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
    kind = get_loss(spec.model.loss).targets  # "regression", "binary" or "multiclass"
    if kind != "regression" and not labels:
        raise ProblemFileError(spec.file, "model.loss",
                               f"the {spec.model.loss} loss needs class labels, but this data "
                               "set has regression targets (use loss = \"squared\")")
    if kind == "binary" and D > 2 and spec.data.source == "sklearn":
        raise ProblemFileError(spec.file, "model.loss",
                               f"{spec.data.name!r} has {D} classes; the {spec.model.loss} loss "
                               "takes two (use loss = \"softmax\")")
    if kind != "multiclass" and labels:
        D = 1
    N = min(N, spec.data.max_samples or N)
    check_memory(spec, N, d, D, None, max_memory)


def feature_count(spec: ProblemSpec, N: int, d: int, K: int | None = None) -> int:
    """Effective number of feature columns used by the memory estimate (the task's own)."""
    from ..tasks import get_task
    return get_task(spec.task).feature_count(spec, N, d, K)


def check_memory(spec: ProblemSpec, N: int, d: int, D: int, K: int | None,
                 max_memory: int | None = None) -> int:
    """Return the memory estimate or raise :class:`ProblemFileError` when over the cap."""
    cap = max_memory if max_memory is not None else max_memory_default()
    Keff = feature_count(spec, N, d, K)
    need = estimate_memory(N, d, D, Keff)
    if need > cap:
        from ..tasks import get_task
        fld, fix = get_task(spec.task).memory_fix(spec)
        raise ProblemFileError(spec.file, fld,
                               f"needs about {need / 2**30:.1f} GiB (N = {N}, K = {Keff}, "
                               f"D = {D}), over the cap of {cap / 2**30:.1f} GiB ({fix}, or "
                               "raise the cap with --max-memory)")
    return need
