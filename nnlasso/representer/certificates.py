"""Optimality certificates over all neurons (sup |eta| / lam) or over a dictionary (max |Phi_k^T q| / lam).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import as_matrix, check_lam
from ..affine import skip_argument
from ..dictionary import NeuronDictionary
from ..duality import gaps, scaled_dual_value
from ..errors import InvalidProblemError
from ..losses import get_loss
from ..solution import Solution
from .eta_sup import EtaSup, _pattern_count_estimate, dual_residual, sup_eta


@dataclass
class Certificate:
    """Optimality certificate of a shallow fit over a neuron class.

    Attributes
    ----------
    max_ratio : sup |eta| / lam: the true sup when ``exact``, else a lower bound
        (``kind="dictionary"``: max_k |Phi_k^T q|_2 / lam over the dictionary).
    upper_ratio : a certified upper bound on the sup / lam (= max_ratio when exact; inf if none).
    exact : max_ratio is the true supremum.
    certified : upper_ratio <= 1 + tol: the fit is a global optimum over all neurons (to the gap).
    argmax : (w, b) of the most violating neuron (dictionary: (w, b) if known, else None).
    gap, rel_gap : duality gap of the infinite-width problem at the dual point
        q / max(1, upper_ratio) (None when no upper bound is known).
    dual_objective, objective : the two sides of the gap.
    kind : "continuous" or "dictionary".   method : "d1" | "arcs" | "patterns" | "sampling" |
        "dictionary".   tol : the tolerance used.
    details : skip-condition residual, sum_n q_n, the dictionary ratio, counts, times.
    """

    max_ratio: float
    exact: bool
    certified: bool
    argmax: tuple[np.ndarray, float] | None
    gap: float | None
    kind: str
    method: str
    upper_ratio: float = float("inf")
    rel_gap: float | None = None
    dual_objective: float | None = None
    objective: float | None = None
    tol: float = 1e-6
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (the results-file ``certificate`` entry)."""
        out: dict[str, Any] = {"kind": self.kind, "method": self.method,
                               "max_ratio": float(self.max_ratio), "exact": bool(self.exact),
                               "certified": bool(self.certified)}
        if np.isfinite(self.upper_ratio):
            out["upper_ratio"] = float(self.upper_ratio)
        if self.gap is not None:
            out["gap"], out["rel_gap"] = float(self.gap), float(self.rel_gap)
        return out

    def __str__(self) -> str:
        what = "sup |eta| / lam" if self.kind == "continuous" else "max_k |Phi_k^T q| / lam"
        rows = [("kind / method", f"{self.kind} / {self.method}"),
                (what, f"{self.max_ratio:.9g} ({'exact' if self.exact else 'lower bound'})"),
                ("certified upper bound", f"{self.upper_ratio:.9g}"),
                ("certified (<= 1 + tol)", f"{'yes' if self.certified else 'no'} "
                                           f"(tol={self.tol:g})")]
        if self.argmax is not None:
            w, b = self.argmax
            rows.append(("argmax neuron (w, b)",
                         f"w={np.array2string(np.asarray(w), precision=4)}, b={b:.6g}"))
        if self.gap is not None:
            rows.append(("infinite-width gap", f"{self.gap:.3g} (rel {self.rel_gap:.3g})"))
        for key in ("skip_residual", "sum_q", "dictionary_ratio", "time"):
            if key in self.details:
                val = self.details[key]
                rows.append((key, f"{val:.3g}" if isinstance(val, float) else str(val)))
        w = max(len(a) for a, _ in rows)
        return "\n".join(["optimality certificate"] + [f"  {a:<{w}}  {b}" for a, b in rows])


