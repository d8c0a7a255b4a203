"""Tests of nnlasso.compress: trained-layer reformulation and compression.

References are independent of the code under test: forward passes written as loops over layers
here, ranks from NumPy's SVD, the (MIN) and label-aware programs written directly in CVXPY, and
networks with a known small equivalent built by hand.
"""
from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from nnlasso.compress import (CompressionPath, CompressionReport, compress, compress_layer,
                              compression_path)
from nnlasso.errors import InvalidProblemError, SolverError
from nnlasso.networks import MLP


# ---------------------------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------------------------

def forward(Ws, bs, X, stop=None):
    """Raw outputs (or the pre-activation of layer ``stop``, 1-based) by an explicit loop."""
    H = np.asarray(X, dtype=float)
    L = len(Ws) if stop is None else stop
    for l in range(L):
        Z = H @ np.asarray(Ws[l]).T - np.asarray(bs[l])
        H = Z if l == L - 1 else np.maximum(Z, 0.0)
    return H


def net_forward(net: MLP, X, stop=None):
    return forward(net.weights, net.biases, X, stop)


def rank(M, rtol=1e-10):
    s = np.linalg.svd(M, compute_uv=False)
    return int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0


def layer_path_norm(Ws, l):
    """sum_k |W_l[k]| |W_{l+1}[:, k]| (the balanced weight decay of hidden layer l)."""
    return float(np.sum(np.linalg.norm(Ws[l - 1], axis=1) * np.linalg.norm(Ws[l], axis=0)))


def random_mlp(rng, sizes, classes=None):
    Ws = [rng.normal(size=(sizes[i + 1], sizes[i])) / np.sqrt(sizes[i])
          for i in range(len(sizes) - 1)]
    bs = [0.3 * rng.normal(size=s) for s in sizes[1:]]
    return MLP(Ws, bs, classes=classes)


def split_network(rng, d=3, K=5, D=2, copies=4):
    """A K-neuron layer and an equivalent copies*K-neuron layer (positive rescaled copies whose
    outgoing weights split the original ones)."""
    W1, b1 = rng.normal(size=(K, d)), 0.5 * rng.normal(size=K)
    W2, b2 = rng.normal(size=(D, K)), rng.normal(size=D)
    rows, bias, cols = [], [], []
    for k in range(K):
        a = rng.uniform(0.3, 3.0, size=copies)
        t = rng.uniform(0.2, 1.0, size=copies)
        t /= t.sum()
        for j in range(copies):
            rows.append(a[j] * W1[k])
            bias.append(a[j] * b1[k])
            cols.append(W2[:, k] * t[j] / a[j])
    perm = rng.permutation(len(rows))
    big = MLP([np.array(rows)[perm], np.array(cols).T[:, perm]], [np.array(bias)[perm], b2])
    return MLP([W1, W2], [b1, b2]), big


@pytest.fixture(scope="module")
def digits_net():
    """A small sklearn MLPClassifier on a subset of digits (seconds to train)."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier
    X, y = load_digits(return_X_y=True)
    X = X[:400] / 16.0
    y = y[:400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(48,), alpha=1.0, max_iter=150,
                            random_state=0).fit(X[:300], y[:300])
    return est, X[:300], y[:300], X[300:], y[300:]


# ---------------------------------------------------------------------------------------------
# exact mode
# ---------------------------------------------------------------------------------------------

def test_exact_mode_underdetermined_layer():
    """N < K: the layer is not unique on X; outputs kept to 1e-6, width <= rank * rank, the
    layer's balanced weight decay does not increase, objective = an independent CVXPY (MIN)."""
    rng = np.random.default_rng(0)
    mlp = random_mlp(rng, [4, 40, 3])
    X = rng.normal(size=(9, 4))
    small, rep = compress_layer(mlp, 1, X)
    F0, F1 = net_forward(mlp, X), net_forward(small, X)
    assert np.max(np.abs(F1 - F0)) <= 1e-6 * np.max(np.abs(F0))
    assert rep.program == "exact" and rep.verified
    # the bound, with ranks computed here
    bal = mlp.rebalance()
    nrm = np.linalg.norm(bal.weights[0], axis=1)
    Phi = np.maximum(X @ bal.weights[0].T - bal.biases[0], 0) / nrm
    Psi = Phi @ (bal.weights[1] * nrm).T
    bound = rank(Phi) * rank(Psi)
    assert bound < 40
    assert small.hidden_sizes[0] <= bound
    assert small.hidden_sizes[0] < 40
    # independent (MIN) in CVXPY
    V = cp.Variable((40, 3))
    prob = cp.Problem(cp.Minimize(cp.sum(cp.norm(V, 2, axis=1))), [Phi @ V == Psi])
    prob.solve(solver="CLARABEL")
    assert rep.objective == pytest.approx(prob.value, rel=1e-5)
    assert rep.gap >= -1e-8 and rep.rel_gap <= 1e-5
    # the balanced weight decay of the layer does not increase
    assert layer_path_norm(small.weights, 1) <= layer_path_norm(mlp.weights, 1) * (1 + 1e-9)
    assert rep.layer_norm_after <= rep.layer_norm_before * (1 + 1e-9)


