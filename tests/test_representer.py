"""Tests of nnlasso.representer's column generation and certify(fit) (the other modules:
test_width.py, test_reduction.py, test_certificates.py).

References are independent of the code under test: explicit low-rank constructions, dense
brute-force scans of eta, closed-form objectives recomputed here, and a large sampled dictionary.
"""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import representer as R
from nnlasso.dictionary import sample_neurons

from conftest import centred_residual as _centred_residual


# ---------------------------------------------------------------------------------------------
# column generation and certify(fit)
# ---------------------------------------------------------------------------------------------

def _teacher(seed=0, N=50):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (N, 2))
    W = np.array([[1.0, 0.5], [-0.3, 1.0], [0.7, -0.7]])
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.array([0.2, -0.1, 0.3])
    y = np.maximum(X @ W.T - b, 0.0) @ np.array([2.0, -1.5, 1.0]) + 0.05 * rng.standard_normal(N)
    return X, y


def test_column_generation_certified_and_beats_large_dictionary():
    X, y = _teacher()
    lam = 0.05
    dic, sol, rep = R.column_generation(X, y, lam, skip=True, n_init=20, seed=0)
    assert rep.certified and rep.exact and rep.max_ratio <= 1 + 1e-6
    assert rep.certificate.gap is not None
    assert rep.certificate.rel_gap <= 1e-5
    big = sample_neurons(X, 3000, seed=11)
    ref = nl.solve_lasso(big.features(X), y, lam, skip=X)
    assert sol.objective <= ref.objective * (1 + 1e-6)
    # the infinite-width dual bound also lies below the large dictionary's objective
    assert rep.certificate.dual_objective <= ref.objective * (1 + 1e-9)
    # the objective decreases over the rounds (the active set is always kept)
    objs = [h["objective"] for h in rep.history]
    assert all(b <= a * (1 + 1e-7) for a, b in zip(objs, objs[1:]))


def test_certify_shallow_fit():
    X, y = _teacher(seed=1, N=40)
    fit = nl.fit_shallow(X, y, 0.05, dictionary=sample_neurons(X, 15, seed=1))
    cert = R.certify(fit)
    assert cert.exact and cert.method == "arcs" and not cert.certified
    assert cert.gap > 0 and cert.max_ratio > 1
    assert "dictionary_ratio" in cert.details and cert.details["dictionary_ratio"] <= 1 + 1e-5
    w, b = cert.argmax
    Q, _, _ = R.dual_residual(fit.predict(X), y, skip=X)
    assert np.linalg.norm(R.eta(X, Q, w[None], [b])) / 0.05 == pytest.approx(cert.max_ratio,
                                                                              rel=1e-9)
    dcert = R.certify(fit, kind="dictionary")
    assert dcert.kind == "dictionary" and dcert.certified
    assert "certificate" in str(cert)


def test_column_generation_stopped_by_max_rounds_is_consistent_and_warns():
    """Out of rounds: the dictionary returned is the one the solution was solved on (the last
    round neither prunes nor appends), and fit_shallow warns that it is not certified."""
    X, y = _teacher(seed=2, N=80)
    dic, sol, rep = R.column_generation(X, y, 1e-3, skip=True, n_init=20, max_rounds=3, seed=0)
    assert rep.rounds == 3 and not rep.certified
    assert dic.K == sol.V.shape[0]
    Phi = dic.features(X)
    ref = nl.solve_lasso(Phi, y, 1e-3, skip=X)           # re-solved independently
    assert sol.objective == pytest.approx(ref.objective, rel=1e-6)
    with pytest.warns(RuntimeWarning, match="not certified"):
        fit = nl.fit_shallow(X, y, 1e-3, dictionary="adaptive", max_rounds=3, seed=0)
    assert fit.objective == pytest.approx(fit.solution.objective, rel=1e-6)


def test_certificate_size_guard_and_sampling_fallback():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4))
    y = rng.standard_normal(40)
    fit = nl.fit_shallow(X, y, 0.5, dictionary=sample_neurons(X, 30, seed=0))
    with pytest.raises(nl.InvalidProblemError, match="max_patterns"):
        R.certify(fit, exact=True, max_patterns=1000)
    cert = R.certify(fit, exact=False)
    assert not cert.exact and not cert.certified and cert.gap is None
    assert cert.max_ratio >= cert.details.get("dictionary_ratio", 0.0) - 1e-9


def test_width_report_prints_a_table():
    X, y = _teacher(seed=4, N=30)
    dic = sample_neurons(X, 200, seed=0)
    Phi = dic.features(X)
    sol = nl.solve_lasso(Phi, y, 1e-4, skip=X)
    rep = R.check_width(sol, Phi, skip=X)
    text = str(rep)
    assert rep.holds and rep.K <= rep.bound == 30 - 3
    rows = {line.strip().split("  ")[0]: line.split()[-1] for line in text.splitlines()[1:]}
    assert rows["active neurons K"] == str(rep.K) and rows["bound (min(N - r_aff, rank(P Phi)))"] == "27"
    assert rows["holds (K <= bound)"] == "yes"


def test_sampling_oracle_warm_starts_reach_the_exact_sup():
    """d = 3: with one random direction the sampling oracle is a poor lower bound; warm-started
    from a direction near the exact argmax (patterns enumeration) its ascent reaches the exact
    sup, and the ascent end point is the first candidate."""
    rng = np.random.default_rng(12)
    X = rng.standard_normal((12, 3))
    Q = _centred_residual(rng, 12, 1, np.column_stack([X, np.ones(12)]))
    pat = R.sup_eta(X, Q, method="patterns")
    cold = R.sup_eta(X, Q, method="sampling", n_samples=1, seed=1)
    near = pat.w + 0.05 * rng.standard_normal(3)
    warm = R.sup_eta(X, Q, method="sampling", n_samples=1, seed=1, starts=near[None])
    assert cold.value < 0.99 * pat.value
    assert warm.value == pytest.approx(pat.value, rel=1e-3)
    assert warm.value <= pat.value * (1 + 1e-10)
    assert warm.candidates[2][0] == pytest.approx(warm.value, rel=1e-12)
    assert warm.info["starts"] >= 1
