"""What the task runners share: the public API by name, the verification of a solution
(support reduction, width bound, certificate) and the record fields of a solution."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..solution import CertifiedResult, Solution
from ..spec.schema import ProblemSpec

#: relative tolerance of the dictionary certificate: certified iff max_ratio <= 1 + CERT_TOL
CERT_TOL = 1e-4


def api(name: str) -> Any:
    """``nnlasso.<name>``, or an ImportError saying that this installation lacks it."""
    import nnlasso
    fn = getattr(nnlasso, name, None)
    if fn is None:
        raise ImportError(f"nnlasso.{name} is not available in this nnlasso installation")
    return fn


def dictionary_certificate(sol: Any, Phi: np.ndarray, Y: np.ndarray, X: np.ndarray | None,
                            skip: Any, loss: str) -> dict[str, Any]:
    """max_k |Phi_k^T q|_2 / lam over the dictionary, q the dual residual of the fit."""
    from .. import representer
    Z = sol.fitted(Phi, X if sol.skip_coef is not None else None)
    Q = representer.dual_residual(Z, Y, loss=loss, skip=skip)[0]
    c = representer.certify_dictionary(Phi, Q, sol.lam, tol=CERT_TOL)
    return {"kind": "dictionary", "max_ratio": float(c.max_ratio), "certified": bool(c.certified)}


def continuous_certificate(fit: Any) -> dict[str, Any]:
    from .. import representer
    c = representer.certify(fit, kind="continuous", tol=CERT_TOL)
    return {"kind": "continuous", "max_ratio": float(c.max_ratio), "certified": bool(c.certified),
            "exact": bool(c.exact), "gap": None if c.gap is None else float(c.gap)}


def verify(spec: ProblemSpec, sol: Any, Phi: np.ndarray, skip: Any, rec: dict,
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
        rec["certificate"] = dictionary_certificate(sol, Phi, Y, X, skip, spec.model.loss)
    elif cert == "continuous":
        rec["certificate"] = continuous_certificate(fit)
    return final


def solver_name(spec: ProblemSpec) -> str:
    """The record's ``solver``: the name asked for ("auto" in lower case, see docs/records.md)."""
    return "auto" if spec.solver.name.upper() == "AUTO" else spec.solver.name


def fill_certificate(rec: dict, res: CertifiedResult) -> None:
    """The record's certified fields (status, objective, dual_objective, gap, rel_gap, solver,
    inner, fallback) from any nnlasso result."""
    rec.update(status=res.status, objective=res.objective, dual_objective=res.dual_objective,
               gap=res.gap, rel_gap=res.rel_gap, solver=res.solver, inner=res.inner,
               fallback=res.fallback)


def fill_solution(rec: dict, sol: Solution) -> None:
    fill_certificate(rec, sol)
    rec.update(D=int(sol.V.shape[1]), K_dictionary=int(sol.V.shape[0]),
               K_active=int(sol.n_active))
    for key in ("compile", "solve"):
        rec["times"][key] = float(sol.times.get(key, 0.0))


def solution_arrays(sol: Any, prefix: str) -> dict[str, np.ndarray]:
    out = {f"{prefix}V": np.asarray(sol.V), f"{prefix}active": np.asarray(sol.active)}
    if sol.skip_coef is not None:
        out[f"{prefix}skip_coef"] = np.asarray(sol.skip_coef)
    if sol.intercept is not None:
        out[f"{prefix}intercept"] = np.asarray(sol.intercept)
    return out
