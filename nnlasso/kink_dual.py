"""Dual points of (MTL) for a loss with kinks (the hinge), used by :mod:`nnlasso.duality`.

For a differentiable loss the dual point is Q = -grad L at the fit Z. Where L(y_n, .) has a kink
at z_n, -dL/dz_n is an interval [lo_n, hi_n] (:meth:`nnlasso.losses.Loss.dual_interval`) and the
optimal Q* takes, on the samples at a kink, the values that satisfy the other KKT conditions
(A^T Q = 0, Phi_g^T Q = lam omega_g V_g / |V_g|_F on the active groups). A solver's point sits on
a kink only to its accuracy, so the samples within ``slack`` of one count as on it, for each
width of :data:`KINK_SLACKS`.

:func:`kink_candidates` solves those conditions by bounded least squares (BVLS);
:func:`kink_ascent` then maximizes the dual objective over the kink entries subject to
A^T Q = 0 and |Phi_g^T Q|_F <= lam omega_g (a linear program with one output and one column
per group, else SLSQP on working sets of the constraints). Its gradient there is the kink location
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
    |Phi_g^T Q|_F^2 of ``groups`` (sorted) and their Jacobian in x, and A^T Q = E x + c."""

    def __init__(self, Q0: np.ndarray, free: np.ndarray, Phi: np.ndarray,
                 group_ids: np.ndarray, groups: np.ndarray, affine: np.ndarray):
        from scipy.sparse import csr_matrix

        self.base, self.free = np.where(free, 0.0, Q0), free
        self.rows, self.outs = np.nonzero(free)
        cols = np.flatnonzero(np.isin(group_ids, groups))
        self.Phi = Phi[:, cols]
        local = np.searchsorted(groups, group_ids[cols])
        self.S = csr_matrix((np.ones(cols.size), (local, np.arange(cols.size))),
                            shape=(groups.size, cols.size))  # sums the columns of a group
        self.E, self.c = _free_map(affine, free), (affine.T @ self.base).ravel()

    def Q(self, x: np.ndarray) -> np.ndarray:
        Q = self.base.copy()
        Q[self.free] = x
        return Q

    def sq_norms(self, x: np.ndarray) -> np.ndarray:
        C = self.Phi.T @ self.Q(x)
        return self.S @ np.einsum("kd,kd->k", C, C)

    def sq_norms_jac(self, x: np.ndarray) -> np.ndarray:
        """d |Phi_g^T Q|^2 / d Q[n, a] = 2 sum_{k in g} Phi[n, k] (Phi^T Q)[k, a]."""
        C = self.Phi.T @ self.Q(x)
        return 2.0 * np.asarray(self.S @ (self.Phi[self.rows].T * C[:, self.outs]))


def _ratios(Phi: np.ndarray, Q: np.ndarray, group_ids: np.ndarray, scale: np.ndarray
            ) -> np.ndarray:
    """|Phi_g^T Q|_F / scale_g for every group."""
    C = Phi.T @ Q
    return np.sqrt(np.bincount(group_ids, weights=np.einsum("kd,kd->k", C, C),
                               minlength=scale.size)) / scale


def _slsqp_on_working_sets(solve, ratios, start: np.ndarray, level, max_rounds: int = 8,
                           add: int = 50):
    """Run ``solve(groups, x0) -> (x, Q)`` with the norm constraints of a working set of groups,
    adding the (at most ``add``) groups whose ratio at the answer exceeds ``level(x)`` until
    there are none (SLSQP's cost grows with the constraint count; most groups never bind)."""
    groups, x = start, None
    for _ in range(max_rounds):
        x, Q = solve(groups, x)
        if x is None:
            return None
        r = ratios(Q)
        r[groups] = -np.inf
        viol = np.flatnonzero(r > level(x))
        if viol.size == 0:
            return Q
        groups = np.union1d(groups, viol[np.argsort(-r[viol])[:add]])
    return Q


def _linear_program(Q0: np.ndarray, free: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    Phi: np.ndarray, affine: np.ndarray, weights: np.ndarray, lam: float | None,
                    g: np.ndarray | None) -> np.ndarray | None:
    """One output and one column per group: the norm constraints are linear, |phi_k^T Q| <=
    bound_k, and both problems are linear programs (HiGHS). With ``lam``: max g^T x s.t.
    |phi_k^T Q| <= lam omega_k (kink_ascent); without: min t s.t. |phi_k^T Q| <= t omega_k
    (kink_lam_max). A^T Q = 0 and lo <= x <= hi in both; x = Q on the kinks."""
    from scipy.optimize import linprog

    rows = np.flatnonzero(free[:, 0])
    base = np.where(free, 0.0, Q0)[:, 0]
    a, B = Phi.T @ base, Phi[rows].T                         # Phi^T Q = a + B x
    nf = rows.size
    if lam is None:                                          # variables (x, t)
        c = np.append(np.zeros(nf), 1.0)
        col_t = -weights[:, None]
        A_ub = np.vstack([np.hstack([B, col_t]), np.hstack([-B, col_t])])
        b_ub = np.concatenate([-a, a])
        bounds = list(zip(lo[rows, 0], hi[rows, 0])) + [(0.0, None)]
    else:
        c = -g
        A_ub = np.vstack([B, -B])
        b_ub = np.concatenate([lam * weights - a, lam * weights + a])
        bounds = list(zip(lo[rows, 0], hi[rows, 0]))
    A_eq = b_eq = None
    if affine.shape[1]:
        A_eq = affine[rows].T
        A_eq = np.hstack([A_eq, np.zeros((A_eq.shape[0], 1))]) if lam is None else A_eq
        b_eq = -(affine.T @ base)
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        return None
    Q = np.where(free, 0.0, Q0)
    Q[rows, 0] = np.clip(res.x[:nf], lo[rows, 0], hi[rows, 0])
    return Q


