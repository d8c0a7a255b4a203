#!/usr/bin/env python
"""Run problem files: a thin wrapper of ``nnlasso batch`` (default: the bundled problems/).

    python scripts/run_problems.py                      # problems/ -> results.jsonl
    python scripts/run_problems.py my_problems/ --jobs 4 --out my.jsonl --timeout 600

Every option of ``nnlasso batch`` is accepted; see ``nnlasso batch --help``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from nnlasso.cli import main

DEFAULT = Path(__file__).resolve().parents[1] / "problems"


def run(argv: list[str]) -> int:
    """Call ``nnlasso batch`` with ``argv``, adding the bundled folder if no path is given."""
    if any(a in ("-h", "--help") for a in argv):
        return main(["batch", "--help"])
    takes_value = {"--out", "--jobs", "--executor", "--scheduler", "--timeout",
                   "--save-solutions", "--max-memory"}
    has_path, skip = False, False
    for a in argv:
        if skip:
            skip = False
        elif a in takes_value:
            skip = True
        elif not a.startswith("-"):
            has_path = True
    return main(["batch", *argv] if has_path else ["batch", str(DEFAULT), *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
