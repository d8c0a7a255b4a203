"""Tests of nnlasso.representer.width: affine ranks and the width bound, against explicit
low-rank constructions."""
from __future__ import annotations

import numpy as np

from nnlasso import representer as R


# ---------------------------------------------------------------------------------------------
# width bounds
# ---------------------------------------------------------------------------------------------

def test_affine_rank_skip_intercept_none():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    assert R.affine_rank(X, 12) == 4
    assert R.affine_rank("intercept", 12) == 1
    assert R.affine_rank(None, 12) == 0
    Xc = np.column_stack([X[:, 0], 2 * X[:, 0] + 1, X[:, 1]])   # dependent on [x0 1]
    assert R.affine_rank(Xc, 12) == 3
    Phi = np.abs(rng.standard_normal((12, 40)))
    y = rng.standard_normal(12)
    assert R.width_bound(Phi, y, skip=X) == 12 - 4
    assert R.width_bound(Phi, y, skip="intercept") == 11
    assert R.width_bound(Phi, y, skip=None) == 12
    assert R.width_bound(Phi, y, skip=Xc) == 12 - 3


def test_width_bound_rank_product_constructed():
    rng = np.random.default_rng(1)
    N, K, D = 20, 60, 5
    L1 = rng.standard_normal((N, 4))
    L1 -= L1.mean(axis=0)                       # centred: P (intercept) keeps it
    Phi = L1 @ rng.standard_normal((4, K)) + np.outer(np.ones(N), rng.standard_normal(K))
    L2 = rng.standard_normal((N, 2))
    L2 -= L2.mean(axis=0)
    Y = L2 @ rng.standard_normal((2, D)) + rng.standard_normal(D)
    assert R.width_bound(Phi, Y, skip="intercept") == 4 * 2
    # without the intercept the constant column adds one to each rank
    assert R.width_bound(Phi, Y, skip=None) == 5 * 3


def test_width_bound_one_output_is_capped_by_the_feature_rank():
    """D = 1: min(N - r_aff, rank(P Phi)). Columns spanning a 4-dimensional space (after
    centring) give 4, far below N - 1 = 29; the rank reference is a NumPy SVD of the centred
    features, and the bound is the product formula's D = 1 case (rank(P y) = 1)."""
    rng = np.random.default_rng(2)
    N, K = 30, 50
    L = rng.standard_normal((N, 4))
    L -= L.mean(axis=0)
    Phi = L @ rng.standard_normal((4, K)) + np.outer(np.ones(N), rng.standard_normal(K))
    s = np.linalg.svd(Phi - Phi.mean(axis=0), compute_uv=False)
    assert int(np.sum(s > 1e-8 * s[0])) == 4
    y = rng.standard_normal(N)
    assert R.width_bound(Phi, y, skip="intercept") == 4 < N - 1
    assert R.width_bound(Phi, y, skip=None) == 5
    assert R.bound_from_ranks(N, 1, 4, None) == 4 and R.bound_from_ranks(N, 1, 40, None) == N - 1
