"""CVXPY formulations of the multitask / group lasso (MTL) and of the min-norm program (MIN).

Only construction lives here; solving and the duality gap are in :mod:`nnlasso.lasso`.

Formulation choices (all give the same optimum as the textbook program):

* ``lam`` is a ``cp.Parameter`` so that a lambda path compiles once (DPP).
* the group penalty is vectorized: groups of equal size s are stacked as the rows of one
  variable B_s of shape (n_s, s D), and the penalty is ``omega_s @ cp.norm(B_s, 2, axis=1)``
  (``cp.norm1`` for scalar groups, which keeps one-output lasso a QP for OSQP). There is no
  Python loop over groups.
* squared loss with N > K + p: the data term 1/2 |T - M beta|_F^2 with M = [Phi A] (N, m) is
  replaced by 1/2 |Q^T T - R beta|_F^2 + const from the thin QR  M = Q R, so the cone has size
  m instead of N.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from .affine import affine_columns
from .losses import Loss


@dataclass
class GroupStructure:
    """Disjoint groups of the rows of V, with weights omega_g > 0.

    ``ids[k]`` is the group of row k (0..G-1); ``weights[g]`` is omega_g.
    """

    ids: np.ndarray
    weights: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.weights.size)

    @property
    def singletons(self) -> bool:
        return self.n_groups == self.ids.size

    def size_classes(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{size s: (group indices (n_s,), member rows (n_s, s))}, members in increasing order."""
        order = np.argsort(self.ids, kind="stable")
        counts = np.bincount(self.ids, minlength=self.n_groups)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for s in np.unique(counts):
            gs = np.flatnonzero(counts == s)
            members = order[starts[gs][:, None] + np.arange(s)[None, :]]
            out[int(s)] = (gs, members)
        return out


@dataclass
class LassoProgram:
    """A compiled-once (MTL) problem: the CVXPY problem, its lam parameter and its variables."""

    problem: cp.Problem
    lam: cp.Parameter
    blocks: dict[int, tuple[cp.Variable, np.ndarray]]  # size -> (B_s, member rows)
    C: cp.Variable | None
    c0: cp.Variable | None
    K: int
    D: int
    qr: bool
    build_time: float
    extra: dict = field(default_factory=dict)

    def V_value(self) -> np.ndarray:
        """Assemble V (K, D) from the block variables."""
        V = np.zeros((self.K, self.D))
        for s, (B, members) in self.blocks.items():
            val = np.asarray(B.value).reshape(members.shape[0], s * self.D)
            for i in range(s):
                V[members[:, i]] = val[:, i * self.D:(i + 1) * self.D]
        return V

    def set_V(self, V: np.ndarray) -> None:
        """Set the block variables' values from V (warm start)."""
        for s, (B, members) in self.blocks.items():
            B.value = np.hstack([V[members[:, i]] for i in range(s)]).reshape(B.shape)


def _design(Phi: np.ndarray, A: np.ndarray, T: np.ndarray, use_qr: bool):
    """Return (Phi_d, A_d, T_d, const) with 1/2|T - [Phi A] beta|^2 = 1/2|T_d - ...|^2 + const."""
    if not use_qr:
        return Phi, A, T, 0.0
    M = np.hstack([Phi, A])
    Q, R = np.linalg.qr(M, mode="reduced")
    Td = Q.T @ T
    const = 0.5 * max(float(np.sum(T * T) - np.sum(Td * Td)), 0.0)
    K = Phi.shape[1]
    return R[:, :K], R[:, K:], Td, const


