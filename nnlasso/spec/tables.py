"""Typed access to TOML tables, with did-you-mean suggestions and path checks."""
from __future__ import annotations

import difflib
import math
import os
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Sequence

from .schema import ProblemFileError

def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


class _Table:
    """Typed access to one TOML table, with errors naming the dotted field."""

    def __init__(self, file: str, prefix: str, table: Any, allowed: Sequence[str]) -> None:
        self.file, self.prefix = file, prefix
        if not isinstance(table, dict):
            raise ProblemFileError(file, prefix or "(top level)",
                                   f"expected a table [{prefix}], got {_type_name(table)} "
                                   f"(write it as a [{prefix}] section)")
        self.table = table
        for key in table:
            if key not in allowed:
                where = f"[{prefix}]" if prefix else "the top level"
                raise ProblemFileError(file, self.name(key),
                                       f"unknown key in {where}; {_did_you_mean(key, allowed)}"
                                       f"allowed keys: {', '.join(allowed)}")

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, message: str) -> ProblemFileError:
        return ProblemFileError(self.file, self.name(key), message)

    def has(self, key: str) -> bool:
        return key in self.table

    def str(self, key: str, default: Any = None, *, required: bool = False,
            choices: Sequence[str] | None = None, fix: str = "") -> Any:
        if key not in self.table:
            if required:
                raise self.error(key, f"missing ({fix or 'add it'})")
            return default
        val = self.table[key]
        if not isinstance(val, str):
            raise self.error(key, f"expected a string, got {_type_name(val)} {val!r}"
                                  + (f" (one of {', '.join(choices)})" if choices else
                                     f" (write it in quotes: {key} = \"...\")"))
        if choices is not None and val not in choices:
            raise self.error(key, f"unknown value {val!r}; {_did_you_mean(val, choices)}"
                                  f"choose one of {', '.join(choices)}")
        return val

    def bool(self, key: str, default: bool) -> bool:
        if key not in self.table:
            return default
        val = self.table[key]
        if not isinstance(val, bool):
            raise self.error(key, f"expected true or false, got {_type_name(val)} {val!r} "
                                  f"(write {key} = true or {key} = false, without quotes)")
        return val

    def int(self, key: str, default: Any, lo: int, hi: int, *, fix: str = "") -> Any:
        if key not in self.table:
            return default
        val = self.table[key]
        if not isinstance(val, int) or isinstance(val, bool):
            raise self.error(key, f"expected an integer, got {_type_name(val)} {val!r} "
                                  f"(write a whole number without quotes, e.g. {key} = {lo})")
        if val < lo or val > hi:
            raise self.error(key, f"{val} is out of range [{lo}, {hi}] ("
                                  + (fix or f"give a value between {lo} and {hi}") + ")")
        return val

    def number(self, key: str, default: Any, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, hi_open: bool = False, fix: str = "") -> Any:
        if key not in self.table:
            return default
        val = self.table[key]
        if not isinstance(val, (int, float)) or isinstance(val, bool):
            raise self.error(key, f"expected a number, got {_type_name(val)} {val!r} "
                                  f"(write a number without quotes, e.g. {key} = 0.1)")
        try:
            val = float(val)
        except OverflowError:
            raise self.error(key, f"the integer {_short(val)} is too large for a floating-point "
                                  "number" + (f" ({fix})" if fix else " (give a smaller value)")
                             ) from None
        if not math.isfinite(val):
            raise self.error(key, f"must be finite, got {val!r}" + (f" ({fix})" if fix else ""))
        bad_lo = lo is not None and (val <= lo if lo_open else val < lo)
        bad_hi = hi is not None and (val >= hi if hi_open else val > hi)
        if bad_lo or bad_hi:
            rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}" \
                  f"{']' if hi is not None and not hi_open else ')'}"
            raise self.error(key, f"{val!r} is out of range {rng} ("
                                  + (fix or f"give a value in {rng}") + ")")
        return val


def _short(val: Any) -> str:
    text = str(val)
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} digits)"


def _type_name(val: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(val), type(val).__name__)


def _check_relpath(file: str, fieldname: str, raw: Any) -> str:
    """Lexical checks of a data path: a relative path that does not leave the folder."""
    if not isinstance(raw, str) or not raw.strip():
        raise ProblemFileError(file, fieldname, f"expected a relative path string, got "
                                                f"{_type_name(raw)} {raw!r}")
    if "\x00" in raw:
        raise ProblemFileError(file, fieldname, "contains a NUL character (give a plain path)")
    if (PurePosixPath(raw).is_absolute() or PureWindowsPath(raw).is_absolute()
            or PureWindowsPath(raw).drive or raw.startswith("~") or raw.startswith("\\")):
        raise ProblemFileError(file, fieldname, f"absolute path {raw!r} refused (give a path "
                                                "relative to the problem file's folder)")
    norm = os.path.normpath(raw.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        raise ProblemFileError(file, fieldname, f"path {raw!r} leaves the problem file's folder "
                                                "(keep data inside that folder, no '..')")
    return raw
