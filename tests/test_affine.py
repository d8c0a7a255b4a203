"""Tests of nnlasso.affine: the skip conventions, the one rank rule of the affine basis, and that
the solvers all use it (the rank of [X 1] is the same number everywhere)."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import InvalidProblemError
from nnlasso.affine import (affine_basis, affine_columns, affine_rank, orthonormal_basis,
                            project_out, skip_argument, skip_mode, skip_of, skip_parts)


def _near_collinear(N=1000, ratio=5e-13, seed=0):
    """Inputs X (N, 3) orthogonal to the ones column, so that [X 1] has the singular values
    sqrt(N), 1, 0.5 and ratio sqrt(N): rank 4 under the rule s_i > s_1 max(N, p) eps
    (threshold ratio 2.2e-13 for N = 1000), rank 3 under the old 1e-15 max(N, p) (1e-12)."""
    rng = np.random.default_rng(seed)
    M = np.hstack([np.ones((N, 1)), rng.standard_normal((N, 3))])
    Q = np.linalg.qr(M)[0][:, 1:]
    return Q * np.array([1.0, 0.5, ratio * np.sqrt(N)])


def test_skip_conventions():
    X = np.arange(12.0).reshape(6, 2)
    Xs, icpt = skip_parts(X, 6)
    assert Xs.shape == (6, 2) and icpt
    assert skip_parts("intercept", 6) == (None, True)
    assert skip_parts(None, 6) == (None, False)
    assert skip_parts(False, 6) == (None, False)
    assert skip_parts(True, 6, X=X)[0] is not None and skip_parts("linear", 6, X=X)[1]
    with pytest.raises(InvalidProblemError, match="ambiguous"):
        skip_parts(True, 6)
    with pytest.raises(InvalidProblemError, match="skip"):
        skip_parts("bias", 6)
    with pytest.raises(InvalidProblemError, match="rows"):
        skip_parts(X[:5], 6)
    assert skip_mode(True) == skip_mode("linear") == "linear"
    assert skip_mode("intercept") == "intercept" and skip_mode(False) is None
    with pytest.raises(InvalidProblemError, match="skip"):
        skip_mode(X)
    assert skip_argument(True, X) is X and skip_argument("linear", X) is X
    assert skip_argument(False, X) is None and skip_argument("intercept", X) == "intercept"
    assert skip_of(X, True, True) is X and skip_of(X, False, True) == "intercept"
    assert skip_of(X, False, False) is None


def test_basis_is_orthonormal_and_projection_kills_the_affine_columns():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    X = np.hstack([X, X[:, :1] + X[:, 1:2]])          # a dependent column: rank([X 1]) = 4
    A = affine_columns(X, True, 30)
    U = affine_basis(X, True, 30)
    assert A.shape == (30, 5) and U.shape == (30, 4)
    assert np.allclose(U.T @ U, np.eye(4), atol=1e-12)
    Q = rng.standard_normal((30, 2))
    assert np.abs(A.T @ project_out(Q, U)).max() < 1e-12
    assert affine_rank(X, 30) == 4 and affine_rank("intercept", 30) == 1
    assert affine_rank(None, 30) == 0 and affine_rank(True, 30, X=X) == 4
    assert orthonormal_basis(np.zeros((5, 2))).shape == (5, 0)
    assert project_out(Q, affine_basis(None, False, 30)) is Q


def test_one_rank_rule_everywhere():
    """A skip whose smallest singular value lies between the two rules the code used to have
    (machine eps and 1e-15, times s_1 max(N, p)): the lasso's basis, the representer's r_aff
    and the min-norm certificate all count it the same way (rank 4 here)."""
    from nnlasso.lasso import LassoProblem
    X = _near_collinear()
    N = X.shape[0]
    s = np.linalg.svd(affine_columns(X, True, N), compute_uv=False)
    assert 2.3e-13 < s[-1] / s[0] < 9e-13                       # between the two thresholds
    r = affine_rank(X, N)
    assert r == 4
    Phi = np.maximum(X @ np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]]), 0.0)
    y = Phi[:, 0] + X[:, 0]
    prob = LassoProblem(Phi, y, "squared", X, None, None)
    assert prob.basis.shape[1] == r
    assert nl.representer.affine_rank(X, N) == r
