"""Tests of nnlasso.patterns against independent references (hand counts, CVXPY formulations
written here, 1-D trend filtering, pyscnn)."""
from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest

from conftest import pattern_case
from nnlasso.errors import InvalidProblemError
from nnlasso.patterns import (enumerate_patterns, fit_patterns, pattern_count_bound,
                              sample_patterns, solve_patterns)


def _bound(N, d):
    return 2 * sum(math.comb(N - 1, k) for k in range(d + 1))


def _relu_net_objective(sol, X, y, lam, loss="squared"):
    """Data loss of the recovered network, evaluated with a plain NumPy relu, + lam * path norm."""
    out = np.maximum(X @ sol.W.T - sol.b, 0.0) @ sol.V[:, 0]
    if sol.skip_coef is not None:
        out = out + X @ sol.skip_coef[:, 0]
    if sol.intercept is not None:
        out = out + sol.intercept[0]
    if loss == "squared":
        data = 0.5 * np.sum((y - out) ** 2)
    else:
        ys = 2.0 * y - 1.0
        data = np.sum(np.log1p(np.exp(-ys * out)))
    pn = np.sum(np.linalg.norm(sol.W, axis=1) * np.abs(sol.V[:, 0]))
    return data + lam * pn


def _brute_patterns(X, n_dir, rng):
    """Patterns from many random directions with thresholds at and between the projections."""
    found = set()
    for g in rng.standard_normal((n_dir, X.shape[1])):
        p = X @ g
        ps = np.sort(p)
        th = np.concatenate([ps, (ps[1:] + ps[:-1]) / 2, [ps[-1] + 1.0]])
        for t in th:
            found.add(tuple(p - t >= 0))
    return found


# ------------------------------------------------------------------------------- enumeration

@pytest.mark.parametrize("d,N", [(1, 5), (1, 9), (2, 6), (2, 11), (3, 7), (3, 10)])
def test_enumeration_count_general_position(d, N):
    X = np.random.default_rng(10 * d + N).standard_normal((N, d))
    P = enumerate_patterns(X, keep_zero=True)
    assert P.shape == (_bound(N, d), N)
    assert pattern_count_bound(N, d) == _bound(N, d)
    assert len({tuple(r) for r in P}) == P.shape[0]           # distinct
    P0 = enumerate_patterns(X)                                # all-zero pattern left out
    assert P0.shape[0] == _bound(N, d) - 1 and P0.any(axis=1).all()


def test_enumeration_d1_by_hand():
    x = np.array([0.3, -1.2, 2.0, 0.7, 1.1])
    P = enumerate_patterns(x[:, None])
    order = np.argsort(x)
    expected = set()
    for k in range(len(x)):                                   # 1[x >= t] and 1[x <= t]
        t = x[order[k]]
        expected.add(tuple(x >= t))
        expected.add(tuple(x <= t))
    assert {tuple(r) for r in P} == expected
    assert len(expected) == 2 * len(x) - 1


def test_enumeration_matches_brute_force_general_and_degenerate():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 2))
    got = {tuple(r) for r in enumerate_patterns(X, keep_zero=True)}
    assert got == _brute_patterns(X, 4000, rng)
    # collinear points and a duplicate: fewer patterns than the bound, still all of them
    Xd = np.array([[0, 0], [1, 1], [2, 2], [0, 1], [0, 1], [3, -1.0]])
    got = {tuple(r) for r in enumerate_patterns(Xd, keep_zero=True)}
    assert got == _brute_patterns(Xd, 4000, rng)
    assert len(got) < _bound(6, 2)


def test_enumeration_guard_raises_before_work():
    X = np.random.default_rng(0).standard_normal((300, 6))
    with pytest.raises(InvalidProblemError, match="sample_patterns"):
        enumerate_patterns(X)
    with pytest.raises(InvalidProblemError, match="max_patterns"):
        fit_patterns(X, X[:, 0], 1.0)


