"""solve_lasso / lasso_path / lam_max / solve_min_norm against independent references."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from sklearn.datasets import load_linnerud
from sklearn.linear_model import Lasso, MultiTaskLasso

import nnlasso as nl
from nnlasso import backends
from conftest import relu_features
from nnlasso.lasso import LassoProblem


def problem(seed=0, N=50, d=3, K=40, D=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, d))
    Phi = relu_features(X, K, seed + 100)
    Y = rng.standard_normal((N, D))
    return X, Phi, Y


def primal(Phi, Y, V, lam, Z=None):
    Z = Phi @ V if Z is None else Z
    return 0.5 * np.sum((Y - Z) ** 2) + lam * np.linalg.norm(V, axis=1).sum()


def linnerud_problem():
    data = load_linnerud()
    X = data.data.astype(float)
    X = (X - X.mean(0)) / X.std(0)
    Y = data.target.astype(float)
    Y = (Y - Y.mean(0)) / Y.std(0)
    return X, relu_features(X, 30, 7), Y


CASES = [problem(0), problem(1, N=80, K=30, D=1), problem(2, N=30, K=60, D=4), linnerud_problem()]
#: the default CVXPY backend and nnlasso's native working-set solver
SOLVERS = ["CLARABEL", "prox"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("ratio", [0.5, 0.1])
def test_matches_sklearn_multitask(case, ratio, solver):
    X, Phi, Y = CASES[case]
    N = Phi.shape[0]
    lam = ratio * nl.lam_max(Phi, Y)
    sol = nl.solve_lasso(Phi, Y, lam, solver=solver)
    if Y.shape[1] == 1:
        ref = Lasso(alpha=lam / N, fit_intercept=False, tol=1e-12, max_iter=10**6).fit(Phi, Y[:, 0])
        Vr = ref.coef_[:, None]
    else:
        ref = MultiTaskLasso(alpha=lam / N, fit_intercept=False, tol=1e-12,
                             max_iter=10**6).fit(Phi, Y)
        Vr = ref.coef_.T
    pr = primal(Phi, Y, Vr, lam)
    assert abs(sol.objective - pr) / pr <= 1e-6
    assert abs(sol.objective - primal(Phi, Y, sol.V, lam)) <= 1e-9 * pr  # recomputed objective
    # interior-point solvers leave tiny nonzeros: compare supports above a relative 1e-4
    ours = set(np.flatnonzero(np.linalg.norm(sol.V, axis=1) > 1e-4 * np.abs(sol.V).max()))
    theirs = set(np.flatnonzero(np.linalg.norm(Vr, axis=1) > 1e-4 * np.abs(Vr).max()))
    assert ours == theirs
    assert sol.rel_gap <= 1e-6 and sol.gap >= -1e-9 * pr


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("skip", ["X", "intercept"])
def test_skip_matches_sklearn_on_projected_data(skip, solver):
    X, Phi, Y = problem(3, N=60, K=35, D=2)
    N = Phi.shape[0]
    A = np.hstack([X, np.ones((N, 1))]) if skip == "X" else np.ones((N, 1))
    P = np.eye(N) - A @ np.linalg.pinv(A)
    arg = X if skip == "X" else "intercept"
    lam = 0.2 * nl.lam_max(Phi, Y, skip=arg)
    sol = nl.solve_lasso(Phi, Y, lam, skip=arg, solver=solver)
    ref = MultiTaskLasso(alpha=lam / N, fit_intercept=False, tol=1e-12, max_iter=10**6)
    ref.fit(P @ Phi, P @ Y)
    Vr = ref.coef_.T
    pr = primal(P @ Phi, P @ Y, Vr, lam)
    assert abs(sol.objective - pr) / pr <= 1e-6
    # the returned skip is the best affine fit of the residual
    assert (sol.skip_coef is not None) == (skip == "X")
    assert sol.intercept is not None
    R = Y - sol.fitted(Phi, X)
    assert np.allclose(A.T @ R, 0, atol=1e-8 * np.abs(Y).sum())


@pytest.mark.parametrize("solver", backends.installed() + ["prox"])
def test_gap_and_kkt_every_backend(solver):
    for (X, Phi, Y), skip in zip(CASES[:3] * 2, [None] * 3 + ["intercept", "X", "intercept"]):
        skip = X if skip == "X" else skip
        if solver == "OSQP":
            Y = Y[:, :1]
        lam = 0.1 * nl.lam_max(Phi, Y, skip=skip)
        sol = nl.solve_lasso(Phi, Y, lam, solver=solver, skip=skip)
        assert sol.rel_gap <= 1e-6, (solver, sol)
        assert sol.status == "optimal"
        assert sol.gap >= -1e-9 * abs(sol.objective)
        assert set(sol.times) >= {"build", "compile", "solve", "total"}
        q = Y - sol.fitted(Phi, X if isinstance(skip, np.ndarray) else None)
        if skip is not None:          # the free affine part is fitted exactly: A^T q = 0
            A = np.ones((len(Y), 1)) if isinstance(skip, str) else np.hstack([X, np.ones((len(Y), 1))])
            assert np.abs(A.T @ q).max() <= 1e-6 * np.abs(Y).sum()
        corr = Phi.T @ q
        norms = np.linalg.norm(corr, axis=1)
        assert norms.max() <= lam * (1 + 1e-6)
        big = np.linalg.norm(sol.V, axis=1) > 1e-3 * np.abs(sol.V).max()
        # equality and alignment on the active rows: Phi_k^T q = lam v_k / |v_k|
        Vn = sol.V[big] / np.linalg.norm(sol.V[big], axis=1, keepdims=True)
        assert np.allclose(corr[big], lam * Vn, atol=1e-3 * lam)


@pytest.mark.parametrize("solver", SOLVERS)
def test_lam_max_is_the_threshold(solver):
    X, Phi, Y = problem(4)
    for skip in (None, "intercept", X):
        lm = nl.lam_max(Phi, Y, skip=skip)
        above = nl.solve_lasso(Phi, Y, lm * 1.001, skip=skip, solver=solver)
        below = nl.solve_lasso(Phi, Y, lm * 0.95, skip=skip, solver=solver)
        assert np.abs(above.V).max() <= 1e-6 * np.abs(Y).max()
        assert np.abs(below.V).max() > 1e-4
        # above lam_max the optimum is V = 0: no neuron is active (not solver rounding noise)
        assert above.active.size == 0 and above.status == "optimal"
        assert below.active.size > 0


def test_no_active_neurons_above_lam_max_every_loss():
    X, Phi, Y = problem(5, D=1)
    y01 = (Y[:, 0] > 0).astype(int)
    labels = np.digitize(Y[:, 0], [-0.5, 0.5])
    for loss, T in (("squared", Y), ("logistic", y01), ("softmax", labels)):
        lm = nl.lam_max(Phi, T, loss=loss, skip="intercept")
        sol = nl.solve_lasso(Phi, T, 1.5 * lm, loss=loss, skip="intercept")
        assert sol.active.size == 0 and np.all(sol.V == 0)
        assert sol.rel_gap <= 1e-8
        # the zero network's objective is the intercept-only fit, in closed form
        if loss == "squared":
            ref = 0.5 * np.sum((T - T.mean(0)) ** 2)
        else:
            freq = np.bincount(T) / T.size
            ref = -np.sum(np.log(freq[T]))
        assert sol.objective == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("solver", [s for s in backends.installed() if s != "OSQP"])
def test_classification_and_groups_certified_on_every_backend(solver):
    X, Phi, Y = problem(12, N=40, K=24, D=1)
    y01 = (Y[:, 0] > 0).astype(int)
    labels = np.digitize(Y[:, 0], [-0.5, 0.5])
    groups = np.repeat(np.arange(8), 3)
    for loss, T, g in (("logistic", y01, None), ("logistic", 2 * y01 - 1, groups),
                       ("softmax", labels, groups), ("squared", Y, groups)):
        lam = 0.2 * nl.lam_max(Phi, T, loss=loss, skip="intercept") if g is None else \
            0.5 * nl.lam_max(Phi, T, loss=loss, skip="intercept")
        sol = nl.solve_lasso(Phi, T, lam, loss=loss, skip="intercept", groups=g, solver=solver)
        assert sol.status == "optimal" and sol.rel_gap <= 1e-6, (solver, loss, sol)
    # {-1, +1} and {0, 1} logistic labels are the same problem
    a = nl.solve_lasso(Phi, y01, 1.0, loss="logistic", skip="intercept", solver=solver)
    b = nl.solve_lasso(Phi, 2 * y01 - 1, 1.0, loss="logistic", skip="intercept", solver=solver)
    assert a.objective == pytest.approx(b.objective, rel=1e-7)


@pytest.mark.parametrize("solver", SOLVERS)
def test_logistic_matches_dual_formulation(solver):
    X, Phi, Y = problem(5, N=60, K=30, D=1)
    y = (Y[:, 0] > 0).astype(int)
    lam = 0.2 * nl.lam_max(Phi, y, loss="logistic", skip="intercept")
    sol = nl.solve_lasso(Phi, y, lam, loss="logistic", skip="intercept", solver=solver)
    # dual: max sum H(s)  s.t. q = ys, 0 <= s <= 1, |Phi^T q|_inf <= lam, 1^T q = 0
    ypm = 2.0 * y - 1
    s = cp.Variable(len(y))
    q = cp.multiply(ypm, s)
    dual = cp.Problem(cp.Maximize(cp.sum(cp.entr(s) + cp.entr(1 - s))),
                      [s >= 0, s <= 1, cp.abs(Phi.T @ q) <= lam, cp.sum(q) == 0])
    dual.solve(solver="CLARABEL")
    assert abs(sol.objective - dual.value) / abs(dual.value) <= 1e-6
    assert sol.rel_gap <= 1e-6
    # primal value recomputed here from the returned variables
    z = sol.fitted(Phi)[:, 0]
    mine = np.sum(np.logaddexp(0, -ypm * z)) + lam * np.abs(sol.V).sum()
    assert abs(mine - sol.objective) <= 1e-9 * mine


@pytest.mark.parametrize("solver", SOLVERS)
def test_softmax_matches_dual_formulation(solver):
    X, Phi, _ = problem(6, N=60, K=30, D=1)
    y = np.random.default_rng(6).integers(0, 3, 60)
    lam = 0.2 * nl.lam_max(Phi, y, loss="softmax", skip=X)
    sol = nl.solve_lasso(Phi, y, lam, loss="softmax", skip=X, solver=solver)
    Tm = np.eye(3)[y]
    P = cp.Variable((60, 3))
    Q = Tm - P
    A = np.hstack([X, np.ones((60, 1))])
    dual = cp.Problem(cp.Maximize(cp.sum(cp.entr(P))),
                      [P >= 0, cp.sum(P, axis=1) == 1, cp.norm(Phi.T @ Q, 2, axis=1) <= lam,
                       A.T @ Q == 0])
    dual.solve(solver="CLARABEL")
    assert abs(sol.objective - dual.value) / abs(dual.value) <= 1e-6
    assert sol.rel_gap <= 1e-6
    assert sol.V.shape == (30, 3)
    assert list(sol.info["classes"]) == [0, 1, 2]


@pytest.mark.parametrize("solver", SOLVERS)
def test_group_lasso_against_direct_formulation(solver):
    X, Phi, Y = problem(7, N=50, K=24, D=2)
    labels = np.arange(24) % 5  # 5 groups of sizes 5,5,5,5,4, interleaved rows
    w = np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    lam = 2.0
    sol = nl.solve_lasso(Phi, Y, lam, groups=labels, weights=w, skip="intercept", solver=solver)
    V = cp.Variable((24, 2))
    c = cp.Variable((1, 2))
    pen = sum(w[g] * cp.norm(V[np.flatnonzero(labels == g), :], "fro") for g in range(5))
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - Phi @ V - np.ones((50, 1)) @ c)
                                 + lam * pen))
    ref.solve(solver="SCS", eps_abs=1e-10, eps_rel=1e-10)
    assert abs(sol.objective - ref.value) / ref.value <= 1e-6
    assert sol.rel_gap <= 1e-6
    # the same groups given as index lists
    sol2 = nl.solve_lasso(Phi, Y, lam, groups=[np.flatnonzero(labels == g) for g in range(5)],
                          weights=w, skip="intercept", solver=solver)
    assert abs(sol2.objective - sol.objective) <= 1e-7 * sol.objective


def test_lasso_path_compiles_once_and_matches_single_solves():
    X, Phi, Y = problem(8)
    lm = nl.lam_max(Phi, Y, skip=X)
    lams = lm * np.array([0.8, 0.4, 0.2, 0.1])
    path = nl.lasso_path(Phi, Y, lams, skip=X, solver="CLARABEL")
    assert [s.info["compiled"] for s in path] == [True, False, False, False]
    for lam, s in zip(lams, path):
        one = nl.solve_lasso(Phi, Y, lam, skip=X)
        assert s.lam == lam
        assert abs(s.objective - one.objective) <= 1e-7 * one.objective
        assert s.rel_gap <= 1e-6


def test_lasso_path_prox_matches_single_solves():
    X, Phi, Y = problem(8)
    lm = nl.lam_max(Phi, Y, skip=X)
    lams = lm * np.array([0.8, 0.4, 0.2, 0.1])
    path = nl.lasso_path(Phi, Y, lams, skip=X, solver="prox")
    for lam, s in zip(lams, path):
        one = nl.solve_lasso(Phi, Y, lam, skip=X)
        assert s.lam == lam and s.solver == "PROX" and s.status == "optimal"
        assert abs(s.objective - one.objective) <= 1e-7 * one.objective
        assert s.rel_gap <= 1e-8


@pytest.mark.parametrize("case", ["groups_skipX_D1", "clarabel_working_sets", "no_skip"])
def test_lasso_path_native_checks_match_single_solves(case):
    """Paths whose KKT checks use cached Gram columns (squared loss): general groups with the
    X skip and one output, a CVXPY backend on working sets, no skip at all. Each value equals an
    independent single solve and is certified (gap <= tol * objective)."""
    X, Phi, Y = problem(21, N=70, K=60, D=1 if case == "groups_skipX_D1" else 3)
    kw = {"solver": "prox"}
    if case == "groups_skipX_D1":
        labels = np.arange(60) % 15
        kw.update(skip=X, groups=labels, weights=1.0 + (np.arange(15) % 3))
        Y = Y[:, 0]
    elif case == "clarabel_working_sets":
        kw.update(skip="intercept", solver="CLARABEL", working_set=True)
    lm = nl.lam_max(Phi, Y, **{k: v for k, v in kw.items() if k in ("skip", "groups",
                                                                     "weights")})
    lams = lm * np.geomspace(0.95, 0.02, 7)
    path = nl.lasso_path(Phi, Y, lams, tol=1e-9, **kw)
    single = {k: v for k, v in kw.items() if k != "working_set"}
    single["solver"] = "CLARABEL"
    prob = LassoProblem(Phi, Y, "squared", kw.get("skip"), kw.get("groups"), kw.get("weights"))
    for lam, s in zip(lams, path):
        assert s.status == "optimal" and s.gap <= 1e-9 * s.objective
        # the reported KKT ratio against the direct product Phi^T q of lasso_dual
        assert abs(s.info["kkt_ratio"] - prob.certify(s.V, None, lam)[3]) <= 1e-9
        one = nl.solve_lasso(Phi, Y, lam, tol=1e-9, **single)
        assert abs(s.objective - one.objective) <= 1e-7 * one.objective


@pytest.mark.parametrize("skip", [None, "X"])
def test_min_norm_equality_and_dual(skip):
    X, Phi, _ = problem(9, N=40, K=30, D=3)
    rng = np.random.default_rng(9)
    V0 = np.zeros((30, 3))
    V0[rng.choice(30, 6, replace=False)] = rng.standard_normal((6, 3))
    Psi = Phi @ V0 + (X @ rng.standard_normal((3, 3)) + 0.5 if skip else 0)
    arg = X if skip else None
    sol = nl.solve_min_norm(Phi, Psi, skip=arg)
    assert np.linalg.norm(sol.fitted(Phi, X) - Psi) <= 1e-7 * np.linalg.norm(Psi)
    # independent dual: max <L, Psi> s.t. |Phi_k^T L| <= 1 (and A^T L = 0 with the skip)
    L = cp.Variable((40, 3))
    cons = [cp.norm(Phi.T @ L, 2, axis=1) <= 1]
    if skip:
        cons.append(np.hstack([X, np.ones((40, 1))]).T @ L == 0)
    dual = cp.Problem(cp.Maximize(cp.sum(cp.multiply(L, Psi))), cons)
    dual.solve(solver="CLARABEL")
    assert abs(sol.objective - dual.value) / dual.value <= 1e-6
    assert sol.objective <= np.linalg.norm(V0, axis=1).sum() + 1e-9
    assert sol.rel_gap <= 1e-6


def test_min_norm_tolerance_form():
    X, Phi, _ = problem(10, N=40, K=30, D=2)
    Psi = Phi @ np.random.default_rng(10).standard_normal((30, 2))
    exact = nl.solve_min_norm(Phi, Psi)
    loose = nl.solve_min_norm(Phi, Psi, eps=0.2)
    assert loose.info["residual"] <= 0.2 * (1 + 1e-6)
    assert loose.objective < exact.objective
    V = cp.Variable((30, 2))
    ref = cp.Problem(cp.Minimize(cp.sum(cp.norm(V, 2, axis=1))),
                     [cp.norm(Phi @ V - Psi, "fro") <= 0.2 * np.linalg.norm(Psi)])
    ref.solve(solver="SCS", eps_abs=1e-10, eps_rel=1e-10)
    assert abs(loose.objective - ref.value) / ref.value <= 1e-5
    assert loose.rel_gap <= 1e-5
    # nnlasso's status comes from its certificate (CLARABEL itself reports "inaccurate" here)
    assert exact.status == "optimal" and loose.status == ("optimal" if loose.rel_gap <= 1e-6
                                                          else "optimal_inaccurate")
    with_skip = nl.solve_min_norm(Phi, Psi, eps=0.1, skip=X)
    assert with_skip.info["residual"] <= 0.1 * (1 + 1e-6) and with_skip.rel_gap <= 1e-6
    assert with_skip.status == "optimal"


# ---------------------------------------------------------------- errors
def test_errors_bad_data():
    X, Phi, Y = problem(11)
    bad = Phi.copy()
    bad[0, 0] = np.nan
    with pytest.raises(nl.InvalidProblemError, match="NaN"):
        nl.solve_lasso(bad, Y, 1.0)
    bad[0, 0] = np.inf
    with pytest.raises(nl.InvalidProblemError, match="infinite"):
        nl.solve_lasso(bad, Y, 1.0)
    Ybad = Y.copy()
    Ybad[3, 1] = np.nan
    with pytest.raises(nl.InvalidProblemError, match="Y"):
        nl.solve_lasso(Phi, Ybad, 1.0)
    with pytest.raises(nl.InvalidProblemError, match="rows"):
        nl.solve_lasso(Phi, Y[:-1], 1.0)
    with pytest.raises(nl.InvalidProblemError, match="rows"):
        nl.solve_lasso(Phi, Y, 1.0, skip=X[:-2])
    with pytest.raises(nl.InvalidProblemError, match="empty"):
        nl.solve_lasso(np.zeros((0, 3)), np.zeros(0), 1.0)
    with pytest.raises(nl.InvalidProblemError, match="2-D"):
        nl.solve_lasso(Phi[0], Y, 1.0)
    for lam in (0.0, -1.0, np.nan, "a"):
        with pytest.raises(nl.InvalidProblemError, match="lam"):
            nl.solve_lasso(Phi, Y, lam)


def test_errors_loss_and_labels():
    X, Phi, Y = problem(12)
    with pytest.raises(nl.InvalidProblemError, match="unknown loss"):
        nl.solve_lasso(Phi, Y, 1.0, loss="huber")
    with pytest.raises(nl.InvalidProblemError, match="0, 1"):
        nl.solve_lasso(Phi, np.arange(50) % 3, 1.0, loss="logistic")
    with pytest.raises(nl.InvalidProblemError, match="integer"):
        nl.solve_lasso(Phi, Y[:, 0], 1.0, loss="softmax")
    with pytest.raises(nl.InvalidProblemError, match="two classes"):
        nl.solve_lasso(Phi, np.zeros(50, dtype=int), 1.0, loss="softmax")
    with pytest.raises(nl.InvalidProblemError, match="groups"):
        nl.solve_lasso(Phi, Y, 1.0, groups=[0, 1])
    with pytest.raises(nl.InvalidProblemError, match="weights"):
        nl.solve_lasso(Phi, Y, 1.0, weights=-np.ones(40))
    with pytest.raises(nl.InvalidProblemError, match="skip"):
        nl.solve_lasso(Phi, Y, 1.0, skip="bias")


def test_errors_solvers(monkeypatch):
    X, Phi, Y = problem(13)
    with pytest.raises(nl.SolverError, match="installed"):
        nl.solve_lasso(Phi, Y, 1.0, solver="GUROBI_X")
    with pytest.raises(nl.SolverError, match="quadratic"):
        nl.solve_lasso(Phi, Y, 1.0, solver="OSQP")
    monkeypatch.setattr(backends, "installed", lambda: ["CLARABEL", "SCS"])
    with pytest.raises(nl.SolverError, match="ECOS is not installed.*CLARABEL"):
        nl.solve_lasso(Phi, Y, 1.0, solver="ECOS")
    assert backends.resolve("auto") == "CLARABEL"


def test_solver_failure_is_typed(monkeypatch):
    X, Phi, Y = problem(14)

    def boom(self, *a, **k):
        raise cp.error.SolverError("simulated crash")

    monkeypatch.setattr(cp.Problem, "solve", boom)
    # the penalized lasso is finished by the native solver, and the failure is recorded
    sol = nl.solve_lasso(Phi, Y, 1.0, solver="CLARABEL")
    assert (sol.solver, sol.inner, sol.fallback) == ("CLARABEL", "CLARABEL", "PROX")
    assert "simulated crash" in sol.info["fallback"]["error"] and sol.status == "optimal"
    # (MIN) has no native solver: the typed error says what to do
    with pytest.raises(nl.SolverError, match="simulated crash.*rescale the data"):
        nl.solve_min_norm(Phi, Phi @ np.ones((Phi.shape[1], 3)), solver="CLARABEL")


def test_min_norm_errors():
    X, Phi, _ = problem(15, N=60, K=20, D=2)
    Psi = np.random.default_rng(0).standard_normal((60, 2))  # not in the span of 20 columns
    with pytest.raises(nl.InvalidProblemError, match="eps > 0"):
        nl.solve_min_norm(Phi, Psi)
    with pytest.raises(nl.InvalidProblemError, match="eps"):
        nl.solve_min_norm(Phi, Psi, eps=-0.1)
    with pytest.raises(nl.InvalidProblemError, match="increase eps"):
        nl.solve_min_norm(Phi, Psi, eps=1e-3)


def test_one_dimensional_targets_and_fitted():
    X, Phi, Y = problem(16, D=1)
    sol = nl.solve_lasso(Phi, Y[:, 0], 1.0, skip=X)
    assert sol.V.shape == (40, 1)
    assert sol.fitted(Phi, X).shape == (50, 1)
    with pytest.raises(nl.InvalidProblemError, match="skip"):
        sol.fitted(Phi)
    assert "active" in sol.summary()


def _products(expr) -> int:
    """Matrix products in a CVXPY expression tree."""
    from cvxpy.atoms.affine.binary_operators import MulExpression
    return int(isinstance(expr, MulExpression)) + sum(_products(a) for a in expr.args)


@pytest.mark.parametrize("sizes", [[60], [1] * 60, [2] * 30, list(range(1, 11)) + [5]])
def test_group_program_has_one_product_per_size_class(sizes):
    """Vectorized formulation: the data term has one product per distinct group size (not per
    group, not per member), and the program still matches the single-row formulation below."""
    from nnlasso.programs import GroupStructure, build_lasso
    X, Phi, Y = problem(13, N=40, K=sum(sizes), D=2)
    ids = np.repeat(np.arange(len(sizes)), sizes)
    prog = build_lasso(Phi, Y, nl.get_loss("squared"), None, True,
                       GroupStructure(ids, np.ones(len(sizes))), 0.5)
    n_classes = len(set(sizes))
    # per size class: the data product and the weighted norm sum; + 3 for the intercept and
    # the loss (with one term per member, one group of 60 rows had 64)
    assert _products(prog.problem.objective) == 2 * n_classes + 3
    sol = nl.solve_lasso(Phi, Y, 0.5, skip="intercept", groups=ids)
    V = cp.Variable((Phi.shape[1], 2))
    c = cp.Variable((1, 2))
    pen = sum(cp.norm(cp.vec(V[ids == g], order="C"), 2) for g in range(len(sizes)))
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - Phi @ V - np.ones((40, 1)) @ c)
                                 + 0.5 * pen))
    ref.solve(solver="CLARABEL")
    assert sol.objective == pytest.approx(ref.value, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# defaults: solver="auto" everywhere, and which backend did the work
# ---------------------------------------------------------------------------------------------

def test_default_solver_is_auto_and_records_the_backend():
    """Default calls take "auto": the native solver on a large program, CLARABEL on a small one;
    the Solution says what was asked for (solver), what did the work (inner) and fallback."""
    rng = np.random.default_rng(21)
    X = rng.standard_normal((120, 3))
    Phi = relu_features(X, 300, 7)
    y = X[:, 0] - np.maximum(X[:, 1], 0) + 0.1 * rng.standard_normal(120)
    lam = 0.05 * nl.lam_max(Phi, y, skip=X)
    big = nl.solve_lasso(Phi, y, lam, skip=X)
    ref = nl.solve_lasso(Phi, y, lam, skip=X, solver="CLARABEL")
    assert (big.solver, big.inner, big.fallback) == ("auto", "PROX", None)
    assert (ref.solver, ref.inner, ref.fallback) == ("CLARABEL", "CLARABEL", None)
    assert big.status == "optimal" and big.objective == pytest.approx(ref.objective, rel=1e-7)
    small = nl.solve_lasso(Phi[:30, :10], y[:30], 0.5, skip="intercept")
    assert (small.solver, small.inner) == ("auto", "CLARABEL")
    path = nl.lasso_path(Phi, y, [2 * lam, lam], skip=X)
    assert [(s.solver, s.inner) for s in path] == [("auto", "PROX")] * 2
    assert path[1].objective == pytest.approx(big.objective, rel=1e-9)
    assert "auto -> PROX" in big.summary()


def test_fallback_field_mirrors_the_fallback_record():
    """Solution.fallback names the backend recorded in info["fallback"] (a native loop that
    stalled and was finished by CLARABEL), and is None when nothing took over."""
    X, Phi, Y = problem(22, N=60, K=150, D=2)
    lam = 0.02 * nl.lam_max(Phi, Y, skip=X)
    prob = LassoProblem(Phi, Y, "squared", X, None, None)
    sol = nl.solve_lasso(Phi, Y, lam, skip=X, solver="prox")
    assert sol.fallback == (sol.info["fallback"]["inner"] if "fallback" in sol.info else None)
    B = np.zeros((X.shape[1] + 1, 2))
    times = {"total": 0.0}
    rec = prob.finish(sol.V, B, lam, "optimal", "PROX", times, 1e-6,
                      {"fallback": {"inner": "CLARABEL", "reason": "stalled"}}, polish=False)
    assert (rec.solver, rec.inner, rec.fallback) == ("PROX", "PROX", "CLARABEL")
    assert "(fallback CLARABEL)" in rec.summary()
    plain = prob.finish(sol.V, B, lam, "optimal", "PROX", times, 1e-6, {}, polish=False)
    assert plain.fallback is None


def test_min_norm_default_auto_scs_then_clarabel(monkeypatch):
    """(MIN) with solver="auto" (eps > 0 and eps = 0): SCS (measured faster), CLARABEL taking
    over when SCS's point is not certified. Checked against an explicit CLARABEL solve."""
    X, Phi, _ = problem(23, N=60, K=40, D=2)
    Psi = Phi @ np.random.default_rng(0).standard_normal((40, 2))
    ref = nl.solve_min_norm(Phi, Psi, eps=0.05, solver="CLARABEL")
    sol = nl.solve_min_norm(Phi, Psi, eps=0.05)
    assert (sol.solver, sol.inner, sol.fallback) == ("auto", "SCS", None)
    assert sol.status == "optimal" and sol.objective == pytest.approx(ref.objective, rel=1e-6)
    exact_ref = nl.solve_min_norm(Phi, Psi, solver="CLARABEL")
    exact = nl.solve_min_norm(Phi, Psi)
    assert (exact.solver, exact.inner, exact.fallback) == ("auto", "SCS", None)
    assert exact.status == "optimal" and exact.info["residual"] <= 1e-7
    assert exact.objective == pytest.approx(exact_ref.objective, rel=1e-6)
    # an SCS run that stops early is not certified: CLARABEL takes over
    real = backends.tolerance_options
    monkeypatch.setattr(backends, "tolerance_options",
                        lambda s, t: {**real(s, t), "max_iters": 5} if s == "SCS" else real(s, t))
    slow = nl.solve_min_norm(Phi, Psi, eps=0.05)
    assert (slow.solver, slow.inner, slow.fallback) == ("auto", "SCS", "CLARABEL")
    assert slow.info["fallback"]["failed"] == "SCS"
    assert slow.status == "optimal" and slow.objective == pytest.approx(ref.objective, rel=1e-6)
    slow_exact = nl.solve_min_norm(Phi, Psi)
    assert (slow_exact.inner, slow_exact.fallback) == ("SCS", "CLARABEL")
    assert slow_exact.objective == pytest.approx(exact_ref.objective, rel=1e-6)


