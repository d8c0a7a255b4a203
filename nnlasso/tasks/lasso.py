"""``task = "lasso"``: the lasso over given features (an npz ``Phi``) or over a sampled
dictionary of ReLU neurons (:func:`nnlasso.solve_lasso`)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..affine import skip_argument
from ..spec.schema import ProblemData, ProblemFileError, ProblemSpec
from .base import Task, register
from .common import fill_solution, solution_arrays, verify


@register
class LassoTask(Task):
    """A lasso: features from an npz (``Phi``, ``Y``, optional ``X``) or a ``[dictionary]``."""

    name = "lasso"
    dictionary_kinds = ("data", "sphere", "knots")
    npz_arrays = ("Phi", "Y", "X")
    npz_required = ("Phi", "Y")
    npz_rows = "Phi"

    def check_arrays(self, spec: ProblemSpec, fld: str, X: np.ndarray | None,
                     Phi: np.ndarray | None) -> None:
        file = spec.file
        if Phi is None and X is None:
            raise ProblemFileError(file, fld, "lasso needs a Phi array or inputs X with a "
                                              "[dictionary]")
        if Phi is None and spec.dictionary is None:
            raise ProblemFileError(file, "dictionary",
                                   "this lasso has no Phi array: add a [dictionary] (kind = "
                                   "\"data\") to build the features from X, or give Phi in an "
                                   "npz")
        if Phi is not None and spec.dictionary is not None:
            raise ProblemFileError(file, "dictionary", "the npz gives Phi; remove [dictionary]")
        if spec.model.skip is True and X is None:
            raise ProblemFileError(file, "model.skip", "skip = true needs an X array (the skip "
                                                       "inputs) in the npz; add X or set skip = "
                                                       "\"intercept\" or false")

    def memory_fix(self, spec: ProblemSpec) -> tuple[str, str]:
        if spec.dictionary is not None:
            return super().memory_fix(spec)
        return "data.path", "use fewer samples or features (data.max_samples)"

    def ratio_features(self, spec: ProblemSpec, X: np.ndarray | None,
                       Phi: np.ndarray | None) -> np.ndarray | None:
        return Phi if Phi is not None else _dictionary(spec, X).features(X)

    def run(self, spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
        return _run_lasso(spec, data, rec)


def _dictionary(spec: ProblemSpec, X: np.ndarray) -> Any:
    """The ``[dictionary]`` of a lasso without Phi: knots, or sampled neurons."""
    import nnlasso as nl
    dic_spec = spec.dictionary
    if dic_spec.kind == "knots":
        return nl.knot_neurons(X)
    return nl.sample_neurons(X, dic_spec.size, method=dic_spec.kind, seed=dic_spec.seed)


def _run_lasso(spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
    import nnlasso as nl
    t0 = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    if data.Phi is not None:
        Phi = data.Phi
    else:
        dic = _dictionary(spec, data.X)
        Phi = dic.features(data.X)
        arrays.update(W=np.asarray(dic.W), b=np.asarray(dic.b))
    skip: Any = skip_argument(spec.model.skip, data.X)
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
    fill_solution(rec, sol)
    rec.update(loss=spec.model.loss, lam=float(lam), lam_max=float(lmax))
    rec["times"]["build"] = prep + float(sol.times.get("build", 0.0))
    t1 = time.perf_counter()
    Xs = data.X if spec.model.skip is True else None
    final = verify(spec, sol, Phi, skip, rec, data.Y, Xs)
    rec["times"]["verify"] = time.perf_counter() - t1
    arrays.update(solution_arrays(sol, ""))
    arrays.update(solution_arrays(final, "reduced_"))
    return arrays