def test_exact_mode_sklearn_classifier(digits_net):
    est, X, y, Xt, yt = digits_net
    small, rep = compress_layer(est, 1, X, y, X_test=Xt, y_test=yt)
    logits = X @ est.coefs_[0] + est.intercepts_[0]
    logits = np.maximum(logits, 0) @ est.coefs_[1] + est.intercepts_[1]
    F1 = net_forward(small, X)
    assert np.linalg.norm(F1 - logits) <= 1e-6 * np.linalg.norm(logits)
    np.testing.assert_array_equal(small.predict(X), est.predict(X))
    assert rep.score_train[0] == rep.score_train[1] == est.score(X, y)
    from sklearn.metrics import log_loss
    assert rep.metric == "accuracy"
    assert rep.loss_train[0] == pytest.approx(log_loss(y, est.predict_proba(X)), rel=1e-12)
    assert rep.loss_test[0] == pytest.approx(log_loss(yt, est.predict_proba(Xt),
                                                      labels=est.classes_), rel=1e-12)
    # features have full column rank after removing neurons dead on X: exactly those remain
    H = np.maximum(X @ est.coefs_[0] + est.intercepts_[0], 0)
    alive = int(np.sum(np.linalg.norm(H, axis=0) > 0))
    assert rank(H) == alive
    assert small.hidden_sizes[0] == alive
    assert rep.weight_decay_after <= rep.weight_decay_balanced * (1 + 1e-9)
    assert rep.weight_decay_balanced <= rep.weight_decay_before * (1 + 1e-12)
    text = str(rep)
    assert "original network" in text and "compressed network" in text
    assert "| original network | compressed network |" in rep.table()


def test_split_neurons_recover_small_width():
    rng = np.random.default_rng(1)
    ref, big = split_network(rng)
    X = rng.normal(size=(200, 3))
    assert big.hidden_sizes == (20,)
    np.testing.assert_allclose(net_forward(big, X), net_forward(ref, X), atol=1e-10)
    small, rep = compress_layer(big, 1, X)
    assert small.hidden_sizes == (5,)
    F0 = net_forward(big, X)
    assert np.max(np.abs(net_forward(small, X) - F0)) <= 1e-8 * np.max(np.abs(F0))
    # the recovered neurons are the original directions (up to order and positive scale)
    U = small.weights[0] / np.linalg.norm(small.weights[0], axis=1, keepdims=True)
    R = ref.weights[0] / np.linalg.norm(ref.weights[0], axis=1, keepdims=True)
    assert np.allclose(np.sort(np.max(U @ R.T, axis=1)), 1.0, atol=1e-9)
    # and the function is the same off the data as well
    Xn = rng.normal(size=(50, 3)) * 3
    np.testing.assert_allclose(net_forward(small, Xn), net_forward(ref, Xn), atol=1e-7)


def test_split_middle_layer_of_deep_net_and_compress_all():
    rng = np.random.default_rng(2)
    ref, big = split_network(rng, d=4, K=5, D=6, copies=3)
    # put a first hidden layer in front: x -> relu(A x - a) -> (big layer) -> out
    A, a = rng.normal(size=(4, 3)), 0.1 * rng.normal(size=4)
    deep = MLP([A, big.weights[0], big.weights[1]], [a, big.biases[0], big.biases[1]])
    X = rng.normal(size=(150, 3))
    F0 = net_forward(deep, X)
    small, rep = compress(deep, X, layers="all")
    assert small.hidden_sizes[1] == 5
    assert small.hidden_sizes[0] <= 4
    assert np.max(np.abs(net_forward(small, X) - F0)) <= 1e-6 * np.max(np.abs(F0))
    assert [s.layer for s in rep.steps] == [2, 1]
    assert rep.neurons_before == 4 + 15 and rep.neurons_after == sum(small.hidden_sizes)
    assert rep.verified


