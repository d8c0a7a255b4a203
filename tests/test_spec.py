"""Problem files: parsing, validation, paths, data sources, memory estimate (nnlasso.spec)."""
from __future__ import annotations

import os
import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest

from nnlasso import synthetic
from nnlasso.errors import InvalidProblemError
from nnlasso.spec import (ProblemFileError, estimate_memory, load_data, load_problem,
                          parse_problem)

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "problems"
HOSTILE = Path(__file__).resolve().parent / "hostile"

FIT = """
schema = 1
task = "fit"
[data]
source = "synthetic"
generator = "relu_teacher"
params = { n = 30, d = 2, seed = 4 }
[dictionary]
size = 25
[model]
lam_ratio = 0.1
"""


def parse(text: str, **kw) -> object:
    return parse_problem(tomllib.loads(text), file="p.toml", **kw)


def field_of(text: str) -> str:
    with pytest.raises(ProblemFileError) as info:
        parse(text)
    return info.value.field


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------------------- parse (pure)

def test_valid_fit_defaults():
    spec = parse(FIT)
    assert spec.task == "fit" and spec.name == "p"
    assert spec.dictionary.kind == "data" and spec.dictionary.size == 25
    assert spec.model.lam is None and spec.model.lam_ratio == 0.1 and spec.model.skip is True
    assert spec.solver.name == "AUTO" and spec.solver.time_limit is None
    assert spec.verify.reduce_support and spec.verify.certificate == "dictionary"
    assert spec.data.params["width"] == 5  # generator default filled in


def test_error_format_and_pickling():
    err = ProblemFileError("a.toml", "model.lam", "must be > 0 (fix it)")
    assert str(err) == "a.toml: model.lam: must be > 0 (fix it)"
    assert isinstance(err, InvalidProblemError) and isinstance(err, ValueError)
    back = pickle.loads(pickle.dumps(err))
    assert (back.file, back.field, back.message) == ("a.toml", "model.lam", "must be > 0 (fix it)")


def test_unknown_key_did_you_mean():
    with pytest.raises(ProblemFileError) as info:
        parse(FIT.replace("lam_ratio", "lam_rato"))
    assert info.value.field == "model.lam_rato"
    assert "did you mean 'lam_ratio'" in info.value.message


@pytest.mark.parametrize("model, fld", [
    ("lam = 0.1\nlam_ratio = 0.1", "model.lam"),
    ("loss = \"squared\"", "model.lam"),
    ("lam = -1", "model.lam"),
    ("lam = 0", "model.lam"),
    ("lam = true", "model.lam"),
    ("lam_ratio = 1.5", "model.lam_ratio"),
    ("lam = 0.1\neps = 0.1", "model.eps"),
    ("lam = 0.1\nskip = 1", "model.skip"),
])
def test_model_checks(model, fld):
    assert field_of(FIT.replace("lam_ratio = 0.1", model)) == fld


def test_lam_or_ratio_each_accepted():
    assert parse(FIT.replace("lam_ratio = 0.1", "lam = 2")).model.lam == 2.0
    assert parse(FIT.replace("lam_ratio = 0.1", "lam_ratio = 1")).model.lam_ratio == 1.0
    assert parse(FIT + "skip = \"intercept\"\n").model.skip == "intercept"


def test_compress_needs_network_and_allows_no_lam(tmp_path):
    text = FIT.replace('task = "fit"', 'task = "compress"').replace(
        "[dictionary]\nsize = 25\n", "").replace("lam_ratio = 0.1", "eps = 0.01")
    assert field_of(text) == "network"
    spec = parse(text + '[network]\npath = "nets/m.npz"\nlayer = "all"\n')
    assert spec.network.layer == "all" and spec.model.eps == 0.01
    assert spec.verify.certificate == "none"
    assert field_of(text + '[network]\npath = "nets/m.npz"\nlayer = 0\n') == "network.layer"
    assert field_of(text + '[network]\npath = "nets/m.npz"\n[verify]\ncertificate = '
                           '"dictionary"\n') == "verify.certificate"


