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
    ratio = np.sqrt(np.bincount(group_ids, weights=np.einsum("kd,kd->k", Phi.T @ Q0,
                                                             Phi.T @ Q0),
                                minlength=weights.size)) / (lam * weights)
    near = np.flatnonzero(ratio > 0.5)
    if n_free == 0 or n_free > max_free or near.size > max_groups:
        return None
    E_aff = _free_map(affine, free)
    base = np.where(free, 0.0, Q0)
    c_aff = (affine.T @ base).ravel()
    cols = [np.flatnonzero(group_ids == g) for g in near]
    bound = (lam * weights[near]) ** 2
    rows, outs = np.nonzero(free)

    def Q_of(x):
        Q = base.copy()
        Q[free] = x
        return Q

    def ineq(x):
        Q = Q_of(x)
        return bound - np.array([float(np.sum((Phi[:, c].T @ Q) ** 2)) for c in cols])

    def ineq_jac(x):
        Q = Q_of(x)
        return np.array([-2.0 * (Phi[:, c] @ (Phi[:, c].T @ Q))[rows, outs] for c in cols])

    g = kink[free]
    cons = [{"type": "ineq", "fun": ineq, "jac": ineq_jac}] if near.size else []
    if affine.shape[1]:
        cons.append({"type": "eq", "fun": lambda x: E_aff @ x + c_aff, "jac": lambda x: E_aff})
    res = minimize(lambda x: -float(g @ x), Q0[free], jac=lambda x: -g, method="SLSQP",
                   bounds=list(zip(lo[free], hi[free])), constraints=cons,
                   options={"ftol": 1e-15, "maxiter": 200})
    if not np.all(np.isfinite(res.x)):
        return None
    return Q_of(np.clip(res.x, lo[free], hi[free]))


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
    rows, outs = np.nonzero(free)
    base = np.where(free, 0.0, Q0)
    E_aff, c_aff = _free_map(affine, free), (affine.T @ base).ravel()
    cols = [np.flatnonzero(group_ids == g) for g in range(weights.size)]
    w2 = weights ** 2

    def Q_of(x):
        Q = base.copy()
        Q[free] = x[:-1]
        return Q

    def ineq(x):
        Q = Q_of(x)
        return x[-1] ** 2 * w2 - np.array([float(np.sum((Phi[:, c].T @ Q) ** 2)) for c in cols])

    def ineq_jac(x):
        Q = Q_of(x)
        J = np.array([-2.0 * (Phi[:, c] @ (Phi[:, c].T @ Q))[rows, outs] for c in cols])
        return np.hstack([J, (2.0 * x[-1] * w2)[:, None]])

    t0 = float(np.max(np.sqrt([np.sum((Phi[:, c].T @ Q0) ** 2) for c in cols]) / weights))
    cons = [{"type": "ineq", "fun": ineq, "jac": ineq_jac}]
    if affine.shape[1]:
        E = np.hstack([E_aff, np.zeros((E_aff.shape[0], 1))])
        cons.append({"type": "eq", "fun": lambda x: E @ x + c_aff, "jac": lambda x: E})
    grad = np.zeros(n_free + 1)
    grad[-1] = 1.0
    res = minimize(lambda x: float(x[-1]), np.append(Q0[free], t0), jac=lambda x: grad,
                   method="SLSQP", bounds=list(zip(lo[free], hi[free])) + [(0.0, None)],
                   constraints=cons, options={"ftol": 1e-15, "maxiter": 300})
    if not np.all(np.isfinite(res.x)):
        return None
    return Q_of(np.append(np.clip(res.x[:-1], lo[free], hi[free]), 0.0))
