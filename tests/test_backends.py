"""Backend choice, the auto rule, and each adapter: cones, status map, tolerance mapping, retry."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import nnlasso as nl
from nnlasso import SolverError, backends
from nnlasso.backends import ProblemSize


def test_resolve_names():
    assert backends.resolve("clarabel") == "CLARABEL"
    assert backends.resolve("auto") in backends.AUTO_ORDER
    with pytest.raises(SolverError, match="installed"):
        backends.resolve("NOPE")
    with pytest.raises(SolverError, match="installed"):
        backends.resolve(3)
    with pytest.raises(SolverError, match="penalized lasso"):
        backends.resolve("prox")
    assert backends.resolve("prox", native=True) == backends.NATIVE
    with pytest.raises(SolverError, match="'prox'"):
        backends.resolve("NOPE", native=True)


def test_resolve_refuses_a_solver_without_the_loss_cones(monkeypatch):
    """A backend that lacks the exponential cone (a fake SCS taking only second-order cones) is
    refused for the logistic / softmax losses with a message naming the cone, and "auto" skips
    it; the squared loss (no exponential cone) still takes it."""
    import dataclasses

    import nnlasso as nl
    from nnlasso.losses import get_loss
    assert get_loss("logistic").cones == get_loss("softmax").cones == ("exp",)
    assert get_loss("squared").cones == get_loss("hinge").cones == ()
    fakes = {n: dataclasses.replace(backends.ADAPTERS[n], cones=frozenset({"soc"}))
             for n in backends.AUTO_ORDER}
    # "auto" skips a backend without the cone
    monkeypatch.setitem(backends.ADAPTERS, "CLARABEL", fakes["CLARABEL"])
    assert backends.resolve("auto", is_qp=False, cones=("exp",)) == backends.auto_order()[1]
    assert backends.resolve("auto", is_qp=False) == "CLARABEL"
    monkeypatch.setitem(backends.ADAPTERS, "SCS", fakes["SCS"])
    with pytest.raises(SolverError, match="SCS does not take the exponential cone"):
        backends.resolve("scs", is_qp=False, cones=("exp",))
    assert backends.resolve("scs", is_qp=False) == "SCS"
    rng = np.random.default_rng(0)
    Phi, y = rng.standard_normal((20, 5)), rng.integers(0, 2, 20)
    for loss, Y in (("logistic", y), ("softmax", np.arange(20) % 3)):
        with pytest.raises(SolverError, match="exponential cone"):
            nl.solve_lasso(Phi, Y, 1.0, loss=loss, solver="SCS")
    assert nl.solve_lasso(Phi, y.astype(float), 1.0, solver="SCS").status == "optimal"
    # and says so when no installed backend has it
    for n in backends.AUTO_ORDER:
        monkeypatch.setitem(backends.ADAPTERS, n, fakes[n])
    with pytest.raises(SolverError, match="none of the installed .* exponential cone"):
        backends.resolve("auto", is_qp=False, cones=("exp",))
    assert backends.resolve("auto", is_qp=False) == backends.auto_order()[0]


@pytest.mark.parametrize("size,native", [
    (ProblemSize(50, 30, 3, "squared"), False),
    (ProblemSize(50, 40, 3, "squared"), True),       # K D = 120 > 100
    (ProblemSize(100, 68, 1, "squared"), False),     # the stalled CG dictionary: CLARABEL
    (ProblemSize(400, 30, 1, "squared"), True),      # N K = 12000 > 10000
    (ProblemSize(60, 30, 3, "softmax"), False),      # N K D = 5400
    (ProblemSize(200, 30, 3, "softmax"), True),      # N K D = 18000 > 6000
    (ProblemSize(100, 30, 1, "logistic"), False),    # N K D = 3000
    (ProblemSize(100, 300, 1, "logistic"), True),    # N K D = 30000
])
def test_auto_rule(size, native):
    assert (backends.choose(size) == backends.NATIVE) == native
    got = backends.resolve("auto", native=True, size=size)
    assert (got == backends.NATIVE) == native
    # without native permission or size, auto stays a CVXPY solver
    assert backends.resolve("auto", size=size) in backends.AUTO_ORDER


def test_tolerance_options():
    for s in backends.installed():
        opts = backends.tolerance_options(s, 1e-8)
        assert opts
    assert backends.tolerance_options("CLARABEL", 1e-8)["tol_gap_rel"] <= 1e-8
    assert backends.tolerance_options("SCS", 1e-6)["eps_abs"] == 1e-6
    assert backends.tolerance_options("OTHER", 1e-6) == {}


def test_solve_reports_status_and_times():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x - np.array([1.0, 2.0]))))
    run = backends.solve(prob, "CLARABEL", 1e-8)
    assert run["status"] == "optimal" and run["compile"] >= 0 and run["solve"] >= 0
    assert backends.STATUS_MAP[cp.INFEASIBLE] == "infeasible"
    bad = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0])
    assert backends.solve(bad, "CLARABEL", 1e-8)["status"] == "infeasible"


# ---- the adapters: one record per CVXPY backend ----------------------------------------------

def _soft_threshold_problem():
    """min 1/2 |x - a|^2 + |x|_1, whose solution is the soft threshold sign(a) max(|a| - 1, 0)."""
    a = np.array([3.0, -0.5, 1.2, -2.25])
    x = cp.Variable(a.size)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(x - a) + cp.norm1(x)))
    return prob, x, np.sign(a) * np.maximum(np.abs(a) - 1.0, 0.0)


def test_one_adapter_per_supported_solver_and_its_cones_are_cvxpys():
    """The cones each adapter declares are those of CVXPY's own interface to the solver
    (conic solvers: SOC / ExpCone in SUPPORTED_CONSTRAINTS; QP solvers take none)."""
    from cvxpy.constraints import SOC, ExpCone
    from cvxpy.reductions.solvers.defines import SOLVER_MAP_CONIC, SOLVER_MAP_QP
    assert tuple(backends.ADAPTERS) == backends.SUPPORTED
    for name, ad in backends.ADAPTERS.items():
        assert ad.name == name
        if name in SOLVER_MAP_CONIC:
            have = SOLVER_MAP_CONIC[name].SUPPORTED_CONSTRAINTS
            assert ad.takes("soc") == (SOC in have) and ad.takes("exp") == (ExpCone in have)
        else:
            assert name in SOLVER_MAP_QP and ad.cones == frozenset()
        # the package is what CVXPY drives the solver through
        assert (name in cp.installed_solvers()) == (name in backends.installed())
    with pytest.raises(ValueError, match="cone"):
        backends.ADAPTERS["SCS"].takes("psd")
    with pytest.raises(SolverError, match="supported"):
        backends.adapter("NOPE")
    assert backends.alternatives("soc") == "CLARABEL or SCS"


@pytest.mark.parametrize("cvxpy_status,ours", [
    (cp.OPTIMAL, "optimal"), (cp.OPTIMAL_INACCURATE, "optimal_inaccurate"),
    (cp.USER_LIMIT, "optimal_inaccurate"), (cp.INFEASIBLE, "infeasible"),
    (cp.INFEASIBLE_INACCURATE, "infeasible"), (cp.UNBOUNDED, "error"),
    (cp.UNBOUNDED_INACCURATE, "error"), (cp.SOLVER_ERROR, "error"),
    ("infeasible_or_unbounded", "error"), (None, "error"), ("something new", "error"),
])
def test_status_map_of_every_adapter(cvxpy_status, ours):
    for ad in backends.ADAPTERS.values():
        assert ad.status(cvxpy_status) == ours


@pytest.mark.parametrize("solver", backends.installed())
def test_status_map_on_real_solves(solver):
    """Each installed backend, run through solve_cvxpy: an optimal, an infeasible and an
    iteration-limited program (the limit set through the adapter's own iteration option)."""
    ad = backends.adapter(solver)
    prob, x, ref = _soft_threshold_problem()
    run = backends.solve_cvxpy(prob, solver, 1e-8)
    assert run["status"] == "optimal" and run["cvxpy_status"] == cp.OPTIMAL
    bad = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0])
    assert backends.solve_cvxpy(bad, solver, 1e-8)["status"] == "infeasible"
    key = next(k for k in ad.options(1e-8) if "iter" in k)
    prob, x, ref = _soft_threshold_problem()
    limited = backends.solve_cvxpy(prob, solver, 1e-8, {key: 2})
    assert limited["status"] == "optimal_inaccurate"
    assert limited["cvxpy_status"] in (cp.USER_LIMIT, cp.OPTIMAL_INACCURATE)


