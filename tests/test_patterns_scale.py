"""The certificate side of PatternProgram at scale (issue 14): the same values as the dense
(N, B) formulas it replaced, and memory bounded by the problem size (tracemalloc)."""
import tracemalloc

import numpy as np
import pytest

from nnlasso.patterns import PatternProgram, sample_patterns
from nnlasso.patterns.program import _repair_equality
from nnlasso.patterns.solve import _build


def _program(N, d, P, *, cone, bias=None, loss="squared", skip=True, seed=0, lam=0.5):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(N, d))
    z = np.maximum(X @ rng.standard_normal(d), 0.0) - X[:, 0]
    y = z + 0.1 * rng.standard_normal(N) if loss == "squared" else (z > np.median(z)) * 1.0
    pats = sample_patterns(X, P, seed=seed)[0]
    ctx = _build(X, y, lam, pats, loss=loss, skip=skip, cone=cone, bias=bias, solver="auto",
                 tol=1e-8, options=None, working_set=True)
    return ctx["prog"]


# ---- the dense formulas (nnlasso 0.1.0 before issue 14), an independent reference ----------
def _dense(prog):
    Mf = prog.D.astype(float)
    Mk = Mf[:, prog.bpat] * prog.bsign[None, :]
    Sg = (2.0 * Mf - 1.0)[:, prog.bpat] if prog.cone else None
    return Mk, Sg


def _ref_evaluate(prog, res):
    Mk, Sg = _dense(prog)
    th = res["th"]
    pre = prog.Xl @ th.T
    zfit = np.sum(Mk * pre, axis=1)
    if res["C"] is not None:
        zfit = zfit + prog.X_skip @ res["C"]
    if res["c0"] is not None:
        zfit = zfit + res["c0"]
    if res["ulin"] is not None:
        zfit = zfit + prog.X @ res["ulin"]
    viol = float(max(0.0, -np.min(Sg * pre))) if prog.cone else 0.0
    rel = float(max(0.0, -np.min(Sg * pre / prog.xln[:, None]))) if prog.cone else 0.0
    return pre, zfit, viol, rel


def _ref_ratios(prog, q, mu0):
    """block_ratios before the NNLS stage: (ratios, repaired multipliers)."""
    Mk, Sg = _dense(prog)
    base = Mk * q[:, None]
    if not prog.cone:
        return np.linalg.norm(base.T @ prog.Xc, axis=1) / prog.lam, None
    mu = np.array(mu0, dtype=float, copy=True)
    Wm = base + Sg * mu.T
    if not prog.unpen:
        return np.linalg.norm(Wm.T @ prog.Xl, axis=1) / prog.lam, mu
    r = np.empty(prog.B)
    for k in range(prog.B):
        rep = _repair_equality(Wm[:, k], mu[k], Sg[:, k], prog.xnorm)
        if rep is None:
            r[k] = np.inf
        else:
            mu[k] = rep[1]
            r[k] = float(np.linalg.norm(prog.X.T @ rep[0])) / prog.lam
    return r, mu


def _point(prog, rng, frac_nonzero=0.3):
    B, e, N = prog.B, prog.e, prog.N
    th = rng.standard_normal((B, e)) * (rng.random(B) < frac_nonzero)[:, None]
    mu = None
    if prog.cone:
        mu = np.abs(rng.standard_normal((B, N))) * (rng.random((B, N)) < 0.02)
        mu[rng.random(B) < 0.5] = 0.0                  # half of the blocks without multipliers
    res = {"th": th, "C": rng.standard_normal(prog.X_skip.shape[1])
           if prog.X_skip is not None else None,
           "c0": 0.3 if prog.intercept else None,
           "ulin": rng.standard_normal(prog.d) if prog.lin_block else None}
    return res, mu


@pytest.mark.parametrize("cone,bias,loss,skip", [
    (False, "penalized", "squared", True),
    (False, "unpenalized", "squared", "intercept"),
    (True, "unpenalized", "squared", True),
    (True, "unpenalized", "logistic", None),
    (True, "penalized", "squared", "intercept"),
])
def test_certificate_equals_the_dense_formulas(cone, bias, loss, skip):
    prog = _program(120, 4, 40, cone=cone, bias=bias, loss=loss, skip=skip)
    prog.chunk_entries = 3 * prog.N            # several chunks
    rng = np.random.default_rng(1)
    res, mu0 = _point(prog, rng)
    ev = prog.evaluate(res)
    pre, zfit, viol, rel = _ref_evaluate(prog, res)
    np.testing.assert_allclose(ev["pre"], pre, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ev["zfit"], zfit, rtol=1e-12, atol=1e-12)
    assert ev["max_violation"] == pytest.approx(viol, rel=1e-12, abs=1e-14)
    assert ev["max_row_violation"] == pytest.approx(rel, rel=1e-12, abs=1e-14)
    q = prog.dual_point(ev["zfit"])
    # need_below=inf: the candidates' ratios without the NNLS stage
    r, mu = prog.block_ratios(q, mu0, need_below=np.inf)
    r_ref, mu_ref = _ref_ratios(prog, q, mu0)
    np.testing.assert_allclose(r, r_ref, rtol=1e-10, atol=1e-12)
    if cone:
        np.testing.assert_allclose(mu, mu_ref, rtol=1e-12, atol=1e-14)
        assert not np.shares_memory(mu, mu0)
    # the full certificate (NNLS where the candidate's ratio is > 1): the ratios are those of
    # the dense formulas with the returned multipliers, and never above the candidates'
    cert = prog.certify(ev["zfit"], mu0)
    r_chk, _ = _ref_ratios(prog, cert["q"], cert["mu"])
    np.testing.assert_allclose(cert["ratios"], r_chk, rtol=1e-8, atol=1e-10)
    assert np.all(cert["ratios"] <= r_ref * (1 + 1e-12) + 1e-12)


