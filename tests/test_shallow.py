"""fit_shallow against independent references: 1-D trend filtering and closed forms."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import nnlasso as nl
from nnlasso.shallow import fit_shallow


def data_1d(seed=0, N=25, D=1):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, N))
    Y = np.column_stack([np.abs(x - 0.3 * j) + 0.2 * rng.standard_normal(N) for j in range(D)])
    return x, Y


def trend_filtering(x, Y, lam):
    """min_z 1/2 |Y - Z|^2 + lam sum_i |s_{i+1} - s_i|_2, slopes on the uneven grid."""
    N, D = Y.shape
    Z = cp.Variable((N, D))
    S = cp.multiply(1.0 / np.diff(x)[:, None], Z[1:] - Z[:-1])
    jumps = S[1:] - S[:-1]
    pen = cp.sum(cp.abs(jumps)) if D == 1 else cp.sum(cp.norm(jumps, 2, axis=1))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - Z) + lam * pen))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return prob.value, Z.value


def slope_jumps(x, z):
    s = np.diff(z, axis=0) / np.diff(x)[:, None]
    return np.linalg.norm(s[1:] - s[:-1], axis=1).sum()


@pytest.mark.parametrize("lam", [0.05, 0.5, 2.0])
def test_knots_equal_trend_filtering(lam):
    x, Y = data_1d(0)
    fit = fit_shallow(x, Y[:, 0], lam, dictionary="knots")
    ref_val, ref_z = trend_filtering(x, Y, lam)
    assert abs(fit.objective - ref_val) / ref_val <= 1e-7
    assert np.allclose(fit.predict(x[:, None]).reshape(-1), ref_z[:, 0], atol=1e-5)
    assert fit.solution.rel_gap <= 1e-6


def test_vector_valued_knots_equal_multitask_trend_filtering():
    x, Y = data_1d(1, N=20, D=3)
    lam = 0.3
    fit = fit_shallow(x, Y, lam, dictionary="knots")
    ref_val, ref_z = trend_filtering(x, Y, lam)
    assert abs(fit.objective - ref_val) / ref_val <= 1e-7
    assert np.allclose(fit.predict(x[:, None]), ref_z, atol=1e-5)


def test_interpolation_limit_is_the_slope_formula():
    x, Y = data_1d(2, N=15)
    dic = nl.knot_neurons(x)
    sol = nl.solve_min_norm(dic.features(x[:, None]), Y, skip=x[:, None])
    closed = slope_jumps(x, Y)
    assert abs(sol.objective - closed) <= 1e-7 * closed
    # and the penalized fit approaches it as lam -> 0
    fit = fit_shallow(x, Y[:, 0], 1e-6, dictionary="knots")
    assert abs(fit.net.tv2() - closed) <= 1e-3 * closed


def test_objective_is_loss_plus_path_norm_and_net_is_balanced():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 2))
    y = np.maximum(X @ [1.0, -0.5] - 0.2, 0) + 0.05 * rng.standard_normal(80)
    fit = fit_shallow(X, y, lam_ratio=0.05, n_neurons=200, seed=1)
    net = fit.net
    pred = net.predict(X).reshape(-1)
    direct = 0.5 * np.sum((y - pred) ** 2) + fit.lam * net.path_norm()
    assert abs(fit.objective - direct) <= 1e-10 * direct
    assert net.is_balanced(1e-8)
    assert abs(net.weight_decay() - net.path_norm()) <= 1e-10 * net.path_norm()
    # the network reproduces the solver's fit and objective (the dropped rows are below 1e-6)
    assert abs(fit.objective - fit.solution.objective) <= 1e-6 * fit.solution.objective
    assert np.allclose(pred, fit.solution.fitted(fit.Phi, X).reshape(-1), atol=1e-6)


def test_tv2_of_1d_fit_equals_slope_differences():
    x, Y = data_1d(4, N=30)
    fit = fit_shallow(x, Y[:, 0], 0.2, dictionary="knots")
    z = fit.predict(x[:, None]).reshape(-1, 1)
    assert abs(fit.net.tv2() - slope_jumps(x, z)) <= 1e-8 * max(1.0, slope_jumps(x, z))
    assert abs(fit.objective - (0.5 * np.sum((Y - z) ** 2) + 0.2 * fit.net.tv2())) <= 1e-8


@pytest.mark.parametrize("loss", ["logistic", "softmax"])
def test_classification_losses(loss):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((90, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) if loss == "logistic" else \
        (np.sum(X ** 2, 1) > 1.5).astype(int) + (X[:, 0] * X[:, 1] > 0)
    fit = fit_shallow(X, y, lam_ratio=0.05, n_neurons=150, seed=0, loss=loss)
    assert fit.solution.status == "optimal" and fit.solution.rel_gap <= 1e-6
    Z = fit.predict(X).reshape(90, -1)
    acc = np.mean((Z[:, 0] > 0) == y) if loss == "logistic" else np.mean(Z.argmax(1) == y)
    assert acc > 0.8
    # objective = data loss + lam * path norm of the returned (balanced) net, loss written out
    if loss == "logistic":
        data = np.sum(np.logaddexp(0, Z[:, 0]) - y * Z[:, 0])
    else:
        data = np.sum(np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1)) + Z.max(1)
                      - Z[np.arange(90), y])
    assert fit.objective == pytest.approx(data + fit.lam * fit.net.path_norm(), rel=1e-9)
    assert fit.objective == pytest.approx(fit.solution.objective, rel=1e-6)


def test_fixed_dictionary_and_errors():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 3))
    y = rng.standard_normal(40)
    dic = nl.sample_neurons(X, 50, seed=0)
    fit = fit_shallow(X, y, 1.0, dictionary=dic)
    assert fit.dictionary is dic
    leaky = nl.NeuronDictionary(dic.W, dic.b, activation="leaky_relu", alpha=0.3)
    with pytest.raises(nl.InvalidProblemError, match="leaky_relu"):
        fit_shallow(X, y, 1.0, dictionary=leaky)     # the net would not be the fitted function
    with pytest.raises(nl.InvalidProblemError, match="bias"):
        fit_shallow(X, y, 1.0, dictionary=dic, bias="penalized")
    with pytest.raises(nl.InvalidProblemError, match="exactly one"):
        fit_shallow(X, y)
    with pytest.raises(nl.InvalidProblemError, match="exactly one"):
        fit_shallow(X, y, 1.0, lam_ratio=0.1)
    with pytest.raises(nl.InvalidProblemError, match="knots"):
        fit_shallow(X, y, 1.0, dictionary="knots")
    with pytest.raises(nl.InvalidProblemError, match="unknown kind"):
        fit_shallow(X, y, 1.0, dictionary="grid")
    with pytest.raises(nl.InvalidProblemError, match="one row per sample"):
        fit_shallow(X, y[:-1], 1.0)
    with pytest.raises(nl.InvalidProblemError, match="dimension"):
        fit_shallow(X[:, :2], y, 1.0, dictionary=dic)
    sep = (X[:, 0] > 0).astype(int)  # the skip alone separates: lam_max = 0
    with pytest.raises(nl.InvalidProblemError, match="lam_max"):
        fit_shallow(X, sep, lam_ratio=0.1, loss="logistic")
    power = nl.NeuronDictionary(dic.W, dic.b, activation="relu_power", degree=2)
    with pytest.raises(nl.InvalidProblemError, match="degree"):
        fit_shallow(X, y, 1.0, dictionary=power)


def test_seeded_dictionaries_are_reproducible():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 2))
    y = rng.standard_normal(50)
    a = fit_shallow(X, y, lam_ratio=0.1, n_neurons=100, seed=3)
    b = fit_shallow(X, y, lam_ratio=0.1, n_neurons=100, seed=3)
    assert np.array_equal(a.dictionary.W, b.dictionary.W)
    assert a.objective == pytest.approx(b.objective, rel=1e-9)


def test_pattern_programs_through_fit_shallow():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((24, 2))
    y = np.maximum(X @ [1.0, -1.0], 0) + 0.1 * rng.standard_normal(24)
    exact = fit_shallow(X, y, 0.1, dictionary="patterns")
    sampled = fit_shallow(X, y, 0.1, dictionary="data", n_neurons=1000, seed=0)
    # all patterns enumerated: a global optimum over every ReLU neuron, reproduced by the net
    assert exact.objective <= sampled.objective * (1 + 1e-7)
    assert abs(exact.objective - exact.solution.objective) <= 1e-6 * exact.objective
    gated = fit_shallow(X, y, 0.1, dictionary="gated")
    relax = gated.info["gated"]
    assert relax.objective <= exact.solution.objective * (1 + 1e-7)  # a relaxation
    # the network is a ReLU net refit over the gated program's neurons: its objective is the
    # certified lasso optimum, recomputed here from its predictions, and (being a ReLU net)
    # cannot beat the global optimum of the exact program
    assert gated.solution.status == "optimal" and gated.solution.rel_gap <= 1e-7
    recomputed = 0.5 * np.sum((y - gated.net.predict(X)) ** 2) + 0.1 * gated.net.path_norm()
    assert gated.objective == pytest.approx(recomputed, rel=1e-9)
    assert gated.objective == pytest.approx(gated.solution.objective, rel=1e-6)
    assert gated.objective >= exact.objective * (1 - 1e-7)
    # the read-off network of the gated blocks is a feasible point of the refit lasso
    # (measured here: 2.40 read off, 0.330 refit, 0.237 global, 5.17 zero network)
    assert gated.objective <= relax.network_objective * (1 + 1e-7)
    assert gated.objective <= 0.5 * relax.network_objective
    for f in (exact, gated):
        assert f.net.predict(X).shape == (24,)      # a vector y gives a vector prediction
    # the bias convention reaches the pattern program (penalized: |(u, beta)| in the penalty)
    pen = fit_shallow(X, y, 0.1, dictionary="patterns", bias="penalized")
    assert pen.solution.bias == "penalized" and exact.solution.bias == "unpenalized"
    assert pen.solution.objective >= exact.solution.objective * (1 - 1e-7)


def test_adaptive_dictionary_is_certified_in_2d():
    rng = np.random.default_rng(9)
    X = rng.uniform(-1, 1, (40, 2))
    y = np.maximum(X @ [1.0, 0.5] - 0.2, 0) - np.maximum(X @ [-0.3, 1.0], 0)
    y = y + 0.05 * rng.standard_normal(40)
    fit = fit_shallow(X, y, 0.05, dictionary="adaptive", seed=0)
    cert = nl.representer.certify(fit)
    assert cert.exact and cert.certified
    # the reference: a large sampled dictionary solved by the interior-point solver
    sampled = fit_shallow(X, y, 0.05, dictionary="data", n_neurons=2000, seed=1,
                          solver="CLARABEL")
    assert fit.objective <= sampled.objective * (1 + 1e-6)


def test_verify_reduces_to_the_width_bound():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((20, 2))
    y = rng.standard_normal(20)
    fit = fit_shallow(X, y, 1e-3, n_neurons=400, seed=0, verify=True)
    assert fit.width.holds and fit.width.bound == 20 - 3
    assert fit.net.n_neurons <= fit.width.bound
    assert fit.reduced.objective <= fit.solution.objective * (1 + 1e-9)
    plain = fit_shallow(X, y, 1e-3, n_neurons=400, seed=0)
    assert np.allclose(fit.predict(X), plain.predict(X), atol=1e-6 * np.abs(y).max())


def test_patterns_without_output_bias_keeps_the_constant_neuron():
    """skip=None: the pattern program may need the constant neuron w = 0 (relu(-b) = const)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 1))
    y = np.abs(X[:, 0]) + 5.0                 # a large offset that only a constant can carry
    fit = nl.fit_shallow(X, y, 0.1, dictionary="patterns", skip=None)
    zero = np.linalg.norm(fit.net.W, axis=1) == 0
    assert zero.sum() == 1                    # the constant neuron is in the net ...
    assert fit.dictionary.K == fit.net.W.shape[0] - 1   # ... but not in the (sphere) dictionary
    assert np.all(np.isfinite(fit.dictionary.W))
    assert fit.solution.status == "optimal"
    np.testing.assert_allclose(fit.net.predict(X).ravel(), fit.solution.fitted.ravel(), atol=1e-6)
    assert fit.objective == pytest.approx(fit.solution.objective, rel=1e-6)


