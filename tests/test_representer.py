"""Tests of nnlasso.representer: width bounds, support reduction, certificates, column generation.

References are independent of the code under test: explicit low-rank constructions, dense
brute-force scans of eta, closed-form objectives recomputed here, and a large sampled dictionary.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnlasso as nl
from nnlasso import representer as R
from nnlasso.dictionary import sample_neurons
from nnlasso.solution import Solution, active_set


# ---------------------------------------------------------------------------------------------
# helpers (independent re-implementations)
# ---------------------------------------------------------------------------------------------

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


def _brute_eta_1d(x, Q, n_grid=40001):
    """max over w = +-1 and a dense grid of b (plus the data points) of |sum q relu(w x - b)|."""
    best = 0.0
    for w in (1.0, -1.0):
        p = w * x
        grid = np.concatenate([np.linspace(p.min() - 1, p.max() + 1, n_grid), p])
        E = np.maximum(p[None, :] - grid[:, None], 0.0) @ Q
        best = max(best, float(np.linalg.norm(E, axis=1).max()))
    return best


def _scan_directions(X, Q, n_dirs):
    """Dense scan over directions of the circle; for each, brute force over b = w . x_n."""
    th = np.linspace(0.0, 2 * np.pi, n_dirs, endpoint=False)
    best = 0.0
    for w in np.column_stack([np.cos(th), np.sin(th)]):
        p = X @ w
        E = np.maximum(p[None, :] - p[:, None], 0.0) @ Q
        best = max(best, float(np.linalg.norm(E, axis=1).max()))
    return best


def _centred_residual(rng, N, D, A):
    Q = rng.standard_normal((N, D))
    return Q - A @ np.linalg.lstsq(A, Q, rcond=None)[0]


# ---------------------------------------------------------------------------------------------
# width bounds
# ---------------------------------------------------------------------------------------------

def test_affine_rank_skip_intercept_none():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    assert R.affine_rank(X, 12) == 4
    assert R.affine_rank("intercept", 12) == 1
    assert R.affine_rank(None, 12) == 0
    Xc = np.column_stack([X[:, 0], 2 * X[:, 0] + 1, X[:, 1]])   # dependent on [x0 1]
    assert R.affine_rank(Xc, 12) == 3
    Phi = np.abs(rng.standard_normal((12, 40)))
    y = rng.standard_normal(12)
    assert R.width_bound(Phi, y, skip=X) == 12 - 4
    assert R.width_bound(Phi, y, skip="intercept") == 11
    assert R.width_bound(Phi, y, skip=None) == 12
    assert R.width_bound(Phi, y, skip=Xc) == 12 - 3


def test_width_bound_rank_product_constructed():
    rng = np.random.default_rng(1)
    N, K, D = 20, 60, 5
    L1 = rng.standard_normal((N, 4))
    L1 -= L1.mean(axis=0)                       # centred: P (intercept) keeps it
    Phi = L1 @ rng.standard_normal((4, K)) + np.outer(np.ones(N), rng.standard_normal(K))
    L2 = rng.standard_normal((N, 2))
    L2 -= L2.mean(axis=0)
    Y = L2 @ rng.standard_normal((2, D)) + rng.standard_normal(D)
    assert R.width_bound(Phi, Y, skip="intercept") == 4 * 2
    # without the intercept the constant column adds one to each rank
    assert R.width_bound(Phi, Y, skip=None) == 5 * 3


def test_width_bound_one_output_is_capped_by_the_feature_rank():
    """D = 1: min(N - r_aff, rank(P Phi)). Columns spanning a 4-dimensional space (after
    centring) give 4, far below N - 1 = 29; the rank reference is a NumPy SVD of the centred
    features, and the bound is the product formula's D = 1 case (rank(P y) = 1)."""
    rng = np.random.default_rng(2)
    N, K = 30, 50
    L = rng.standard_normal((N, 4))
    L -= L.mean(axis=0)
    Phi = L @ rng.standard_normal((4, K)) + np.outer(np.ones(N), rng.standard_normal(K))
    s = np.linalg.svd(Phi - Phi.mean(axis=0), compute_uv=False)
    assert int(np.sum(s > 1e-8 * s[0])) == 4
    y = rng.standard_normal(N)
    assert R.width_bound(Phi, y, skip="intercept") == 4 < N - 1
    assert R.width_bound(Phi, y, skip=None) == 5
    assert R.bound_from_ranks(N, 1, 4, None) == 4 and R.bound_from_ranks(N, 1, 40, None) == N - 1


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


# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("D", [1, 2])
def test_certificate_1d_equals_brute_force(D):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(30)
    x[5] = x[6]                                         # a duplicate point
    A = np.column_stack([x, np.ones(30)])
    Q = _centred_residual(rng, 30, D, A)
    s = R.sup_eta(x[:, None], Q)
    assert s.exact and s.method == "d1"
    ref = _brute_eta_1d(x, Q)
    assert s.value == pytest.approx(ref, rel=1e-12)
    assert np.linalg.norm(R.eta(x[:, None], Q, s.w[None], [s.b])) == pytest.approx(s.value,
                                                                                    rel=1e-12)


@pytest.mark.parametrize("D", [1, 3])
def test_certificate_2d_arcs_vs_dense_scan(D):
    rng = np.random.default_rng(8)
    N = 25
    X = rng.standard_normal((N, 2))
    X[3] = X[4]                                         # duplicate
    X[10:13] = X[9] + np.outer([1.0, 2.0, 3.0], [0.3, -0.2])   # collinear run
    A = np.column_stack([X, np.ones(N)])
    Q = _centred_residual(rng, N, D, A)
    s = R.sup_eta(X, Q)
    assert s.exact and s.method == "arcs"
    n_dirs = 20000
    scan = _scan_directions(X, Q, n_dirs)
    lip = float(np.sum(np.linalg.norm(Q, axis=1)) * 2 * np.max(np.linalg.norm(X, axis=1)))
    assert scan <= s.value * (1 + 1e-12)                    # never below the scan
    assert s.value <= scan + lip * np.pi / n_dirs           # within the scan's resolution
    assert np.linalg.norm(R.eta(X, Q, s.w[None], [s.b])) == pytest.approx(s.value, rel=1e-10)


def test_patterns_agree_with_arcs_and_bound_sampling():
    rng = np.random.default_rng(9)
    N = 14
    X = rng.standard_normal((N, 2))
    A = np.column_stack([X, np.ones(N)])
    Q = _centred_residual(rng, N, 1, A)
    arcs = R.sup_eta(X, Q, method="arcs")
    pat = R.sup_eta(X, Q, method="patterns")
    assert pat.exact
    assert pat.value == pytest.approx(arcs.value, rel=1e-9)
    # d = 3: patterns exact, never below a dense random scan; sampling is a lower bound
    X3 = rng.standard_normal((10, 3))
    Q3 = _centred_residual(rng, 10, 1, np.column_stack([X3, np.ones(10)]))
    pat3 = R.sup_eta(X3, Q3, method="patterns")
    G = rng.standard_normal((100_000, 3))
    scan, _ = R.sup_over_bias(X3, Q3, G / np.linalg.norm(G, axis=1, keepdims=True))
    assert scan.max() <= pat3.value * (1 + 1e-10)
    assert pat3.value <= scan.max() * 1.01
    samp = R.sup_eta(X3, Q3, method="sampling", n_samples=500)
    assert not samp.exact and samp.value <= pat3.value * (1 + 1e-10)


def test_certificate_without_affine_part_is_unbounded():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((12, 2))
    Q = rng.standard_normal((12, 1)) + 1.0                   # sum q != 0
    cert, _ = R.certify_residual(X, Q, 1.0)
    assert cert.max_ratio == np.inf and not cert.certified


# ---------------------------------------------------------------------------------------------
# column generation and certify(fit)
# ---------------------------------------------------------------------------------------------

def _teacher(seed=0, N=50):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (N, 2))
    W = np.array([[1.0, 0.5], [-0.3, 1.0], [0.7, -0.7]])
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.array([0.2, -0.1, 0.3])
    y = np.maximum(X @ W.T - b, 0.0) @ np.array([2.0, -1.5, 1.0]) + 0.05 * rng.standard_normal(N)
    return X, y


def test_column_generation_certified_and_beats_large_dictionary():
    X, y = _teacher()
    lam = 0.05
    dic, sol, rep = R.column_generation(X, y, lam, skip=True, n_init=20, seed=0)
    assert rep.certified and rep.exact and rep.max_ratio <= 1 + 1e-6
    assert rep.certificate.gap is not None
    assert rep.certificate.rel_gap <= 1e-5
    big = sample_neurons(X, 3000, seed=11)
    ref = nl.solve_lasso(big.features(X), y, lam, skip=X)
    assert sol.objective <= ref.objective * (1 + 1e-6)
    # the infinite-width dual bound also lies below the large dictionary's objective
    assert rep.certificate.dual_objective <= ref.objective * (1 + 1e-9)
    # the objective decreases over the rounds (the active set is always kept)
    objs = [h["objective"] for h in rep.history]
    assert all(b <= a * (1 + 1e-7) for a, b in zip(objs, objs[1:]))


