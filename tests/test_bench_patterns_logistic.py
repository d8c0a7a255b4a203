"""scripts/bench_patterns_logistic.py on a small case: the child process, its row, the limit."""
import numpy as np
from conftest import load_script


def test_gated_case_is_solved_natively_and_measured_in_a_child():
    bl = load_script("bench_patterns_logistic")
    cases = [{"program": "gated", "lam": 0.1, "n_patterns": 12, "kwargs": {}},
             {"program": "gated", "lam": 0.1, "n_patterns": 12,
              "kwargs": {"solver": "CLARABEL"}}]
    rows = bl.run_limited(cases, 300.0, parallel=2)
    for r in rows:
        assert r["status"] == "optimal" and r["rel_gap"] <= 1e-8
        assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["neurons"] >= 1
    assert rows[0]["inner"] == "DUAL_BARRIER" and rows[1]["inner"] == "CLARABEL"
    assert abs(rows[0]["objective"] - rows[1]["objective"]) <= 1e-7 * rows[1]["objective"]
    table = bl.format_table(rows)
    assert table.count("\n") == len(rows) + 1 and "solver=CLARABEL" in table


def test_a_case_over_the_limit_is_killed():
    bl = load_script("bench_patterns_logistic")
    r = bl.run_limited([{"program": "cone", "lam": 0.1, "n_patterns": 12, "kwargs": {}}],
                       0.01)[0]
    assert r["status"] == "killed after 0.01 s" and np.isnan(r["wall_s"])


def test_data_is_standardized_breast_cancer():
    bl = load_script("bench_patterns_logistic")
    X, y, pats = bl.make_problem(20)
    assert X.shape == (569, 30) and set(np.unique(y)) == {0.0, 1.0}
    assert np.allclose(X.mean(0), 0, atol=1e-12) and np.allclose(X.std(0), 1)
    assert pats.shape[1] == 569 and 0 < pats.shape[0] <= 20
