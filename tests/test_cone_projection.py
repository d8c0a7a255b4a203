"""project_cones (issue 14): the batched exact projection onto the pattern cones
K_k = {v : S[:, k] * (Xl v) >= 0}, checked against scipy.optimize.nnls per block (the NNLS
dual) and against a CVXPY projection written on the primal side (min |v - c|^2, A v >= 0)."""
import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import nnls

from nnlasso import InvalidProblemError, sample_patterns
from nnlasso.patterns import ConeProjection, project_cones


def _nnls_proj(Xl, s, c):
    """P_K(c) = c + A^T mu*, mu* = argmin_{mu >= 0} |c + A^T mu| (scipy's Lawson-Hanson)."""
    A = s[:, None] * Xl
    mu = nnls(A.T, -c, maxiter=100 * Xl.shape[0])[0]
    return c + A.T @ mu


def _cvxpy_proj(Xl, s, c):
    v = cp.Variable(c.size)
    cp.Problem(cp.Minimize(cp.sum_squares(v - c)), [cp.multiply(s, Xl @ v) >= 0]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return v.value


def _random(N=40, m=5, B=60, seed=0):
    """Cones with an interior as the pattern cones have: S[:, k] = sign(Xl g_k)."""
    rng = np.random.default_rng(seed)
    Xl = rng.standard_normal((N, m))
    S = np.where(Xl @ rng.standard_normal((m, B)) >= 0, 1, -1).astype(np.int8)
    C = rng.standard_normal((B, m))
    return Xl, S, C


def _check_fields(Xl, S, C, res, rtol=1e-9):
    """Shapes, mu >= 0 on the rows of idx, bound = |C + Xl^T (s mu)| recomputed from a full
    multiplier vector, norm = |P|."""
    N, m = Xl.shape
    B = C.shape[0]
    assert isinstance(res, ConeProjection)
    assert res.P.shape == (B, m) and res.idx.shape == (B, m) and res.mu.shape == (B, m)
    for k in range(B):
        rows = res.idx[k][res.idx[k] >= 0]
        assert rows.size == res.n_active[k] and np.unique(rows).size == rows.size
        assert np.all(res.mu[k, :rows.size] >= 0) and np.all(res.mu[k, rows.size:] == 0)
        full = np.zeros(N)
        full[rows] = res.mu[k, :rows.size]
        w = C[k] + Xl.T @ (S[:, k] * full)
        assert abs(np.linalg.norm(w) - res.bound[k]) <= rtol * max(1.0, np.linalg.norm(C[k]))
    np.testing.assert_allclose(res.norm, np.linalg.norm(res.P, axis=1), rtol=1e-12, atol=0)


def test_random_against_nnls_and_cvxpy():
    Xl, S, C = _random()
    res = project_cones(Xl, S, C)
    _check_fields(Xl, S, C, res)
    assert res.converged.all() and res.n_fallback == 0
    for k in range(C.shape[0]):
        p = _nnls_proj(Xl, S[:, k].astype(float), C[k])
        np.testing.assert_allclose(res.P[k], p, atol=1e-10)
        assert res.bound[k] >= np.linalg.norm(p) - 1e-12
        assert res.bound[k] <= np.linalg.norm(p) + 1e-10
    for k in range(0, C.shape[0], 15):
        np.testing.assert_allclose(res.P[k], _cvxpy_proj(Xl, S[:, k], C[k]), atol=1e-6)


def test_diabetes_pattern_cones():
    from sklearn.datasets import load_diabetes
    X = load_diabetes()["data"]
    X = (X - X.mean(0)) / X.std(0)
    N = X.shape[0]
    pats = sample_patterns(X, 60, seed=3)[0]                     # (P, N)
    Xl = np.hstack([X, -np.ones((N, 1))])
    S = np.hstack([2 * pats.T - 1, 2 * pats.T - 1]).astype(np.int8)   # blocks theta, theta'
    rng = np.random.default_rng(1)
    q = rng.standard_normal(N)
    C = np.vstack([(pats * q) @ Xl, -(pats * q) @ Xl])           # c_k = s_k Xl^T D_k q
    res = project_cones(Xl, S, C)
    _check_fields(Xl, S, C, res)
    assert res.converged.all()
    cn = np.linalg.norm(C, axis=1)
    for k in range(C.shape[0]):
        p = _nnls_proj(Xl, S[:, k].astype(float), C[k])
        assert np.linalg.norm(res.P[k] - p) <= 1e-9 * cn[k]
        assert res.bound[k] >= np.linalg.norm(p) - 1e-12 * cn[k]
    for k in (0, 7, 61, 100):
        assert np.linalg.norm(res.P[k] - _cvxpy_proj(Xl, S[:, k], C[k])) <= 1e-6 * cn[k]
    # the projection is feasible and complementary: A P >= -tol |c|, A_S P = 0
    slack = S.T * (res.P @ (Xl / np.linalg.norm(Xl, axis=1)[:, None]).T)     # (B, N)
    assert np.all(slack >= -1e-9 * cn[:, None])
    for k in range(C.shape[0]):
        rows = res.idx[k][res.idx[k] >= 0]
        assert np.all(np.abs(slack[k, rows]) <= 1e-9 * cn[k])


def test_degenerate_cones():
    rng = np.random.default_rng(2)
    m = 4
    base = rng.standard_normal((10, m))
    # duplicate and positively rescaled rows (the same half-spaces twice), a zero row
    Xl = np.vstack([base, base, 3.0 * base[:5], np.zeros((1, m))])
    N = Xl.shape[0]
    s0 = np.where(rng.random(10) < 0.5, 1, -1)
    S = np.tile(np.concatenate([s0, s0, s0[:5], [1]])[:, None], (1, 6)).astype(float)
    A = S[:, 0][:, None] * Xl
    C = rng.standard_normal((6, m))
    C[1] = -A[:10].T @ rng.random(10)             # in the polar cone: P = 0
    inside = np.linalg.lstsq(A[:10], np.abs(rng.standard_normal(10)), rcond=None)[0]
    C[2] = inside if np.all(A @ inside >= 0) else C[2]
    C[3] = 0.0
    res = project_cones(Xl, S, C)
    _check_fields(Xl, S, C, res)
    for k in range(6):
        p = _nnls_proj(Xl, S[:, k], C[k])
        np.testing.assert_allclose(res.P[k], p, atol=1e-10)
    assert res.norm[1] <= 1e-12 * np.linalg.norm(C[1]) and res.bound[1] <= 1e-10
    assert res.norm[3] == 0 and res.bound[3] == 0 and res.n_active[3] == 0
    if np.all(A @ C[2] >= 0):                     # c inside K: P = c, no active row
        np.testing.assert_allclose(res.P[2], C[2], atol=1e-14)
        assert res.n_active[2] == 0


def test_half_line_cone():
    # K = {v : v_1 >= 0, v_j = 0 (j > 1)} (rows +e_j and -e_j): P_K(c) = max(c_1, 0) e_1
    m = 3
    E = np.eye(m)
    Xl = np.vstack([E[0], E[1], E[1], E[2], E[2], E[1] + E[2]])
    S = np.array([1, 1, -1, 1, -1, 1], dtype=np.int8)[:, None].repeat(4, axis=1)
    C = np.array([[2.0, 1.0, -3.0], [-1.0, 2.0, 0.5], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    res = project_cones(Xl, S, C)
    _check_fields(Xl, S, C, res)
    expect = np.zeros_like(C)
    expect[:, 0] = np.maximum(C[:, 0], 0.0)
    np.testing.assert_allclose(res.P, expect, atol=1e-12)
    assert np.all(res.bound >= np.abs(expect[:, 0]) - 1e-12)
    U, dim = res.face_basis()
    assert dim[0] == 1 and abs(abs(U[0, 0, 0]) - 1) < 1e-12


def test_warm_start_same_answer():
    Xl, S, C = _random(N=80, m=6, B=100, seed=4)
    cold = project_cones(Xl, S, C)
    again = project_cones(Xl, S, C, warm=cold)
    np.testing.assert_allclose(again.P, cold.P, atol=1e-12)
    assert again.n_iter <= 1                      # already optimal: one slack check
    rng = np.random.default_rng(5)
    C2 = C + 0.05 * rng.standard_normal(C.shape)
    warm = project_cones(Xl, S, C2, warm=cold)
    ref = project_cones(Xl, S, C2)
    np.testing.assert_allclose(warm.P, ref.P, atol=1e-10)
    np.testing.assert_allclose(warm.bound, ref.bound, atol=1e-10)
    assert warm.converged.all()
    part = project_cones(Xl, S[:, 10:20], C2[10:20], warm=cold.take(np.arange(10, 20)))
    np.testing.assert_allclose(part.P, ref.P[10:20], atol=1e-10)
    # one warm start for all blocks, filled by calls on subsets (as the certificate keeps it)
    cache = ConeProjection.empty(Xl, C.shape[0])
    assert np.all(np.isinf(cache.bound)) and not cache.converged.any()
    cache.put(np.arange(10, 20), part)
    np.testing.assert_array_equal(cache.idx[10:20], part.idx)
    full = project_cones(Xl, S, C2, warm=cache)
    np.testing.assert_allclose(full.P, ref.P, atol=1e-10)


def test_warm_start_of_most_blocks_empties_the_others():
    """A warm start where most blocks start warm (copied at once) and the others must start
    empty: blocks whose cone rows changed sign (their warm rows no longer belong to them) and
    zero points. The answer equals the cold one and the factors of the empty blocks are
    zero."""
    Xl, S, C = _random(N=80, m=6, B=100, seed=8)
    warm = project_cones(Xl, S, C)
    S2 = S.copy()
    flip = np.arange(0, 100, 9)
    S2[:, flip] = -S2[:, flip]                   # these blocks' warm rows have other signs
    rng = np.random.default_rng(9)
    C2 = C + 0.05 * rng.standard_normal(C.shape)
    C2[[5, 50]] = 0.0
    res = project_cones(Xl, S2, C2, warm=warm)
    ref = project_cones(Xl, S2, C2)
    np.testing.assert_allclose(res.P, ref.P, atol=1e-10)
    np.testing.assert_allclose(res.bound, ref.bound, atol=1e-10)
    assert res.converged.all()
    assert np.all(res.P[[5, 50]] == 0) and np.all(res.n_active[[5, 50]] == 0)
    assert np.all(res._Qr[[5, 50]] == 0) and np.all(res.idx[[5, 50]] == -1)


def test_fallback_is_exact():
    Xl, S, C = _random(N=50, m=5, B=30, seed=6)
    res = project_cones(Xl, S, C, max_iter=1)     # no block can finish in one iteration
    assert res.n_fallback > 0
    _check_fields(Xl, S, C, res)
    for k in range(C.shape[0]):
        np.testing.assert_allclose(res.P[k], _nnls_proj(Xl, S[:, k].astype(float), C[k]),
                                   atol=1e-10)


def test_face_basis_and_projector():
    Xl, S, C = _random(N=30, m=6, B=40, seed=7)
    res = project_cones(Xl, S, C)
    U, dim = res.face_basis()
    H = res.face_projector()
    for k in range(C.shape[0]):
        rows = res.idx[k][res.idx[k] >= 0]
        A_S = S[rows, k][:, None] * Xl[rows]
        assert dim[k] == Xl.shape[1] - (np.linalg.matrix_rank(A_S) if rows.size else 0)
        Uk = U[k, :, :dim[k]]
        np.testing.assert_allclose(Uk.T @ Uk, np.eye(dim[k]), atol=1e-12)
        assert np.all(U[k, :, dim[k]:] == 0)
        if rows.size and dim[k]:
            assert np.abs(A_S @ Uk).max() <= 1e-10
        np.testing.assert_allclose(H[k], Uk @ Uk.T, atol=1e-12)
        np.testing.assert_allclose(H[k] @ C[k], res.P[k], atol=1e-12)
    assert np.any(dim == 0) and np.any((dim > 0) & (dim < 6))   # vertex and proper faces
    sub, dsub = res.face_basis([3, 5])
    np.testing.assert_allclose(sub, U[[3, 5]])
    np.testing.assert_array_equal(dsub, dim[[3, 5]])


@pytest.mark.parametrize("case", ["rows", "cols", "C", "nan_X", "nan_C", "zero_sign", "bool",
                                  "warm"])
def test_bad_input(case):
    Xl, S, C = _random(N=10, m=3, B=4)
    warm = None
    if case == "rows":
        S = S[:-1]
    elif case == "cols":
        C = C[:-1]
    elif case == "C":
        C = C[:, :2]
    elif case == "nan_X":
        Xl = Xl.copy()
        Xl[0, 0] = np.nan
    elif case == "nan_C":
        C = C.copy()
        C[1, 1] = np.nan
    elif case == "zero_sign":
        S = S.copy()
        S[0, 0] = 0
    elif case == "bool":
        S = S > 0
    elif case == "warm":
        warm = project_cones(Xl[:, :2], S, C[:, :2])
    with pytest.raises(InvalidProblemError):
        project_cones(Xl, S, C, warm=warm)


@pytest.mark.parametrize("bias", ["penalized", "unpenalized"])
def test_certificate_multipliers_equal_the_per_block_nnls(bias):
    """PatternProgram.cone_multipliers (all blocks in one project_cones call, used by the
    certificate) gives the ratios of the per-block NNLS (nnls_multipliers, scipy's
    Lawson-Hanson by row generation), and its multipliers reproduce them: |Xc^T w_k| / lam
    with w_k = sigma_k D_k q + S_k mu_k (1^T w_k = 0 when unpenalized)."""
    from nnlasso.patterns.solve import _build
    rng = np.random.default_rng(0)
    N, d = 150, 4
    X = rng.uniform(-1, 1, size=(N, d))
    y = np.maximum(X @ rng.standard_normal(d), 0.0) - X[:, 0] + 0.1 * rng.standard_normal(N)
    pats = sample_patterns(X, 25, seed=0)[0]
    prog = _build(X, y, 0.05, pats, loss="squared", skip=None, cone=True, bias=bias,
                  solver="auto", tol=1e-8, options=None, working_set=True)["prog"]
    q = prog.dual_point(0.5 * np.maximum(X[:, 0], 0) + 0.05 * rng.standard_normal(N))
    ks = np.arange(prog.B)
    prog.projection_entries = 7 * N                          # several chunks
    mu, r = prog.cone_multipliers(q, ks)
    assert mu.shape == (prog.B, N) and np.all(mu >= 0)
    below = 0
    for k in ks:
        a = prog.Mk[:, k] * q
        w = a + prog.Sg[:, k] * mu[k]
        assert np.linalg.norm(prog.Xc.T @ w) / prog.lam == pytest.approx(r[k], rel=1e-9,
                                                                         abs=1e-12)
        if prog.unpen:                 # exact up to the repair's rounding tolerance
            assert abs(np.sum(w)) <= 1e-9 * np.sum(np.abs(w)) + 1e-13 * np.sum(mu[k])
        r_ref = prog.nnls_multipliers(k, a)[1]
        assert r[k] == pytest.approx(r_ref, rel=1e-7, abs=1e-9)
        below += r[k] <= 1
    assert 0 < below < prog.B
    # the certificate's early exit: ratio <= 1 exactly when the minimum is, never below it,
    # still reproduced by the multipliers (a cold start: the cache would start at the optimum)
    prog._proj_cache = None
    mu_s, r_s = prog.cone_multipliers(q, ks, stop_below=1.0)
    np.testing.assert_array_equal(r_s <= 1.0, r <= 1.0)
    assert np.all(r_s >= r * (1 - 1e-9) - 1e-12)
    assert np.any(r_s > r * (1 + 1e-6))                      # some blocks did stop early
    for k in ks:
        w = prog.Mk[:, k] * q + prog.Sg[:, k] * mu_s[k]
        assert np.linalg.norm(prog.Xc.T @ w) / prog.lam == pytest.approx(r_s[k], rel=1e-9,
                                                                         abs=1e-12)
    if prog.unpen:
        # a block the repair leaves above 1 after an early exit is solved again exactly
        # (simulated: the first evaluation of the stopped blocks' ratios is doubled)
        prog._proj_cache = None
        prog.projection_entries = 1 << 22                   # one chunk
        orig = prog._projection_ratios
        seen = []

        def inflated(q_, ks_, C_, Aabs_, res_):
            m_, r_ = orig(q_, ks_, C_, Aabs_, res_)
            if not seen:
                r_ = np.where(res_.converged, r_, 2.0 + r_)
            seen.append(ks_.size)
            return m_, r_
        prog._projection_ratios = inflated
        mu_r, r_r = prog.cone_multipliers(q, ks, stop_below=1.0)
        assert len(seen) == 2 and seen[1] > 0                # the re-solve happened
        np.testing.assert_allclose(r_r[r <= 1], r[r <= 1], rtol=1e-7, atol=1e-9)


def test_stop_early_keeps_a_valid_bound():
    """stop: blocks stop once their bound is <= stop (not converged, viol NaN), the others are
    exact; the bound stays >= the exact |P_K(c)| and <= stop up to rounding."""
    Xl, S, C = _random(N=60, m=5, B=80, seed=8)
    exact = project_cones(Xl, S, C)
    stop = np.median(exact.norm) * 1.5
    res = project_cones(Xl, S, C, stop=stop)
    _check_fields(Xl, S, C, res)
    assert np.all(res.bound >= exact.norm - 1e-12)
    below = exact.norm < stop * (1 - 1e-9)
    assert np.all(res.bound[below] <= stop * (1 + 1e-12))
    early = ~res.converged
    assert early.any() and np.all(np.isnan(res.viol[early]))
    np.testing.assert_allclose(res.P[~below], exact.P[~below], atol=1e-10)
    assert np.all(res.converged[~below])
    with pytest.raises(InvalidProblemError):
        project_cones(Xl, S, C, stop=np.full(3, 1.0))


def test_bench_script_rows():
    """scripts/bench_cone_projection.py: the projection rows (warm equals cold) and the
    certificate's timing on a small cone program."""
    from conftest import load_script
    pytest.importorskip("sklearn")
    bench = load_script("bench_cone_projection")
    rows = bench.run_projection(n_patterns=15, repeats=1, datasets=("diabetes",), eps=(1e-3,))
    assert [r["case"] for r in rows] == ["cold", "unchanged", "warm 0.001"]
    assert all(r["B"] == rows[0]["B"] and r["m"] == 11 and r["err"] <= 1e-10 for r in rows)
    cert = bench.run_certificate(n_patterns=8, lam=0.05)
    assert cert["calls"] and cert["certificate_cpu"] <= cert["total_cpu"]
    assert cert["rel_gap"] <= 1e-6


def test_slack_chunks_give_the_same_answer(monkeypatch):
    """The (blocks x N) slack array is formed in chunks (memory at scale): same result."""
    import nnlasso.patterns.cone_projection as cpm
    Xl, S, C = _random(N=50, m=5, B=40, seed=9)
    whole = project_cones(Xl, S, C)
    monkeypatch.setattr(cpm, "_SLACK_ENTRIES", 3 * Xl.shape[0])       # 3 blocks a chunk
    chunked = project_cones(Xl, S, C)
    np.testing.assert_array_equal(chunked.idx, whole.idx)
    np.testing.assert_allclose(chunked.P, whole.P, atol=1e-14)
