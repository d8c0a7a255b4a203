"""Tests of nnlasso.pattern_path (the lam path of the pattern programs) against independent cold
solve_patterns calls at every lam."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso
from conftest import pattern_case
from nnlasso.errors import InvalidProblemError
from nnlasso.patterns import fit_patterns, pattern_path, sample_patterns, solve_patterns


def _case(loss="squared", N=60, n_pat=80, seed=5):
    return pattern_case(loss, N=N, n_pat=n_pat, seed=seed)


@pytest.mark.parametrize("cone,loss,skip", [(True, "squared", None), (False, "squared", None),
                                            (True, "squared", True), (False, "logistic", True)])
def test_path_equals_cold_solves_and_warm_starts_need_fewer_rounds(cone, loss, skip):
    """Every point of the path is the cold solve_patterns optimum at its lam (objectives to
    1e-8 relative, both certified over all blocks and rows), returned in the order of ``lams``
    (given unsorted here, solved from the largest down); the warm-started solves take fewer
    restricted solves than the cold ones."""
    X, y, P = _case(loss)
    lams = [0.05, 1.0, 0.2, 0.003, 0.4, 0.012] if loss == "squared" else [0.5, 2.0, 0.1]
    kw = dict(loss=loss, cone=cone, skip=skip, bias="penalized", working_set=True)
    sols = pattern_path(X, y, lams, P, **kw)
    assert len(sols) == len(lams)
    warm_rounds = cold_rounds = 0
    for lam, s in zip(lams, sols):
        cold = solve_patterns(X, y, lam, P, **kw)
        assert s.lam == lam
        for sol in (s, cold):
            assert sol.status == "optimal" and sol.rel_gap <= 1e-7
        # both objectives are within their certified gaps above the optimum
        assert abs(s.objective - cold.objective) <= s.gap + cold.gap + 1e-9 * cold.objective
        assert s.objective == pytest.approx(cold.objective, rel=3e-8)
        # a valid lower bound (up to the cold point's tolerated cone violation, <= 1e-6)
        assert s.dual_objective <= cold.objective + 1e-9 * abs(cold.objective) + 1e-12
        if cone:
            assert s.network_objective == pytest.approx(cold.objective, rel=1e-6)
        # the step in the path: 0 for the largest lam, warm starts after it
        assert s.info["path"]["step"] == sorted(lams, reverse=True).index(lam)
        assert s.info["path"]["warm_start"] == (lam != max(lams))
        if lam != max(lams):
            warm_rounds += s.info["working_set"]["rounds"]
            cold_rounds += cold.info["working_set"]["rounds"]
        else:
            assert s.info["working_set"]["rounds"] == cold.info["working_set"]["rounds"]
    assert warm_rounds < cold_rounds
    # the build (checks, program arrays) is paid once, by the largest lam
    assert [s.times["build"] > 0 for s in sols] == [lam == max(lams) for lam in lams]


def test_path_without_screening_and_one_shot_programs():
    """screen=False (the previous working set only) and working_set=False (one program per
    lam, no warm start) give the same certified values."""
    X, y, P = _case(N=40, n_pat=40, seed=3)
    lams = np.geomspace(0.5, 0.005, 4)
    a = pattern_path(X, y, lams, P, working_set=True, screen=False)
    b = pattern_path(X, y, lams, P, working_set=False)
    assert [s.info["path"]["screened"] for s in a] == [0] * 4
    assert not any(s.info["path"]["warm_start"] for s in b)
    for sa, sb in zip(a, b):
        assert sa.status == sb.status == "optimal"
        assert sa.objective == pytest.approx(sb.objective, rel=1e-8)


@pytest.mark.parametrize("cone", [True, False])
def test_path_auto_one_program_first_then_warm_working_sets(cone):
    """working_set="auto" on a small program: the first lam is one program (as solve_patterns
    "auto"), the later ones warm-started working sets from its nonzero blocks; same values."""
    X, y, P = _case(N=30, n_pat=30, seed=2)
    lams = [0.5, 0.05, 0.005]
    kw = dict(cone=cone, bias="penalized", skip=None)
    sols = pattern_path(X, y, lams, P, **kw)
    assert "history" not in sols[0].info["working_set"]              # one program
    for s, lam in zip(sols, lams):
        cold = solve_patterns(X, y, lam, P, **kw)
        assert s.status == "optimal"
        assert s.objective == pytest.approx(cold.objective, rel=3e-8)
    for s in sols[1:]:
        assert s.info["path"]["warm_start"] and "history" in s.info["working_set"]
        assert s.info["path"]["start_blocks"] < s.U.shape[0]


@pytest.mark.parametrize("lams", [[], [0.1, 0.0], [0.1, float("nan")], [-1.0], [np.inf],
                                  "0.1", [[0.1, 0.2], [0.3, 0.4]], [0.1, "a"], None])
def test_bad_lams_are_refused_naming_the_field(lams):
    X, y, P = _case(N=20, n_pat=10)
    with pytest.raises(InvalidProblemError, match="lams"):
        pattern_path(X, y, lams, P)


def test_fit_patterns_lams_is_the_path_and_lam_unchanged():
    """fit_patterns(..., lams=...) samples the patterns once and runs pattern_path on them;
    fit_patterns(..., lam) still returns one PatternSolution; lam and lams together, or
    neither, are refused."""
    X, y, _ = _case(N=40)
    lams = [0.3, 0.03]
    sols = fit_patterns(X, y, lams=lams, n_patterns=30, seed=1, cone=False, working_set=True)
    P, _, _ = sample_patterns(X, 30, seed=1)
    ref = pattern_path(X, y, lams, P, cone=False, working_set=True)
    assert isinstance(sols, list) and len(sols) == 2
    for s, r in zip(sols, ref):
        assert s.objective == pytest.approx(r.objective, rel=1e-8)
        assert s.gates is not None
    assert "patterns" in sols[0].times and "patterns" not in sols[1].times
    one = fit_patterns(X, y, 0.03, n_patterns=30, seed=1, cone=False, working_set=True)
    assert isinstance(one, nnlasso.PatternSolution)
    assert one.objective == pytest.approx(sols[1].objective, rel=1e-8)
    for kw in ({"lam": 0.1, "lams": lams}, {}):
        with pytest.raises(InvalidProblemError, match="lam / lams"):
            fit_patterns(X, y, n_patterns=10, **kw)
    with pytest.raises(InvalidProblemError, match="lams"):
        fit_patterns(X, y, lams=[0.1, -2], n_patterns=10)


def test_exported():
    assert nnlasso.pattern_path is pattern_path
    assert "pattern_path" in nnlasso.__all__ and "pattern_path" in nnlasso.patterns.__all__


@pytest.mark.parametrize("cone", [True, False])
def test_working_set_start_point_is_certified_before_any_restricted_solve(cone):
    """solve_working_set(start={"point": ...}): a point that nnlasso's certificate (all blocks
    and rows) accepts is returned with 0 rounds; a worse point (the optimum scaled by 0.9) is
    not, and the loop then reaches the same optimum as without it."""
    from nnlasso.patterns.solve import _build
    X, y, P = _case(N=40, n_pat=40, seed=3)
    ctx = _build(X, y, 0.02, P, loss="squared", skip=None, cone=cone, bias="penalized",
                 solver="auto", tol=1e-8, options=None, working_set=True)
    prog = ctx["prog"]
    res, ev, cert, info = prog.solve_working_set()
    assert info["rounds"] >= 1
    start = {"blocks": info["working_blocks"], "rows": info["working_rows"], "q": cert["q"],
             "mu": cert["mu"]}
    res1, ev1, cert1, info1 = prog.solve_working_set(start={**start, "point": res})
    assert info1["rounds"] == 0 and res1 is res
    assert ev1["objective"] == ev["objective"]
    assert prog.rel_gap(ev1["objective"], cert1["dual"]) <= 1e-8
    bad = {**res, "th": 0.9 * res["th"]}
    res2, ev2, cert2, info2 = prog.solve_working_set(start={**start, "point": bad})
    assert info2["rounds"] >= 1 and res2 is not bad
    assert ev2["objective"] == pytest.approx(ev["objective"], rel=1e-8)
    assert prog.rel_gap(ev2["objective"], cert2["dual"]) <= 1e-8


@pytest.mark.parametrize("skip", [None, True])
def test_gated_warm_steps_take_the_newton_point_each_equal_to_a_cold_solve(skip):
    """Gated, squared loss, penalized bias: the warm steps' Newton points (GatedNewton) are
    accepted by the certificate over all blocks (0 interior-point rounds), and each equals the
    cold solve_patterns optimum at its lam (and the path with warm_solver="ip")."""
    X, y, P = _case(N=60, n_pat=80, seed=5)
    lams = np.geomspace(1.0, 0.003, 6)
    kw = dict(cone=False, skip=skip, bias="penalized", working_set=True)
    sols = pattern_path(X, y, lams, P, **kw)
    ip = pattern_path(X, y, lams, P, warm_solver="ip", **kw)
    accepted = 0
    for lam, s, t in zip(lams, sols, ip):
        cold = solve_patterns(X, y, lam, P, **kw)
        assert s.status == "optimal" and s.rel_gap <= 1e-8
        assert s.objective == pytest.approx(cold.objective, rel=3e-8)
        assert s.objective == pytest.approx(t.objective, rel=3e-8)
        assert s.dual_objective <= cold.objective + 1e-9 * abs(cold.objective)
        assert t.info["path"]["newton"] is None and t.info["working_set"]["rounds"] >= 1
        nw = s.info["path"]["newton"]
        if s.info["path"]["step"] == 0:
            assert nw is None
        elif s.info["working_set"]["rounds"] == 0:
            assert nw["ok"] and nw["solves"] >= 1
            # the Newton time is solve time, the certificate's the rest
            assert s.times["solve"] >= nw["time"] * 0.5 and s.times["dual"] >= 0
            accepted += 1
    assert accepted >= 4


def test_newton_is_not_used_where_it_does_not_apply_and_bad_warm_solver():
    """The cone program with a free affine part (here the skip) and the logistic loss run the
    interior-point loop only (no Newton or SSNAL try); an unknown warm_solver is refused
    naming the field."""
    from nnlasso.patterns.newton import GatedNewton, applicable
    from nnlasso.patterns.solve import _build
    X, y, P = _case(N=30, n_pat=20, seed=2)
    s = pattern_path(X, y, [0.3, 0.1], P, cone=True, bias="penalized", skip=True,
                     working_set=True)
    assert s[1].info["path"]["warm_start"] and s[1].info["path"]["newton"] is None
    ctx = _build(X, y, 0.1, P, loss="squared", skip=None, cone=True, bias="penalized",
                 solver="auto", tol=1e-8, options=None, working_set=True)
    assert not applicable(ctx["prog"])
    with pytest.raises(ValueError, match="gated"):
        GatedNewton(ctx["prog"])
    with pytest.raises(InvalidProblemError, match="warm_solver"):
        pattern_path(X, y, [0.1], P, cone=False, warm_solver="admm")


def test_newton_point_refuses_programs_past_its_memory_bound():
    """GatedNewton.solve returns None (the loop then solves the step) when one iteration's
    arrays would pass max_bytes; the path's values are unchanged."""
    from nnlasso.patterns.newton import GatedNewton
    from nnlasso.patterns.solve import _build
    X, y, P = _case(N=40, n_pat=40, seed=3)
    ctx = _build(X, y, 0.05, P, loss="squared", skip=None, cone=False, bias="penalized",
                 solver="auto", tol=1e-8, options=None, working_set=True)
    prog = ctx["prog"]
    res, ev, cert, info = prog.solve_working_set()
    nt = GatedNewton(prog)
    prog.lam = 0.03
    assert nt.solve(res["th"], 0.03) is not None
    nt.max_bytes = 1000
    assert nt.solve(res["th"], 0.03) is None and nt.fail.startswith("too large")


