"""The results of nnlasso's programs: the certified fields every result carries
(:class:`CertifiedResult`) and the :class:`Solution` of (MTL), the group lasso and (MIN)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import InvalidProblemError


def active_set(V: np.ndarray, active_tol: float = 1e-6) -> np.ndarray:
    """Indices k with |V[k, :]|_2 > active_tol * max_j |V[j, :]|_2 (empty when V = 0).

    Raises :class:`~nnlasso.InvalidProblemError` unless ``active_tol`` is in [0, 1).
    """
    from ._validation import check_fraction
    active_tol = check_fraction(active_tol, "active_tol")
    norms = np.linalg.norm(V, axis=1)
    top = norms.max() if norms.size else 0.0
    if top <= 0:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(norms > active_tol * top)


@dataclass(kw_only=True)
class CertifiedResult:
    """What every nnlasso result carries: the point's objective and nnlasso's own certificate.

    :class:`Solution` (lasso, group lasso, min-norm) and
    :class:`~nnlasso.patterns.PatternSolution` derive from it, so code that reads results
    (``nnlasso batch``, the estimators) reads these fields the same way for all of them.

    Attributes
    ----------
    objective : primal objective recomputed in NumPy from the returned variables.
    dual_objective : value of nnlasso's dual point (:func:`nnlasso.duality.dual_point`).
    gap, rel_gap : :func:`nnlasso.duality.gaps`: max(objective - dual_objective, 0) and that
        over max(|objective|, |dual_objective|).
    status : :func:`nnlasso.duality.certified_status`: "optimal" | "optimal_inaccurate" |
        "infeasible" | "error".
    solver : the solver asked for ("auto", or the canonical name of the one named).
    inner : the backend that did the work (defaults to ``solver``).
    fallback : None, or the backend that took over when ``inner`` failed or stalled.
    times : seconds (build, compile, solve, total, ...).
    info : extra diagnostics.
    """

    objective: float
    dual_objective: float
    gap: float
    rel_gap: float
    status: str
    solver: str
    times: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    inner: str | None = None
    fallback: str | None = None

    def __post_init__(self) -> None:
        if self.inner is None:
            self.inner = self.solver

    @property
    def certified(self) -> bool:
        """True when nnlasso's certificate proves the point optimal (``status == "optimal"``)."""
        return self.status == "optimal"


@dataclass
class Solution(CertifiedResult):
    """Solution of (MTL), the group lasso or (MIN), with nnlasso's own certificate.

    Attributes
    ----------
    V : (K, D) output weights of the dictionary's neurons.
    skip_coef : (d, D) linear skip C, or None.    intercept : (D,) c0, or None.
    objective : primal objective recomputed in NumPy from the returned variables.
    dual_objective : value of nnlasso's dual point (see :mod:`nnlasso.duality`).
    gap, rel_gap : objective - dual_objective, and that over max(|objective|, |dual|).
    active : indices of the active neurons (|V_k| > active_tol * max_j |V_j|).
    status : "optimal" | "optimal_inaccurate" | "infeasible" | "error".
    solver : the solver asked for: "auto", or the canonical name of the one named ("PROX",
        "CLARABEL", ...).
    inner : the backend that did the work ("PROX", "CLARABEL", "SCS", "nullspace", ...; for a
        working-set loop, its restricted solver).
    fallback : None, or the backend that took over when ``inner`` failed or stalled (e.g.
        "CLARABEL" finishing a stalled native loop, "PROX" after a CVXPY failure); the details
        are in ``info["fallback"]``.
    times : seconds for build, compile, solve, total.
    lam : the regularization (None for (MIN)).    loss : loss name.
    problem : "lasso" or "min_norm".    eps : relative tolerance of (MIN).
    info : extra diagnostics (kkt_ratio, residual, classes, n_compilations, ...).
    """

    V: np.ndarray
    skip_coef: np.ndarray | None
    intercept: np.ndarray | None
    active: np.ndarray
    lam: float | None = None
    loss: str = "squared"
    problem: str = "lasso"
    eps: float = 0.0
    active_tol: float = 1e-6

    @property
    def n_active(self) -> int:
        """Number of active neurons."""
        return int(self.active.size)

    @property
    def K(self) -> int:
        return int(self.V.shape[0])

    @property
    def D(self) -> int:
        return int(self.V.shape[1])

    def fitted(self, Phi: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
        """Network outputs Phi V + X C + 1 c0 (N, D) (the logits for classification losses)."""
        Phi = np.asarray(Phi, dtype=float)
        if Phi.ndim != 2 or Phi.shape[1] != self.K:
            raise InvalidProblemError(f"Phi: expected shape (N, {self.K}), got {Phi.shape}")
        Z = Phi @ self.V
        if self.skip_coef is not None:
            if X is None:
                raise InvalidProblemError("X: this solution has a linear skip; pass the inputs X")
            X = np.asarray(X, dtype=float)
            if X.ndim == 1:
                X = X[:, None]
            Z = Z + X @ self.skip_coef
        if self.intercept is not None:
            Z = Z + self.intercept
        return Z

    def with_V(self, V: np.ndarray, **changes: Any) -> "Solution":
        """A copy with new output weights (and recomputed active set)."""
        return replace(self, V=V, active=active_set(V, self.active_tol), **changes)

    def summary(self) -> str:
        """A short human-readable report."""
        lam = "" if self.lam is None else f" lam={self.lam:.4g}"
        via = self.solver if self.inner in (None, self.solver) else f"{self.solver} -> {self.inner}"
        if self.fallback:
            via += f" (fallback {self.fallback})"
        return (f"{self.problem} ({self.loss}{lam}) via {via}: status={self.status} "
                f"objective={self.objective:.10g} gap={self.gap:.3g} (rel {self.rel_gap:.3g}) "
                f"active={self.n_active}/{self.K} time={self.times.get('total', 0.0):.3f}s")

    def __repr__(self) -> str:
        return f"Solution({self.summary()})"