def certify_dictionary(Phi: Any, Q: Any, lam: float, *, tol: float = 1e-6,
                       dictionary: NeuronDictionary | None = None) -> Certificate:
    """Dictionary certificate max_k |Phi_k^T q|_2 / lam (<= 1 + tol: optimal over the dictionary).

    ``Q`` is the dual residual (:func:`dual_residual`). Exact by construction (a finite max).
    """
    Phi = as_matrix(Phi, "Phi")
    Q = np.asarray(Q, dtype=float).reshape(Phi.shape[0], -1)
    lam = check_lam(lam)
    norms = np.linalg.norm(Phi.T @ Q, axis=1)
    k = int(np.argmax(norms)) if norms.size else 0
    ratio = float(norms[k] / lam) if norms.size else 0.0
    argmax = None
    if dictionary is not None and norms.size:
        argmax = (dictionary.W[k].copy(), float(dictionary.b[k]))
    return Certificate(max_ratio=ratio, exact=True, certified=ratio <= 1 + tol, argmax=argmax,
                       gap=None, kind="dictionary", method="dictionary", upper_ratio=ratio,
                       tol=tol, details={"argmax_index": k})


def certify_residual(X: Any, Q: Any, lam: float, *, T: Any = None, loss: str = "squared",
                     objective: float | None = None, skip: Any = None, exact: bool | None = None,
                     tol: float = 1e-6, n_samples: int = 4000, seed: Any = 0, n_top: int = 5,
                     max_patterns: int = 60_000, starts: Any = None
                     ) -> tuple[Certificate, EtaSup | None]:
    """Continuous certificate from a dual residual Q (the core of :func:`certify`).

    Checks sum_n q_n = 0 (else sup |eta| = +inf: near-affine neurons with b -> -inf; the dual
    point used for the gap is then projected onto sum q = 0, which the infinite-width dual
    requires); computes sup |eta| (see :func:`sup_eta`; ``exact=True`` demands an exact method,
    ``False`` forces sampling); the gap uses q / max(1, upper_ratio) when ``T`` and
    ``objective`` are given. Returns the certificate and the raw :class:`EtaSup`.
    """
    t0 = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    Q = np.asarray(Q, dtype=float).reshape(N, -1)
    lam = check_lam(lam)
    lossobj = get_loss(loss)
    sum_q = float(np.linalg.norm(Q.sum(axis=0)))
    qscale = max(float(np.abs(Q).sum()), np.finfo(float).tiny)
    balanced = sum_q <= 1e-9 * qscale
    Qc = Q if balanced else Q - Q.mean(axis=0)
    if exact is False:
        method = "sampling"
    else:
        method = "auto"
        if exact and d >= 3 and _pattern_count_estimate(N, d) > max_patterns:
            raise InvalidProblemError(
                f"exact=True: the pattern enumeration would visit about "
                f"{_pattern_count_estimate(N, d):,} sign vectors (N={N}, d={d}), above "
                f"max_patterns={max_patterns:,}; raise max_patterns or use exact=None (a lower "
                "bound)")
        if exact and Q.shape[1] > 1 and d >= 3:
            method = "patterns"
    sup = sup_eta(X, Qc, method=method, n_samples=n_samples, seed=seed, n_top=n_top,
                  max_patterns=max_patterns, starts=starts)
    if balanced:
        max_ratio, upper = sup.value / lam, sup.upper / lam
        is_exact = sup.exact
    else:
        max_ratio, upper, is_exact = float("inf"), float("inf"), True
    # the dual point: q (projected onto sum q = 0 if needed) scaled into feasibility
    gap = rel = dual = None
    if T is not None and objective is not None and np.isfinite(sup.upper):
        Ts = np.asarray(T, dtype=float).reshape(N, -1)
        dual = scaled_dual_value(lossobj, Qc, Ts, sup.upper / lam)
        if np.isfinite(dual):          # -inf: the centred q left the loss's dual domain
            gap, rel = gaps(float(objective), dual)
        else:
            dual = None
    certified = bool(np.isfinite(upper) and upper <= 1 + tol)
    details = {"sum_q": sum_q, "time": time.perf_counter() - t0, **sup.info}
    cert = Certificate(max_ratio=float(max_ratio), exact=bool(is_exact), certified=certified,
                       argmax=(np.asarray(sup.w, dtype=float), float(sup.b)), gap=gap,
                       kind="continuous", method=sup.method, upper_ratio=float(upper),
                       rel_gap=rel, dual_objective=dual, objective=objective, tol=tol,
                       details=details)
    return cert, sup


