"""scripts/cone_rows_experiment.py (issue 14's working-set experiments, not used by nnlasso):
every variant reaches the loop's certified optimum on a small problem, and the oracle working
set takes one round."""

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("sklearn")


def test_variants_reach_the_same_certified_optimum(tmp_path):
    ex = load_script("cone_rows_experiment")
    base = ex.run("main", lam=0.1, patterns=8)
    obj = base["ev"]["objective"]
    assert base["rel_gap"] <= 1e-6 and base["info"]["rounds"] > 1
    rows = dict(base["info"]["working_rows"])
    # the saved working set (plain .npz, an empty row set kept) reads back unchanged
    ex.save_working_set(tmp_path / "opt.npz", base["info"]["working_blocks"], rows)
    oracle = ex.load_working_set(tmp_path / "opt.npz")
    assert np.array_equal(oracle["blocks"], base["info"]["working_blocks"])
    assert sorted(oracle["rows"]) == sorted(rows)
    assert all(np.array_equal(oracle["rows"][k], rows[k]) for k in rows)
    rows[-1] = np.zeros(0, dtype=np.intp)
    ex.save_working_set(tmp_path / "e.npz", [0], rows)
    assert ex.load_working_set(tmp_path / "e.npz")["rows"][-1].size == 0
    one = ex.run("oracle-set", lam=0.1, patterns=8, oracle=oracle)
    assert one["info"]["rounds"] == 1
    for out in (one,
                ex.run("oracle-blocks", lam=0.1, patterns=8, gate_k=20, oracle=oracle),
                ex.run("gate-rows", lam=0.1, patterns=8, gate_k=20),
                ex.run("ridge-start", lam=0.1, patterns=8, n_init=5),
                ex.run("no-prune", lam=0.1, patterns=8)):
        assert out["rel_gap"] <= 1e-6
        assert out["ev"]["max_row_violation"] <= 1e-6 * max(1.0, np.max(out["ev"]["bnorm"]))
        assert abs(out["ev"]["objective"] - obj) <= 1e-6 * obj


def test_gate_rows_are_nearest_to_the_gate():
    ex = load_script("cone_rows_experiment")
    prog, gth = ex.problem(0.1, 5)
    near = ex.gate_rows(prog, gth, 7)
    assert near.shape == (7, gth.shape[0])
    for p in range(gth.shape[0]):
        ang = np.abs(prog.Xl @ gth[p]) / prog.xln / np.linalg.norm(gth[p])
        assert np.max(ang[near[:, p]]) <= np.min(np.delete(ang, near[:, p])) + 1e-15
