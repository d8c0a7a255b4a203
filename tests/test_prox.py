"""The native solver (nnlasso.prox, solver="prox") against CLARABEL and against the formulas."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import backends, prox
from conftest import relu_features
from nnlasso.lasso import LassoProblem


def make(loss, seed=0, N=60, K=40, D=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, 3))
    Phi = relu_features(X, K, seed + 1)
    if loss == "squared":
        Y = Phi[:, :4] @ rng.standard_normal((4, D)) + 0.3 * rng.standard_normal((N, D))
    elif loss == "logistic":
        Y = (X[:, 0] + 0.5 * rng.standard_normal(N) > 0).astype(int)
    else:
        Y = np.argmax(X @ rng.standard_normal((3, D)) + 0.5 * rng.standard_normal((N, D)), axis=1)
    return X, Phi, Y


def skip_arg(kind, X):
    return {"none": None, "intercept": "intercept", "X": X}[kind]


def kkt_ratio(sol, Phi, Y, X, loss):
    """max_k |Phi_k^T q| / lam with q = -grad L at the returned fit (computed here)."""
    Z = sol.fitted(Phi, X)
    if loss == "squared":
        q = (Y if Y.ndim == 2 else Y[:, None]) - Z
    elif loss == "logistic":
        y = 2.0 * Y - 1
        q = (y / (1 + np.exp(y * Z[:, 0])))[:, None]
    else:
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        q = np.eye(Z.shape[1])[Y] - P
    return np.linalg.norm(Phi.T @ q, axis=1).max() / sol.lam


CASES = [("squared", "none", 1), ("squared", "intercept", 3), ("squared", "X", 3),
         ("logistic", "intercept", 1), ("logistic", "X", 1),
         ("softmax", "intercept", 3), ("softmax", "X", 3)]


@pytest.mark.parametrize("loss,skip,D", CASES)
def test_prox_equals_clarabel(loss, skip, D):
    X, Phi, Y = make(loss, seed=len(loss) + D, D=D)
    arg = skip_arg(skip, X)
    lam = 0.15 * nl.lam_max(Phi, Y, loss=loss, skip=arg)
    ref = nl.solve_lasso(Phi, Y, lam, loss=loss, skip=arg, solver="CLARABEL")
    sol = nl.solve_lasso(Phi, Y, lam, loss=loss, skip=arg, solver="prox", tol=1e-8)
    assert sol.solver == "PROX" and sol.status == "optimal"
    assert sol.rel_gap <= 1e-8 and sol.gap >= -1e-9 * abs(sol.objective)
    assert abs(sol.objective - ref.objective) <= 1e-7 * abs(ref.objective)
    assert kkt_ratio(sol, Phi, Y, X, loss) <= 1 + 1e-4
    # exact zeros outside the support, same support as the reference above its dust
    big = np.linalg.norm(ref.V, axis=1) > 1e-4 * np.abs(ref.V).max()
    assert set(np.flatnonzero(big)) == set(sol.active)


@pytest.mark.parametrize("loss", ["squared", "softmax"])
def test_prox_groups_and_weights(loss):
    X, Phi, Y = make(loss, seed=11, K=24, D=3)
    labels = np.arange(24) % 6
    w = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 0.8])
    lam = 0.3 * nl.lam_max(Phi, Y, loss=loss, groups=labels, weights=w, skip="intercept")
    ref = nl.solve_lasso(Phi, Y, lam, loss=loss, groups=labels, weights=w, skip="intercept")
    sol = nl.solve_lasso(Phi, Y, lam, loss=loss, groups=labels, weights=w, skip="intercept",
                         solver="prox")
    assert sol.status == "optimal" and sol.rel_gap <= 1e-8
    assert abs(sol.objective - ref.objective) <= 1e-7 * abs(ref.objective)


def test_group_soft_threshold_formula():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((5, 3))
    ids = np.array([0, 0, 1, 2, 2])
    tau = np.array([0.5, 10.0, 1.0])
    out = prox.group_soft_threshold(Z, ids, tau)
    for g in range(3):
        zg = Z[ids == g]
        n = np.linalg.norm(zg)
        expect = max(0.0, 1 - tau[g] / n) * zg
        assert np.allclose(out[ids == g], expect)
    assert np.all(out[ids == 1] == 0)


def test_gap_safe_screening_discards_only_inactive_groups():
    X, Phi, Y = make("squared", seed=3, N=80, K=300, D=2)
    lam = 0.2 * nl.lam_max(Phi, Y, skip="intercept")
    prob = LassoProblem(Phi, Y, "squared", "intercept", None, None, 1e-10)
    res = prox.working_set_solve(prob.native_data(), lam, tol=1e-10)
    assert res.converged and res.n_screened > 0
    ref = nl.solve_lasso(Phi, Y, lam, skip="intercept", solver="CLARABEL", tol=1e-10)
    active = np.flatnonzero(np.linalg.norm(ref.V, axis=1) > 1e-6 * np.abs(ref.V).max())
    assert not set(active) & set(res.screened.tolist())
    assert np.all(res.V[res.screened] == 0)


def test_working_set_with_a_cvxpy_backend():
    X, Phi, Y = make("squared", seed=4, N=50, K=120, D=2)
    lam = 0.2 * nl.lam_max(Phi, Y, skip=X)
    a = nl.solve_lasso(Phi, Y, lam, skip=X, solver="CLARABEL", working_set=True)
    b = nl.solve_lasso(Phi, Y, lam, skip=X, solver="prox")
    assert a.solver == "CLARABEL" and a.status == "optimal"
    assert max(a.info["working_set"]["ws_sizes"]) < 120
    assert abs(a.objective - b.objective) <= 1e-7 * b.objective


def test_polish_refines_a_rough_point():
    X, Phi, Y = make("squared", seed=5, D=2)
    lam = 0.2 * nl.lam_max(Phi, Y, skip="intercept")
    prob = LassoProblem(Phi, Y, "squared", "intercept", None, None, 1e-9)
    exact = nl.solve_lasso(Phi, Y, lam, skip="intercept", solver="prox", tol=1e-12)
    rough = exact.V + 1e-4 * np.random.default_rng(0).standard_normal(exact.V.shape)
    sol = prob.finish(rough, None, lam, "optimal_inaccurate", "TEST", {"total": 0.0}, 1e-6)
    assert sol.info["polished"] and sol.status == "optimal" and sol.rel_gap <= 1e-9
    assert sol.times["polish"] > 0
    assert abs(sol.objective - exact.objective) <= 1e-9 * exact.objective


def test_pure_numpy_epochs_match_the_compiled_ones(monkeypatch):
    X, Phi, Y = make("squared", seed=6, K=30, D=2)
    labels = np.arange(30) % 7
    lam = 0.2 * nl.lam_max(Phi, Y)
    with_kernel = [nl.solve_lasso(Phi, Y, lam, solver="prox", groups=g) for g in (None, labels)]
    monkeypatch.setattr(prox.ops, "_KERNEL", [None])
    without = [nl.solve_lasso(Phi, Y, lam, solver="prox", groups=g) for g in (None, labels)]
    for a, b in zip(with_kernel, without):
        assert b.rel_gap <= 1e-8
        assert abs(a.objective - b.objective) <= 1e-8 * a.objective


@pytest.mark.parametrize("D", [1, 3])
def test_numpy_epoch_equals_the_loop_kernel(D):
    """The NumPy epoch (scalar code for D = 1) against the plain loop that numba compiles."""
    rng = np.random.default_rng(D)
    A = rng.standard_normal((40, 25))
    G = A.T @ A
    V0 = rng.standard_normal((25, D)) * (rng.random((25, 1)) < 0.5)
    corr0 = rng.standard_normal((25, D)) * 5
    invL = 1.0 / np.diag(G)
    thr = 60.0 * invL    # tau = 60: about half of the rows end at zero
    live = np.arange(25)
    V1, c1 = V0.copy(), corr0.copy()
    for _ in range(3):
        prox._epoch_singletons(G, V1, c1, invL, thr, live)
    V2, c2 = V0.copy(), corr0.copy()
    idx = np.arange(26, dtype=np.int64)
    for _ in range(3):
        prox._epoch_kernel_py(G, V2, c2, invL, thr, idx[:25], idx, live.astype(np.int64))
    assert np.allclose(V1, V2, atol=1e-12) and np.allclose(c1, c2, atol=1e-10)
    assert np.any(V1 == 0) and np.any(V1 != 0)


def test_path_with_strong_rules_is_warm_started():
    X, Phi, Y = make("squared", seed=7, N=80, K=200, D=3)
    lm = nl.lam_max(Phi, Y, skip="intercept")
    lams = lm * np.geomspace(0.9, 0.1, 8)
    path = nl.lasso_path(Phi, Y, lams, skip="intercept", solver="prox")
    assert all(s.status == "optimal" and s.rel_gap <= 1e-8 for s in path)
    # warm starts from the strong-rule set: most solves need a single KKT check
    products = [s.info["working_set"]["n_products"] for s in path]
    assert np.median(products) <= 2
    one = nl.solve_lasso(Phi, Y, lams[-1], skip="intercept", solver="CLARABEL")
    assert abs(path[-1].objective - one.objective) <= 1e-7 * one.objective


def _direct_certificate(Phi, Y, sol, lam):
    """(kkt ratio, dual objective) of a path Solution by one direct product Phi^T q, with the
    residual q of the best intercept for its V (computed here, without nnlasso)."""
    R = Y - Phi @ sol.V
    q = R - R.mean(axis=0)
    ratio = float(np.linalg.norm(Phi.T @ q, axis=1).max()) / lam
    qs = q / max(1.0, ratio)
    return ratio, float(np.sum(qs * Y) - 0.5 * np.sum(qs * qs))


def test_path_certificates_match_a_direct_product():
    """Every value of a squared-loss path is certified over the full dictionary: the KKT ratio
    and dual objective nnlasso reports (from cached Gram columns) equal those of a direct
    product Phi^T q; a wrong cached correlation would move them."""
    X, Phi, Y = make("squared", seed=11, N=120, K=300, D=3)
    lm = nl.lam_max(Phi, Y, skip="intercept")
    lams = lm * np.geomspace(1.0, 1e-3, 15)
    path = nl.lasso_path(Phi, Y, lams, skip="intercept", solver="prox")
    for lam, s in zip(lams, path):
        assert s.status == "optimal" and s.rel_gap <= 1e-8
        ratio, dual = _direct_certificate(Phi, Y, s, lam)
        assert abs(s.info["kkt_ratio"] - ratio) <= 1e-9
        assert abs(s.dual_objective - dual) <= 1e-9 * abs(s.objective)
    # the checks read Phi less than once per value (Gram columns, not one product per check)
    products = sum(s.info["working_set"]["n_products"] for s in path)
    assert products < len(lams)


def test_path_correlations_are_exact_up_to_their_bound():
    """PathCorrelations: a0 - M_W V_W against Phi^T Q in extended precision, the rounding bound
    holds and is negligible; uncached columns are added with prefetched ones in one read."""
    X, Phi, Y = make("squared", seed=12, N=150, K=400, D=4)
    prob = LassoProblem(Phi, Y, "squared", "intercept", None, None)
    data = prob.native_data()
    pc = prox.PathCorrelations(data, batch=8)
    assert pc.take_reads() == 1 and pc.take_reads() == 0
    rng = np.random.default_rng(0)
    cols = np.sort(rng.choice(400, 5, replace=False))
    V_W = 50.0 * rng.standard_normal((5, 4))  # large coefficients: strong cancellation
    pc.hint = rng.random(400)
    assert pc.ensure(cols) and pc.take_reads() == 1
    assert pc.n_cols == 8  # 5 requested + 3 prefetched by largest hint
    assert pc.ensure(cols[:3]) and pc.take_reads() == 0
    corr, err = pc.correlations(cols, V_W)
    Q = data.TP - (Phi[:, cols] - data.basis @ (data.basis.T @ Phi[:, cols])) @ V_W
    exact = Phi.astype(np.longdouble).T @ Q.astype(np.longdouble)
    diff = np.linalg.norm((corr - exact).astype(float), axis=1)
    assert np.all(diff <= err)
    assert err.max() <= 1e-9 * np.linalg.norm(corr, axis=1).max()
    # a corrupted cached column is visible through the same comparison
    pc.M[:, pc.pos[cols[0]]] *= 1.0 + 1e-6
    bad, _ = pc.correlations(cols, V_W)
    assert np.any(np.linalg.norm((bad - exact).astype(float), axis=1) > err)


def test_path_correlations_fall_back_to_products_when_full():
    """A cache too small for the working set: the checks use products with Phi and the
    result is the same certified solution."""
    X, Phi, Y = make("squared", seed=13, N=80, K=150, D=2)
    prob = LassoProblem(Phi, Y, "squared", "intercept", None, None)
    data = prob.native_data()
    lam = 0.05 * nl.lam_max(Phi, Y, skip="intercept")
    ref = prox.working_set_solve(data, lam, tol=1e-10)
    tiny = prox.PathCorrelations(data, max_entries=2 * 150)  # room for 2 columns
    res = prox.working_set_solve(data, lam, tol=1e-10, correlations=tiny)
    assert res.converged and tiny.n_cols <= 2
    assert res.n_products >= ref.n_products
    assert abs(res.primal - ref.primal) <= 1e-9 * ref.primal
    big = prox.PathCorrelations(data)
    res2 = prox.working_set_solve(data, lam, tol=1e-10, correlations=big)
    assert res2.converged and abs(res2.primal - ref.primal) <= 1e-9 * ref.primal
    assert res2.n_products < ref.n_products


def test_path_matches_sklearn_multitask_lasso():
    """lasso_path(solver="prox") against scikit-learn's MultiTaskLasso (alpha = lam / N,
    fit_intercept=True), value by value, in objective and fitted values."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    X, Phi, Y = make("squared", seed=14, N=100, K=120, D=3)
    N = Phi.shape[0]
    lm = nl.lam_max(Phi, Y, skip="intercept")
    lams = lm * np.geomspace(0.9, 0.05, 6)
    path = nl.lasso_path(Phi, Y, lams, skip="intercept", solver="prox", tol=1e-10)
    for lam, s in zip(lams, path):
        est = sklearn.MultiTaskLasso(alpha=lam / N, fit_intercept=True, tol=1e-12,
                                     max_iter=200_000).fit(Phi, Y)
        fit_sk = Phi @ est.coef_.T + est.intercept_
        obj_sk = 0.5 * np.sum((Y - fit_sk) ** 2) + lam * np.linalg.norm(est.coef_, axis=0).sum()
        assert s.rel_gap <= 1e-10
        assert s.objective <= obj_sk * (1 + 1e-12)
        assert abs(s.objective - obj_sk) <= 1e-7 * obj_sk
        assert np.linalg.norm(s.fitted(Phi) - fit_sk) <= 1e-3 * np.linalg.norm(fit_sk)


