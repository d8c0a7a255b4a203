"""Typed exceptions of nnlasso.

Every error message says what is wrong and how to fix it.
"""
from __future__ import annotations


class NnlassoError(Exception):
    """Base class of every exception raised on purpose by nnlasso."""


class InvalidProblemError(NnlassoError, ValueError):
    """The data, the parameters or a problem file are invalid (NaN/inf, shapes, lam <= 0, ...)."""


class SolverError(NnlassoError, RuntimeError):
    """The requested solver is unknown / not installed, or it failed on the problem."""