def test_cone_warm_step_starts_from_the_previous_dual_point(monkeypatch):
    """A cone warm step starts from PatternProgram.start_from_dual at the previous certificate's
    dual point (blocks of relative ratio >= 0.9, their projections' rows); screen=False keeps
    the previous working set."""
    from nnlasso.patterns import path as path_mod
    from nnlasso.patterns.program import PatternProgram
    X, y, P = _case(N=40, n_pat=40, seed=3)
    seen = []
    orig = PatternProgram.start_from_dual

    def spy(self, q, threshold=0.9):
        out = orig(self, q, threshold)
        seen.append((np.array(q), threshold, out["blocks"].copy()))
        return out

    monkeypatch.setattr(PatternProgram, "start_from_dual", spy)
    lams = [0.3, 0.1, 0.03]
    sols = pattern_path(X, y, lams, P, cone=True, skip=None, bias="penalized",
                        working_set=True, warm_solver="ip")
    assert len(seen) == 2 and all(t == path_mod.CONE_START_THRESHOLD for _, t, _ in seen)
    for s in sols:
        assert s.status == "optimal" and s.rel_gap <= 1e-7
    assert sols[1].info["path"]["start_blocks"] == seen[0][2].size
    seen.clear()
    pattern_path(X, y, lams, P, cone=True, skip=None, bias="penalized", working_set=True,
                 screen=False, warm_solver="ip")
    assert seen == []