def test_solver_checked_early():
    assert field_of(FIT + '[solver]\nname = "NOPE"\n') == "solver.name"
    assert parse(FIT + '[solver]\nname = "auto"\n').solver.name == "AUTO"
    assert parse(FIT + '[solver]\nname = "scs"\ntime_limit = 5\noptions = { max_iters = 10 }\n'
                 ).solver.options == {"max_iters": 10}


def test_synthetic_params_checked():
    assert field_of(FIT.replace("seed = 4", "sed = 4")) == "data.params.sed"
    assert field_of(FIT.replace("n = 30", "n = 3.5")) == "data.params.n"
    assert field_of(FIT.replace("n = 30", "n = 100000000000")) == "data.params.n"


def test_lexical_path_checks():
    base = FIT.replace('source = "synthetic"\ngenerator = "relu_teacher"\n'
                       'params = { n = 30, d = 2, seed = 4 }', 'source = "npz"\npath = "{}"')
    for bad in ("/abs/x.npz", "../x.npz", "a/../../x.npz", "~/x.npz", "C:\\x.npz"):
        with pytest.raises(ProblemFileError) as info:
            parse(base.replace("{}", bad.replace("\\", "\\\\")))
        assert info.value.field == "data.path"
    assert parse(base.replace("{}", "a/../x.npz")).data.path == "a/../x.npz"


def test_memory_cap_static_and_configurable(monkeypatch):
    big = FIT.replace("size = 25", "size = 900000").replace("n = 30", "n = 5000")
    with pytest.raises(ProblemFileError) as info:
        parse(big)
    assert info.value.field == "dictionary.size" and "GiB" in info.value.message
    assert parse(big, max_memory=10**12).dictionary.size == 900000
    monkeypatch.setenv("NNLASSO_MAX_MEMORY_MB", "1")
    assert field_of(FIT.replace("n = 30", "n = 2000")) == "dictionary.size"
    assert estimate_memory(10, 2, 1, 5) == 8 * (10 * 5 * 4 + 10 * 3)


# ---------------------------------------------------------------------------- files

def test_load_problem_paths(tmp_path):
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "d.npz", X=np.ones((5, 2)), Y=np.arange(5.0))
    text = FIT.replace('source = "synthetic"\ngenerator = "relu_teacher"\n'
                       'params = { n = 30, d = 2, seed = 4 }', 'source = "npz"\npath = "{}"')
    ok = load_problem(write(tmp_path, "ok.toml", text.replace("{}", "data/d.npz")))
    assert ok.data.resolved == (tmp_path / "data" / "d.npz").resolve()
    assert len(ok.sha256) == 64
    with pytest.raises(ProblemFileError, match="file not found"):
        load_problem(write(tmp_path, "miss.toml", text.replace("{}", "data/none.npz")))
    # a symlink pointing outside the folder is refused
    outside = tmp_path.parent / f"{tmp_path.name}-outside.npz"
    np.savez(outside, X=np.ones((5, 2)), Y=np.arange(5.0))
    os.symlink(outside, tmp_path / "data" / "link.npz")
    with pytest.raises(ProblemFileError) as info:
        load_problem(write(tmp_path, "link.toml", text.replace("{}", "data/link.npz")))
    assert info.value.field == "data.path" and "outside" in info.value.message
    outside.unlink()


def test_unreadable_files(tmp_path):
    with pytest.raises(ProblemFileError) as info:
        load_problem(tmp_path / "nope.toml")
    assert info.value.field == "file"
    big = write(tmp_path, "big.toml", "# " + "x" * (2 << 20))
    with pytest.raises(ProblemFileError, match="small TOML"):
        load_problem(big)
    with pytest.raises(ProblemFileError) as info:
        load_problem(write(tmp_path, "syn.toml", "schema = 1\ntask = \n"))
    assert info.value.field == "toml" and "line 2" in info.value.message


def test_display_name_used(tmp_path):
    with pytest.raises(ProblemFileError) as info:
        load_problem(write(tmp_path, "x.toml", "schema = 3\n"), display="shown.toml")
    assert str(info.value).startswith("shown.toml: schema: ")


