"""The problem-file tasks, one class each, in one registry shared by :mod:`nnlasso.spec`,
:mod:`nnlasso.batch` and the command line.

A new task is one module here: a :class:`Task` subclass decorated with :func:`register` (its
name, tables, checks, memory estimate, runner and summary cell), imported below.
"""
from __future__ import annotations

from .base import TASKS, Task, get_task, register
from . import fit, lasso, compress  # noqa: E401,F401,I001  (registers fit, lasso, compress)

__all__ = ["TASKS", "Task", "get_task", "register"]
