"""scripts/cone_barrier_experiment.py (issue 14's all-rows dual barrier, not used by nnlasso):
its block barrier's dual (Psi, omega) and, on a small problem, its certified point against
CVXPY-Clarabel."""

import numpy as np
import pytest
from conftest import load_script

import nnlasso
from nnlasso.patterns.solve import _build

pytest.importorskip("sklearn")


def _problem(n_rows=80, n_patterns=4, lam=0.05):
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:n_rows], y[:n_rows]
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    pats = nnlasso.sample_patterns(X, n_patterns, seed=0)[0]
    prog = _build(X, y, lam, pats, loss="squared", skip=None, cone=True, bias="penalized",
                  solver="CLARABEL", tol=1e-8, options=None, working_set=False)["prog"]
    return X, y, pats, lam, prog


def test_inner_problem_is_the_block_barrier():
    """grad psi_k(c) = v*: finite differences of -min_v Psi_k(v) in c match v*, and
    w(v) = grad omega(v) lies inside the lam-ball."""
    ex = load_script("cone_barrier_experiment")
    _, _, _, _, prog = _problem()
    bar = ex._ConeDual(prog)
    imp = ex._Implicit(bar, 1e-2)
    rng = np.random.default_rng(0)
    C = 0.2 * prog.lam * rng.standard_normal((prog.B, prog.e))
    V, AV, Hs, psi, conv = imp.inner(C, imp.interior())
    assert np.all(conv) and np.all(AV > 0)
    W, sig, _ = imp.omega(V)
    assert np.all(np.linalg.norm(W, axis=1) < prog.lam) and np.allclose(
        sig, prog.lam ** 2 - np.sum(W * W, axis=1), rtol=1e-10)
    d = rng.standard_normal(C.shape)
    h = 1e-6
    Vp, _, _, pp, _ = imp.inner(C + h * d, V)
    Vm, _, _, pm, _ = imp.inner(C - h * d, V)
    fd = (-pp + pm) / (2 * h)                      # d/dh of psi = -min Psi
    assert np.allclose(fd, np.sum(V * d, axis=1), rtol=1e-5, atol=1e-8)


def test_small_problem_certified_against_clarabel():
    ex = load_script("cone_barrier_experiment")
    X, y, pats, lam, prog = _problem()
    out = ex.solve_cone_dual(prog, tol=1e-6, max_newton=200)
    ev = out["ev"]
    scale = float(np.max(np.linalg.norm(out["th"], axis=1)))
    assert ev["max_row_violation"] <= 1e-9 * scale              # theta_k = v_k / t in K_k
    sol = nnlasso.solve_patterns(X, y, lam, pats, cone=True, bias="penalized", skip=None,
                                 solver="CLARABEL", working_set=False)
    assert sol.rel_gap <= 1e-7
    # nnlasso's certificate brackets the optimum from both sides
    assert out["cert"]["dual"] <= sol.objective + 1e-9 * abs(sol.objective)
    assert ev["objective"] >= sol.dual_objective - 1e-9 * abs(sol.objective)
    assert out["rel_gap"] <= 1e-4
    assert abs(ev["objective"] - sol.objective) <= 1e-4 * abs(sol.objective)