def test_auto_chooses_by_size():
    X, Phi, Y = make("squared", seed=8, N=40, K=20, D=1)
    small = nl.solve_lasso(Phi, Y, 1.0, solver="auto")
    assert small.solver == "auto" and small.inner == "CLARABEL"
    X, Phi, Y = make("squared", seed=8, N=60, K=200, D=2)
    large = nl.solve_lasso(Phi, Y, 1.0, solver="auto")
    assert large.solver == "auto" and large.inner == "PROX" and large.status == "optimal"


def test_prox_errors():
    X, Phi, Y = make("squared", seed=9)
    with pytest.raises(nl.InvalidProblemError, match="unknown option"):
        nl.solve_lasso(Phi, Y, 1.0, solver="prox", options={"max_iters": 3})
    with pytest.raises(nl.SolverError, match="penalized"):
        nl.solve_min_norm(Phi, Y, solver="prox")
    sol = nl.solve_lasso(Phi, Y, 1.0, solver="PROX", options={"p0": 3, "screen": False})
    assert sol.status == "optimal"
    assert backends.resolve("Prox", native=True) == "PROX"


def test_bench_quick_smoke(capsys):
    """scripts/bench.py --quick runs end to end (nnlasso rows only) and certifies every row."""
    from conftest import load_script
    bench = load_script("bench")
    res = bench.main(["--quick", "--no-peers", "--no-patterns", "--repeats", "1", "--no-grid",
                      "--no-defaults"])
    rows = res["problem_a"]["rows"]
    assert rows[0]["method"].startswith("nnlasso prox") and rows[0]["ratio"] == 1.0
    assert all(r["rel_gap"] <= 1e-6 for r in rows)
    assert res["path"]["rows"][1]["max_rel_gap"] <= 1e-8
    assert res["large"]["status"] == "optimal" and res["large"]["peak_rss_gib"] > 0
    assert "| method |" in capsys.readouterr().out


