"""Tests of nnlasso.solution: the active set rule, Solution's fitted values / copies / report,
and the CertifiedResult base (its fields and defaults, shared with PatternSolution)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnlasso import InvalidProblemError
from nnlasso.patterns import PatternSolution
from nnlasso.solution import CertifiedResult, Solution, active_set


def _solution(**kw):
    V = np.array([[1.0, 0.0], [0.0, 0.0], [1e-9, 0.0], [0.0, -2.0]])
    base = dict(V=V, skip_coef=np.array([[0.5, 0.0]]), intercept=np.array([1.0, -1.0]),
                objective=3.0, dual_objective=2.5, gap=0.5, rel_gap=0.5 / 3.0,
                active=active_set(V), status="optimal_inaccurate", solver="auto",
                times={"total": 0.25}, lam=0.1)
    base.update(kw)
    return Solution(**base)


def test_active_set_rule():
    V = np.array([[3.0, 4.0], [0.0, 0.0], [2e-6, 0.0], [6e-6, 8e-6]])   # norms 5, 0, 2e-6, 1e-5
    assert active_set(V).tolist() == [0, 3]            # |V_k| > 1e-6 * 5
    assert active_set(V, 0.0).tolist() == [0, 2, 3]
    assert active_set(np.zeros((3, 2))).size == 0
    with pytest.raises(InvalidProblemError, match="active_tol"):
        active_set(V, 1.5)


def test_fitted_is_phi_v_plus_skip():
    sol = _solution()
    rng = np.random.default_rng(0)
    Phi, X = rng.standard_normal((7, 4)), rng.standard_normal((7, 1))
    want = Phi @ sol.V + X @ sol.skip_coef + sol.intercept
    assert np.allclose(sol.fitted(Phi, X), want)
    assert np.allclose(sol.fitted(Phi, X[:, 0]), want)          # 1-D inputs of one feature
    with pytest.raises(InvalidProblemError, match="pass the inputs X"):
        sol.fitted(Phi)
    with pytest.raises(InvalidProblemError, match="Phi"):
        sol.fitted(Phi[:, :3], X)


def test_with_v_recomputes_the_active_set_and_keeps_the_rest():
    sol = _solution()
    assert sol.active.tolist() == [0, 3] and sol.n_active == 2 and (sol.K, sol.D) == (4, 2)
    new = sol.with_V(np.eye(4, 2), status="optimal")
    assert new.active.tolist() == [0, 1] and new.status == "optimal"
    assert new.objective == sol.objective and new.lam == sol.lam and sol.status != "optimal"


def test_certified_result_base():
    sol = _solution()
    assert isinstance(sol, CertifiedResult)
    assert issubclass(PatternSolution, CertifiedResult)
    assert sol.inner == "auto"                           # defaults to the solver asked for
    assert not sol.certified and _solution(status="optimal").certified
    names = {f.name for f in dataclasses.fields(CertifiedResult)}
    assert names == {"objective", "dual_objective", "gap", "rel_gap", "status", "solver",
                     "times", "info", "inner", "fallback"}
    assert names <= {f.name for f in dataclasses.fields(PatternSolution)}
    with pytest.raises(TypeError):                       # the certified fields are keyword-only
        CertifiedResult(1.0, 1.0, 0.0, 0.0, "optimal", "auto", {})


def test_summary_names_the_backends():
    s = _solution(inner="CLARABEL", fallback="PROX").summary()
    assert "auto -> CLARABEL (fallback PROX)" in s and "status=optimal_inaccurate" in s
    assert "active=2/4" in s and repr(_solution()).startswith("Solution(lasso (squared lam=0.1)")
