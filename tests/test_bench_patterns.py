"""scripts/bench_patterns.py: the wall-clock-limited pyscnn rows (child process, killed at the
limit) and run()'s row format. Tiny problems; the pyscnn success case is skipped without scnn."""
import importlib.util
import math

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("sklearn")


def _load():
    return load_script("bench_patterns")


def _have_scnn() -> bool:
    return importlib.util.find_spec("scnn") is not None


def test_row_limit_kills_the_child_and_reports_the_limit():
    bp = _load()
    # 0.01 s is below an interpreter's start-up: the child is always killed, scnn or not
    tm, obj, act, note = bp._scnn_row_limited("gated", 5, 0.1, "RFISTA", 1, 0.01)
    assert tm == 0.01 and math.isnan(obj) and act == 0
    assert note == "did not finish in 0.01 s (killed)"


@pytest.mark.skipif(_have_scnn(), reason="checks the failure path without scnn")
def test_row_limit_child_failure_is_reported():
    bp = _load()
    tm, obj, act, note = bp._scnn_row_limited("gated", 5, 0.1, "RFISTA", 1, 120.0)
    assert math.isnan(tm) and math.isnan(obj) and act == 0
    assert note.startswith("failed:") and "scnn" in note


def test_run_rows_keep_their_format():
    bp = _load()
    rows = bp.run(repeats=1, n_gated=6, n_cone=3, lams=(0.1,), scnn_cvxpy=False,
                  row_limit=120.0, adelie_rows=("gated:path:1e-7",))
    keys = {"program", "n_patterns", "lam", "impl", "time_s", "objective", "active", "gap",
            "rel_gap", "note"}
    assert all(set(r) == keys for r in rows)
    # nnlasso's rows name the solver that found the point (SSNAL or a CVXPY backend)
    nn = [r for r in rows if r["impl"].startswith("nnlasso ")]
    assert [r["program"] for r in nn] == ["gated", "cone"]
    assert all(r["rel_gap"] <= 1e-6 for r in nn)
    sc = [r for r in rows if r["impl"].startswith("pyscnn")]
    assert len(sc) == 2
    if _have_scnn():
        # the gated program is the same as nnlasso's: R-FISTA's objective is at or above the
        # certified dual value (an AL point may violate the cone constraints slightly)
        gated = [r for r in sc if r["program"] == "gated"]
        assert all(r["gap"] >= -1e-6 * abs(r["objective"]) for r in gated)
        assert bp.format_table(rows).count("\n") == len(rows) + 1
    else:
        assert all(r["note"] == "pyscnn not installed" for r in sc)
    ad = [r for r in rows if r["impl"].startswith("adelie")]
    assert [(r["program"], r["impl"]) for r in ad] == [("gated", "adelie path tol=1e-07")]
    if importlib.util.find_spec("adelie") is not None:
        # same program: adelie's objective is at or above nnlasso's certified dual value
        assert ad[0]["note"] == "" and ad[0]["gap"] >= -1e-6 * abs(ad[0]["objective"])
    else:
        assert ad[0]["note"] == "adelie not installed"


# --------------------------------------------------------------------------- adelie mapping

@pytest.mark.parametrize("cone", [False, True])
def test_adelie_lam_mapping_on_a_tiny_program(cone):
    """adelie's group lasso on its convex-ReLU matrix at lam_a = lam / N (unit penalty factors,
    no intercept) is nnlasso's pattern program at lam: on a tiny case both solve, adelie's
    point has nnlasso's objective and is certified by nnlasso's dual bound; the unmapped
    lam_a = lam is a different program (its point is far from optimal)."""
    pytest.importorskip("adelie")
    from nnlasso.patterns import sample_patterns, solve_patterns
    bp = _load()
    rng = np.random.default_rng(0)
    N, d, lam = 40, 3, 0.5
    X = rng.standard_normal((N, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    _, G, h = sample_patterns(X, 20, seed=0)
    proj, t = bp.strict_gates(X, G, h)
    pats = (proj - t > 0).T
    sol = solve_patterns(X, y, lam, pats, cone=cone, bias="penalized", skip=None)
    assert sol.rel_gap <= 1e-8
    assert bp.adelie_lam(lam, N) == lam / N
    th = bp.adelie_solve(X, y, pats, lam, cone, "lam", tol=1e-14)
    assert th.shape == (pats.shape[0] * (2 if cone else 1), d + 1)
    obj, act, viol = bp.pattern_objective(X, y, pats, lam, th, cone)
    assert viol <= 1e-6                              # feasible up to nnlasso's status threshold
    assert obj >= sol.dual_objective - 1e-6 * obj    # nnlasso's bound holds (up to viol)
    assert (obj - sol.dual_objective) / obj <= 1e-6  # ... and certifies adelie's point
    assert act == sol.n_active
    # the same call at lam_a = lam (no 1/N) solves another program
    th_bad = bp.adelie_solve(X, y, pats, lam * N, cone, "lam", tol=1e-14)
    obj_bad = bp.pattern_objective(X, y, pats, lam, th_bad, cone)[0]
    assert (obj_bad - sol.dual_objective) / obj_bad > 1e-2
