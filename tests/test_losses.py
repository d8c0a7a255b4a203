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
          "softmax": np.arange(N) % 3, "hinge": rng.integers(0, 2, N)}
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


# ---------------------------------------------------------------------------------------------
# the hinge loss: CVXPY backends, nnlasso's own gap, the native solver refuses it
# ---------------------------------------------------------------------------------------------

def _hinge_data(seed=0, N=60, K=40):
    r = np.random.default_rng(seed)
    X = r.standard_normal((N, 2))
    y = np.where(X[:, 0] * X[:, 1] + 0.2 * r.standard_normal(N) > 0, 1, -1)
    W = r.standard_normal((2, K))
    W /= np.linalg.norm(W, axis=0)
    Phi = np.maximum(X @ W - 0.5 * r.standard_normal(K), 0.0)
    return X, y, Phi


def _hinge_reference(Phi, y, lam, skip, groups):
    """The hinge program written independently: sum_n pos(1 - y_n z_n) + lam sum_g |V_g|."""
    K = Phi.shape[1]
    V = cp.Variable(K)
    z = Phi @ V
    if skip is not None:
        c0 = cp.Variable()
        z = z + c0
        if not isinstance(skip, str):
            C = cp.Variable(skip.shape[1])
            z = z + skip @ C
    labels = np.arange(K) if groups is None else groups
    pen = sum(cp.norm(V[np.flatnonzero(labels == g)], 2) for g in np.unique(labels))
    prob = cp.Problem(cp.Minimize(cp.sum(cp.pos(1 - cp.multiply(y, z))) + lam * pen))
    prob.solve(solver="CLARABEL")
    return prob.value


@pytest.mark.parametrize("skip", ["intercept", "X", None])
@pytest.mark.parametrize("grouped", [False, True])
def test_hinge_solve_lasso_matches_an_independent_cvxpy_program(skip, grouped):
    X, y, Phi = _hinge_data()
    skip_arg = X if skip == "X" else skip
    groups = np.repeat(np.arange(20), 2) if grouped else None
    lam = 0.05 * nl.lam_max(Phi, y, loss="hinge", skip=skip_arg, groups=groups)
    sol = nl.solve_lasso(Phi, y, lam, loss="hinge", skip=skip_arg, groups=groups, tol=1e-8)
    assert sol.inner == "CLARABEL" and sol.loss == "hinge"  # "auto": a CVXPY backend
    assert sol.status == "optimal" and sol.rel_gap <= 1e-8
    assert sol.objective - sol.dual_objective == pytest.approx(sol.gap, abs=1e-12)
    ref = _hinge_reference(Phi, y, lam, skip_arg, groups)
    assert sol.objective == pytest.approx(ref, rel=1e-6)


