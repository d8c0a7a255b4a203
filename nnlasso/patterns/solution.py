"""The result of the activation-pattern program (:class:`PatternSolution`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_matrix
from ..solution import CertifiedResult


@dataclass
class PatternSolution(CertifiedResult):
    """Solution of the activation-pattern program (:func:`solve_patterns`).

    Attributes
    ----------
    W, b, V : arrays (K, d), (K,), (K, 1)
        The recovered network f(x) = sum_k V[k] relu(W[k] . x - b[k]) + skip_coef^T x +
        intercept: one neuron per active block (|u| > active_tol * max |u|), balanced, with
        sum_k |W[k]| |V[k]| = the program's penalty (penalized bias: |(W[k], b[k])| |V[k]|).
    skip_coef : array (d, 1) or None;  intercept : array (1,) or None
    objective : float
        sum_n L(y_n, z_n) + lam * penalty, recomputed in NumPy from the returned blocks.
    dual_objective, gap, rel_gap : float
        nnlasso's Lagrange dual value of a dual point it builds itself (see
        :func:`solve_patterns`), gap = objective - dual_objective, rel_gap = gap /
        max(|objective|, |dual_objective|).
    status : "optimal" when rel_gap <= max(tol, 1e-6), else the solver's status or
        "optimal_inaccurate".
    solver : the solver asked for ("auto" or a CVXPY name);  inner : the backend that solved
        the program (CLARABEL for "auto");  fallback : None (no backend takes over here)
    times : dict (build, compile, solve, dual, total; seconds)
    n_patterns : number of (nonzero) patterns used;  cone : whether the cone constraints were on
    bias : "unpenalized" | "penalized";  lam : float;  loss : str
    patterns : bool array (P, N)
    U, beta : arrays (B, d), (B,)
        Raw block variables (B = 2P with cones: rows P..2P-1 are the primed blocks; B = P
        gated). Block k has pattern ``block_pattern[k]`` and output sign ``block_sign[k]``.
    block_pattern, block_sign : int arrays (B,)
    active : int array, indices of the active blocks
    fitted : array (N,), the program's fit z
    network_objective : data loss of the recovered network (plain NumPy relu) + lam * its path
        norm. Equals ``objective`` up to the solver's constraint violation with cones; for the
        gated relaxation it is NOT guaranteed to (the gated fit need not be a ReLU network).
    max_violation : float, max_{i,n} of the negative part of (2 D_i - I) Xl theta_i (0 gated)
    dual_ratio : float, max_i |X^T w_i| / lam of the unscaled dual point (1 at the optimum)
    gates : (G, h) of sampled patterns, or None
    """

    W: np.ndarray
    b: np.ndarray
    V: np.ndarray
    skip_coef: np.ndarray | None
    intercept: np.ndarray | None
    n_patterns: int
    cone: bool
    bias: str
    lam: float
    loss: str
    patterns: np.ndarray
    U: np.ndarray
    beta: np.ndarray
    block_pattern: np.ndarray
    block_sign: np.ndarray
    active: np.ndarray
    fitted: np.ndarray
    network_objective: float
    max_violation: float
    dual_ratio: float
    gates: tuple | None = None

    @property
    def n_active(self) -> int:
        """Number of neurons of the recovered network."""
        return int(self.W.shape[0])

    def predict(self, X: Any) -> np.ndarray:
        """Outputs (N, 1) of the recovered ReLU network (scores/logits for the logistic loss)."""
        X = as_matrix(X, "X", allow_1d=True)
        out = np.maximum(X @ self.W.T - self.b[None, :], 0.0) @ self.V
        if self.skip_coef is not None:
            out = out + X @ self.skip_coef
        if self.intercept is not None:
            out = out + self.intercept[None, :]
        return out

    def path_norm(self) -> float:
        """sum_k |w_k| |v_k| (penalized bias: sum_k |(w_k, b_k)| |v_k|)."""
        if self.bias == "penalized":
            wn = np.sqrt(np.sum(self.W ** 2, axis=1) + self.b ** 2)
        else:
            wn = np.linalg.norm(self.W, axis=1)
        return float(np.sum(wn * np.abs(self.V[:, 0])))

    def __repr__(self) -> str:
        kind = "cone" if self.cone else "gated"
        return (f"PatternSolution({kind}, {self.n_patterns} patterns, {self.n_active} neurons, "
                f"objective={self.objective:.10g}, gap={self.gap:.3g} (rel {self.rel_gap:.3g}), "
                f"status={self.status})")
