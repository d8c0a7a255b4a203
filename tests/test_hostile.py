"""A hostile user: file-system oddities, the results file, usage errors, odd text (issue 12).

Cases that could hang without the fix (FIFOs, /dev/zero) run the command line in a subprocess
with a time limit, so a regression fails the test instead of stalling the suite.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from nnlasso.batch import BatchUsageError, read_results, run_batch, run_problem
from nnlasso.cli import format_record, format_table, main
from nnlasso.spec import ProblemFileError, load_data, load_problem

HOSTILE = Path(__file__).resolve().parent / "hostile"

KINK = """schema = 1
task = "fit"
[data]
source = "synthetic"
generator = "kink_1d"
params = {{ n = 20, seed = {seed} }}
[dictionary]
kind = "knots"
[model]
lam = 0.05
"""
CSV_FIT = """schema = 1
task = "fit"
[data]
source = "csv"
path = "{path}"
{extra}
[dictionary]
size = 10
[model]
lam_ratio = 0.1
"""


@pytest.fixture
def oddities(tmp_path):
    """A batch folder whose *.toml entries are a FIFO, a folder, a symlink loop, a dangling
    link and links to /dev/zero and /dev/urandom, next to one valid problem."""
    d = tmp_path / "odd"
    d.mkdir()
    os.mkfifo(d / "fifo.toml")
    (d / "folder.toml").mkdir()
    os.symlink("loop_b.toml", d / "loop_a.toml")
    os.symlink("loop_a.toml", d / "loop_b.toml")
    os.symlink("missing-target", d / "dangling.toml")
    os.symlink("/dev/zero", d / "zero.toml")
    os.symlink("/dev/urandom", d / "urandom.toml")
    (d / "ok.toml").write_text(KINK.format(seed=0))
    return d


EXPECT = {"fifo": "FIFO", "folder": "directory", "loop_a": "symbolic link loop",
          "loop_b": "symbolic link loop", "dangling": "No such file", "zero": "character device",
          "urandom": "character device"}


# ------------------------------------------------------------------- files refused by type

def test_batch_refuses_fifos_devices_folders_and_loops_by_type(oddities, tmp_path, run_nnlasso, read_records):
    out = tmp_path / "r.jsonl"
    proc = run_nnlasso("batch", oddities, "--out", out, "--timeout", "60", timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    recs = {Path(r["file"]).stem: r for r in read_records(out)}
    assert sorted(recs) == sorted([*EXPECT, "ok"])          # one record each, none skipped
    assert recs["ok"]["status"] == "optimal", recs["ok"]["error"]
    for stem, word in EXPECT.items():
        rec = recs[stem]
        assert rec["status"] == "error"
        assert rec["error"].startswith(f"{oddities / stem}.toml: file: "), rec["error"]
        assert word in rec["error"], rec["error"]
    # resume: the unreadable files (no sha256) are recognized by their path, not re-run
    again = run_nnlasso("batch", oddities, "--out", out, "--resume", timeout=180)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert len(read_records(out)) == len(recs)


def test_validate_and_solve_refuse_a_fifo_and_dev_zero(oddities, run_nnlasso):
    proc = run_nnlasso("validate", oddities / "fifo.toml", oddities / "zero.toml", oddities / "loop_a.toml",
               timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.count("INVALID") == 3 and "FIFO" in proc.stdout
    for target in (oddities / "fifo.toml", "/dev/zero", oddities / "urandom.toml"):
        proc = run_nnlasso("solve", target, "--json", timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        rec = json.loads(proc.stdout)
        assert rec["status"] == "error" and ": file: " in rec["error"]
        assert "not a regular file" in rec["error"]


@pytest.mark.parametrize("kind", ["loop", "fifo", "folder"])
def test_data_path_of_another_kind_is_refused(tmp_path, kind, capsys):
    if kind == "loop":
        os.symlink("b.csv", tmp_path / "a.csv")
        os.symlink("a.csv", tmp_path / "b.csv")
    elif kind == "fifo":
        os.mkfifo(tmp_path / "a.csv")
    else:
        (tmp_path / "a.csv").mkdir()
    p = tmp_path / "p.toml"
    p.write_text(CSV_FIT.format(path="a.csv", extra=""))
    with pytest.raises(ProblemFileError) as info:
        load_problem(p)
    assert info.value.field == "data.path"
    assert {"loop": "symbolic link loop", "fifo": "FIFO",
            "folder": "directory"}[kind] in info.value.message
    assert main(["solve", str(p)]) == 1                     # a report, no traceback
    assert "data.path" in capsys.readouterr().out


def test_a_problem_file_over_the_cap_is_not_read_whole(tmp_path, monkeypatch, invalid_problem):
    """The cap counts bytes read, not the size the file system reports."""
    import nnlasso.spec.files as spec_files   # the module that reads problem files
    p = tmp_path / "big.toml"
    p.write_text(invalid_problem(lam=1) + "#" * 100)
    monkeypatch.setattr(spec_files, "MAX_FILE_BYTES", 50)
    real_fstat = os.fstat

    def lying_fstat(fd):      # a file system that reports size 0, like /proc or /dev/zero
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid,
                               st.st_gid, 0, st.st_atime, st.st_mtime, st.st_ctime))

    real_stat = os.stat

    def lying_stat(path, *args, **kwargs):
        st = real_stat(path, *args, **kwargs)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid,
                               st.st_gid, 0, st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(spec_files.os, "stat", lying_stat)
    monkeypatch.setattr(spec_files.os, "fstat", lying_fstat)
    with pytest.raises(ProblemFileError, match="over the limit of 50 bytes"):
        spec_files.read_problem_bytes(p)


# ------------------------------------------------------------------- solve never crashes

@pytest.mark.parametrize("name", ["lam_huge_int", "time_limit_huge_int", "noise_huge_int"])
def test_solve_prints_a_record_on_integers_too_large_for_a_float(name, capsys):
    assert main(["solve", str(HOSTILE / f"{name}.toml"), "--json"]) == 1
    out = capsys.readouterr()
    rec = json.loads(out.out)
    field = (HOSTILE / f"{name}.toml").read_text().split("\n")[0].split("expect:")[1].strip()
    assert rec["error"].startswith(f"{HOSTILE / name}.toml: {field}: the integer ")
    assert "too large" in rec["error"] and "Traceback" not in out.err


def test_solve_json_prints_one_object_even_with_verbose_solver(tmp_path, capfd):
    p = tmp_path / "v.toml"
    p.write_text(KINK.format(seed=1) + '[solver]\nname = "CLARABEL"\noptions = { verbose = true }\n')
    assert main(["solve", str(p), "--json"]) == 0
    out, err = capfd.readouterr()
    rec = json.loads(out)                                 # the whole of stdout is one object
    assert rec["status"] == "optimal" and out.count("\n") == 1
    assert "Clarabel" in err                              # the log went to stderr


# ------------------------------------------------------------------- the results file

def test_resume_from_another_working_directory(tmp_path, monkeypatch, invalid_problem, read_records):
    probs = tmp_path / "a" / "probs"
    probs.mkdir(parents=True)
    (probs / "p.toml").write_text(invalid_problem(lam=-1))
    (probs / "q.toml").write_text(invalid_problem(lam=-2))
    out = tmp_path / "r.jsonl"
    monkeypatch.chdir(tmp_path / "a")
    first = run_batch(["probs"], out, progress=False)
    assert [r["file"] for r in first] == [os.path.join("probs", "p.toml"),
                                          os.path.join("probs", "q.toml")]
    assert all(r["path"] == str(probs.resolve() / Path(r["file"]).name) for r in first)
    monkeypatch.chdir(tmp_path)
    seen: list = []
    again = run_batch([os.path.join("a", "probs")], out, resume=True, progress=False,
                      on_record=seen.append)
    assert seen == [] and len(read_records(out)) == 2 and again == first
    # through a symlinked folder too
    os.symlink(tmp_path / "a", tmp_path / "link")
    run_batch([tmp_path / "link" / "probs"], out, resume=True, progress=False,
              on_record=seen.append)
    assert seen == []


def test_resume_skips_failures_unless_retry_failed(tmp_path, invalid_problem, read_records):
    p = tmp_path / "p.toml"
    p.write_text(invalid_problem(lam=-1))
    out = tmp_path / "r.jsonl"
    run_batch([p], out, progress=False)
    seen: list = []
    run_batch([p], out, resume=True, progress=False, on_record=seen.append)
    assert seen == []
    run_batch([p], out, resume=True, retry_failed=True, progress=False, on_record=seen.append)
    assert len(seen) == 1 and len(read_records(out)) == 2
    assert main(["batch", str(p), "--out", str(out), "--retry-failed"]) == 2   # needs --resume


def test_out_never_truncates_and_refuses_non_results_files(tmp_path, capsys, invalid_problem, read_records):
    p = tmp_path / "p.toml"
    text = invalid_problem(lam=-1)
    p.write_text(text)
    assert main(["batch", str(p), "--out", str(p)]) == 2
    assert p.read_text() == text
    assert "is one of the problem files" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nline two\n")
    assert main(["batch", str(p), "--out", str(notes)]) == 2
    assert notes.read_text() == "my notes\nline two\n"
    assert "not an nnlasso results file" in capsys.readouterr().err
    one_line = tmp_path / "one.txt"
    one_line.write_text("keep me")                       # no newline: not a cut-off record
    assert main(["batch", str(p), "--out", str(one_line)]) == 2
    assert one_line.read_text() == "keep me"
    out = tmp_path / "r.jsonl"
    assert main(["batch", str(p), "--out", str(out)]) == 1
    assert main(["batch", str(p), "--out", str(out)]) == 1
    assert len(read_records(out)) == 2                          # appended, not truncated


def test_second_concurrent_batch_on_the_same_out_is_refused(tmp_path, nnlasso_cmd, invalid_problem, run_nnlasso, read_records):
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "s.toml").write_text(
        'schema = 1\ntask = "fit"\n[data]\nsource = "synthetic"\ngenerator = "relu_teacher"\n'
        'params = { n = 2500, d = 5, seed = 0 }\n[dictionary]\nsize = 2500\n[model]\n'
        'lam_ratio = 0.01\n')
    quick = tmp_path / "q.toml"
    quick.write_text(invalid_problem(lam=-1))
    out = tmp_path / "r.jsonl"
    first = subprocess.Popen(nnlasso_cmd + ["batch", str(slow), "--out", str(out), "--timeout", "60"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:                                      # wait until the first holds the lock
            assert time.monotonic() < deadline, "the first batch never locked its results file"
            if out.exists():
                with open(out, "rb") as fh:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                    except OSError:
                        break
            time.sleep(0.05)
        second = run_nnlasso("batch", quick, "--out", out, timeout=120)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "in use by another nnlasso batch" in second.stderr
        assert "Traceback" not in second.stderr
        assert read_records(out) == []                          # the second wrote nothing
    finally:
        os.killpg(first.pid, 9)
        first.wait(timeout=30)
    assert main(["batch", str(quick), "--out", str(out)]) == 1   # the lock died with it
    assert len(read_records(out)) == 1


def test_read_results_repairs_only_a_cut_off_tail(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"problem": "a", "status": "error"}\nnot json\n{"problem": "b", "sta')
    assert [r["problem"] for r in read_results(out, repair=False)] == ["a"]
    assert out.read_text().endswith('"sta')
    assert [r["problem"] for r in read_results(out)] == ["a"]
    assert out.read_text() == '{"problem": "a", "status": "error"}\nnot json\n'


@pytest.mark.parametrize("case", ["read_only", "parent_is_file", "dev_null", "folder",
                                  "full_disk"])
def test_bad_output_paths_are_usage_errors(tmp_path, case, capsys, monkeypatch, invalid_problem):
    p = tmp_path / "p.toml"
    p.write_text(invalid_problem(lam=-1))
    (tmp_path / "file").write_text("x")
    out = {"read_only": "/sys/nnlasso-results.jsonl",       # read-only even for root
           "parent_is_file": str(tmp_path / "file" / "r.jsonl"),
           "dev_null": "/dev/null", "folder": str(tmp_path),
           "full_disk": str(tmp_path / "r.jsonl")}[case]
    if case == "full_disk":
        import nnlasso.batch.results as batch_mod   # the results file's writer

        class Full:
            f_bavail, f_frsize = 3, 4096
        monkeypatch.setattr(batch_mod.os, "statvfs", lambda path: Full())
    assert main(["batch", str(p), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnlasso batch: error: --out: ") and "Traceback" not in err
    if case == "full_disk":
        assert "full" in err and not Path(out).read_text()
    assert main(["batch", str(p), "--out", str(tmp_path / "ok.jsonl"), "--save-solutions",
                 str(tmp_path / "file" / "sol")]) == 2
    assert "--save-solutions: cannot write" in capsys.readouterr().err


def test_a_write_that_fails_mid_batch_is_a_usage_error(tmp_path, monkeypatch, capsys, invalid_problem):
    import nnlasso.batch.results as batch_mod   # the results file's writer
    p = tmp_path / "p.toml"
    p.write_text(invalid_problem(lam=-1))

    def enospc(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(batch_mod.os, "write", enospc)
    assert main(["batch", str(p), "--out", str(tmp_path / "r.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--resume" in err


def test_timeout_and_memory_cap_usage_errors(tmp_path, capsys, monkeypatch, invalid_problem, read_records):
    p = tmp_path / "p.toml"
    p.write_text(invalid_problem(lam=-1))
    assert main(["batch", str(p), "--out", str(tmp_path / "r.jsonl"), "--timeout", "1e10"]) == 2
    assert "at most 1e+07 seconds" in capsys.readouterr().err
    with pytest.raises(BatchUsageError, match="--timeout"):
        run_batch([p], tmp_path / "r.jsonl", timeout=1e10, progress=False)
    for bad in ("inf", "nan", "-5", "lots"):
        monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", bad)
        assert main(["batch", str(p), "--out", str(tmp_path / "r.jsonl")]) == 2
        assert "NNLASSO_MAX_MEMORY_MB: expected a memory cap in MiB" in capsys.readouterr().err
        assert main(["validate", str(p)]) == 2
        capsys.readouterr()
    monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", "1e30")
    assert main(["validate", str(HOSTILE.parent.parent / "problems" / "kink-1d-knots.toml")]) == 2
    monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", "4096")
    assert main(["validate", str(HOSTILE.parent.parent / "problems" / "kink-1d-knots.toml")]) == 0
    assert not (tmp_path / "r.jsonl").exists() or read_records(tmp_path / "r.jsonl") == []


# ------------------------------------------------------------------- validate = solve

def test_validate_refuses_the_whole_corpus_naming_fields(capsys):
    files = sorted(HOSTILE.glob("*.toml"))
    assert main(["validate", str(HOSTILE)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(files) and all(line.startswith("INVALID  ") for line in out)
    for line, f in zip(out, files):
        field = f.read_bytes().split(b"\n")[0].decode().split("expect:")[1].strip()
        assert line.startswith(f"INVALID  {f}: {field}: "), line
        assert ": internal:" not in line and "Error:" not in line


# ------------------------------------------------------------------- data and text

def test_csv_with_a_byte_order_mark(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 3))
    body = "\n".join(",".join(f"{v:.6f}" for v in row) for row in A) + "\n"
    (tmp_path / "plain.csv").write_bytes(b"\xef\xbb\xbf" + body.encode())
    (tmp_path / "head.csv").write_bytes(b"\xef\xbb\xbfx1,x2,y\n" + body.encode())
    p = tmp_path / "plain.toml"
    p.write_text(CSV_FIT.format(path="plain.csv", extra=""))
    data = load_data(load_problem(p))
    assert data.N == 30 and np.allclose(data.X[0], A[0, :2], atol=1e-6)
    q = tmp_path / "head.toml"
    q.write_text(CSV_FIT.format(path="head.csv", extra='targets = ["x1"]'))
    data = load_data(load_problem(q))
    assert data.N == 30 and np.allclose(data.Y[:, 0], A[:, 0], atol=1e-6)


def test_compress_accepts_a_classifier_saved_with_string_labels(tmp_path):
    from nnlasso import MLP
    rng = np.random.default_rng(0)
    net = MLP([rng.standard_normal((6, 2)), rng.standard_normal((3, 6))],
              [rng.standard_normal(6) * 0.1, np.zeros(3)], classes=np.array(["ant", "bee", "cat"]))
    net.save(tmp_path / "net.npz")
    p = tmp_path / "c.toml"
    p.write_text('schema = 1\ntask = "compress"\n[data]\nsource = "synthetic"\n'
                 'generator = "relu_teacher"\nparams = { n = 40, d = 2 }\n[network]\n'
                 'path = "net.npz"\n[model]\neps = 0.01\n')
    data = load_data(load_problem(p))
    assert list(data.network.classes) == ["ant", "bee", "cat"]
    rec = run_problem(p)
    assert rec["status"] == "optimal", rec["error"]


def test_control_characters_are_escaped_when_printed(tmp_path, capsys, invalid_problem):
    from nnlasso.cli import safe_text
    evil = "a\x9b2J\u202eb\x1b[31m"
    assert safe_text(evil) == "a\\x9b2J\\u202eb\\x1b[31m"
    rec = {"problem": evil, "status": "error", "file": evil, "error": f"{evil}: name: x",
           "times": {"total": 0.0}}
    for text in (format_table([rec]), format_record(rec)):
        assert text.isprintable() or all(c.isprintable() for c in text.replace("\n", ""))
    d = tmp_path / f"dir{chr(0x202e)}x"
    d.mkdir()
    (d / "p.toml").write_text(invalid_problem(lam=-1))
    main(["batch", str(d), "--out", str(tmp_path / "r.jsonl")])
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\\u202e" in out