def test_start_point_with_its_certificate_is_not_certified_again(monkeypatch):
    """start["point_certificate"] (SSNAL's (ev, cert) of its point, as pattern_path passes
    it): the loop takes the point without certifying it again when that certificate's gap is
    <= tol, and runs its rounds when it is not; the path's warm steps pass it (no certify call
    in the loop's start-point check)."""
    from nnlasso.patterns.program import PatternProgram
    from nnlasso.patterns.solve import _build
    X, y, P = _case(N=40, n_pat=40, seed=3)
    ctx = _build(X, y, 0.02, P, loss="squared", skip=None, cone=True, bias="penalized",
                 solver="auto", tol=1e-8, options=None, working_set=True)
    prog = ctx["prog"]
    res, ev, cert, info = prog.solve_working_set()
    start = {"blocks": info["working_blocks"], "rows": info["working_rows"], "q": cert["q"],
             "mu": cert["mu"], "point": res}
    calls = []
    orig = PatternProgram.certify

    def counted(self, *a, **k):
        calls.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(PatternProgram, "certify", counted)
    res1, ev1, cert1, info1 = prog.solve_working_set(
        start={**start, "point_certificate": (ev, cert)})
    assert info1["rounds"] == 0 and res1 is res and cert1 is cert and not calls
    weak = {**cert, "dual": ev["objective"] - 1e-3 * abs(ev["objective"])}
    res2, ev2, cert2, info2 = prog.solve_working_set(
        start={**start, "point_certificate": (ev, weak)})
    assert info2["rounds"] >= 1 and calls
    assert prog.rel_gap(ev2["objective"], cert2["dual"]) <= 1e-8
    calls.clear()
    seen = []
    orig_try = PatternProgram._try_point

    def tried(self, point, inW, q, mu, start, t0):
        n0 = len(calls)
        out = orig_try(self, point, inW, q, mu, start, t0)
        seen.append((start.get("point_certificate") is not None, len(calls) - n0))
        return out

    monkeypatch.setattr(PatternProgram, "_try_point", tried)
    sols = pattern_path(X, y, [0.05, 0.02], P, cone=True, bias="penalized", skip=None,
                        working_set=True)
    assert seen == [(True, 0)]
    assert sols[1].info["working_set"]["rounds"] == 0 and sols[1].rel_gap <= 1e-8
    assert sols[1].objective == pytest.approx(ev["objective"], rel=1e-7)
