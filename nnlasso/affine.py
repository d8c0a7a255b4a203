"""The free affine part of a model: the skip ``F c``, its columns, orthonormal basis and rank.

Every program of nnlasso has an unpenalized affine part F c (docs/math.md)::

    skip = X (an (N, p) array), True or "linear":   F = [X 1],  F c = C^T x + c0
    skip = "intercept":                             F = [1],    F c = c0
    skip = None or False:                           no affine part (F has no column)

``True`` / ``"linear"`` stand for "the inputs X of the model" and are resolved where X is
known (:func:`skip_argument`, or :func:`skip_parts` with ``X``); where it is not (a solver
given features Phi only), ``True`` is refused as ambiguous.

The dual of every program requires F^T q = 0; nnlasso projects its dual points onto the
orthogonal complement of col(F) with an orthonormal basis U (N, r_aff) of col(F)
(:func:`orthonormal_basis`, one rank rule: the left singular vectors whose singular value
exceeds s_1 max(N, p) eps, NumPy's ``matrix_rank`` default), P q = q - U U^T q
(:func:`project_out`); r_aff = rank(F) is the number of columns of U (:func:`affine_rank`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import as_matrix, check_rows
from .errors import InvalidProblemError

__all__ = ["skip_mode", "skip_argument", "skip_parts", "skip_of", "affine_columns",
           "orthonormal_basis", "affine_basis", "project_out", "affine_rank"]

_EPS = np.finfo(float).eps


def skip_mode(skip: Any) -> str | None:
    """The symbolic skip: "linear" (True / "linear"), "intercept", or None (None / False).

    Raises :class:`InvalidProblemError` for anything else (arrays included: a mode is what a
    model stores, the inputs come with the data).
    """
    if skip is True or (isinstance(skip, str) and skip == "linear"):
        return "linear"
    if isinstance(skip, str) and skip == "intercept":
        return "intercept"
    if skip is None or skip is False:
        return None
    raise InvalidProblemError(f"skip: expected True (C x + c0), 'intercept' or False, got {skip!r}")


def skip_argument(skip: Any, X: Any) -> Any:
    """The solvers' ``skip=`` argument for a model on inputs ``X``: ``X`` for True / "linear",
    "intercept", None for None / False; an array is returned as given."""
    if skip is True or (isinstance(skip, str) and skip == "linear"):
        return X
    if skip is False:
        return None
    return skip


def skip_of(X: Any, linear: bool, intercept: bool) -> Any:
    """The ``skip=`` argument of a model that has a linear part (on ``X``) and / or an output
    bias: ``X`` with a linear part (the intercept comes with it), else "intercept" or None."""
    if linear:
        return X
    return "intercept" if intercept else None


def skip_parts(skip: Any, n: int, X: Any = None) -> tuple[np.ndarray | None, bool]:
    """Interpret the ``skip`` argument: ``(X_skip, intercept)``.

    ``X_skip`` is the (N, p) matrix of the linear skip C x (or None) and ``intercept`` whether
    a free intercept c0 is present: an array means C x + c0 on its columns, "intercept" c0
    only, None / False neither. True / "linear" mean C x + c0 on the model's inputs ``X``
    (refused as ambiguous when ``X`` is not given).
    """
    if skip is True or (isinstance(skip, str) and skip == "linear"):
        if X is None:
            raise InvalidProblemError("skip=True is ambiguous here: pass the (N, d) inputs X for "
                                      "C x + c0, or 'intercept' for c0 only")
        skip = X
    if skip is None or skip is False:
        return None, False
    if isinstance(skip, str):
        if skip == "intercept":
            return None, True
        raise InvalidProblemError(f"skip: unknown value {skip!r}; use the (N, d) inputs X, "
                                  "'intercept' or None")
    Xs = as_matrix(skip, "skip", allow_1d=True)
    check_rows(n, Xs, "skip")
    return Xs, True


def affine_columns(X_skip: np.ndarray | None, intercept: bool, n: int) -> np.ndarray:
    """The free affine columns F = [X 1] (N, p) ([1] for an intercept only; p = 0 without skip)."""
    cols = []
    if X_skip is not None:
        cols.append(X_skip)
    if intercept:
        cols.append(np.ones((n, 1)))
    return np.hstack(cols) if cols else np.zeros((n, 0))


def orthonormal_basis(F: np.ndarray) -> np.ndarray:
    """Orthonormal basis U (N, r) of col(F): the left singular vectors with s_i > s_1 max(N, p) eps.

    The one rank rule of the affine part (NumPy's ``matrix_rank`` default); (N, 0) when F has
    no column or is zero.
    """
    F = np.asarray(F, dtype=float)
    if F.shape[1] == 0:
        return np.zeros((F.shape[0], 0))
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros((F.shape[0], 0))
    return U[:, s > s[0] * max(F.shape) * _EPS]


def affine_basis(X_skip: np.ndarray | None, intercept: bool, n: int) -> np.ndarray:
    """Orthonormal basis (N, r_aff) of the span of the free affine columns [X 1] (or [1], or none)."""
    return orthonormal_basis(affine_columns(X_skip, intercept, n))


def project_out(Q: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """P Q = Q - U U^T Q for an orthonormal basis U of the free affine columns."""
    if basis.shape[1] == 0:
        return Q
    return Q - basis @ (basis.T @ Q)


def affine_rank(skip: Any, n: int, X: Any = None) -> int:
    """r_aff = rank([X 1]) for ``skip=X``, 1 for "intercept", 0 for None (numerical rank, the
    rule of :func:`orthonormal_basis`)."""
    X_skip, intercept = skip_parts(skip, n, X)
    return int(affine_basis(X_skip, intercept, n).shape[1])
