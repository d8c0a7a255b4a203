"""Each loss's calculus (nnlasso.losses) against finite differences, its conjugate (Fenchel-Young),
its CVXPY expression, and the refusal of a loss a solver cannot use."""
import cvxpy as cp
import numpy as np
import pytest

import nnlasso as nl
from nnlasso import backends, prox
from nnlasso.duality import fit_affine
from nnlasso.errors import SolverError
from nnlasso.losses import LOSSES, LogisticLoss, SquaredLoss, get_loss, require

rng = np.random.default_rng(0)
N = 7

#: (loss name, labels) -> T (N, D) through the loss's own encoding
LABELS = {"squared": rng.standard_normal((N, 3)), "logistic": rng.integers(0, 2, N),
          "softmax": np.arange(N) % 3}
SMOOTH = [name for name in LOSSES if get_loss(name).hessian is not None]


def _data(name, seed=1):
    r = np.random.default_rng(seed)
    loss = get_loss(name)
    T = loss.encode(LABELS[name]).T
    return loss, T, r.standard_normal(T.shape)


@pytest.mark.parametrize("name", SMOOTH)
def test_gradient_is_the_derivative_of_the_value(name):
    loss, T, Z = _data(name)
    G = loss.grad(Z, T)
    h = 1e-6
    fd = np.zeros_like(Z)
    for idx in np.ndindex(*Z.shape):
        E = np.zeros_like(Z)
        E[idx] = h
        fd[idx] = (loss.value(Z + E, T) - loss.value(Z - E, T)) / (2 * h)
    assert np.allclose(G, fd, atol=1e-7)


@pytest.mark.parametrize("name", SMOOTH)
def test_hessian_is_the_derivative_of_the_gradient(name):
    """hessian(Z, T, M) is the Hessian of X -> sum_n L(y_n, (M X)_n) in vec(X) (row-major)."""
    loss, T, _ = _data(name)
    D = T.shape[1]
    M = rng.standard_normal((N, 4))
    X = rng.standard_normal((4, D))
    H = loss.hessian(M @ X, T, M)
    h = 1e-6
    fd = np.zeros((4 * D, 4 * D))
    for j in range(4 * D):
        E = np.zeros(4 * D)
        E[j] = h
        E = E.reshape(4, D)
        gp = M.T @ loss.grad(M @ (X + E), T)
        gm = M.T @ loss.grad(M @ (X - E), T)
        fd[:, j] = ((gp - gm) / (2 * h)).ravel()
    assert np.allclose(H, H.T, atol=1e-12)
    assert np.allclose(H, fd, atol=1e-6)


@pytest.mark.parametrize("name", SMOOTH)
def test_smoothness_constant_bounds_the_hessian_and_is_tight(name):
    """lambda_max of the per-sample Hessian <= L_s everywhere, and L_s is attained (softmax:
    1/2 at p = (1/2, 1/2, 0), not the generic 1; logistic: 1/4 at z = 0)."""
    loss, T, _ = _data(name)
    D = T.shape[1]
    e = np.eye(N)[:, :1]  # M = e_1: the Hessian of sample 1 alone
    worst = 0.0
    for _ in range(200):
        Z = 3 * rng.standard_normal(T.shape)
        worst = max(worst, np.linalg.eigvalsh(loss.hessian(Z, T, e))[-1])
    assert worst <= loss.smooth_constant + 1e-12
    Z = np.zeros(T.shape)
    if name == "softmax":
        Z[:, 2] = -60.0  # p = (1/2, 1/2, ~0)
    top = np.linalg.eigvalsh(loss.hessian(Z, T, e))[-1]
    assert top == pytest.approx(loss.smooth_constant, rel=1e-12)
    assert D >= 1


@pytest.mark.parametrize("name", list(LOSSES))
def test_conjugate_fenchel_young(name):
    """L(y, z) + L*(y, u) >= <u, z>, with equality at u = grad L(y, z); dual_value(Q) is
    -L*(y, -Q); outside the domain the conjugate is +inf."""
    loss, T, Z = _data(name)
    G = loss.grad(Z, T)
    assert loss.value(Z, T) + loss.conjugate(G, T) == pytest.approx(float(np.sum(G * Z)),
                                                                     rel=1e-10, abs=1e-12)
    assert loss.dual_value(-G, T) == -loss.conjugate(G, T)
    for seed in range(5):  # other points of the domain: the inequality
        U = loss.grad(np.random.default_rng(seed).standard_normal(Z.shape), T)
        assert loss.value(Z, T) + loss.conjugate(U, T) >= float(np.sum(U * Z)) - 1e-10
    if name != "squared":  # a bounded domain
        assert loss.conjugate(G + 5.0, T) == np.inf


@pytest.mark.parametrize("name", list(LOSSES))
def test_cvxpy_expression_equals_the_value(name):
    loss, T, Z = _data(name)
    assert float(loss.expr(cp.Constant(Z), T).value) == pytest.approx(loss.value(Z, T), rel=1e-9)


def test_label_encoding():
    assert np.array_equal(get_loss("logistic").encode([0, 1, 1]).T[:, 0], [-1, 1, 1])
    t = get_loss("softmax").encode([2, 5, 2])
    assert np.array_equal(t.T, [[1, 0], [0, 1], [1, 0]]) and list(t.classes) == [2, 5]
    with pytest.raises(nl.InvalidProblemError, match="one label per sample"):
        get_loss("softmax").encode(np.eye(3))


class _NoHessian(LogisticLoss):
    """The logistic loss without its Hessian and smoothness constant (a stand-in for a loss
    that has none): before each loss declared its calculus, the solvers fell through to the
    softmax formula for such a loss."""

    name = "logistic-without-hessian"
    hessian = None
    smooth_constant = None


def test_the_native_solver_refuses_a_loss_without_hessian():
    X = rng.standard_normal((30, 4))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(SolverError, match="logistic-without-hessian.*hessian.*CLARABEL"):
        nl.solve_lasso(X, y, 1.0, loss=_NoHessian(), solver="prox")
    with pytest.raises(SolverError, match="smooth_constant"):
        require(_NoHessian(), prox.NEEDS, "solver='prox'")
    assert prox.supports(LogisticLoss()) and not prox.supports(_NoHessian())
    # fit_affine's damped Newton needs the Hessian too (no silent softmax formula)
    T = LogisticLoss().encode(y).T
    with pytest.raises(SolverError, match="hessian"):
        fit_affine(_NoHessian(), T, np.zeros_like(T), np.ones((30, 1)))
    # a CVXPY backend solves it, with nnlasso's own gap
    sol = nl.solve_lasso(X, y, 1.0, loss=_NoHessian(), solver="CLARABEL", skip=None)
    ref = nl.solve_lasso(X, y, 1.0, loss="logistic", solver="CLARABEL", skip=None)
    assert sol.objective == pytest.approx(ref.objective, rel=1e-7)


def test_affine_fit_least_squares_for_the_squared_loss():
    A = rng.standard_normal((N, 2))
    T = rng.standard_normal((N, 2))
    B = fit_affine(SquaredLoss(), T, np.zeros_like(T), A)
    assert np.allclose(A.T @ (A @ B - T), 0, atol=1e-12)


def test_auto_never_picks_the_native_solver_for_a_loss_it_refuses(monkeypatch):
    big = backends.ProblemSize(10_000, 10_000, 1, "logistic")
    assert backends.choose(big) == backends.NATIVE
    monkeypatch.setitem(LOSSES, "logistic", _NoHessian)
    assert backends.choose(big) is None
