"""scripts/bench_min_norm_eps.py: the program it times is the eps min-norm program of a
trained layer (feasible, certified by every call) and its table rows keep their format."""
import json

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("sklearn")


def test_layer_program_is_the_networks_hidden_layer():
    mod = load_script("bench_min_norm_eps")
    Phi, Psi = mod.layer_program(40, 6)
    assert Phi.shape == (40, 6) and Psi.shape == (40, 1) and np.all(Phi >= 0)


def test_grid_row_and_json(tmp_path, capsys):
    mod = load_script("bench_min_norm_eps")
    out = tmp_path / "mn.json"
    assert mod.main(["--sizes", "60x4", "--repeats", "2", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| N x width | auto (s)") and lines[2].startswith("| 60 x 4 | ")
    (row,) = json.loads(out.read_text())
    assert row["auto_backend"] in ("SCS", "CLARABEL")
    for call in mod.CALLS:
        assert len(row[f"{call}_times"]) == 2
        assert row[f"{call}_median"] == pytest.approx(np.median(row[f"{call}_times"]))
        assert 0 <= row[f"{call}_rel_gap"] <= 1e-5          # every call certified
