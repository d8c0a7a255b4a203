"""Dual points of (MTL) for a loss with kinks (the hinge), used by :mod:`nnlasso.duality`.

For a differentiable loss the dual point is Q = -grad L at the fit Z. Where L(y_n, .) has a kink
at z_n, -dL/dz_n is an interval [lo_n, hi_n] (:meth:`nnlasso.losses.Loss.dual_interval`) and the
optimal Q* takes, on the samples at a kink, the values that satisfy the other KKT conditions
(A^T Q = 0, Phi_g^T Q = lam omega_g V_g / |V_g|_F on the active groups). A solver's point sits on
a kink only to its accuracy, so the samples within ``slack`` of one count as on it, for each
width of :data:`KINK_SLACKS`.

:func:`kink_candidates` solves those conditions by bounded least squares (BVLS);
:func:`kink_ascent` then maximizes the dual objective over the kink entries subject to
A^T Q = 0 and |Phi_g^T Q|_F <= lam omega_g (SLSQP). Its gradient there is the kink location
(Fenchel-Young: -q in dL(z) iff z in d(L*)(-q)), the third output of ``dual_interval``. Every
candidate is only a candidate: :func:`nnlasso.duality.lasso_dual` projects, clips and scales it
into the dual feasible set and evaluates the dual objective itself.
"""
from __future__ import annotations

import numpy as np

#: kink widths tried by :func:`kink_candidates` (a solver's point is on a kink to its accuracy)
KINK_SLACKS = (1e-10, 1e-8, 1e-6, 1e-4)
#: relative thresholds |V_g| > t max_h |V_h| of the active groups (an interior-point answer
#: has no exact zeros)
KINK_ACTIVE = (1e-9, 1e-6)


def _free_map(M: np.ndarray, free: np.ndarray) -> np.ndarray:
    """E ((m D), n_free) with vec(M^T Q) = E x for Q zero off ``free`` and x = Q[free]: the free
    entry (n, a) enters the rows (j, a) of M^T Q with the coefficients M[n, j]."""
    D = free.shape[1]
    rows, outs = np.nonzero(free)
    E = np.zeros((M.shape[1], D, rows.size))
    E[:, outs, np.arange(rows.size)] = M[rows].T
    return E.reshape(-1, rows.size)


def _kkt_systems(Phi: np.ndarray, affine: np.ndarray, lam: float, group_ids: np.ndarray,
                 weights: np.ndarray, V: np.ndarray | None, D: int) -> list:
    """(M, R) with M^T Q* = R: the affine columns (R = 0) and, for each active threshold, the
    columns of the active groups (R = lam omega_g V_g / |V_g|_F)."""
    if V is None:
        return [(affine, np.zeros((affine.shape[1], D)))]
    norms = np.sqrt(np.bincount(group_ids, weights=np.einsum("kd,kd->k", V, V),
                                minlength=weights.size))
    top = float(norms.max(initial=0.0))
    out = []
    for rel in KINK_ACTIVE:
        act = np.flatnonzero(norms[group_ids] > rel * top) if top > 0 else np.zeros(0, int)
        g = group_ids[act]
        out.append((np.hstack([affine, Phi[:, act]]), np.vstack(
            [np.zeros((affine.shape[1], D)), lam * (weights[g] / norms[g])[:, None] * V[act]])))
    return out


def kink_candidates(Phi: np.ndarray, T: np.ndarray, Z: np.ndarray, loss, lam: float,
                    affine: np.ndarray, group_ids: np.ndarray, weights: np.ndarray,
                    V: np.ndarray | None, max_free: int = 4000) -> list[tuple[np.ndarray, float]]:
    """Dual candidates (Q, slack): Q = -grad L off the kinks and, on them, the bounded
    least-squares solution of M^T Q = R (:func:`_kkt_systems`; without ``V`` only A^T Q = 0)."""
    from scipy.optimize import lsq_linear

    systems = _kkt_systems(Phi, affine, lam, group_ids, weights, V, T.shape[1])
    out, seen = [], set()
    for slack in KINK_SLACKS:
        lo, hi, _ = loss.dual_interval(Z, T, slack)
        free = lo < hi
        n_free = int(free.sum())
        for M, R in systems:
            key = np.packbits(free).tobytes() + bytes(str(M.shape), "ascii")
            if n_free == 0 or n_free > max_free or key in seen or M.shape[1] * T.shape[1] * \
                    n_free > 5e7:
                continue
            seen.add(key)
            Q = np.where(free, 0.0, lo)
            res = lsq_linear(_free_map(M, free), (R - M.T @ Q).ravel(),
                             bounds=(lo[free], hi[free]), method="bvls")
            Q[free] = np.clip(res.x, lo[free], hi[free])
            out.append((Q, slack))
    return out