def _linear(T: np.ndarray, group_ids: np.ndarray, weights: np.ndarray) -> bool:
    """One output and one column per group (the neuron penalty of a binary loss)."""
    return T.shape[1] == 1 and bool(np.all(np.bincount(group_ids, minlength=weights.size) == 1))


def kink_ascent(Q0: np.ndarray, slack: float, Phi: np.ndarray, T: np.ndarray, Z: np.ndarray,
                loss, lam: float, affine: np.ndarray, group_ids: np.ndarray,
                weights: np.ndarray, max_free: int = 1000) -> np.ndarray | None:
    """Maximize the dual objective over the kink entries of Q0 (the others fixed), s.t.
    A^T Q = 0 and |Phi_g^T Q|_F <= lam omega_g (a working set of these constraints: the groups
    with ratio > 0.9 at Q0, then the violators), by SLSQP from Q0. The objective is linear
    there, with gradient the kink location. None when there is nothing to do."""
    from scipy.optimize import minimize

    lo, hi, kink = loss.dual_interval(Z, T, slack)
    free = lo < hi
    if not 0 < int(free.sum()) <= max_free:
        return None
    g = kink[free]
    if _linear(T, group_ids, weights):
        order = np.argsort(group_ids)
        return _linear_program(Q0, free, lo, hi, Phi[:, order], affine, weights, lam, g)
    bounds = list(zip(lo[free], hi[free]))

    def solve(groups, x0):
        F = _KinkEntries(Q0, free, Phi, group_ids, groups, affine)
        bound = (lam * weights[groups]) ** 2
        cons = [{"type": "ineq", "fun": lambda x: bound - F.sq_norms(x),
                 "jac": lambda x: -F.sq_norms_jac(x)}] if groups.size else []
        if affine.shape[1]:
            cons.append({"type": "eq", "fun": lambda x: F.E @ x + F.c, "jac": lambda x: F.E})
        res = minimize(lambda x: -float(g @ x), Q0[free] if x0 is None else x0,
                       jac=lambda x: -g, method="SLSQP", bounds=bounds, constraints=cons,
                       options={"ftol": 1e-15, "maxiter": 200})
        if not np.all(np.isfinite(res.x)):
            return None, None
        x = np.clip(res.x, lo[free], hi[free])
        return x, F.Q(x)

    scale = lam * weights
    start = np.flatnonzero(_ratios(Phi, Q0, group_ids, scale) > 0.9)
    return _slsqp_on_working_sets(solve, lambda Q: _ratios(Phi, Q, group_ids, scale), start,
                                  lambda x: 1.0 + 1e-9)


def kink_lam_max(Q0: np.ndarray, slack: float, Phi: np.ndarray, T: np.ndarray, Z: np.ndarray,
                 loss, affine: np.ndarray, group_ids: np.ndarray, weights: np.ndarray,
                 max_free: int = 1000) -> np.ndarray | None:
    """The point of -dL(Z) with A^T Q = 0 that minimizes max_g |Phi_g^T Q|_F / omega_g (the
    smallest lam at which V = 0 satisfies the KKT conditions), by SLSQP over (Q on the kinks,
    t) from Q0: min t  s.t.  t^2 omega_g^2 >= |Phi_g^T Q|_F^2 (a working set of groups: the
    top 50 at Q0, then the violators), A^T Q = 0. None when there is nothing to do."""
    from scipy.optimize import minimize

    lo, hi, _ = loss.dual_interval(Z, T, slack)
    free = lo < hi
    n_free = int(free.sum())
    if not 0 < n_free <= max_free:
        return None
    if _linear(T, group_ids, weights):
        order = np.argsort(group_ids)
        return _linear_program(Q0, free, lo, hi, Phi[:, order], affine, weights, None, None)
    bounds = list(zip(lo[free], hi[free])) + [(0.0, None)]
    grad = np.zeros(n_free + 1)
    grad[-1] = 1.0

    def solve(groups, x0):
        F = _KinkEntries(Q0, free, Phi, group_ids, groups, affine)
        w2 = weights[groups] ** 2
        cons = [{"type": "ineq", "fun": lambda x: x[-1] ** 2 * w2 - F.sq_norms(x[:-1]),
                 "jac": lambda x: np.hstack([-F.sq_norms_jac(x[:-1]),
                                             (2.0 * x[-1] * w2)[:, None]])}]
        if affine.shape[1]:
            E = np.hstack([F.E, np.zeros((F.E.shape[0], 1))])
            cons.append({"type": "eq", "fun": lambda x: E @ x + F.c, "jac": lambda x: E})
        if x0 is None:
            x0 = np.append(Q0[free], float(np.sqrt(F.sq_norms(Q0[free]) / w2).max()))
        res = minimize(lambda x: float(x[-1]), x0, jac=lambda x: grad, method="SLSQP",
                       bounds=bounds, constraints=cons, options={"ftol": 1e-15, "maxiter": 300})
        if not np.all(np.isfinite(res.x)):
            return None, None
        x = np.append(np.clip(res.x[:-1], lo[free], hi[free]), res.x[-1])
        return x, F.Q(x[:-1])

    r0 = _ratios(Phi, Q0, group_ids, weights)
    start = np.sort(np.argsort(-r0)[:50])
    return _slsqp_on_working_sets(solve, lambda Q: _ratios(Phi, Q, group_ids, weights), start,
                                  lambda x: x[-1] * (1.0 + 1e-9))