def test_certify_shallow_fit():
    X, y = _teacher(seed=1, N=40)
    fit = nl.fit_shallow(X, y, 0.05, dictionary=sample_neurons(X, 15, seed=1))
    cert = R.certify(fit)
    assert cert.exact and cert.method == "arcs" and not cert.certified
    assert cert.gap > 0 and cert.max_ratio > 1
    assert "dictionary_ratio" in cert.details and cert.details["dictionary_ratio"] <= 1 + 1e-5
    w, b = cert.argmax
    Q, _, _ = R.dual_residual(fit.predict(X), y, skip=X)
    assert np.linalg.norm(R.eta(X, Q, w[None], [b])) / 0.05 == pytest.approx(cert.max_ratio,
                                                                              rel=1e-9)
    dcert = R.certify(fit, kind="dictionary")
    assert dcert.kind == "dictionary" and dcert.certified
    assert "certificate" in str(cert)


def test_column_generation_stopped_by_max_rounds_is_consistent_and_warns():
    """Out of rounds: the dictionary returned is the one the solution was solved on (the last
    round neither prunes nor appends), and fit_shallow warns that it is not certified."""
    X, y = _teacher(seed=2, N=80)
    dic, sol, rep = R.column_generation(X, y, 1e-3, skip=True, n_init=20, max_rounds=3, seed=0)
    assert rep.rounds == 3 and not rep.certified
    assert dic.K == sol.V.shape[0]
    Phi = dic.features(X)
    ref = nl.solve_lasso(Phi, y, 1e-3, skip=X)           # re-solved independently
    assert sol.objective == pytest.approx(ref.objective, rel=1e-6)
    with pytest.warns(RuntimeWarning, match="not certified"):
        fit = nl.fit_shallow(X, y, 1e-3, dictionary="adaptive", max_rounds=3, seed=0)
    assert fit.objective == pytest.approx(fit.solution.objective, rel=1e-6)


def test_certificate_size_guard_and_sampling_fallback():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4))
    y = rng.standard_normal(40)
    fit = nl.fit_shallow(X, y, 0.5, dictionary=sample_neurons(X, 30, seed=0))
    with pytest.raises(nl.InvalidProblemError, match="max_patterns"):
        R.certify(fit, exact=True, max_patterns=1000)
    cert = R.certify(fit, exact=False)
    assert not cert.exact and not cert.certified and cert.gap is None
    assert cert.max_ratio >= cert.details.get("dictionary_ratio", 0.0) - 1e-9


def test_width_report_prints_a_table():
    X, y = _teacher(seed=4, N=30)
    dic = sample_neurons(X, 200, seed=0)
    Phi = dic.features(X)
    sol = nl.solve_lasso(Phi, y, 1e-4, skip=X)
    rep = R.check_width(sol, Phi, skip=X)
    text = str(rep)
    assert rep.holds and rep.K <= rep.bound == 30 - 3
    rows = {line.strip().split("  ")[0]: line.split()[-1] for line in text.splitlines()[1:]}
    assert rows["active neurons K"] == str(rep.K) and rows["bound (min(N - r_aff, rank(P Phi)))"] == "27"
    assert rows["holds (K <= bound)"] == "yes"


def test_sampling_oracle_warm_starts_reach_the_exact_sup():
    """d = 3: with one random direction the sampling oracle is a poor lower bound; warm-started
    from a direction near the exact argmax (patterns enumeration) its ascent reaches the exact
    sup, and the ascent end point is the first candidate."""
    rng = np.random.default_rng(12)
    X = rng.standard_normal((12, 3))
    Q = _centred_residual(rng, 12, 1, np.column_stack([X, np.ones(12)]))
    pat = R.sup_eta(X, Q, method="patterns")
    cold = R.sup_eta(X, Q, method="sampling", n_samples=1, seed=1)
    near = pat.w + 0.05 * rng.standard_normal(3)
    warm = R.sup_eta(X, Q, method="sampling", n_samples=1, seed=1, starts=near[None])
    assert cold.value < 0.99 * pat.value
    assert warm.value == pytest.approx(pat.value, rel=1e-3)
    assert warm.value <= pat.value * (1 + 1e-10)
    assert warm.candidates[2][0] == pytest.approx(warm.value, rel=1e-12)
    assert warm.info["starts"] >= 1