def _softmax_restricted(seed, lam_frac, separable=False):
    X, Phi, Y = make("softmax", seed=seed, N=150, K=40, D=4)
    if separable:
        Y = np.argmax(X @ np.random.default_rng(seed).standard_normal((3, 4)), axis=1)
    lam = lam_frac * nl.lam_max(Phi, Y, loss="softmax", skip="intercept")
    prob = LassoProblem(Phi, Y, "softmax", "intercept", None, None, 1e-10)
    return Phi, Y, lam, prob


def test_softmax_reduced_hessian_is_the_projected_full_hessian():
    rng = np.random.default_rng(0)
    N, m, D = 30, 5, 4
    M = rng.standard_normal((N, m))
    Z = rng.standard_normal((N, D))
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    B = prox._simplex_basis(D)
    assert np.allclose(B.T @ B, np.eye(D - 1)) and np.allclose(B.sum(0), 0)
    # independent full Hessian: sum_n kron(m_n m_n^T, diag(p_n) - p_n p_n^T), vec row-major
    H_full = sum(np.kron(np.outer(M[n], M[n]), np.diag(P[n]) - np.outer(P[n], P[n]))
                 for n in range(N))
    K = np.kron(np.eye(m), B)
    assert np.allclose(prox._softmax_hessian_reduced(M, P, B), K.T @ H_full @ K, atol=1e-12)