def test_tolerance_mapping_values():
    """nnlasso's tol -> each solver's options: the interior-point solvers 1e-3 (CLARABEL) and
    1e-2 (ECOS) tighter, floored at 1e-14 / 1e-13; the first-order solvers at tol."""
    c = backends.ADAPTERS["CLARABEL"].options(1e-8)
    assert c == pytest.approx({"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11,
                               "tol_ktratio": 1e-8, "max_iter": 500}, rel=1e-12)
    assert backends.ADAPTERS["CLARABEL"].options(1e-13)["tol_gap_rel"] == 1e-14
    e = backends.ADAPTERS["ECOS"].options(1e-6)
    assert e == pytest.approx({"abstol": 1e-8, "reltol": 1e-8, "feastol": 1e-8,
                               "max_iters": 500}, rel=1e-12)
    assert backends.ADAPTERS["ECOS"].options(1e-13)["abstol"] == 1e-13
    assert backends.ADAPTERS["SCS"].options(1e-5) == {"eps_abs": 1e-5, "eps_rel": 1e-5,
                                                      "max_iters": 200_000}
    assert backends.ADAPTERS["OSQP"].options(1e-5) == {"eps_abs": 1e-5, "eps_rel": 1e-5,
                                                       "polish": True, "max_iter": 200_000}
    for name, ad in backends.ADAPTERS.items():
        assert backends.tolerance_options(name, 1e-7) == ad.options(1e-7)


