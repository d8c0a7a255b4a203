"""scripts/bench_patterns_scale.py on tiny cases: the child process, its limits and its row."""
import numpy as np
from conftest import load_script


def test_cases_are_solved_certified_and_measured_in_a_child():
    bs = load_script("bench_patterns_scale")
    rows = [bs.run_limited(bs.parse_case(c), 300.0, max_memory_mb=4096)
            for c in ("squared:gated:80:3:20:0.1", "logistic:cone:80:3:10:0.1")]
    for r in rows:
        assert r["status"] == "optimal", r["status"]
        assert r["rel_gap"] <= 1e-6
        assert r["lam"] == r["frac"] * r["lam_max"] > 0
        assert r["rss_peak_mib"] >= r["rss_base_mib"] > 0
        assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["neurons"] >= 1
    table = bs.format_table(rows)
    assert table.count("\n") == len(rows) + 1 and "| logistic | cone | 80 | 3 |" in table


def test_lam_max_zeroes_the_gated_program():
    """At lam_max the gated program's optimum is the zero network (and just below it is not)."""
    bs = load_script("bench_patterns_scale")
    from nnlasso.patterns import solve_patterns
    X, y, pats = bs.make_problem("squared", 60, 3, 15)
    lm = bs.gated_lam_max(X, y, pats, "squared")
    at = solve_patterns(X, y, lm * 1.001, pats, cone=False)
    below = solve_patterns(X, y, lm * 0.9, pats, cone=False)
    def top_norm(sol):
        return float(np.max(np.linalg.norm(np.hstack([sol.U, sol.beta[:, None]]), axis=1)))
    assert top_norm(at) <= 1e-6 and at.rel_gap <= 1e-6
    assert top_norm(below) >= 1e-3 and below.rel_gap <= 1e-6


def test_a_case_over_the_limit_is_killed():
    bs = load_script("bench_patterns_scale")
    r = bs.run_limited(bs.parse_case("squared:gated:80:3:20:0.1"), 0.01)
    assert r["status"] == "killed after 0.01 s" and np.isnan(r["wall_s"])


def test_certificate_timing_rows():
    bs = load_script("bench_patterns_scale")
    rows = bs.time_certificate(150, 3, 20, fit_fracs=(0.0, 0.9))
    assert [r["fit_frac"] for r in rows] == [0.0, 0.9]
    for r in rows:
        assert r["B"] == 2 * 20 and r["wall_s"] > 0 and r["rss_peak_mib"] > 0
        assert r["max_ratio"] >= 0 and 0 <= r["above_1"] <= r["B"]
