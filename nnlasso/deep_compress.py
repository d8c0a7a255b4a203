"""Compression of a :class:`~nnlasso.deep.DeepReLUNet` block by block (last block first).

Block l maps its inputs ``Z_l`` (N, d_l) on X (the composition's features) to
``Z_{l+1} = Phi_l V_l + Z_l C_l + 1 c_l`` with ``Phi_l = relu(Z_l W_l^T - b_l)`` (N, K_l),
after rebalancing and with unit input rows ``|w_k| = 1`` (the scale moved into ``V_l``).

1. **Hidden layer.** With ``Psi = Phi_l V_l`` (the neuron part of the block's output) and the
   block's skip as the *unpenalized* affine part (``skip = Z_l``: new ``C, c`` free; a block
   without a skip gets only its intercept free), one of

   ====== ========================================================================
   exact  min sum_k |V_k|_2  s.t.  Phi V + Z C + 1 c = Psi                 (eps = 0)
   eps    min sum_k |V_k|_2  s.t.  |Phi V + Z C + 1 c - Psi|_F <= eps |Psi|_F
   lam    min 1/2 |Psi - Phi V - Z C - 1 c|_F^2 + lam sum_k |V_k|_2
   ====== ========================================================================

   (:func:`~nnlasso.solve_min_norm` / :func:`~nnlasso.solve_lasso`), then
   :func:`~nnlasso.representer.reduce_support` and a least-squares refit of ``[V_S, C, c]`` on
   Psi (only lowers the residual). The block's new skip is ``C_l + C``, its intercept
   ``c_l + c``. The exact mode keeps the block's output on X, hence everything downstream.
2. **Bottleneck** between blocks l and l+1 (after block l's hidden layer): the intercept
   ``c_l`` is moved downstream (``b_{l+1} += W_{l+1} c_l``, ``c_{l+1} += C_{l+1}^T c_l``), then
   the product ``G = [W_{l+1}; C_{l+1}^T] [V_l^T, C_l^T]`` (the linear map from block l's
   neurons and inputs to block l+1's pre-activations and skip output, rank <= d_{l+1}) is
   factored by a thin SVD ``G = U S Q^T`` and truncated to rank r, split in balance
   (``U_r S_r^{1/2}`` and ``S_r^{1/2} Q_r^T``). Singular values ``<= rank_tol * s_1`` are dropped
   (the same function everywhere, up to them); with ``eps > 0`` the rank is the smallest one
   whose relative change of block l+1's output on X is ``<= eps``.

The output changes on X are measured after each step and reported
(:class:`DeepCompressionReport`).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import backends
from .affine import affine_columns
from .compress.inputs import _check_eps, _positive
from .compress.report import ProgramReport
from .compress.solvers import _lasso_solver, _reduce, _refit
from .deep import DeepReLUNet, _block_arrays, _make_block
from .errors import InvalidProblemError
from .lasso import requested_name, solve_lasso, solve_min_norm
from .networks import _check_inputs, relu
from .shallow import checked_lam_max, product_rounding

__all__ = ["BlockReport", "DeepCompressionReport", "compress_deep"]

#: default relative singular-value threshold of the bottleneck truncation
RANK_TOL = 1e-10


@dataclass
class BlockReport(ProgramReport):
    """One block of :func:`compress_deep`.

    Attributes
    ----------
    block : 1-based block index.    program : "exact" | "eps" | "lam".
    neurons_before, neurons_after : ReLU width of the block.
    rank_before, rank_after : width of the bottleneck after the block (its outputs), None for
        the last block.
    psi_rel_change, objective, gap, rel_gap, status, solver, lam : as in
        :class:`~nnlasso.compress.report.ProgramReport` (``psi_rel_change`` after the
        hidden-layer step; the program's guarantee: ~0 exact, <= eps in the eps mode).
    max_output_change, rel_output_change : of the whole network's outputs on X after this
        block's steps (cumulative).
    trained_objective : ``sum_k |V_k|_2`` of the trained (rebalanced, unit-row) block.
    block_rel_change : ``|Z'_{l+1} - Z_{l+1}|_F / |Z_{l+1}|_F`` on X after the hidden-layer step.
    bottleneck_rel_change : relative change of block l+1's output on X caused by truncating the
        bottleneck (None for the last block).
    singular_values : of the bottleneck product G (None for the last block).
    """

    block: int
    program: str
    neurons_before: int
    neurons_after: int
    rank_before: int | None = None
    rank_after: int | None = None
    block_rel_change: float | None = None
    bottleneck_rel_change: float | None = None
    singular_values: list[float] | None = None


@dataclass
class DeepCompressionReport:
    """What :func:`compress_deep` did.

    Attributes
    ----------
    program : "exact" | "eps" | "lam".    eps, lam_ratio, rank_tol : the parameters.
    hidden_before, hidden_after : ReLU widths per block.
    bottlenecks_before, bottlenecks_after : bottleneck widths.
    max_output_change : ``max_{n,j} |f'(x_n)_j - f(x_n)_j|`` over X.
    rel_output_change : ``|f'(X) - f(X)|_F / |f(X)|_F``.
    weight_decay_before, weight_decay_after : of the given and the compressed network.
    verified : every block's program guarantee held (exact: ``psi_rel_change <= 1e-6``;
        eps: ``<= eps``); None for "lam".
    blocks : per-block :class:`BlockReport`, in processing order (last block first).
    times : seconds (total).
    """

    program: str
    hidden_before: tuple[int, ...]
    hidden_after: tuple[int, ...]
    bottlenecks_before: tuple[int, ...]
    bottlenecks_after: tuple[int, ...]
    max_output_change: float
    rel_output_change: float
    weight_decay_before: float
    weight_decay_after: float
    eps: float = 0.0
    lam_ratio: float | None = None
    rank_tol: float | None = None
    verified: bool | None = None
    blocks: list[BlockReport] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        order = ["optimal", "optimal_inaccurate", "infeasible", "error"]
        return max((b.status for b in self.blocks),
                   key=lambda s: order.index(s) if s in order else len(order))

    def __str__(self) -> str:
        head = (f"compress_deep ({self.program}" + (f", eps={self.eps:g}" if self.eps else "")
                + f"): hidden {list(self.hidden_before)} -> {list(self.hidden_after)}, "
                f"bottlenecks {list(self.bottlenecks_before)} -> {list(self.bottlenecks_after)}, "
                f"rel output change {self.rel_output_change:.3g}, "
                f"{self.times.get('total', 0.0):.2f}s")
        lines = [head, "block  neurons  rank  psi change  bottleneck change  rel gap  status"]
        for b in self.blocks:
            rank = "-" if b.rank_before is None else f"{b.rank_before}->{b.rank_after}"
            bc = "-" if b.bottleneck_rel_change is None else f"{b.bottleneck_rel_change:.2e}"
            gap = "-" if b.rel_gap is None else f"{b.rel_gap:.1e}"
            lines.append(f"{b.block:5d}  {b.neurons_before:3d}->{b.neurons_after:<3d} {rank:>5}  "
                         f"{b.psi_rel_change:10.2e}  {bc:>17}  {gap:>7}  {b.status}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "blocks"}
        out["blocks"] = [dict(b._items()) for b in self.blocks]
        for k in ("hidden_before", "hidden_after", "bottlenecks_before", "bottlenecks_after"):
            out[k] = list(out[k])
        return out


def _forward(parts: list[list], X: np.ndarray) -> list[np.ndarray]:
    """Inputs of every block and the final output: [Z_1 = X, Z_2, ..., Z_{L+1}]."""
    Zs = [X]
    for W, b, V, C, c0 in parts:
        Z = Zs[-1]
        out = relu(Z @ W.T - b) @ V
        if C is not None:
            out = out + Z @ C
        if c0 is not None:
            out = out + c0
        Zs.append(out)
    return Zs


def _block_out(p: list, Z: np.ndarray) -> np.ndarray:
    return _forward([p], Z)[-1]


def _rel(a: np.ndarray, ref: float) -> float:
    return float(np.linalg.norm(a) / max(ref, np.finfo(float).tiny))


def _compress_hidden(p: list, Z: np.ndarray, program: str, eps: float, lam: float | None,
                     lam_ratio: float | None, solver: str, tol: float | None, refit: bool,
                     rep: BlockReport) -> list:
    """Steps 1 of the module docstring on block arrays ``p``; returns the new arrays."""
    W, b, V, C, c0 = p
    D = V.shape[1]
    nw, nv = np.linalg.norm(W, axis=1), np.linalg.norm(V, axis=1)
    keep = (nw > 0) & (nv > 0)
    W, b, V = W[keep] / nw[keep, None], b[keep] / nw[keep], V[keep] * nw[keep, None]
    rep.trained_objective = float(np.sum(np.linalg.norm(V, axis=1)))
    if W.shape[0] == 0:
        rep.objective, rep.gap, rep.rel_gap = 0.0, 0.0, 0.0
        return [W, b, V, C, c0]
    Phi = relu(Z @ W.T - b)
    Psi = Phi @ V
    skip: Any = Z if C is not None else "intercept"
    kw = {} if tol is None else {"tol": tol}
    if program == "lam":
        if lam is None:
            lam = lam_ratio * checked_lam_max(Phi, Psi, "squared", skip,
                                              rounding=product_rounding(Phi, V))
        rep.lam = float(lam)
        sol = solve_lasso(Phi, Psi, lam, skip=skip, solver=_lasso_solver(solver), **kw)
    else:
        sol = solve_min_norm(Phi, Psi, eps=eps, skip=skip, solver=solver, **kw)
    rep.objective, rep.gap, rep.rel_gap = sol.objective, sol.gap, sol.rel_gap
    rep.status = sol.status
    rep.solver = requested_name(solver, sol.inner or sol.solver)
    sol, _ = _reduce(sol, Phi, skip, Psi)
    S = sol.active
    V_S = sol.V[S]
    Cn = sol.skip_coef if C is not None else None
    cn = np.zeros(D) if sol.intercept is None else np.asarray(sol.intercept, dtype=float)
    if refit:                                 # affine columns [Z 1] (or [1]), coefficients [C; c]
        A = affine_columns(Z if Cn is not None else None, True, Z.shape[0])
        B = np.vstack(([Cn] if Cn is not None else []) + [cn[None, :]])
        V_S, B = _refit(Phi[:, S], Psi, V_S, A, B)
        Cn, cn = (B[:-1] if Cn is not None else None), B[-1]
    newC = None if C is None else C + Cn
    newc = cn if c0 is None else c0 + cn
    return [W[S], b[S], V_S, newC, newc]


def _truncate_bottleneck(left: list, right: list, Z_left: np.ndarray, eps: float,
                         rank_tol: float, rep: BlockReport) -> tuple[list, list]:
    """Step 2 of the module docstring; returns the new (left, right) block arrays."""
    W1, b1, V1, C1, c1 = left
    W2, b2, V2, C2, c2 = right
    r0 = V1.shape[1]
    # move the intercept of the left block downstream (exact)
    if c1 is not None:
        b2 = b2 - W2 @ c1
        if C2 is not None:
            c2 = (np.zeros(C2.shape[1]) if c2 is None else c2) + C2.T @ c1
    Bm = V1.T if C1 is None else np.hstack([V1.T, C1.T])          # (r0, K1 [+ d1])
    Am = W2 if C2 is None else np.vstack([W2, C2.T])             # (K2 [+ D2], r0)
    G = Am @ Bm
    U, s, Qt = np.linalg.svd(G, full_matrices=False)
    rep.rank_before = r0
    rep.singular_values = [float(x) for x in s]
    s1 = s[0] if s.size and s[0] > 0 else 0.0
    r_tol = max(int(np.sum(s > rank_tol * s1)), 1) if s1 > 0 else 1
    K1, K2 = V1.shape[0], W2.shape[0]
    target = _block_out(right, _block_out(left, Z_left))
    ref = float(np.linalg.norm(target))

    def build(r: int) -> tuple[list, list]:
        sq = np.sqrt(s[:r])
        A = U[:, :r] * sq                                          # (K2 [+ D2], r)
        B = sq[:, None] * Qt[:r]                                   # (r, K1 [+ d1])
        newL = [W1, b1, B[:, :K1].T.copy(), None if C1 is None else B[:, K1:].T.copy(), None]
        newR = [A[:K2].copy(), b2, V2, None if C2 is None else A[K2:].T.copy(), c2]
        return newL, newR

    r = r_tol
    if eps > 0:
        for cand in range(1, r_tol + 1):
            L_, R_ = build(cand)
            if _rel(_block_out(R_, _block_out(L_, Z_left)) - target, ref) <= eps:
                r = cand
                break
    newL, newR = build(r)
    rep.rank_after = r
    rep.bottleneck_rel_change = _rel(_block_out(newR, _block_out(newL, Z_left)) - target, ref)
    return newL, newR


def compress_deep(deep: DeepReLUNet, X: Any, *, eps: float = 0.0, lam: float | None = None,
                  lam_ratio: float | None = None, rank_tol: float | None = None,
                  solver: str = "auto", refit: bool = True, rebalance: bool = True,
                  tol: float | None = None) -> tuple[DeepReLUNet, DeepCompressionReport]:
    """Compress every block of a deep network, last block first (module docstring).

    For block l with inputs ``Z_l`` on X and unit-row features ``Phi_l``, the hidden layer is
    compressed by ``min sum_k |V_k|_2`` s.t. ``Phi V + Z_l C + 1 c = Psi`` (exact, ``eps = 0``),
    within ``|.|_F <= eps |Psi|_F`` (``eps > 0``), or the penalized form
    ``1/2 |Psi - Phi V - Z_l C - 1 c|_F^2 + lam sum_k |V_k|_2`` (``lam`` / ``lam_ratio``), with
    the skip unpenalized; then support reduction and a least-squares refit. Then the bottleneck
    after block l is truncated by rank (SVD of the product ``[W_{l+1}; C_{l+1}^T] [V_l^T,
    C_l^T]``).

    Parameters
    ----------
    deep : DeepReLUNet.
    X : (N, d) inputs on which the network's behaviour is kept.
    eps : relative tolerance in [0, 1) of the hidden-layer program *and* of the bottleneck
        truncation (the smallest rank changing block l+1's output on X by ``<= eps``
        relative); 0 = exact.
    lam, lam_ratio : the penalized form (absolute lam, the same for every block, or a fraction
        of each block's lam_max, which is scale-free and preferred).
    rank_tol : singular values of each bottleneck product ``<= rank_tol * s_1`` are dropped
        (default ``1e-10``: the numerical rank, the same function).
    solver : "auto" (exact: CLARABEL; eps: SCS then CLARABEL; lam: nnlasso's prox) or a name
        accepted by :func:`~nnlasso.solve_min_norm` / :func:`~nnlasso.solve_lasso`.
    refit : least-squares correction of ``[V_S, C, c]`` on Psi after the reduction.
    rebalance : rebalance the network before and the result after compression.
    tol : solver tolerance (default: the solver's).

    Returns
    -------
    (small, report) : the compressed :class:`DeepReLUNet` and a :class:`DeepCompressionReport`.
    """
    t0 = time.perf_counter()
    if not isinstance(deep, DeepReLUNet):
        raise InvalidProblemError(f"deep: expected an nnlasso DeepReLUNet, got "
                                  f"{type(deep).__name__}; use DeepReLUNet.from_mlp for an MLP")
    X = _check_inputs(X, deep.n_inputs)
    if not np.all(np.isfinite(X)):
        raise InvalidProblemError("X: contains NaN or infinite values")
    eps = _check_eps(eps)
    lam = None if lam is None else _positive(lam, "lam")
    lam_ratio = None if lam_ratio is None else _positive(lam_ratio, "lam_ratio")
    if lam is not None and lam_ratio is not None:
        raise InvalidProblemError("lam, lam_ratio: pass at most one of them")
    has_lam = lam is not None or lam_ratio is not None
    if has_lam and eps > 0:
        raise InvalidProblemError("eps, lam: pass the tolerance form (eps > 0) or the penalized "
                                  "form (lam / lam_ratio), not both")
    rank_tol = RANK_TOL if rank_tol is None else _positive(rank_tol, "rank_tol")
    if not isinstance(solver, str):
        raise InvalidProblemError(f"solver: expected a name such as 'auto' or 'CLARABEL', got "
                                  f"{solver!r}")
    backends.resolve(solver, native=True)
    program = "lam" if has_lam else ("eps" if eps > 0 else "exact")

    net = deep.rebalance() if rebalance else deep
    one = net.blocks[-1]._one_output
    parts = [list(_block_arrays(blk)) for blk in net.blocks]
    # compressing block l changes only blocks l and l + 1 (block l + 1 was done before it), so
    # the inputs and old output of block l are those of the original network
    Zs = _forward(parts, X)
    F0 = Zs[-1]
    nF0 = float(np.linalg.norm(F0))
    reports = []
    for l in range(len(parts) - 1, -1, -1):
        rep = BlockReport(block=l + 1, program=program, neurons_before=deep.hidden_sizes[l],
                          neurons_after=0)
        Z, out_old = Zs[l], Zs[l + 1]
        W, b, V, C, c0 = parts[l]
        Psi_norm = float(np.linalg.norm(relu(Z @ W.T - b) @ V))
        parts[l] = _compress_hidden(parts[l], Z, program, eps, lam, lam_ratio, solver, tol,
                                    refit, rep)
        out_new = _block_out(parts[l], Z)
        rep.neurons_after = parts[l][0].shape[0]
        rep.psi_rel_change = _rel(out_new - out_old, Psi_norm) if Psi_norm > 0 else 0.0
        rep.block_rel_change = _rel(out_new - out_old, float(np.linalg.norm(out_old)))
        if l < len(parts) - 1:
            parts[l], parts[l + 1] = _truncate_bottleneck(parts[l], parts[l + 1], Z, eps,
                                                          rank_tol, rep)
        F1 = _forward(parts[l:], Z)[-1]
        rep.max_output_change = float(np.max(np.abs(F1 - F0)))
        rep.rel_output_change = _rel(F1 - F0, nF0)
        reports.append(rep)

    small = DeepReLUNet([_make_block(*p, one and i == len(parts) - 1)
                         for i, p in enumerate(parts)])
    if rebalance:
        small = small.rebalance()
    F1 = small.predict(X).reshape(F0.shape)
    verified = None
    if program == "exact":
        verified = all(r.psi_rel_change <= 1e-6 for r in reports)
    elif program == "eps":
        verified = all(r.psi_rel_change <= eps * (1 + 1e-6) + 1e-12 for r in reports)
    if verified is False:
        warnings.warn("compress_deep: a block's output moved by more than the program's "
                      "guarantee (see report.blocks[i].psi_rel_change); try another solver",
                      RuntimeWarning, stacklevel=2)
    report = DeepCompressionReport(
        program=program, hidden_before=deep.hidden_sizes, hidden_after=small.hidden_sizes,
        bottlenecks_before=deep.bottleneck_sizes, bottlenecks_after=small.bottleneck_sizes,
        max_output_change=float(np.max(np.abs(F1 - F0))), rel_output_change=_rel(F1 - F0, nF0),
        weight_decay_before=deep.weight_decay(), weight_decay_after=small.weight_decay(),
        eps=eps, lam_ratio=lam_ratio, rank_tol=rank_tol, verified=verified, blocks=reports,
        times={"total": time.perf_counter() - t0})
    return small, report
