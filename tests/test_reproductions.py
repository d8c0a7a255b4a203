"""The --quick runs of the reproduction scripts (docs/reproductions.md), asserting on their
numbers."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
