"""Backend choice, the auto rule, tolerance options, status map."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

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