def build_lasso(Phi: np.ndarray, T: np.ndarray, loss: Loss, A_linear: np.ndarray | None,
                intercept: bool, groups: GroupStructure, lam: float) -> LassoProgram:
    """Build (MTL): min_{V,C,c0} sum_n L(t_n, (Phi V + X C + 1 c0)_n) + lam sum_g omega_g |V_g|_F.

    Parameters
    ----------
    Phi : (N, K) features;  T : (N, D) encoded targets;  A_linear : (N, d) skip inputs or None;
    intercept : free c0;  groups : the row groups;  lam : initial value of the parameter.
    """
    t0 = time.perf_counter()
    N, K = Phi.shape
    D = T.shape[1]
    p = (0 if A_linear is None else A_linear.shape[1]) + int(intercept)
    use_qr = loss.name == "squared" and N > K + p
    A_full = affine_columns(A_linear, intercept, N)
    Phi_d, A_d, T_d, const = _design(Phi, A_full, T, use_qr)

    lam_p = cp.Parameter(nonneg=True, value=lam)
    blocks: dict[int, tuple[cp.Variable, np.ndarray]] = {}
    fit_terms = []
    pen_terms = []
    for s, (gs, members) in groups.size_classes().items():
        B = cp.Variable((gs.size, s * D)) if not (s == 1 and D == 1) else cp.Variable(gs.size)
        blocks[s] = (B, members)
        w = groups.weights[gs]
        if B.ndim == 1:
            fit_terms.append(Phi_d[:, members[:, 0]] @ cp.reshape(B, (gs.size, 1), order="C"))
            pen_terms.append(cp.norm1(cp.multiply(w, B)))
        else:
            # row g of B is [V_{m_g0}, ..., V_{m_g(s-1)}]: reshaped (C order) to (n_s s, D) its
            # rows are V at members.ravel(), so the size class is one product
            n_s = gs.size
            Bv = B if s == 1 else cp.reshape(B, (n_s * s, D), order="C")
            fit_terms.append(Phi_d[:, members.ravel()] @ Bv)
            pen_terms.append(w @ cp.norm(B, 2, axis=1))
    C = c0 = None
    if A_linear is not None:
        C = cp.Variable((A_linear.shape[1], D))
        fit_terms.append(A_d[:, :A_linear.shape[1]] @ C)
    if intercept:
        c0 = cp.Variable((1, D))
        fit_terms.append(A_d[:, -1:] @ c0)
    Z = cp.sum(fit_terms) if len(fit_terms) > 1 else fit_terms[0]
    data = loss.expr(Z, T_d) + const
    problem = cp.Problem(cp.Minimize(data + lam_p * cp.sum(pen_terms)))
    return LassoProgram(problem, lam_p, blocks, C, c0, K, D, use_qr, time.perf_counter() - t0)


@dataclass
class MinNormProgram:
    """(MIN) as a CVXPY problem, with the constraint whose multiplier gives the dual point."""

    problem: cp.Problem
    V: cp.Variable
    C: cp.Variable | None
    c0: cp.Variable | None
    constraint: cp.Constraint
    Q: np.ndarray | None  # thin-QR basis (N, m) when the constraint was reduced, else None
    build_time: float


def build_min_norm(Phi: np.ndarray, Psi: np.ndarray, A_linear: np.ndarray | None,
                   intercept: bool, eps: float) -> MinNormProgram:
    """Build (MIN): min sum_k |V_k|_2 s.t. Phi V + X C + 1 c0 = Psi (eps = 0) or
    |Phi V + X C + 1 c0 - Psi|_F <= eps |Psi|_F.

    When N > m = K + p the constraint is reduced by the thin QR of M = [Phi A]: with
    r = (I - Q Q^T) Psi, the feasible set is R beta = Q^T Psi (and r = 0) for eps = 0, and
    |R beta - Q^T Psi|_F <= sqrt(eps^2 |Psi|^2 - |r|^2) for eps > 0. The caller checks r.
    """
    t0 = time.perf_counter()
    N, K = Phi.shape
    D = Psi.shape[1]
    A_full = affine_columns(A_linear, intercept, N)
    p = A_full.shape[1]
    Qb = None
    rhs_norm = eps * float(np.linalg.norm(Psi))
    if N > K + p:
        Qb, R = np.linalg.qr(np.hstack([Phi, A_full]), mode="reduced")
        Phi_d, A_d, Psi_d = R[:, :K], R[:, K:], Qb.T @ Psi
        r2 = float(np.sum(Psi * Psi) - np.sum(Psi_d * Psi_d))
        rhs_norm = float(np.sqrt(max(rhs_norm ** 2 - max(r2, 0.0), 0.0)))
    else:
        Phi_d, A_d, Psi_d = Phi, A_full, Psi
    V = cp.Variable((K, D))
    fit = Phi_d @ V
    C = c0 = None
    if A_linear is not None:
        C = cp.Variable((A_linear.shape[1], D))
        fit = fit + A_d[:, :A_linear.shape[1]] @ C
    if intercept:
        c0 = cp.Variable((1, D))
        fit = fit + A_d[:, -1:] @ c0
    resid = fit - Psi_d
    cons = resid == 0 if eps == 0 else cp.norm(resid, "fro") <= rhs_norm
    obj = cp.sum(cp.norm(V, 2, axis=1)) if D > 1 else cp.norm1(V)
    problem = cp.Problem(cp.Minimize(obj), [cons])
    return MinNormProgram(problem, V, C, c0, cons, Qb, time.perf_counter() - t0)
