"""scripts/bench_cone_ssnal.py: the default solve and the interior-point loop on the same cone
program, same optimum; the table's rows and CPU ratio. A small problem (30 gates: below SSNAL's
MIN_BLOCKS, so the default is the loop too; tests/test_patterns_alm.py covers SSNAL)."""
import pytest
from conftest import load_script

pytest.importorskip("sklearn")


def test_run_and_table():
    bc = load_script("bench_cone_ssnal")
    rows = bc.run(n=30, lams=(0.1,), loop=True)
    assert [r["method"] for r in rows] == ["ssnal", "loop"]
    ssnal, loop = rows
    assert ssnal["inner"] == "CLARABEL" and loop["inner"] == "CLARABEL"
    for r in rows:
        assert r["status"] == "optimal" and r["rel_gap"] <= 1e-8 and r["cpu"] > 0
    assert ssnal["objective"] == pytest.approx(loop["objective"], rel=1e-7)
    text = bc.table(rows)
    assert "| 0.1 | ssnal (CLARABEL) |" in text and "loop / SSNAL CPU ratio" in text
