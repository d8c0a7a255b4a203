"""The cone-row rule of the pattern working set (issue 14): rows added per block and round are
capped (least slack first), far rows of nonzero blocks leave the restricted program once, and
the loop still returns the one-shot program's certified optimum."""
import numpy as np
import pytest

from nnlasso.losses import get_loss
from nnlasso.patterns import PatternProgram, sample_patterns, solve_patterns


def _case(N=40, n_pat=50, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(N)
    P, _, _ = sample_patterns(X, n_pat, seed=seed)
    return X, y, P[P.any(axis=1)]


def _program(X, y, P, lam=0.02):
    lossobj = get_loss("squared")
    bpat = np.tile(np.arange(P.shape[0]), 2)
    bsign = np.repeat([1.0, -1.0], P.shape[0])
    return PatternProgram(X, lossobj.encode(y).T, lam, lossobj, P, bpat, bsign, cone=True,
                          bias="penalized", X_skip=None, intercept=False, lin_block=False,
                          solver="CLARABEL", tol=1e-8, options={})


def _point(prog, seed=0, m=6):
    """A random point on m blocks, each violating more than row_cap + 1 of its cone rows."""
    rng = np.random.default_rng(seed)
    th = np.zeros((prog.B, prog.e))
    th[:] = rng.standard_normal((prog.B, prog.e))
    n_viol = np.sum(np.asarray(prog.Sg) * (prog.Xl @ th.T) < 0, axis=0)
    blocks = np.flatnonzero(n_viol > PatternProgram.row_cap + 1)[:m]
    assert blocks.size == m
    th[np.setdiff1d(np.arange(prog.B), blocks)] = 0.0
    res = {"th": th, "C": None, "c0": None, "ulin": None}
    return blocks, res, prog.evaluate(res)


def test_added_rows_are_capped_at_the_least_slack_ones():
    X, y, P = _case()
    prog = _program(X, y, P)
    blocks, res, ev = _point(prog)
    slack = prog.Sg[:, blocks] * ev["pre"][:, blocks] / prog.xln[:, None]
    assert np.all((slack < 0).sum(axis=0) > prog.row_cap)      # more violated rows than the cap
    rows = {int(k): np.array([0], dtype=np.intp) for k in blocks}
    n = prog._add_violated_rows(blocks, res, ev, rows)
    assert n == blocks.size * prog.row_cap
    for j, k in enumerate(blocks):
        new = np.setdiff1d(rows[k], [0])
        assert new.size == prog.row_cap
        cand = np.setdiff1d(np.flatnonzero(slack[:, j] < 0), [0])
        worst = cand[np.argsort(slack[cand, j])[:prog.row_cap]]
        assert set(new) == set(worst)                           # the most violated ones
    prog.row_cap = None                                         # the former rule: all of them
    rows = {int(k): np.array([0], dtype=np.intp) for k in blocks}
    assert prog._add_violated_rows(blocks, res, ev, rows) > blocks.size * 10


def test_far_rows_leave_a_block_at_most_once():
    X, y, P = _case()
    prog = _program(X, y, P)
    blocks, res, ev = _point(prog)
    res["th"][blocks[-1]] = 0.0                                 # a zero block keeps its rows
    ev = prog.evaluate(res)
    rows = {int(k): np.arange(prog.N) for k in blocks}
    dropped = {}
    n = prog._drop_far_rows(blocks, res, ev, rows, dropped)
    slack = prog.Sg[:, blocks] * ev["pre"][:, blocks] / prog.xln[:, None]
    nrm = np.linalg.norm(res["th"][blocks], axis=1)
    far = slack > prog.row_keep * nrm[None, :]
    assert n == far[:, :-1].sum() > 0
    for j, k in enumerate(blocks[:-1]):
        assert set(rows[k]) == set(np.flatnonzero(~far[:, j]))
        assert set(dropped[k]) == set(np.flatnonzero(far[:, j]))
    assert rows[int(blocks[-1])].size == prog.N and int(blocks[-1]) not in dropped
    # the dropped rows come back (e.g. violated later): they are never dropped again
    rows = {int(k): np.arange(prog.N) for k in blocks}
    assert prog._drop_far_rows(blocks, res, ev, rows, dropped) == 0
    assert all(rows[int(k)].size == prog.N for k in blocks)


def test_working_set_with_lean_rows_matches_one_shot(monkeypatch):
    """Capped and dropped rows: the one-shot optimum, certified, on a smaller final row set
    than the former rule (all near rows added, none dropped)."""
    X, y, P = _case()
    full = solve_patterns(X, y, 0.02, P, bias="penalized", skip=None, working_set=False)
    lean = solve_patterns(X, y, 0.02, P, bias="penalized", skip=None, working_set=True)
    monkeypatch.setattr(PatternProgram, "row_cap", None)
    monkeypatch.setattr(PatternProgram, "row_keep", None)
    old = solve_patterns(X, y, 0.02, P, bias="penalized", skip=None, working_set=True)
    for s in (full, lean, old):
        assert s.status == "optimal" and s.rel_gap <= 1e-7
    assert lean.objective == pytest.approx(full.objective, rel=1e-7)
    assert old.objective == pytest.approx(full.objective, rel=1e-7)
    assert lean.max_violation <= 1e-6 * max(1.0, float(np.max(np.abs(lean.U))))
    assert lean.info["working_set"]["rows"] < old.info["working_set"]["rows"]