@pytest.mark.parametrize("case", ["data_1e10", "lam_1e12"])
def test_badly_scaled_programs_are_solved_by_default(case):
    """Data scaled by 1e10, or lam = 1e12 lam_max: CLARABEL reports infeasible / fails; the
    default call succeeds with a certified gap, and solver="CLARABEL" either succeeds through
    the recorded native fallback or names the solver that works."""
    X, Phi, Y = problem(5, N=50, K=20, D=1)
    if case == "data_1e10":
        Phi, Y, ratio = Phi * 1e10, Y * 1e10, 0.1
    else:
        ratio = 1e12
    lam = ratio * nl.lam_max(Phi, Y, skip=X)
    sol = nl.solve_lasso(Phi, Y, lam, skip=X)
    assert sol.solver == "auto" and sol.status == "optimal" and sol.rel_gap <= 1e-6
    assert 0 <= sol.gap <= 1e-6 * abs(sol.objective)
    # an independent reference: the same program on data scaled back to order 1
    s = 1e10 if case == "data_1e10" else 1.0
    ref = nl.solve_lasso(Phi / s, Y / s, lam / s ** 2, skip=X, solver="prox")
    assert sol.objective / s ** 2 == pytest.approx(ref.objective, rel=1e-7)
    try:
        named = nl.solve_lasso(Phi, Y, lam, skip=X, solver="CLARABEL")
    except nl.SolverError as exc:
        assert "prox" in str(exc) and "rescale" in str(exc)
    else:
        # data at 1e10 are solved at order one (exact power-of-two rescaling): CLARABEL
        # itself succeeds; a huge lam goes through the recorded native fallback
        assert named.fallback == ("PROX" if case == "lam_1e12" else None)
        assert named.status == "optimal"
        assert named.objective == pytest.approx(sol.objective, rel=1e-7)
    path = nl.lasso_path(Phi, Y, [lam, lam / 2], skip=X, solver="CLARABEL")
    assert all(p.status == "optimal" and p.fallback in (None, "PROX") for p in path)


