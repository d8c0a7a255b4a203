"""Helpers and fixtures shared by the test files.

Data (plain functions, ``from conftest import relu_features``, and fixtures):

* ``relu_features(X, K, seed)``: ReLU features of K neurons with unit directions and hyperplanes
  through random data points, written here independently of nnlasso's samplers (the
  ``relu_features`` fixture returns this function);
* ``centred_residual(rng, N, D, A)``: a random (N, D) residual orthogonal to the columns of A;
* ``load_script(name)``: ``scripts/<name>.py`` imported as a fresh module (the scripts are not a
  package);
* ``pattern_case(loss, N, n_pat, seed)``: a small pattern-program problem (X, y, patterns) in d = 2;

Problem-file layer (spec, batch, CLI, hostile):

* ``nnlasso_cmd``: the command that runs the installed ``nnlasso`` (the console script beside
  this Python, else the one on PATH, else ``python -m nnlasso.cli``);
* ``run_nnlasso(*args, cwd=None, timeout=300)``: run it, capturing text output;
* ``read_records(path)``: the records of a results file (JSON lines, each line ended);
* ``invalid_problem(lam)``: the text of an invalid fit problem (it has no [data] table);
  different values of ``lam`` give different files (different sha256).
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest


ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> Any:
    """``scripts/<name>.py`` as a new module object (executed afresh on every call)."""
    spec = importlib.util.spec_from_file_location(f"nnlasso_script_{name}",
                                                  ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def relu_features(X: np.ndarray, K: int, seed: int) -> np.ndarray:
    """Independent copy of the 'data' sampler: Phi[n, k] = relu(w_k . x_n - b_k) with unit w_k
    drawn from a standard normal and b_k = w_k . x_m for a random data point m."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((K, X.shape[1]))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.einsum("kd,kd->k", W, X[rng.integers(0, X.shape[0], K)])
    return np.maximum(X @ W.T - b, 0.0)


def pattern_case(loss: str = "squared", N: int = 36, n_pat: int = 40, seed: int = 11
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small pattern-program problem in d = 2: X (N, 2), y = sin(2 x1) + x2^2 + noise
    (labels y > median for the logistic loss) and ``sample_patterns(X, n_pat, seed=seed)``."""
    from nnlasso.patterns import sample_patterns
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(N)
    if loss == "logistic":
        y = (y > np.median(y)).astype(int)
    P, _, _ = sample_patterns(X, n_pat, seed=seed)
    return X, y, P


def centred_residual(rng: np.random.Generator, N: int, D: int, A: np.ndarray) -> np.ndarray:
    """A random (N, D) residual orthogonal to the columns of A (a dual point of the skip A)."""
    Q = rng.standard_normal((N, D))
    return Q - A @ np.linalg.lstsq(A, Q, rcond=None)[0]


@pytest.fixture(name="relu_features", scope="session")
def relu_features_fixture() -> Callable[[np.ndarray, int, int], np.ndarray]:
    """The :func:`relu_features` helper as a fixture."""
    return relu_features


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
