"""Input checks shared by the public functions (pure, no I/O)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidProblemError


def as_matrix(A: Any, name: str, *, allow_1d: bool = False) -> np.ndarray:
    """Return ``A`` as a finite float64 2-D array or raise :class:`InvalidProblemError`.

    A 1-D array is turned into one column when ``allow_1d`` is true.
    """
    refuse_complex(A, name)
    try:
        arr = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"{name}: cannot be read as a numeric array ({exc}); "
                                  "pass a NumPy array of numbers") from None
    if arr.ndim == 1 and allow_1d:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InvalidProblemError(f"{name}: expected a 2-D array, got shape {arr.shape}; "
                                  "reshape it to (n_samples, n_columns)")
    if arr.size == 0 or arr.shape[0] == 0:
        raise InvalidProblemError(f"{name}: is empty (shape {arr.shape}); pass at least one sample")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidProblemError(f"{name}: contains {bad} NaN or infinite value(s); "
                                  "remove or impute them before solving")
    return arr


def check_lam(lam: Any, name: str = "lam") -> float:
    """Return ``lam`` as a positive finite float or raise :class:`InvalidProblemError`."""
    try:
        val = float(lam)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"{name}: must be a positive number, got {lam!r}") from None
    if not np.isfinite(val) or val <= 0:
        raise InvalidProblemError(f"{name}: must be a positive finite number, got {lam!r}; "
                                  "use lam_max(...) to find the scale (lam >= lam_max gives V = 0)")
    return val


def check_rows(n: int, arr: np.ndarray, name: str, ref: str = "Phi") -> None:
    """Raise unless ``arr`` has ``n`` rows (one per sample)."""
    if arr.shape[0] != n:
        raise InvalidProblemError(f"{name}: has {arr.shape[0]} rows but {ref} has {n}; "
                                  "both need one row per sample")


def refuse_complex(A: Any, name: str) -> None:
    """Raise :class:`InvalidProblemError` when ``A`` holds complex numbers (converting them to
    float would silently drop the imaginary parts)."""
    try:
        cplx = np.iscomplexobj(A)
    except Exception:  # noqa: BLE001 - ragged or odd input: the float conversion will say so
        return
    if cplx:
        raise InvalidProblemError(f"{name}: complex values are not supported (the programs are "
                                  f"real); pass the real part ({name}.real) or stack real and "
                                  "imaginary parts as separate columns")


def check_positive(value: Any, name: str, *, upper: float | None = None,
                   example: str = "1e-8") -> float:
    """Return ``value`` as a finite float in (0, upper] or raise naming the argument."""
    bad = isinstance(value, (bool, str, bytes)) or value is None
    try:
        val = float(value) if not bad else float("nan")
    except (TypeError, ValueError, OverflowError):
        val = float("nan")
    if not np.isfinite(val) or val <= 0 or (upper is not None and val > upper):
        rng = f"(0, {upper:g}]" if upper is not None else "> 0"
        raise InvalidProblemError(f"{name}: must be a finite number {rng}, got {value!r} "
                                  f"(e.g. {name}={example})")
    return val


def check_fraction(value: Any, name: str, *, example: str = "1e-6") -> float:
    """Return ``value`` as a finite float in [0, 1) or raise naming the argument (and an
    ``example`` value)."""
    bad = isinstance(value, (bool, str, bytes)) or value is None
    try:
        val = float(value) if not bad else float("nan")
    except (TypeError, ValueError, OverflowError):
        val = float("nan")
    if not (0.0 <= val < 1.0):
        raise InvalidProblemError(f"{name}: must be a number in [0, 1), got {value!r} "
                                  f"(e.g. {name}={example})")
    return val


def check_seed(seed: Any, name: str = "seed") -> Any:
    """Return ``seed`` if :func:`numpy.random.default_rng` accepts it, else raise naming it."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence,
                                         np.random.BitGenerator)):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        if seed < 0:
            raise InvalidProblemError(f"{name}: must be >= 0, got {seed} (NumPy seeds are "
                                      f"non-negative integers, e.g. {name}=0)")
        return int(seed)
    raise InvalidProblemError(f"{name}: expected None, a non-negative integer or a "
                              f"numpy.random.Generator, got {type(seed).__name__} {seed!r}")
