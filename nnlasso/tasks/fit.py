"""``task = "fit"``: a shallow ReLU network fitted over a dictionary of neurons
(:func:`nnlasso.fit_shallow`), verified by support reduction, the width bound and a certificate."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..affine import skip_argument
from ..spec.schema import CERTIFICATES, DICTIONARY_KINDS, ProblemData, ProblemSpec
from .base import Task, register
from .common import (CERT_TOL, api, continuous_certificate, fill_certificate, fill_solution,
                     solution_arrays, verify)


@register
class FitTask(Task):
    """Fit a shallow network: ``[dictionary]`` (any kind, defaults when absent) and ``[model]``."""

    name = "fit"
    dictionary_kinds = DICTIONARY_KINDS
    dictionary_required = True
    certificates = CERTIFICATES

    def ratio_features(self, spec: ProblemSpec, X: np.ndarray | None,
                       Phi: np.ndarray | None) -> np.ndarray | None:
        from ..shallow import ratio_features
        dic = spec.dictionary
        return ratio_features(X, dic.kind, dic.size, dic.seed)

    def run(self, spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
        return _run_fit(spec, data, rec)


def _run_fit(spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
    dic = spec.dictionary
    patterns = dic.kind in ("patterns", "gated")
    t0 = time.perf_counter()
    fit = api("fit_shallow")(data.X, data.Y, lam=spec.model.lam, lam_ratio=spec.model.lam_ratio,
                              dictionary=dic.kind, n_neurons=dic.size, loss=spec.model.loss,
                              skip=spec.model.skip, solver=spec.solver.name, seed=dic.seed,
                              options=spec.solver.options or None,
                              n_patterns=dic.size if patterns else None)
    wall = time.perf_counter() - t0
    skip = skip_argument(fit.skip, data.X)
    if fit.Phi is None:
        return _finish_pattern_fit(spec, data, fit, rec, wall, skip)
    sol = fit.solution
    fill_solution(rec, sol)
    rec.update(loss=fit.loss, lam=float(fit.lam),
               lam_max=float(api("lam_max")(fit.Phi, data.Y, loss=fit.loss, skip=skip)))
    rec["K_dictionary"] = int(fit.Phi.shape[1])
    rec["times"]["build"] = max(wall - rec["times"]["compile"] - rec["times"]["solve"], 0.0)
    t1 = time.perf_counter()
    final = verify(spec, sol, fit.Phi, skip, rec, data.Y, data.X, fit=fit)
    rec["times"]["verify"] = time.perf_counter() - t1
    arrays = solution_arrays(sol, "")
    arrays.update(solution_arrays(final, "reduced_"))
    arrays.update(W=np.asarray(fit.dictionary.W), b=np.asarray(fit.dictionary.b))
    return arrays


def _finish_pattern_fit(spec: ProblemSpec, data: ProblemData, fit: Any, rec: dict, wall: float,
                        skip: Any) -> dict[str, np.ndarray]:
    """Record of an activation-pattern fit: verified on the recovered network's neurons."""
    from .. import representer
    psol, net = fit.solution, fit.net
    times = dict(psol.times)
    fill_certificate(rec, psol)
    rec.update(D=int(net.V.shape[1]), K_dictionary=int(2 * psol.n_patterns),
               K_active=int(net.W.shape[0]), loss=fit.loss, lam=float(fit.lam))
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
        rec["certificate"] = continuous_certificate(fit)
    elif spec.verify.certificate == "dictionary" and fit.dictionary.K:
        c = representer.certify(fit, kind="dictionary", tol=CERT_TOL)
        rec["certificate"] = {"kind": "dictionary", "max_ratio": float(c.max_ratio),
                              "certified": bool(c.certified)}
    rec["times"]["verify"] = time.perf_counter() - t1
    return arrays
