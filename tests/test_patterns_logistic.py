"""The gated logistic pattern program solved natively (nnlasso.patterns.dual_barrier)."""
import numpy as np
import pytest
from conftest import pattern_case

from nnlasso.patterns import solve_patterns
from nnlasso.patterns.dual_barrier import solve_gated_dual
from nnlasso.patterns.solve import _build


def _case(n_pat=30, N=60, seed=3):
    return pattern_case("logistic", N=N, n_pat=n_pat, seed=seed)


@pytest.mark.parametrize("lam", [1.0, 0.1, 0.01])
def test_default_gated_logistic_is_the_dual_barrier_and_matches_clarabel(lam):
    X, y, P = _case()
    kw = dict(loss="logistic", cone=False, bias="penalized", skip=None)
    nat = solve_patterns(X, y, lam, P, **kw)
    ref = solve_patterns(X, y, lam, P, solver="CLARABEL", **kw)
    assert nat.inner == "DUAL_BARRIER" and nat.solver == "auto"
    assert ref.inner == "CLARABEL"
    assert nat.status == "optimal" and nat.rel_gap <= 1e-8
    assert ref.rel_gap <= 1e-6
    # same optimum, each certified by nnlasso's dual point
    assert abs(nat.objective - ref.objective) <= 1e-7 * abs(ref.objective)
    assert nat.dual_objective <= ref.objective + 1e-12 and ref.dual_objective <= nat.objective
    assert nat.info["working_set"]["method"] == "dual_barrier"
    assert nat.info["working_set"]["newton"] > 0


def test_barrier_point_is_certified_independently():
    """Re-check the returned point and dual point with the program's own certificate parts:
    the objective from the blocks, the dual point's ratios over all blocks, its dual value."""
    from nnlasso.duality import scaled_dual_value
    from nnlasso.patterns.dual_barrier import solve_program
    X, y, P = _case(n_pat=20)
    prog = _build(X, y, 0.05, P, loss="logistic", skip=None, cone=False, bias="penalized",
                  solver="auto", tol=1e-8, options=None, working_set=False)["prog"]
    res, ev, cert, info = solve_program(prog)
    ev2 = prog.evaluate({"th": res["th"], "C": None, "c0": None, "ulin": None})
    assert ev2["objective"] == pytest.approx(ev["objective"], rel=1e-13)
    q = cert["q"]
    ratios = prog.block_ratios(q, None)[0]
    assert np.max(ratios) == pytest.approx(cert["dual_ratio"], rel=1e-12)
    dual = scaled_dual_value(prog.loss, q[:, None], prog.T, float(np.max(ratios)))
    assert dual == pytest.approx(cert["dual"], rel=1e-13)
    assert 0 <= prog.rel_gap(ev2["objective"], dual) <= 1e-8
    # the dual point of the primal fit (-grad L, PatternProgram.certify) certifies it too,
    # less tightly (its ratio inherits the primal's rounding)
    cz = prog.certify(ev2["zfit"], None)
    assert cz["dual"] <= cert["dual"] and prog.rel_gap(ev2["objective"], cz["dual"]) <= 1e-2


@pytest.mark.parametrize("kw", [dict(solver="CLARABEL"), dict(solver="SCS"),
                                dict(skip="intercept"), dict(cone=True, working_set=False),
                                dict(loss="squared"), dict(working_set=True),
                                dict(working_set=False)])
def test_other_programs_and_explicit_solvers_keep_cvxpy(kw):
    X, y, P = _case(n_pat=6, N=30)
    args = dict(loss="logistic", cone=False, bias="penalized", skip=None, lam=0.5)
    args.update(kw)
    sol = solve_patterns(X, y, args.pop("lam"), P, **args)
    assert sol.inner != "DUAL_BARRIER"
    assert sol.rel_gap <= 1e-4


def test_barrier_reports_its_history():
    X, y, P = _case(n_pat=10, N=40)
    prog = _build(X, y, 0.1, P, loss="logistic", skip=None, cone=False, bias="penalized",
                  solver="auto", tol=1e-8, options=None, working_set=False)["prog"]
    out = solve_gated_dual(prog)
    gaps = [h["rel_gap"] for h in out["history"]]
    assert out["status"] == "optimal" and gaps[-1] <= 1e-8 < gaps[0]
    assert out["mu"] is None and out["th"].shape == (prog.B, prog.e)


def test_barrier_left_to_cvxpy_above_the_memory_cap():
    """The barrier's N x N and N x B work arrays are checked against the memory cap: below
    their size, CLARABEL solves the program (same optimum)."""
    from nnlasso.memory import memory_cap
    from nnlasso.patterns.dual_barrier import barrier_memory
    X, y, P = _case(n_pat=8, N=40)
    kw = dict(loss="logistic", cone=False, bias="penalized", skip=None)
    nat = solve_patterns(X, y, 0.1, P, **kw)
    with memory_cap(barrier_memory(40, P.shape[0]) - 1):
        ref = solve_patterns(X, y, 0.1, P, **kw)
    assert nat.inner == "DUAL_BARRIER" and ref.inner == "CLARABEL"
    assert abs(nat.objective - ref.objective) <= 1e-7 * ref.objective
