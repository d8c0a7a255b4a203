"""The working set's start chosen at a dual point (PatternProgram.start_from_dual, issue 14):
at the optimum's dual point q* it holds every nonzero block and, with cones, every active cone
row, so the loop certifies the optimum in one round (the one-shot program is the reference)."""
import numpy as np
import pytest

from nnlasso import InvalidProblemError
from conftest import pattern_case
from nnlasso.patterns import solve_patterns
from nnlasso.patterns.solve import _build


def _case(N=40, n_pat=40, seed=3):
    X, y, P = pattern_case(N=N, n_pat=n_pat, seed=seed)
    return X, y, P[P.any(axis=1)]


def _prog(X, y, P, lam, cone):
    return _build(X, y, lam, P, loss="squared", skip=None, cone=cone, bias="penalized",
                  solver="auto", tol=1e-8, options=None, working_set=True)["prog"]


@pytest.mark.parametrize("cone", [True, False])
def test_start_at_the_optimal_dual_point_needs_one_round(cone):
    X, y, P = _case()
    lam = 0.02
    ref = solve_patterns(X, y, lam, P, cone=cone, bias="penalized", skip=None,
                         working_set=False)
    prog = _prog(X, y, P, lam, cone)
    res0, ev0, cert0, info0 = prog.solve_working_set()
    assert info0["rounds"] > 1            # from the zero network the loop needs several
    th = res0["th"]
    nz = np.flatnonzero(np.linalg.norm(th, axis=1) > 1e-6 * np.abs(th).max())

    prog = _prog(X, y, P, lam, cone)
    start = prog.start_from_dual(cert0["q"], threshold=0.9)
    assert np.isin(nz, start["blocks"]).all()
    assert start["blocks"].size < prog.B
    if cone:
        # every cone row active at the optimum (slack ~ 0 at a nonzero theta_k) is a start row
        scale = np.abs(th).max() * prog.xln
        n_active = 0
        for k in nz:
            slack = prog.Sg[:, [k]][:, 0] * (prog.Xl @ th[k])
            active = np.flatnonzero(slack <= 1e-7 * scale)
            assert np.isin(active, start["rows"][int(k)]).all()
            n_active += active.size
        assert n_active > nz.size
        assert start["mu"].shape == (prog.B, prog.N)
    else:
        assert start["rows"] is None and start["mu"] is None
    res, ev, cert, info = prog.solve_working_set(start=start)
    assert info["rounds"] == 1
    assert prog.rel_gap(ev["objective"], cert["dual"]) <= 1e-8
    assert ev["objective"] == pytest.approx(ref.objective, rel=1e-6)


def test_start_from_dual_refuses_bad_input():
    X, y, P = _case(N=20, n_pat=10)
    prog = _prog(X, y, P, 0.05, True)
    with pytest.raises(InvalidProblemError, match="q: expected"):
        prog.start_from_dual(np.zeros(prog.N + 1))
    with pytest.raises(InvalidProblemError, match="threshold"):
        prog.start_from_dual(np.zeros(prog.N), threshold=1.5)
    # the zero dual point: no block passes, the largest ratio's block is the start
    assert prog.start_from_dual(np.zeros(prog.N))["blocks"].size == 1
