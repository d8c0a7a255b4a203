"""train_prox / train_weight_decay: gradients, the proximal map, sparsity against the baseline."""
from __future__ import annotations

import logging

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import InvalidProblemError
from nnlasso import training as tr


def _xor(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


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

    h = 1e-6
    for P, G in list(zip(Ws, gW)) + list(zip(bs, gb)):
        for idx in [(0,) * P.ndim, tuple(s - 1 for s in P.shape)]:
            old = P[idx]
            P[idx] = old + h
            up = value()
            P[idx] = old - h
            down = value()
            P[idx] = old
            assert G[idx] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


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
    assert prox.hidden_sizes[0] <= 40                         # measured: 25 of 64
    assert prox.score(X, y) >= wd.score(X, y) - 0.02           # measured: 0.990 vs 0.993
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
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "prox_vs_weight_decay.py"
    spec = importlib.util.spec_from_file_location("nnlasso_prox_vs_wd", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
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
            rows[cells[0], float(cells[2]), cells[3]] = (float(cells[5]),
                                                         int(cells[6].strip("[]")))
    assert len(rows) == 2 * 3 * 2
    for data in ("digits", "teacher"):
        # no penalty: the two trainers are the same algorithm, all 128 neurons used
        assert rows[data, 0.0, "prox"] == rows[data, 0.0, "weight decay"]
        assert rows[data, 0.0, "prox"][1] == 128
        for alpha in (0.5, 2.0):
            acc_p, nz_p = rows[data, alpha, "prox"]
            acc_w, nz_w = rows[data, alpha, "weight decay"]
            assert nz_w == 128 and nz_p < nz_w
        # alpha = 0.5, measured: digits 97.78% with 94 neurons vs 97.78% with 128,
        # teacher 86.89% with 72 vs 87.11% with 128
        assert rows[data, 0.5, "prox"][0] >= rows[data, 0.5, "weight decay"][0] - 3.0
        assert rows[data, 2.0, "prox"][1] <= 40         # measured: digits 22, teacher 6
    assert (fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n") if has_mpl else not fig.exists()
    assert ("](figures/f.png)" in text) == has_mpl
