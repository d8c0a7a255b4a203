"""The memory guard of the pattern programs (nnlasso.memory, checked in solve_patterns' _build):
the working-set solve is estimated by what it allocates (boolean patterns, the certificate's
(N, B) arrays, a restricted program within the entry budget), the one program by its dense
blocks; a too-large problem is refused before anything of its size is built."""
import numpy as np
import pytest

import nnlasso as nl
from nnlasso import memory
from nnlasso.patterns.solve import _build


def _args(N, d, P, cone, working_set, loss="squared"):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(N, d))
    y = X[:, 0] if loss == "squared" else (X[:, 0] > 0) * 1.0
    pats = rng.random((P, N)) < 0.5
    return dict(X=X, Y=y, lam=0.1, patterns=pats, loss=loss, skip=True, cone=cone, bias=None,
                solver="auto", tol=1e-8, options=None, working_set=working_set)


def test_working_set_estimate_counts_what_is_allocated():
    N, P = 5000, 2000
    gated = memory.estimate_working_set_memory(N, P, P, cone=False, fit_nnz=10**6, fit_cols=0)
    assert gated == N * P + 8 * N * P + memory.PATTERN_BYTES_PER_FIT_NONZERO * 10**6
    cone = memory.estimate_working_set_memory(N, P, 2 * P, cone=True, fit_nnz=10**6,
                                              fit_cols=100)
    assert cone == N * P + 8 * N * 2 * P * 5 + memory.PATTERN_BYTES_PER_FIT_NONZERO * 10**6 \
        + 8 * N * 100


@pytest.mark.parametrize("cone", [False, True])
def test_scale_case_passes_the_default_cap_by_the_working_set_only(cone, monkeypatch):
    """N = 5000, d = 20, 2000 patterns (issue 14's scale case): the working-set solve fits the
    default 4 GiB cap; the one program (dense blocks: 6.3 / 12.5 GiB) is refused, naming the
    working set as a way out."""
    monkeypatch.delenv("NNLASSO_MAX_MEMORY_MB", raising=False)
    args = _args(5000, 20, 2000, cone, True)
    ctx = _build(**args)
    assert ctx["use_ws"] and ctx["prog"].B == (2 if cone else 1) * 2000
    with pytest.raises(nl.InvalidProblemError,
                       match=r"patterns: this problem needs about (6\.3|12\.5) GiB.*working_set=True"):
        _build(**{**args, "working_set": False})


def test_working_set_refused_over_a_small_cap(monkeypatch):
    monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", "100")
    args = _args(5000, 20, 2000, True, True)
    with pytest.raises(nl.InvalidProblemError,
                       match=r"patterns: this working-set solve needs about .* GiB .*"
                             r"NNLASSO_MAX_MEMORY_MB \(now 100 MiB\)"):
        _build(**args)
    # the cone program's four (B, N) multiplier arrays (640 MB here) make the difference
    monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", "3000")
    with pytest.raises(nl.InvalidProblemError, match="working-set solve needs about 3.3 GiB"):
        _build(**args)
    assert _build(**{**args, "cone": False})["use_ws"]



def test_each_restricted_program_is_checked_against_the_cap(monkeypatch):
    """The working set can outgrow the first round's budget: every restricted program is
    checked (its own fit nonzeros) before it is built."""
    from nnlasso.patterns.solve import _build as build
    args = _args(400, 5, 61, False, True)
    prog = build(**args)["prog"]
    blocks = np.arange(60)                      # of 61: a restricted program
    fixed = memory.estimate_working_set_memory(400, 61, 61, cone=False, fit_nnz=0, fit_cols=0)
    nnz = int(prog.block_fit_nnz(blocks).sum())
    prog.compress_ratio = None
    need = fixed + memory.PATTERN_BYTES_PER_FIT_NONZERO * nnz
    with memory.memory_cap(need - 1):
        with pytest.raises(nl.InvalidProblemError,
                           match="patterns: this working-set solve needs .*restricted program "
                                 "of 60 working blocks"):
            prog.solve(blocks, None)
    with memory.memory_cap(need):
        assert prog.solve(blocks, None)["th"].shape == (61, 6)
        prog.solve(np.arange(61), None)         # the one program is not checked here