def test_softmax_newton_drops_groups_whose_optimum_is_zero():
    # start near the optimum with every row nonzero: the rows that vanish at the optimum must
    # be set to zero by the support Newton step (without that rule: 200 iterations, gap 6e-5)
    Phi, Y, lam, prob = _softmax_restricted(3, 0.05)
    ref = nl.solve_lasso(Phi, Y, lam, loss="softmax", skip="intercept", solver="CLARABEL",
                         tol=1e-10)
    K = Phi.shape[1]
    V0 = ref.V + 1e-3 * np.random.default_rng(3).standard_normal(ref.V.shape)
    V, c, it, rel = prox.softmax_newton(prob.loss, prob.T, Phi, prob.basis, np.arange(K),
                                        lam * np.ones(K), V0, np.zeros((1, 4)), 1e-9)
    assert rel <= 1e-9 and it <= 10
    assert set(np.flatnonzero(np.linalg.norm(V, axis=1))) == set(ref.active)
    assert np.abs(V.sum(axis=1)).max() <= 1e-12 * np.abs(V).max()   # rows orthogonal to 1
    Z = Phi @ V + prob.basis @ c
    obj = prob.loss.value(Z, prob.T) + lam * np.linalg.norm(V, axis=1).sum()
    assert abs(obj - ref.objective) <= 1e-7 * abs(ref.objective)


