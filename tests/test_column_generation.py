"""Column generation's ascent oracle (d >= 3), its stopping rule and the branch-and-bound
certificate (nnlasso.representer.oracle)."""
import numpy as np
import pytest

import nnlasso as nl
from nnlasso import representer as R
from nnlasso.affine import orthonormal_basis
from nnlasso.dictionary import sample_neurons
from nnlasso.representer.oracle import ascent_sup, cap_bounds, eta_upper_bound


def _residual(N, d, D, seed):
    """A random q with sum q = 0 and sum q x = 0 (a dual residual with a free affine part)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    U = np.linalg.qr(np.column_stack([X, np.ones(N)]))[0]
    Q = rng.standard_normal((N, D))
    return X, Q - U @ (U.T @ Q)


@pytest.mark.parametrize("N,d,D,method", [(40, 2, 1, "arcs"), (50, 2, 2, "arcs"),
                                          (25, 3, 1, "patterns")])
def test_upper_bound_and_ascent_bracket_the_exact_sup(N, d, D, method):
    X, Q = _residual(N, d, D, seed=N + d)
    ex = R.sup_eta(X, Q, method=method)
    assert ex.exact
    bd = eta_upper_bound(X, Q, rel=1e-3, max_time=30)
    assert bd.complete
    assert bd.lower <= ex.value * (1 + 1e-12) <= bd.upper * (1 + 1e-12)
    assert bd.upper <= ex.value * (1 + 2e-3)             # refined to rel = 1e-3 (+ rounding)
    W, b, v, _ = ascent_sup(X, Q, seed=0)
    assert v[0] <= ex.value * (1 + 1e-12) and v[0] >= 0.98 * ex.value
    # the reported end point attains its value
    assert np.linalg.norm(R.eta(X, Q, W[:1], b[:1])) == pytest.approx(v[0], rel=1e-9)


def test_cap_bound_dominates_eta_on_the_cap():
    """The cap inequality itself: |eta(w, b)| <= bound for points w of the cap and any b."""
    X, Q = _residual(60, 4, 2, seed=5)
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((20, 4))
    W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
    r = rng.uniform(0.01, 0.5, 20)
    ub, lower, _ = cap_bounds(X, Q, W0, r)
    for s in range(20):
        T = rng.standard_normal((300, 4))
        T -= (T @ W0[s])[:, None] * W0[s]
        T /= np.linalg.norm(T, axis=1, keepdims=True)
        ang = 2 * np.arcsin(r[s] / 2) * rng.uniform(0, 1, (300, 1)) ** 0.25
        W = np.cos(ang) * W0[s] + np.sin(ang) * T            # |w - w0| <= r on the sphere
        assert np.all(np.linalg.norm(W - W0[s], axis=1) <= r[s] * (1 + 1e-12))
        vals, _ = R.sup_over_bias(X, Q, W)
        assert vals.max() <= ub[s] * (1 + 1e-12)
        assert lower[s] == pytest.approx(R.sup_over_bias(X, Q, W0[s:s + 1])[0][0], rel=1e-9)


def test_cap_bound_holds_where_points_cross_the_hyperplane():
    """Caps centred at the normal of a hyperplane through two data points, where points change
    side inside the cap: the whole arc of the cap (2001 directions, exact sup over b) stays
    under the bound. (Dropping the crossing term r sum |q_n| |x_n| breaks this, 2 of 300.)"""
    rng = np.random.default_rng(0)
    for _ in range(300):
        N = int(rng.integers(5, 12))
        X = rng.standard_normal((N, 2))
        U = np.linalg.qr(np.column_stack([X, np.ones(N)]))[0]
        Q = rng.standard_normal((N, 1))
        Q -= U @ (U.T @ Q)
        i, j = rng.choice(N, 2, replace=False)
        w0 = np.array([X[j, 1] - X[i, 1], X[i, 0] - X[j, 0]])
        w0 /= np.linalg.norm(w0)
        r = np.array([rng.uniform(1e-3, 0.3)])
        ub, _, _ = cap_bounds(X, Q, w0[None], r)
        a = np.linspace(-1, 1, 2001) * 2 * np.arcsin(r[0] / 2)
        W = np.column_stack([np.cos(a) * w0[0] - np.sin(a) * w0[1],
                             np.sin(a) * w0[0] + np.cos(a) * w0[1]])
        vals, _ = R.sup_over_bias(X, Q, W)
        assert vals.max() <= ub[0] * (1 + 1e-12)


def _ridge(N, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    z = X @ np.ones(d) / np.sqrt(d)
    return X, np.sin(2 * z) + 0.5 * np.abs(z) + 0.1 * rng.standard_normal(N)


def test_ascent_run_certified_gap_is_a_real_bound():
    """d = 3, N = 25: the ascent oracle (exact=False) with the branch-and-bound certificate.
    The certified upper bound must dominate the exact sup (pattern enumeration) at the returned
    fit, and the certified gap must bound the distance to any better fit: the lasso over the
    union of the returned dictionary and 3000 sampled neurons (P* <= P_union <= P)."""
    X, y = _ridge(25, 3, seed=1)
    lam = 0.3
    dic, sol, rep = R.column_generation(X, y, lam, n_init=20, seed=0, exact=False,
                                        bound_time=30.0, gap_tol=1e-4)
    cert = rep.certificate
    assert cert.method == "ascent+bound" and cert.gap is not None
    assert cert.details["bound_complete"]
    Phi = dic.features(X)
    Q, T, _ = R.dual_residual(sol.fitted(Phi, X), y, skip=X)
    ex = R.sup_eta(X, Q, method="patterns")
    assert ex.exact
    assert rep.max_ratio <= ex.value / lam * (1 + 1e-9) <= rep.upper_ratio * (1 + 1e-9)
    assert rep.upper_ratio <= 1.01 and cert.rel_gap <= 0.01    # the bracket is tight here
    union = dic.append(sample_neurons(X, 3000, seed=3).W, sample_neurons(X, 3000, seed=3).b)
    ref = nl.solve_lasso(union.features(X), y, lam, skip=X, tol=1e-10)
    assert ref.objective <= sol.objective * (1 + 1e-7)
    assert sol.objective - cert.gap <= ref.objective * (1 + 1e-9)
    assert cert.dual_objective == pytest.approx(sol.objective - cert.gap, rel=1e-12)


def test_ascent_stopping_rule_on_the_estimated_gap():
    X, y = _ridge(300, 5, seed=2)
    lam = 0.5
    dic, sol, rep = R.column_generation(X, y, lam, n_init=50, seed=0, gap_tol=0.05,
                                        bound_time=0.2, max_rounds=40)
    h = rep.history
    assert rep.certificate.method == "ascent+bound"
    assert all("est_rel_gap" in r for r in h)
    assert h[-1]["est_rel_gap"] <= 0.05 < min(r["est_rel_gap"] for r in h[:-1])
    assert rep.rounds < 40 and not rep.exact
    # the estimate is what the lower bound gives: P - Dual(q / max(1, L / lam)) over P
    Phi = dic.features(X)
    Q, T, _ = R.dual_residual(sol.fitted(Phi, X), y, skip=X)
    s = max(1.0, h[-1]["max_ratio"])
    dual = float(np.sum(Q * T) / s - 0.5 * np.sum(Q * Q) / s ** 2)
    assert (sol.objective - dual) / sol.objective == pytest.approx(h[-1]["est_rel_gap"],
                                                                   rel=1e-6, abs=1e-12)
    # the certified upper bound is a bound: at least the lower bound found
    assert rep.upper_ratio >= rep.max_ratio
    assert rep.certificate.rel_gap >= h[-1]["est_rel_gap"] * (1 - 1e-9)


def test_exact_true_without_an_exact_oracle_is_refused():
    X, y = _ridge(200, 5, seed=3)
    with pytest.raises(nl.InvalidProblemError, match="exact=True"):
        R.column_generation(X, y, 0.5, exact=True, max_rounds=1)
