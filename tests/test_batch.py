"""The batch runner: records, worker subprocesses, time limits, resume, executors."""
from __future__ import annotations

import concurrent.futures as cf
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnlasso.batch import (RECORD_KEYS, TIME_KEYS, BatchUsageError, expand_paths, read_results,
                           run_batch, run_isolated, run_problem, shutdown_workers)
from nnlasso.cli import main

HOSTILE = Path(__file__).resolve().parent / "hostile"

KINK = """schema = 1
task = "fit"
[data]
source = "synthetic"
generator = "kink_1d"
params = {{ n = {n}, seed = {seed} }}
[dictionary]
kind = "knots"
[model]
lam = 0.05
[solver]
time_limit = 120
"""

# big enough to run for minutes: N = K = 2500 dense
SLOW = """schema = 1
task = "fit"
[data]
source = "synthetic"
generator = "relu_teacher"
params = { n = 2500, d = 5, seed = 0 }
[dictionary]
kind = "data"
size = 2500
[model]
lam_ratio = 0.01
"""

def kink(folder: Path, name: str, seed: int = 0, n: int = 30) -> Path:
    p = folder / f"{name}.toml"
    p.write_text(KINK.format(n=n, seed=seed))
    return p


def assert_record_shape(rec: dict) -> None:
    for key in RECORD_KEYS:
        assert key in rec, key
    assert {"solver", "inner", "fallback"} <= set(rec)
    assert set(TIME_KEYS) <= set(rec["times"])
    assert rec["status"] in ("optimal", "optimal_inaccurate", "infeasible", "error", "timeout")
    json.dumps(rec, allow_nan=False)


def test_error_record_shape(tmp_path, invalid_problem):
    p = tmp_path / "bad.toml"
    p.write_text(invalid_problem(lam=-1))
    rec = run_problem(p)
    assert_record_shape(rec)
    assert rec["status"] == "error" and rec["problem"] == "bad"
    assert rec["error"].startswith(f"{p}: ") and ": data: " in rec["error"]
    assert rec["task"] == "fit"          # what the invalid file declares, for grouping
    named = tmp_path / "named.toml"
    named.write_text('schema = 1\nname = "my-run"\ntask = "compress"\nsolvr = 1\n')
    rec2 = run_problem(named)
    assert rec2["status"] == "error" and "did you mean" in rec2["error"]
    assert rec2["task"] == "compress" and rec2["problem"] == "my-run"
    junk = tmp_path / "junk.toml"
    junk.write_text('task = "rm -rf"\nname = 3\n[[[')
    rec3 = run_problem(junk)
    assert rec3["task"] is None and rec3["problem"] == "junk"
    assert len(rec["sha256"]) == 64
    missing = run_problem(tmp_path / "none.toml")
    assert missing["status"] == "error" and missing["sha256"] is None
    assert missing["error"].startswith(f"{tmp_path / 'none.toml'}: file: ")


def test_symlink_out_of_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    inside = tmp_path / "problem"
    (inside / "data").mkdir(parents=True)
    outside.mkdir()
    np.savez(outside / "secret.npz", X=np.ones((4, 1)), Y=np.ones(4))
    (inside / "data" / "link.npz").symlink_to(outside / "secret.npz")
    p = inside / "p.toml"
    p.write_text('schema = 1\ntask = "fit"\n[data]\nsource = "npz"\npath = "data/link.npz"\n'
                 '[model]\nlam = 1\n')
    rec = run_problem(p)
    assert rec["status"] == "error"
    assert ": data.path: " in rec["error"] and "outside" in rec["error"]


