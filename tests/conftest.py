"""Fixtures shared by the test files of the problem-file layer (spec, batch, CLI, hostile).

* ``nnlasso_cmd``: the command that runs the installed ``nnlasso`` (the console script beside
  this Python, else the one on PATH, else ``python -m nnlasso.cli``);
* ``run_nnlasso(*args, cwd=None, timeout=300)``: run it, capturing text output;
* ``read_records(path)``: the records of a results file (JSON lines, each line ended);
* ``invalid_problem(lam)``: the text of an invalid fit problem (it has no [data] table);
  different values of ``lam`` give different files (different sha256).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest


@pytest.fixture(scope="session")
def nnlasso_cmd() -> list[str]:
    beside = Path(sys.executable).parent / "nnlasso"
    exe = str(beside) if beside.is_file() else shutil.which("nnlasso")
    return [exe] if exe else [sys.executable, "-m", "nnlasso.cli"]


@pytest.fixture(scope="session")
def run_nnlasso(nnlasso_cmd) -> Callable[..., subprocess.CompletedProcess]:
    def run(*args: Any, cwd: Path | None = None, timeout: float = 300,
            **kw: Any) -> subprocess.CompletedProcess:
        return subprocess.run(nnlasso_cmd + [str(a) for a in args], capture_output=True,
                              text=True, cwd=cwd, timeout=timeout, **kw)
    return run


@pytest.fixture(scope="session")
def read_records() -> Callable[[Path], list[dict]]:
    def read(path: Path) -> list[dict]:
        text = Path(path).read_text()
        assert text == "" or text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]
    return read


@pytest.fixture(scope="session")
def invalid_problem() -> Callable[..., str]:
    def text(lam: Any) -> str:
        return f'schema = 1\ntask = "fit"\n[model]\nlam = {lam}\n'
    return text