def test_softmax_newton_on_separable_data():
    # separable labels, small lam: large weights and a loss Hessian close to singular
    Phi, Y, lam, prob = _softmax_restricted(0, 0.02, separable=True)
    K = Phi.shape[1]
    V0 = 0.1 * np.random.default_rng(0).standard_normal((K, 4))
    V, c, it, rel = prox.softmax_newton(prob.loss, prob.T, Phi, prob.basis, np.arange(K),
                                        lam * np.ones(K), V0, np.zeros((1, 4)), 1e-9)
    assert rel <= 1e-9 and it <= 50
    sol = nl.solve_lasso(Phi, Y, lam, loss="softmax", skip="intercept", solver="prox", tol=1e-9)
    assert sol.rel_gap <= 1e-9 and kkt_ratio(sol, Phi, Y, None, "softmax") <= 1 + 1e-4


@pytest.fixture(scope="module")
def stalled():
    """A column-generation dictionary (100 x 68) whose nearly collinear neurons make coordinate
    descent stall at lam = 0.01 (before: rel gap 1e-3 after 5000 epochs of one working set)."""
    from nnlasso import representer as R
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (100, 2))
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + 0.05 * rng.normal(size=100)
    dic, _, _ = R.column_generation(X, y, 0.01, solver="CLARABEL", seed=0)
    return X, dic.features(X), y


def test_stalled_native_solve_is_finished_by_the_interior_point_inner(stalled):
    """The native inner solver stalls on the first working set; the loop hands it (and the later
    ones) to CLARABEL at once, and the answer is certified and matches CLARABEL's objective."""
    X, Phi, y = stalled
    ref = nl.solve_lasso(Phi, y, 0.01, skip=X, solver="CLARABEL")
    sol = nl.solve_lasso(Phi, y, 0.01, skip=X, solver="prox")
    assert sol.status == "optimal" and sol.rel_gap <= 1e-6
    assert sol.objective == pytest.approx(ref.objective, rel=1e-6)
    ws = sol.info["working_set"]
    assert ws["switched_at"] is not None and sol.info["fallback"]["inner"] == "CLARABEL"
    assert sol.inner == "PROX" and sol.fallback == "CLARABEL"
    # the handover is immediate: a few outer iterations (the stalled loop used to run 20 000
    # epochs per working set for 3+ working sets, then start over with CLARABEL)
    assert ws["switched_at"] <= 3 and ws["n_outer"] <= 10
    if prox._compiled_epoch() is None:  # pure NumPy: stalls on the first working set
        assert ws["switched_at"] == 1 and ws["n_inner"] <= 7 * prox.STALL_EPOCHS + 50


def test_gram_bcd_declares_a_stall_after_bounded_work(stalled, monkeypatch):
    X, Phi, y = stalled
    prob = LassoProblem(Phi, y, "squared", X, None, None, 1e-8)
    K = Phi.shape[1]
    gp = prob.native_data().gram_cache().gram(np.arange(K), np.arange(K), 0.01 * np.ones(K))
    kernels = [(None, prox.STALL_EPOCHS)]
    if prox._compiled_epoch() is not None:  # numba installed
        kernels.append((prox._compiled_epoch(), prox.STALL_EPOCHS_COMPILED))
    for kernel, window in kernels:
        monkeypatch.setattr(prox.ops, "_KERNEL", [kernel])
        V, epochs, rel = prox.bcd_gram(gp, np.zeros((K, 1)), None, 1e-9)
        assert rel > 1e-9                      # not converged: stalled
        assert 4 * window <= epochs <= 4 * window + 3 * window   # and said so within bounds
    # a well-posed problem is not declared stalled: it converges
    Xw, Phiw, Yw = make("squared", seed=4, N=80, K=30, D=1)
    pw = LassoProblem(Phiw, Yw, "squared", None, None, None, 1e-8)
    lam = 0.1 * nl.lam_max(Phiw, Yw)
    gw = pw.native_data().gram_cache().gram(np.arange(30), np.arange(30), lam * np.ones(30))
    monkeypatch.setattr(prox.ops, "_KERNEL", [None])
    assert prox.bcd_gram(gw, np.zeros((30, 1)), None, 1e-10)[2] <= 1e-10