def test_block_columns_index_like_the_dense_matrices():
    prog = _program(60, 3, 25, cone=True)
    Mk, Sg = _dense(prog)
    rng = np.random.default_rng(2)
    ks = rng.choice(prog.B, size=7, replace=False)
    rr = rng.integers(0, prog.N, size=7)
    for A, R in ((prog.Mk, Mk), (prog.Sg, Sg)):
        assert A.shape == R.shape
        np.testing.assert_array_equal(A[:, ks], R[:, ks])
        np.testing.assert_array_equal(A[:, 3], R[:, 3])
        np.testing.assert_array_equal(A[rr, ks], R[rr, ks])         # paired, as NumPy's
        np.testing.assert_array_equal(A[rr], R[rr])
        np.testing.assert_array_equal(A[rr, :], R[rr, :])
        np.testing.assert_array_equal(np.asarray(A), R)
        np.testing.assert_array_equal(A * 2.0, R * 2.0)
        np.testing.assert_array_equal(A.T, R.T)


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_certificate_memory_is_not_several_dense_arrays():
    """N = 3000, 400 patterns, cones (B = 800): one (N, B) float64 array is 19.2 MB. Building the
    program, evaluating a point and its certificate each stay within 1.5 of them (the dense
    formulas took 3-4: the masks Mk and Sg, then (N, B) products)."""
    N, P = 3000, 400
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(N, 5))
    y = np.maximum(X[:, 0], 0) + 0.1 * rng.standard_normal(N)
    pats = sample_patterns(X, P, seed=0)[0]
    ctx, build_peak = _peak(lambda: _build(X, y, 1.0, pats, loss="squared", skip=True,
                                           cone=True, bias=None, solver="auto", tol=1e-8,
                                           options=None, working_set=True))
    prog = ctx["prog"]
    dense = prog.N * prog.B * 8
    assert build_peak < 0.5 * dense
    res, mu0 = _point(prog, rng, frac_nonzero=0.1)
    ev, eval_peak = _peak(lambda: prog.evaluate(res))
    assert eval_peak < 1.5 * dense                      # ev["pre"] itself is one
    # certify's peak includes the copy of the multipliers it returns (one (B, N) array)
    _, cert_peak = _peak(lambda: prog.certify(ev["zfit"], mu0, nnls_mask=np.zeros(prog.B, bool)))
    assert cert_peak < 1.5 * dense


@pytest.mark.parametrize("bias", ["unpenalized", "penalized"])
def test_row_generated_nnls_reaches_the_full_nnls_minimum(bias):
    """nnls_multipliers solves the NNLS on a growing subset of rows: its ratio is that of
    scipy's NNLS over all N rows (the former computation), and with stop_below it stops at a
    ratio <= stop_below exactly when the minimum is below it."""
    from scipy.optimize import nnls
    prog = _program(400, 5, 60, cone=True, bias=bias, lam=0.05)
    prog.nnls_rows = 8                                   # several passes at N = 400
    rng = np.random.default_rng(3)
    q = prog.dual_point(0.5 * np.maximum(prog.X[:, 0], 0) + 0.05 * rng.standard_normal(prog.N))
    Xr = prog.XlR if prog.unpen else prog.Xl
    below = above = 0
    for k in range(0, prog.B, 3):
        a = prog.Mk[:, k] * q
        s = prog.Sg[:, k]
        mu_f = nnls(Xr.T * s[None, :], -(Xr.T @ a), maxiter=50 * prog.N)[0]
        w = a + s * mu_f
        if prog.unpen:
            w, mu_f = _repair_equality(w, mu_f, s, prog.xnorm)
        r_full = np.linalg.norm(prog.Xc.T @ w) / prog.lam
        mu, r = prog.nnls_multipliers(k, a)
        assert np.all(mu >= 0)
        assert r == pytest.approx(r_full, rel=1e-6, abs=1e-9)
        w2 = a + s * mu
        assert np.linalg.norm(prog.Xc.T @ w2) / prog.lam == pytest.approx(r, rel=1e-12, abs=1e-15)
        if prog.unpen:
            assert abs(np.sum(w2)) <= 1e-9 * np.sum(np.abs(w2))
        mu_s, r_s = prog.nnls_multipliers(k, a, stop_below=1.0)
        assert np.all(mu_s >= 0)
        assert (r_s <= 1.0) == (r_full <= 1.0)
        assert r_s >= r_full * (1 - 1e-6) - 1e-9
        below += r_full <= 1.0
        above += r_full > 1.0
    assert below > 0 and above > 0                       # both branches were exercised
