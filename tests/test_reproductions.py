"""The --quick runs of the reproduction scripts (docs/reproductions.md), asserting on their
numbers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


load = load_script


def test_neuron_sharing_quick(capsys):
    out = load("neuron_sharing").main(["--quick"])
    assert "| d | dictionary |" in capsys.readouterr().out
    rows = out["rows"]
    assert {r["d"] for r in rows} == {1, 2} and len(rows) == 4
    for r in rows:
        # certified fits (nnlasso's own gap)
        assert r["joint_gap"] <= 1e-6 * r["joint_obj"] and r["separate_gap"] <= 1e-6
        # the stacked separate solutions are feasible for the joint program with a penalty not
        # larger: J_opt <= J(V_sep) <= S (independent evaluation in the script)
        assert r["joint_obj"] <= r["separate_in_joint_obj"] * (1 + 1e-6)
        assert r["separate_in_joint_obj"] <= r["separate_obj_sum"] * (1 + 1e-9)
        # sharing: fewer neurons jointly, at equal or lower training error
        assert r["joint_neurons"] < r["separate_union"]
        assert r["mse_joint"] <= r["mse_separate"] * 1.05
    ang = out["angles"]
    drops = [a["rel_drop"] for a in ang]
    assert all(d > 0 for d in drops)                     # sharing strictly lowers the objective
    assert drops[0] > 0.1 and drops[0] > 10 * drops[-1]  # close neurons: a large gain
    assert np.all(np.diff(drops) < 0)                    # decays with the angle
    assert ang[0]["shared_neurons"] >= 1


def test_exact_vs_gradient_quick():
    mod = load("exact_vs_gradient")
    res = mod.main(["--quick"])
    x, y, lam = res["x"], res["y"], res["lam"]
    exact, *grad = res["rows"]
    # the certified optimum: nnlasso's own objective equals the script's formula, gap ~ 0
    assert exact["gap"] <= 1e-8 * exact["objective"]
    # every gradient-trained network is a feasible point: never below the certified optimum
    for r in grad:
        assert r["objective"] >= exact["objective"] * (1 - 1e-9)
        assert r["knots"] >= exact["knots"]
    assert max(r["excess"] for r in grad) < 0.2         # they are close in objective
    # the alpha = lam mapping: N * sklearn's loss at its weights equals the unbalanced weight
    # decay objective, which rebalancing can only lower to J
    est, (w, b, v, c) = mod.sklearn_fit(x, y, lam, 10, "lbfgs", 0, 200)
    f = est.predict(x[:, None])
    wd = 0.5 * sum(float(np.sum(W ** 2)) for W in est.coefs_)
    n_loss = 0.5 * np.sum((y - f) ** 2) + lam * wd
    assert x.size * est.loss_ == pytest.approx(n_loss, rel=1e-6)
    assert mod.objective(x, y, w, b, v, c, lam) <= n_loss * (1 + 1e-12)


def test_directional_smoothness_quick():
    """d = 5 ridge function: both nnlasso fits beat the cross-validated thin-plate spline and
    kernel ridge; the adaptive fit's oracle is a lower bound there, bracketed by the certified
    branch-and-bound upper bound (too coarse in 2 s to certify)."""
    out = load("directional_smoothness").main(["--quick", "--dims", "5"])
    rows = out["rows"]
    assert [r["N"] for r in rows] == [100, 150]
    for r in rows:
        for m in ("sampled", "adaptive"):
            assert r[m] < 0.6 * r["tps"] and r[m] < 0.6 * r["krr"]
        assert not r["ratio_exact"] and not r["certified"] and r["ratio"] > 0
        assert r["upper"] >= r["ratio"] and r["cert_rel_gap"] >= r["est_rel_gap"]
    assert set(out["slopes"][5]) >= {"tps", "krr", "rate_network", "rate_linear"}
