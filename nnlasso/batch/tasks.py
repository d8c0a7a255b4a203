"""The per-task runners (fit, lasso, compress) and :func:`run_problem`."""
from __future__ import annotations

import hashlib
import os
import re
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..memory import memory_cap
from ..spec import (ProblemData, ProblemFileError, ProblemSpec, load_data, load_problem,
                    read_problem_bytes)
from .records import (CERT_TOL, OK_STATUSES, STATUSES, _clean, _error_text, empty_record,
                      resolved_path)

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
    from .. import representer
    Z = sol.fitted(Phi, X if sol.skip_coef is not None else None)
    Q = representer.dual_residual(Z, Y, loss=loss, skip=skip)[0]
    c = representer.certify_dictionary(Phi, Q, sol.lam, tol=CERT_TOL)
    return {"kind": "dictionary", "max_ratio": float(c.max_ratio), "certified": bool(c.certified)}


def _continuous_certificate(fit: Any) -> dict[str, Any]:
    from .. import representer
    c = representer.certify(fit, kind="continuous", tol=CERT_TOL)
    return {"kind": "continuous", "max_ratio": float(c.max_ratio), "certified": bool(c.certified),
            "exact": bool(c.exact), "gap": None if c.gap is None else float(c.gap)}


def _verify(spec: ProblemSpec, sol: Any, Phi: np.ndarray, skip: Any, rec: dict,
            Y: np.ndarray, X: np.ndarray | None, fit: Any = None) -> Any:
    """Width bound, support reduction and certificate per ``[verify]``; fills ``rec``."""
    from .. import representer
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
    from .. import representer
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
    from ..compress import compress_layer, compress_network
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
