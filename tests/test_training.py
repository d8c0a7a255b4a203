"""train_prox / train_weight_decay: gradients, the proximal map, sparsity against the baseline."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import load_script

import nnlasso as nl
from nnlasso import InvalidProblemError
from nnlasso import training as tr


def _xor(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def _check_central_differences(pairs, value, h=1e-6):
    """Each gradient G of parameter P (first and last entries) against central differences of
    ``value()``, perturbing P in place."""
    for P, G in pairs:
        for idx in [(0,) * P.ndim, tuple(s - 1 for s in P.shape)]:
            old = P[idx]
            P[idx] = old + h
            up = value()
            P[idx] = old - h
            down = value()
            P[idx] = old
            assert G[idx] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("loss", ["softmax", "logistic", "squared"])
def test_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    D = 1 if loss == "logistic" else 3
    Y = (np.eye(3)[rng.integers(0, 3, 7)] if loss == "softmax"
         else rng.integers(0, 2, (7, 1)).astype(float) if loss == "logistic"
         else rng.normal(size=(7, D)))
    Ws = [rng.normal(size=(4, 3)), rng.normal(size=(5, 4)), rng.normal(size=(D, 5))]
    bs = [rng.normal(size=4) * 0.1, rng.normal(size=5) * 0.1, rng.normal(size=D)]
    _, gW, gb = tr._grads(Ws, bs, X, Y, loss)

    def value():
        return tr._loss_and_grad(loss, tr._forward(Ws, bs, X)[1], Y)[0]

    _check_central_differences(list(zip(Ws, gW)) + list(zip(bs, gb)), value)


def test_prox_is_group_soft_thresholding_of_normalized_neurons():
    """After rebalancing, the prox equals the group lasso prox of v_k |w_k| with w_k / |w_k|."""
    rng = np.random.default_rng(1)
    W1, b1, W2 = rng.normal(size=(6, 3)), rng.normal(size=6), rng.normal(size=(2, 6)) * 0.3
    t = 0.4
    n = np.linalg.norm(W1, axis=1)
    Veff = W2 * n[None, :]                       # output weights once |w_k| = 1
    norms = np.linalg.norm(Veff, axis=0)
    expect = Veff * np.maximum(0.0, 1 - t / norms)[None, :]
    assert 0 < np.sum(norms <= t) < 6             # some neurons die, some survive

    Ws, bs = [W1.copy(), W2.copy()], [b1.copy(), np.zeros(2)]
    tr._rebalance(Ws, bs)
    tr._prox_path(Ws, bs, t)
    n_new = np.linalg.norm(Ws[0], axis=1)
    got = Ws[1] * n_new[None, :]
    np.testing.assert_allclose(got, expect, atol=1e-12)
    live = n_new > 0                              # directions and b/|w| are kept
    np.testing.assert_allclose(Ws[0][live] / n_new[live, None],
                               W1[live] / n[live, None], atol=1e-12)
    np.testing.assert_allclose(bs[0][live] / n_new[live], b1[live] / n[live], atol=1e-12)


def test_lam_zero_makes_both_trainers_identical():
    X, y = _xor(100, 0)
    a = nl.train_prox(X, y, [8], 0.0, epochs=3, batch_size=16, lr=1e-2, seed=3)
    b = nl.train_weight_decay(X, y, [8], 0.0, epochs=3, batch_size=16, lr=1e-2, seed=3)
    for Wa, Wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(Wa, Wb)


def test_prox_is_sparser_than_weight_decay_at_similar_accuracy():
    X, y = _xor(400, 0)
    kw = dict(loss="softmax", epochs=60, batch_size=32, lr=3e-3, seed=0)
    prox = nl.train_prox(X, y, [64], 200.0, **kw)
    wd = nl.train_weight_decay(X, y, [64], 200.0, **kw)
    assert wd.hidden_sizes == (64,)
    assert prox.hidden_sizes[0] <= 40                         # measured: 28 of 64
    assert prox.score(X, y) >= wd.score(X, y) - 0.02           # measured: 0.990 vs 0.998
    assert prox.classes.tolist() == [0, 1] and prox.out_activation == "softmax"
    # the removed neurons were exactly zero: the deep regularizer counts only survivors
    assert prox.deep_regularizer() > 0


def test_weight_decay_shrinks_weights():
    X, y = _xor(200, 1)
    kw = dict(epochs=20, batch_size=32, lr=3e-3, seed=0)
    small = nl.train_weight_decay(X, y, [16], 0.0, **kw)
    big = nl.train_weight_decay(X, y, [16], 400.0, **kw)
    assert big.weight_decay() < 0.5 * small.weight_decay()


def test_deep_prox_and_other_losses_run(caplog):
    X, y = _xor(200, 2)
    with caplog.at_level(logging.DEBUG, logger="nnlasso"):
        net = nl.train_prox(X, y, [16, 8], 20.0, loss="logistic", epochs=5, batch_size=32,
                            lr=1e-2, seed=0)
    assert net.out_activation == "logistic" and net.n_layers == 3
    assert any("epoch 5" in r.getMessage() for r in caplog.records)
    t = X[:, 0] ** 2
    reg = nl.train_prox(X, t, [16], 1.0, loss="squared", epochs=30, batch_size=32, lr=1e-2)
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, t) > 0.5


def test_early_stopping_returns_best_validation_network():
    X, y = _xor(200, 3)
    Xv, yv = _xor(100, 4)
    net = nl.train_weight_decay(X, y, [32], 0.0, epochs=200, batch_size=16, lr=3e-2, seed=0,
                                X_val=Xv, y_val=yv, patience=3)
    full = nl.train_weight_decay(X, y, [32], 0.0, epochs=200, batch_size=16, lr=3e-2, seed=0)
    vloss = [tr._loss_and_grad("softmax", m.forward(Xv), np.eye(2)[yv])[0] for m in (net, full)]
    assert vloss[0] < vloss[1]


@pytest.mark.parametrize("kw,match", [
    (dict(loss="hinge"), "loss"), (dict(lam=-1.0), "lam"), (dict(hidden_sizes=[]), "hidden"),
    (dict(hidden_sizes=[0]), "hidden"), (dict(epochs=0), "epochs"), (dict(lr=0.0), "lr"),
    (dict(X_val=np.ones((2, 5))), "X_val, y_val"), (dict(loss="logistic", y=np.arange(10)),
                                                   "2 classes"),
    (dict(debias=1.0), "debias"), (dict(debias=-0.1), "debias"), (dict(debias="x"), "debias"),
])
def test_bad_input_raises_typed_errors(kw, match):
    X, y = _xor(10, 0)
    args = dict(X=X, y=y, hidden_sizes=[4], lam=1.0)
    args.update(kw)
    with pytest.raises(InvalidProblemError, match=match):
        nl.train_prox(args.pop("X"), args.pop("y"), args.pop("hidden_sizes"), args.pop("lam"),
                      epochs=args.pop("epochs", 1), **args)


def test_prox_vs_weight_decay_script_quick(tmp_path):
    """scripts/prox_vs_weight_decay.py --quick end to end: its table says prox is sparser."""
    mod = load_script("prox_vs_weight_decay")
    out, fig = tmp_path / "t.md", tmp_path / "figures" / "f.png"
    try:
        import matplotlib  # noqa: F401
        has_mpl = True
    except ImportError:
        has_mpl = False
    assert mod.main(["--quick", "--noise", "0", "--datasets", "digits", "teacher",
                     "--compress-alphas", "--out", str(out), "--figure", str(fig)]) == 0
    text = out.read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[0] in ("digits", "teacher"):
            rows[cells[0], float(cells[2]), cells[3]] = (float(cells[5]), float(cells[6]))
    assert len(rows) == 2 * (3 + 3 + 2 + 2)
    for data in ("digits", "teacher"):
        # no penalty: the two trainers are the same algorithm, all 128 neurons used
        assert rows[data, 0.0, "prox"] == rows[data, 0.0, "weight decay"]
        assert rows[data, 0.0, "prox"][1] == 128
        for alpha in (0.5, 2.0):
            acc_p, nz_p = rows[data, alpha, "prox"]
            acc_w, nz_w = rows[data, alpha, "weight decay"]
            assert nz_w == 128 and nz_p < nz_w
        # alpha = 0.5, measured: digits 97.78% with 104 neurons vs 98.15% with 128,
        # teacher 86.67% with 78 vs 86.89% with 128
        assert rows[data, 0.5, "prox"][0] >= rows[data, 0.5, "weight decay"][0] - 3.0
        assert rows[data, 2.0, "prox"][1] <= 40         # measured: digits 24, teacher 6
        # the classical penalties remove neurons too at their larger alpha
        assert rows[data, 0.5, "lasso"][1] < 128 and rows[data, 1.0, "group lasso"][1] < 128
    assert "## Summary" in text and "| digits | 0 | group lasso |" in text
    assert (fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n") if has_mpl else not fig.exists()
    assert ("](figures/f.png)" in text) == has_mpl


# -- deep networks ----------------------------------------------------------------------------

def _deep_blocks(seed=0, skips=(True, True, True)):
    """d=3 -> ReLU 6 -> bottleneck 3 -> ReLU 5 -> bottleneck 2 -> ReLU 4 -> 3 outputs."""
    rng = np.random.default_rng(seed)
    dims, K = [3, 3, 2, 3], [6, 5, 4]
    blocks = []
    for l in range(3):
        C = rng.normal(size=(dims[l], dims[l + 1])) if skips[l] else None
        blocks.append(tr._Block(rng.normal(size=(K[l], dims[l])), rng.normal(size=K[l]) * 0.3,
                                rng.normal(size=(K[l], dims[l + 1])), rng.normal(size=dims[l + 1]),
                                C))
    return blocks


def _as_deep(blocks):
    return nl.DeepReLUNet([nl.ShallowReLUNet(B.W, B.b, B.V, B.C, B.c) for B in blocks])


@pytest.mark.parametrize("loss", ["softmax", "squared"])
def test_deep_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(5)
    blocks = _deep_blocks(5, skips=(True, False, True))
    X = rng.normal(size=(9, 3))
    Y = np.eye(3)[rng.integers(0, 3, 9)] if loss == "softmax" else rng.normal(size=(9, 3))
    _, grads = tr._deep_grads(blocks, X, Y, loss)
    params = [a for B in blocks for a in B.arrays]
    assert len(grads) == len(params) == 3 * 4 + 2

    def value():
        return tr._loss_and_grad(loss, _as_deep(blocks).predict(X), Y)[0]   # independent forward

    for P, G in zip(params, grads):
        assert G.shape == P.shape
    _check_central_differences(list(zip(params, grads)), value)


def test_deep_balance_keeps_function_and_balances_bottlenecks():
    blocks = _deep_blocks(1)
    X = np.random.default_rng(2).normal(size=(30, 3))
    before = _as_deep(blocks).predict(X)
    reg = _as_deep(blocks).deep_regularizer()
    tr._deep_balance(blocks)
    np.testing.assert_allclose(_as_deep(blocks).predict(X), before, atol=1e-12)
    for left, right in zip(blocks[:-1], blocks[1:]):     # bottleneck units: |u_j| = |w_j|
        np.testing.assert_allclose(np.linalg.norm(left.V, axis=0),
                                   np.linalg.norm(right.W, axis=0), rtol=1e-12)
    # the path terms are scale invariant: only the two end terms move
    assert _as_deep(blocks).deep_regularizer() != pytest.approx(reg, rel=1e-6)


def test_deep_prox_one_block_is_group_soft_thresholding():
    """One block: the end terms shrink W, V by 1 + t/2, then each neuron's output weights in the
    normalized chart |w_k| = 1 are group-soft-thresholded by t/2; skip and intercept untouched."""
    [B] = _deep_blocks(3)[:1]
    W, b, V, C, c = (a.copy() for a in (B.W, B.b, B.V, B.C, B.c))
    t = 1.6
    n = np.linalg.norm(W, axis=1) / (1 + t / 2)
    Veff = V / (1 + t / 2) * n[:, None]
    norms = np.linalg.norm(Veff, axis=1)
    expect = Veff * np.maximum(0.0, 1 - (t / 2) / norms)[:, None]
    assert 0 < np.sum(norms <= t / 2) < W.shape[0]           # some neurons die, some survive
    tr._deep_prox([B], "prox", t)
    n_new = np.linalg.norm(B.W, axis=1)
    np.testing.assert_allclose(B.V * n_new[:, None], expect, atol=1e-12)
    live = n_new > 0
    # directions kept; the (unpenalized) bias relative to the shrunk |w_k| kept
    np.testing.assert_allclose(B.W[live] / n_new[live, None],
                               W[live] / np.linalg.norm(W[live], axis=1)[:, None], atol=1e-12)
    np.testing.assert_allclose(B.b[live] / n_new[live], b[live] / n[live], atol=1e-12)
    assert np.all(B.W[~live] == 0) and np.all(B.V[~live] == 0) and np.all(B.b[~live] == 0)
    np.testing.assert_array_equal(B.C, C)
    np.testing.assert_array_equal(B.c, c)


def test_deep_prox_bottleneck_soft_thresholds_the_relu_to_relu_pieces():
    """Bottleneck unit j: the rank-one piece w_j u_j^T of W_{l+1} V_l^T is soft-thresholded in
    Frobenius norm by t; its skip weights are kept."""
    left, right = _deep_blocks(4)[:2]
    pieces = [np.outer(right.W[:, j], left.V[:, j]) for j in range(left.V.shape[1])]
    norms = np.array([np.linalg.norm(P) for P in pieces])
    t = float(np.mean(np.sort(norms)[:2]))                 # between the two smallest
    skips = left.C.copy(), left.c.copy(), right.C.copy()
    tr._deep_prox_bottleneck(left, right, t)
    for j, P in enumerate(pieces):
        expect = P * max(0.0, 1 - t / norms[j])
        np.testing.assert_allclose(np.outer(right.W[:, j], left.V[:, j]), expect, atol=1e-12)
    assert np.sum(norms <= t) >= 1 and np.all(left.V[:, norms <= t] == 0)
    for a, b_ in zip(skips, (left.C, left.c, right.C)):
        np.testing.assert_array_equal(a, b_)


def test_deep_weight_decay_prox_leaves_skips():
    blocks = _deep_blocks(6)
    old = [B.copy() for B in blocks]
    tr._deep_prox(blocks, "wd", 0.5)
    for B, O in zip(blocks, old):
        np.testing.assert_allclose(B.W, O.W / 1.5)
        np.testing.assert_allclose(B.V, O.V / 1.5)
        np.testing.assert_array_equal(B.C, O.C)
        np.testing.assert_array_equal(B.b, O.b)


def _objective(net, X, y, lam):
    """Summed softmax cross-entropy + lam/2 C(theta), from the public API only."""
    Z = net.predict(X)
    Z = Z - Z.max(axis=1, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -float(np.sum(logp[np.arange(len(y)), y])) + lam / 2 * net.deep_regularizer()


def test_deep_prox_training_decreases_the_objective():
    X, y = _xor(200, 7)
    net0 = nl.DeepReLUNet.random(5, [16, 12], 2, bottlenecks=[4], skips=True, seed=1)
    lam = 10.0
    kw = dict(loss="softmax", batch_size=200, lr=0.05, optimizer="sgd", seed=0)
    objs = [_objective(net0, X, y, lam)]
    for epochs in (20, 100, 300):
        objs.append(_objective(nl.train_prox(X, y, net0, lam, epochs=epochs, **kw), X, y, lam))
    assert objs == sorted(objs, reverse=True) and objs[-1] < 0.6 * objs[0]
    free = nl.train_prox(X, y, net0, 0.0, epochs=300, **kw)
    sparse = nl.train_prox(X, y, net0, lam, epochs=300, **kw)
    assert sparse.deep_regularizer() < 0.5 * free.deep_regularizer()
    assert sum(sparse.hidden_sizes) < sum(free.hidden_sizes) == 28


def test_one_block_deep_training_is_mlp_training():
    """A DeepReLUNet of one block without skip trains exactly like the MLP it equals."""
    X, y = _xor(120, 8)
    rng = np.random.default_rng(0)
    m0 = nl.MLP([rng.normal(size=(10, 5)), rng.normal(size=(2, 10)) * 0.5],
                [rng.normal(size=10) * 0.1, rng.normal(size=2) * 0.1])
    d0 = nl.DeepReLUNet([nl.ShallowReLUNet(m0.weights[0], m0.biases[0], m0.weights[1].T, None,
                                           -m0.biases[1])])
    for fn in (nl.train_prox, nl.train_weight_decay):
        kw = dict(loss="softmax", epochs=15, batch_size=16, lr=1e-2, seed=2)
        m = fn(X, y, m0, 300.0, **kw)
        d = fn(X, y, d0, 300.0, **kw)
        assert isinstance(m, nl.MLP) and isinstance(d, nl.DeepReLUNet)
        assert d.hidden_sizes == m.hidden_sizes
        np.testing.assert_allclose(d.predict(X), m.forward(X), rtol=1e-8, atol=1e-9)
    assert nl.train_prox(X, y, m0, 300.0, **kw).hidden_sizes[0] < 10


def test_skip_bottleneck_network_trains_and_stays_valid(tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, Xt, y, yt = X[:900] / 16, X[900:] / 16, y[:900], y[900:]
    net0 = nl.DeepReLUNet.random(64, [48, 32], 10, bottlenecks=[12], skips=[True, True], seed=0)
    net = nl.train_prox(X, y, net0, 2.0 * len(X), epochs=20, batch_size=32, lr=3e-3, seed=0,
                        X_val=Xt[:200], y_val=yt[:200])
    assert isinstance(net, nl.DeepReLUNet) and net.has_skips
    assert net.n_inputs == 64 and net.n_outputs == 10 and net.n_blocks == 2
    acc = np.mean(np.argmax(net.predict(Xt), axis=1) == yt)
    assert acc > 0.85                                       # measured: 0.918
    assert sum(net.hidden_sizes) < 40                       # measured: [11, 11] of [48, 32]
    for blk in net.blocks:                                   # dead neurons were removed
        assert np.all(np.linalg.norm(blk.W, axis=1) * np.linalg.norm(blk.V, axis=1) > 0)
    path = tmp_path / "net.npz"
    net.save(path)
    back = nl.DeepReLUNet.load(path)
    np.testing.assert_array_equal(back.predict(Xt), net.predict(Xt))
    bal = net.rebalance()
    np.testing.assert_allclose(bal.predict(Xt), net.predict(Xt), atol=1e-9)
    assert bal.weight_decay() <= net.weight_decay() + 1e-12
    # 1-D squared targets give a 1-D predicting net
    t = X[:, 10] - X[:, 20]
    reg = nl.train_weight_decay(X, t, nl.DeepReLUNet.random(64, [8], 1, skips=True), 1.0,
                                loss="squared", epochs=3, lr=1e-2)
    assert reg.predict(X).shape == (900,)


def test_debias_schedule_step_sizes():
    """Constant lr for the penalized epochs, then lr/2 (1 + cos(pi j / E_d)), j = 0 .. E_d - 1."""
    lrs, n_pen = tr._epoch_lrs(0.1, 10, 0.2)
    assert n_pen == 8
    np.testing.assert_allclose(lrs, [0.1] * 8 + [0.1, 0.05], atol=1e-15)
    lrs, n_pen = tr._epoch_lrs(2.0, 100, 0.2)
    j = np.arange(20)
    np.testing.assert_allclose(lrs[80:], 1.0 + np.cos(np.pi * j / 20))
    assert n_pen == 80 and np.all(lrs[:80] == 2.0) and np.all(np.diff(lrs[80:]) < 0)
    lrs, n_pen = tr._epoch_lrs(0.1, 10, 0.0)               # debias=0: constant, all penalized
    assert n_pen == 10 and np.all(lrs == 0.1)
    assert tr._epoch_lrs(0.1, 1, 0.9)[1] == 1              # always one penalized epoch


def _train_loss(net, X, y):
    return tr._loss_and_grad("softmax", net.forward(X), np.eye(2)[y])[0]


@pytest.mark.parametrize("trainer", ["prox", "lasso"])
def test_debias_phase_keeps_the_support_and_lowers_the_training_loss(trainer, caplog):
    """The debias epochs continue the penalized run (same seed) without the penalty: the zero
    neurons (prox) and zero entries (lasso) stay zero and the training loss goes down."""
    X, y = _xor(300, 5)
    fn = {"prox": nl.train_prox, "lasso": nl.train_lasso}[trainer]
    lam = {"prox": 300.0, "lasso": 60.0}[trainer]
    kw = dict(loss="softmax", batch_size=32, lr=3e-3, seed=1)
    before = fn(X, y, [32], lam, epochs=40, debias=0.0, **kw)   # = the first 40 of 50 epochs
    with caplog.at_level(logging.DEBUG, logger="nnlasso"):
        after = fn(X, y, [32], lam, epochs=50, debias=0.2, **kw)
    assert before.hidden_sizes[0] < 32 and after.hidden_sizes == before.hidden_sizes
    alive = [r.getMessage().split("alive ")[1].split(",")[0] for r in caplog.records
             if "(debias)" in r.getMessage()]
    assert len(alive) == 10 and len(set(alive)) == 1            # no neuron revives
    if trainer == "prox":
        assert alive[0] == str(list(before.hidden_sizes))
    if trainer == "lasso":                              # the entrywise support is kept
        for Wb, Wa in zip(before.weights, after.weights):
            np.testing.assert_array_equal(Wb == 0, Wa == 0)
        assert np.mean(before.weights[0] == 0) > 0.2
    assert _train_loss(after, X, y) < 0.9 * _train_loss(before, X, y)


def test_debias_phase_keeps_dead_bottleneck_units_dead(caplog):
    """A bottleneck unit killed by the prox would revive through the skips' gradient; the
    debias phase holds its weights at zero."""
    X, y = _xor(300, 8)
    net0 = nl.DeepReLUNet.random(5, [16, 8], 2, bottlenecks=[6], skips=True, seed=0)
    with caplog.at_level(logging.DEBUG, logger="nnlasso"):
        net = nl.train_prox(X, y, net0, 300.0, epochs=30, batch_size=32, lr=1e-2, seed=0)
    debias = [r.getMessage().split("alive ")[1] for r in caplog.records
              if "(debias)" in r.getMessage()]
    assert len(debias) == 6 and len(set(debias)) == 1
    neck = int(debias[0].split("bottlenecks [")[1].rstrip("]").split(",")[0])
    units = np.any(net.blocks[0].V != 0, axis=0) & np.any(net.blocks[1].W != 0, axis=0)
    assert 0 < neck < 6 and int(np.sum(units)) == neck      # measured: 4 of 6


def test_early_stop_of_the_penalized_phase_moves_on_to_the_debias_phase(caplog):
    X, y = _xor(200, 6)
    Xv, yv = _xor(100, 7)
    kw = dict(epochs=200, batch_size=16, lr=3e-2, seed=0, X_val=Xv, y_val=yv, patience=3)
    with caplog.at_level(logging.DEBUG, logger="nnlasso"):
        a = nl.train_prox(X, y, [16], 20.0, **kw)
    msgs = [r.getMessage() for r in caplog.records]
    stop = [m for m in msgs if "debias phase next" in m]
    assert len(stop) == 1 and int(stop[0].split("epoch ")[1].split(",")[0]) < 160
    assert any("epoch 161 (debias)" in m for m in msgs)
    b = nl.train_prox(X, y, [16], 20.0, **kw)              # reproducible with a seed
    for Wa, Wb in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(Wa, Wb)


def test_lasso_and_group_lasso_prox_and_training():
    W = np.array([[0.5, -2.0, 0.1], [0.0, 3.0, -0.3]])
    A = W.copy()
    tr._prox_lasso(A, 0.4)
    np.testing.assert_allclose(A, [[0.1, -1.6, 0.0], [0.0, 2.6, 0.0]])
    G = W.copy()
    tr._prox_group_columns(G, 0.45)
    n = np.linalg.norm(W, axis=0)
    np.testing.assert_allclose(G, W * np.maximum(0, 1 - 0.45 / n))
    assert np.all(G[:, 2] == 0) and np.all(np.linalg.norm(G[:, :2], axis=0) > 0)

    X, y = _xor(300, 9)
    kw = dict(loss="softmax", epochs=40, batch_size=32, lr=3e-3, seed=0)
    las = nl.train_lasso(X, y, [32], 100.0, **kw)
    grp = nl.train_group_lasso(X, y, [32], 100.0, **kw)
    wd = nl.train_weight_decay(X, y, [32], 100.0, **kw)
    # measured: 37% of the lasso's first-layer weights exactly 0, 18 neurons left (96.3%);
    # group lasso 21 neurons (96.7%); weight decay all 32 and no zero weight
    assert np.mean(las.weights[0] == 0) > 0.3 and np.all(wd.weights[0] != 0)
    assert las.hidden_sizes[0] < 24 and grp.hidden_sizes[0] < 26 and wd.hidden_sizes[0] == 32
    for net in (las, grp):
        assert net.score(X, y) > 0.9


def test_deep_and_initial_network_errors():
    X, y = _xor(20, 0)
    net = nl.DeepReLUNet.random(5, [4], 2)
    with pytest.raises(InvalidProblemError, match="train_lasso trains MLPs only"):
        nl.train_lasso(X, y, net, 1.0, epochs=1)
    with pytest.raises(InvalidProblemError, match="outputs must be the number of classes"):
        nl.train_prox(X, y, nl.DeepReLUNet.random(5, [4], 3), 1.0, epochs=1)
    with pytest.raises(InvalidProblemError, match="X has 5 columns"):
        nl.train_prox(X, y, nl.DeepReLUNet.random(4, [4], 2), 1.0, epochs=1)
    with pytest.raises(InvalidProblemError, match="initial MLP"):
        nl.train_weight_decay(X, y, nl.MLP([np.ones((3, 5)), np.ones((1, 3))],
                                           [np.zeros(3), np.zeros(1)]), 1.0, epochs=1)
    with pytest.raises(InvalidProblemError, match="hidden_sizes"):
        nl.train_prox(X, y, "64", 1.0, epochs=1)


def test_prox_vs_weight_decay_script_deep_trainers(tmp_path):
    """The script's 'deep prox' trainer trains a DeepReLUNet with skips and a bottleneck."""
    mod = load_script("prox_vs_weight_decay")
    out = tmp_path / "d.md"
    assert mod.main(["--quick", "--datasets", "digits", "--trainers", "deep prox",
                     "--deep-hidden", "16", "8", "--deep-bottlenecks", "4",
                     "--compress-alphas", "0.5", "--out", str(out)]) == 0
    rows, comp = {}, {}
    for line in out.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[0] == "digits":
            rows[float(cells[2])] = (float(cells[5]), float(cells[6]))
        if len(cells) == 12 and cells[0] == "deep prox":
            comp[float(cells[2])] = cells
    assert set(rows) == {0.0, 0.5, 2.0}
    # compress_deep on the alpha = 0.5 net: exact keeps the outputs, eps = 0.05 removes neurons
    assert set(comp) == {0.0, 0.05}
    assert comp[0.0][3] == comp[0.0][4] and float(comp[0.0][9]) < 1e-8
    assert sum(map(int, comp[0.05][4].strip("[]").split(","))) < 24     # measured: [8, 8]
    assert float(comp[0.0][10]) < 1e-6                                  # certified: rel gap
    assert rows[0.0][1] == 24 and rows[2.0][1] < 24
    assert rows[0.0][0] > 80                       # measured: 93.7% after 30 epochs
    assert "--deep-hidden 16 8 --deep-bottlenecks 4 --trainers 'deep prox'" in out.read_text()


def test_prox_vs_weight_decay_replot_reads_the_published_page(tmp_path):
    """--replot redraws the figure from docs/prox_vs_weight_decay.md's table (no training)."""
    from conftest import ROOT as root
    mod = load_script("prox_vs_weight_decay")
    pts = mod.points_from_markdown((root / "docs" / "prox_vs_weight_decay.md").read_text())
    trainers = {p[2] for p in pts}
    assert trainers == {"prox", "weight decay", "lasso", "group lasso"}
    assert all(0 <= p[4] <= 100 and p[5] >= 0 and 0 <= p[6] <= 128 for p in pts)
    wd = [p for p in pts if p[2] == "weight decay" and p[3] > 0]
    assert wd and all(p[6] == 128 for p in wd)            # weight decay keeps every neuron
    pytest.importorskip("matplotlib")
    fig = tmp_path / "f.png"
    assert mod.main(["--replot", "--out", str(root / "docs" / "prox_vs_weight_decay.md"),
                     "--figure", str(fig)]) == 0
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