def test_compress_all_tolerance_mode_checks_each_layer():
    """eps per layer, last to first: every step stays within eps (hidden pre-activations are
    compared before the final rebalancing, which rescales them) and no step warns."""
    rng = np.random.default_rng(7)
    mlp = random_mlp(rng, [4, 25, 20, 3])
    X = rng.normal(size=(80, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small, rep = compress(mlp, X, "all", eps=0.1, solver="CLARABEL")
    assert [s.layer for s in rep.steps] == [2, 1]
    assert all(s.verified for s in rep.steps)
    assert all(s.psi_rel_change <= 0.1 * (1 + 1e-6) for s in rep.steps)
    assert sum(small.hidden_sizes) < 45
    # independent check of the last hidden layer alone: outputs within eps |Psi|_F
    one, _ = compress_layer(mlp, 2, X, eps=0.1, solver="CLARABEL")
    F = net_forward(mlp, X)
    Psi = F + mlp.biases[-1]
    assert np.linalg.norm(net_forward(one, X) - F) <= 0.1 * np.linalg.norm(Psi) * (1 + 1e-6)


def test_rebalance_before_compression_keeps_function():
    rng = np.random.default_rng(3)
    mlp = random_mlp(rng, [3, 12, 7, 2])
    Ws, bs = [np.array(W) for W in mlp.weights], [np.array(b) for b in mlp.biases]
    # unbalance the hidden neurons wildly (same function)
    for l in range(2):
        s = np.exp(rng.uniform(-3, 3, size=Ws[l].shape[0]))
        Ws[l] *= s[:, None]
        bs[l] *= s
        Ws[l + 1] /= s[None, :]
    skew = MLP(Ws, bs)
    X = rng.normal(size=(60, 3))
    np.testing.assert_allclose(net_forward(skew, X), net_forward(mlp, X), rtol=1e-9, atol=1e-9)
    small, rep = compress_layer(skew, 2, X)
    F0 = net_forward(skew, X)
    assert np.max(np.abs(net_forward(small, X) - F0)) <= 1e-6 * np.max(np.abs(F0))
    assert rep.weight_decay_balanced < rep.weight_decay_before
    # the returned network is balanced: |in_k| = |out_k| for every hidden neuron
    for l in (1, 2):
        np.testing.assert_allclose(np.linalg.norm(small.weights[l - 1], axis=1),
                                   np.linalg.norm(small.weights[l], axis=0), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# tolerance mode and paths
# ---------------------------------------------------------------------------------------------

def test_tolerance_mode_deviation_and_monotone_path():
    rng = np.random.default_rng(4)
    mlp = random_mlp(rng, [5, 30, 4])
    X = rng.normal(size=(120, 5))
    bal = mlp.rebalance()
    Psi = net_forward(bal, X) + bal.biases[1]          # next pre-activation minus its bias
    counts = []
    for eps in (0.01, 0.05, 0.15, 0.4):
        small, rep = compress_layer(mlp, 1, X, eps=eps, solver="CLARABEL")
        Z1 = net_forward(small, X)                         # the next layer is the output layer
        dev = np.linalg.norm(Z1 - (Psi - bal.biases[1])) / np.linalg.norm(Psi)
        assert dev <= eps * (1 + 1e-6)
        assert rep.psi_rel_change == pytest.approx(dev, rel=1e-6, abs=1e-12)
        assert rep.verified
        counts.append(small.hidden_sizes[0])
    assert all(b <= a for a, b in zip(counts, counts[1:]))
    assert counts[-1] < counts[0] < 30
    # the default solver ("auto") solves the eps program with SCS: the same certified optimum
    small, rep = compress_layer(mlp, 1, X, eps=0.4)
    _, ref = compress_layer(mlp, 1, X, eps=0.4, solver="CLARABEL")
    assert (rep.solver, rep.inner, rep.fallback) == ("auto", "SCS", None)
    assert (ref.solver, ref.inner) == ("CLARABEL", "CLARABEL")
    assert rep.status == "optimal" and rep.objective == pytest.approx(ref.objective, rel=1e-6)
    assert "via auto -> SCS" in str(rep)


def test_compression_path_eps_and_lam(digits_net):
    est, X, y, Xt, yt = digits_net
    path = compression_path(est, 1, X, y, grid=[0.0, 0.02, 0.1, 0.3], X_test=Xt, y_test=yt)
    assert isinstance(path, CompressionPath)
    assert path.neurons.shape == (4,)
    assert all(b <= a for a, b in zip(path.neurons, path.neurons[1:]))
    assert path.max_output_change[0] < 1e-8
    assert np.all(np.diff(path.rel_output_change) >= -1e-9)
    assert path.rel_output_change[2] <= 0.1 + 1e-6
    ok = [j for j in range(4) if path.rel_output_change[j] <= 0.1]
    i = path.smallest(max_rel_output_change=0.1)
    assert path.neurons[i] == min(path.neurons[j] for j in ok)
    assert path.smallest(max_rel_output_change=-1.0) is None
    assert "| eps |" in path.table()
    lam_path = compression_path(est, 1, X, y, mode="lam", grid=[0.1, 0.01])
    assert lam_path.neurons[0] <= lam_path.neurons[1]
    assert np.all(lam_path.lam > 0)


# ---------------------------------------------------------------------------------------------
# label-aware program
# ---------------------------------------------------------------------------------------------

def test_label_aware_program_matches_cvxpy(digits_net):
    est, X, y, Xt, yt = digits_net
    X, y = X[:150], y[:150]                    # every class occurs; keeps CVXPY quick
    assert np.unique(y).size == 10
    lam = 2.0
    small, rep = compress_layer(est, 1, X, y, lam=lam, X_test=Xt, y_test=yt)
    assert rep.program == "label" and rep.intercept
    # independent CVXPY: softmax loss on the labels, features of the balanced normalized layer
    mlp = MLP.from_sklearn(est)
    bal = mlp.rebalance()
    W = bal.weights[0]
    Phi = np.maximum(X @ W.T - bal.biases[0], 0) / np.linalg.norm(W, axis=1)
    keep = np.linalg.norm(Phi, axis=0) > 0
    Phi = Phi[:, keep]
    T = np.eye(10)[y]
    V, c = cp.Variable((Phi.shape[1], 10)), cp.Variable((1, 10))
    Z = Phi @ V + np.ones((len(y), 1)) @ c
    obj = cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(T, Z)) + lam * cp.sum(
        cp.norm(V, 2, axis=1))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver="CLARABEL")
    assert rep.objective == pytest.approx(prob.value, rel=1e-4)
    # the compressed network realizes the solution: its summed cross-entropy + penalty
    Zs = net_forward(small, X)
    ce = np.sum(np.log(np.sum(np.exp(Zs - Zs.max(1, keepdims=True)), axis=1)) + Zs.max(1)
                - Zs[np.arange(len(y)), y])
    pen = layer_path_norm(small.weights, 1)
    assert ce + lam * pen == pytest.approx(prob.value, rel=1e-4)
    assert rep.objective <= rep.trained_objective * (1 + 1e-9)
    assert small.hidden_sizes[0] < mlp.hidden_sizes[0]


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------

def test_refusals(digits_net):
    from sklearn.neural_network import MLPRegressor
    est, X, y, _, _ = digits_net
    rng = np.random.default_rng(5)
    with pytest.raises(InvalidProblemError, match="out of range"):
        compress_layer(est, 2, X)
    with pytest.raises(InvalidProblemError, match="out of range"):
        compress_layer(est, 0, X)
    with pytest.raises(InvalidProblemError, match="64"):
        compress_layer(est, 1, X[:, :10])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tanh = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", max_iter=20).fit(
            rng.normal(size=(30, 2)), rng.normal(size=30))
    with pytest.raises(InvalidProblemError, match="relu"):
        compress_layer(tanh, 1, rng.normal(size=(30, 2)))
    with pytest.raises(InvalidProblemError, match="at most one"):
        compress_layer(est, 1, X, lam=1.0, lam_ratio=0.1)
    with pytest.raises(InvalidProblemError, match="lam"):
        compress_layer(est, 1, X, y, program="label")
    with pytest.raises(InvalidProblemError, match="eps"):
        compress_layer(est, 1, X, eps=1.5)
    with pytest.raises(InvalidProblemError, match="not one of"):
        compress_layer(est, 1, X, np.full(len(X), 11))
    deep = random_mlp(rng, [3, 6, 5, 2])
    with pytest.raises(InvalidProblemError, match="last hidden layer"):
        compress_layer(deep, 1, rng.normal(size=(20, 3)), rng.normal(size=(20, 2)), lam=1.0,
                       program="label")
    with pytest.raises(InvalidProblemError, match="MLP"):
        compress_layer("not a network", 1, X)
    # an unknown solver is refused even where the exact program needs none (empty null space)
    tall = random_mlp(rng, [3, 6, 2])
    Xt = rng.normal(size=(50, 3))
    rep = compress_layer(tall, 1, Xt)[1]
    assert rep.solver == "auto" and rep.inner == "nullspace" and rep.fallback is None
    with pytest.raises(SolverError, match="installed"):
        compress_layer(tall, 1, Xt, solver="NOPE")


