"""Validation and small helpers shared by the shallow and deep networks."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_matrix, refuse_complex
from ..errors import InvalidProblemError

_BIAS_MODES = ("unpenalized", "penalized")
_OUT_ACTIVATIONS = ("identity", "logistic", "softmax")


def relu(Z: np.ndarray) -> np.ndarray:
    """``max(Z, 0)`` elementwise."""
    return np.maximum(Z, 0.0)


def _check_bias(bias: str) -> bool:
    """Return True for the penalized-bias convention, False for the unpenalized one."""
    if bias not in _BIAS_MODES:
        raise InvalidProblemError(f"bias: unknown value {bias!r}; use 'unpenalized' (the "
                                  "Parhi-Nowak convention, default) or 'penalized'")
    return bias == "penalized"


def _float_array(A: Any, name: str, ndim: int) -> np.ndarray:
    """A finite float64 copy of ``A`` with ``ndim`` dimensions (empty axes allowed)."""
    refuse_complex(A, name)
    try:
        arr = np.array(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"{name}: cannot be read as a numeric array ({exc})") from None
    if arr.ndim != ndim:
        raise InvalidProblemError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidProblemError(f"{name}: contains NaN or infinite values")
    return arr


def _check_inputs(X: Any, d: int) -> np.ndarray:
    """Validate network inputs ``X`` (N, d); a 1-D ``X`` is accepted when d = 1."""
    X = as_matrix(X, "X", allow_1d=(d == 1))
    if X.shape[1] != d:
        raise InvalidProblemError(f"X: has {X.shape[1]} columns but the network has d = {d} "
                                  f"inputs; pass X of shape (N, {d})")
    return X


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr
