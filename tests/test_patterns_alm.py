"""The SSNAL warm step of the cone pattern program (nnlasso.patterns.augmented_lagrangian, issue
14): from the solution at a nearby lam it returns a point that nnlasso's certificate accepts
over all blocks and rows, equal to an independently written CVXPY program's optimum; the path
uses it, and falls back to the interior-point loop when it returns none."""
import cvxpy as cp
import numpy as np
import pytest

from conftest import pattern_case
from nnlasso.patterns import pattern_path, solve_patterns
from nnlasso.patterns.augmented_lagrangian import ConeALM, applicable
from nnlasso.patterns.solve import _build


def _case(N=40, n_pat=30, seed=3):
    X, y, P = pattern_case(N=N, n_pat=n_pat, seed=seed)
    return X, y, P[P.any(axis=1)]


def _prog(X, y, P, lam, **kw):
    args = dict(loss="squared", skip=None, cone=True, bias="penalized")
    args.update(kw)
    return _build(X, y, lam, P, **args, solver="auto", tol=1e-8, options=None,
                  working_set=True)["prog"]


def _reference(X, y, lam, P):
    """Loop-built: one variable (u, beta) and one constraint per block, |(u, beta)| penalized."""
    N, d = X.shape
    fit, pen, cons = 0, 0, []
    for pat in P:
        Dm = pat.astype(float)
        for s in (1.0, -1.0):
            th = cp.Variable(d + 1)
            pre = X @ th[:d] - th[d]
            cons.append(cp.multiply(2 * Dm - 1, pre) >= 0)
            fit = fit + s * cp.multiply(Dm, pre)
            pen = pen + cp.norm(th, 2)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y - fit) + lam * pen), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return prob.value


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("lam0,lam1", [(0.2, 0.1), (0.05, 0.02)])
def test_warm_point_is_certified_and_equals_the_reference(lam0, lam1, scaled):
    """From the solution at lam0, with (``lam_prev``: the path's warm step) and without the
    scaled dual start."""
    X, y, P = _case()
    s0 = solve_patterns(X, y, lam0, P, cone=True, bias="penalized", skip=None)
    prog = _prog(X, y, P, lam1)
    alm = ConeALM(prog)
    pt = alm.solve(np.hstack([s0.U, s0.beta[:, None]]), lam1, lam0 if scaled else None)
    assert pt is not None, alm.fail
    ev = prog.evaluate(pt)
    cert = prog.certify(ev["zfit"], pt["mu"])
    assert prog.rel_gap(ev["objective"], cert["dual"]) <= 1e-8
    assert ev["max_row_violation"] <= 1e-9 * float(np.max(ev["bnorm"]))
    assert ev["objective"] == pytest.approx(_reference(X, y, lam1, P), rel=1e-7)
    assert np.array_equal(pt["support"], np.flatnonzero(ev["bnorm"] > 0))


@pytest.mark.parametrize("kw", [dict(cone=False), dict(skip=True), dict(bias="unpenalized"),
                                dict(skip=True, loss="logistic")])
def test_only_the_penalized_cone_program_without_free_part(kw):
    X, y, P = _case(N=20, n_pat=10)
    if kw.get("loss") == "logistic":
        y = (y > np.median(y)).astype(int)
    prog = _prog(X, y, P, 0.1, **kw)
    assert not applicable(prog)
    with pytest.raises(ValueError, match="the penalized bias"):
        ConeALM(prog)


@pytest.mark.parametrize("lam0,lam1", [(0.5, 0.2), (0.1, 0.05)])
def test_logistic_points_warm_and_cold_equal_the_interior_point_loop(lam0, lam1):
    """The logistic loss (h*(u) = sum s log s + (1 - s) log(1 - s), s = -y u, Newton kept
    inside (0, 1)): from the solution at lam0 and from the zero network, certified points
    equal to the CLARABEL loop's optimum."""
    X, y, P = pattern_case("logistic", N=40, n_pat=30, seed=3)
    P = P[P.any(axis=1)]
    kw = dict(loss="logistic", cone=True, bias="penalized", skip=None)
    s0 = solve_patterns(X, y, lam0, P, **kw)
    ref = solve_patterns(X, y, lam1, P, **kw, working_set=True)
    assert ref.inner == "CLARABEL" and ref.status == "optimal"
    prog = _prog(X, y, P, lam1, loss="logistic")
    assert applicable(prog)
    warm = np.hstack([s0.U, s0.beta[:, None]])
    for th0, lam_prev in ((warm, None), (warm, lam0), (np.zeros((prog.B, prog.e)), None)):
        alm = ConeALM(prog)
        pt = alm.solve(th0, lam1, lam_prev)
        assert pt is not None, alm.fail
        ev = prog.evaluate(pt)
        cert = prog.certify(ev["zfit"], pt["mu"])
        assert prog.rel_gap(ev["objective"], cert["dual"]) <= 1e-8
        assert ev["max_row_violation"] <= 1e-9 * float(np.max(ev["bnorm"]))
        assert ev["objective"] == pytest.approx(ref.objective, rel=1e-7)


def test_path_takes_the_point_and_falls_back_to_the_loop(monkeypatch):
    """Warm steps whose SSNAL point certifies make no restricted solve (rounds 0); with SSNAL
    cut to one outer iteration it returns none, and the loop (started at its dual point)
    solves the step to the same optimum."""
    X, y, P = _case()
    lams = [0.3, 0.1, 0.03]
    kw = dict(cone=True, bias="penalized", skip=None, working_set=True)
    sols = pattern_path(X, y, lams, P, **kw)
    for s in sols[1:]:
        info = s.info["path"]["newton"]
        assert info["ok"] and s.info["working_set"]["rounds"] == 0
        assert s.status == "optimal" and s.rel_gap <= 1e-8
    monkeypatch.setattr(ConeALM, "max_outer", 1)
    back = pattern_path(X, y, lams, P, **kw)
    for s, b in zip(sols[1:], back[1:]):
        info = b.info["path"]["newton"]
        assert not info["ok"] and info["fail"] == "max_outer"
        assert b.info["working_set"]["rounds"] >= 1 and b.status == "optimal"
        assert b.objective == pytest.approx(s.objective, rel=1e-7)
    ip = pattern_path(X, y, lams, P, **kw, warm_solver="ip")
    assert all(s.info["path"]["newton"] is None for s in ip)


def test_solve_patterns_default_is_ssnal_on_large_cone_programs(monkeypatch):
    """working_set="auto" (the default) on a cone program large enough for the working set
    runs SSNAL from the zero network: certified, equal to the interior-point loop's optimum
    (working_set=True, CLARABEL); when SSNAL returns no point the loop solves it."""
    X, y, P = _case(N=60, n_pat=300, seed=4)
    kw = dict(cone=True, bias="penalized", skip=None)
    assert P.shape[0] * 2 * X.shape[0] > 20_000 and 2 * P.shape[0] >= 500   # SSNAL applies
    lam = 0.05
    sol = solve_patterns(X, y, lam, P, **kw)
    loop = solve_patterns(X, y, lam, P, **kw, working_set=True)
    assert sol.info["working_set"]["method"] == "ssnal" and sol.inner == "SSNAL"
    assert loop.info["working_set"].get("method") is None and loop.inner == "CLARABEL"
    for s in (sol, loop):
        assert s.status == "optimal" and s.rel_gap <= 1e-8
    assert sol.objective == pytest.approx(loop.objective, rel=1e-7)
    assert sol.max_violation <= 1e-9 * np.max(np.abs(sol.U)) + 1e-12
    monkeypatch.setattr(ConeALM, "max_outer", 1)
    back = solve_patterns(X, y, lam, P, **kw)
    wsi = back.info["working_set"]
    assert wsi["method"] == "clarabel" and wsi["ssnal"]["fail"] == "max_outer"
    assert wsi["rounds"] >= 1 and back.status == "optimal"
    assert back.objective == pytest.approx(loop.objective, rel=1e-7)


def _slacks(prog, alm, th, act):
    """Unit slacks s_n xl_n . theta_k / |xl_n| of the blocks act (N, a)."""
    return (prog.Xl @ th[act].T) * alm.S[:, act] / np.linalg.norm(prog.Xl, axis=1)[:, None]