def test_report_to_dict_is_plain(digits_net):
    import json
    est, X, y, _, _ = digits_net
    _, rep = compress_layer(est, 1, X, y)
    assert isinstance(rep, CompressionReport)
    json.dumps(rep.to_dict())
    assert set(rep.times) >= {"rebalance", "features", "solve", "reduce", "refit", "total"}


def test_module_and_functions_are_reachable_from_the_package():
    """``nnlasso.compress`` is the module (not shadowed by a function of the same name)."""
    import types

    import nnlasso as nl
    assert isinstance(nl.compress, types.ModuleType)
    assert nl.compress.compress_layer is compress_layer is nl.compress_layer
    assert nl.compress.compress is compress is nl.compress_network


def test_refit_reduces_the_output_change(digits_net):
    """refit=True corrects the surviving outgoing weights by least squares on Psi: same
    neurons, smaller change of the next pre-activation than without it."""
    est, X, y, _, _ = digits_net
    for kw in ({"lam_ratio": 0.05}, {"eps": 0.1}):
        a, ra = compress_layer(est, 1, X, refit=True, **kw)
        b, rb = compress_layer(est, 1, X, refit=False, **kw)
        assert ra.neurons_after == rb.neurons_after < ra.neurons_before
        assert ra.psi_rel_change < 0.5 * rb.psi_rel_change, (kw, ra.psi_rel_change,
                                                             rb.psi_rel_change)


