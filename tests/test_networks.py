"""Tests of nnlasso.networks: shallow nets (balance, canonical form, TV2) and deep MLPs (I/O,
rebalancing, surgery). References are written independently (loops, brute force, sklearn)."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from nnlasso.errors import InvalidProblemError
from nnlasso.networks import MLP, ShallowReLUNet


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b))))


def random_shallow(rng, K=7, d=3, D=1, skip=True) -> ShallowReLUNet:
    W = rng.normal(size=(K, d)) * rng.uniform(0.1, 5.0, size=(K, 1))
    V = rng.normal(size=(K, D)) * rng.uniform(0.1, 5.0, size=(K, 1))
    V = V[:, 0] if D == 1 else V
    C = (rng.normal(size=(d, D))[:, 0] if D == 1 else rng.normal(size=(d, D))) if skip else None
    return ShallowReLUNet(W, rng.normal(size=K), V, C, rng.normal(size=D) if skip else None)


def loop_predict(net: ShallowReLUNet, X: np.ndarray) -> np.ndarray:
    out = np.zeros((len(X), net.D))
    for n, x in enumerate(X):
        for k in range(net.n_neurons):
            out[n] += net.V[k] * max(0.0, float(net.W[k] @ x) - net.b[k])
        if net.skip_coef is not None:
            out[n] += x @ net.skip_coef
        if net.intercept is not None:
            out[n] += net.intercept
    return out


# =============================================================================================
# ShallowReLUNet
# =============================================================================================

@pytest.mark.parametrize("D", [1, 2])
def test_shallow_predict_matches_loop(D):
    rng = np.random.default_rng(0)
    net = random_shallow(rng, D=D)
    X = rng.normal(size=(25, 3))
    pred = net.predict(X)
    assert pred.shape == ((25,) if D == 1 else (25, 2))
    np.testing.assert_allclose(pred.reshape(25, D), loop_predict(net, X), atol=1e-12)
    with pytest.raises(InvalidProblemError, match="3 inputs"):
        net.predict(X[:, :2])


def test_shallow_shape_errors():
    with pytest.raises(InvalidProblemError, match="b"):
        ShallowReLUNet(np.ones((3, 2)), np.zeros(2), np.ones(3))
    with pytest.raises(InvalidProblemError, match="V"):
        ShallowReLUNet(np.ones((3, 2)), np.zeros(3), np.ones((2, 1)))
    with pytest.raises(InvalidProblemError, match="skip_coef"):
        ShallowReLUNet(np.ones((3, 2)), np.zeros(3), np.ones(3), np.ones(3))
    with pytest.raises(InvalidProblemError, match="NaN"):
        ShallowReLUNet(np.ones((3, 2)), [0, np.nan, 0], np.ones(3))


@pytest.mark.parametrize("bias", ["unpenalized", "penalized"])
@pytest.mark.parametrize("D", [1, 3])
def test_shallow_rebalance(bias, D):
    rng = np.random.default_rng(1)
    net = random_shallow(rng, K=9, D=D)
    X = rng.normal(size=(40, 3)) * 3
    bal = net.rebalance(bias=bias)
    assert rel_err(bal.predict(X), net.predict(X)) < 1e-10
    assert not net.is_balanced(bias=bias) and bal.is_balanced(bias=bias)
    assert bal.weight_decay(bias) == pytest.approx(bal.path_norm(bias), rel=1e-12)
    assert bal.path_norm(bias) == pytest.approx(net.path_norm(bias), rel=1e-12)   # invariant
    assert bal.weight_decay(bias) < net.weight_decay(bias)
    again = bal.rebalance(bias=bias)
    np.testing.assert_allclose(again.W, bal.W, rtol=1e-12)


def test_shallow_gap_formula_and_equality_iff_balanced():
    rng = np.random.default_rng(2)
    for trial in range(5):
        net = random_shallow(rng, K=6, D=2)
        wn = [float(np.sqrt(sum(x * x for x in row))) for row in net.W]
        vn = [float(np.sqrt(sum(x * x for x in row))) for row in net.V]
        gap = 0.5 * sum((a - b) ** 2 for a, b in zip(wn, vn))
        pn = sum(a * b for a, b in zip(wn, vn))
        wd = net.weight_decay()
        assert net.path_norm() == pytest.approx(pn, rel=1e-12)
        assert wd - net.path_norm() == pytest.approx(gap, rel=1e-9)
        assert wd > net.path_norm()
        bal = net.rebalance()
        assert bal.weight_decay() - bal.path_norm() <= 1e-12 * bal.path_norm()
    # penalized convention uses |(w, b)|
    pen = np.sqrt(np.sum(net.W ** 2, axis=1) + net.b ** 2)
    assert net.path_norm("penalized") == pytest.approx(float(pen @ np.linalg.norm(net.V, axis=1)))
    with pytest.raises(InvalidProblemError, match="bias"):
        net.path_norm("l1")


def test_shallow_rebalance_dead_neurons():
    W = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    b = np.array([0.5, -2.0, 0.0])                     # middle neuron: constant relu(2) = 2
    V = np.array([[1.0], [1.5], [0.0]])                # last neuron: zero output
    net = ShallowReLUNet(W, b, V)
    X = np.random.default_rng(3).normal(size=(20, 2))
    bal = net.rebalance()
    np.testing.assert_allclose(bal.predict(X), net.predict(X), atol=1e-12)
    np.testing.assert_allclose(bal.intercept, [3.0])
    assert bal.n_neurons == 3 and bal.is_balanced()
    assert bal.weight_decay() == pytest.approx(bal.path_norm())


def slope_tv2(x: np.ndarray, z: np.ndarray) -> float:
    """sum_n |s_n - s_{n-1}| of the piecewise-linear interpolant (docs/math.md, 'One dimension')."""
    order = np.argsort(x)
    x, z = x[order], z[order].reshape(len(x), -1)
    s = np.diff(z, axis=0) / np.diff(x)[:, None]
    return float(np.sum(np.linalg.norm(np.diff(s, axis=0), axis=1)))


@pytest.mark.parametrize("D", [1, 2])
def test_tv2_equals_slope_differences(D):
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(-3, 3, 15))
    interior = x[1:-1]
    knots = rng.choice(interior, size=10, replace=True)        # repeated knots on purpose
    sign = rng.choice([-1.0, 1.0], size=10)                    # both orientations
    scale = rng.uniform(0.2, 4.0, size=10)
    W = (sign * scale)[:, None]
    b = sign * scale * knots                                   # knot t = b / w
    V = rng.normal(size=(10, D))
    net = ShallowReLUNet(W, b, V[:, 0] if D == 1 else V, rng.normal(size=(1, D)),
                         rng.normal(size=D))
    ref = slope_tv2(x, net.predict(x))
    assert net.tv2() == pytest.approx(ref, rel=1e-9)
    assert net.rtv2() == pytest.approx(ref, rel=1e-9)
    # merging antipodes matters: an antipodal pair at one knot with opposite sign cancels
    pair = ShallowReLUNet([[1.0], [-1.0]], [0.0, 0.0], [1.0, 1.0])   # relu(x)+relu(-x) = |x|
    assert pair.tv2() == pytest.approx(2.0)
    flat = ShallowReLUNet([[1.0], [-1.0]], [0.0, 0.0], [1.0, -1.0])  # relu(x)-relu(-x) = x
    assert flat.tv2() == pytest.approx(0.0, abs=1e-15)
    assert flat.rtv2() == pytest.approx(0.0, abs=1e-15)


def test_tv2_requires_1d():
    net = random_shallow(np.random.default_rng(0), d=2)
    with pytest.raises(InvalidProblemError, match="d = 1"):
        net.tv2()


def test_canonical_keeps_function_and_merges():
    rng = np.random.default_rng(5)
    base = random_shallow(rng, K=5, d=2, D=2, skip=False)
    # add a duplicate (scaled) of neuron 0 and an antipode (scaled) of neuron 1
    W = np.vstack([base.W, 2.5 * base.W[0], -0.3 * base.W[1]])
    b = np.concatenate([base.b, 2.5 * base.b[:1], -0.3 * base.b[1:2]])
    V = np.vstack([base.V, rng.normal(size=(2, 2))])
    net = ShallowReLUNet(W, b, V)
    can = net.canonical()
    assert can.n_neurons == 5
    np.testing.assert_allclose(np.linalg.norm(can.W, axis=1), 1.0)
    Xtest = rng.normal(size=(200, 2)) * 4
    assert rel_err(can.predict(Xtest), net.predict(Xtest)) < 1e-10     # everywhere
    assert can.skip_coef is not None                                   # the antipode's affine part
    # canonical form does not depend on the scaling of the neurons
    can2 = net.rebalance().canonical()
    np.testing.assert_allclose(can2.W, can.W, atol=1e-12)
    np.testing.assert_allclose(can2.V, can.V, atol=1e-10)
    # rtv2 never exceeds the path norm (merging can only cancel)
    assert net.rtv2() <= net.path_norm() + 1e-12


def test_canonical_with_data_moves_affine_and_zero_neurons():
    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, size=(50, 2))
    W = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.0, 0.0]])
    b = np.array([-5.0, 5.0, 0.0, 0.1, -1.0])     # all-active, zero on data, cut, cut, constant
    V = np.array([2.0, 3.0, 1.0, -1.0, 0.5])
    net = ShallowReLUNet(W, b, V)
    can = net.canonical(X)
    assert can.n_neurons == 2
    np.testing.assert_allclose(can.predict(X), net.predict(X), atol=1e-12)
    assert net.canonical().n_neurons == 4                 # without X only the constant goes
    assert net.rtv2(X) == pytest.approx(2.0)
    with pytest.raises(InvalidProblemError, match="2 inputs"):
        net.canonical(X[:, :1])


def test_shallow_mlp_round_trip():
    rng = np.random.default_rng(7)
    net = random_shallow(rng, D=2, skip=False)
    X = rng.normal(size=(10, 3))
    mlp = net.to_mlp()
    np.testing.assert_allclose(mlp.predict(X), net.predict(X), atol=1e-12)
    np.testing.assert_allclose(mlp.to_shallow().predict(X), net.predict(X), atol=1e-12)
    with pytest.raises(InvalidProblemError, match="skip"):
        random_shallow(rng).to_mlp()


# =============================================================================================
# MLP
# =============================================================================================

def random_mlp(rng, sizes=(3, 8, 6, 2), **kw) -> MLP:
    Ws = [rng.normal(size=(o, i)) * rng.uniform(0.2, 3.0, size=(o, 1))
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) for o in sizes[1:]]
    return MLP(Ws, bs, **kw)


def loop_forward(mlp: MLP, X: np.ndarray) -> np.ndarray:
    out = []
    for x in X:
        h = list(x)
        for l, (W, b) in enumerate(zip(mlp.weights, mlp.biases)):
            z = [sum(W[i, j] * h[j] for j in range(len(h))) - b[i] for i in range(W.shape[0])]
            h = z if l == mlp.n_layers - 1 else [max(0.0, v) for v in z]
        out.append(h)
    return np.array(out)


def test_mlp_forward_matches_loop_and_layers():
    rng = np.random.default_rng(10)
    mlp = random_mlp(rng)
    X = rng.normal(size=(12, 3))
    np.testing.assert_allclose(mlp.forward(X), loop_forward(mlp, X), atol=1e-12)
    assert mlp.hidden_sizes == (8, 6) and mlp.n_layers == 3
    h1 = mlp.hidden_features(X, 1)
    np.testing.assert_allclose(h1, np.maximum(X @ mlp.weights[0].T - mlp.biases[0], 0))
    np.testing.assert_allclose(mlp.pre_activation(X, 2), h1 @ mlp.weights[1].T - mlp.biases[1])
    np.testing.assert_allclose(mlp.pre_activation(X, 3), mlp.forward(X))
    np.testing.assert_allclose(mlp.layer_input(X, 2), h1)
    for bad in (0, 3, -1, 1.5, True):
        with pytest.raises(InvalidProblemError, match="out of range"):
            mlp.hidden_features(X, bad)
    with pytest.raises(InvalidProblemError, match="out of range"):
        mlp.pre_activation(X, 4)
    with pytest.raises(InvalidProblemError, match="3 inputs"):
        mlp.forward(X[:, :2])
    with pytest.raises(InvalidProblemError, match="regressor"):
        mlp.predict_proba(X)


def test_mlp_construction_errors():
    with pytest.raises(InvalidProblemError, match="W2"):
        MLP([np.ones((4, 3)), np.ones((2, 5))], [np.zeros(4), np.zeros(2)])
    with pytest.raises(InvalidProblemError, match="b1"):
        MLP([np.ones((4, 3)), np.ones((2, 4))], [np.zeros(3), np.zeros(2)])
    with pytest.raises(InvalidProblemError, match="classes"):
        MLP([np.ones((4, 3)), np.ones((3, 4))], [np.zeros(4), np.zeros(3)], classes=[0, 1])
    with pytest.raises(InvalidProblemError, match="softmax"):
        MLP([np.ones((1, 3))], [np.zeros(1)], out_activation="softmax")
    mlp = MLP([np.ones((4, 3)), np.ones((1, 4))], [np.zeros(4), np.zeros(1)])
    with pytest.raises(ValueError):
        mlp.weights[0][0, 0] = 5.0                         # stored read-only


def test_norms_against_brute_force():
    rng = np.random.default_rng(11)
    mlp = random_mlp(rng, sizes=(2, 3, 4, 2))
    paths = 0.0
    for i, j, k, o in itertools.product(range(2), range(3), range(4), range(2)):
        W1, W2, W3 = mlp.weights
        paths += abs(W1[j, i] * W2[k, j] * W3[o, k])
    assert mlp.path_norm() == pytest.approx(paths, rel=1e-12)
    wd = 0.5 * sum(float((W ** 2).sum()) for W in mlp.weights)
    assert mlp.weight_decay() == pytest.approx(wd)
    wdp = wd + 0.5 * sum(float((b ** 2).sum()) for b in mlp.biases[:-1])
    assert mlp.weight_decay("penalized") == pytest.approx(wdp)
    lpn = sum(np.linalg.norm(mlp.weights[1][k]) * np.linalg.norm(mlp.weights[2][:, k])
              for k in range(4))
    assert mlp.layer_path_norm(2) == pytest.approx(lpn)
    lpp = sum(np.linalg.norm(np.append(mlp.weights[0][k], mlp.biases[0][k]))
              * np.linalg.norm(mlp.weights[1][:, k]) for k in range(3))
    assert mlp.layer_path_norm(1, bias="penalized") == pytest.approx(lpp)
    with pytest.raises(InvalidProblemError, match="out of range"):
        mlp.layer_path_norm(3)


@pytest.mark.parametrize("bias", ["unpenalized", "penalized"])
def test_mlp_rebalance(bias):
    rng = np.random.default_rng(12)
    mlp = random_mlp(rng, sizes=(4, 10, 8, 6, 3))
    X = rng.normal(size=(60, 4))
    bal, info = mlp.rebalance(tol=1e-10, bias=bias, return_info=True)
    assert info["converged"] and info["sweeps"] >= 2
    assert rel_err(bal.forward(X), mlp.forward(X)) < 1e-10
    wd = np.array(info["weight_decay"])
    assert len(wd) == info["sweeps"] + 1
    assert np.all(np.diff(wd) <= 1e-12 * wd[0])                  # monotone per sweep
    assert wd[-1] < info["weight_decay_before"]
    assert bal.weight_decay(bias) == pytest.approx(wd[-1])
    for layer in (1, 2, 3):
        a, v = bal.in_norms(layer, bias), bal.out_norms(layer)
        np.testing.assert_allclose(a, v, rtol=1e-9)
    assert bal.max_log_imbalance(bias) < 1e-10
    # one hidden layer: one sweep is exact and equals the shallow one-shot rebalance
    one = random_mlp(rng, sizes=(3, 7, 2))
    b1, i1 = one.rebalance(bias=bias, return_info=True)
    assert i1["sweeps"] == 1
    sh = one.to_shallow().rebalance(bias=bias)
    np.testing.assert_allclose(b1.weights[0], sh.W, rtol=1e-12)
    with pytest.raises(InvalidProblemError, match="bias"):
        mlp.rebalance(bias="yes")


def test_rebalance_max_sweeps_reports_not_converged():
    mlp = random_mlp(np.random.default_rng(13), sizes=(3, 6, 6, 6, 1))
    _, info = mlp.rebalance(max_sweeps=1, return_info=True)
    assert info["sweeps"] == 1 and not info["converged"] and info["max_log_ratio"] > 0


def test_drop_dead_cascades_and_keeps_function():
    rng = np.random.default_rng(14)
    mlp = random_mlp(rng, sizes=(3, 6, 5, 2))
    W1, W2, W3 = (W.copy() for W in mlp.weights)
    b1, b2, b3 = (b.copy() for b in mlp.biases)
    W1[0] = 0.0
    b1[0] = -1.7                    # constant neuron relu(1.7): folded into b2
    W3[:, 1] = 0.0                  # layer-2 neuron 1 has no output
    W2[:, 2] = 0.0                  # layer-1 neuron 2 has no output
    W2[3] = 0.0
    b2[3] = 2.0                     # layer-2 neuron 3 is the constant 0 (relu(-2))
    W2[4] = 0.0
    b2[4] = -0.5                    # layer-2 neuron 4 is the constant 0.5
    net = MLP([W1, W2, W3], [b1, b2, b3])
    X = rng.normal(size=(30, 3))
    small = net.drop_dead()
    assert small.hidden_sizes == (4, 2)
    np.testing.assert_allclose(small.forward(X), net.forward(X), atol=1e-12)
    bal, info = net.rebalance(return_info=True)
    assert info["dropped"] == 5
    np.testing.assert_allclose(bal.forward(X), net.forward(X), atol=1e-10)


def test_normalized_layer_and_remove_neurons():
    rng = np.random.default_rng(15)
    mlp = random_mlp(rng)
    X = rng.normal(size=(20, 3))
    nrm = mlp.normalized_layer(2)
    np.testing.assert_allclose(np.linalg.norm(nrm.weights[1], axis=1), 1.0)
    assert rel_err(nrm.forward(X), mlp.forward(X)) < 1e-12
    # removing neurons: the reference is the pre-activation with those features deleted
    keep = [0, 2, 5]
    small = mlp.remove_neurons(2, keep)
    h = mlp.hidden_features(X, 2)[:, keep]
    np.testing.assert_allclose(small.forward(X), h @ mlp.weights[2][:, keep].T - mlp.biases[2],
                               atol=1e-12)
    Wo = rng.normal(size=(2, 3))
    nb = rng.normal(size=2)
    rep = mlp.remove_neurons(2, np.isin(np.arange(6), keep), out_weights=Wo, next_bias=nb)
    np.testing.assert_allclose(rep.forward(X), h @ Wo.T - nb, atol=1e-12)
    assert rep.hidden_sizes == (8, 3)
    for bad in ([6], [1, 1], [0.5]):
        with pytest.raises(InvalidProblemError, match="keep"):
            mlp.remove_neurons(2, bad)
    with pytest.raises(InvalidProblemError, match="out_weights"):
        mlp.remove_neurons(2, keep, out_weights=np.ones((2, 2)))
    with pytest.raises(InvalidProblemError, match="out of range"):
        mlp.remove_neurons(3, keep)
    # a neuron with zero outgoing weights can be removed without changing the function
    W3 = mlp.weights[2].copy()
    W3[:, 4] = 0.0
    z = MLP([mlp.weights[0], mlp.weights[1], W3], mlp.biases)
    np.testing.assert_allclose(z.remove_neurons(2, [0, 1, 2, 3, 5]).forward(X), z.forward(X),
                               atol=1e-12)


# -- scikit-learn -----------------------------------------------------------------------------

def _fit_quietly(est, X, y):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("hidden", [(12,), (10, 7)])
@pytest.mark.parametrize("n_out", [1, 2])
def test_from_sklearn_regressor(hidden, n_out):
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(20)
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])[:, :n_out]
    est = MLPRegressor(hidden_layer_sizes=hidden, max_iter=200, alpha=1e-3, random_state=0)
    est = _fit_quietly(est, X, Y[:, 0] if n_out == 1 else Y)
    mlp = MLP.from_sklearn(est)
    assert mlp.hidden_sizes == hidden and not mlp.is_classifier
    Xt = rng.normal(size=(50, 4))
    assert np.array_equal(mlp.predict(Xt), est.predict(Xt))
    assert mlp.predict(Xt).shape == est.predict(Xt).shape
    assert mlp.score(Xt, est.predict(Xt)) == pytest.approx(1.0)
    # the minus-bias convention: b = -intercept
    np.testing.assert_array_equal(mlp.biases[0], -est.intercepts_[0])
    np.testing.assert_array_equal(mlp.weights[0], est.coefs_[0].T)


@pytest.mark.parametrize("hidden", [(15,), (12, 8)])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_from_sklearn_classifier(hidden, n_classes):
    from sklearn.neural_network import MLPClassifier
    rng = np.random.default_rng(21)
    X = rng.normal(size=(120, 5))
    score = X[:, 0] + 0.5 * X[:, 1] ** 2
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    labels = np.array(["ant", "bee", "cat", "dog"])[:n_classes]
    est = MLPClassifier(hidden_layer_sizes=hidden, max_iter=150, random_state=1)
    est = _fit_quietly(est, X, labels[y])
    mlp = MLP.from_sklearn(est)
    assert mlp.out_activation == ("logistic" if n_classes == 2 else "softmax")
    np.testing.assert_array_equal(mlp.classes, est.classes_)
    Xt = rng.normal(size=(200, 5)) * 2
    assert np.array_equal(mlp.predict(Xt), est.predict(Xt))
    np.testing.assert_array_equal(mlp.predict_proba(Xt), est.predict_proba(Xt))   # exactly
    assert mlp.score(Xt, est.predict(Xt)) == 1.0
    # rebalancing keeps the predictions (logits to 1e-10 relative)
    bal = mlp.rebalance()
    assert rel_err(bal.forward(Xt), mlp.forward(Xt)) < 1e-10


def test_from_sklearn_refusals():
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(22)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    est = _fit_quietly(MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", max_iter=20), X, y)
    with pytest.raises(InvalidProblemError, match="activation='tanh'.*activation='relu'"):
        MLP.from_sklearn(est)
    with pytest.raises(InvalidProblemError, match="not fitted"):
        MLP.from_sklearn(MLPRegressor())
    with pytest.raises(InvalidProblemError, match="LinearRegression"):
        MLP.from_sklearn(LinearRegression().fit(X, y))


# -- save / load ------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(30)
    X = rng.normal(size=(40, 3))
    reg = random_mlp(rng)
    reg.save(tmp_path / "reg.npz")
    back = MLP.load(tmp_path / "reg.npz")
    assert np.array_equal(back.forward(X), reg.forward(X)) and not back.is_classifier
    clf = random_mlp(rng, sizes=(3, 5, 3), classes=np.array(["a", "b", "c"]))
    clf.save(tmp_path / "clf.npz")
    with np.load(tmp_path / "clf.npz", allow_pickle=False) as f:   # no pickles inside
        assert set(f.files) == {"W1", "b1", "W2", "b2", "out_activation", "classes"}
        assert all(f[k].dtype != object for k in f.files)
    back = MLP.load(tmp_path / "clf.npz")
    assert back.out_activation == "softmax"
    assert np.array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    # a bare W/b archive (the problem-file format) loads as a regressor
    np.savez(tmp_path / "bare.npz", W1=np.ones((2, 3)), b1=np.zeros(2), W2=np.ones((1, 2)),
             b2=np.zeros(1))
    assert MLP.load(tmp_path / "bare.npz").hidden_sizes == (2,)


@pytest.mark.parametrize("arrays, match", [
    (dict(W1=np.ones((2, 3)), b1=np.zeros(2), W2=np.ones((1, 2))), "b2: missing"),
    (dict(W1=np.ones((2, 3)), b1=np.zeros(2), W3=np.ones((1, 2)), b3=np.zeros(1)), "W2: missing"),
    (dict(W1=np.ones((2, 3)), b1=np.zeros(2), W2=np.ones((1, 4)), b2=np.zeros(1)), "W2"),
    (dict(W1=np.ones((2, 3)), b1=np.array([0.0, np.nan])), "b1: contains NaN"),
    (dict(W1=np.ones((2, 3)), b1=np.zeros(2), extra=np.zeros(1)), "extra: unknown"),
    (dict(W1=np.ones((2, 3)), b1=np.zeros(2), b2=np.zeros(2)), "b2: misnumbered"),
    (dict(W1=np.array(["x", "y"]), b1=np.zeros(2)), "W1: expected a numeric"),
])
def test_load_bad_files(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidProblemError, match=match) as exc:
        MLP.load(path)
    assert "bad.npz" in str(exc.value)


def test_load_unreadable_files(tmp_path):
    with pytest.raises(InvalidProblemError, match="not found"):
        MLP.load(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(InvalidProblemError, match="text.npz"):
        MLP.load(tmp_path / "text.npz")
    np.savez(tmp_path / "obj.npz", W1=np.array([[1.0, None]], dtype=object), b1=np.zeros(1))
    with pytest.raises(InvalidProblemError, match="obj.npz"):
        MLP.load(tmp_path / "obj.npz")


# -- torch ------------------------------------------------------------------------------------

def test_from_torch():
    torch = pytest.importorskip("torch")
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 5), nn.ReLU(),
                          nn.Linear(5, 3)).double()
    X = np.random.default_rng(40).normal(size=(25, 4))
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    mlp = MLP.from_torch(model)
    assert mlp.hidden_sizes == (9, 5)
    np.testing.assert_allclose(mlp.forward(X), ref, atol=1e-12)
    np.testing.assert_allclose(mlp.biases[0], -model[0].bias.detach().numpy())
    clf = MLP.from_torch(model, classes=[10, 20, 30])
    assert clf.out_activation == "softmax"
    np.testing.assert_array_equal(clf.predict(X), np.array([10, 20, 30])[ref.argmax(axis=1)])
    nobias = nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 1)).double()
    with torch.no_grad():
        ref1 = nobias(torch.from_numpy(X)).numpy()[:, 0]
    np.testing.assert_allclose(MLP.from_torch(nobias).predict(X), ref1, atol=1e-12)


def test_from_torch_without_torch(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch now raises ImportError
    with pytest.raises(InvalidProblemError, match="PyTorch is not installed; pip install torch"):
        MLP.from_torch(object())


def test_from_torch_refusals():
    pytest.importorskip("torch")
    from torch import nn
    with pytest.raises(InvalidProblemError, match="Tanh"):
        MLP.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)))
    with pytest.raises(InvalidProblemError, match="end with an nn.Linear"):
        MLP.from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    with pytest.raises(InvalidProblemError, match="nn.Sequential"):
        MLP.from_torch(nn.ReLU())


def test_binary_tie_goes_to_first_class_like_sklearn():
    # p = 0.5 exactly: scikit-learn's LabelBinarizer thresholds with p > 0.5
    mlp = MLP([np.zeros((2, 3)), np.zeros((1, 2))], [np.zeros(2), np.zeros(1)],
              classes=["no", "yes"])
    X = np.ones((4, 3))
    np.testing.assert_array_equal(mlp.predict(X), ["no"] * 4)
    np.testing.assert_array_equal(mlp.predict_proba(X), np.full((4, 2), 0.5))