@pytest.mark.parametrize("skip", [True, False])
def test_verify_reduces_pattern_and_gated_networks(skip):
    """verify=True on the pattern programs: same function and objective, at most the bound."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((12, 2))
    y = rng.standard_normal(12)
    for kind in ("patterns", "gated"):
        plain = fit_shallow(X, y, 0.01, dictionary=kind, skip=skip)
        fit = fit_shallow(X, y, 0.01, dictionary=kind, skip=skip, verify=True)
        assert fit.width is not None and fit.width.holds
        assert fit.net.n_neurons <= fit.width.bound
        np.testing.assert_allclose(fit.predict(X), plain.predict(X), atol=1e-8)
        assert fit.objective <= plain.objective * (1 + 1e-9)
    exact = fit_shallow(X, y, 0.01, dictionary="patterns", skip=skip)
    reduced = fit_shallow(X, y, 0.01, dictionary="patterns", skip=skip, verify=True)
    assert exact.net.n_neurons > reduced.width.bound          # the reduction had work to do
    assert reduced.net.n_neurons <= (12 - 3 if skip is True else 12 - 1)


# ------------------------------------------ lam_ratio on a target at rounding level

def _cancelling_pair(seed: int = 0):
    """X, two copies of one neuron's features and outgoing weights v, -v: Phi V = 0 exactly,
    but a computed product (FMA, blocked BLAS) may leave ~1e-17 entries."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 3))
    w, v = rng.standard_normal(3), rng.standard_normal(2)
    phi = np.maximum(X @ w - 0.3, 0.0)
    return rng, X, np.column_stack([phi, phi]), np.vstack([v, -v])