def test_regressor_report_uses_r2_and_squared_error():
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(21)
    X = rng.normal(size=(120, 3))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0) + 0.05 * rng.normal(size=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(hidden_layer_sizes=(40, 20), alpha=1e-3, max_iter=300, random_state=0).fit(X[:90], y[:90])
    small, rep = compress_layer(est, 2, X[:90], y[:90], eps=0.05, X_test=X[90:], y_test=y[90:])
    assert rep.metric == "R^2"
    assert rep.score_train[0] == pytest.approx(est.score(X[:90], y[:90]), rel=1e-10)
    assert rep.score_test[1] == pytest.approx(r2_score(y[90:], small.predict(X[90:])), rel=1e-10)
    assert rep.loss_train[0] == pytest.approx(mean_squared_error(y[:90], est.predict(X[:90])),
                                              rel=1e-10)


def test_effective_ranks_of_near_duplicate_neurons():
    """20 hidden neurons that are 1e-5-perturbed copies of 3 base neurons: P Phi has exact rank
    > 3 but effective rank 3 (singular values above 1e-2 s_1, computed here by an SVD), so the
    effective bound is 3 * rank_eff(P Psi) while the exact bound is much larger."""
    rng = np.random.default_rng(3)
    d, N, D = 2, 40, 2
    base_W, base_b = rng.normal(size=(3, d)), rng.normal(size=3) * 0.3
    idx = np.arange(20) % 3
    W1 = base_W[idx] + 1e-5 * rng.normal(size=(20, d))
    b1 = base_b[idx] + 1e-5 * rng.normal(size=20)
    mlp = MLP([W1, rng.normal(size=(D, 20))], [b1, np.zeros(D)])
    X = rng.normal(size=(N, d))
    _, rep = compress_layer(mlp, 1, X)
    bal = mlp.rebalance()
    nrm = np.linalg.norm(bal.weights[0], axis=1)
    Phi = np.maximum(X @ bal.weights[0].T - bal.biases[0], 0) / nrm
    Psi = Phi @ (bal.weights[1] * nrm).T
    if rep.intercept:
        Phi, Psi = Phi - Phi.mean(0), Psi - Psi.mean(0)

    def eff(M):
        s = np.linalg.svd(M, compute_uv=False)
        return int(np.sum(s > 1e-2 * s[0]))

    assert eff(Phi) == 3 and rank(Phi) > 3
    assert rep.effective_ranks == (3, eff(Psi))
    assert rep.effective_bound == 3 * eff(Psi) <= 6
    assert rep.bound >= rank(Phi) > rep.effective_bound
    assert f"width bound {rep.bound} (effective {rep.effective_bound})" in str(rep)
    assert f"{rep.bound} / {rep.effective_bound}" in rep.table()
