"""Tests of nnlasso.representer.reduction: support reduction (property tests over random
instances, min-norm, interior-point noise, networks, pattern programs), against objectives
recomputed here."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nnlasso as nl
from nnlasso import representer as R
from nnlasso.dictionary import sample_neurons
from nnlasso.solution import Solution, active_set


# helpers (independent re-implementations)

def _skip_arg(mode, X):
    return {"x": X, "i": "intercept", "n": None}[mode]


def _objective_by_hand(Phi, Y, X, sol, lam):
    """1/2 |Y - fit|_F^2 + lam sum_k |V_k| with the fit assembled here."""
    Y = Y.reshape(Phi.shape[0], -1)
    Z = Phi @ sol.V
    if sol.skip_coef is not None:
        Z = Z + X @ sol.skip_coef
    if sol.intercept is not None:
        Z = Z + sol.intercept
    return 0.5 * np.sum((Y - Z) ** 2) + lam * np.linalg.norm(sol.V, axis=1).sum(), Z


# ---------------------------------------------------------------------------------------------
# support reduction: property tests over random instances
# ---------------------------------------------------------------------------------------------

def _instance(seed, N, d, D, mode, degenerate, mult):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    if degenerate == "dup":
        X[N // 2:] = X[: N - N // 2]                   # duplicated points
    elif degenerate == "line" and d > 1:
        t = rng.standard_normal(N)
        X = np.outer(t, rng.standard_normal(d)) + rng.standard_normal(d)   # collinear
    Y = rng.standard_normal((N, D)) if D > 1 else rng.standard_normal(N)
    Phi = sample_neurons(X, mult * N, method="data", seed=seed).features(X)
    return X, Y, Phi, _skip_arg(mode, X)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), N=st.integers(8, 16), d=st.integers(1, 4),
       D=st.sampled_from([1, 1, 2, 3]), mode=st.sampled_from(["x", "i", "n"]),
       degenerate=st.sampled_from(["none", "dup", "line"]), mult=st.integers(3, 6),
       method=st.sampled_from(["nullspace", "lp"]))
# 1-D knots outside the data: projected features at rounding level (|a| ~ 1e-15) once made the
# Caratheodory basis singular (NaN weights)
@example(seed=121, N=14, d=1, D=2, mode="x", degenerate="none", mult=5, method="nullspace")
@example(seed=121, N=14, d=1, D=2, mode="x", degenerate="line", mult=6, method="lp")
def test_reduce_support_lasso_property(seed, N, d, D, mode, degenerate, mult, method):
    X, Y, Phi, skip = _instance(seed, N, d, D, mode, degenerate, mult)
    lm = nl.lam_max(Phi, Y, skip=skip)
    if not lm > 1e-8 * np.linalg.norm(Phi) * np.linalg.norm(Y):
        return              # the affine part alone fits the data exactly: nothing to reduce
    lam = 0.01 * lm
    # an interior-point solution (noise on the inactive rows) is what reduce_support must handle
    sol = nl.solve_lasso(Phi, Y, lam, skip=skip, solver="CLARABEL")
    red = R.reduce_support(sol, Phi, skip=skip, Y=Y, method=method)
    bound = R.width_bound(Phi, Y, skip=skip)
    assert red.n_active <= bound
    obj0, Z0 = _objective_by_hand(Phi, Y, X, sol, lam)
    obj1, Z1 = _objective_by_hand(Phi, Y, X, red, lam)
    assert np.linalg.norm(Z1 - Z0) <= 1e-8 * max(np.linalg.norm(Z0), 1e-12)
    assert obj1 <= obj0 * (1 + 1e-9) + 1e-12
    assert red.objective == pytest.approx(obj1, rel=1e-10, abs=1e-12)
    assert red.gap == pytest.approx(red.objective - red.dual_objective, rel=1e-9, abs=1e-12)
    assert red.gap >= -1e-9 * max(abs(red.objective), 1.0)
    assert R.check_width(red, Phi, skip=skip, Y=Y).holds


def test_reduce_support_min_norm_more_than_N_active():
    """An explicit feasible (MIN) point spread over 4N neurons: every row active."""
    rng = np.random.default_rng(3)
    N, K = 12, 48
    X = rng.standard_normal((N, 2))
    Phi = sample_neurons(X, K, seed=3).features(X)
    V = rng.uniform(0.5, 1.5, (K, 1)) * rng.choice([-1, 1], (K, 1))
    Psi = Phi @ V
    sol = Solution(V=V, skip_coef=None, intercept=None, objective=float(np.abs(V).sum()),
                   dual_objective=0.0, gap=float(np.abs(V).sum()), rel_gap=1.0,
                   active=active_set(V), status="optimal", solver="explicit", times={},
                   problem="min_norm")
    assert sol.n_active == K > N
    for method in ("nullspace", "lp"):
        red = R.reduce_support(sol, Phi, skip=None, Y=Psi, method=method)
        assert red.n_active <= R.width_bound(Phi, Psi, skip=None) == N
        assert np.linalg.norm(Phi @ red.V - Psi) <= 1e-8 * np.linalg.norm(Psi)
        assert red.objective <= sol.objective * (1 + 1e-9)
        assert red.objective == pytest.approx(np.linalg.norm(red.V, axis=1).sum(), rel=1e-12)
        assert red.dual_objective <= red.objective * (1 + 1e-9)


def test_reduce_support_min_norm_low_rank_vector_outputs():
    """D = 4 outputs of rank 2 with the skip: the bound rank(P Phi) * 2 < K is reached."""
    rng = np.random.default_rng(4)
    N, K, D = 10, 60, 4
    X = rng.standard_normal((N, 2))
    Phi = sample_neurons(X, K, seed=4).features(X)
    V = rng.standard_normal((K, 2)) @ rng.standard_normal((2, D))   # rows in a 2-D subspace
    C = rng.standard_normal((2, D))
    c0 = rng.standard_normal(D)
    Psi = Phi @ V + X @ C + c0
    sol = Solution(V=V, skip_coef=C, intercept=c0, objective=float(np.linalg.norm(V, axis=1).sum()),
                   dual_objective=0.0, gap=1.0, rel_gap=1.0, active=active_set(V),
                   status="optimal", solver="explicit", times={}, problem="min_norm")
    bound = R.width_bound(Phi, Psi, skip=X)
    assert bound == (N - 3) * 2 < K
    red = R.reduce_support(sol, Phi, skip=X, Y=Psi)
    assert red.n_active <= bound
    assert np.linalg.norm(red.fitted(Phi, X) - Psi) <= 1e-8 * np.linalg.norm(Psi)
    assert red.objective <= sol.objective * (1 + 1e-9)
    # and an optimal (MIN) answer from the solver reduces the same way
    mn = nl.solve_min_norm(Phi, Psi, skip=X)
    red2 = R.reduce_support(mn, Phi, skip=X, Y=Psi)
    assert red2.n_active <= bound
    assert np.linalg.norm(red2.fitted(Phi, X) - mn.fitted(Phi, X)) <= \
        1e-8 * np.linalg.norm(Psi)
    assert red2.objective <= mn.objective * (1 + 1e-9)


def test_reduce_support_interior_point_noise_and_duplicated_columns():
    """Tiny nonzeros on every row and duplicated columns: absorbed, not dropped or inflated."""
    rng = np.random.default_rng(5)
    N = 15
    X = rng.standard_normal((N, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(N)
    Phi0 = sample_neurons(X, 40, seed=5).features(X)
    Phi = np.hstack([Phi0, Phi0, Phi0])                 # every neuron three times
    lam = 0.005 * nl.lam_max(Phi, y, skip=X)
    sol = nl.solve_lasso(Phi, y, lam, skip=X)
    # spread the weights over the copies and add interior-point-like noise everywhere
    V = sol.V.copy()
    K0 = Phi0.shape[1]
    base = V[:K0] + V[K0:2 * K0] + V[2 * K0:]
    shares = rng.dirichlet(np.ones(3), size=K0)
    V = np.vstack([base * shares[:, [j]] for j in range(3)])
    V += 1e-10 * np.abs(V).max() * rng.standard_normal(V.shape)
    noisy = sol.with_V(V)                               # same affine part, noisy weights
    assert noisy.n_active > N                           # more active neurons than samples
    red = R.reduce_support(noisy, Phi, skip=X, Y=y)
    assert red.n_active <= N - 3
    obj0, Z0 = _objective_by_hand(Phi, y, X, noisy, lam)
    obj1, Z1 = _objective_by_hand(Phi, y, X, red, lam)
    assert np.linalg.norm(Z1 - Z0) <= 1e-8 * np.linalg.norm(Z0)
    assert obj1 <= obj0 * (1 + 1e-9)
    assert np.abs(red.V).sum() <= np.abs(noisy.V).sum() * (1 + 1e-12)


def test_reduce_network_pattern_style():
    """A network-like result (W, b, V with |w| != 1): same predictions, path norm not larger."""
    rng = np.random.default_rng(6)
    N, K = 10, 30
    X = rng.standard_normal((N, 2))
    W = rng.standard_normal((K, 2)) * rng.uniform(0.5, 2.0, (K, 1))
    b = rng.standard_normal(K)
    V = rng.standard_normal((K, 1))
    C, c0 = rng.standard_normal((2, 1)), rng.standard_normal(1)

    class PatternLike:
        pass
    ps = PatternLike()
    ps.W, ps.b, ps.V, ps.skip_coef, ps.intercept = W, b, V, C, c0

    def predict(W_, b_, V_, C_, c_):
        return np.maximum(X @ W_.T - b_, 0.0) @ V_ + X @ C_ + c_

    f0 = predict(W, b, V, C, c0)
    out = R.reduce_support(ps, X)
    assert isinstance(out, R.ReducedNetwork)
    assert out.W.shape[0] <= N - 3
    f1 = predict(out.W, out.b, out.V, out.skip_coef, out.intercept)
    assert np.linalg.norm(f1 - f0) <= 1e-8 * np.linalg.norm(f0)
    pn0 = np.sum(np.linalg.norm(W, axis=1) * np.linalg.norm(V, axis=1))
    pn1 = np.sum(np.linalg.norm(out.W, axis=1) * np.linalg.norm(out.V, axis=1))
    assert pn1 <= pn0 * (1 + 1e-9)
    assert np.allclose(np.linalg.norm(out.W, axis=1), np.linalg.norm(out.V, axis=1))


def test_reduce_support_pattern_program():
    """The activation-pattern program's recovered network: same fit, objective not larger."""
    from nnlasso.patterns import fit_patterns
    rng = np.random.default_rng(12)
    X = rng.standard_normal((12, 2))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    ps = fit_patterns(X, y, 0.01, skip=X)
    out = R.reduce_support(ps, X, Y=y)
    assert out.W.shape[0] <= 12 - 3
    f0 = np.maximum(X @ ps.W.T - ps.b, 0.0) @ ps.V + X @ ps.skip_coef + ps.intercept
    f1 = np.maximum(X @ out.W.T - out.b, 0.0) @ out.V + X @ out.skip_coef + out.intercept
    assert np.linalg.norm(f1 - f0) <= 1e-8 * np.linalg.norm(f0)
    assert out.solution.objective <= ps.network_objective * (1 + 1e-9)