# ---------------------------------------------------------------------------------------------
# the memory guard of the Python API (nnlasso.memory, shared with the batch runner)
# ---------------------------------------------------------------------------------------------

def test_memory_guard_refuses_before_allocating(monkeypatch):
    """Over the cap, the API refuses at once with the size, the cap and the fix; the estimate
    is the batch runner's (one function)."""
    import time
    from nnlasso import memory, spec
    assert spec.estimate_memory is memory.estimate_memory
    assert spec.max_memory_default is memory.max_memory_default
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 5))
    y = rng.standard_normal(3000)
    t0 = time.perf_counter()
    with pytest.raises(nl.InvalidProblemError) as err:
        nl.fit_shallow(X, y, 1.0, n_neurons=200_000)     # 3000 x 200000 features: 19 GiB
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert msg.startswith("n_neurons:") and "GiB" in msg and "4.0 GiB" in msg
    assert "lower n_neurons" in msg and "NNLASSO_MAX_MEMORY_MB" in msg
    # the same guard before a CVXPY program; the native solver is not refused
    monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", "1")
    X2, Phi, Y = problem(30, N=200, K=150, D=2)
    with pytest.raises(nl.InvalidProblemError, match="solver: .*'prox'.*NNLASSO_MAX_MEMORY_MB"):
        nl.solve_lasso(Phi, Y, 1.0, solver="CLARABEL")
    assert nl.solve_lasso(Phi, Y, 1.0, solver="prox").status == "optimal"
    with pytest.raises(nl.InvalidProblemError, match="Phi: .*over the memory cap of 0.0 GiB"):
        nl.solve_min_norm(Phi, Phi @ np.ones((150, 2)), eps=0.1)
    P = rng.random((500, 200)) > 0.5
    with pytest.raises(nl.InvalidProblemError, match="patterns: "):
        nl.solve_patterns(rng.standard_normal((200, 3)), rng.standard_normal(200), 1.0, P[:, :200])
    with pytest.raises(nl.InvalidProblemError, match="dictionary: "):
        nl.representer.column_generation(X[:400], y[:400], 1.0, n_init=2000)
    # the batch runner's --max-memory also governs the library calls it makes
    with memory.memory_cap(2**40):
        assert memory.max_memory_default() == 2**40
    assert memory.max_memory_default() == 2**20


