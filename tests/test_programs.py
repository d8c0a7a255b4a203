"""Tests of nnlasso.programs: the CVXPY formulations evaluate to the textbook objectives (written
here in NumPy), with and without the QR reduction, and the min-norm constraint (reduced or not)
holds exactly where |Phi V + A B - Psi|_F <= eps |Psi|_F."""
from __future__ import annotations

import numpy as np
import pytest

from nnlasso.losses import get_loss
from nnlasso.programs import GroupStructure, build_lasso, build_min_norm


def _data(N, K, D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, K)), rng.standard_normal((N, 2)), rng.standard_normal((N, D))


def _set_point(prog, V, C, c0):
    prog.set_V(V)
    if prog.C is not None:
        prog.C.value = C
    if prog.c0 is not None:
        prog.c0.value = c0


@pytest.mark.parametrize("N", [40, 8])                  # N > K + p: QR-reduced; else direct
@pytest.mark.parametrize("grouped", [False, True])
def test_lasso_program_value_is_the_textbook_objective(N, grouped):
    K, D, lam = 6, 2, 0.7
    Phi, X, T = _data(N, K, D)
    ids = np.array([0, 0, 1, 2, 2, 2]) if grouped else np.arange(K)
    w = np.linspace(1.0, 2.0, ids.max() + 1)
    prog = build_lasso(Phi, T, get_loss("squared"), X, True, GroupStructure(ids, w), lam)
    assert prog.qr == (N > K + 3)
    rng = np.random.default_rng(1)
    V, C, c0 = rng.standard_normal((K, D)), rng.standard_normal((2, D)), rng.standard_normal((1, D))
    _set_point(prog, V, C, c0)
    R = T - Phi @ V - X @ C - c0
    pen = sum(w[g] * np.linalg.norm(V[ids == g]) for g in range(w.size))
    want = 0.5 * np.sum(R ** 2) + lam * pen
    assert prog.problem.objective.value == pytest.approx(want, rel=1e-10)
    assert np.allclose(prog.V_value(), V)
    prog.lam.value = 2 * lam                             # the parameter moves the penalty only
    assert prog.problem.objective.value == pytest.approx(want + lam * pen, rel=1e-10)


def test_logistic_program_value():
    Phi, _, _ = _data(30, 5, 1, seed=2)
    y = np.where(np.random.default_rng(3).standard_normal(30) > 0, 1.0, -1.0)
    loss = get_loss("logistic")
    T = loss.encode(y).T
    prog = build_lasso(Phi, T, loss, None, True, GroupStructure(np.arange(5), np.ones(5)), 0.3)
    assert not prog.qr
    V = np.linspace(-1, 1, 5)[:, None]
    _set_point(prog, V, None, np.array([[0.2]]))
    z = Phi @ V[:, 0] + 0.2
    want = np.sum(np.logaddexp(0.0, -T[:, 0] * z)) + 0.3 * np.abs(V).sum()
    assert prog.problem.objective.value == pytest.approx(want, rel=1e-10)


def test_group_size_classes_partition_the_rows():
    ids = np.array([2, 0, 1, 0, 2, 2, 3])
    gs = GroupStructure(ids, np.ones(4))
    seen = []
    for s, (groups, members) in gs.size_classes().items():
        assert members.shape == (groups.size, s)
        for g, m in zip(groups, members):
            assert set(m) == set(np.flatnonzero(ids == g))
            seen += list(m)
    assert sorted(seen) == list(range(ids.size))
    assert not gs.singletons and GroupStructure(np.arange(3), np.ones(3)).singletons


@pytest.mark.parametrize("N", [40, 6])                  # QR-reduced constraint or the direct one
def test_min_norm_constraint_is_the_relative_residual(N):
    K, D, eps = 5, 2, 0.1
    Phi, X, noise = _data(N, K, D, seed=4)
    M = np.hstack([Phi, X, np.ones((N, 1))])
    Psi = M @ np.random.default_rng(6).standard_normal((K + 3, D)) + 0.01 * noise
    prog = build_min_norm(Phi, Psi, X, True, eps)
    assert (prog.Q is not None) == (N > K + 3)
    beta = np.linalg.lstsq(M, Psi, rcond=None)[0]
    assert np.linalg.norm(M @ beta - Psi) < 0.5 * eps * np.linalg.norm(Psi)
    rng = np.random.default_rng(5)
    for scale, ok in ((0.9, True), (1.1, False)):
        # a point at relative residual scale * eps along a direction inside col(M) ...
        d = M @ rng.standard_normal((M.shape[1], D))
        r0 = M @ beta - Psi
        # ... found by bisection on t for |r0 + t d| = scale eps |Psi|
        lo, hi = 0.0, 1.0
        while np.linalg.norm(r0 + hi * d) < scale * eps * np.linalg.norm(Psi):
            hi *= 2
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if np.linalg.norm(r0 + mid * d) < scale * eps * np.linalg.norm(Psi):
                lo = mid
            else:
                hi = mid
        b = beta + lo * np.linalg.lstsq(M, d, rcond=None)[0]
        prog.V.value, prog.C.value, prog.c0.value = b[:K], b[K:K + 2], b[K + 2:]
        assert bool(prog.constraint.value()) == ok