def test_hinge_lam_max_and_labels():
    X, y, Phi = _hinge_data(seed=1)
    lm = nl.lam_max(Phi, y, loss="hinge", skip="intercept")
    assert nl.solve_lasso(Phi, y, 1.001 * lm, loss="hinge", skip="intercept").active.size == 0
    assert nl.solve_lasso(Phi, y, 0.99 * lm, loss="hinge", skip="intercept").active.size > 0
    # imbalanced labels: the intercept-only fit puts every positive sample on the margin, where
    # -dL is an interval; lam_max minimizes over it (a least-squares point of it gave 5x lam_max)
    r = np.random.default_rng(1)
    Xb = r.standard_normal((40, 2))
    yb = np.where(r.random(40) < 0.7, 1, -1)
    Pb = np.maximum(Xb @ r.standard_normal((2, 15)), 0.0)
    lm = nl.lam_max(Pb, yb, loss="hinge", skip="intercept")
    assert nl.solve_lasso(Pb, yb, 1.001 * lm, loss="hinge", skip="intercept").active.size == 0
    assert nl.solve_lasso(Pb, yb, 0.99 * lm, loss="hinge", skip="intercept").active.size > 0
    # labels {0, 1} are mapped to {-1, +1}: the same program
    a = nl.solve_lasso(Phi, y, 0.3 * lm, loss="hinge", skip="intercept")
    b = nl.solve_lasso(Phi, (y + 1) // 2, 0.3 * lm, loss="hinge", skip="intercept")
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    with pytest.raises(nl.InvalidProblemError, match="hinge loss needs labels"):
        nl.solve_lasso(Phi, np.arange(60) % 3, 1.0, loss="hinge")


def test_hinge_is_refused_by_the_native_solver():
    X, y, Phi = _hinge_data()
    with pytest.raises(SolverError, match="hinge loss has no smooth_constant.*CLARABEL"):
        nl.solve_lasso(Phi, y, 1.0, loss="hinge", solver="prox")
    assert not prox.supports(get_loss("hinge"))
    assert backends.choose(backends.ProblemSize(10_000, 10_000, 1, "hinge")) is None


def test_hinge_subgradient_and_kinks():
    loss = get_loss("hinge")
    T = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    Z = np.array([[0.3], [0.3], [1.0], [-2.0]])     # margins 0.3, -0.3, 1 (kink), 2
    assert np.array_equal(loss.grad(Z, T), [[-1.0], [1.0], [0.0], [0.0]])
    lo, hi, kink = loss.dual_interval(Z, T, 1e-9)   # -dL/dz = y s, s in [0, 1] at the kink
    assert np.array_equal(lo, [[1.0], [-1.0], [0.0], [0.0]])
    assert np.array_equal(hi, [[1.0], [-1.0], [1.0], [0.0]]) and kink[2, 0] == T[2, 0]
    h = 1e-7                                         # off the kink: the derivative
    for n in (0, 1, 3):
        E = np.zeros_like(Z)
        E[n] = h
        fd = (loss.value(Z + E, T) - loss.value(Z - E, T)) / (2 * h)
        assert fd == pytest.approx(loss.grad(Z, T)[n, 0], abs=1e-6)


def test_hinge_fit_shallow(tmp_path):
    X, y, _ = _hinge_data(seed=2)
    fit = nl.fit_shallow(X, y, 2.0, loss="hinge", n_neurons=30, seed=0)
    assert fit.solution.status == "optimal" and fit.solution.rel_gap <= 1e-8
    ref = _hinge_reference(fit.Phi, y, 2.0, X, None)
    assert fit.objective == pytest.approx(ref, rel=1e-6)
    assert np.mean(np.sign(fit.predict(X)) == y) > 0.8


def test_hinge_problem_file_runs_through_the_batch_runner(tmp_path):
    from nnlasso.batch import run_problem
    p = tmp_path / "hinge.toml"
    p.write_text('schema = 1\ntask = "fit"\n[data]\nsource = "sklearn"\nname = "breast_cancer"\n'
                 'standardize = true\nmax_samples = 80\nseed = 0\n[dictionary]\nkind = "data"\n'
                 'size = 40\nseed = 3\n[model]\nloss = "hinge"\nlam_ratio = 0.1\n'
                 'skip = "intercept"\n')
    rec = run_problem(p)
    assert rec["error"] is None and rec["status"] == "optimal" and rec["loss"] == "hinge"
    assert rec["inner"] == "CLARABEL" and rec["rel_gap"] <= 1e-8


def test_mean_class_loss_is_sklearns_log_loss():
    """The mean logistic / softmax loss of the scores against scikit-learn's log_loss of the
    probabilities sigma(z) / softmax(z) (an independent formula)."""
    from scipy.special import expit, softmax
    from sklearn.metrics import log_loss

    from nnlasso.losses import mean_class_loss
    rng = np.random.default_rng(3)
    z, y = 3 * rng.standard_normal((40, 1)), rng.integers(0, 2, 40)
    p = expit(z[:, 0])
    assert mean_class_loss(z, y) == pytest.approx(log_loss(y, np.column_stack([1 - p, p])),
                                                  rel=1e-12)
    Z, c = 3 * rng.standard_normal((40, 4)), np.arange(40) % 4
    assert mean_class_loss(Z, c) == pytest.approx(log_loss(c, softmax(Z, axis=1)), rel=1e-12)
