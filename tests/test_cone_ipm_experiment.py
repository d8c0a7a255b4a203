"""scripts/cone_ipm_experiment.py (issue 14's interior-point experiment, not used by nnlasso):
its cone algebra and, on a tiny problem, its optimum against solve_patterns."""

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("sklearn")


def _load():
    return load_script("cone_ipm_experiment")


def _interior(rng, m, n):
    u = rng.standard_normal((m, n))
    u[:, 0] = np.linalg.norm(u[:, 1:], axis=1) + rng.random(m) + 0.1
    return u


def test_nesterov_todd_scaling_and_cone_algebra():
    ipm = _load().ConeIPM
    rng = np.random.default_rng(0)
    s, z = _interior(rng, 20, 12), _interior(rng, 20, 12)
    W, Wi = ipm.nt_scaling(s, z)
    assert np.allclose(W @ Wi, np.eye(12)[None], atol=1e-12)
    # W z = W^-1 s (the scaled point lambda), inside the cone
    lam = np.einsum("kij,kj->ki", W, z)
    assert np.allclose(lam, np.einsum("kij,kj->ki", Wi, s), atol=1e-12)
    assert np.all(ipm.jdet(lam) > 0) and np.all(lam[:, 0] > 0)
    # arrow_solve inverts the Jordan product; max_step_soc finds the boundary
    r = rng.standard_normal((20, 12))
    assert np.allclose(ipm.jprod(lam, ipm.arrow_solve(lam, r)), r, atol=1e-10)
    dx = rng.standard_normal((20, 12)) * 5
    a = ipm.max_step_soc(s, dx)
    fin = np.isfinite(a)
    edge = s[fin] + a[fin, None] * dx[fin]
    assert np.allclose(edge[:, 0], np.linalg.norm(edge[:, 1:], axis=1), atol=1e-8)


def test_small_problem_matches_solve_patterns():
    out = _load().run(n_patterns=3, n_rows=100, lam=0.01)
    assert out["max_violation"] <= 1e-9
    assert abs(out["rel_diff"]) <= 1e-7
