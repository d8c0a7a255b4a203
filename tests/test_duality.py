"""Tests of nnlasso.duality, the one certificate path: the relative gap, the dual point, the
status rule, and the CertifiedResult every program returns (checked against scikit-learn's
Lasso, lam = N alpha, and hand computations)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Lasso

import nnlasso as nl
from nnlasso.affine import affine_basis
from nnlasso.duality import (certified_status, dual_point, gaps, lasso_dual, relative_gap,
                             scaled_dual_value)
from nnlasso.losses import get_loss
from nnlasso.solution import CertifiedResult


def test_relative_gap_is_one_formula():
    assert relative_gap(10.0, 9.0) == pytest.approx(0.1)
    assert relative_gap(-2.0, -4.0) == pytest.approx(0.5)          # max(|P|, |D|) = 4
    assert relative_gap(1e-16, 2e-16) == 0.0                        # rounding: never negative
    assert relative_gap(0.0, 0.0) == 0.0
    assert relative_gap(1.0, -np.inf) == np.inf                     # no feasible dual point
    assert gaps(3.0, -np.inf) == (np.inf, np.inf)
    assert gaps(5.0, 4.0) == (1.0, pytest.approx(0.2))


def test_certified_status_rule():
    assert certified_status("optimal_inaccurate", 1e-9, 1e-8) == "optimal"
    assert certified_status("optimal", 5e-7, 1e-10) == "optimal"    # floor max(tol, 1e-6)
    assert certified_status("optimal", 2e-6, 1e-8) == "optimal_inaccurate"
    assert certified_status("infeasible", 0.0, 1e-8) == "infeasible"


def test_scaled_dual_value():
    sq = get_loss("squared")
    T = np.array([[1.0], [2.0]])
    Q = np.array([[2.0], [0.0]])
    # D(Q / 2) = <Q/2, T> - 1/2 |Q/2|^2 = 1 - 1/2
    assert scaled_dual_value(sq, Q, T, 2.0) == pytest.approx(0.5)
    assert scaled_dual_value(sq, Q, T, 0.5) == pytest.approx(2.0 - 2.0)   # no scaling below 1
    assert scaled_dual_value(sq, Q, T, np.inf) == -np.inf


def test_dual_point_certifies_sklearns_lasso():
    """At scikit-learn's optimum (lam = N alpha, free intercept) nnlasso's dual point is
    feasible (1^T Q = 0, |Phi^T Q|_inf <= lam) and closes the gap; at a worse point its dual
    value is still below the optimum (weak duality)."""
    rng = np.random.default_rng(0)
    N, K, alpha = 80, 12, 0.05
    Phi = rng.standard_normal((N, K))
    y = Phi[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(N) + 3.0
    est = Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(Phi, y)
    lam = N * alpha
    Z = (Phi @ est.coef_ + est.intercept_)[:, None]
    T = y[:, None]
    sq = get_loss("squared")
    basis = affine_basis(None, True, N)
    Q = dual_point(sq, Z, T, basis)
    assert abs(Q.sum()) < 1e-10 * np.abs(Q).sum()
    P = 0.5 * np.sum((y - Z[:, 0]) ** 2) + lam * np.abs(est.coef_).sum()
    D, Qs, ratio = lasso_dual(Phi, T, Z, sq, lam, basis, np.arange(K), np.ones(K))
    assert np.abs(Phi.T @ Qs).max() <= lam * (1 + 1e-12)
    assert ratio == pytest.approx(1.0, abs=1e-6)
    assert relative_gap(P, D) < 1e-9
    Z_bad = Z + 0.3 * rng.standard_normal(Z.shape)
    D_bad = lasso_dual(Phi, T, Z_bad, sq, lam, basis, np.arange(K), np.ones(K))[0]
    assert D_bad <= P + 1e-9 * abs(P)


def test_every_program_returns_a_certified_result():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 2))
    y = np.maximum(X[:, 0], 0.0) + 0.1 * rng.standard_normal(30)
    Phi = nl.sample_neurons(X, 15, seed=0).features(X)
    P, _, _ = nl.sample_patterns(X, 8, seed=0)
    results = [nl.solve_lasso(Phi, y, 0.5, skip="intercept"),
               nl.solve_min_norm(Phi, Phi[:, :3] @ np.ones(3), eps=0.05),
               nl.solve_patterns(X, y, 0.5, P)]
    for res in results:
        assert isinstance(res, CertifiedResult)
        gap, rel = gaps(res.objective, res.dual_objective)
        assert res.gap == pytest.approx(gap, rel=1e-12, abs=1e-15)
        assert res.rel_gap == pytest.approx(rel, rel=1e-12, abs=1e-15)
        assert res.certified == (res.status == "optimal")
        assert res.inner is not None
