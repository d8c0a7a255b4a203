"""Library code reports progress through logging (logger "nnlasso"), never on stdout."""
from __future__ import annotations

import ast
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import nnlasso as nl
from nnlasso import representer

ROOT = Path(__file__).resolve().parents[1]


def _kink_data():
    x = np.linspace(-1.0, 1.0, 15)
    return x[:, None], np.abs(x) + 0.1 * np.sin(5 * x)


def test_no_print_in_library_code():
    """Only the command line (cli.py) writes to stdout; every other module logs."""
    offenders = []
    for path in sorted((ROOT / "nnlasso").glob("*.py")):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == [], f"print() in library code: {offenders} (use logging)"


def test_column_generation_verbose_logs_rounds_not_stdout(capsys, caplog):
    X, y = _kink_data()
    caplog.set_level(logging.DEBUG, logger="nnlasso")
    _, _, rep = representer.column_generation(X, y, 0.01, n_init=5, seed=0, verbose=True)
    assert capsys.readouterr().out == ""
    recs = [r for r in caplog.records if r.name == "nnlasso.representer"]
    rounds = [r for r in recs if "column generation round" in r.getMessage()]
    assert len(rounds) == rep.rounds >= 1
    assert all(r.levelno == logging.INFO for r in recs)
    assert "certified after" in recs[-1].getMessage() and rep.certified


def test_column_generation_quiet_logs_at_debug_only(capsys, caplog):
    X, y = _kink_data()
    caplog.set_level(logging.DEBUG, logger="nnlasso")
    _, _, rep = representer.column_generation(X, y, 0.01, n_init=5, seed=0)
    assert capsys.readouterr() == ("", "")
    recs = [r for r in caplog.records if r.name == "nnlasso.representer"]
    assert len(recs) == rep.rounds + 1 and all(r.levelno == logging.DEBUG for r in recs)


def test_fit_shallow_adaptive_forwards_verbose(caplog, capsys):
    X, y = _kink_data()
    caplog.set_level(logging.INFO, logger="nnlasso")
    nl.fit_shallow(X, y, 0.01, dictionary="adaptive", n_neurons=5, seed=0, verbose=True)
    assert capsys.readouterr().out == ""
    assert any("column generation round" in r.getMessage() for r in caplog.records)


def test_pattern_working_set_verbose(caplog, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = np.maximum(X[:, 0], 0.0) - X[:, 1]
    P, _, _ = nl.sample_patterns(X, 20, seed=0)
    caplog.set_level(logging.INFO, logger="nnlasso")
    sol = nl.solve_patterns(X, y, 0.1, P, working_set=True, verbose=True)
    assert capsys.readouterr().out == ""
    recs = [r for r in caplog.records if r.name == "nnlasso.patterns"]
    assert len(recs) == sol.info["working_set"]["rounds"] >= 1
    assert "pattern working set round 1:" in recs[0].getMessage()


def test_verbose_without_logging_configuration_goes_to_stderr():
    """An application that configured no logging still sees verbose progress, on stderr; the
    temporary handler and level are removed afterwards, and quiet runs print nothing."""
    code = textwrap.dedent("""
        import logging, numpy as np
        from nnlasso import representer
        x = np.linspace(-1.0, 1.0, 15)
        X, y = x[:, None], np.abs(x) + 0.1 * np.sin(5 * x)
        representer.column_generation(X, y, 0.01, n_init=5, seed=0, verbose=True)
        log = logging.getLogger("nnlasso")
        assert log.level == logging.NOTSET, log.level
        assert all(isinstance(h, logging.NullHandler) for h in log.handlers), log.handlers
        import sys; sys.stderr.write("--quiet--\\n")
        representer.column_generation(X, y, 0.01, n_init=5, seed=0)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    verbose, quiet = out.stderr.split("--quiet--\n")
    assert "nnlasso.representer: column generation round   1" in verbose
    assert "column generation" not in quiet