def certify(fit: Any, *, exact: bool | None = None, tol: float = 1e-6, n_samples: int = 4000,
            seed: Any = 0, kind: str = "continuous", max_patterns: int = 60_000) -> Certificate:
    """Certificate of a :class:`~nnlasso.shallow.ShallowFit` over all neurons (or its dictionary).

    q = -grad L at the fit of the (MTL) solution over the fit's dictionary (``fit.solution``;
    the network ``fit.net`` is its active part, and for the pattern programs q comes from the
    network), projected onto the complement of the affine columns
    (``details["skip_residual"]`` reports how far the unprojected q was from satisfying the skip
    conditions sum q_n = 0, sum q_n x_n = 0). ``kind="continuous"``: max_ratio =
    sup_{|w|=1, b} |eta(w, b)| / lam, exact for d = 1, d = 2 and small N in low d (``exact=None``
    picks; ``True`` insists; ``False`` samples); ``certified`` = upper_ratio <= 1 + tol; ``gap`` =
    objective - Dual(q / max(1, upper_ratio)) is the certified gap of the infinite-width problem.
    ``kind="dictionary"``: max_k |Phi_k^T q| / lam over the fit's dictionary.
    """
    if not all(hasattr(fit, a) for a in ("X", "Y", "lam", "loss", "skip", "objective")):
        raise InvalidProblemError(f"fit: expected the ShallowFit returned by fit_shallow (or "
                                  f"fit_patterns), got {type(fit).__name__}; for a Solution of "
                                  "solve_lasso use certify_dictionary(Phi, Q, lam)")
    X = as_matrix(fit.X, "fit.X", allow_1d=True)
    skip = skip_argument(fit.skip, X)
    Z = _certified_fit(fit, X)
    Q, T, res = dual_residual(Z, fit.Y, loss=fit.loss, skip=skip)
    dic_cert = None
    if getattr(fit, "dictionary", None) is not None and fit.dictionary.K:
        Phi = fit.Phi if getattr(fit, "Phi", None) is not None else fit.dictionary.features(X)
        dic_cert = certify_dictionary(Phi, Q, fit.lam, tol=tol, dictionary=fit.dictionary)
    if kind == "dictionary":
        if dic_cert is None:
            raise InvalidProblemError("fit: has no dictionary to certify against")
        dic_cert.details["skip_residual"] = res
        return dic_cert
    if kind != "continuous":
        raise InvalidProblemError(f"kind: unknown value {kind!r}; use 'continuous' or "
                                  "'dictionary'")
    cert, _ = certify_residual(X, Q, fit.lam, T=T, loss=fit.loss, objective=float(fit.objective),
                               skip=skip, exact=exact, tol=tol, n_samples=n_samples, seed=seed,
                               max_patterns=max_patterns)
    cert.details["skip_residual"] = res
    if dic_cert is not None:
        cert.details["dictionary_ratio"] = dic_cert.max_ratio
    return cert


def _certified_fit(fit: Any, X: np.ndarray) -> np.ndarray:
    """Outputs of the point being certified: the dictionary solution when there is one.

    ``fit.net`` leaves out rows below the solution's active_tol; those rows move the residual
    by about active_tol and so could move a 1e-6 certificate, while the solution itself is what
    (MTL) returned and what the duality gap speaks about.
    """
    sol, Phi = getattr(fit, "solution", None), getattr(fit, "Phi", None)
    if isinstance(sol, Solution) and Phi is not None and np.shape(Phi)[1] == sol.K:
        return np.asarray(sol.fitted(Phi, X), dtype=float)
    return np.asarray(fit.net.predict(X), dtype=float).reshape(X.shape[0], -1)