def test_memory_guard_names_the_regressor_for_many_classes():
    """Integer regression targets given as 214 softmax classes: refused in well under a second
    before the CVXPY program (x 25 for its exponential cones), naming the regression fix."""
    import time
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)
    Phi = np.maximum(X @ np.random.default_rng(0).standard_normal((10, 300)), 0)
    t0 = time.perf_counter()
    with pytest.raises(nl.InvalidProblemError, match="214 classes.*ConvexReLURegressor"):
        nl.solve_lasso(Phi, y.astype(int), 1.0, loss="softmax", skip="intercept",
                       solver="CLARABEL")
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("solver", ["auto", "prox", "CLARABEL"])
@pytest.mark.parametrize("a,b", [(1e150, 1.0), (1e150, 1e150), (1.0, 1e150), (1e-150, 1.0),
                                 (1e10, 1e10)])
def test_extreme_scales_are_solved_exactly_as_at_order_one(solver, a, b):
    """(MTL) is equivariant under Phi -> a Phi, y -> b y, lam -> a b lam (V -> (b / a) V);
    at 1e150 the native solver raised IndexError and CLARABEL failed. Reference: scikit-learn's
    Lasso on the unscaled data (alpha = lam / N, fit_intercept for skip="intercept")."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    Phi = relu_features(X, 15, 7)
    y = rng.standard_normal(40)
    lam = 2.0
    ref = Lasso(alpha=lam / 40, fit_intercept=True, tol=1e-12, max_iter=100_000).fit(Phi, y)
    sol = nl.solve_lasso(Phi * a, y * b, lam * a * b, skip="intercept", solver=solver)
    assert sol.status == "optimal" and 0.0 <= sol.rel_gap <= 1e-6
    np.testing.assert_allclose(sol.V[:, 0] * a / b, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(sol.intercept / b, ref.intercept_, atol=1e-6)
    obj = 0.5 * np.sum((y - Phi @ ref.coef_ - ref.intercept_) ** 2) + lam * np.abs(ref.coef_).sum()
    assert sol.objective / b ** 2 == pytest.approx(obj, rel=1e-7)
    assert nl.lam_max(Phi * a, y * b, skip="intercept") / (a * b) == pytest.approx(
        np.max(np.abs(Phi.T @ (y - y.mean()))), rel=1e-10)


def test_extreme_feature_scale_with_logistic_loss_and_a_path():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 2))
    Phi = relu_features(X, 12, 1)
    y = (X[:, 0] + 0.3 * rng.standard_normal(60) > 0).astype(int)
    ref = nl.solve_lasso(Phi, y, 0.5, loss="logistic", skip="intercept")
    big = nl.solve_lasso(Phi * 1e200, y, 0.5e200, loss="logistic", skip="intercept")
    assert big.status == "optimal" and big.objective == pytest.approx(ref.objective, rel=1e-7)
    np.testing.assert_allclose(big.V * 1e200, ref.V, atol=1e-5)
    path = nl.lasso_path(Phi * 1e-120, y * 1e120, [1.0, 0.1])
    refs = nl.lasso_path(Phi, y, [1.0, 0.1])
    for s, r in zip(path, refs):
        assert s.status == "optimal" and s.objective / 1e240 == pytest.approx(r.objective, rel=1e-7)