def test_expand_paths(tmp_path):
    (tmp_path / "b.toml").write_text("")
    (tmp_path / "a.toml").write_text("")
    (tmp_path / "c.txt").write_text("")
    assert expand_paths([tmp_path]) == [str(tmp_path / "a.toml"), str(tmp_path / "b.toml")]
    with pytest.raises(BatchUsageError):
        expand_paths([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchUsageError):
        expand_paths([tmp_path / "empty"])


def test_hostile_corpus_batch(tmp_path, read_records):
    out = tmp_path / "r.jsonl"
    records = run_batch([HOSTILE], out, jobs=2, progress=False)
    files = sorted(HOSTILE.glob("*.toml"))
    assert len(records) == len(files) >= 30
    written = read_records(out)
    assert sorted(r["file"] for r in written) == sorted(str(f) for f in files)
    for rec in records:
        assert_record_shape(rec)
        field = Path(rec["file"]).read_bytes().split(b"\n")[0].decode().split("expect:")[1]
        assert rec["status"] == "error"
        assert rec["error"].startswith(f"{rec['file']}: {field.strip()}: "), rec["error"]
        assert "Traceback" not in rec["error"] and "internal" not in rec["error"]


def test_resume_repairs_truncated_line_and_skips_done(tmp_path, invalid_problem, read_records):
    probs = tmp_path / "p"
    probs.mkdir()
    for i in range(3):
        (probs / f"p{i}.toml").write_text(invalid_problem(lam=-(i + 1)))
    out = tmp_path / "r.jsonl"
    first = run_batch([probs / "p0.toml"], out, progress=False)
    with open(out, "a") as fh:
        fh.write('{"problem": "p1", "sha256": "tru')      # a killed writer's partial line
    assert len(read_results(out, repair=False)) == 1
    seen = []
    records = run_batch([probs], out, resume=True, progress=False, on_record=seen.append)
    assert [r["problem"] for r in records] == ["p0", "p1", "p2"]
    assert sorted(r["problem"] for r in seen) == ["p1", "p2"]   # p0 was skipped
    written = read_records(out)
    assert sorted(r["problem"] for r in written) == ["p0", "p1", "p2"]
    assert written[0] == first[0]
    # without --resume the record is appended: the results file is never truncated
    run_batch([probs / "p2.toml"], out, progress=False)
    assert [r["problem"] for r in read_records(out)] == ["p0", "p1", "p2", "p2"]


def test_unknown_solver_option_names_solver_options(tmp_path):
    """Option names are checked by the solver when the file is validated; the record names
    the option."""
    p = tmp_path / "opt.toml"
    p.write_text(KINK.format(n=20, seed=0) + 'name = "CLARABEL"\noptions = { max_iterr = 5 }\n')
    rec = run_problem(p)
    assert rec["status"] == "error"
    assert rec["error"].startswith(f"{p}: solver.options.max_iterr: ")


def test_resume_tells_identical_files_apart(tmp_path, read_records):
    """Same bytes, different files (another name, another folder with other data): each is its
    own problem and is not skipped because a twin has a record."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    p = kink(a, "p")
    (a / "q.toml").write_bytes(p.read_bytes())
    (b / "p.toml").write_bytes(p.read_bytes())
    out = tmp_path / "r.jsonl"
    run_batch([p], out, progress=False)
    seen = []
    records = run_batch([a, b], out, resume=True, progress=False, on_record=seen.append)
    assert sorted(r["file"] for r in seen) == sorted([str(a / "q.toml"), str(b / "p.toml")])
    assert [r["file"] for r in records] == [str(p), str(a / "q.toml"), str(b / "p.toml")]
    assert len(read_records(out)) == 3 and len({r["sha256"] for r in read_records(out)}) == 1
    again = []
    run_batch([a, b], out, resume=True, progress=False, on_record=again.append)
    assert again == [] and len(read_records(out)) == 3


def test_fit_record_and_saved_solution(tmp_path):
    p = kink(tmp_path, "kink")
    rec = run_problem(p, save_solutions=tmp_path / "sol")
    assert_record_shape(rec)
    assert rec["status"] == "optimal", rec["error"]
    assert rec["N"] == 30 and rec["d"] == 1 and rec["D"] == 1
    # no [solver] name: "auto", and the record says which backend did the work
    assert rec["solver"] == "auto" and rec["inner"] in ("PROX", "CLARABEL")
    assert rec["fallback"] is None
    assert rec["K_reduced"] <= rec["K_active"] <= rec["K_dictionary"]
    assert rec["width_bound_holds"] is True and rec["K_reduced"] <= rec["width_bound"]
    assert rec["gap"] is not None and rec["rel_gap"] < 1e-5
    assert rec["certificate"]["kind"] == "dictionary" and rec["certificate"]["certified"]
    assert math.isclose(sum(rec["times"][k] for k in ("load", "build", "compile", "solve",
                                                      "verify")), rec["times"]["total"],
                        rel_tol=0.2, abs_tol=0.2)
    with np.load(rec["solution_file"], allow_pickle=False) as z:
        assert z["V"].shape == (rec["K_dictionary"], 1)
        assert z["reduced_active"].size == rec["K_reduced"]
        assert z["W"].shape == (rec["K_dictionary"], 1)


def test_records_carry_loss_lam_and_an_independent_lam_max(tmp_path):
    """lam_max of the record = max_k |Phi_k^T q0| with q0 the residual of the affine
    least-squares fit (computed here from the saved neurons, not by nnlasso), and lam =
    lam_ratio * lam_max; lasso problems carry the same fields."""
    from nnlasso.spec import load_data, load_problem
    p = tmp_path / "ratio.toml"
    p.write_text(KINK.format(n=30, seed=1).replace("lam = 0.05", "lam_ratio = 0.1"))
    rec = run_problem(p, save_solutions=tmp_path / "sol")
    assert rec["status"] == "optimal", rec["error"]
    data = load_data(load_problem(p))
    with np.load(rec["solution_file"], allow_pickle=False) as z:
        Phi = np.maximum(data.X @ z["W"].T - z["b"], 0.0)
    A = np.column_stack([data.X, np.ones(data.N)])
    q0 = data.Y - A @ np.linalg.lstsq(A, data.Y, rcond=None)[0]
    ref = float(np.max(np.abs(Phi.T @ q0)))
    assert rec["loss"] == "squared"
    assert rec["lam_max"] == pytest.approx(ref, rel=1e-9)
    assert rec["lam"] == pytest.approx(0.1 * ref, rel=1e-9)
    las = run_problem(Path(__file__).resolve().parents[1] / "problems" / "lasso-npz.toml")
    assert las["status"] == "optimal", las["error"]
    assert las["loss"] and las["lam"] > 0 and las["lam_max"] > 0


def test_timeout_kills_the_worker_and_batch_goes_on(tmp_path, read_records):
    (tmp_path / "a_slow.toml").write_text(SLOW)
    kink(tmp_path, "b_quick")
    out = tmp_path / "r.jsonl"
    records = run_batch([tmp_path], out, timeout=2, progress=False)
    slow, quick = records
    assert slow["status"] == "timeout"
    assert ": timeout: " in slow["error"] and "2 s" in slow["error"]
    assert 2 <= slow["times"]["total"] < 30
    assert quick["status"] == "optimal", quick["error"]
    assert len(read_records(out)) == 2


def test_file_time_limit_is_enforced(tmp_path):
    p = tmp_path / "slow.toml"
    p.write_text(SLOW + "[solver]\ntime_limit = 1.5\n")
    rec = run_isolated(p, "slow.toml")
    assert rec["status"] == "timeout"
    assert rec["error"].startswith("slow.toml: solver.time_limit: stopped after")


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key in ("times",):
            continue
        x, y = a[key], b[key]
        if isinstance(x, float) and isinstance(y, float):
            assert math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9), (key, x, y)
        elif isinstance(x, dict):
            _same(x, y)
        else:
            assert x == y, (key, x, y)


def test_foreign_and_dask_executors_match_local(tmp_path, invalid_problem, read_records):
    kink(tmp_path, "k1", seed=1)
    kink(tmp_path, "k2", seed=2)
    (tmp_path / "k3.toml").write_text(invalid_problem(lam=0))
    local = run_batch([tmp_path], tmp_path / "local.jsonl", progress=False)
    assert [r["status"] for r in local] == ["optimal", "optimal", "error"]
    with cf.ThreadPoolExecutor(1) as ex:
        threaded = run_batch([tmp_path], tmp_path / "t.jsonl", executor=ex, progress=False)
    shutdown_workers()          # the executor thread's persistent worker
    for a, b in zip(local, threaded):
        _same(a, b)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = run_batch([tmp_path], tmp_path / "dask.jsonl",
                               executor=client.get_executor(), progress=False)
        # the command line, pointed at the scheduler's address
        code = main(["batch", str(tmp_path), "--out", str(tmp_path / "cli.jsonl"),
                     "--executor", "dask", "--scheduler", cluster.scheduler_address])
    for a, b in zip(local, remote):
        _same(a, b)
    assert len(read_records(tmp_path / "dask.jsonl")) == 3
    assert code == 1                                   # k3 is invalid
    by_file = {r["file"]: r for r in read_records(tmp_path / "cli.jsonl")}
    for a in local:
        _same(a, by_file[a["file"]])


def test_progress_bar_on_request(tmp_path, capsys, invalid_problem):
    p = tmp_path / "bad.toml"
    p.write_text(invalid_problem(lam=-1))
    run_batch([p], tmp_path / "r.jsonl", progress=True)
    err = capsys.readouterr().err
    assert "1/1" in err and "problem" in err
    run_batch([p], tmp_path / "r.jsonl", progress=False)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------- the results file's lock

class _FakeMsvcrt:
    """msvcrt.locking emulated: byte-range locks per (file, offset), owned by a descriptor."""
    LK_NBLCK, LK_UNLCK = 2, 0

    def __init__(self):
        self.held, self.calls = {}, []

    def locking(self, fd, mode, nbytes):
        import os
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        key = (os.fstat(fd).st_ino, pos)
        self.calls.append((mode, nbytes, pos))
        if mode == self.LK_NBLCK:
            if self.held.get(key, fd) != fd:
                raise PermissionError(13, "locked")
            self.held[key] = fd
        elif self.held.get(key) == fd:
            del self.held[key]
        else:
            raise PermissionError(13, "not locked")


def test_lock_posix_path_is_flock_on_the_open_file(tmp_path, monkeypatch):
    """POSIX: flock(fd, LOCK_EX | LOCK_NB), per open file (a second open of the same file
    cannot take it, also within one process), released by unlock or close."""
    import os
    from nnlasso.batch import filelock
    if filelock.fcntl is None:
        pytest.skip("POSIX only")
    assert filelock.backend() == "fcntl"
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"")
    a, b = os.open(p, os.O_RDWR), os.open(p, os.O_RDWR)
    try:
        assert filelock.try_lock(a) and not filelock.try_lock(b)
        filelock.unlock(a)
        assert filelock.try_lock(b) and not filelock.try_lock(a)
    finally:
        os.close(a)
        os.close(b)
    calls = []
    real = filelock.fcntl

    class Spy:
        LOCK_EX, LOCK_NB, LOCK_UN = real.LOCK_EX, real.LOCK_NB, real.LOCK_UN

        @staticmethod
        def flock(fd, op):
            calls.append(op)
            return real.flock(fd, op)
    monkeypatch.setattr(filelock, "fcntl", Spy)
    fd = os.open(p, os.O_RDWR)
    try:
        assert filelock.try_lock(fd)
        filelock.unlock(fd)
    finally:
        os.close(fd)
    assert calls == [real.LOCK_EX | real.LOCK_NB, real.LOCK_UN]


def test_lock_selection_windows_and_none(tmp_path, monkeypatch):
    """Without fcntl, msvcrt.locking(fd, LK_NBLCK, 1) on the byte at WINDOWS_LOCK_OFFSET (past
    the end: Windows locks are mandatory, the records stay readable), the position restored;
    a held lock -> False; neither module -> no lock ("none", always True)."""
    import os
    from nnlasso.batch import filelock
    fake = _FakeMsvcrt()
    monkeypatch.setattr(filelock, "fcntl", None)
    monkeypatch.setattr(filelock, "msvcrt", fake)
    assert filelock.backend() == "msvcrt"
    p = tmp_path / "r.jsonl"
    p.write_bytes(b'{"problem": "a", "status": "optimal"}\n')
    a, b = os.open(p, os.O_RDWR | os.O_APPEND), os.open(p, os.O_RDWR)
    try:
        os.lseek(a, 5, os.SEEK_SET)
        assert filelock.try_lock(a)
        assert os.lseek(a, 0, os.SEEK_CUR) == 5
        assert fake.calls == [(fake.LK_NBLCK, 1, filelock.WINDOWS_LOCK_OFFSET)]
        assert not filelock.try_lock(b)
        filelock.unlock(a)
        assert fake.calls[-1] == (fake.LK_UNLCK, 1, filelock.WINDOWS_LOCK_OFFSET)
        assert filelock.try_lock(b)
        filelock.unlock(b)
    finally:
        os.close(a)
        os.close(b)
    monkeypatch.setattr(filelock, "msvcrt", None)
    assert filelock.backend() == "none"
    fd = os.open(p, os.O_RDWR)
    try:
        assert filelock.try_lock(fd) and filelock.try_lock(fd)
    finally:
        os.close(fd)


def test_results_file_on_the_windows_branch(tmp_path, monkeypatch):
    """The results file with the Windows lock and without os.pread / os.statvfs: a second batch
    on the same file is refused while the first holds it, read_results then does not repair,
    and after close everything works again (same behaviour as with flock)."""
    import os
    from nnlasso.batch import filelock
    from nnlasso.batch.results import _ResultsFile
    fake = _FakeMsvcrt()
    monkeypatch.setattr(filelock, "fcntl", None)
    monkeypatch.setattr(filelock, "msvcrt", fake)
    monkeypatch.delattr(os, "pread", raising=False)
    monkeypatch.delattr(os, "statvfs", raising=False)
    import shutil
    from types import SimpleNamespace
    asked = []
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda folder: asked.append(folder) or SimpleNamespace(free=1 << 40))
    out = tmp_path / "r.jsonl"
    rec = {"problem": "a", "status": "optimal"}
    out.write_bytes((json.dumps(rec) + "\n").encode() + b'{"problem": "b", "sta')
    first = _ResultsFile(out, [])
    try:
        assert first.records == [rec]
        assert out.read_bytes() == (json.dumps(rec) + "\n").encode()   # cut-off line removed
        with pytest.raises(BatchUsageError, match="in use by another nnlasso batch"):
            _ResultsFile(out, [])
        first.append({"problem": "c", "status": "error"})
        with open(out, "ab") as fh:
            fh.write(b'{"cut')                    # as if the batch were writing a line
        assert [r["problem"] for r in read_results(out)] == ["a", "c"]
        assert out.read_bytes().endswith(b'{"cut')   # locked: not repaired
    finally:
        first.close()
    assert not fake.held
    assert [r["problem"] for r in read_results(out)] == ["a", "c"]
    assert not out.read_bytes().endswith(b'{"cut')   # unlocked: repaired
    second = _ResultsFile(out, [])
    second.close()
    assert asked and all(a == str(tmp_path) for a in asked)   # the free-space check ran
