"""The memory guard shared by the batch runner and the Python API.

One estimate, ``8 (N K (1 + 3 D) + N (d + D))`` bytes: the N x K float64 feature matrix plus the
solver's copy of the problem data for D outputs, and the inputs and targets. It is compared with
a cap, ``NNLASSO_MAX_MEMORY_MB`` (MiB) or :data:`DEFAULT_MAX_MEMORY` (4 GiB), *before* anything
of that size is allocated, so that a mistaken call (a huge dictionary, integer regression
targets given to a classifier as hundreds of classes) fails at once with a message instead of
being killed by the operating system minutes later.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

from .errors import InvalidProblemError

DEFAULT_MAX_MEMORY = 4 * 2**30

#: measured peak memory of a CVXPY logistic / softmax program (exponential cones, canonicalized
#: by CVXPY) over the estimate: softmax N = 442, d = 5, intercept, CLARABEL (compile + one
#: iteration): K = 30, D = 20: 162 MiB for an estimate of 6.3 MiB (26x, 32 s); K = 60, D = 40:
#: 481 MiB for 24.6 MiB (20x, 223 s)
CVXPY_EXP_CONE_FACTOR = 25

#: a cap set by :func:`memory_cap` (the batch runner's ``--max-memory``), else None
_OVERRIDE: list[int] = []


def estimate_memory(N: int, d: int, D: int, K: int) -> int:
    """Bytes estimate ``8 (N K (1 + 3 D) + N (d + D))`` (see the module docstring)."""
    N, d, D, K = int(N), int(d), int(D), int(K)
    return 8 * (N * K * (1 + 3 * D) + N * (d + D))


def max_memory_default() -> int:
    """The memory cap in bytes: the innermost :func:`memory_cap`, else ``NNLASSO_MAX_MEMORY_MB``
    (MiB, checked by :func:`memory_cap_mb`), else :data:`DEFAULT_MAX_MEMORY`."""
    if _OVERRIDE:
        return _OVERRIDE[-1]
    env = os.environ.get("NNLASSO_MAX_MEMORY_MB")
    if env is None or not env.strip():
        return DEFAULT_MAX_MEMORY
    return memory_cap_mb(env, "NNLASSO_MAX_MEMORY_MB")


def memory_cap_mb(value: Any, name: str) -> int:
    """A memory cap given in MiB (a number or its text) as bytes.

    Raises
    ------
    InvalidProblemError
        Unless ``value`` is a finite number in (0, 2**40] MiB (``inf`` and ``nan`` are refused:
        leave the variable unset for the default cap).
    """
    try:
        mb = float(value)
    except (TypeError, ValueError, OverflowError):
        mb = float("nan")
    if not (0 < mb <= 2**40):
        raise InvalidProblemError(f"{name}: expected a memory cap in MiB, a number in (0, 2**40], "
                                  f"got {str(value)[:40]!r} (e.g. {name}=4096; unset it for the "
                                  f"default of {DEFAULT_MAX_MEMORY >> 20} MiB)")
    return int(mb * 2**20)


@contextmanager
def memory_cap(max_memory: int | None) -> Iterator[None]:
    """Within the block the API's cap is ``max_memory`` bytes (None: unchanged); the batch
    runner uses it so that ``--max-memory`` also governs the library calls it makes."""
    if max_memory is None:
        yield
        return
    _OVERRIDE.append(int(max_memory))
    try:
        yield
    finally:
        _OVERRIDE.pop()


def check_memory(N: int, d: int, D: int, K: int, *, what: str, fix: str,
                 max_memory: int | None = None, factor: float = 1.0) -> int:
    """Return the estimate, or raise :class:`InvalidProblemError` when it is over the cap.

    Parameters
    ----------
    N, d, D, K : samples, input dimension, outputs (classes for softmax), feature columns.
    what : the field to blame, e.g. ``"n_neurons"`` (starts the message).
    fix : how to make the problem smaller, e.g. ``"lower n_neurons or subsample X"``; the
        message adds the way to raise the cap.
    max_memory : cap in bytes (default :func:`max_memory_default`).
    factor : multiplies the estimate (:data:`CVXPY_EXP_CONE_FACTOR` for a CVXPY program with
        exponential cones).
    """
    cap = max_memory if max_memory is not None else max_memory_default()
    need = int(estimate_memory(N, d, D, K) * factor)
    if need > cap:
        times = f" x {factor:g} for CVXPY's exponential cones" if factor != 1 else ""
        raise InvalidProblemError(
            f"{what}: this problem needs about {need / 2**30:.1f} GiB (N = {N}, K = {K}, "
            f"D = {D}: 8 (N K (1 + 3 D) + N (d + D)) bytes{times}), over the memory cap of "
            f"{cap / 2**30:.1f} GiB; {fix}, or raise the cap with the environment variable "
            f"NNLASSO_MAX_MEMORY_MB (now {cap // 2**20} MiB)")
    return need


#: bytes per fit nonzero of a restricted pattern program as CVXPY canonicalizes it and Clarabel
#: holds it, measured (peak RSS growth of one solve, N = 5000, d = 20, gated, CLARABEL): 51
#: blocks, 1.99M fit nonzeros: 311 MiB (156 B each); the same compressed (R: 0.60M nonzeros,
#: dense fit 44 MiB): 100 MiB (94 B each); 200 blocks compressed (R: 9.0M): ~195 B each
PATTERN_BYTES_PER_FIT_NONZERO = 200


def estimate_working_set_memory(N: int, P: int, B: int, *, cone: bool, fit_nnz: int,
                                fit_cols: int) -> int:
    """Bytes estimate of the pattern programs' working-set solve (no one-program dictionary):

        N P + 8 N B (1 + 4 [cone]) + b fit_nnz + 8 N fit_cols

    the boolean patterns (N, P); the evaluation's per-block products Xl theta_k (N, B) and,
    with cone rows, four (B, N) float64 multiplier arrays (the solver's, the certificate's,
    its starting point and the loop's cache); a restricted program of ``fit_nnz`` fit nonzeros
    at ``b`` = :data:`PATTERN_BYTES_PER_FIT_NONZERO` bytes each (CVXPY's canonicalization and
    the solver's copy; the entry budget caps a round's nonzeros); and the dense fit columns
    (N, fit_cols) of a compressed squared loss (its thin QR). The certificate's own work arrays
    are chunked (:attr:`nnlasso.patterns.PatternProgram.chunk_entries`) and not counted.
    """
    N, P, B = int(N), int(P), int(B)
    return (N * P + 8 * N * B * (1 + 4 * bool(cone))
            + PATTERN_BYTES_PER_FIT_NONZERO * int(fit_nnz) + 8 * N * int(fit_cols))


def check_working_set_memory(N: int, P: int, B: int, *, cone: bool, fit_nnz: int,
                             fit_cols: int, what: str, fix: str,
                             max_memory: int | None = None) -> int:
    """:func:`estimate_working_set_memory`, or :class:`InvalidProblemError` over the cap
    (``what``, ``fix``, ``max_memory`` as in :func:`check_memory`)."""
    cap = max_memory if max_memory is not None else max_memory_default()
    need = estimate_working_set_memory(N, P, B, cone=cone, fit_nnz=fit_nnz, fit_cols=fit_cols)
    if need > cap:
        raise InvalidProblemError(
            f"{what}: this working-set solve needs about {need / 2**30:.1f} GiB (N = {N}, "
            f"P = {P}, B = {B} blocks{' with cone rows' if cone else ''}: N P + 8 N B "
            f"(1 + {4 if cone else 0}) + {PATTERN_BYTES_PER_FIT_NONZERO} x {fit_nnz} fit "
            f"nonzeros + 8 N {fit_cols} bytes), over the memory cap of {cap / 2**30:.1f} GiB; "
            f"{fix}, or raise the cap with the environment variable NNLASSO_MAX_MEMORY_MB "
            f"(now {cap // 2**20} MiB)")
    return need