class _KinkEntries:
    """Q as a function of its kink entries x (the others fixed at Q0), the squared group norms
    |Phi_g^T Q|_F^2 of ``groups`` and their Jacobian in x, and A^T Q = E x + c (affine)."""

    def __init__(self, Q0: np.ndarray, free: np.ndarray, Phi: np.ndarray,
                 group_ids: np.ndarray, groups: np.ndarray, affine: np.ndarray):
        self.base, self.free, self.Phi = np.where(free, 0.0, Q0), free, Phi
        self.rows, self.outs = np.nonzero(free)
        self.cols = [np.flatnonzero(group_ids == g) for g in groups]
        self.E, self.c = _free_map(affine, free), (affine.T @ self.base).ravel()

    def Q(self, x: np.ndarray) -> np.ndarray:
        Q = self.base.copy()
        Q[self.free] = x
        return Q

    def sq_norms(self, x: np.ndarray) -> np.ndarray:
        Q = self.Q(x)
        return np.array([float(np.sum((self.Phi[:, c].T @ Q) ** 2)) for c in self.cols])

    def sq_norms_jac(self, x: np.ndarray) -> np.ndarray:
        Q = self.Q(x)
        return np.array([2.0 * (self.Phi[:, c] @ (self.Phi[:, c].T @ Q))[self.rows, self.outs]
                         for c in self.cols]).reshape(len(self.cols), -1)


def kink_ascent(Q0: np.ndarray, slack: float, Phi: np.ndarray, T: np.ndarray, Z: np.ndarray,
                loss, lam: float, affine: np.ndarray, group_ids: np.ndarray,
                weights: np.ndarray, max_free: int = 1000, max_groups: int = 2000
                ) -> np.ndarray | None:
    """Maximize the dual objective over the kink entries of Q0 (the others fixed), s.t.
    A^T Q = 0 and |Phi_g^T Q|_F^2 <= (lam omega_g)^2 for the groups near the boundary (ratio >
    1/2 at Q0; the others are checked by the caller's scaling), by SLSQP from Q0. The objective
    is linear there, with gradient the kink location. None when there is nothing to do."""
    from scipy.optimize import minimize

    lo, hi, kink = loss.dual_interval(Z, T, slack)
    free = lo < hi
    n_free = int(free.sum())
    C0 = Phi.T @ Q0
    ratio = np.sqrt(np.bincount(group_ids, weights=np.einsum("kd,kd->k", C0, C0),
                                minlength=weights.size)) / (lam * weights)
    near = np.flatnonzero(ratio > 0.5)
    if n_free == 0 or n_free > max_free or near.size > max_groups:
        return None
    F = _KinkEntries(Q0, free, Phi, group_ids, near, affine)
    bound = (lam * weights[near]) ** 2
    cons = [{"type": "ineq", "fun": lambda x: bound - F.sq_norms(x),
             "jac": lambda x: -F.sq_norms_jac(x)}] if near.size else []
    if affine.shape[1]:
        cons.append({"type": "eq", "fun": lambda x: F.E @ x + F.c, "jac": lambda x: F.E})
    g = kink[free]
    res = minimize(lambda x: -float(g @ x), Q0[free], jac=lambda x: -g, method="SLSQP",
                   bounds=list(zip(lo[free], hi[free])), constraints=cons,
                   options={"ftol": 1e-15, "maxiter": 200})
    if not np.all(np.isfinite(res.x)):
        return None
    return F.Q(np.clip(res.x, lo[free], hi[free]))


def kink_lam_max(Q0: np.ndarray, slack: float, Phi: np.ndarray, T: np.ndarray, Z: np.ndarray,
                 loss, affine: np.ndarray, group_ids: np.ndarray, weights: np.ndarray,
                 max_free: int = 1000, max_groups: int = 2000) -> np.ndarray | None:
    """The point of -dL(Z) with A^T Q = 0 that minimizes max_g |Phi_g^T Q|_F / omega_g (the
    smallest lam at which V = 0 satisfies the KKT conditions), by SLSQP over (Q on the kinks,
    t) from Q0: min t  s.t.  t^2 omega_g^2 >= |Phi_g^T Q|_F^2, A^T Q = 0. None when there is
    nothing to do."""
    from scipy.optimize import minimize

    lo, hi, _ = loss.dual_interval(Z, T, slack)
    free = lo < hi
    n_free = int(free.sum())
    if n_free == 0 or n_free > max_free or weights.size > max_groups:
        return None
    F = _KinkEntries(Q0, free, Phi, group_ids, np.arange(weights.size), affine)
    w2 = weights ** 2
    cons = [{"type": "ineq", "fun": lambda x: x[-1] ** 2 * w2 - F.sq_norms(x[:-1]),
             "jac": lambda x: np.hstack([-F.sq_norms_jac(x[:-1]), (2.0 * x[-1] * w2)[:, None]])}]
    if affine.shape[1]:
        E = np.hstack([F.E, np.zeros((F.E.shape[0], 1))])
        cons.append({"type": "eq", "fun": lambda x: E @ x + F.c, "jac": lambda x: E})
    grad = np.zeros(n_free + 1)
    grad[-1] = 1.0
    t0 = float(np.sqrt(F.sq_norms(Q0[free]) / w2).max())
    res = minimize(lambda x: float(x[-1]), np.append(Q0[free], t0), jac=lambda x: grad,
                   method="SLSQP", bounds=list(zip(lo[free], hi[free])) + [(0.0, None)],
                   constraints=cons, options={"ftol": 1e-15, "maxiter": 300})
    if not np.all(np.isfinite(res.x)):
        return None
    return F.Q(np.clip(res.x[:-1], lo[free], hi[free]))
