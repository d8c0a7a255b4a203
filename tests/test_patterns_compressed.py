"""The squared loss of the restricted pattern program written through the thin QR of its fit
columns (PatternProgram.compressed_fit, issue 14 "Scale"): the same restricted optimum as the
program with the full N-entry residual, and the same certified solution of solve_patterns."""
import numpy as np
import pytest

from nnlasso.patterns import PatternProgram, sample_patterns, solve_patterns
from nnlasso.patterns.solve import _build


def _data(N=200, d=3, P=20, seed=0, loss="squared"):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(N, d))
    z = np.maximum(X @ rng.standard_normal(d), 0.0) - X[:, 0]
    y = z + 0.1 * rng.standard_normal(N) if loss == "squared" else (z > np.median(z)) * 1.0
    return X, y, sample_patterns(X, P, seed=seed)[0]


@pytest.mark.parametrize("cone,skip,bias", [(False, True, None), (True, True, None),
                                            (True, None, None), (False, True, "unpenalized"),
                                            (True, True, "penalized")])
def test_compressed_restricted_solve_is_the_uncompressed_one(cone, skip, bias):
    X, y, pats = _data()
    prog = _build(X, y, 0.05, pats, loss="squared", skip=skip, cone=cone, bias=bias,
                  solver="auto", tol=1e-9, options=None, working_set=True)["prog"]
    N = prog.N
    q = prog.dual_point(np.zeros(N))
    r, mu = prog.block_ratios(q, np.zeros((prog.B, N)) if cone else None)
    blocks = np.sort(np.argsort(-r)[:10])
    rows = prog._entry_rows(blocks, q, mu) if cone else None
    c = prog.fit_columns(blocks.size)
    assert c == 10 * 4 + (3 if skip else 0) + (1 if prog.intercept else 0) + \
        (3 if prog.lin_block else 0)
    assert prog.compressed_fit(blocks.size) and c < N
    a = prog.solve(blocks, rows)
    assert a["compressed"] and a["fit_rows"] == c
    prog.compress_ratio = None
    assert not prog.compressed_fit(blocks.size)
    b = prog.solve(blocks, rows)
    assert not b["compressed"] and b["fit_rows"] == N
    ea, eb = prog.evaluate(a), prog.evaluate(b)
    assert abs(ea["objective"] - eb["objective"]) <= 1e-8 * eb["objective"]
    np.testing.assert_allclose(ea["zfit"], eb["zfit"], atol=1e-5 * np.abs(eb["zfit"]).max())
    # the free part is determined by the fit too (the skip's columns are not collinear here)
    if skip:
        np.testing.assert_allclose(a["C"], b["C"], atol=1e-4)


@pytest.mark.parametrize("cone", [False, True])
def test_solve_patterns_same_certified_solution_with_and_without_compression(cone, monkeypatch):
    X, y, pats = _data(N=300, P=30, seed=1)
    sols, used = [], []
    solve = PatternProgram.solve

    def counted(self, blocks, rows):
        out = solve(self, blocks, rows)
        used.append(out["compressed"])
        return out
    monkeypatch.setattr(PatternProgram, "solve", counted)
    for ratio in (1.0, None):
        monkeypatch.setattr(PatternProgram, "compress_ratio", ratio)
        used.clear()
        sols.append(solve_patterns(X, y, 0.05, pats, cone=cone, working_set=True, tol=1e-9))
        assert any(used) == (ratio is not None)
    a, b = sols
    for s in sols:
        assert s.status == "optimal" and s.rel_gap <= 1e-8
    assert abs(a.objective - b.objective) <= 1e-8 * b.objective


def test_only_the_squared_loss_is_compressed():
    X, y, pats = _data(loss="logistic")
    prog = _build(X, y, 0.05, pats, loss="logistic", skip=True, cone=False, bias=None,
                  solver="auto", tol=1e-8, options=None, working_set=True)["prog"]
    assert not prog.compressed_fit(2)
    res = prog.solve(np.arange(2), None)
    assert not res["compressed"] and res["fit_rows"] == prog.N


def test_large_working_sets_keep_the_full_residual():
    X, y, pats = _data(N=60, P=20)
    prog = _build(X, y, 0.05, pats, loss="squared", skip=True, cone=False, bias=None,
                  solver="auto", tol=1e-8, options=None, working_set=True)["prog"]
    assert prog.compressed_fit(14) and not prog.compressed_fit(15)   # 4 m + 4 <= 60


@pytest.mark.parametrize("cone", [False, True])
def test_entry_budget_caps_a_rounds_blocks_by_fit_nonzeros(cone, monkeypatch):
    X, y, pats = _data(N=200, P=30, seed=2)
    prog = _build(X, y, 0.05, pats, loss="squared", skip=True, cone=cone, bias=None,
                  solver="auto", tol=1e-9, options=None, working_set=True)["prog"]
    q = prog.dual_point(np.zeros(prog.N))
    r = prog.block_ratios(q, np.zeros((prog.B, prog.N)) if cone else None)[0]
    viol = np.argsort(-r, kind="stable")[:int(np.sum(r > 1))]
    assert viol.size >= 8
    nnz = prog.block_fit_nnz(viol)
    size = prog.D.sum(axis=0)[prog.bpat[viol]]
    np.testing.assert_array_equal(nnz, np.minimum(size, 200 - size) * 4)
    budget = int(nnz[:3].sum())
    prog.entry_nnz = budget
    np.testing.assert_array_equal(prog.within_entry_budget(viol), viol[:3])
    prog.entry_nnz = 1                                  # below one block: still one enters
    np.testing.assert_array_equal(prog.within_entry_budget(viol), viol[:1])
    ref = solve_patterns(X, y, 0.05, pats, cone=cone, working_set=True, tol=1e-9)
    monkeypatch.setattr(PatternProgram, "entry_nnz", budget)
    capped = solve_patterns(X, y, 0.05, pats, cone=cone, working_set=True, tol=1e-9)
    hist = capped.info["working_set"]["history"]
    assert hist[0]["blocks"] == 3 and len(hist) > len(ref.info["working_set"]["history"])
    for s in (ref, capped):
        assert s.status == "optimal" and s.rel_gap <= 1e-8
    assert abs(capped.objective - ref.objective) <= 1e-8 * ref.objective


def test_factorization_of_squared_programs_with_a_large_dense_part(monkeypatch):
    """CLARABEL factors with faer a compressed program, or one whose dense part min(N, c) is
    at least dense_fit_rows; otherwise the working set's QDLDL; an option the user set wins."""
    import nnlasso.patterns.program as pp
    seen = []
    solve = pp.backends.solve_cvxpy

    def spy(prob, solver, tol, options=None, **kw):
        seen.append((options or {}).get("direct_solve_method"))
        return solve(prob, solver, tol, options, **kw)
    monkeypatch.setattr(pp.backends, "solve_cvxpy", spy)
    X, y, pats = _data(N=60, P=20)
    for options, expect in ((None, ["faer", "qdldl", "faer"]),
                            ({"direct_solve_method": "qdldl"}, ["qdldl"] * 3)):
        prog = _build(X, y, 0.05, pats, loss="squared", skip=True, cone=False, bias=None,
                      solver="auto", tol=1e-8, options=options, working_set=True)["prog"]
        seen.clear()
        prog.solve(np.arange(14), None)          # c = 60 <= N: compressed
        prog.solve(np.arange(20), None)          # c = 84 > N, min(N, c) = 60 < 1000
        prog.dense_fit_rows = 60
        prog.solve(np.arange(20), None)          # min(N, c) = 60 >= 60
        assert seen == expect
