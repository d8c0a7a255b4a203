"""End to end through the installed ``nnlasso`` console script (subprocesses)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnlasso.cli import format_table, main

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "problems"
HOSTILE = Path(__file__).resolve().parent / "hostile"
# the console script installed next to this interpreter (the venv's), else the one on PATH

TEACHER = """schema = 1
task = "fit"
[data]
source = "synthetic"
generator = "relu_teacher"
params = {{ n = 120, d = 2, seed = {seed} }}
[dictionary]
size = 120
seed = {seed}
[model]
lam_ratio = 0.1
"""


@pytest.fixture(scope="module")
def bundled(tmp_path_factory, run_nnlasso, read_records):
    """Run every bundled problem once through ``nnlasso batch problems/``."""
    tmp = tmp_path_factory.mktemp("bundled")
    t0 = time.perf_counter()
    proc = run_nnlasso("batch", PROBLEMS, "--out", tmp / "results.jsonl", "--jobs", "2",
                   "--save-solutions", tmp / "solutions", timeout=600)
    return proc, read_records(tmp / "results.jsonl"), time.perf_counter() - t0, tmp


def test_bundled_problems_all_optimal(bundled):
    proc, recs, elapsed, tmp = bundled
    files = sorted(PROBLEMS.glob("*.toml"))
    assert len(files) >= 10
    assert sorted(Path(r["file"]).name for r in recs) == sorted(f.name for f in files)
    for r in recs:
        assert r["status"] == "optimal", (r["problem"], r["error"])
        assert r["width_bound_holds"] is True, r["problem"]
        assert r["error"] is None
        assert Path(r["solution_file"]).is_file()
    assert {r["task"] for r in recs} == {"fit", "lasso", "compress"}
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 120
    # the summary table lists every problem
    for r in recs:
        assert r["problem"] in proc.stdout
    assert "neurons -> kept" in proc.stdout and "Traceback" not in proc.stderr
    # stderr is a pipe here, not a terminal: no progress bar
    assert "%|" not in proc.stderr and "problem/s" not in proc.stderr


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not running inside a virtualenv")
def test_console_script_is_installed_in_the_venv():
    """pip install puts the ``nnlasso`` script next to the venv's python (no module fallback)."""
    beside = Path(sys.executable).parent / "nnlasso"
    assert beside.is_file() and os.access(beside, os.X_OK)
    proc = subprocess.run([str(beside), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "batch" in proc.stdout


def test_bundled_covers_every_loss_and_certificate(bundled):
    recs = bundled[1]
    cont = [r for r in recs if (r["certificate"] or {}).get("kind") == "continuous"]
    assert len(cont) >= 2 and all(r["certificate"]["certified"] for r in cont)
    assert any(r["D"] == 3 and r["task"] == "fit" for r in recs)           # linnerud / wine
    texts = {Path(r["file"]).read_text() for r in recs}
    for loss in ("squared", "logistic", "softmax"):
        assert any(f'loss = "{loss}"' in t for t in texts)


def test_hostile_batch_exit_1_no_traceback(tmp_path, run_nnlasso, read_records):
    proc = run_nnlasso("batch", HOSTILE, "--out", tmp_path / "r.jsonl", "--jobs", "2")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    recs = read_records(tmp_path / "r.jsonl")
    assert len(recs) == len(list(HOSTILE.glob("*.toml")))
    assert all(r["status"] == "error" and r["error"] for r in recs)


def test_solve_readable_and_json(tmp_path, capsys, run_nnlasso):
    # without a [solver] time_limit, solve runs in-process (no worker subprocess)
    p = tmp_path / "kink.toml"
    p.write_text((PROBLEMS / "kink-1d-knots.toml").read_text().replace("time_limit = 120", ""))
    proc = run_nnlasso("solve", p)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for word in ("status optimal", "width bound", "certificate  continuous", "times"):
        assert word in proc.stdout
    proc = run_nnlasso("solve", p, "--json")
    rec = json.loads(proc.stdout)
    assert rec["status"] == "optimal" and rec["problem"] == "kink"
    assert main(["solve", str(HOSTILE / "lam_negative.toml")]) == 1
    out = capsys.readouterr()
    assert "model.lam" in out.out and "Traceback" not in out.err


def test_validate(tmp_path, capsys, run_nnlasso):
    proc = run_nnlasso("validate", PROBLEMS, HOSTILE / "npz_pickled.toml")
    assert proc.returncode == 1
    assert proc.stdout.count("ok ") == len(list(PROBLEMS.glob("*.toml")))
    assert "INVALID" in proc.stdout and "data.path" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert main(["validate", str(PROBLEMS / "kink-1d-knots.toml")]) == 0
    assert main(["validate", str(tmp_path / "none")]) == 2


def test_usage_errors_exit_2(tmp_path, capsys, run_nnlasso):
    assert main(["batch", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["batch", str(PROBLEMS), "--jobs", "0"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["batch", str(PROBLEMS), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert main([]) == 2
    assert main(["--help"]) == 0
    proc = run_nnlasso("batch", tmp_path / "nothing-here")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_format_table_pure():
    rec = {"problem": "p", "status": "optimal", "N": 5, "K_active": 3, "K_reduced": 2,
           "width_bound": 4, "width_bound_holds": True, "gap": 1e-9, "times": {"total": 0.5}}
    table = format_table([rec, {"problem": "q", "status": "error", "times": {"total": 0.0}}])
    assert "3 -> 2" in table and "1.00e-09" in table and "0.5s" in table
    assert table.splitlines()[3].split()[:2] == ["q", "error"]
    comp = dict(rec, task="compress", K_dictionary=40, K_active=33, K_reduced=33)
    assert "40 -> 33" in format_table([comp])


def test_kill_9_then_resume(tmp_path, nnlasso_cmd, run_nnlasso, read_records):
    probs = tmp_path / "probs"
    probs.mkdir()
    for i in range(5):
        (probs / f"t{i}.toml").write_text(TEACHER.format(seed=i))
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen(nnlasso_cmd + ["batch", str(probs), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists() and out.read_text().count("\n") >= 1:
                break
            time.sleep(0.02)
        else:
            pytest.fail("no record within 120 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    before = out.read_text().splitlines()
    assert 1 <= len(before) < 5
    # simulate a record cut in the middle of its write as well
    with open(out, "a") as fh:
        fh.write('{"problem": "t9", "sta')
    done = run_nnlasso("batch", probs, "--out", out, "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    after = read_records(out)
    assert sorted(r["problem"] for r in after) == [f"t{i}" for i in range(5)]
    assert [json.loads(line) for line in before] == after[:len(before)]
    assert all(r["status"] == "optimal" for r in after)


def test_script_wrapper(tmp_path, capsys, read_records):
    import runpy
    mod = runpy.run_path(str(ROOT / "scripts" / "run_problems.py"))
    shutil.copy(HOSTILE / "lam_both.toml", tmp_path / "lam_both.toml")
    assert mod["run"]([str(tmp_path), "--out", str(tmp_path / "r.jsonl")]) == 1
    assert read_records(tmp_path / "r.jsonl")[0]["error"].endswith(
        "model.lam: both lam and lam_ratio are given (keep exactly one of them)")
    assert mod["DEFAULT"] == PROBLEMS
    assert mod["run"](["--help"]) == 0
    assert "--resume" in capsys.readouterr().out


def test_save_solutions_compress_network(bundled):
    recs = bundled[1]
    comp = [r for r in recs if r["task"] == "compress"]
    assert comp
    for r in comp:
        with np.load(r["solution_file"], allow_pickle=False) as z:
            assert "W1" in z.files and z["max_output_change"].size >= 1
