"""DeepReLUNet: compositions of vector-valued shallow blocks, checked against direct NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import InvalidProblemError


def _rng(seed=0):
    return np.random.default_rng(seed)


def _mlp(sizes=(3, 7, 5, 2), seed=0):
    rng = _rng(seed)
    Ws = [rng.normal(size=(sizes[i + 1], sizes[i])) * rng.uniform(0.2, 3.0, size=(sizes[i + 1], 1))
          for i in range(len(sizes) - 1)]
    bs = [rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)]
    return nl.MLP(Ws, bs)


def _deep_with_skips(seed=0):
    """d=3 -> ReLU 6 -> bottleneck 2 -> ReLU 5 -> 4 outputs, skips and intercepts everywhere."""
    rng = _rng(seed)
    b1 = nl.ShallowReLUNet(rng.normal(size=(6, 3)) * 3, rng.normal(size=6),
                           rng.normal(size=(6, 2)) / 4, rng.normal(size=(3, 2)), rng.normal(size=2))
    b2 = nl.ShallowReLUNet(rng.normal(size=(5, 2)) / 5, rng.normal(size=5),
                           rng.normal(size=(5, 4)) * 2, rng.normal(size=(2, 4)), rng.normal(size=4))
    return nl.DeepReLUNet([b1, b2])


def _direct(blocks_arrays, X):
    """f_L o ... o f_1 written out: z -> V^T relu(W z - b) + C^T z + c, column by column."""
    out = []
    for x in X:
        z = x.copy()
        for W, b, V, C, c in blocks_arrays:
            h = np.array([max(0.0, float(W[k] @ z - b[k])) for k in range(W.shape[0])])
            z = V.T @ h + (C.T @ z if C is not None else 0.0) + (c if c is not None else 0.0)
        out.append(z)
    return np.array(out)


def _arrays(deep):
    return [(b.W, b.b, b.V, b.skip_coef, b.intercept) for b in deep.blocks]


def test_predict_matches_direct_numpy():
    deep = _deep_with_skips()
    X = _rng(1).normal(size=(20, 3))
    np.testing.assert_allclose(deep.predict(X), _direct(_arrays(deep), X), rtol=1e-12, atol=1e-12)


def test_from_mlp_keeps_function_and_round_trips():
    mlp = _mlp()
    X = _rng(2).normal(size=(30, 3))
    deep = nl.DeepReLUNet.from_mlp(mlp)
    assert deep.hidden_sizes == mlp.hidden_sizes
    assert not deep.has_skips
    np.testing.assert_allclose(deep.predict(X), mlp.forward(X), rtol=1e-11, atol=1e-11)
    back = deep.to_mlp()
    assert back.hidden_sizes == mlp.hidden_sizes
    for W0, W1 in zip(mlp.weights, back.weights):
        np.testing.assert_allclose(W1, W0, rtol=1e-11, atol=1e-11)
    for b0, b1 in zip(mlp.biases, back.biases):
        np.testing.assert_allclose(b1, b0, rtol=1e-11, atol=1e-11)


def test_from_mlp_bottleneck_is_the_rank():
    rng = _rng(3)
    M = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 8))          # rank 2 hidden-to-hidden
    mlp = nl.MLP([rng.normal(size=(8, 3)), M, rng.normal(size=(1, 6))],
                 [rng.normal(size=8), rng.normal(size=6), np.zeros(1)])
    deep = nl.DeepReLUNet.from_mlp(mlp)
    assert deep.bottleneck_sizes == (2,)
    X = rng.normal(size=(25, 3))
    np.testing.assert_allclose(deep.predict(X)[:, 0], mlp.predict(X), rtol=1e-10, atol=1e-10)


def test_to_mlp_refuses_skips():
    with pytest.raises(InvalidProblemError, match="skip"):
        _deep_with_skips().to_mlp()


def test_to_mlp_folds_intercepts_of_bottlenecks():
    deep = _deep_with_skips()
    blocks = [nl.ShallowReLUNet(b.W, b.b, b.V, None, b.intercept) for b in deep.blocks]
    plain = nl.DeepReLUNet(blocks)
    X = _rng(4).normal(size=(15, 3))
    np.testing.assert_allclose(plain.to_mlp().forward(X), plain.predict(X), rtol=1e-12,
                               atol=1e-12)


def test_npz_round_trip(tmp_path):
    deep = _deep_with_skips()
    path = tmp_path / "deep.npz"
    deep.save(path)
    back = nl.DeepReLUNet.load(path)
    for a, b in zip(_arrays(deep), _arrays(back)):
        for x, y in zip(a, b):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y)
    with np.load(path, allow_pickle=False) as f:             # no object arrays inside
        assert all(f[k].dtype != object for k in f.files)
    one = nl.DeepReLUNet([nl.ShallowReLUNet(np.eye(2), [0.0, 1.0], [1.0, -2.0])])
    one.save(path)
    assert nl.DeepReLUNet.load(path).predict(np.ones((3, 2))).shape == (3,)


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, W1=np.ones((2, 2)), b1=np.ones(2), V1=np.ones((2, 1)), junk=np.ones(1))
    with pytest.raises(InvalidProblemError, match="junk"):
        nl.DeepReLUNet.load(path)
    with pytest.raises(InvalidProblemError, match="not found"):
        nl.DeepReLUNet.load(tmp_path / "missing.npz")


def test_blocks_must_chain():
    a = nl.ShallowReLUNet(np.ones((2, 3)), np.zeros(2), np.ones((2, 4)))
    with pytest.raises(InvalidProblemError, match="chain"):
        nl.DeepReLUNet([a, a])
    with pytest.raises(InvalidProblemError, match="at least one"):
        nl.DeepReLUNet([])


@pytest.mark.parametrize("make", [_deep_with_skips, lambda: nl.DeepReLUNet.from_mlp(_mlp())])
def test_rebalance_keeps_function_and_lowers_weight_decay(make):
    deep = make()
    X = _rng(5).normal(size=(40, 3))
    bal = deep.rebalance()
    np.testing.assert_allclose(bal.predict(X), deep.predict(X), rtol=1e-10, atol=1e-10)
    assert bal.weight_decay() <= deep.weight_decay() * (1 + 1e-12)
    assert bal.weight_decay() < 0.9 * deep.weight_decay()       # these nets start unbalanced
    again = bal.rebalance()
    assert again.weight_decay() <= bal.weight_decay() * (1 + 1e-12)
    # every neuron balanced
    for blk in bal.blocks:
        np.testing.assert_allclose(blk.in_norms(), blk.out_norms(), rtol=1e-6, atol=1e-9)
    # every bottleneck: 1/2 (|W_{l+1}|^2 + |V_l|^2) = nuclear norm of the product
    for left, right in zip(bal.blocks[:-1], bal.blocks[1:]):
        nuc = np.linalg.norm(right.W @ left.V.T, "nuc")
        half = 0.5 * (np.sum(right.W ** 2) + np.sum(left.V ** 2))
        assert half == pytest.approx(nuc, rel=1e-6)
        np.testing.assert_allclose(right.W.T @ right.W, left.V.T @ left.V, rtol=1e-5, atol=1e-8)


def test_deep_regularizer_at_balance_is_twice_weight_decay():
    bal = _deep_with_skips().rebalance()
    # independent computation of C(theta): loops over neurons
    first, last = bal.blocks[0], bal.blocks[-1]
    C = 0.5 * sum(float(w @ w) for w in first.W) + 0.5 * sum(float(v @ v) for v in last.V)
    for blk in bal.blocks:
        C += sum(np.sqrt(w @ w) * np.sqrt(v @ v) for w, v in zip(blk.W, blk.V))
    for left, right in zip(bal.blocks[:-1], bal.blocks[1:]):       # linear bottleneck neurons
        C += sum(np.linalg.norm(left.V[:, j]) * np.linalg.norm(right.W[:, j])
                 for j in range(left.D))
    assert bal.deep_regularizer() == pytest.approx(C, rel=1e-12)
    wd = 0.5 * sum(np.sum(b.W ** 2) + np.sum(b.V ** 2) for b in bal.blocks)
    assert bal.weight_decay() == pytest.approx(wd, rel=1e-12)
    assert C == pytest.approx(2 * wd, rel=1e-6)
    # unbalanced: C differs from 2 WD
    raw = _deep_with_skips()
    assert abs(raw.deep_regularizer() - 2 * raw.weight_decay()) > 1e-3 * raw.weight_decay()


def test_mlp_deep_regularizer():
    mlp = _mlp(sizes=(3, 7, 5, 4, 2))
    Ws = mlp.weights
    C = 0.5 * np.sum(Ws[0] ** 2) + 0.5 * np.sum(Ws[-1] ** 2)
    for l in range(len(Ws) - 1):
        for k in range(Ws[l].shape[0]):
            C += np.linalg.norm(Ws[l][k]) * np.linalg.norm(Ws[l + 1][:, k])
    assert mlp.deep_regularizer() == pytest.approx(C, rel=1e-12)
    bal = mlp.rebalance(tol=1e-12)
    theta2 = sum(np.sum(W ** 2) for W in bal.weights)
    assert bal.deep_regularizer() == pytest.approx(theta2, rel=1e-8)
    assert bal.deep_regularizer() == pytest.approx(2 * bal.weight_decay(), rel=1e-8)


def test_path_norms_per_block():
    deep = _deep_with_skips()
    expect = [sum(np.linalg.norm(w) * np.linalg.norm(v) for w, v in zip(b.W, b.V))
              for b in deep.blocks]
    np.testing.assert_allclose(deep.path_norms(), expect, rtol=1e-12)


def test_rebalance_degenerate_bottleneck_and_dead_neurons():
    """A bottleneck direction used only by the skip (singular V^T V) and dead neurons."""
    rng = np.random.default_rng(7)
    V1 = rng.normal(size=(5, 2))
    V1[:, 1] = 0.0                                   # direction 2 fed only by the skip
    W1 = rng.normal(size=(5, 3))
    W1[0] = 0.0                                      # a constant neuron: relu(-b) v
    b1 = np.array([-1.0, 0.3, 0.1, -0.2, 0.5])
    blocks = [nl.ShallowReLUNet(W1, b1, V1, rng.normal(size=(3, 2)), None),
              nl.ShallowReLUNet(rng.normal(size=(4, 2)), rng.normal(size=4),
                                rng.normal(size=4), None, 0.5)]
    deep = nl.DeepReLUNet(blocks)
    X = rng.normal(size=(30, 3))
    bal = deep.rebalance()
    assert bal.predict(X).shape == (30,)
    np.testing.assert_allclose(bal.predict(X), deep.predict(X), rtol=1e-10, atol=1e-10)
    assert bal.weight_decay() <= deep.weight_decay() * (1 + 1e-12)


def test_drop_dead_keeps_function_and_removes_every_kind_of_dead_neuron():
    deep = _deep_with_skips(3)
    b1, b2 = deep.blocks
    W1, bb1, V1 = b1.W.copy(), b1.b.copy(), b1.V.copy()
    W1[0] = 0.0
    bb1[0] = -0.7                 # ReLU neuron 0: constant relu(0.7), folded into c_1
    V1[1] = 0.0                   # ReLU neuron 1: no output
    C1, c1 = b1.skip_coef.copy(), b1.intercept.copy()
    W2, C2 = b2.W.copy(), b2.skip_coef.copy()
    V1[:, 1], C1[:, 1] = 0.0, 0.0  # bottleneck unit 1: no input, the constant c1[1]
    V2 = b2.V.copy()
    V2[4] = 0.0                   # ReLU neuron 4 of block 2: no output
    dirty = nl.DeepReLUNet([nl.ShallowReLUNet(W1, bb1, V1, C1, c1),
                            nl.ShallowReLUNet(W2, b2.b, V2, C2, b2.intercept)])
    X = _rng(4).normal(size=(40, 3))
    clean = dirty.drop_dead()
    np.testing.assert_allclose(clean.predict(X), dirty.predict(X), atol=1e-12)
    assert clean.hidden_sizes == (4, 4) and clean.bottleneck_sizes == (1,)

    # a bottleneck with no live unit keeps one all-zero unit; the net is then constant + skip
    W2z, C2z = W2.copy(), C2.copy()
    W2z[:, 0], C2z[0] = 0.0, 0.0
    gone = nl.DeepReLUNet([nl.ShallowReLUNet(W1, bb1, V1, C1, c1),
                           nl.ShallowReLUNet(W2z, b2.b, V2, C2z, b2.intercept)]).drop_dead()
    assert gone.bottleneck_sizes == (1,) and gone.hidden_sizes[0] == 0
    np.testing.assert_allclose(gone.predict(X), np.broadcast_to(gone.predict(X[:1]), (40, 4)),
                               atol=1e-12)


def test_random_network_shapes_and_errors():
    net = nl.DeepReLUNet.random(5, [8, 6, 4], 3, bottlenecks=[2, 3], skips=[True, False, True],
                                seed=1)
    assert net.hidden_sizes == (8, 6, 4) and net.bottleneck_sizes == (2, 3)
    assert [b.skip_coef is not None for b in net.blocks] == [True, False, True]
    assert nl.DeepReLUNet.random(5, [8, 6], 3).bottleneck_sizes == (6,)
    np.testing.assert_array_equal(nl.DeepReLUNet.random(5, [8], 3, seed=2).blocks[0].W,
                                  nl.DeepReLUNet.random(5, [8], 3, seed=2).blocks[0].W)
    with pytest.raises(InvalidProblemError, match="bottlenecks: expected 1"):
        nl.DeepReLUNet.random(5, [8, 6], 3, bottlenecks=[2, 2])
    with pytest.raises(InvalidProblemError, match="skips: expected one bool per block"):
        nl.DeepReLUNet.random(5, [8, 6], 3, skips=[True])
    with pytest.raises(InvalidProblemError, match="hidden_sizes"):
        nl.DeepReLUNet.random(5, [0], 3)