def test_csv_conventions(tmp_path):
    (tmp_path / "d.csv").write_text("# comment\na,b,y1,y2\n1,2,3,4\n\n5,6,7,8\n9,10,11,12\n")
    text = FIT.replace('source = "synthetic"\ngenerator = "relu_teacher"\n'
                       'params = { n = 30, d = 2, seed = 4 }',
                       'source = "csv"\npath = "d.csv"\ntargets = {}')
    # three collinear rows: the skip fits any target exactly (lam_max = 0), so give lam
    text = text.replace("lam_ratio = 0.1", "lam = 0.1")
    data = load_data(load_problem(write(tmp_path, "a.toml", text.replace("{}", "2"))))
    assert data.X.tolist() == [[1, 2], [5, 6], [9, 10]] and data.Y.shape == (3, 2)
    data = load_data(load_problem(write(tmp_path, "b.toml", text.replace("{}", '["a"]'))))
    assert data.X.tolist() == [[2, 3, 4], [6, 7, 8], [10, 11, 12]]
    (tmp_path / "e.csv").write_text("1;2\n3;4\n5;6\n")
    t2 = text.replace("d.csv", "e.csv").replace("{}", "1") + ""
    t2 = t2.replace("targets = 1", "targets = 1\ndelimiter = \";\"")
    data = load_data(load_problem(write(tmp_path, "c.toml", t2)))
    assert data.Y[:, 0].tolist() == [2, 4, 6]


def test_npz_pickle_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "PWNED"),))
    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    np.savez(tmp_path / "evil.npz", X=arr, Y=np.ones(1))
    text = FIT.replace('source = "synthetic"\ngenerator = "relu_teacher"\n'
                       'params = { n = 30, d = 2, seed = 4 }', 'source = "npz"\npath = "evil.npz"')
    with pytest.raises(ProblemFileError, match="Python objects"):
        load_data(load_problem(write(tmp_path, "e.toml", text)))
    assert not (tmp_path / "PWNED").exists()


def test_subsample_and_standardize_seeded(tmp_path):
    text = FIT.replace("params = { n = 30, d = 2, seed = 4 }",
                       "params = { n = 30, d = 2, seed = 4 }\nmax_samples = 12\nseed = 3\n"
                       "standardize = true")
    a = load_data(load_problem(write(tmp_path, "a.toml", text)))
    b = load_data(load_problem(write(tmp_path, "b.toml", text)))
    assert a.N == 12 and np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y)
    assert np.allclose(a.X.mean(axis=0), 0) and np.allclose(a.X.std(axis=0), 1)
    assert np.allclose(a.Y.std(axis=0), 1)
    c = load_data(load_problem(write(tmp_path, "c.toml", text.replace("seed = 3", "seed = 4"))))
    assert not np.array_equal(a.X, c.X)


def test_memory_refused_before_building(tmp_path):
    spec = load_problem(write(tmp_path, "m.toml", FIT))
    with pytest.raises(ProblemFileError) as info:
        load_data(spec, max_memory=1000)
    assert info.value.field == "dictionary.size" and "--max-memory" in info.value.message


# ---------------------------------------------------------------------------- synthetic

def test_synthetic_generators_seeded():
    X1, Y1 = synthetic.relu_teacher(n=50, d=3, seed=1, outputs=2)
    X2, Y2 = synthetic.relu_teacher(n=50, d=3, seed=1, outputs=2)
    X3, _ = synthetic.relu_teacher(n=50, d=3, seed=2, outputs=2)
    assert X1.shape == (50, 3) and Y1.shape == (50, 2)
    assert np.array_equal(X1, X2) and np.array_equal(Y1, Y2) and not np.array_equal(X1, X3)
    _, lab = synthetic.relu_teacher(n=40, seed=0, labels="binary")
    assert set(np.unique(lab)) == {0, 1}
    _, cls = synthetic.relu_teacher(n=60, seed=0, labels="classes", outputs=3)
    assert cls.dtype.kind == "i" and cls.max() <= 2
    x, y = synthetic.kink_1d(n=30, knots=2, noise=0.0, seed=5)
    assert x.shape == (30, 1) and np.all(np.diff(x[:, 0]) >= 0)
    slopes = np.diff(y[:, 0]) / np.diff(x[:, 0])
    assert len(np.unique(np.round(slopes, 6))) <= 2 + 1 + 2  # 3 pieces (+ mixed intervals)
    assert synthetic.shape_of("relu_teacher", synthetic.check_params(
        "relu_teacher", {"n": 7, "d": 4, "outputs": 3})) == (7, 4, 3)