def test_product_rounding_bounds_the_computed_product():
    """|fl(A B) - A B|_F <= product_rounding(A, B), the exact product taken in extended
    precision (longdouble) on a product with heavy cancellation."""
    from nnlasso.shallow import product_rounding
    rng = np.random.default_rng(1)
    A = rng.standard_normal((60, 300)) * 10.0 ** rng.integers(-3, 4, 300)
    B = rng.standard_normal((300, 4))
    B[150:] = -B[:150] * (A[:, :150].mean(0) / A[:, 150:].mean(0))[:, None]
    err = np.linalg.norm((A @ B).astype(np.longdouble)
                         - A.astype(np.longdouble) @ B.astype(np.longdouble))
    assert 0 < float(err) <= product_rounding(A, B)


@pytest.mark.parametrize("scale", [1.0, 1e-12, 1e12])
def test_a_target_at_rounding_level_is_refused_a_small_one_is_not(scale):
    """The lam_max zero test is scale-aware: a target that is rounding noise of its own
    computation (Phi V = 0 exactly, plus errors within the rounding bound of Phi V; both
    lam_max and lam_max without the skip are noise, so the relative test passed it and
    lam ~ 1e-18 was solved) is refused at any scale, while a genuinely small nonzero target
    (data in units of 1e-12) is not."""
    from nnlasso.shallow import ZeroLamMaxError, checked_lam_max, product_rounding
    rng, X, Phi, V = _cancelling_pair()
    Phi, V = Phi * scale, V
    rounding = product_rounding(Phi, V)
    E = rng.uniform(-1, 1, (40, 2))
    noise = 0.5 * rounding * E / np.linalg.norm(E)          # within the rounding bound
    for skip in (X, "intercept", None):
        with pytest.raises(ZeroLamMaxError, match="lam_ratio: .*rounding level.*give lam"):
            checked_lam_max(Phi, Phi @ V + noise, "squared", skip, rounding=rounding)
    # a genuine third neuron, 1e-6 of the others: not noise, lam_max as computed
    Phi3 = np.column_stack([Phi, scale * np.maximum(X[:, 1] + 0.2, 0.0)])
    V3 = np.vstack([V, 1e-6 * rng.standard_normal(2)])
    Y = Phi3 @ V3
    lm = checked_lam_max(Phi3, Y, "squared", X, rounding=product_rounding(Phi3, V3))
    assert lm == nl.lam_max(Phi3, Y, skip=X) > 0


def test_compression_refuses_lam_ratio_on_outputs_of_cancelling_neurons():
    """compress_layer / compress_deep with lam_ratio on a layer whose two neurons cancel
    (v, -v): Psi is 0 up to rounding; refused naming lam_ratio (was: lam ~ 1e-17 solved, on
    machines whose BLAS leaves rounding there). A lam given directly still works."""
    rng, X, _, V = _cancelling_pair()
    w = np.random.default_rng(0).standard_normal(3)
    W1, b1 = np.vstack([w, w]), np.array([0.3, 0.3])
    mlp = nl.MLP([W1, V.T], [b1, np.zeros(2)])
    with pytest.raises(nl.InvalidProblemError, match="lam_ratio: .*give lam directly"):
        nl.compress_layer(mlp, 1, X, lam_ratio=0.1)
    blk = nl.ShallowReLUNet(W1, b1, V, rng.standard_normal((3, 2)), np.zeros(2))
    with pytest.raises(nl.InvalidProblemError, match="lam_ratio: .*give lam directly"):
        nl.compress_deep(nl.DeepReLUNet([blk]), X, lam_ratio=0.1)
    small, rep = nl.compress_layer(mlp, 1, X, lam=0.1)
    assert rep.neurons_after == 0
