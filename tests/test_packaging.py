"""The package as users get it: license, changelog, type marker, --version, python -m, and a
command line that does not import the solvers before it needs them."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import nnlasso
from nnlasso.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_and_spdx_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the nnlasso developers" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"          # SPDX, not the deprecated table
    assert project["project"]["license-files"] == ["LICENSE"]
    # SPDX license fields need setuptools >= 77 in the (isolated) build environment
    req = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert req and int(req[0].split(">=")[1].split(".")[0]) >= 77


def test_py_typed_is_package_data():
    assert (ROOT / "nnlasso" / "py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["nnlasso"]


def test_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    head = text.split("## Unreleased", 1)
    assert len(head) == 2, "CHANGELOG.md needs a '## Unreleased' section for new entries"
    assert f"## {nnlasso.__version__} - " in text or nnlasso.__version__ == "0.0.0+unknown"


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"nnlasso {nnlasso.__version__}"


def test_python_dash_m_runs_the_same_cli(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nnlasso", "--version"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"nnlasso {nnlasso.__version__}"
    out = subprocess.run([sys.executable, "-m", "nnlasso", "solve"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2 and "usage: nnlasso" in out.stderr


HEAVY = ("cvxpy", "sklearn", "scipy.stats", "dask", "distributed", "tqdm")


def _imported_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\n"
             f"print(__import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_command_line_start_up_does_not_import_the_solvers():
    """``nnlasso --version`` / ``--help`` and the parent process of ``nnlasso solve`` (which
    reads the problem file, then hands it to a worker process) import neither CVXPY nor
    scikit-learn: each costs about 1.5 s of CPU, paid once by the worker that solves."""
    code = ("import nnlasso, nnlasso.cli\n"
            "from nnlasso.backends import resolve, installed\n"
            "assert resolve('clarabel') == 'CLARABEL' and 'CLARABEL' in installed()\n"
            "from nnlasso.spec import load_problem\n"
            "spec = load_problem('problems/diabetes-lasso-intercept.toml')\n"
            "assert spec.solver.name == 'CLARABEL'\n"
            "nnlasso.cli.build_parser()")
    assert _imported_after(code) == []


def test_public_names_resolve_lazily():
    assert set(nnlasso.__all__) <= set(dir(nnlasso))
    for name in nnlasso.__all__:
        assert getattr(nnlasso, name) is not None
    assert type(nnlasso.compress).__name__ == "module"        # the module, not a function
    assert nnlasso.compress_network is nnlasso.compress.compress_network
    assert nnlasso.prox.__name__ == "nnlasso.prox"            # any submodule, on access
    from nnlasso import SolverError, solve_lasso  # noqa: F401  (from-imports work too)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        nnlasso.not_a_name  # noqa: B018


def test_installed_solvers_agree_with_cvxpy():
    """Before CVXPY is imported, nnlasso looks the solver packages up; the answer must be
    CVXPY's own list (restricted to the solvers nnlasso supports)."""
    code = ("from nnlasso import backends\nbefore = backends.installed()\nimport cvxpy\n"
            "after = backends.installed()\nassert before == after, (before, after)\n"
            "print(before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