def test_working_set_loop_switches_to_the_fallback_inner(stalled):
    """With a fallback, the loop re-solves the stalled working set with it; without one it stops
    unconverged (bounded) instead of running minutes."""
    X, Phi, y = stalled
    prob = LassoProblem(Phi, y, "squared", X, None, None, 1e-8)
    data = prob.native_data()
    calls = []
    native = prox.native_inner(data)

    def exact_inner(cols, local_ids, tau, V_W, c, tol):
        calls.append(cols.size)
        ref = nl.solve_lasso(Phi[:, cols], y, 0.01, skip=X, solver="CLARABEL", tol=1e-10)
        return ref.V, c, 1, 0.0

    res = prox.working_set_solve(data, 0.01, tol=1e-8, inner=native, fallback=exact_inner)
    assert res.converged and res.switched_at is not None and res.switched_at <= 3 and calls
    alone = prox.working_set_solve(data, 0.01, tol=1e-8)
    assert alone.switched_at is None and not alone.converged and alone.n_outer <= 20


@pytest.fixture(scope="module")
def stalled_logistic():
    """Nearly separable logistic data (a ReLU teacher's labels, N = 100, d = 2), 400 correlated
    "data" neurons, lam = 1e-3 lam_max, a linear skip: proximal Newton's gap creeps (1 -> 0.2
    over its 200-iteration cap on the first working set; CLARABEL: 0.6 s for the whole program)."""
    from sklearn.preprocessing import StandardScaler
    Xt, yt = nl.synthetic.generate("relu_teacher", {"n": 100, "d": 2, "noise": 0.0, "seed": 1})
    X = StandardScaler().fit_transform(Xt)
    yt = np.ravel(yt)
    y = (yt > np.median(yt)).astype(int)
    Phi = nl.sample_neurons(X, 400, method="data", seed=0).features(X)
    return X, Phi, y, 1e-3 * nl.lam_max(Phi, y, loss="logistic", skip=X)


def test_newton_stall_rule():
    W = prox.NEWTON_STALL_ITERS
    halving = [0.5 ** (i / W) for i in range(4 * W + 1)]        # exactly halves every W
    assert not prox.newton_stalled(halving[:-1], W)              # too early to judge
    assert not prox.newton_stalled([0.99 * h for h in halving[:-1]] + [0.49 * halving[-W - 1]],
                                   W)
    creeping = [1.0 / (1 + 0.01 * i) for i in range(4 * W + 1)]
    assert not prox.newton_stalled(creeping[:-1], W) and prox.newton_stalled(creeping, W)
    assert not prox.newton_stalled(creeping, None) and not prox.newton_stalled(creeping, 0)


def test_stalled_logistic_newton_hands_the_working_set_to_clarabel(stalled_logistic):
    """Proximal Newton stalls on the first working set: it returns after 4 x 25 iterations
    (it used to run its 200-iteration cap), the loop hands the working set to CLARABEL, and the
    answer is certified and matches CLARABEL's objective on the whole program."""
    X, Phi, y, lam = stalled_logistic
    prob = LassoProblem(Phi, y, "logistic", X, None, None, 1e-8)
    K = 20
    V, c, it, rel = prox.prox_newton(prob.loss, prob.T, Phi[:, :K], prob.basis, np.arange(K),
                                     lam * np.ones(K), np.zeros((K, 1)),
                                     np.zeros((prob.basis.shape[1], 1)), 1e-3)
    assert rel > 1e-3 and it == 4 * prox.NEWTON_STALL_ITERS     # stalled, and said so
    ref = nl.solve_lasso(Phi, y, lam, loss="logistic", skip=X, solver="CLARABEL")
    sol = nl.solve_lasso(Phi, y, lam, loss="logistic", skip=X, solver="prox")
    assert sol.status == "optimal" and sol.rel_gap <= 1e-8
    assert sol.objective == pytest.approx(ref.objective, rel=1e-7)
    ws = sol.info["working_set"]
    assert ws["switched_at"] == 1 and sol.fallback == "CLARABEL"
    assert ws["n_inner"] <= 4 * prox.NEWTON_STALL_ITERS + 10    # was 202


