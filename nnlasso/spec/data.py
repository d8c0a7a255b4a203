"""Data loaders (sklearn, npz, csv, synthetic) and their checks (:func:`load_data`)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backends, synthetic
from ..errors import InvalidProblemError
from ..memory import max_memory_default
from .schema import MAX_CSV_BYTES, ProblemData, ProblemFileError, ProblemSpec
from .tables import _did_you_mean
from .files import _load_npz, _npz_headers, _os_error, open_regular, read_capped
from .parse import check_memory, feature_count

if TYPE_CHECKING:
    from ..tasks import Task

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


def _read_arrays(spec: ProblemSpec, task: Task, fld: str, max_memory: int | None
                 ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(X, Y, Phi) as the source gives them (npz: only the task's arrays, sizes checked from
    the headers against the cap before reading)."""
    d_spec, file = spec.data, spec.file
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
        allowed = task.npz_arrays
        for name in headers:
            if name not in allowed:
                raise ProblemFileError(file, fld, f"unexpected array {name!r}; "
                                                  f"{_did_you_mean(name, allowed)}a {spec.task} "
                                                  f"npz holds {', '.join(allowed)}")
        required = task.npz_required
        for name in required:
            if name not in headers:
                raise ProblemFileError(file, fld, f"missing array {name!r} (a {spec.task} npz "
                                                  f"needs {', '.join(required)})")
        shapes = {k: v[0] for k, v in headers.items()}
        n0 = shapes[task.npz_rows]
        if len(n0) == 0:
            raise ProblemFileError(file, fld, "arrays must have one row per sample")
        raw_bytes = sum(8 * math.prod(s) for s in shapes.values())
        cap = max_memory if max_memory is not None else max_memory_default()
        if raw_bytes > cap:
            raise ProblemFileError(file, fld, f"the arrays need {raw_bytes / 2**30:.1f} GiB, "
                                              f"over the cap of {cap / 2**30:.1f} GiB")
        arrays = _load_npz(spec, d_spec.resolved, fld)
        X, Y, Phi = arrays.get("X"), arrays.get("Y"), arrays.get("Phi")
    return X, Y, Phi


def _check_lam_ratio(spec: ProblemSpec, task: Task, X: np.ndarray | None,
                     Y: np.ndarray | None, Phi: np.ndarray | None,
                     extra: dict[str, Any]) -> None:
    """Refuse ``lam_ratio`` when a lam_max the run would use is (numerically) zero
    (:meth:`Task.check_lam_ratio`: the features and targets of the solve, one feature build
    and two products Phi^T Q0): lam = lam_ratio * lam_max would be 0."""
    from ..shallow import ZeroLamMaxError
    try:
        task.check_lam_ratio(spec, X, Y, Phi, extra)
    except ZeroLamMaxError as exc:
        fix = task.zero_lam_max_fix(spec)
        where = f"{exc.where}: " if exc.where else ""
        raise ProblemFileError(spec.file, "model.lam_ratio",
                               f"{where}lam_max = {exc.lam_max:.3g} is (numerically) zero "
                               f"({exc.lam_max_no_skip:.3g} without the skip): {exc.reason}, "
                               f"so every lam_ratio gives lam = 0; {fix}") from None


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
        suit the loss or the dictionary, a memory estimate over the cap, or ``lam_ratio`` on
        data whose lam_max is (numerically) zero (on the features the run would use).
    """
    from ..tasks import get_task
    task = get_task(spec.task)
    d_spec, file = spec.data, spec.file
    fld = "data.path" if d_spec.path is not None else (
        "data.name" if d_spec.source == "sklearn" else "data.generator")
    X, Y, Phi = _read_arrays(spec, task, fld, max_memory)

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
    if Y is not None and task.penalized:
        from ..losses import get_loss
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
        if Y is not None and spec.model.loss == "squared" and task.penalized:
            Y = _standardize(Y)

    d = X.shape[1] if X is not None else 0
    task.check_arrays(spec, fld, X, Phi)
    if spec.dictionary is not None and spec.dictionary.kind == "knots" and d != 1:
        raise ProblemFileError(file, "dictionary.kind", f"'knots' needs 1-D inputs, the data has "
                                                        f"d = {d} (use kind = \"data\")")
    K = Phi.shape[1] if Phi is not None else None
    extra = task.load_extra(spec, d, max_memory)
    D, K = extra.pop("D", D), extra.pop("K", K)
    backend = backends.ADAPTERS.get(spec.solver.name)
    if backend is not None and not backend.takes("soc") and D > 1 and task.penalized:
        raise ProblemFileError(file, "solver.name", f"{backend.name} solves only quadratic "
                                                    f"programs, and these {D} outputs make the "
                                                    "penalty a sum of norms (use "
                                                    f"{backends.alternatives('soc')})")
    memory = check_memory(spec, N, d, D, K, max_memory)
    if spec.model.lam_ratio is not None:
        _check_lam_ratio(spec, task, X, Y, Phi, extra)
    return ProblemData(X=X, Y=Y, Phi=Phi, N=N, d=d, D=D, K=feature_count(spec, N, d, K),
                       memory=memory, **extra)