@pytest.mark.parametrize("solver", backends.installed())
def test_tolerance_mapping_reaches_tol(solver):
    """The mapped options are accepted by the solver and its point is within tol of the closed
    form (soft threshold); a looser tol gives a point no closer for the first-order SCS."""
    errs = {}
    for tol in (1e-3, 1e-10):
        prob, x, ref = _soft_threshold_problem()
        run = backends.solve_cvxpy(prob, solver, tol)
        assert run["status"] == "optimal"
        errs[tol] = float(np.max(np.abs(x.value - ref)))
        assert errs[tol] <= 10 * tol
    if solver == "SCS":
        assert errs[1e-3] > 100 * errs[1e-10]


def test_retry_and_factorization_options():
    """CLARABEL's retry (static regularization 1e-10) and factorization (QDLDL for repeated
    restricted solves, faer for one program) never override the user's choice; the other
    adapters have neither. Clarabel accepts the options it is given."""
    clar = backends.ADAPTERS["CLARABEL"]
    assert clar.retry_options({"max_iter": 50}) == {"max_iter": 50,
                                                    "static_regularization_constant": 1e-10}
    assert clar.retry_options({"static_regularization_constant": 1e-8}) is None
    assert clar.factorization_options({}, repeated=True) == {"direct_solve_method": "qdldl"}
    assert clar.factorization_options({}, repeated=False) == {"direct_solve_method": "faer"}
    mine = {"direct_solve_method": "qdldl"}
    assert clar.factorization_options(mine, repeated=False) == mine
    for name in ("SCS", "OSQP", "ECOS"):
        ad = backends.ADAPTERS[name]
        assert ad.retry_options({}) is None and ad.factorization_options({"a": 1}, True) == {"a": 1}
    for repeated in (True, False):
        prob, x, ref = _soft_threshold_problem()
        opts = clar.retry_options(clar.factorization_options({}, repeated))
        assert backends.solve_cvxpy(prob, "CLARABEL", 1e-8, opts)["status"] == "optimal"
        assert np.max(np.abs(x.value - ref)) <= 1e-7


def test_solve_cvxpy_refuses_an_unusable_answer():
    x = cp.Variable(2)
    bad = cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0])
    with pytest.raises(SolverError, match="CLARABEL returned status 'infeasible' on the test"):
        backends.solve_cvxpy(bad, "CLARABEL", 1e-8, unusable="on the test")
    # without ``unusable`` the status is only reported
    assert backends.solve_cvxpy(bad, "CLARABEL", 1e-8)["status"] == "infeasible"
    # a required variable without a value is unusable too, whatever the status
    prob, y, _ = _soft_threshold_problem()
    with pytest.raises(SolverError, match="returned status 'optimal' here"):
        backends.solve_cvxpy(prob, "CLARABEL", 1e-8, require=[cp.Variable(1)], unusable="here")


def test_policies_name_installed_backends():
    have = backends.installed()
    assert backends.auto_order() == [s for s in backends.AUTO_ORDER if s in have]
    assert backends.auto_order()[0] == backends.resolve("auto")
    assert backends.auto_order("min_norm") == [s for s in ("SCS", "CLARABEL") if s in have]
    assert backends.stall_fallback() == ("CLARABEL" if "CLARABEL" in have else None)
    with pytest.raises(ValueError, match="program"):
        backends.auto_order("patterns")


def test_min_norm_order_puts_clarabel_first_for_wide_eps_programs():
    have = backends.installed()
    scs_first = [s for s in ("SCS", "CLARABEL") if s in have]
    assert backends.min_norm_order(600, 256, 0.05) == scs_first      # K < N
    assert backends.min_norm_order(200, 256, 0.0) == scs_first       # equality form
    assert backends.min_norm_order(200, 256, 0.05) == scs_first[::-1]


def test_auto_solves_a_wide_eps_min_norm_program_with_clarabel():
    """More neurons than samples, eps > 0: "auto" starts with CLARABEL (on this 50 x 64 MLP
    layer: CLARABEL 0.9 s, SCS 10 s) and nnlasso certifies its point; with K < N it stays SCS."""
    import warnings
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPRegressor(hidden_layer_sizes=(64,), max_iter=300, random_state=0).fit(X, y)
    Phi = np.maximum(X @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)
    Psi = Phi @ mlp.coefs_[1] + mlp.intercepts_[1]
    wide = nl.solve_min_norm(Phi, Psi, eps=0.05, skip="intercept")
    assert wide.inner == "CLARABEL" and wide.fallback is None
    assert wide.status == "optimal" and wide.rel_gap <= 1e-6 and wide.info["residual"] <= 0.05 + 1e-6
    narrow = nl.solve_min_norm(Phi[:, :20], Phi[:, :20] @ rng.standard_normal((20, 1)),
                               eps=0.05, skip="intercept")
    assert narrow.inner == "SCS"