def _restricted_fista(X, Phi, y, lam, K, tol, **kw):
    prob = LassoProblem(Phi, y, "logistic", X, None, None, 1e-8)
    return prox.fista(prob.loss, prob.T, Phi[:, :K], prob.basis, np.arange(K),
                      lam * np.ones(K), np.zeros((K, 1)), np.zeros((prob.basis.shape[1], 1)),
                      tol, **kw)


def test_stalled_fista_returns_after_bounded_work(stalled_logistic):
    """FISTA on the same stalled working set: its gap creeps (0.67 after 2000 iterations, 0.59
    after its 20,000-iteration cap, 5.0-5.4 s); with the stall rule (gap shrunk by less than
    10 % over FISTA_STALL_ITERS iterations, after 2 windows) it returns after 4000 iterations
    (1.4-1.6 s) and says so (rel > tol)."""
    X, Phi, y, lam = stalled_logistic
    V, c, it, rel = _restricted_fista(X, Phi, y, lam, 20, 1e-3)
    assert rel > 1e-3
    assert it == prox.FISTA_STALL_WARMUP * prox.FISTA_STALL_ITERS == 4000


def test_fista_stall_rule_leaves_a_slow_converging_solve_alone():
    """A well-posed logistic program on which FISTA's gap falls slowly for thousands of
    iterations (0.32 -> 0.18 over 5000) before the support settles and it collapses
    (converged after 9260 iterations): not declared stalled."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] + 0.5 * rng.standard_normal(200) > 0).astype(int)
    Phi = nl.sample_neurons(X, 60, seed=0).features(X)
    lam = 0.1 * nl.lam_max(Phi, y, loss="logistic", skip=X)
    V, c, it, rel = _restricted_fista(X, Phi, y, lam, 60, 1e-8)
    assert rel <= 1e-8 and it > 2 * prox.FISTA_STALL_WARMUP * prox.FISTA_STALL_ITERS


def test_fista_stall_rule_parameters():
    """newton_stalled with FISTA's factor and warmup: a gap falling 20 % per window goes on, 5 %
    per window stalls, never before warmup windows."""
    W, f, w = 10, prox.FISTA_STALL_FACTOR, prox.FISTA_STALL_WARMUP
    falling = [0.8 ** (i / W) for i in range(w * W + 1)]
    creeping = [0.95 ** (i / W) for i in range(w * W + 1)]
    assert not prox.newton_stalled(falling, W, f, w)
    assert prox.newton_stalled(creeping, W, f, w) and not prox.newton_stalled(creeping[:-1], W, f, w)
    assert not prox.newton_stalled(creeping, W)            # Newton's rule: 4 windows first


def test_stalled_fista_hands_the_working_set_to_clarabel(stalled_logistic, monkeypatch):
    """With FISTA as the native inner solver (above PROX_NEWTON_MAX_VARS variables; forced here
    by lowering it), the stalled first working set goes to CLARABEL after 4000 iterations
    instead of 20,000 (end to end 4.6 -> 1.3 s CPU), and the answer is certified and matches
    CLARABEL's objective on the whole program."""
    X, Phi, y, lam = stalled_logistic
    monkeypatch.setattr(prox.working_set, "PROX_NEWTON_MAX_VARS", 0)
    sol = nl.solve_lasso(Phi, y, lam, loss="logistic", skip=X, solver="prox")
    ref = nl.solve_lasso(Phi, y, lam, loss="logistic", skip=X, solver="CLARABEL")
    assert sol.status == "optimal" and sol.rel_gap <= 1e-8
    assert sol.objective == pytest.approx(ref.objective, rel=1e-7)
    ws = sol.info["working_set"]
    assert ws["switched_at"] == 1 and sol.fallback == "CLARABEL"
    assert ws["n_inner"] <= prox.FISTA_STALL_WARMUP * prox.FISTA_STALL_ITERS + 50  # was 20,000


def test_a_failing_fallback_leaves_the_native_solver_going(stalled_logistic):
    """CLARABEL can fail on such programs at tiny lam (N = 300, lam = 1e-5 lam_max: "Solver
    'CLARABEL' failed"); the loop then keeps the native point and solver instead of raising."""
    X, Phi, y, lam = stalled_logistic
    data = LassoProblem(Phi, y, "logistic", X, None, None, 1e-8).native_data()
    calls = []

    def failing(cols, local_ids, tau, V_W, c, tol):
        calls.append(cols.size)
        raise nl.SolverError("CLARABEL failed: (simulated)")

    res = prox.working_set_solve(data, lam, tol=1e-8, fallback=failing, max_outer=2)
    assert calls == [20] and res.fallback_error == "CLARABEL failed: (simulated)"
    assert res.n_outer == 2 and not res.converged
    assert res.switched_at is None and res.info()["fallback_error"] == res.fallback_error
    assert np.isfinite(res.rel_gap) and res.rel_gap < 1.0
    assert res.primal >= res.dual


