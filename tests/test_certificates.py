"""Tests of nnlasso.representer.certificates and eta_sup: the certificate sup |eta| against
dense brute-force scans of eta, patterns against arcs, the unbounded case."""
from __future__ import annotations

import numpy as np
import pytest

from nnlasso import representer as R

from conftest import centred_residual as _centred_residual


# helpers (independent re-implementations)

def _brute_eta_1d(x, Q, n_grid=40001):
    """max over w = +-1 and a dense grid of b (plus the data points) of |sum q relu(w x - b)|."""
    best = 0.0
    for w in (1.0, -1.0):
        p = w * x
        grid = np.concatenate([np.linspace(p.min() - 1, p.max() + 1, n_grid), p])
        E = np.maximum(p[None, :] - grid[:, None], 0.0) @ Q
        best = max(best, float(np.linalg.norm(E, axis=1).max()))
    return best


def _scan_directions(X, Q, n_dirs):
    """Dense scan over directions of the circle; for each, brute force over b = w . x_n."""
    th = np.linspace(0.0, 2 * np.pi, n_dirs, endpoint=False)
    best = 0.0
    for w in np.column_stack([np.cos(th), np.sin(th)]):
        p = X @ w
        E = np.maximum(p[None, :] - p[:, None], 0.0) @ Q
        best = max(best, float(np.linalg.norm(E, axis=1).max()))
    return best


# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("D", [1, 2])
def test_certificate_1d_equals_brute_force(D):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(30)
    x[5] = x[6]                                         # a duplicate point
    A = np.column_stack([x, np.ones(30)])
    Q = _centred_residual(rng, 30, D, A)
    s = R.sup_eta(x[:, None], Q)
    assert s.exact and s.method == "d1"
    ref = _brute_eta_1d(x, Q)
    assert s.value == pytest.approx(ref, rel=1e-12)
    assert np.linalg.norm(R.eta(x[:, None], Q, s.w[None], [s.b])) == pytest.approx(s.value,
                                                                                    rel=1e-12)


@pytest.mark.parametrize("D", [1, 3])
def test_certificate_2d_arcs_vs_dense_scan(D):
    rng = np.random.default_rng(8)
    N = 25
    X = rng.standard_normal((N, 2))
    X[3] = X[4]                                         # duplicate
    X[10:13] = X[9] + np.outer([1.0, 2.0, 3.0], [0.3, -0.2])   # collinear run
    A = np.column_stack([X, np.ones(N)])
    Q = _centred_residual(rng, N, D, A)
    s = R.sup_eta(X, Q)
    assert s.exact and s.method == "arcs"
    n_dirs = 20000
    scan = _scan_directions(X, Q, n_dirs)
    lip = float(np.sum(np.linalg.norm(Q, axis=1)) * 2 * np.max(np.linalg.norm(X, axis=1)))
    assert scan <= s.value * (1 + 1e-12)                    # never below the scan
    assert s.value <= scan + lip * np.pi / n_dirs           # within the scan's resolution
    assert np.linalg.norm(R.eta(X, Q, s.w[None], [s.b])) == pytest.approx(s.value, rel=1e-10)


def test_patterns_agree_with_arcs_and_bound_sampling():
    rng = np.random.default_rng(9)
    N = 14
    X = rng.standard_normal((N, 2))
    A = np.column_stack([X, np.ones(N)])
    Q = _centred_residual(rng, N, 1, A)
    arcs = R.sup_eta(X, Q, method="arcs")
    pat = R.sup_eta(X, Q, method="patterns")
    assert pat.exact
    assert pat.value == pytest.approx(arcs.value, rel=1e-9)
    # d = 3: patterns exact, never below a dense random scan; sampling is a lower bound
    X3 = rng.standard_normal((10, 3))
    Q3 = _centred_residual(rng, 10, 1, np.column_stack([X3, np.ones(10)]))
    pat3 = R.sup_eta(X3, Q3, method="patterns")
    G = rng.standard_normal((100_000, 3))
    scan, _ = R.sup_over_bias(X3, Q3, G / np.linalg.norm(G, axis=1, keepdims=True))
    assert scan.max() <= pat3.value * (1 + 1e-10)
    assert pat3.value <= scan.max() * 1.01
    samp = R.sup_eta(X3, Q3, method="sampling", n_samples=500)
    assert not samp.exact and samp.value <= pat3.value * (1 + 1e-10)


def test_certificate_without_affine_part_is_unbounded():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((12, 2))
    Q = rng.standard_normal((12, 1)) + 1.0                   # sum q != 0
    cert, _ = R.certify_residual(X, Q, 1.0)
    assert cert.max_ratio == np.inf and not cert.certified