def test_sample_patterns():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    P, G, h = sample_patterns(X, 200, seed=5)
    assert P.shape[1] == 30 and P.shape[0] <= 200 and G.shape == (P.shape[0], 3)
    assert np.allclose(np.linalg.norm(G, axis=1), 1.0)
    assert len({tuple(r) for r in P}) == P.shape[0]
    pre = X @ G.T - h
    assert np.all(P.T[np.abs(pre) > 1e-12] == (pre[np.abs(pre) > 1e-12] > 0))
    assert np.all(np.min(np.abs(pre), axis=0) < 1e-12)       # each hyperplane through a point
    P2, _, _ = sample_patterns(X, 200, seed=5)
    assert np.array_equal(P, P2)
    assert {tuple(r) for r in P} <= {tuple(r) for r in enumerate_patterns(X)}


# ------------------------------------------------------------------------ exact program

def _data_2d(N=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(N)
    return X, y


def _fixed_dictionary_value(X, y, lam, K, seed):
    """min 1/2 |y - Phi v - X c - c0|^2 + lam |v|_1 over a fixed random ReLU dictionary."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((K, X.shape[1]))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.einsum("kd,kd->k", W, X[rng.integers(0, X.shape[0], K)]) + 0.05 * rng.standard_normal(K)
    Phi = np.maximum(X @ W.T - b, 0.0)
    v, c, c0 = cp.Variable(K), cp.Variable(X.shape[1]), cp.Variable()
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y - Phi @ v - X @ c - c0)
                                  + lam * cp.norm1(v)))
    prob.solve(solver="CLARABEL")
    return prob.value


def test_cone_program_beats_fixed_dictionaries_and_network_reproduces_it():
    X, y = _data_2d()
    lam = 0.2
    sol = fit_patterns(X, y, lam)
    assert sol.cone and sol.status == "optimal"
    for seed in range(3):
        ref = _fixed_dictionary_value(X, y, lam, 300, seed)
        assert sol.objective <= ref * (1 + 1e-7)
    net = _relu_net_objective(sol, X, y, lam)
    assert net == pytest.approx(sol.objective, rel=1e-6)
    assert sol.network_objective == pytest.approx(sol.objective, rel=1e-6)
    # balanced neurons, penalty = path norm
    assert np.allclose(np.linalg.norm(sol.W, axis=1), np.abs(sol.V[:, 0]))
    assert sol.gap >= -1e-9 and sol.rel_gap <= 1e-6
    assert sol.max_violation < 1e-7
    assert np.allclose(sol.predict(X)[:, 0], sol.fitted, atol=1e-6)


def test_d1_all_patterns_equal_trend_filtering():
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(-2, 2, 12))
    y = np.abs(x) + 0.3 * np.sin(3 * x) + 0.1 * rng.standard_normal(12)
    lam = 0.3
    sol = fit_patterns(x[:, None], y, lam, skip=True, bias="unpenalized")
    z = cp.Variable(12)
    s = cp.multiply(1.0 / np.diff(x), z[1:] - z[:-1])
    tf = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y - z) + lam * cp.norm1(s[1:] - s[:-1])))
    tf.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert sol.objective == pytest.approx(tf.value, rel=1e-6)
    assert _relu_net_objective(sol, x[:, None], y, lam) == pytest.approx(tf.value, rel=1e-6)
    assert sol.rel_gap <= 1e-6


def test_gated_relaxation_below_cone_program_with_gaps():
    X, y = _data_2d(N=14, seed=2)
    P, _, _ = sample_patterns(X, 40, seed=0)
    lam = 0.1
    for bias in ("penalized", "unpenalized"):
        cone = solve_patterns(X, y, lam, P, bias=bias, cone=True)
        if bias == "unpenalized":
            gated = solve_patterns(X, y, lam, P, bias=bias, cone=False)
        else:
            gated = solve_patterns(X, y, lam, P, cone=False)       # default: penalized
            assert gated.bias == "penalized"
        assert gated.objective <= cone.objective * (1 + 1e-7) + 1e-9
        for s in (cone, gated):
            assert s.gap >= -1e-8 * max(1.0, abs(s.objective))
            assert s.rel_gap <= 1e-6 or abs(s.objective) < 1e-8
    # the penalized gated problem is not degenerate and is strictly below the cone program here
    cone = solve_patterns(X, y, lam, P, bias="penalized", cone=True)
    gated = solve_patterns(X, y, lam, P, bias="penalized", cone=False)
    assert gated.objective < cone.objective


def test_gap_is_nnlassos_own_and_detects_a_bad_point():
    """A solve stopped early must show a large certified gap (the gap can fail)."""
    X, y = _data_2d(N=14, seed=5)
    P, _, _ = sample_patterns(X, 30, seed=1)
    good = solve_patterns(X, y, 0.1, P)
    bad = solve_patterns(X, y, 0.1, P, solver="SCS", tol=1e-2, options={"max_iters": 20})
    assert good.rel_gap <= 1e-6
    assert bad.rel_gap > 1e-4 and bad.status != "optimal"


def _logistic_reference(X, yb, lam, P):
    """Differently written: one variable pair and one constraint pair per pattern, loop-built."""
    ys = 2.0 * yb - 1.0
    N, d = X.shape
    fit = 0
    pen = 0
    cons = []
    for pat in P:
        Dm = pat.astype(float)
        sgn = 2 * Dm - 1
        for s in (1.0, -1.0):
            u, be = cp.Variable(d), cp.Variable()
            pre = X @ u - be
            cons.append(cp.multiply(sgn, pre) >= 0)
            fit = fit + s * cp.multiply(Dm, pre)
            pen = pen + cp.norm(u, 2)
    c, c0 = cp.Variable(d), cp.Variable()
    zz = fit + X @ c + c0
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(ys, zz))) + lam * pen), cons)
    prob.solve(solver="SCS", eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    return prob.value


def test_logistic_against_loop_formulation():
    X, y = _data_2d(N=14, seed=7)
    yb = (y > np.median(y)).astype(int)
    P, _, _ = sample_patterns(X, 12, seed=3)
    lam = 0.5
    sol = solve_patterns(X, yb, lam, P, loss="logistic")
    ref = _logistic_reference(X, yb, lam, P)
    assert sol.objective == pytest.approx(ref, rel=1e-5)
    assert sol.rel_gap <= 1e-6
    assert _relu_net_objective(sol, X, yb, lam, "logistic") == pytest.approx(ref, rel=1e-5)


# ---------------------------------------------------------------------------- pyscnn parity

def test_gated_parity_with_pyscnn():
    pytest.importorskip("scnn")
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import RFISTA

    rng = np.random.default_rng(0)
    N, d, Pn = 40, 3, 30
    X = rng.standard_normal((N, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    G = rng.standard_normal((d, Pn))
    gb = 0.3 * rng.standard_normal(Pn)
    pats = (X @ G + gb > 0).T                                  # scnn's gates: 1[X g + c > 0]
    lam = 0.5
    sol = solve_patterns(X, y, lam, pats, cone=False, bias="penalized", skip=None)
    # scnn minimizes 1/(2N) |y - f|^2 + lam_s sum |(u, b)|: lam_s = lam / N; bias=True appends
    # a ones column (inside the group norm); unitize_data=False keeps the norm on raw data.
    model = ConvexGatedReLU(G, c=1, bias=True, G_bias=gb)
    out, _ = optimize_model(model, RFISTA(model, max_iters=20000, tol=1e-12), Metrics(), X, y,
                            regularizer=NeuronGL1(lam / N), return_convex=True,
                            unitize_data=False, dtype="float64")
    U, bb = out.parameters[0][0], out.parameters[1][0]
    Dm = X @ out.G + out.G_bias > 0
    pred = np.sum(Dm * (X @ U.T + bb), axis=1)
    obj = 0.5 * np.sum((y - pred) ** 2) + lam * np.sum(np.sqrt(np.sum(U ** 2, 1) + bb ** 2))
    assert obj >= sol.dual_objective - 1e-9                    # nnlasso's dual bound holds
    assert obj == pytest.approx(sol.objective, rel=1e-6)


# ------------------------------------------------------------------------------ error paths

def test_errors():
    X, y = _data_2d(N=10)
    P = enumerate_patterns(X)
    with pytest.raises(InvalidProblemError, match="neuron dictionary"):
        solve_patterns(X, np.c_[y, y], 0.1, P)
    with pytest.raises(InvalidProblemError, match="neuron dictionary"):
        solve_patterns(X, (y > 0).astype(int), 0.1, P, loss="softmax")
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(InvalidProblemError, match="lam"):
            solve_patterns(X, y, bad, P)
    with pytest.raises(InvalidProblemError, match="patterns"):
        solve_patterns(X, y, 0.1, P[:, :5])
    with pytest.raises(InvalidProblemError, match="all-zero"):
        solve_patterns(X, y, 0.1, np.zeros((3, 10), bool))
    with pytest.raises(InvalidProblemError, match="bias"):
        solve_patterns(X, y, 0.1, P, bias="sometimes")
    with pytest.raises(InvalidProblemError, match="n_patterns"):
        sample_patterns(X, 0)


# ------------------------------------------------------------------------------ working set

def _ws_case(loss, N=36, n_pat=40, seed=11):
    return pattern_case(loss, N=N, n_pat=n_pat, seed=seed)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("cone", [True, False])
@pytest.mark.parametrize("skip", [True, None])
def test_working_set_matches_one_shot(loss, cone, skip):
    """The working-set loop returns the one-shot program's optimum, certified over all blocks."""
    X, y, P = _ws_case(loss)
    lam = 0.05 if loss == "squared" else 0.2
    full = solve_patterns(X, y, lam, P, loss=loss, cone=cone, skip=skip, working_set=False)
    ws = solve_patterns(X, y, lam, P, loss=loss, cone=cone, skip=skip, working_set=True)
    info = ws.info["working_set"]
    B = ws.U.shape[0]
    assert info["rounds"] >= 1 and len(info["history"]) == info["rounds"]
    assert info["history"][0]["blocks"] < B                 # the loop started from a subset
    if cone:
        assert info["rows"] < B * X.shape[0]                 # and never needed every cone row
    for s in (full, ws):
        assert s.status == "optimal" and s.rel_gap <= 1e-6
    assert ws.objective == pytest.approx(full.objective, rel=1e-6)
    assert ws.dual_objective <= full.objective * (1 + 1e-9) + 1e-12   # a valid lower bound
    assert ws.max_violation <= 1e-6 * max(1.0, float(np.max(np.abs(ws.U))))
    if cone:
        assert ws.network_objective == pytest.approx(full.objective, rel=1e-6)


def test_working_set_penalized_bias_cone():
    """The benchmark's convention (penalized bias, no skip) through the working set."""
    X, y, P = _ws_case("squared", N=40, n_pat=50, seed=3)
    full = solve_patterns(X, y, 0.02, P, bias="penalized", skip=None, working_set=False)
    ws = solve_patterns(X, y, 0.02, P, bias="penalized", skip=None, working_set=True)
    assert ws.status == "optimal" and ws.rel_gap <= 1e-6
    assert ws.objective == pytest.approx(full.objective, rel=1e-6)


@pytest.mark.parametrize("cone", [True, False])
def test_working_set_warm_start_hook(cone):
    """``solve_working_set(start=...)`` starts from the given blocks and cone rows: from the
    final set of a solve at the same lam it needs one restricted solve (the cold loop more),
    and from that of another lam it reaches the cold optimum there, certified."""
    from nnlasso.losses import get_loss
    from nnlasso.patterns import PatternProgram
    X, y, P = _ws_case("squared", N=40, n_pat=60, seed=5)
    P = P[P.any(axis=1)]
    nb = 2 if cone else 1
    bpat = np.tile(np.arange(P.shape[0]), nb)
    bsign = np.repeat([1.0, -1.0][:nb], P.shape[0])
    lossobj = get_loss("squared")

    def program(lam):
        return PatternProgram(X, lossobj.encode(y).T, lam, lossobj, P, bpat, bsign, cone=cone,
                              bias="penalized", X_skip=None, intercept=False, lin_block=False,
                              solver="CLARABEL", tol=1e-8, options={})

    res, ev, cert, info = program(0.02).solve_working_set()
    assert info["rounds"] > 1 and cert["dual_ratio"] <= 1 + 1e-6
    start = {"blocks": info["working_blocks"], "rows": info["working_rows"],
             "q": cert["q"], "mu": cert["mu"]}
    res2, ev2, cert2, info2 = program(0.02).solve_working_set(start=start)
    assert info2["rounds"] == 1
    assert info2["history"][0]["blocks"] == info["working_blocks"].size
    if cone:
        assert info2["history"][0]["rows"] == sum(r.size for r in info["working_rows"].values())
    assert ev2["objective"] == pytest.approx(ev["objective"], rel=1e-8)
    # warm start at another lam: the cold optimum there, certified over all blocks and rows
    _, ev3, cert3, _ = program(0.01).solve_working_set(start=start)
    _, ev4, cert4, _ = program(0.01).solve_working_set()
    for e_, c_ in ((ev3, cert3), (ev4, cert4)):
        assert PatternProgram.rel_gap(e_["objective"], c_["dual"]) <= 1e-7
    assert ev3["objective"] == pytest.approx(ev4["objective"], rel=1e-7)


def test_working_set_stopped_early_is_not_certified():
    """One round of the loop (a subset of blocks and rows) must not pass the certificate."""
    X, y, P = _ws_case("squared", N=40, n_pat=60, seed=5)
    good = solve_patterns(X, y, 0.02, P, working_set=True)
    bad = solve_patterns(X, y, 0.02, P, working_set=True, max_rounds=1)
    assert good.info["working_set"]["rounds"] > 1
    assert good.status == "optimal"
    assert bad.status != "optimal"
    assert bad.rel_gap > 1e-4 or bad.max_violation > 1e-4


def test_certificate_catches_a_wrong_solution():
    """nnlasso's certificate over all blocks rejects an optimal point with one block removed."""
    from nnlasso.losses import get_loss
    from nnlasso.patterns import PatternProgram
    X, y, P = _ws_case("squared", N=30, n_pat=30, seed=2)
    lam = 0.05
    sol = solve_patterns(X, y, lam, P, bias="penalized", skip=None, working_set=False)
    assert sol.rel_gap <= 1e-6
    Pm = sol.patterns
    nb = 2
    bpat = np.tile(np.arange(Pm.shape[0]), nb)
    bsign = np.repeat([1.0, -1.0], Pm.shape[0])
    lossobj = get_loss("squared")
    T = lossobj.encode(y).T
    prog = PatternProgram(X, T, lam, lossobj, Pm, bpat, bsign, cone=True, bias="penalized",
                    X_skip=None, intercept=False, lin_block=False, solver="CLARABEL", tol=1e-8,
                    options={})
    th = np.hstack([sol.U, sol.beta[:, None]])
    res = {"th": th, "C": None, "c0": None, "ulin": None}
    ev = prog.evaluate(res)
    cert = prog.certify(ev["zfit"], np.zeros((th.shape[0], X.shape[0])))
    assert ev["objective"] == pytest.approx(sol.objective, rel=1e-10)
    assert prog.rel_gap(ev["objective"], cert["dual"]) <= 1e-6     # NNLS rebuilds the mu's
    k = int(np.argmax(np.linalg.norm(th, axis=1)))
    th_bad = th.copy()
    th_bad[k] = 0.0
    ev_bad = prog.evaluate({**res, "th": th_bad})
    cert_bad = prog.certify(ev_bad["zfit"], np.zeros_like(cert["mu"]))
    assert cert_bad["ratios"][k] > 1.0 + 1e-3
    assert prog.rel_gap(ev_bad["objective"], cert_bad["dual"]) > 1e-3


def test_working_set_retries_an_inaccurate_final_solve_and_keeps_the_better_point():
    """A final restricted solve that Clarabel reports inaccurate, with nnlasso's gap above tol
    (forced here by tol = 1e-13), is re-solved once with smaller static regularization; the
    point with the smaller certified gap is kept."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 3))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0) + 0.1 * rng.standard_normal(60)
    P, _, _ = sample_patterns(X, 40, seed=0)
    plain = solve_patterns(X, y, 0.001, P, bias="penalized", skip=None, working_set=True)
    assert plain.info["working_set"]["regularization_retry"] is None
    tight = solve_patterns(X, y, 0.001, P, bias="penalized", skip=None, working_set=True,
                           tol=1e-13)
    retry = tight.info["working_set"]["regularization_retry"]
    assert retry is not None
    assert tight.rel_gap == pytest.approx(min(retry["rel_gap_before"], retry["rel_gap_after"]),
                                          rel=1e-6, abs=1e-15)
    assert tight.objective == pytest.approx(plain.objective, rel=1e-8)


def test_certificate_with_the_solvers_multipliers_only_is_a_valid_weaker_bound():
    """``nnls_mask`` leaves the NNLS re-solve out on masked blocks: no NNLS call there, and the
    dual value is still a lower bound (below the exact certificate's, below the optimum)."""
    from nnlasso.losses import get_loss
    from nnlasso.patterns import PatternProgram
    X, y, P = _ws_case("squared", N=30, n_pat=30, seed=2)
    lam = 0.05
    sol = solve_patterns(X, y, lam, P, bias="penalized", skip=None, working_set=False)
    Pm = sol.patterns
    bpat = np.tile(np.arange(Pm.shape[0]), 2)
    bsign = np.repeat([1.0, -1.0], Pm.shape[0])
    lossobj = get_loss("squared")
    prog = PatternProgram(X, lossobj.encode(y).T, lam, lossobj, Pm, bpat, bsign, cone=True,
                    bias="penalized", X_skip=None, intercept=False, lin_block=False,
                    solver="CLARABEL", tol=1e-8, options={})
    th = np.hstack([sol.U, sol.beta[:, None]])
    ev = prog.evaluate({"th": th, "C": None, "c0": None, "ulin": None})
    mu0 = np.zeros((th.shape[0], X.shape[0]))
    calls = []
    orig = prog.cone_multipliers            # the batched NNLS of every block that needs it
    prog.cone_multipliers = lambda q, ks, **kw: calls.extend(ks.tolist()) or orig(q, ks, **kw)
    exact = prog.certify(ev["zfit"], mu0)
    n_exact = len(calls)
    assert n_exact > 0
    mask = np.zeros(th.shape[0], dtype=bool)
    mask[::2] = True
    part = prog.certify(ev["zfit"], mu0, nnls_mask=mask)
    assert all(k % 2 == 0 for k in calls[n_exact:])            # only the unmasked blocks
    assert len(calls) - n_exact < n_exact
    assert part["dual"] <= exact["dual"] + 1e-12
    assert exact["dual"] <= sol.objective * (1 + 1e-9)
    assert prog.rel_gap(ev["objective"], exact["dual"]) <= 1e-6



def test_pattern_solver_choice_needs_the_loss_cones(monkeypatch):
    """solve_patterns resolves its backend with the loss's cones: with fake adapters that lack
    the exponential cone, solver="SCS" is refused for the logistic loss (message naming the
    cone) and "auto" skips a CLARABEL without it; the squared loss still takes both."""
    import dataclasses

    from nnlasso import backends
    from nnlasso.errors import SolverError
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    y = (X[:, 0] > 0).astype(float)
    P, _, _ = sample_patterns(X, 3, seed=0)
    fakes = {n: dataclasses.replace(backends.ADAPTERS[n], cones=frozenset({"soc"}))
             for n in ("CLARABEL", "SCS")}
    monkeypatch.setitem(backends.ADAPTERS, "SCS", fakes["SCS"])
    with pytest.raises(SolverError, match="SCS does not take the exponential cone"):
        solve_patterns(X, y, 0.1, P, loss="logistic", solver="SCS", working_set=False)
    monkeypatch.setitem(backends.ADAPTERS, "CLARABEL", fakes["CLARABEL"])
    if "ECOS" in backends.installed():
        assert solve_patterns(X, y, 0.1, P, loss="logistic", working_set=False).inner == "ECOS"
    else:
        with pytest.raises(SolverError, match="exponential cone"):
            solve_patterns(X, y, 0.1, P, loss="logistic", working_set=False)
    assert solve_patterns(X, y, 0.1, P, working_set=False).inner == "CLARABEL"


def test_restricted_solve_retried_once_after_a_solver_failure(monkeypatch):
    """A restricted solve on which CLARABEL fails (CVXPY's SolverError, as Clarabel's
    "InsufficientProgress" surfaces; simulated here for every solve without max_step_fraction)
    is solved once more with the adapter's failure-retry options; the result matches an
    unfailed run and is certified. Options the user set are not overridden: then the error
    is raised."""
    from nnlasso import backends
    from nnlasso.errors import SolverError
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X @ [1.0, -1.0, 0.5] + 0.3 * rng.standard_normal(40) > 0).astype(float)
    P, _, _ = sample_patterns(X, 8, seed=0)
    kw = dict(loss="logistic", bias="penalized", skip=None, working_set=True)
    ref = solve_patterns(X, y, 0.1, P, **kw)
    assert ref.info["working_set"]["failure_retries"] == 0
    real, seen = backends.solve_cvxpy, []

    def failing(prob, solver, tol, options=None, *a, **k):
        seen.append(dict(options or {}))
        if (options or {}).get("max_step_fraction") != 0.9:
            raise SolverError("CLARABEL failed: Solver 'CLARABEL' failed.")
        return real(prob, solver, tol, options, *a, **k)

    monkeypatch.setattr(backends, "solve_cvxpy", failing)
    sol = solve_patterns(X, y, 0.1, P, **kw)
    rounds = sol.info["working_set"]["rounds"]
    assert sol.info["working_set"]["failure_retries"] == rounds >= 1
    assert [o.get("max_step_fraction") for o in seen] == [None, 0.9] * rounds
    assert sol.status == "optimal" and sol.rel_gap <= 1e-6
    assert sol.objective == pytest.approx(ref.objective, rel=1e-7)
    seen.clear()
    with pytest.raises(SolverError, match="CLARABEL failed"):
        solve_patterns(X, y, 0.1, P, options={"max_step_fraction": 0.99}, **kw)
    assert [o.get("max_step_fraction") for o in seen] == [0.99]


def test_one_shot_inaccurate_logistic_cone_program_is_retried_and_certified():
    """Breast cancer (standardized), 5 cone patterns, logistic loss, lam = 0.1, one program:
    CLARABEL ends "optimal_inaccurate" with a certified gap of 5e-4; the retry with
    max_step_fraction 0.9 certifies it (measured 1.3e-8), the same optimum that static
    regularization 1e-10 (user option, no retry then) reaches."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    P, _, _ = sample_patterns(X, 5, seed=0)
    kw = dict(loss="logistic", cone=True, bias="penalized", skip=None, working_set=False)
    sol = solve_patterns(X, y, 0.1, P, **kw)
    retry = sol.info["working_set"]["inaccurate_retry"]
    assert retry is not None and retry["rel_gap_before"] > 1e-6
    assert sol.status == "optimal" and sol.rel_gap <= 1e-6
    ref = solve_patterns(X, y, 0.1, P, options={"static_regularization_constant": 1e-10}, **kw)
    assert ref.rel_gap <= 1e-6
    assert sol.objective == pytest.approx(ref.objective, rel=1e-7)