def test_repolish_cuts_each_face_by_the_rows_it_violates():
    """A polish whose faces were too large (here: every block's whole space, i.e. the gated
    program on the support) leaves the cones; the re-polish restricts each block to the rows
    it violated (a_n . v = 0) and ends on a point that keeps them."""
    X, y, P = _case()
    prog = _prog(X, y, P, 0.05)
    alm = ConeALM(prog)
    pt = alm.solve(np.zeros((prog.B, prog.e)), 0.05)
    assert pt is not None, alm.fail
    act = pt["support"]
    full = [np.eye(prog.e)] * act.size
    th1, act1, bases1 = alm._face_newton(act, full, pt["th"][act], 0.05, 30)
    before = _slacks(prog, alm, th1, act1)
    bad = before < -1e-6
    assert bad.any()                                 # the whole spaces leave the cones
    th2, act2, bases2 = alm._repolish(th1, act1, bases1, 0.05)
    pos = {k: j for j, k in enumerate(act2.tolist())}
    after = _slacks(prog, alm, th2, act2)
    for j, k in enumerate(act1.tolist()):
        rows = np.flatnonzero(bad[:, j])
        if rows.size == 0:
            continue
        if k in pos:                                 # the cut rows are kept exactly
            assert np.all(np.abs(after[rows, pos[k]]) <= 1e-9 * np.abs(th2).max())
            assert bases2[pos[k]].shape[1] < prog.e
        else:                                        # or the block left (its face was cut to 0)
            assert np.all(th2[k] == 0)
    # the objective over the smaller faces is not below the unconstrained one's
    f = lambda th: prog.evaluate({"th": th, "C": None, "c0": None, "ulin": None})["objective"]
    assert f(th2) >= f(th1) - 1e-12


def test_no_progress_is_judged_on_the_best_gap(monkeypatch):
    """The iterates' certified gap is not monotone: a run whose gap fell below stall_gap once
    is not stopped for "no progress" when a later iterate's gap is large again; one whose gap
    never did is stopped after stall_outer outer iterations."""
    X, y, P = _case(N=20, n_pat=10)
    prog = _prog(X, y, P, 0.1)

    def run(gaps):
        alm = ConeALM(prog)
        seq = iter(gaps)
        monkeypatch.setattr(alm, "_certify", lambda th, u=None: (next(seq), 0.0))
        alm.polish_below = 0.0
        alm.eta_cert = np.inf                       # every outer iteration certified
        alm.max_outer = len(gaps)
        assert alm.solve(np.zeros((prog.B, prog.e)), 0.1) is None
        return alm.fail

    assert run([0.99, 0.99, 0.3, 0.99, 0.99, 0.99, 0.99]) == "max_outer"
    assert run([0.99] * 7) == "no progress"


def _dense_newton_matrix(prog, res, sig, lam, hd, act):
    """diag(h*'') + sigma sum_k A_k ((1 - c_k) Pi_k + c_k p_k p_k^T) A_k^T over the blocks act,
    written block by block from the dictionary's columns."""
    ref = np.diag(hd)
    for k in act:
        Ak = prog.Mk[:, [k]] * prog.Xl
        pk, c = res.P[k] / res.norm[k], sig * lam / res.norm[k]
        J = (1 - c) * res.face_projector([k])[0] + c * np.outer(pk, pk)
        ref += sig * Ak @ J @ Ak.T
    return ref


