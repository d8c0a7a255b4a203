"""compress_deep: block-by-block compression of a DeepReLUNet with skips and bottlenecks.

The networks are built with known redundancy (split neurons, positively rescaled copies, a
+/- pair whose sum is linear and belongs to the skip, a rank-deficient bottleneck), so the
compressed widths, ranks and the min-norm objectives are known in closed form.
"""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import InvalidProblemError
from nnlasso.deep_compress import compress_deep


def _unit(rng, K, d):
    W = rng.normal(size=(K, d))
    return W / np.linalg.norm(W, axis=1, keepdims=True), 0.3 * rng.normal(size=K)


def _redundant(seed=0, bottleneck_rank=2, noise=0.0):
    """d=3 -> ReLU 10 (5 distinct + 5 redundant) -> bottleneck 4 (rank 2) -> ReLU 5 (4 distinct)
    -> 2 outputs, skips and intercepts in both blocks.

    Returns (deep, X, known) with ``known`` the distinct widths and the closed-form min-norm
    objectives of the two blocks (unit input rows, no rebalancing: sum over distinct neurons of
    the norm of the merged output weights)."""
    rng = np.random.default_rng(seed)
    d, N = 3, 200
    X = rng.normal(size=(N, d))
    W1, b1 = _unit(rng, 6, d)                       # 5 real neurons + direction of the +/- pair
    R = rng.normal(size=(bottleneck_rank, 4))
    V1 = rng.normal(size=(5, bottleneck_rank)) @ R
    V1 = V1 + noise * rng.normal(size=V1.shape)
    C1 = rng.normal(size=(d, bottleneck_rank)) @ R
    u = rng.normal(size=bottleneck_rank) @ R
    # neuron 0 split in two copies (0.4 + 0.6), neuron 1 as (w, b, v/2) + (2w, 2b, v/4),
    # the pair (w5, b5, u) + (-w5, -b5, -u) = u (w5 x - b5): linear, absorbed by the skip
    W = np.vstack([W1[:5], W1[0], 2 * W1[1], W1[5], -W1[5]])
    b = np.concatenate([b1[:5], [b1[0], 2 * b1[1], b1[5], -b1[5]]])
    V = np.vstack([0.4 * V1[0], 0.5 * V1[1], V1[2], V1[3], V1[4], 0.6 * V1[0], 0.25 * V1[1],
                   u, -u])
    blk1 = nl.ShallowReLUNet(W, b, V, C1, rng.normal(size=4))
    W2, b2 = _unit(rng, 4, 4)
    V2 = rng.normal(size=(4, 2))
    blk2 = nl.ShallowReLUNet(np.vstack([W2, W2[2]]), np.concatenate([b2, [b2[2]]]),
                             np.vstack([V2[:2], 0.3 * V2[2], V2[3], 0.7 * V2[2]]),
                             rng.normal(size=(4, 2)), rng.normal(size=2))
    known = {"widths": (5, 4), "obj1": float(np.sum(np.linalg.norm(V1, axis=1))),
             "obj2": float(np.sum(np.linalg.norm(V2, axis=1)))}
    return nl.DeepReLUNet([blk1, blk2]), X, known


def _direct(deep, X):
    """The composition written out neuron by neuron (independent of DeepReLUNet.predict)."""
    Z = X
    for blk in deep.blocks:
        H = np.maximum(0.0, np.einsum("kd,nd->nk", blk.W, Z) - blk.b)
        out = np.einsum("nk,kj->nj", H, blk.V)
        if blk.skip_coef is not None:
            out = out + Z @ blk.skip_coef
        if blk.intercept is not None:
            out = out + blk.intercept
        Z = out
    return Z


@pytest.mark.parametrize("rebalance", [True, False])
def test_exact_reaches_known_widths_and_rank(rebalance):
    deep, X, known = _redundant()
    small, rep = compress_deep(deep, X, rebalance=rebalance)
    assert deep.hidden_sizes == (9, 5) and deep.bottleneck_sizes == (4,)
    assert small.hidden_sizes == known["widths"]
    assert small.bottleneck_sizes == (2,)                     # the bottleneck's true rank
    F0, F1 = _direct(deep, X), _direct(small, X)
    assert np.max(np.abs(F1 - F0)) <= 1e-8 * max(1.0, np.max(np.abs(F0)))
    assert rep.max_output_change == pytest.approx(np.max(np.abs(F1 - F0)), abs=1e-12)
    assert rep.verified is True and rep.hidden_after == known["widths"]
    b2, b1 = rep.blocks                                        # last block first
    assert (b2.block, b1.block) == (2, 1)
    assert (b1.rank_before, b1.rank_after, b2.rank_before) == (4, 2, None)
    assert b1.singular_values[2] <= 1e-10 * b1.singular_values[0]
    assert b1.bottleneck_rel_change <= 1e-10
    if not rebalance:
        # closed-form min-norm objectives (merged output weights of the distinct neurons)
        assert b2.objective == pytest.approx(known["obj2"], rel=1e-6)
        assert b1.objective == pytest.approx(known["obj1"], rel=1e-6)
        # parallel copies do not change the norm (support reduction removes them); the +/- pair
        # costs 2 |u| in the trained block 1 and nothing once absorbed by the skip
        assert b2.trained_objective == pytest.approx(known["obj2"], rel=1e-12)
        assert b1.trained_objective > known["obj1"] * (1 + 1e-3)


