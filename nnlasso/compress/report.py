"""The results of compression: :class:`CompressionReport` (one layer or several) and :class:`CompressionPath` (a sweep).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from numbers import Integral
from typing import Any

import numpy as np

from ..networks import MLP


@dataclass(kw_only=True)
class ProgramReport:
    """The fields of a report on one compression program (keyword-only), shared by
    :class:`CompressionReport` (a layer) and :class:`nnlasso.deep_compress.BlockReport` (a block).

    Attributes
    ----------
    psi_rel_change : ``|Z'_{l+1} - Z_{l+1}|_F / |Psi|_F`` on X: the next layer's pre-activation
        change relative to Psi (<= 1e-6 in the exact mode, <= eps in the eps mode).
    max_output_change : ``max_{n, j} |f_small(x_n)_j - f(x_n)_j|`` over X of the final raw
        outputs (logits for classifiers).
    rel_output_change : ``|f_small(X) - f(X)|_F / |f(X)|_F``.
    trained_objective : the program's objective at the trained weights (feasible point).
    objective, gap, rel_gap, status : of the convex program (nnlasso's own certificate).
    solver : the solver asked for ("auto" or a name).
    lam : the absolute lam of the penalized programs.
    """

    psi_rel_change: float | None = None
    max_output_change: float | None = None
    rel_output_change: float | None = None
    trained_objective: float | None = None
    objective: float | None = None
    gap: float | None = None
    rel_gap: float | None = None
    status: str = "optimal"
    solver: str = ""
    lam: float | None = None

    def _items(self) -> list[tuple[str, Any]]:
        """(name, value) of every field: the subclass's own first (layer or block, program,
        widths, ...), then these shared ones, in definition order (the order of ``to_dict``)."""
        shared = [f.name for f in fields(ProgramReport)]
        names = [f.name for f in fields(self) if f.name not in shared] + shared
        return [(name, getattr(self, name)) for name in names]


@dataclass
class CompressionReport(ProgramReport):
    """What :func:`compress_layer` (or :func:`compress`) did, and how the network changed.

    Attributes
    ----------
    layer : the compressed hidden layer (1-based), or the tuple of layers for :func:`compress`.
    program : "exact" | "eps" | "lam" | "label" (see the module docstring); "multi" for compress.
    neurons_before, neurons_after : width of the layer in the given and in the compressed network
        (sums over the layers for :func:`compress`).
    bound : the width bound ``rank(P Phi) * rank(P F)`` (F the program's fit, P the projector off
        the free intercept; D = 1: ``min(N - r_aff, rank(P Phi))``; the formula and rank rule of
        :func:`nnlasso.representer.width_bound`), an upper bound on the neurons a solution
        needs (an existence statement, not the count found).
    effective_ranks : ``(r_Phi, r_F)``, the *effective* ranks of ``P Phi`` and ``P F``: the number
        of singular values ``s_i > EFFECTIVE_RTOL * s_1`` with ``EFFECTIVE_RTOL = 1e-2`` (singular
        values below 1% of the largest are treated as zero). None for :func:`compress`.
    effective_bound : ``r_Phi * r_F`` (one output: ``min(N - r_aff, r_Phi)``): the width bound
        the representer theorem gives for a nearby program whose features and fit are truncated
        to those singular directions. A heuristic estimate of the width a compression can
        reach, not a guarantee (``bound`` is the guarantee); it is often far below ``bound``.
    psi_rel_change, max_output_change, rel_output_change, trained_objective, objective, gap,
    rel_gap, status, lam : as in :class:`ProgramReport`.
    test_max_output_change : the same maximum over ``X_test`` (None without it).
    metric : "accuracy" (classifier) or "R^2" (regressor).
    score_train, score_test : (before, after) of the metric; None without labels.
    loss_train, loss_test : (before, after) mean cross-entropy (classifiers) or mean squared
        error (regressors).
    weight_decay_before : ``1/2 sum_l |W_l|_F^2`` of the given network.
    weight_decay_balanced : the same after rebalancing it (same function): the fair reference.
    weight_decay_after : of the compressed network (rebalanced when ``rebalance=True``).
    layer_norm_before, layer_norm_after : the layer's balanced weight decay (path norm)
        ``sum_k |V_k|_2`` with unit input rows, before and after (the (MIN) objective).
    solver, inner, fallback : the solver asked for ("auto" or a name), the backend that solved
        the program ("nullspace", "SCS", "CLARABEL", "PROX", ...) and the one that took over
        when it failed (None otherwise); comma-joined over the steps of :func:`compress`.
    eps : the program's parameter.    intercept : whether the next bias was free.
    reduced : whether support reduction ran (it is skipped when it cannot remove anything).
    verified : the exactness / tolerance check passed (None when nothing is guaranteed).
    times : seconds: rebalance, features, solve, reduce, refit, verify, total.
    steps : per-layer reports of :func:`compress` (last layer first).
    """

    layer: int | tuple[int, ...]
    program: str
    neurons_before: int
    neurons_after: int
    bound: int | None = None
    effective_ranks: tuple[int, int] | None = None
    effective_bound: int | None = None
    test_max_output_change: float | None = None
    metric: str | None = None
    score_train: tuple[float, float] | None = None
    score_test: tuple[float, float] | None = None
    loss_train: tuple[float, float] | None = None
    loss_test: tuple[float, float] | None = None
    weight_decay_before: float = float("nan")
    weight_decay_balanced: float = float("nan")
    weight_decay_after: float = float("nan")
    layer_norm_before: float | None = None
    layer_norm_after: float | None = None
    inner: str | None = None
    fallback: str | None = None
    eps: float | None = None
    intercept: bool = False
    reduced: bool = False
    verified: bool | None = None
    times: dict[str, float] = field(default_factory=dict)
    steps: list["CompressionReport"] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str]]:
        """The seeds' table: (quantity, original network, compressed network), as strings."""
        def pct(v: float) -> str:
            return f"{100 * v:.2f}%" if self.metric == "accuracy" else f"{v:.4f}"

        out = [(f"neurons (layer {_fmt_layer(self.layer)})", str(self.neurons_before),
                str(self.neurons_after))]
        if self.bound is not None:
            eff = "" if self.effective_bound is None else (
                f" / {self.effective_bound} (ranks {self.effective_ranks[0]} x "
                f"{self.effective_ranks[1]})")
            out.append(("width bound exact / effective (s > 1e-2 s_1)", "",
                        f"{self.bound}{eff}"))
        if self.score_train is not None:
            out.append((f"train {self.metric}", pct(self.score_train[0]),
                        pct(self.score_train[1])))
        if self.score_test is not None:
            out.append((f"test {self.metric}", pct(self.score_test[0]), pct(self.score_test[1])))
        if self.loss_train is not None:
            out.append(("train loss", f"{self.loss_train[0]:.4f}", f"{self.loss_train[1]:.4f}"))
        if self.loss_test is not None:
            out.append(("test loss", f"{self.loss_test[0]:.4f}", f"{self.loss_test[1]:.4f}"))
        out.append(("weight decay (balanced)", f"{self.weight_decay_balanced:.4f}",
                    f"{self.weight_decay_after:.4f}"))
        if self.max_output_change is not None:
            out.append(("max abs output change on X", "0", f"{self.max_output_change:.3g}"))
        if self.test_max_output_change is not None:
            out.append(("max abs output change on X_test", "0",
                        f"{self.test_max_output_change:.3g}"))
        return out

    def table(self) -> str:
        """The seeds' table as Markdown."""
        lines = ["| | original network | compressed network |", "|---|---:|---:|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows()]
        return "\n".join(lines)

    def __str__(self) -> str:
        head = (f"compress layer {_fmt_layer(self.layer)} ({self.program}"
                + (f", eps={self.eps:g}" if self.eps else "")
                + (f", lam={self.lam:.4g}" if self.lam is not None else "")
                + f") via {self.solver or '-'}"
                + (f" -> {self.inner}" if self.inner and self.inner != self.solver else "")
                + (f" (fallback {self.fallback})" if self.fallback else "")
                + f": status={self.status}")
        if self.bound is not None:
            head += f", width bound {self.bound}"
            if self.effective_bound is not None:
                head += f" (effective {self.effective_bound})"
        if self.rel_gap is not None:
            head += f", rel gap {self.rel_gap:.2g}"
        head += f", {self.times.get('total', 0.0):.2f}s"
        w = max(len(r[0]) for r in self.rows())
        body = [f"{'':{w}}  {'original network':>18}  {'compressed network':>18}"]
        body += [f"{a:{w}}  {b:>18}  {c:>18}" for a, b, c in self.rows()]
        return "\n".join([head] + body)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python fields (JSON-serializable), steps included."""
        out: dict[str, Any] = {}
        for k, v in self._items():
            if k == "steps":
                out[k] = [s.to_dict() for s in v]
            elif isinstance(v, tuple):
                out[k] = [float(x) if isinstance(x, (float, np.floating)) else x for x in v]
            elif isinstance(v, (np.floating, np.integer)):
                out[k] = v.item()
            else:
                out[k] = v
        return out


def _fmt_layer(layer: int | tuple[int, ...]) -> str:
    return str(layer) if isinstance(layer, Integral) else ",".join(map(str, layer))


@dataclass
class CompressionPath:
    """Result of :func:`compression_path`: one compression per grid value.

    Attributes
    ----------
    mode : "eps", "lam" or "label".    param : the grid (eps, or lam / lam_max).
    lam : absolute lam per point (None for eps).    neurons : width after compression.
    max_output_change, rel_output_change : on X.    score_train, score_test : metric after
    (NaN without labels).    reports : the full :class:`CompressionReport` per point.
    networks : the compressed networks.    score_before : (train, test) of the original.
    """

    mode: str
    param: np.ndarray
    lam: np.ndarray | None
    neurons: np.ndarray
    max_output_change: np.ndarray
    rel_output_change: np.ndarray
    score_train: np.ndarray
    score_test: np.ndarray
    reports: list[CompressionReport]
    networks: list[MLP]
    neurons_before: int
    score_before: tuple[float, float]
    metric: str | None

    def smallest(self, *, max_rel_output_change: float | None = None,
                 min_score: float | None = None, on: str = "train") -> int | None:
        """Index of the narrowest point within the budget (None if no point qualifies).

        ``max_rel_output_change`` bounds the relative output change on X; ``min_score`` bounds
        the metric from below on "train" or "test" data.
        """
        ok = np.ones(self.neurons.size, dtype=bool)
        if max_rel_output_change is not None:
            ok &= self.rel_output_change <= max_rel_output_change
        if min_score is not None:
            s = self.score_train if on == "train" else self.score_test
            ok &= s >= min_score
        if not np.any(ok):
            return None
        idx = np.flatnonzero(ok)
        return int(idx[np.argmin(self.neurons[idx])])

    def table(self) -> str:
        """The curve as Markdown."""
        name = "eps" if self.mode == "eps" else "lam / lam_max"
        m = self.metric or "score"
        lines = [f"| {name} | neurons | max output change | rel output change | train {m} | "
                 f"test {m} | time (s) |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for i in range(self.neurons.size):
            lines.append(f"| {self.param[i]:.3g} | {self.neurons[i]} | "
                         f"{self.max_output_change[i]:.3g} | {self.rel_output_change[i]:.3g} | "
                         f"{_fmt_score(self.score_train[i], self.metric)} | "
                         f"{_fmt_score(self.score_test[i], self.metric)} | "
                         f"{self.reports[i].times.get('total', 0.0):.2f} |")
        return "\n".join(lines)


def _fmt_score(v: float, metric: str | None) -> str:
    if not np.isfinite(v):
        return "-"
    return f"{100 * v:.2f}%" if metric == "accuracy" else f"{v:.4f}"