@pytest.mark.parametrize("scale_u", [1.0, 0.01, 0.0])
def test_newton_matrix_equals_its_dense_definition(scale_u):
    """_hessian's N x N matrix (one product W W^T over the active blocks' face bases and unit
    projections, without the bases' zero padding) equals diag(h*'') + sigma sum_k A_k
    ((1 - c_k) Pi_k + c_k p_k p_k^T) A_k^T written block by block, for faces of every size."""
    from nnlasso.patterns.cone_projection import project_cones
    X, y, P = _case()
    prog = _prog(X, y, P, 0.05)
    alm = ConeALM(prog)
    rng = np.random.default_rng(0)
    u = rng.normal(size=prog.N) * scale_u
    th = project_cones(prog.Xl, alm.S, rng.normal(size=(prog.B, prog.e))).P * 5
    sig, lam = 10.0, 0.05
    _, _, hd, _, res = alm._psi(u, th, sig, lam)
    H = alm._hessian(res, sig, lam, hd)
    act = np.flatnonzero(alm._active_norms(res, sig * lam) > 0)
    ref = _dense_newton_matrix(prog, res, sig, lam, hd, act)
    assert act.size > 20
    np.testing.assert_allclose(H, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_certificates_wait_for_a_nearly_dual_feasible_iterate(monkeypatch):
    """An outer iterate whose step leaves u dual infeasible by more than ``eta_cert`` (relative
    to lam) is not certified (its gap is far from tol): the same iterates and point as
    certifying every outer iteration, with fewer certificates."""
    X, y, P = _case(N=60, n_pat=60, seed=5)
    prog = _prog(X, y, P, 0.01)
    runs = {}
    for eta in (np.inf, ConeALM.eta_cert):
        alm = ConeALM(prog)
        alm.eta_cert = eta
        calls = []
        orig = alm._certify
        monkeypatch.setattr(alm, "_certify",
                            lambda th, u=None, orig=orig: calls.append(1) or orig(th, u))
        pt = alm.solve(np.zeros((prog.B, prog.e)), 0.01)
        assert pt is not None, alm.fail
        runs[eta] = (pt, alm.n_newton, len(calls))
    (p_all, n_all, c_all), (p_set, n_set, c_set) = runs[np.inf], runs[ConeALM.eta_cert]
    assert n_set == n_all and np.array_equal(p_set["th"], p_all["th"])
    assert c_set < c_all


def test_warm_step_starts_from_the_scaled_dual_and_a_large_sigma(monkeypatch):
    """With lam_prev the first psi is evaluated at u = (lam / lam_prev) grad L(A th0) and
    sigma = warm_sigma / lam (so that the active blocks' |P_K(-A_k^T u)| = lam_prev becomes
    lam); without it at grad L(A th0) and the cold first sigma max(sigma0, 1 / lam)."""
    X, y, P = _case()
    lam0, lam1 = 0.05, 0.02
    s0 = solve_patterns(X, y, lam0, P, cone=True, bias="penalized", skip=None)
    th0 = np.hstack([s0.U, s0.beta[:, None]])
    prog = _prog(X, y, P, lam1)
    r0 = prog.loss.grad(ConeALM(prog)._A(th0)[:, None], prog.T)[:, 0]       # grad L(A th0)
    for lam_prev, scale, sigma in ((lam0, lam1 / lam0, ConeALM.warm_sigma / lam1),
                                   (None, 1.0, max(ConeALM.sigma0, 1 / lam1))):
        alm = ConeALM(prog)
        first = []
        orig = alm._psi
        monkeypatch.setattr(alm, "_psi", lambda u, th, sig, lam, orig=orig: (
            first.append((u.copy(), sig)) if not first else None) or orig(u, th, sig, lam))
        assert alm.solve(th0, lam1, lam_prev) is not None, alm.fail
        np.testing.assert_allclose(first[0][0], scale * r0, rtol=1e-12, atol=1e-14)
        assert first[0][1] == pytest.approx(sigma)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_certificate_at_the_dual_iterate_is_a_valid_lower_bound(loss):
    """certify(..., q=-u) at SSNAL's dual iterates u (and, squared, at arbitrary q) gives a
    dual value below the optimum (an independent CVXPY optimum for the squared loss, the
    CLARABEL loop's for the logistic one): a lower bound whatever the candidate."""
    if loss == "squared":
        X, y, P = _case()
        opt = _reference(X, y, 0.05, P)
    else:
        X, y, P = pattern_case("logistic", N=40, n_pat=30, seed=3)
        P = P[P.any(axis=1)]
        opt = solve_patterns(X, y, 0.05, P, loss=loss, cone=True, bias="penalized", skip=None,
                             working_set=True).objective
    prog = _prog(X, y, P, 0.05, loss=loss)
    alm = ConeALM(prog)
    us = []
    orig = alm._certify
    alm._certify = lambda th, u=None: us.append(None if u is None else u.copy()) or orig(th, u)
    alm.eta_cert = np.inf                               # every outer iterate certified
    assert alm.solve(np.zeros((prog.B, prog.e)), 0.05) is not None, alm.fail
    iterates = [u for u in us if u is not None]
    assert len(iterates) >= 2
    rng = np.random.default_rng(0)
    others = [rng.standard_normal(prog.N) for _ in range(3)] if loss == "squared" else []
    zfit, mu0 = np.zeros(prog.N), np.zeros((prog.B, prog.N))
    duals = []
    for u in iterates + others:
        cert = prog.certify(zfit, mu0, q=-u)                 # zfit plays no part then
        assert np.array_equal(cert["q"], -u)
        assert np.isfinite(cert["dual"]) and cert["dual"] <= opt * (1 + 1e-9)
        duals.append(cert["dual"])
    # and the iterates' bounds close in on the optimum (the last one's gap was <= polish_below)
    gaps = [prog.rel_gap(opt, d) for d in duals[:len(iterates)]]
    assert gaps[-1] <= ConeALM.polish_below and gaps[-1] < gaps[0]


@pytest.mark.parametrize("loss,lam,sigma", [("squared", 0.5, ConeALM.sigma0),
                                            ("squared", 0.01, 100.0),
                                            ("logistic", 0.5, 2.0),
                                            ("logistic", 0.05, ConeALM.sigma0)])
def test_first_sigma_from_the_zero_network(monkeypatch, loss, lam, sigma):
    """From the zero network sigma starts at max(sigma0, 1 / lam) for the squared loss (a long
    first proximal step at small lam) and at min(sigma0, 1 / lam) for the logistic loss (a
    large sigma fails there), and the point is certified."""
    if loss == "squared":
        X, y, P = _case()
    else:
        X, y, P = pattern_case("logistic", N=40, n_pat=30, seed=3)
        P = P[P.any(axis=1)]
    prog = _prog(X, y, P, lam, loss=loss)
    alm = ConeALM(prog)
    sigmas = []
    orig = alm._psi
    monkeypatch.setattr(alm, "_psi", lambda u, th, sig, lam_, orig=orig: sigmas.append(sig)
                        or orig(u, th, sig, lam_))
    pt = alm.solve(np.zeros((prog.B, prog.e)), lam)
    assert pt is not None, alm.fail
    assert sigmas[0] == pytest.approx(sigma)
    ev = prog.evaluate(pt)
    assert prog.rel_gap(ev["objective"], prog.certify(ev["zfit"], pt["mu"])["dual"]) <= 1e-8


def test_first_trial_after_a_damped_step_is_ramped(monkeypatch):
    """After a damped Newton step a_last < 1 the next step's first trial is
    min(1, step_ramp a_last) instead of 1: the same optimum with fewer psi evaluations here
    (93 -> 62; diabetes, 1000 gates: 17-18 % fewer, docs/benchmarks.md; mixed on other small
    cases)."""
    X, y, P = _case(N=60, n_pat=40, seed=2)
    lam = 0.05
    prog = _prog(X, y, P, lam)
    runs = {}
    for ramp in (np.inf, ConeALM.step_ramp):
        alm = ConeALM(prog)
        alm.step_ramp = ramp
        calls = []
        orig = alm._psi
        monkeypatch.setattr(alm, "_psi", lambda *a, orig=orig: calls.append(1) or orig(*a))
        pt = alm.solve(np.zeros((prog.B, prog.e)), lam)
        assert pt is not None, alm.fail
        runs[ramp] = (prog.evaluate(pt)["objective"], len(calls))
    (f_off, n_off), (f_on, n_on) = runs[np.inf], runs[ConeALM.step_ramp]
    assert f_on == pytest.approx(f_off, rel=1e-9)
    assert f_on == pytest.approx(_reference(X, y, lam, P), rel=1e-7)
    assert n_on < n_off


def test_newton_matrix_reuses_face_bases_only_where_the_active_rows_are_unchanged(monkeypatch):
    """_hessian caches each block's face basis by its active rows: after a call at one point,
    a call at another point recomputes the bases of the blocks whose active rows changed only
    (fewer than all), and the matrix still equals its dense definition at the new point."""
    from nnlasso.patterns.cone_projection import ConeProjection, project_cones
    X, y, P = _case()
    prog = _prog(X, y, P, 0.05)
    alm = ConeALM(prog)
    rng = np.random.default_rng(1)
    th = project_cones(prog.Xl, alm.S, rng.normal(size=(prog.B, prog.e))).P * 5
    sig, lam = 10.0, 0.05
    u0 = rng.normal(size=prog.N)
    _, _, hd0, _, res0 = alm._psi(u0, th, sig, lam)
    alm._hessian(res0, sig, lam, hd0)
    seen = []
    orig = ConeProjection.face_basis

    def counted(self, blocks=None):
        seen.append(len(blocks))
        return orig(self, blocks)

    monkeypatch.setattr(ConeProjection, "face_basis", counted)
    u1 = u0 + 0.05 * rng.normal(size=prog.N)
    alm.warm = res0
    _, _, hd1, _, res1 = alm._psi(u1, th, sig, lam)
    H = alm._hessian(res1, sig, lam, hd1)
    act = np.flatnonzero(alm._active_norms(res1, sig * lam) > 0)
    changed = [k for k in act if not np.array_equal(res0.idx[k], res1.idx[k])]
    assert 0 < len(changed) < act.size
    assert seen == [len(changed)]
    ref = _dense_newton_matrix(prog, res1, sig, lam, hd1, act)
    np.testing.assert_allclose(H, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_fit_operator_equals_the_dense_dictionary():
    """_A(Z) = sum_k sigma_k D_k Xl Z_k and _At(u) = (sigma_k Xl^T D_k u)_k, against the
    (N, B (d+1)) dictionary written out column by column."""
    X, y, P = _case()
    prog = _prog(X, y, P, 0.05)
    alm = ConeALM(prog)
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(prog.B, prog.e))
    Z[rng.random(prog.B) < 0.5] = 0.0
    A = np.hstack([prog.Mk[:, [k]] * prog.Xl for k in range(prog.B)])
    np.testing.assert_allclose(alm._A(Z), A @ Z.ravel(), rtol=1e-12, atol=1e-12)
    u = rng.normal(size=prog.N)
    np.testing.assert_allclose(alm._At(u).ravel(), A.T @ u, rtol=1e-12, atol=1e-12)


def test_cold_solve_without_progress_is_retried_from_a_smaller_sigma(monkeypatch):
    """A cold SSNAL that makes "no progress" (here from a first sigma of 1e5) runs once more
    from RETRY_SIGMA (0.1) times that sigma before the interior-point loop: at lam 0.005 the
    retry certifies the loop's optimum; at lam 0.05 it fails too, and the loop solves it (its
    info names both attempts)."""
    from nnlasso.patterns.augmented_lagrangian import RETRY_SIGMA
    X, y, P = _case(N=60, n_pat=300, seed=4)
    kw = dict(cone=True, bias="penalized", skip=None)
    monkeypatch.setattr(ConeALM, "sigma0", 1e5)
    sol = solve_patterns(X, y, 0.005, P, **kw)
    wsi = sol.info["working_set"]
    assert wsi["method"] == "ssnal" and sol.status == "optimal" and sol.rel_gap <= 1e-8
    retry = wsi["ssnal_retry"]
    assert retry["first"]["fail"] == "no progress" and retry["first"]["sigma"] == 1e5
    assert retry["sigma"] == pytest.approx(1e5 * RETRY_SIGMA) and retry["ok"]
    loop = solve_patterns(X, y, 0.005, P, **kw, working_set=True)
    assert sol.objective == pytest.approx(loop.objective, rel=1e-7)
    back = solve_patterns(X, y, 0.05, P, **kw)
    wsi = back.info["working_set"]
    assert wsi["method"] == "clarabel" and wsi["ssnal"]["fail"] == "no progress"
    assert wsi["ssnal"]["retry"]["first"]["fail"] == "no progress"
    assert not wsi["ssnal"]["retry"]["ok"] and back.status == "optimal"
    monkeypatch.setattr(ConeALM, "sigma0", 10.0)
    plain = solve_patterns(X, y, 0.005, P, **kw)
    assert plain.info["working_set"]["ssnal_retry"] is None     # no failure, no retry
    # the retry's sigma is RETRY_SIGMA times the first one also where that came from 1 / lam
    # (here 200): a first run stopped for "no progress" by hand, then the real one
    firsts = []
    orig = ConeALM.solve

    def once_failed(self, th0, lam, lam_prev=None, sigma=None):
        out = orig(self, th0, lam, lam_prev, sigma)
        firsts.append(self.first_sigma)
        if len(firsts) == 1:
            self.fail = "no progress"
            return None
        return out

    monkeypatch.setattr(ConeALM, "solve", once_failed)
    again = solve_patterns(X, y, 0.005, P, **kw)
    assert firsts == [pytest.approx(200.0), pytest.approx(200.0 * RETRY_SIGMA)]
    assert again.info["working_set"]["ssnal_retry"]["ok"]
    assert again.objective == pytest.approx(loop.objective, rel=1e-7)