def test_full_rank_bottleneck_is_kept_and_skip_pair_needs_the_skip():
    deep, X, _ = _redundant(bottleneck_rank=4, seed=1)
    small, rep = compress_deep(deep, X)
    assert small.bottleneck_sizes == (4,)
    assert small.hidden_sizes == (5, 4)
    assert np.max(np.abs(_direct(small, X) - _direct(deep, X))) <= 1e-8 * np.abs(
        _direct(deep, X)).max()
    # without block 1's skip the +/- pair's linear sum has nowhere to go: both neurons stay
    blk1 = deep.blocks[0]
    noskip = nl.DeepReLUNet([nl.ShallowReLUNet(blk1.W, blk1.b, blk1.V, None, blk1.intercept),
                             deep.blocks[1]])
    small2, _ = compress_deep(noskip, X)
    assert small2.hidden_sizes[0] == 7
    assert np.max(np.abs(_direct(small2, X) - _direct(noskip, X))) <= 1e-8 * np.abs(
        _direct(noskip, X)).max()


def test_eps_mode_within_eps_and_narrower():
    deep, X, _ = _redundant(seed=2)
    eps = 0.05
    _, rep0 = compress_deep(deep, X, rebalance=False)
    small, rep = compress_deep(deep, X, eps=eps, rebalance=False)
    assert rep.verified is True and rep.program == "eps"
    for b, b0 in zip(rep.blocks, rep0.blocks):
        assert b.psi_rel_change <= eps * (1 + 1e-6)
        assert b.neurons_after < b.neurons_before
        # a larger feasible set (the same Psi: the blocks below are not touched before their
        # own step): the eps optimum is below the exact one
        assert b.objective <= b0.objective * (1 + 1e-6) and b.rel_gap <= 1e-5
    F0, F1 = _direct(deep, X), _direct(small, X)
    assert rep.rel_output_change == pytest.approx(
        np.linalg.norm(F1 - F0) / np.linalg.norm(F0), rel=1e-6, abs=1e-12)
    # one block: the network's output change is exactly the program's residual
    blk = deep.blocks[1]
    one = nl.DeepReLUNet([blk])
    Z = np.random.default_rng(3).normal(size=(300, 4))
    Psi = np.maximum(0.0, Z @ blk.W.T - blk.b) @ blk.V
    for e, must_shrink in ((eps, False), (0.3, True)):
        s1, r1 = compress_deep(one, Z, eps=e)
        change = np.linalg.norm(_direct(s1, Z) - _direct(one, Z))
        assert change <= e * np.linalg.norm(Psi) * (1 + 1e-6)
        assert r1.blocks[0].psi_rel_change == pytest.approx(change / np.linalg.norm(Psi),
                                                            rel=1e-6, abs=1e-12)
        if must_shrink:
            assert s1.hidden_sizes[0] < 4


def test_eps_truncates_a_nearly_low_rank_bottleneck():
    deep, X, _ = _redundant(seed=4, noise=1e-4)
    exact, rep0 = compress_deep(deep, X)
    assert exact.bottleneck_sizes[0] > 2                       # numerically full rank
    small, rep = compress_deep(deep, X, eps=1e-2)
    b1 = rep.blocks[1]
    assert b1.rank_after == 2 and b1.bottleneck_rel_change <= 1e-2
    assert rep.rel_output_change <= 2e-2


def test_lam_mode_and_compress_network_dispatch():
    deep, X, _ = _redundant(seed=5)
    small, rep = compress_deep(deep, X, lam_ratio=1e-3)
    assert rep.program == "lam" and all(b.lam > 0 for b in rep.blocks)
    assert small.hidden_sizes[0] < 9 and small.hidden_sizes[1] < 5
    assert rep.rel_output_change < 0.05
    s2, rep2 = nl.compress_network(deep, X)
    assert s2.hidden_sizes == (5, 4) and rep2.verified is True
    assert "compress_deep" in nl.__all__ and nl.compress_deep is compress_deep
    assert "block" in str(rep2) and rep2.to_dict()["blocks"][0]["block"] == 2


def test_bad_input_raises_typed_errors():
    deep, X, _ = _redundant()
    with pytest.raises(InvalidProblemError, match="DeepReLUNet"):
        compress_deep(deep.blocks[0], X)
    with pytest.raises(InvalidProblemError, match="X"):
        compress_deep(deep, X[:, :2])
    with pytest.raises(InvalidProblemError, match="eps"):
        compress_deep(deep, X, eps=1.5)
    with pytest.raises(InvalidProblemError, match="not both"):
        compress_deep(deep, X, eps=0.1, lam_ratio=0.1)
    with pytest.raises(InvalidProblemError, match="rank_tol"):
        compress_deep(deep, X, rank_tol=-1.0)



def test_lam_ratio_with_zero_lam_max_names_the_field():
    """A first block holding only the +/- pair of _redundant (u relu(w x - b) - u relu(b - w x)
    = u (w x - b), linear): its skip fits Psi exactly, lam_max = 0, and lam_ratio is refused by
    a typed error naming it and the fix (was: lam ~ 1e-17 passed on to solve_lasso)."""
    deep, X, _ = _redundant(seed=5)
    b0 = deep.blocks[0]
    pair = nl.ShallowReLUNet(b0.W[7:9], b0.b[7:9], b0.V[7:9], b0.skip_coef, b0.intercept)
    with pytest.raises(InvalidProblemError, match="lam_ratio.*give lam directly"):
        compress_deep(nl.DeepReLUNet([pair, deep.blocks[1]]), X, lam_ratio=1e-3)
