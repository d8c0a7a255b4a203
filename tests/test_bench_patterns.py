"""scripts/bench_patterns.py: the wall-clock-limited pyscnn rows (child process, killed at the
limit) and run()'s row format. Tiny problems; the pyscnn success case is skipped without scnn."""
import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

PATH = Path(__file__).resolve().parents[1] / "scripts" / "bench_patterns.py"


def _load():
    spec = importlib.util.spec_from_file_location("nnlasso_bench_patterns", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _have_scnn() -> bool:
    return importlib.util.find_spec("scnn") is not None


def test_row_limit_kills_the_child_and_reports_the_limit():
    bp = _load()
    # 0.01 s is below an interpreter's start-up: the child is always killed, scnn or not
    tm, obj, act, note = bp._scnn_row_limited("gated", 5, 0.1, "RFISTA", 1, 0.01)
    assert tm == 0.01 and math.isnan(obj) and act == 0
    assert note == "did not finish in 0.01 s (killed)"


@pytest.mark.skipif(_have_scnn(), reason="checks the failure path without scnn")
def test_row_limit_child_failure_is_reported():
    bp = _load()
    tm, obj, act, note = bp._scnn_row_limited("gated", 5, 0.1, "RFISTA", 1, 120.0)
    assert math.isnan(tm) and math.isnan(obj) and act == 0
    assert note.startswith("failed:") and "scnn" in note


def test_run_rows_keep_their_format():
    bp = _load()
    rows = bp.run(repeats=1, n_gated=6, n_cone=3, lams=(0.1,), scnn_cvxpy=False,
                  row_limit=120.0)
    keys = {"program", "n_patterns", "lam", "impl", "time_s", "objective", "active", "gap",
            "rel_gap", "note"}
    assert all(set(r) == keys for r in rows)
    nn = [r for r in rows if r["impl"] == "nnlasso CLARABEL"]
    assert [r["program"] for r in nn] == ["gated", "cone"]
    assert all(r["rel_gap"] <= 1e-6 for r in nn)
    sc = [r for r in rows if r["impl"].startswith("pyscnn")]
    assert len(sc) == 2
    if _have_scnn():
        # the gated program is the same as nnlasso's: R-FISTA's objective is at or above the
        # certified dual value (an AL point may violate the cone constraints slightly)
        gated = [r for r in sc if r["program"] == "gated"]
        assert all(r["gap"] >= -1e-6 * abs(r["objective"]) for r in gated)
        assert bp.format_table(rows).count("\n") == len(rows) + 1
    else:
        assert all(r["note"] == "pyscnn not installed" for r in sc)