# ---------------------------------------------------------------------------- corpora

@pytest.mark.parametrize("path", sorted(PROBLEMS.glob("*.toml")), ids=lambda p: p.stem)
def test_bundled_problems_validate(path):
    spec = load_problem(path)
    data = load_data(spec)
    assert data.N <= 500 and data.K <= 1000
    assert spec.solver.time_limit is not None


HOSTILE_FILES = sorted(HOSTILE.glob("*.toml"))


def test_hostile_corpus_is_large():
    assert len(HOSTILE_FILES) >= 30


@pytest.mark.parametrize("path", HOSTILE_FILES, ids=lambda p: p.stem)
def test_hostile_file_names_the_field(path):
    expected = path.read_bytes().split(b"\n", 1)[0].decode().split("expect:")[1].strip()
    with pytest.raises(ProblemFileError) as info:
        load_data(load_problem(path))
    err = info.value
    assert err.field == expected, str(err)
    assert str(err).startswith(f"{path}: {expected}: ")
    assert len(err.message) > 15
    # every message says what to do, not only what is wrong
    fixes = ("(", ";", " use ", "give", "write", "remove", "add", "choose", "set ", "lower",
             "raise", "check")
    assert any(f in err.message for f in fixes), err.message


def test_csv_size_cap(tmp_path, monkeypatch):
    import nnlasso.spec.data as spec_data      # the module whose csv reader reads the cap
    (tmp_path / "d.csv").write_text("1,2\n3,4\n5,6\n")
    text = FIT.replace('source = "synthetic"\ngenerator = "relu_teacher"\n'
                       'params = { n = 30, d = 2, seed = 4 }', 'source = "csv"\npath = "d.csv"')
    spec = load_problem(write(tmp_path, "a.toml", text))
    monkeypatch.setattr(spec_data, "MAX_CSV_BYTES", 4)
    with pytest.raises(ProblemFileError, match="save large data as .npz"):
        load_data(spec)


COMPRESS_RATIO = """schema = 1
task = "compress"
[data]
source = "synthetic"
generator = "relu_teacher"
params = { n = 30, d = 2, seed = 4 }
[network]
path = "net.npz"
layer = LAYER
[model]
lam_ratio = 0.1
"""


@pytest.mark.parametrize("layer", ["2", '"all"'])
def test_compress_lam_ratio_with_zero_lam_max_is_refused_naming_the_layer(tmp_path, layer):
    """task = "compress" with lam_ratio: validation computes each compressed layer's lam_max
    as compress_layer does and refuses a zero one (was: accepted, then refused by the solve);
    hidden layer 2's two neurons are copies with outgoing weights v, -v (Psi = 0 up to
    rounding), hidden layer 1 is fine."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(6)
    np.savez(tmp_path / "net.npz", W1=rng.standard_normal((6, 2)), b1=np.zeros(6),
             W2=np.vstack([w, w]), b2=np.zeros(2), W3=np.array([[0.7, -0.7]]), b3=np.zeros(1))
    p = tmp_path / "c.toml"
    p.write_text(COMPRESS_RATIO.replace("LAYER", layer))
    with pytest.raises(ProblemFileError) as info:
        load_data(load_problem(p))
    assert info.value.field == "model.lam_ratio"
    assert str(info.value).startswith(f"{p}: model.lam_ratio: hidden layer 2: lam_max = ")
    assert "use eps" in str(info.value) and "give lam directly" in str(info.value)
    p.write_text(COMPRESS_RATIO.replace("LAYER", "1"))          # layer 1's output is not zero
    assert load_data(load_problem(p)).network is not None
    p.write_text(COMPRESS_RATIO.replace("LAYER", layer).replace("lam_ratio", "lam"))
    assert load_data(load_problem(p)).network is not None      # lam given: nothing to check