def test_auto_solves_the_small_stalled_program_with_clarabel(stalled):
    X, Phi, y = stalled
    assert backends.choose(backends.ProblemSize(*Phi.shape, 1, "squared")) is None
    sol = nl.solve_lasso(Phi, y, 0.01, skip=X, solver="auto")
    assert sol.solver == "auto" and sol.inner == "CLARABEL" and sol.fallback is None
    assert sol.status == "optimal" and sol.rel_gap <= 1e-6


def test_model_step_scalar_epochs_equal_the_block_epochs(monkeypatch):
    """The proximal-Newton model step with one variable per block (logistic, single neurons)
    takes the scalar epoch; it must agree with the generic block epoch it replaces."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((50, 12))
    H = A.T @ A
    grad = rng.standard_normal(12) * 10
    x = rng.standard_normal(12) * (rng.random(12) < 0.5)
    blocks = [np.array([g]) for g in range(12)]
    tau = np.r_[np.full(10, 3.0), 0.0, 0.0]          # two unpenalized (affine) rows
    flat = np.arange(12, dtype=np.int64)
    offs = np.arange(13, dtype=np.int64)
    fast = prox._model_step(H, grad, x, blocks, tau, flat, offs, None, 20)
    called = []
    monkeypatch.setattr(prox.newton, "_epoch_singletons", lambda *a: called.append(1) or None)
    with pytest.raises(AssertionError):   # the scalar path is the one that ran above
        assert np.allclose(prox._model_step(H, grad, x, blocks, tau, flat, offs, None, 20), fast)
    assert called
    monkeypatch.undo()
    xn, corr = x.copy()[:, None], -grad[:, None]
    invL = 1.0 / np.diag(H)
    for _ in range(20):
        prox._epoch_groups(H, xn, corr, invL, tau * invL, blocks, np.arange(12))
    assert np.allclose(fast, xn[:, 0] - x, atol=1e-10)


def test_softmax_gap_safe_screening_with_its_tight_constant_is_safe():
    """Screening uses r = sqrt(2 L_s gap) with the softmax's exact L_s = 1/2 (it used the loose
    1): every screened neuron is inactive at a high-accuracy optimum, with KKT ratio < 1."""
    from nnlasso.duality import lasso_dual
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 3))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.3 * rng.standard_normal(200), [-0.5, 0.5])
    Phi = relu_features(X, 600, 3)
    lam = 0.05 * nl.lam_max(Phi, y, loss="softmax", skip="intercept")
    prob = LassoProblem(Phi, y, "softmax", "intercept", None, None, 1e-10)
    assert prob.loss.smooth_constant == 0.5
    res = prox.working_set_solve(prob.native_data(), lam, tol=1e-10)
    assert res.converged and res.n_screened > 0
    Z = Phi @ res.V + prob.basis @ res.c
    _, Q, _ = lasso_dual(Phi, prob.T, Z, prob.loss, lam, prob.basis, np.arange(600), np.ones(600))
    ratio = np.linalg.norm(Phi[:, res.screened].T @ Q, axis=1) / lam
    assert np.all(res.V[res.screened] == 0) and ratio.max() < 1.0 - 1e-6


@pytest.mark.parametrize("loss,stall", [("logistic", prox.FISTA_STALL_ITERS), ("softmax", None)])
def test_native_inner_fista_stall_rule_by_loss(loss, stall, monkeypatch):
    """The native inner solver gives FISTA its stall rule for the logistic loss only: for
    softmax the handover goes to CLARABEL with N x D exponential cones, slower than FISTA's
    remaining iterations (digits, 80 neurons: 102 s against 21 s)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, 0] > 0).astype(int) + (loss == "softmax") * (X[:, 1] > 0).astype(int)
    Phi = nl.sample_neurons(X, 8, seed=0).features(X)
    data = LassoProblem(Phi, y, loss, X, None, None, 1e-8).native_data()
    seen = []

    def spy(*args, **kw):
        seen.append(kw.get("stall_iters", prox.FISTA_STALL_ITERS))
        return fista_orig(*args, **kw)

    fista_orig = prox.working_set.fista
    monkeypatch.setattr(prox.working_set, "PROX_NEWTON_MAX_VARS", 0)
    monkeypatch.setattr(prox.working_set, "fista", spy)
    inner = prox.working_set.native_inner(data)
    K = 4
    cols, local = np.arange(K), np.arange(K)
    V0 = np.zeros((K, data.T.shape[1]))
    inner(cols, local, 0.1 * np.ones(K), V0, np.zeros((data.basis.shape[1], data.T.shape[1])),
          1e-6)
    assert seen == [stall]
