"""nnlasso.torch_interop: DeepReLUNet.from_torch / to_torch and prox_step_torch (torch optional)."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import InvalidProblemError
from nnlasso import training as tr

torch = pytest.importorskip("torch")
nn = torch.nn
ti = pytest.importorskip("nnlasso.torch_interop")


def _run(model, X):
    with torch.no_grad():
        return model(torch.from_numpy(X).to(next(model.parameters()).dtype)).double().numpy()


def _X(n=50, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_mlp_sequential_matches_torch_float32_and_float64():
    torch.manual_seed(0)
    X = _X()
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-6)):
        model = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 6), nn.ReLU(),
                              nn.Linear(6, 3)).to(dtype)
        deep = nl.DeepReLUNet.from_torch(model)
        assert deep.hidden_sizes == (9, 6) and not deep.has_skips
        ref = _run(model, X)
        np.testing.assert_allclose(deep.predict(X), ref, atol=tol * np.abs(ref).max())
        np.testing.assert_allclose(deep.to_mlp().forward(X),
                                   nl.MLP.from_torch(model).forward(X), atol=1e-10)


def test_explicit_bottleneck_and_residual_blocks():
    torch.manual_seed(1)
    X = _X(seed=1)
    Block = ti.ReLUBlock
    model = nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.Linear(2, 7), nn.ReLU(),   # bottleneck 2
        nn.Linear(7, 3),
        Block(3, 5, 3, skip=True, dtype=torch.float64).float(),                    # residual
        nn.Sequential(nn.Linear(3, 3)),                                            # folded in
    ).double()
    deep = nl.DeepReLUNet.from_torch(model)
    assert deep.hidden_sizes == (8, 7, 5) and deep.bottleneck_sizes == (2, 3)
    assert [b.skip_coef is not None for b in deep.blocks] == [False, False, True]
    np.testing.assert_allclose(deep.predict(X), _run(model, X), atol=1e-10)
    # a Linear before a ReLUBlock is folded into its input and skip
    pre = nn.Sequential(nn.Linear(4, 3), Block(3, 6, 2, skip=True)).double()
    d2 = nl.DeepReLUNet.from_torch(pre)
    assert d2.n_blocks == 1 and d2.blocks[0].d == 4
    np.testing.assert_allclose(d2.predict(X), _run(pre, X), atol=1e-10)


def test_to_torch_round_trip():
    X = _X(seed=2)
    rng = np.random.default_rng(2)
    deep = nl.DeepReLUNet([
        nl.ShallowReLUNet(rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=(6, 2)),
                          rng.normal(size=(4, 2)), rng.normal(size=2)),
        nl.ShallowReLUNet(rng.normal(size=(5, 2)), rng.normal(size=5), rng.normal(size=(5, 3)))])
    model = ti.to_torch(deep)
    np.testing.assert_allclose(_run(model, X), deep.predict(X), atol=1e-12)
    back = nl.DeepReLUNet.from_torch(model)
    np.testing.assert_allclose(back.predict(X), deep.predict(X), atol=1e-12)
    f32 = ti.to_torch(deep, dtype=torch.float32)
    np.testing.assert_allclose(_run(f32, X), deep.predict(X), rtol=1e-5, atol=1e-5)


def test_from_torch_refuses_what_it_cannot_read():
    with pytest.raises(InvalidProblemError, match="layer 1 is Tanh"):
        nl.DeepReLUNet.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)))
    with pytest.raises(InvalidProblemError, match="no ReLU layer"):
        nl.DeepReLUNet.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    with pytest.raises(InvalidProblemError, match="followed by an nn.Linear"):
        nl.DeepReLUNet.from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    with pytest.raises(InvalidProblemError, match="expected an nn.Sequential"):
        nl.DeepReLUNet.from_torch(nn.Conv1d(1, 1, 1))


def test_prox_step_torch_is_the_numpy_prox_on_an_mlp():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 6), nn.ReLU(),
                          nn.Linear(6, 2)).double()
    mlp = nl.MLP.from_torch(model)
    Ws, bs = [W.copy() for W in mlp.weights], [b.copy() for b in mlp.biases]
    lam, lr, N = 3000.0, 0.01, 100
    alive = ti.prox_step_torch(model, lam, lr, n_samples=N)
    m1 = [np.zeros_like(p) for p in Ws + bs]
    tr._MLPModel(Ws, bs).prox("prox", lr * lam / N, m1)
    got = nl.MLP.from_torch(model)
    for A, B in zip(got.weights + got.biases, Ws + bs):
        np.testing.assert_allclose(A, B, atol=1e-14)
    assert alive == [int(np.sum(np.any(W != 0, axis=1))) for W in Ws[:-1]]
    assert alive[0] < 10                                   # some neurons were killed
    with pytest.raises(InvalidProblemError, match="alternating"):
        ti.prox_step_torch(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)), 1.0, 0.1)


def test_prox_step_torch_on_relu_blocks_is_the_deep_prox():
    rng = np.random.default_rng(4)
    deep = nl.DeepReLUNet.random(4, [8, 6], 3, bottlenecks=[3], skips=True, seed=4)
    deep = nl.DeepReLUNet([nl.ShallowReLUNet(b.W, rng.normal(size=b.n_neurons), b.V,
                                             rng.normal(size=b.skip_coef.shape), b.intercept)
                           for b in deep.blocks])
    model = ti.to_torch(deep)
    blocks = [tr._Block(b.W.copy(), b.b.copy(), b.V.copy(), b.intercept.copy(),
                        b.skip_coef.copy()) for b in deep.blocks]
    t = 3.0
    alive = ti.prox_step_torch(model, t, 1.0)
    tr._deep_prox(blocks, "prox", t)
    got = nl.DeepReLUNet.from_torch(model)
    for g, B in zip(got.blocks, blocks):
        for a, b_ in ((g.W, B.W), (g.b, B.b), (g.V, B.V), (g.skip_coef, B.C), (g.intercept, B.c)):
            np.testing.assert_allclose(a, b_, atol=1e-13)
    assert len(alive) == 3 and alive[0] < 8


def test_torch_training_loop_with_prox_step_gets_sparse():
    """Adam in torch + prox_step_torch after each step: accurate and sparse on XOR-like data."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                   # tiny model: threads only add overhead
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    Xt, yt = torch.from_numpy(X).float(), torch.from_numpy(y)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    try:
        for epoch in range(150):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(Xt), yt)
            loss.backward()
            opt.step()
            alive = ti.prox_step_torch(model, 1.0 * len(X), 1e-2, n_samples=len(X))
    finally:
        torch.set_num_threads(threads)
    mlp = nl.MLP.from_torch(model, classes=[0, 1]).drop_dead()
    assert alive[0] == mlp.hidden_sizes[0] < 32              # measured: 12 of 64
    assert mlp.score(X, y) > 0.9                             # measured: 0.978
