"""The README is the contract with users: its Quickstart has two commands, in sync with .ci/run,
and every Python block in it runs as written."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_quickstart_has_exactly_two_commands():
    cmds = _quickstart_commands()
    assert len(cmds) == 2, cmds
    main, tests = cmds
    assert main.split("&&")[-1].strip() == "nnlasso batch problems/"
    assert tests.split("&&")[-1].strip() == "python -m pytest -q"
    for cmd in cmds:                        # both create and activate their own environment
        assert cmd.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")


def test_ci_runs_the_readme_test_command():
    tests = _quickstart_commands()[1]
    install_and_test = tests.split("&&", 2)[2].strip()   # after venv creation and activation
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci, (install_and_test, ci)


def test_main_command_console_script_is_declared():
    py = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^nnlasso\s*=\s*"nnlasso\.cli:main"', py, re.M)
    assert shlex.split(_quickstart_commands()[0].split("&&")[-1])[0] == "nnlasso"


# --------------------------------------------------------------------------------------------
# the README's Python blocks run as written
# --------------------------------------------------------------------------------------------

def _python_blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text()
    out = []
    for m in re.finditer(r"```python\n(.*?)```", text, re.S):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))   # (first code line, code)
    return out


def test_readme_has_python_blocks():
    assert len(_python_blocks()) >= 6


@pytest.mark.parametrize("line,code", _python_blocks(),
                         ids=[f"README.md:{line}" for line, _ in _python_blocks()])
def test_readme_python_block_runs(line, code, tmp_path, monkeypatch, capsys):
    """Each block runs on its own (fresh namespace, empty working directory): every name it
    uses is defined in it, and nothing it writes lands in the repository."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    exec(compile(code, f"README.md:{line}", "exec"), namespace)    # noqa: S102 - our README
    capsys.readouterr()
